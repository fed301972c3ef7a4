"""Cross-check a report against the real network: build it, run it, and compare per layer.

Measured side, per report row: the output shape and bytes seen by a forward hook (storage shared
with an earlier tensor counts 0 bytes: in-place ops and views), the module's parameter and buffer
counts, fvcore's FlopCountAnalysis (one per multiply-add, bias excluded) and
ActivationCountAnalysis by module (their op handles, in one trace), and torch.utils.flop_counter
(two per multiply-add: its formulas, attributed as its FlopCounterMode attributes them). On CUDA,
the peak of torch.cuda.max_memory_allocated over the forward pass.
"""

from __future__ import annotations

import contextlib
import copy
import math
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..analyze import SpecLike, analyze
from ..conventions import Conventions
from ..errors import CnnsizeError
from ..extras import progress as show_progress
from ..extras import require
from ..layers import REGISTRY, Shape
from ..report import LayerStats, Report
from ..spec import Network, load
from .build import build

if TYPE_CHECKING:
    from torch.utils.module_tracker import ModuleTracker

MATCH, MISMATCH, NOT_COUNTED, INFO = "match", "mismatch", "not counted", "info"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float64": torch.float64}


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


def out_of_memory(e: BaseException) -> bool:
    oom = getattr(torch, "OutOfMemoryError", ())
    text = str(e)
    return isinstance(e, MemoryError) or bool(oom and isinstance(e, oom)) or \
        "out of memory" in text or "can't allocate memory" in text


def torch_error(e: BaseException, doing: str, device: str) -> CnnsizeError:
    """A failure inside torch as a cnnsize error that says what was being done, and a hint."""
    if out_of_memory(e):
        if device.startswith("cuda"):
            torch.cuda.empty_cache()
        return CnnsizeError(f"out of memory on {device} while {doing}", field="--batch",
                            hint="try a smaller --batch or input size (cnnsize report gives the "
                                 "memory a size needs without running it)")
    first = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return CnnsizeError(f"{doing} failed: {type(e).__name__}: {first[:300]}")


def _compare(quantity: str, predicted: Any, measured: Any, note: str = "") -> Check:
    return Check(quantity, predicted, measured, MATCH if predicted == measured else MISMATCH, note)


def _import_fvcore() -> None:
    """fvcore.nn, imported with one warning of torch >= 2.14 silenced: its import runs
    torch.jit.script on its focal loss, which torch now calls deprecated (a FutureWarning about
    fvcore's code, not the user's model, on every crosscheck)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", FutureWarning)
        import fvcore.nn  # noqa: F401


def _fvcore(model: nn.Module, xs: tuple[torch.Tensor, ...]
            ) -> tuple[dict[str, int], dict[str, int]]:
    """fvcore's MACs and activations by module, from one trace: the op handles of
    FlopCountAnalysis and ActivationCountAnalysis in one JitModelAnalysis, each count under a
    tagged operator name, so each total is summed exactly as that class's by_module() sums it."""
    require("fvcore", "crosscheck (its MAC and activation counts)")
    _import_fvcore()
    inputs = xs[0] if len(xs) == 1 else xs
    try:  # the handle tables are fvcore's own names, not its API: two traces where they moved
        from fvcore.nn.activation_count import _DEFAULT_SUPPORTED_OPS as ACTIVATION_HANDLES
        from fvcore.nn.flop_count import _DEFAULT_SUPPORTED_OPS as MAC_HANDLES
        from fvcore.nn.jit_analysis import JitModelAnalysis
    except ImportError:
        from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis

        flops = FlopCountAnalysis(model, inputs)
        flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        acts = ActivationCountAnalysis(model, inputs)
        acts.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
        return dict(flops.by_module()), dict(acts.by_module())

    # fvcore has no handle for aten::scaled_dot_product_attention (it reports it unsupported):
    # here it is its two matrix products by fvcore's matmul rule (∏batch·n·k·m each); its
    # einsum handle rounds a contraction to numpy's printed FLOP count (4 digits): here exact
    tables = {"macs": {**MAC_HANDLES, "aten::scaled_dot_product_attention": _sdpa_macs,
                       "aten::einsum": _einsum_macs(MAC_HANDLES.get("aten::einsum"))},
              "acts": ACTIVATION_HANDLES}

    def handle(kind: str) -> Any:
        def count(inputs: list[Any], outputs: list[Any]) -> Counter[str]:
            out: Counter[str] = Counter()
            for tag, table in tables.items():
                if kind in table:
                    n = table[kind](inputs, outputs)  # a number, or a Counter by operator name
                    named = n if isinstance(n, Mapping) else {kind.split("::", 1)[-1]: n}
                    out.update({f"{tag}:{op}": v for op, v in named.items()})
            return out
        return count

    analysis = JitModelAnalysis(model, inputs)
    analysis.set_op_handle(**{kind: handle(kind) for table in tables.values() for kind in table})
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_tag: dict[str, dict[str, int]] = {tag: {} for tag in tables}
    for module, per_op in analysis.by_module_and_operator().items():
        for tag, totals in by_tag.items():
            totals[module] = sum(v for op, v in per_op.items() if op.startswith(tag + ":"))
    return by_tag["macs"], by_tag["acts"]


