"""Every model of torchvision.models.list_models(), imported and held to three oracles: the
module's own parameters, torchvision's published `num_params` and `_ops` (GFLOPS, counted as
multiply-adds), and torch.utils.flop_counter run on the ORIGINAL module (2 FLOPs per MAC).

Used by tests/test_torchvision_models.py (one test per model, in CI) and run as a script to
write the coverage table of docs/torchvision.md:

    python -m tests.torchvision_coverage [NAME|FAMILY ...]   # all when none is given

Each model is built once, without weights (nothing is downloaded), as its DEFAULT weights
describe it: the input size of their transforms (crop size; segmentation: the resize size, 520;
video: 16 frames of the crop), ViT's image_size, the segmentation heads' aux classifier and class
count, the quantized models quantized (torchvision's own calibration on random data).

Detection and optical flow are out of scope as whole models (their forward resizes images to
data-dependent sizes, generates anchors, pools regions and iterates a refinement loop: costs that
depend on the image's content, not on its shape): the whole model must be refused with a message
that names the part, and its backbone (detection) or feature encoder (RAFT), imported with
`submodule`, must be exact against flop_counter on the same submodule of the original.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import sys
import time
from collections.abc import Iterator
from typing import Any

import torch
import torchvision.models as models

import cnnsize
from cnnsize.errors import CnnsizeError
from cnnsize.verify.importer import from_module, submodule_of

SCOPED = ("classification", "segmentation", "video", "quantization")
OUT_OF_SCOPE = {"detection": "backbone", "optical_flow": "feature_encoder"}
FAMILY_MODULES = {"classification": models, "segmentation": models.segmentation,
                  "video": models.video, "quantization": models.quantization,
                  "detection": models.detection, "optical_flow": models.optical_flow}

# What cnnsize does not follow yet: model → the start of the message its import fails with.
# A model listed here that imports exact fails its test (strict), so the list stays true.
NOT_YET: dict[str, str] = {}


def names() -> list[tuple[str, str]]:
    """(family, model) for every model torchvision lists, in its families' order."""
    return [(family, name) for family, module in FAMILY_MODULES.items()
            for name in models.list_models(module=module)]


def input_shape(family: str, name: str) -> tuple[int, ...]:
    weights = models.get_model_weights(name).DEFAULT
    transforms = weights.transforms()
    if family == "segmentation":
        return (3, *[transforms.resize_size[0]] * 2)
    if family == "detection":  # the size its transform resizes to (min_size)
        side = 300 if "ssd300" in name else 320 if "320" in name else 800
        return (3, side, side)
    if family == "optical_flow":
        return (3, 224, 224)
    crop = transforms.crop_size
    side = (crop[0], crop[-1])
    return (3, 16, *side) if family == "video" else (3, *side)


def build(family: str, name: str) -> torch.nn.Module:
    """The model its DEFAULT weights describe, with random values (seeded), in eval mode."""
    weights = models.get_model_weights(name).DEFAULT
    kwargs: dict[str, Any] = {}
    if family == "quantization":
        kwargs["quantize"] = True
    if family == "segmentation":
        kwargs.update(weights_backbone=None, num_classes=len(weights.meta["categories"]))
        if not name.startswith("lraspp"):
            kwargs["aux_loss"] = True   # the weights hold the aux classifier; forward calls it
    if family == "detection":
        kwargs["weights_backbone"] = None
    if name.startswith("vit_"):
        kwargs["image_size"] = input_shape(family, name)[-1]
    if name.removeprefix("quantized_") in ("googlenet", "inception_v3"):
        # as with weights: the input transform on; GoogLeNet's weights come without its aux
        # heads (Inception-v3's with them; eval never calls them: uncalled). init_weights off:
        # scipy's truncated normal is slow, and values do not count
        kwargs.update(transform_input=True, init_weights=False)
        if "googlenet" in name:
            kwargs["aux_logits"] = False
    torch.manual_seed(0)
    with warnings_off():
        return models.get_model(name, **kwargs).eval()


