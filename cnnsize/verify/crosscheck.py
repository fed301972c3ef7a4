"""Cross-check a report against the real network: build it, run it, and compare per layer.

Measured side, per report row: the output shape and bytes seen by a forward hook (storage shared
with an earlier tensor counts 0 bytes: in-place ops and views), the module's parameter and buffer
counts, fvcore's FlopCountAnalysis (one per multiply-add, bias excluded) and
ActivationCountAnalysis by module, and torch.utils.flop_counter's FlopCounterMode (two per
multiply-add). On CUDA, the peak of torch.cuda.max_memory_allocated over the forward pass.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import nn

from ..analyze import SpecLike, analyze
from ..conventions import Conventions
from ..errors import CnnsizeError
from ..layers import REGISTRY, Shape
from ..report import Report
from ..spec import Network, load
from .build import MERGE, build, module_for_row

MATCH, MISMATCH, NOT_COUNTED, INFO = "match", "mismatch", "not counted", "info"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float64": torch.float64}
CONTAINER_ROWS = ("residual", "mul", "concat")


@dataclass(frozen=True, slots=True)
class Check:
    """One predicted/measured pair for one quantity of one row."""

    quantity: str
    predicted: Any
    measured: Any
    status: str
    note: str = ""

    @property
    def rel_error(self) -> float | None:
        if not isinstance(self.predicted, int) or not isinstance(self.measured, int):
            return None
        if self.measured == 0:
            return 0.0 if self.predicted == 0 else None
        return (self.predicted - self.measured) / self.measured

    def to_dict(self) -> dict[str, Any]:
        return {"quantity": self.quantity, "predicted": _jsonable(self.predicted),
                "measured": _jsonable(self.measured), "status": self.status,
                "rel_error": self.rel_error, "note": self.note}


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True, slots=True)
class LayerCheck:
    name: str
    type: str
    checks: tuple[Check, ...]

    def get(self, quantity: str) -> Check | None:
        return next((c for c in self.checks if c.quantity == quantity), None)


@dataclass(frozen=True, slots=True)
class CrossCheck:
    """The outcome: per-layer checks, whole-network checks, and the report they compare."""

    report: Report
    layers: tuple[LayerCheck, ...]
    totals: tuple[Check, ...]
    device: str
    notes: tuple[str, ...] = field(default=())

    def all_checks(self) -> list[Check]:
        return [c for layer in self.layers for c in layer.checks] + list(self.totals)

    @property
    def ok(self) -> bool:
        return all(c.status != MISMATCH for c in self.all_checks())

    def counts(self) -> dict[str, int]:
        out = {MATCH: 0, MISMATCH: 0, NOT_COUNTED: 0, INFO: 0}
        for c in self.all_checks():
            out[c.status] += 1
        return out

    def summary(self) -> str:
        n = self.counts()
        compared = n[MATCH] + n[MISMATCH]
        verdict = "all match" if self.ok else f"{n[MISMATCH]} MISMATCH"
        return (f"{self.report.name} on {self.device}, batch {self.report.batch}, "
                f"{self.report.dtype}: {compared} comparisons, {n[MATCH]} match, {verdict}; "
                f"{n[NOT_COUNTED]} not counted by the reference tool")

    def to_dict(self) -> dict[str, Any]:
        data = self.report.to_dict()
        by_name = {layer.name: layer for layer in self.layers}
        for entry in data["layers"]:
            layer = by_name.get(entry["name"])
            entry["measured"] = {c.quantity: _jsonable(c.measured) for c in layer.checks} if layer else {}
            entry["checks"] = [c.to_dict() for c in layer.checks] if layer else []
        data["crosscheck"] = {"device": self.device, "ok": self.ok, "counts": self.counts(),
                              "totals": [c.to_dict() for c in self.totals],
                              "summary": self.summary(), "notes": list(self.notes)}
        return data

    def render(self, fmt: str = "text") -> str:
        from ..render.crosscheck import render_crosscheck

        text: str = render_crosscheck(self, fmt)
        return text

    def __str__(self) -> str:
        return self.render("text")


def check_device(device: str) -> None:
    """A CnnsizeError unless `device` is cpu or an available CUDA device."""
    try:
        kind = torch.device(device).type
    except (RuntimeError, ValueError):
        kind = None
    if kind not in ("cpu", "cuda"):
        raise CnnsizeError(f"unknown device {device!r}", field="device",
                           hint="use cpu or cuda (cuda:0, ...)")
    if kind == "cuda" and not torch.cuda.is_available():
        raise CnnsizeError("CUDA is not available on this machine", field="device",
                           hint="use --device cpu")


def _compare(quantity: str, predicted: Any, measured: Any, note: str = "") -> Check:
    return Check(quantity, predicted, measured, MATCH if predicted == measured else MISMATCH, note)


def _fvcore(model: nn.Module, x: torch.Tensor) -> tuple[dict[str, int], dict[str, int]]:
    from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

    flops = FlopCountAnalysis(model, x)
    flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    acts = ActivationCountAnalysis(model, x)
    acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return dict(flops.by_module()), dict(acts.by_module())


def _flop_counter(model: nn.Module, x: torch.Tensor) -> dict[str, int]:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    out = {}
    for key, per_op in counter.get_flop_counts().items():
        # Keys: "Global" for the whole run, the root's class name, then "Root.path.to.module".
        if key == "Global":
            out[""] = sum(per_op.values())
        elif "." in key:
            out[key.split(".", 1)[1]] = sum(per_op.values())
    return out


def _hooked_forward(model: nn.Module, report: Report, x: torch.Tensor,
                    modules: dict[str, nn.Module | None]) -> dict[str, tuple[Shape, int]]:
    """Output shape and newly allocated bytes per row, from forward hooks.

    A module called at several places (torchvision reuses one ReLU in a block) serves its rows
    in call order.
    """
    seen_storage = {x.untyped_storage().data_ptr()}
    keep: list[torch.Tensor] = [x]  # held so that freed memory is not reused within the pass
    measured: dict[str, tuple[Shape, int]] = {}
    rows_of: dict[int, list[str]] = {}
    by_id: dict[int, nn.Module] = {}
    for row in report.layers:
        module = modules[row.name]
        if module is not None:
            rows_of.setdefault(id(module), []).append(row.name)
            by_id[id(module)] = module
    handles = []

    def hook(queue: list[str]) -> Any:
        calls = iter(queue)

        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            name = next(calls, None)
            if name is None or not isinstance(output, torch.Tensor):
                return
            storage = output.untyped_storage().data_ptr()
            fresh = storage not in seen_storage
            seen_storage.add(storage)
            keep.append(output)
            measured[name] = (tuple(output.shape[1:]),
                              output.numel() * output.element_size() if fresh else 0)
        return record

    for key, queue in rows_of.items():
        handles.append(by_id[key].register_forward_hook(hook(queue)))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return measured


def crosscheck(net: SpecLike | nn.Module, *, device: str = "cpu", batch: int = 1,
               dtype: str = "float32", input_shape: Shape | None = None,
               progress: bool = False) -> CrossCheck:
    """Build (or copy) the model, run it, and compare it with the symbolic report per layer."""
    if dtype not in DTYPES:
        raise CnnsizeError(f"crosscheck runs float dtypes only: {', '.join(DTYPES)}", field="dtype")
    check_device(device)
    if isinstance(net, nn.Module):
        if input_shape is None:
            raise CnnsizeError("a torch module needs input_shape (channels first, no batch)",
                               field="input_shape")
        from .importer import from_module

        network = from_module(net, input_shape)
        model = copy.deepcopy(net)  # the user's model keeps its device, mode, params, buffers
        names: dict[str, str | None] = dict(network.meta.get("module_names", {}))
    else:
        network = load(net)
        if input_shape is not None:
            network = network.with_input(tuple(input_shape))
        model = build(network)
        names = {}
    conv = Conventions(batch=batch, dtype=dtype, inplace_activations="spec")
    report = analyze(network, conventions=conv)
    pure = analyze(network, conventions=replace(conv, elementwise_flops=False))
    model = model.to(device=device, dtype=DTYPES[dtype]).eval()
    modules = {row.name: _row_module(model, row.name, row.type, names) for row in report.layers}
    x = torch.randn(batch, *network.input_shape, device=device, dtype=DTYPES[dtype])

    notes: list[str] = []
    cuda_peak = None
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    try:
        measured = _hooked_forward(model, report, x, modules)
    except RuntimeError as e:
        raise CnnsizeError(f"the forward pass failed: {e}") from e
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        cuda_peak = torch.cuda.max_memory_allocated() - base
    steps = ["fvcore", "flop_counter"]
    counts: dict[str, dict[str, int]] = {}
    for step in _progress(steps, progress, "counting"):
        if step == "fvcore":
            counts["fv_macs"], counts["fv_acts"] = _fvcore(model, x)
        else:
            counts["fc_flops"] = _flop_counter(model, x)
    module_name = {row.name: _module_name(model, modules[row.name]) for row in report.layers}
    hooked_all = all(m is not None for m in modules.values())

    layers = []
    fv_mac_total = 0
    for row, prow in zip(report.layers, pure.layers):
        module = modules[row.name]
        if module is None:  # a functional op or a merge in an imported model: no module to hook
            layers.append(LayerCheck(row.name, row.type, ()))
            continue
        shape, nbytes = measured.get(row.name, (None, None))
        checks = [_compare("output_shape", row.output_shape, shape)]
        mod_name = module_name[row.name]
        if row.type not in CONTAINER_ROWS:
            checks.append(_compare("params", row.params, sum(p.numel() for p in module.parameters())))
            checks.append(_compare("buffers", row.buffers, sum(b.numel() for b in module.buffers())))
        fv = counts["fv_macs"].get(mod_name, 0)
        fc = counts["fc_flops"].get(mod_name, 0)
        acts = counts["fv_acts"].get(mod_name, 0)
        mac_kind = row.type in REGISTRY and REGISTRY[row.type].family in ("conv", "linear")
        if row.macs or fv:
            if mac_kind and fv:
                checks.append(_compare("macs", row.macs, fv, "fvcore"))
                fv_mac_total += fv
            elif fv:
                checks.append(Check("macs", row.macs, fv, INFO,
                                    f"fvcore counts {fv:,} for {row.type}; cnnsize counts MACs "
                                    "for conv and linear layers only"))
            else:
                checks.append(Check("macs", row.macs, 0, NOT_COUNTED, f"not counted by fvcore ({row.type})"))
        if prow.flops or fc:
            if fc:
                checks.append(_compare("flops", prow.flops, fc, "torch.utils.flop_counter, 2·MACs"))
            else:
                checks.append(Check("flops", prow.flops, 0, NOT_COUNTED,
                                    f"not counted by torch.utils.flop_counter ({row.type})"))
        if mac_kind and acts:
            checks.append(_compare("activations", row.units * batch, acts, "fvcore activation count"))
        checks.append(_compare("activation_bytes", row.activation_bytes, nbytes,
                               "bytes of new output storage seen by hooks"))
        layers.append(LayerCheck(row.name, row.type, tuple(checks)))

    t = report.totals
    totals = [
        _compare("params", t.params, sum(p.numel() for p in model.parameters())),
        _compare("buffers", t.buffers, sum(b.numel() for b in model.buffers())),
        _compare("macs", t.macs, fv_mac_total,
                 f"fvcore, conv and linear modules (its own total, {counts['fv_macs'].get('', 0):,},"
                 " also counts ops such as batch_norm and adaptive_avg_pool2d)"),
        _compare("flops", pure.totals.flops, counts["fc_flops"].get("", 0),
                 "torch.utils.flop_counter total"),
    ]
    measured_bytes = x.numel() * x.element_size() + sum(b for _, b in measured.values())
    if hooked_all:
        totals.append(_compare("activation_bytes", t.activation_bytes, measured_bytes,
                               "input + new output storage"))
    else:
        totals.append(Check("activation_bytes", t.activation_bytes, measured_bytes, INFO,
                            "functional ops of an imported model have no module to hook"))
    for i, total in enumerate(totals):
        uncounted = sum(c.predicted for layer in layers for c in layer.checks
                        if c.quantity == total.quantity and c.status == NOT_COUNTED)
        if uncounted and total.predicted == total.measured + uncounted:
            totals[i] = replace(total, status=NOT_COUNTED,
                                note=f"{total.note}: it does not count {uncounted:,} of them "
                                     "(rows marked n/c); the rest match")
    if cuda_peak is not None:
        totals.append(Check("cuda_peak_bytes", t.activation_bytes - t.input_bytes, cuda_peak, INFO,
                            "torch.cuda.max_memory_allocated delta over the forward pass (hooks "
                            "keep every output alive; cuDNN workspaces add to it)"))
    return CrossCheck(report, tuple(layers), tuple(totals), device, tuple(notes))


def _row_module(model: nn.Module, row_name: str, row_type: str,
                names: dict[str, str | None]) -> nn.Module | None:
    if names:
        target = names.get(row_name)
        return model.get_submodule(target) if target is not None else None
    return module_for_row(model, row_name, row_type)


def _module_name(model: nn.Module, module: nn.Module | None) -> str:
    if module is None:
        return ""
    for name, m in model.named_modules():
        if m is module:
            return str(name)
    return ""


def _progress(items: list[str], show: bool, desc: str) -> Any:
    if not show:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=desc, leave=False)


__all__ = ["MERGE", "Check", "CrossCheck", "LayerCheck", "Network", "crosscheck"]