def _sdpa_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """fvcore handle: q (…, L, E) · kᵀ (…, E, S) and (…, L, S) · v (…, S, E_v), by the query's
    leading dims (with grouped-query attention, its heads), as flop_counter's sdpa formula."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (list(get_shape(x)) for x in inputs[:3])
    lead = math.prod(q[:-2])
    macs: int = lead * q[-2] * k[-2] * q[-1] + lead * q[-2] * k[-2] * v[-1]
    return macs


def _einsum_macs(fvcore_handle: Any) -> Any:
    """fvcore handle: a contraction of two operands (every summed letter in both) as the
    product of every letter's size, which fvcore's own handle computes through numpy's
    einsum_path and then rounds to the 4 digits numpy prints; any other einsum, fvcore's."""
    def count(inputs: list[Any], outputs: list[Any]) -> Any:
        from fvcore.nn.jit_handles import get_shape

        equation = str(inputs[0].toIValue()).replace(" ", "")
        shapes = [get_shape(v) for v in inputs[1].node().inputs()]
        terms, _, out = equation.partition("->")
        names = terms.split(",")
        if len(names) != 2 or "." in equation or any(
                len(n) != len(s) for n, s in zip(names, shapes)):
            return fvcore_handle(inputs, outputs) if fvcore_handle else 0
        a, b = names
        sizes = {c: n for name, shape in zip(names, shapes) for c, n in zip(name, shape)}
        if any(c not in out and (c in a) != (c in b) for c in sizes):
            return fvcore_handle(inputs, outputs) if fvcore_handle else 0
        return math.prod(sizes.values())
    return count