@contextlib.contextmanager
def warnings_off() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def fingerprint(model: torch.nn.Module) -> dict[str, Any]:
    """Every entry of the state dict by a BLAKE2 digest of its bytes (quantized tensors by
    their integers, scale and zero point), with dtype, shape and where it lives; the train/eval
    flag of every module. Equal fingerprints: the model was left as it was."""
    out: dict[str, Any] = {"training": [m.training for m in model.modules()]}
    for key, value in model.state_dict(keep_vars=True).items():
        if isinstance(value, torch.Tensor):
            t = value.detach()
            extra: tuple[Any, ...] = ()
            if t.is_quantized:
                extra = (t.qscheme(), t.q_scale() if t.qscheme() == torch.per_tensor_affine else
                         None)
                t = t.int_repr()
            data = t.reshape(-1).contiguous().cpu().view(torch.uint8).numpy() if t.numel() else b""
            out[key] = (str(value.dtype), tuple(value.shape), value.device.type,
                        value.requires_grad, extra, hashlib.blake2b(data).hexdigest())
        else:
            out[key] = repr(value)
    return out


def flop_counter_macs(module: torch.nn.Module, shape: tuple[int, ...]) -> int:
    """torch.utils.flop_counter's total over one forward of `module` at batch 1, halved.
    nn.MultiheadAttention's fast path (torch._native_multi_head_attention) and the CPU's fused
    SDPA kernel compute the same numbers as the math they fuse, but flop_counter has no formula
    for them and would count no attention at all: the math path runs instead (SDPA's math
    kernel is its two matrix products)."""
    from torch.utils.flop_counter import FlopCounterMode

    from cnnsize.verify.crosscheck import _countable_attention

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad(), _countable_attention():
        module(torch.randn(1, *shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


@dataclasses.dataclass
class Row:
    family: str
    model: str
    input: tuple[int, ...]
    module_params: int = 0
    published_params: int | None = None
    published_gops: float | None = None
    params: int | None = None          # cnnsize: called + uncalled
    macs: int | None = None
    counter_macs: int | None = None
    output_ok: bool | None = None
    unchanged: bool | None = None
    float_params: int | None = None    # a quantized model's float counterpart, imported
    part: str = ""                     # the submodule measured where the whole is out of scope
    refused: str = ""                  # the whole model's refusal (out of scope) or failure
    seconds: float = 0.0

    # each comparison: True, False, or None where there is nothing to compare
    @property
    def params_ok(self) -> bool | None:
        return None if self.params is None else self.params == self.module_params

    @property
    def published_params_ok(self) -> bool | None:
        """Against num_params: a quantized model's through its float model's import."""
        if self.params is None or self.published_params is None:
            return None
        return self.published_params == (self.float_params if self.float_params is not None
                                         else self.params)

    @property
    def macs_ok(self) -> bool | None:
        return None if self.macs is None else self.macs == self.counter_macs

    @property
    def published_gops_ok(self) -> bool | None:
        if self.macs is None or self.published_gops is None:
            return None
        return round(self.macs / 1e9, 3) == round(self.published_gops, 3)

    @property
    def exact(self) -> bool:
        """Every comparison made holds; the published ones are absent for a submodule."""
        return bool(self.params_ok and self.macs_ok and self.output_ok and self.unchanged
                    and self.published_params_ok is not False
                    and self.published_gops_ok is not False)


def _shapes(value: Any) -> list[tuple[int, ...]]:
    """The per-example shapes of what forward returns: a tensor, or a dict or sequence of them."""
    if isinstance(value, torch.Tensor):
        return [tuple(value.shape[1:])]
    items = value.values() if isinstance(value, dict) else value
    return [shape for item in items for shape in _shapes(item)]


def check(family: str, name: str) -> Row:
    """Import the model, then compare with the oracles; the time is the whole check's."""
    start = time.perf_counter()
    weights = models.get_model_weights(name).DEFAULT
    shape = input_shape(family, name)
    row = Row(family, name, shape, published_params=weights.meta.get("num_params"),
              published_gops=weights.meta.get("_ops"))
    model = build(family, name)
    before = fingerprint(model)
    target = model
    if family in OUT_OF_SCOPE:
        try:
            from_module(model, [shape, shape] if family == "optical_flow" else shape)
        except CnnsizeError as e:
            row.refused = str(e).splitlines()[0]
        row.part = OUT_OF_SCOPE[family]
        target = submodule_of(model, row.part)
        row.published_params = row.published_gops = None
    row.module_params = sum(p.numel() for p in target.parameters())
    if family == "quantization":   # packed weights are not parameters: count them as cnnsize does
        from cnnsize.verify.importer import quantized_weights

        row.module_params = quantized_weights(target)
    try:
        report = cnnsize.analyze(from_module(target, shape))
    except CnnsizeError as e:
        row.refused = (f"{row.refused}; {row.part}: " if row.part else "") + str(e).splitlines()[0]
        row.seconds = time.perf_counter() - start
        return row
    row.params = report.totals.params + report.totals.uncalled_params
    row.macs = report.totals.macs
    if family == "quantization":
        # quantized kernels have no flop formulas, and torchvision publishes the float model's
        # num_params (its BatchNorms unfused): both are the float model's, imported too
        float_model = build("classification", name.removeprefix("quantized_"))
        row.counter_macs = flop_counter_macs(float_model, shape)
        floats = cnnsize.analyze(from_module(float_model, shape)).totals
        row.float_params = floats.params + floats.uncalled_params
    else:
        row.counter_macs = flop_counter_macs(target, shape)
    with torch.no_grad():
        out = _shapes(target(torch.randn(1, *shape)))
    row.output_ok = [report[name].output_shape for name in report.outputs] == out
    row.unchanged = fingerprint(model) == before
    row.seconds = time.perf_counter() - start
    return row


def _count(n: int | None) -> str:
    return "" if n is None else f"{n:,}"


def table(rows: list[Row]) -> str:
    """The Markdown coverage table, with the counts that make each ✓."""
    def mark(ok: bool | None) -> str:
        return "✓" if ok else ("✗" if ok is not None else "")

    head = ["family", "model", "input", "params (cnnsize)", "= module", "= published",
            "GMACs", "= flop_counter", "= published", "output", "unchanged", "s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        model = f"{r.model} ({r.part})" if r.part else r.model
        gmacs = "" if r.macs is None else f"{r.macs / 1e9:.3f}"
        cells = [r.family, model, "×".join(map(str, r.input)), _count(r.params),
                 mark(r.params_ok), mark(r.published_params_ok)
                 + (f" (float model: {r.float_params:,})" if r.float_params is not None else ""),
                 gmacs, mark(r.macs_ok), mark(r.published_gops_ok),
                 mark(r.output_ok), mark(r.unchanged), f"{r.seconds:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
        if r.refused:
            cause = r.refused.split("; ")[0] + (" …" if "; " in r.refused else "")
            lines.append("| | ↳ " + ("whole model refused (out of scope): " if r.part else
                                       "refused: ") + cause.replace("|", "\\|") + " |"
                         + " |" * (len(head) - 2))
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from pathlib import Path

    from cnnsize.extras import progress
    from cnnsize.files import atomic_path

    chosen = [(f, n) for f, n in names() if not argv or f in argv or n in argv]
    rows: list[Row] = []
    bar = progress(chosen, True, "models")
    for family, name in bar:
        rows.append(check(family, name))
    scoped = [r for r in rows if r.family in SCOPED]
    exact = sum(r.exact for r in scoped)
    summary = (f"{exact} of {len(scoped)} classification, segmentation, video and quantized "
               f"models import exact; {sum(r.exact for r in rows if r.part)} of "
               f"{sum(1 for r in rows if r.part)} detection and optical-flow models' "
               f"{' and '.join(sorted(set(OUT_OF_SCOPE.values())))} exact, the whole models "
               "refused by name.")
    print(summary)
    if argv:
        print(table(rows))
        return 0
    path = Path(__file__).parent.parent / "docs" / "torchvision.md"
    text = path.read_text(encoding="utf-8")
    begin, end = "<!-- coverage: begin -->", "<!-- coverage: end -->"
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    machine = (f"torch {torch.__version__}, torchvision {__import__('torchvision').__version__}, "
               f"{torch.get_num_threads()} threads, "
               f"{time.strftime('%Y-%m-%d')}; total {sum(r.seconds for r in rows):.0f} s")
    body = f"{begin}\n{summary}\n\n{table(rows)}\n\n({machine})\n{end}"
    with atomic_path(path) as temp:
        Path(temp).write_text(head + body + tail, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