@contextlib.contextmanager
def _countable_attention() -> Iterator[None]:
    """Attention as torch.utils.flop_counter can count it: nn.MultiheadAttention without its
    fast path (torch._native_multi_head_attention, which it has no formula for) and SDPA by its
    math kernel, whose two bmm's it counts as its sdpa formula counts the CUDA kernels (it has
    none for the CPU's fused kernel). The same numbers a forward computes; restored after."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


class _FlopCount(TorchDispatchMode):  # type: ignore[no-untyped-call]  # torch's __init_subclass__
    """FlopCounterMode's dispatch, with the formulas of torch.utils.flop_counter's flop_registry
    and its attribution: each count goes to every module being called (`tracker.parents`).

    TorchDispatchMode wraps a subclass's __torch_dispatch__ in torch._disable_dynamo, whose first
    call imports torch._dynamo (about 1 s of CPU); nothing here is compiled, so this mode opts
    out with the classmethod TorchDispatchMode's docstring describes (were it ever removed, the
    wrapper would be back: slower, the same counts)."""

    supports_higher_order_operators = True  # to stop at one and hand it to FlopCounterMode

    def __init__(self, tracker: ModuleTracker) -> None:
        from torch.utils.flop_counter import flop_registry

        super().__init__()  # type: ignore[no-untyped-call]
        self.tracker = tracker
        self.formulas: dict[Any, Any] = flop_registry
        self.totals: dict[str, int] = {}
        self.higher_order = False

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        return False

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if isinstance(func, torch._ops.HigherOrderOperator):
            self.higher_order = True
            raise NotImplementedError(f"{func} is counted by FlopCounterMode")
        if func is not torch.ops.prim.device.default:  # as FlopCounterMode: decompose first
            with self:
                r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
        out = func(*args, **kwargs)
        formula = self.formulas.get(func._overloadpacket)
        if formula is not None:
            flops = formula(*args, **kwargs, out_val=out)
            for parent in set(self.tracker.parents):
                self.totals[parent] = self.totals.get(parent, 0) + flops
        return out


def _flop_counter(model: nn.Module, xs: tuple[torch.Tensor, ...]) -> dict[str, int]:
    """FLOPs per module from torch.utils.flop_counter, attributed to the modules being called
    (so a module's count is its own ops and those of modules it calls): its formulas and
    ModuleTracker in _FlopCount while torch._dynamo is not loaded, else FlopCounterMode."""
    import sys

    from torch.utils.flop_counter import FlopCounterMode
    from torch.utils.module_tracker import ModuleTracker

    if "torch._dynamo" not in sys.modules:  # nothing compiled so far: count without loading it
        tracker = ModuleTracker()
        mode = _FlopCount(tracker)
        try:
            with tracker, mode, torch.no_grad(), _countable_attention():
                model(*xs)
        except Exception:
            if not mode.higher_order and "torch._dynamo" not in sys.modules:
                raise
        else:
            if "torch._dynamo" not in sys.modules:
                return _by_path(mode.totals)
    # torch.compile or a higher-order op (torch.cond) in forward: dynamo would trace into
    # _FlopCount; FlopCounterMode's dispatch it skips, and it counts torch.cond's branches
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad(), _countable_attention():
        model(*xs)
    return _by_path({key: sum(per_op.values()) for key, per_op in counter.get_flop_counts().items()})


def _by_path(counts: dict[str, int]) -> dict[str, int]:
    """flop_counter's keys ("Global" for the whole run, the root's class name, then
    "Root.path.to.module") as module paths ("" for the whole run)."""
    out = {}
    for key, n in counts.items():
        if key == "Global":
            out[""] = n
        elif "." in key:
            out[key.split(".", 1)[1]] = n
    return out


def _own(counts: dict[str, int], path: str, below: list[str]) -> int:
    """A module's count without the rows nested in it (fvcore adds submodules to parents)."""
    return counts.get(path, 0) - sum(counts.get(p, 0) for p in below)


def _nested(paths: list[str]) -> dict[str, list[str]]:
    """For each path, the outermost other paths inside it: those whose nearest enclosing path
    (a dotted prefix) it is."""
    ordered = sorted(set(paths))
    out: dict[str, list[str]] = {p: [] for p in ordered}
    for q in ordered:
        parent = q
        while "." in parent:
            parent = parent.rpartition(".")[0]
            if parent in out:
                out[parent].append(q)
                break
    return out


class _LiveTensors:
    """Bytes of the tensors alive after each hooked module returns, by weak references: the
    measured counterpart of the inference-peak model (kernel workspaces are not tensors)."""

    def __init__(self, xs: tuple[torch.Tensor, ...]) -> None:
        self.refs: dict[int, tuple[int, list[Any]]] = {}
        self.peak = 0
        self.at = ""
        self.strong = xs
        for x in xs:
            self.add(x)

    def alive(self, tensor: torch.Tensor) -> bool:
        """Whether the tensor's storage is held by a tensor seen before (a view, in place)."""
        entry = self.refs.get(tensor.untyped_storage().data_ptr())
        return entry is not None and any(r() is not None for r in entry[1])

    def add(self, tensor: torch.Tensor) -> None:
        import weakref

        storage = tensor.untyped_storage()
        ref = weakref.ref(tensor)
        if self.alive(tensor):
            self.refs[storage.data_ptr()][1].append(ref)
        else:  # a new storage, perhaps where a freed one was
            self.refs[storage.data_ptr()] = (storage.nbytes(), [ref])

    def measure(self, name: str) -> None:
        alive = sum(nbytes for nbytes, refs in self.refs.values() if any(r() is not None for r in refs))
        if alive > self.peak:
            self.peak, self.at = alive, name


def _hooked_forward(model: nn.Module, rows: list[tuple[str, nn.Module]],
                    xs: tuple[torch.Tensor, ...]) -> tuple[dict[str, tuple[Shape, int]], _LiveTensors]:
    """Output shape (batch dim included) and newly allocated bytes per row, from forward
    hooks, and the live tensors. The model's own parameters and buffers are not activations
    (a `state` row returns a buffer). A module called at several places (a shared module)
    serves its rows in call order.
    """
    measured: dict[str, tuple[Shape, int]] = {}
    live = _LiveTensors(xs)
    owned = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    queues: dict[int, list[str]] = {}
    by_id: dict[int, nn.Module] = {}
    for name, module in rows:
        queues.setdefault(id(module), []).append(name)
        by_id[id(module)] = module
    handles = []

    def hook(queue: list[str]) -> Any:
        calls = iter(queue)

        def record(module: nn.Module, inputs: Any, output: Any) -> None:
            name = next(calls, None)
            if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
                output = output[0]  # (out, weights) of nn.MultiheadAttention: its row is out
            if name is None or not isinstance(output, torch.Tensor):
                return
            if output.untyped_storage().data_ptr() in owned:
                measured[name] = (tuple(output.shape), 0)
                return
            fresh = not live.alive(output)
            measured[name] = (tuple(output.shape),
                              output.numel() * output.element_size() if fresh else 0)
            live.add(output)
            live.measure(name)
        return record

    def seen_inputs(module: nn.Module, args: Any, kwargs: Any) -> None:
        # tensors made by torch functions (x + y, torch.cat), which have no hook: a module that
        # returns one (Dropout in eval) or works on it in place (ReLU(inplace=True)) makes no
        # new storage; passed positionally, by keyword or in a list
        from .importer import _flat_tensors

        for t in _flat_tensors([args, kwargs]):
            if not live.alive(t) and t.untyped_storage().data_ptr() not in owned:
                live.add(t)

    for key, queue in queues.items():
        handles.append(by_id[key].register_forward_pre_hook(seen_inputs, with_kwargs=True))
        handles.append(by_id[key].register_forward_hook(hook(queue)))
    try:
        with torch.no_grad():
            model(*xs)
    finally:
        for handle in handles:
            handle.remove()
    return measured, live


def _copy(module: nn.Module) -> nn.Module:
    """A copy of the user's model to run and move (the original is never touched), without the
    hooks the user put on it."""
    from .importer import HOOKS

    try:
        copied = copy.deepcopy(module)
        for m in copied.modules():
            for name in HOOKS:
                if getattr(m, name, None):
                    getattr(m, name).clear()
        return copied
    except Exception as e:
        raise CnnsizeError(f"cannot copy the model to run it: {type(e).__name__}: {e}",
                           hint="crosscheck moves and runs a copy so that your model is left as "
                                "it was; a model that holds a lock or a file cannot be copied"
                           ) from e


class _Saved:
    """What a pack hook hands autograd: the graph holds it as long as it keeps the tensor."""

    __slots__ = ("__weakref__", "tensor")

    def __init__(self, tensor: torch.Tensor) -> None:
        self.tensor = tensor


def _saved_for_backward(model: nn.Module, xs: tuple[torch.Tensor, ...]) -> int:
    """Bytes of the tensors autograd keeps for backward after one training-mode forward
    (torch.autograd.graph.saved_tensors_hooks): the storages of every saved tensor the graph
    still holds while the output is alive, once each, parameters and buffers left out."""
    import weakref

    state = {t.untyped_storage().data_ptr() for t in (*model.parameters(), *model.buffers())}
    held: list[weakref.ref[_Saved]] = []

    def pack(t: torch.Tensor) -> _Saved:
        # detached (the same storage): a saved output holds its grad_fn, the node that holds
        # this box, a cycle through C++ that Python's collector cannot see; the whole graph
        # and the model's parameters would outlive every crosscheck
        box = _Saved(t.detach())
        held.append(weakref.ref(box))
        return box

    model.train()
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda box: box.tensor):
            out = model(*xs)
        storages: dict[int, int] = {}
        for ref in held:
            box = ref()
            if box is not None:  # kept by the graph: saved by an op that leads to the output
                storage = box.tensor.untyped_storage()
                if storage.data_ptr() not in state:
                    storages[storage.data_ptr()] = storage.nbytes()
        del out
    finally:
        model.eval()
    return sum(storages.values())


def crosscheck(net: SpecLike | nn.Module, *, device: str = "cpu", batch: int = 1,
               dtype: str = "float32", input_shape: Any = None,
               progress: bool = False, allow_data_dependent: bool = False,
               opaque: bool = False) -> CrossCheck:
    """Build the spec's model (or import the given module and run the ORIGINAL), run it, and
    compare it with the symbolic report, row by row and in total. The caller's random number
    generators are left as they were."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise CnnsizeError(f"batch must be a positive integer, got {batch!r}", field="batch")
    check_device(device)
    cuda_devices = [torch.device(device).index or 0] if device.startswith("cuda") else []
    with torch.random.fork_rng(devices=cuda_devices):
        return _crosscheck(net, device=device, batch=batch, dtype=dtype, input_shape=input_shape,
                           progress=progress, allow_data_dependent=allow_data_dependent,
                           opaque=opaque)


def _crosscheck(net: SpecLike | nn.Module, *, device: str, batch: int, dtype: str,
                input_shape: Any, progress: bool, allow_data_dependent: bool,
                opaque: bool = False) -> CrossCheck:
    if dtype not in DTYPES:
        raise CnnsizeError(f"crosscheck runs float dtypes only: {', '.join(DTYPES)}", field="dtype")
    imported = isinstance(net, nn.Module)
    example: tuple[torch.Tensor, ...] = ()
    if isinstance(net, nn.Module):
        if input_shape is None:
            raise CnnsizeError("a torch module needs input_shape (channels first, no batch)",
                               field="input_shape")
        from .importer import _in_forward_order, _shapes, from_module

        shapes = _shapes(net, input_shape)
        if isinstance(input_shape, Mapping):
            shapes = _in_forward_order(net, shapes)
        # the data the measured run sees, for the import too (a path that depends on the data)
        example = tuple(torch.randn(batch, *shape) for _, shape in shapes)
        network = from_module(net, dict(shapes) if len(shapes) > 1 else shapes[0][1],
                              allow_data_dependent=allow_data_dependent, example=example,
                              opaque=opaque)
        model = _copy(net)  # the user's model keeps its device, mode, params, buffers
        names: dict[str, str | None] = dict(network.meta.get("module_names", {}))
    else:
        from ..analyze import with_inputs

        network = load(net)
        if input_shape is not None:
            network = with_inputs(network, input_shape)
        model = build(network)
        names = {op.name: op.shares or op.name for op in network.ops}
    cuda = device.startswith("cuda")
    from .importer import quantized_weights

    # a quantized model (nn.quantized modules): its activations and weights are 1 B each
    quantized = imported and quantized_weights(model) > 0
    conv = Conventions(batch=batch, dtype="int8" if quantized else dtype,
                       inplace_activations="spec",
                       mask_bytes=1 if cuda else torch.finfo(DTYPES[dtype]).bits // 8)
    report = analyze(network, conventions=conv)
    pure = analyze(network, conventions=replace(conv, elementwise_flops=False))
    try:
        model = model.to(device=device, dtype=DTYPES[dtype]).eval()
        xs = tuple(x.to(device=device, dtype=DTYPES[dtype]) for x in example) if imported else \
            tuple(torch.randn(batch, *shape, device=device, dtype=DTYPES[dtype])
                  for _, shape in network.inputs)
    except (RuntimeError, MemoryError, NotImplementedError) as e:  # out of memory, meta tensors
        raise torch_error(e, f"moving the model and its input to {device} ({dtype})", device) from e
    all_modules = dict(model.named_modules())
    modules = {row.name: all_modules.get(names[row.name]) if names.get(row.name) is not None
               else None for row in report.layers}

    notes: list[str] = []
    cuda_peak = None
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    hooked_rows = [(row.name, m) for row in report.layers if (m := modules[row.name]) is not None]
    try:
        measured, live = _hooked_forward(model, hooked_rows, xs)
    except (RuntimeError, MemoryError, ValueError, TypeError) as e:
        raise torch_error(e, "the forward pass", device) from e
    if cuda:
        torch.cuda.synchronize()
        cuda_peak = torch.cuda.max_memory_allocated() - base
    steps = ["fvcore", "flop_counter", "saved"]
    counts: dict[str, dict[str, int]] = {}
    saved: int | str = 0
    for step in show_progress(steps, progress, "counting", leave=False):
        try:
            if step == "fvcore":
                counts["fv_macs"], counts["fv_acts"] = _fvcore(model, xs)
            elif step == "flop_counter":
                counts["fc_flops"] = _flop_counter(model, xs)
        except RuntimeError as e:
            if not (quantized and step == "fvcore"):
                raise torch_error(e, f"counting with {step}", device) from e
            counts["fv_macs"], counts["fv_acts"] = {}, {}  # its jit trace refuses packed weights
            notes.append("fvcore cannot trace a quantized model (packed weights): its counts are "
                         "not compared")
        except MemoryError as e:
            raise torch_error(e, f"counting with {step}", device) from e
        if step == "saved":
            try:
                # the last run, on crosscheck's own model (built, or a copy of the user's): in
                # training mode it changes BatchNorm's running statistics, which nothing below reads
                saved = _saved_for_backward(model, xs)
            except (RuntimeError, ValueError, MemoryError) as e:  # BatchNorm on one value, OOM
                saved = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"
    module_paths = [p for p in (names.get(r.name) for r in report.layers) if p is not None]
    inside = _nested(module_paths)
    hooked_all = all(m is not None for m in modules.values())

    layers = []
    fv_mac_total = 0
    calls: dict[str, list[tuple[LayerStats, LayerStats]]] = {}  # first row → its module's calls
    for row, pure_row in zip(report.layers, pure.layers):
        calls.setdefault(row.shares or row.name, []).append((row, pure_row))
    for row in report.layers:
        module = modules[row.name]
        if module is None:  # a torch function of an imported model: checked at import
            layers.append(LayerCheck(row.name, row.type, ()))
            continue
        path = names[row.name] or ""
        full, nbytes = measured.get(row.name, (None, None))
        # per example, without the batch dim; a row run once per pass of an imported model
        # has the whole tensor's shape (a built model runs it as a batch of one)
        shape = full if full is None or (imported and row.per_pass) else full[1:]
        checks = [_compare("output_shape", row.output_shape, shape)]
        if row.shares is None:
            own_params = _own({path: sum(p.numel() for p in module.parameters())} | {
                q: sum(p.numel() for p in all_modules[q].parameters()) for q in inside[path]},
                path, inside[path])
            own_buffers = _own({path: sum(b.numel() for b in module.buffers())} | {
                q: sum(b.numel() for b in all_modules[q].buffers()) for q in inside[path]},
                path, inside[path])
            checks.append(_compare("params", row.params, own_params))
            checks.append(_compare("buffers", row.buffers, own_buffers))
        first_call = row.shares is None
        group = calls[row.name] if first_call else []
        together = f" (the module's {len(group)} calls together)" if len(group) > 1 else ""
        macs_pred = sum(r.macs for r, _ in group)
        flops_pred = sum(p.flops for _, p in group)
        fv = _own(counts["fv_macs"], path, inside[path]) if first_call else 0
        fc = counts["fc_flops"].get(path, 0) if first_call else 0
        acts = _own(counts["fv_acts"], path, inside[path]) if first_call else 0
        mac_kind = macs_pred > 0  # a kind that counts multiply-adds (conv, linear, matmul, rbf)
        if not first_call:
            checks.append(Check("macs", row.macs, None, INFO,
                                f"a second call of the module of {row.shares}: the tools count "
                                "its calls together, at that row"))
        elif macs_pred or fv:
            if mac_kind and fv:
                checks.append(_compare("macs", macs_pred, fv, "fvcore" + together))
                fv_mac_total += fv
            elif fv:
                checks.append(Check("macs", macs_pred, fv, INFO,
                                    f"fvcore counts {fv:,} for {row.type}, which has no "
                                    "multiply-adds in cnnsize's count"))
            else:
                checks.append(Check("macs", macs_pred, 0, NOT_COUNTED, f"not counted by fvcore ({row.type})"))
        if first_call and (flops_pred or fc):
            if fc:
                checks.append(_compare("flops", flops_pred, fc,
                                       "torch.utils.flop_counter, 2·MACs" + together))
            else:
                checks.append(Check("flops", flops_pred, 0, NOT_COUNTED,
                                    f"not counted by torch.utils.flop_counter ({row.type})"))
        acts_pred = sum(r.units * (1 if r.per_pass else batch) for r, _ in group)
        if mac_kind and acts and REGISTRY[row.type].family == "attention" and acts != acts_pred:
            checks.append(Check("activations", acts_pred, acts, INFO,
                                "fvcore counts the output of each matrix product inside (the "
                                "projections'), cnnsize the layer's"))
        elif mac_kind and acts:
            checks.append(_compare("activations", acts_pred, acts, "fvcore activation count" + together))
        run_size = torch.finfo(DTYPES[dtype]).bits // 8
        if not row.counted:  # an opaque row: built, a stand-in; its memory is not counted
            checks.append(Check("activation_bytes", None, nbytes, INFO,
                                "an opaque row: cnnsize does not count its memory"))
        elif quantized and nbytes and nbytes == row.activation_bytes * run_size != 0:
            checks.append(Check("activation_bytes", row.activation_bytes, nbytes, INFO,
                                f"a {dtype} output (dequantized): cnnsize counts a quantized "
                                "network at 1 B per element"))
        else:
            checks.append(_compare("activation_bytes", row.activation_bytes, nbytes,
                                   "bytes of new output storage seen by hooks"))
        layers.append(LayerCheck(row.name, row.type, tuple(checks)))

    t = report.totals
    unhooked_macs = sum(r.macs for r in report.layers if modules[r.name] is None)
    from .importer import quantized_weights

    unique = {id(p): p for p in model.parameters()}.values()
    # a quantized model's weights are packed, not parameters; the scale and zero point buffers
    # of its quantized ops are not counted (docs/conventions.md, "Quantized models")
    model_params = sum(p.numel() for p in unique) + quantized_weights(model)
    model_trainable = sum(p.numel() for p in unique if p.requires_grad)
    model_buffers = sum(b.numel() for b in {id(b): b for b in model.buffers()}.values()) \
        - int(network.meta.get("quantization_buffers", 0))
    totals = [
        _compare("params", t.params + t.uncalled_params, model_params,
                 "every parameter of the model" + (f", {t.uncalled_params:,} of them in modules "
                                                   "forward never calls" if t.uncalled_params else "")),
        _compare("trainable_params", t.trainable_params + sum(
                     u.params - u.frozen for u in network.uncalled), model_trainable,
                 "parameters with requires_grad" + (", those of modules forward never calls "
                                                    "included" if t.uncalled_params else "")),
        _compare("buffers", t.buffers + t.uncalled_buffers, model_buffers),
        _compare("macs", t.macs - unhooked_macs, fv_mac_total,
                 f"fvcore, rows with multiply-adds (its own total, {counts['fv_macs'].get('', 0):,},"
                 " also counts ops such as batch_norm and adaptive_avg_pool2d)"
                 + (f"; the {unhooked_macs:,} MACs of torch-function rows are in the FLOPs total"
                    if unhooked_macs else "")),
        _compare("flops", pure.totals.flops, counts["fc_flops"].get("", 0),
                 "torch.utils.flop_counter total") if not quantized else
        Check("flops", pure.totals.flops, counts["fc_flops"].get("", 0), NOT_COUNTED,
              "torch.utils.flop_counter has no formulas for quantized ops (the float model's "
              "count is cnnsize's)"),
    ]
    measured_bytes = sum(x.numel() * x.element_size() for x in xs) \
        + sum(b for _, b in measured.values())
    peak_note = (f"bytes of live tensors after each layer, by weak references (measured peak "
                 f"after {live.at or 'the input'}; predicted while {t.peak_at or 'the input'} runs)")
    uncounted = [row.name for row in report.layers if not row.counted]
    if uncounted and not imported:
        notes.append(f"the opaque rows ({', '.join(uncounted)}) are built as stand-ins that "
                     "return zeros of their shapes: their costs are not counted, and what they "
                     "compute is not the original's (crosscheck the original module with "
                     "--opaque)")
    if hooked_all and not imported:
        totals.append(Check("activation_bytes", t.activation_bytes, measured_bytes, INFO,
                            "inputs + new output storage; the opaque rows' are not counted")
                      if uncounted else _compare("activation_bytes", t.activation_bytes,
                                                 measured_bytes, "inputs + new output storage"))
        totals.append(_compare("peak_bytes", t.peak_bytes, live.peak, peak_note))
    elif imported:
        ratio = live.peak / t.peak_bytes if t.peak_bytes else float("nan")
        totals.append(Check("peak_bytes", t.peak_bytes, live.peak, INFO,
                            f"{peak_note}, {ratio:.3f}×: seen only after module calls, and the "
                            "original forward's Python variables may keep a tensor alive past "
                            "its last use"))
    else:
        totals.append(Check("activation_bytes", t.activation_bytes, measured_bytes, INFO,
                            "torch functions of an imported model have no module to hook"))
    saved_note = ("tensors autograd saves in a training-mode forward "
                  "(torch.autograd.graph.saved_tensors_hooks, unique storages)")
    if isinstance(saved, int) and report.uncalled:
        totals.append(Check("saved_bytes", t.saved_bytes, saved, INFO,
                            f"{saved_note}; in training mode forward may also run "
                            f"{', '.join(p for p, _, _ in report.uncalled)}, which inference "
                            "does not"))
    elif isinstance(saved, int) and network.meta.get("prepared_weights") and saved != t.saved_bytes:
        totals.append(Check("saved_bytes", t.saved_bytes, saved, INFO,
                            f"{saved_note}; forward computes the weights of "
                            f"{', '.join(network.meta['prepared_weights'])} from parameters "
                            "(weight standardisation), and in training autograd keeps that "
                            "computation's tensors too, which cnnsize does not count (per "
                            "forward pass, not per example: docs/conventions.md)"))
    elif isinstance(saved, int):
        totals.append(_compare("saved_bytes", t.saved_bytes, saved, saved_note))
    else:
        totals.append(Check("saved_bytes", t.saved_bytes, None, INFO,
                            f"the model could not run in training mode: {saved}"))
    for i, total in enumerate(totals):
        uncounted = sum(c.predicted for layer in layers for c in layer.checks
                        if c.quantity == total.quantity and c.status == NOT_COUNTED)
        if uncounted and total.predicted == total.measured + uncounted:
            totals[i] = replace(total, status=NOT_COUNTED,
                                note=f"{total.note}: it does not count {uncounted:,} of them "
                                     "(rows marked n/c); the rest match")
    if cuda_peak is not None:
        ratio = cuda_peak / t.peak_bytes if t.peak_bytes else float("nan")
        totals.append(Check("cuda_peak_bytes", t.peak_bytes, cuda_peak, INFO,
                            f"torch.cuda.max_memory_allocated over the forward pass, {ratio:.2f}× "
                            "the predicted inference peak (the parameters are not in it; cuDNN "
                            "workspaces and the allocator's rounding to 512 B blocks are)"))
    if quantized:
        notes.append("a quantized model: counted as its float counterparts at 1 B per element "
                     "(int8); torch.utils.flop_counter and fvcore have no formulas for its "
                     "quantized ops (docs/conventions.md, \"Quantized models\")")
    if imported:
        notes.append("the ORIGINAL module was run: its shapes, parameters and counts are measured "
                     "on a copy of it; rows of torch functions were checked against the traced "
                     "forward at import")
    return CrossCheck(report, tuple(layers), tuple(totals), device, tuple(notes))


__all__ = ["Check", "CrossCheck", "LayerCheck", "Network", "crosscheck"]
