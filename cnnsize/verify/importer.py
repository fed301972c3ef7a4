"""nn.Module → spec: run the model once and record every op it runs, one traced call → one op.

The forward runs for real (on a copy of the model, in eval mode) under a TorchFunctionMode and
global module hooks. A call of a module that cnnsize has a kind for (nn.Conv2d, nn.ReLU, …; a
subclass that keeps its base's forward too) becomes one op with the module's constructor
arguments; inside other modules every torch function that makes a tensor (F.relu, torch.cat,
`+`, x.view(…), …) becomes one op, and a function cnnsize cannot express stops the import with
its name and the module it was called in. A call that returns several tensors (chunk, split,
unbind) is one row per piece that forward reads; `x[...]` is one row per indexed dim (slice,
select, unsqueeze); a parameter that forward uses directly (`self.gamma * x`, `x + self.pos`,
`torch.cat` with `self.class_token.expand(...)`) is counted by the row that uses it
(layers/learned.py), named after it; so is a tensor that forward computes from parameters
alone and adds or multiplies with x (`computed_from`: MViT's position embedding, its relative
position tables rel_pos[index]). Python's `x[idx] += y` is a `sliceadd` of x and y (the slices
of idx). Dataflow follows tensor identity, so any graph
imports: skips across levels, DenseNet's growing torch.cat lists, lists of tensors passed
between blocks, several inputs and outputs. A module called twice is one module: its second
call `shares` the first (parameters counted once). Python control flow runs as it runs for
this input shape; a forward that reads tensor values (an `if` on a tensor) is refused unless
the caller accepts the path this input takes. Parameters of modules the forward never calls
are listed apart (`uncalled`), and the import checks that every parameter is accounted for.

Modules are followed by what they compute, not by their class names: a subclass with a forward
of its own (timm's BatchNormAct2d, Conv2dSame, StdConv2d) is its torch functions, and a function
of a kind with `state_args` (F.conv2d, F.batch_norm, …) counts the model's tensors it is given
(`with_state`); forward's work on parameters alone (a standardised weight) is not per example
and is not counted. A quantized model's ops (torch.ops.quantized.*) are their float
counterparts (`quantized`). What cannot be followed is refused by its causes (a use of what a
failed call made is a consequence, not listed), or, with `opaque`, kept as an `opaque` row.

Windows in the batch dim (Swin's window partition, docs/conventions.md): a reshape or view whose
output's dim 0 is not the traced batch N but a multiple N·k of it (k > 1) folds k windows into
the batch; the tensor it makes is "folded", and per example it is (k, *shape[1:]) — the spec's
row is a per-example reshape to that shape. The rule reads dim 0 as the batch times the windows,
batch outermost, which is how a reshape lays out the elements of each example (a reshape keeps
their order, so example n is rows n·k to n·k + k − 1); the trace runs at batch 1 (N = 1: every
dim 0 of s > 1 is k = s), and crosscheck's runs at other batches read it the same way. A call on
folded tensors is its kind's row per example, its dims moved up one (`Kind.on_windows`: the
windows are dim 1), and what it makes is folded too; a later reshape to dim 0 = N·k' keeps k'
windows, one to dim 0 = N unfolds them (Swin's attn.view(B, nW, heads, N, N) for the mask, and
its window reverse). A kind that reads dim 1 as channels (conv, pool, batch norm) runs once per
window, `windows: true` (MViT's heads, each pooled by one depthwise conv3d). A permute that
moves the batch behind dim 0 then a reshape that merges it, outermost, into dim d (MViT v2's
r_q.permute(2, 0, 1, …).reshape(T, B·k, C)) holds the windows at dim d (`fold_at`), until a
permute or transpose brings them to dim 0. Refused: a kind that reads dim 1 as channels without
`windows`, a call along the dim of the windows, one that combines a folded tensor with a
batch-first one or other windows, and a result whose dim 0 is not N·k. A tensor that forward
makes from shapes alone (x.new_zeros(...) then slice assignments and masked_fill: Swin's
attention mask) is a constant; x ∘ that constant (add, sub, mul, div) is the kind with
`constant:` its shape. A module called on windows (timm's
qkv nn.Linear) is checked against the trace here, as torch functions are (`Trace.windowed`):
its hooks would see N·k rows.

Once per forward pass (docs/conventions.md): a float buffer that forward computes from (Swin
V2's relative_coords_table, which its cpb_mlp runs on) is a `state` row, and every call on
tensors computed from such rows alone is a row of whole tensors (no batch dim; its kind's
PyTorch dims move up one, as for a batch of one), which the graph runs once per pass whatever
the batch (Graph.per_pass); x[index] there, with an int64 buffer, is an `indexselect`. Where
such a tensor meets examples it broadcasts against each (a leading 1 that would meet the batch
is reshaped away first). A tensor that forward computes from one parameter alone, value by
value (a clamped, exponentiated logit scale), is that parameter where it scales the input: a
`scale`, the computing not counted, as a prepared weight's.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import math
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import CnnsizeError, SpecError
from ..graph import DEFAULT_INPUT, Graph
from ..layers import FUNCTIONS, REGISTRY
from ..layers.base import MODULE_CLASSES, PARAM_FUNCTIONS, Kind
from ..spec import parse

_BY_TORCH_NAME = {cls.torch_name: name for name, cls in REGISTRY.items() if cls.torch_name}
SUPPORTED = ("supported: the layer kinds of docs/spec.md as modules or as torch functions (F.relu, "
             "F.max_pool2d, torch.flatten, x.view, x.permute, x.chunk, x[:, :c], x.mean(dim), +, "
             "*, torch.cat, …)")
# Calls that return their input itself where there is nothing to do (x.contiguous() of a
# contiguous x, x.float() of a float x): no op then; otherwise a kind's (contiguous) or none.
_SAME_TENSOR = {"contiguous", "to", "type", "float", "double", "half", "bfloat16", "cpu", "cuda"}
# Calls of a parameter alone whose result holds the parameter's values (a view of it, or it
# broadcast over the batch): the op that then uses it counts the parameter.
_PARAMETER_VIEWS = {"expand", "broadcast_to", "view", "reshape", "unsqueeze", "squeeze",
                    "permute", "transpose", "flatten", "unflatten", "t", "getitem", "contiguous"}
# Calls of a parameter and integer buffers that gather its values along its first dim: the
# tensor they make holds the parameter's values (a relative position bias table[index]).
_PARAMETER_GATHERS = {"getitem", "index_select", "embedding"}
# Keywords of torch functions that change nothing cnnsize counts.
_IGNORED_KEYWORDS = {"_stacklevel", "training", "out"}
# Calls that make a tensor from another's shape, dtype and device alone (not its values): a
# constant (Swin's attention mask, x.new_zeros(...)).
_FROM_SHAPE = {"new_zeros", "new_ones", "new_full", "new_empty", "zeros_like", "ones_like",
               "full_like", "empty_like"}
# Calls without a tensor operand that make a tensor from sizes alone.
_FROM_SIZES = {"zeros", "ones", "full", "empty"}
_WRITES = {"setitem", "copy", "index_put", "masked_fill", "scatter", "index_copy", "fill"}
# Calls that read tensor values into Python (the path forward takes may depend on the data),
# and calls whose output shape depends on the values.
_VALUE_READS = {"bool", "item", "tolist", "int", "float", "index", "complex", "numpy", "array",
                "equal", "allclose"}
_VALUE_SHAPES = {"nonzero", "argwhere", "unique", "masked_select", "unique_consecutive"}
# The ops of a quantized model (torch.ops.quantized.*, what nn.quantized modules run) as their
# float counterparts: the kind, and whether a ReLU follows (fused: conv2d_relu, add_relu).
_QUANTIZED = {"conv1d": ("conv1d", False), "conv2d": ("conv2d", False),
              "conv3d": ("conv3d", False), "conv1d_relu": ("conv1d", True),
              "conv2d_relu": ("conv2d", True), "conv3d_relu": ("conv3d", True),
              "linear": ("linear", False), "linear_relu": ("linear", True),
              "add": ("add", False), "add_relu": ("add", True), "mul": ("mul", False),
              "mul_relu": ("mul", True), "cat": ("cat", False), "cat_relu": ("cat", True),
              "hardswish": ("hardswish", False)}


@dataclass
class TracedOp:
    """One op as the trace saw it."""

    name: str
    kind: str
    args: dict[str, Any]
    inputs: list[str]
    shape: tuple[int, ...]          # the real output shape, per example
    module: str | None = None       # the module it calls (None: a torch function)
    shares: str | None = None       # an earlier row that called the same module
    where: str = ""                 # the module (and class) it was called in, for messages
    trainable: bool = True          # False: its module's parameters do not require gradients


@dataclass
class Trace:
    """What one forward pass did: inputs, ops in order, outputs, and what it never used."""

    inputs: list[tuple[str, tuple[int, ...]]]
    ops: list[TracedOp]
    outputs: list[str]
    uncalled: list[tuple[str, int, int, int]] = field(default_factory=list)  # + frozen params
    data_reads: list[str] = field(default_factory=list)
    classes: dict[str, str] = field(default_factory=dict)  # module path → its class name
    notes: list[str] = field(default_factory=list)  # what the import decided (the spec's meta)
    quantization_buffers: int = 0  # scale and zero point buffers of quantized ops: not counted
    prepared: list[str] = field(default_factory=list)  # rows whose weight forward computes
    # rows of module calls on windows folded into the batch dim: their hooks would see N·k
    # rows, so they are checked against the trace here, as torch functions are
    windowed: list[str] = field(default_factory=list)


def _normalise(func: Any) -> tuple[str, bool, bool]:
    """A torch function's base name, whether it works in place, and whether its operands are
    swapped (x.__radd__(y) is y + x)."""
    raw = getattr(func, "__name__", str(func))
    if raw.startswith("__") and raw.endswith("__"):
        core = raw[2:-2]
        for prefix, inplace, swapped in (("i", True, False), ("r", False, True)):
            if core.startswith(prefix) and core[1:] in FUNCTIONS:
                return core[1:], inplace, swapped
        return core, False, False
    if raw.endswith("_") and not raw.startswith("_"):
        return raw[:-1], True, False
    return raw.lstrip("_"), False, False


def _flat_tensors(values: Any) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    if isinstance(values, torch.Tensor):
        out.append(values)
    elif isinstance(values, (list, tuple)):
        for v in values:
            out += _flat_tensors(v)
    elif isinstance(values, Mapping):
        for v in values.values():
            out += _flat_tensors(v)
    return out


def _user_frame() -> str:
    """file:line of the innermost frame outside torch and cnnsize (where a forward did it)."""
    for frame in reversed(traceback.extract_stack()):
        path = frame.filename.replace("\\", "/")
        if "/torch/" not in path and "/cnnsize/verify/" not in path:
            return f"{frame.filename}:{frame.lineno} ({(frame.line or '').strip()})"
    return "?"


def _kind_for_module(module: nn.Module) -> str | None:
    """The kind a module call is: cnnsize's own modules say; a torch.nn class, or a subclass
    that keeps its base's forward, by the class."""
    own = getattr(module, "cnnsize_args", None)
    if callable(own):
        kind: str = own()[0]
        return kind
    for cls in type(module).__mro__:
        known = MODULE_CLASSES.get(f"{cls.__module__}.{cls.__qualname__}")
        if known is None and cls.__module__.startswith("torch.nn.modules"):
            known = _BY_TORCH_NAME.get(cls.__name__)
        if known is not None:
            same = getattr(cls, "forward", None) is getattr(type(module), "forward", None)
            return known if same else None
    return None


def _module_args(module: nn.Module, kind: str) -> dict[str, Any]:
    """Constructor arguments read back from a module's attributes (those not at their default)."""
    own = getattr(module, "cnnsize_args", None)
    if callable(own):
        return _shown(own()[1], kind)
    return _shown(_raw_args(module, kind), kind)


_INFERRED = {"in_channels", "in_features", "num_features", "num_channels", "connections"}


def _raw_args(module: nn.Module, kind: str) -> dict[str, Any]:
    args: dict[str, Any] = {}
    cls = REGISTRY[kind]
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.name in _INFERRED or f.name in cls.spec_only:
            continue
        flag = cls.parameter_flags.get(f.name, "bias" if f.name == "bias" else None)
        if flag is not None and isinstance(getattr(module, flag, None), (torch.Tensor, type(None))):
            args[f.name] = getattr(module, flag, None) is not None  # whether the parameter exists
            continue
        if hasattr(module, f.name):
            value = getattr(module, f.name)
            if isinstance(value, torch.Tensor):
                continue
            if callable(value):  # (nn.quantized.Conv2d's bias() is a method: not an argument)
                raise CnnsizeError(f"{type(module).__name__}.{f.name} is a method, not the "
                                   f"argument {f.name!r} of cnnsize's {kind}: cnnsize cannot "
                                   "read this module's arguments", field=f.name)
            args[f.name] = list(value) if isinstance(value, tuple) else value
    return args


def _plain(value: Any) -> Any:
    """Tuples as lists, all the way down (what a spec holds)."""
    return [_plain(v) for v in value] if isinstance(value, (tuple, list)) else value


def _shown(args: dict[str, Any], kind: str) -> dict[str, Any]:
    try:
        shown = REGISTRY[kind].from_args(args).args()
    except CnnsizeError:
        return args  # let the parser report it with the layer's path
    return {k: _plain(v) for k, v in shown.items()}


class _Tracer(TorchFunctionMode):
    """Records the ops of one forward pass (see the module docstring)."""

    def __init__(self, model: nn.Module, allow_data_dependent: bool, opaque: bool = False,
                 batch: int = 1) -> None:
        super().__init__()
        self.model = model
        self.allow = allow_data_dependent
        self.keep_opaque = opaque  # an op cnnsize cannot follow becomes an `opaque` row
        self.batch = batch         # the traced inputs' batch size (an opaque row keeps dim 0)
        self.failed: dict[int, str] = {}   # id(tensor) → the call that made it and failed
        self.consequences = 0              # uses of what failed, or of an opaque result again
        self.reported: set[str] = set()    # opaque results whose first use is an error
        # id(tensor) → (ids of the parameters it is computed from, the calls): forward's own
        # work on parameters alone (a standardised weight), not per example
        self.prepared: dict[int, tuple[frozenset[int], tuple[str, ...]]] = {}
        self.buffer_names: dict[int, str] = {id(b): n for n, b in model.named_buffers()}
        self.notes: list[str] = []         # for the spec's meta: what the import decided
        self.prepared_rows: list[str] = []  # rows whose weight forward computes (standardised)
        self.quantized_rows: dict[int, str] = {}  # id(nn.quantized module) → its first row
        self.qparams: set[int] = set()  # buffers a quantized op reads as its scale, zero point
        self.quantized_note = False
        self.windowed: list[str] = []  # rows of module calls on windows (Trace.windowed)
        self.paths: dict[int, str] = {}
        for name, sub in model.named_modules():
            self.paths.setdefault(id(sub), name)
        self.producer: dict[int, str] = {}   # id(tensor) → name of the tensor in the graph
        self.keep: list[Any] = []            # holds traced tensors so that ids stay unique
        self.ops: list[TracedOp] = []
        self.names: set[str] = set()
        self.calls: dict[int, str] = {}      # id(module) → the row of its first call
        # the parameters and buffers of a called module → (its first row, its class and args)
        self.by_state: dict[tuple[int, ...], tuple[str, tuple[type, dict[str, Any]]]] = {}
        self.called: set[int] = set()
        self.stack: list[tuple[nn.Module, str | None]] = []  # modules being run, with their kind
        self.leaf_depth = 0
        self.errors: list[str] = []
        self.data_reads: list[str] = []
        self.constants: dict[int, str] = {}  # id(tensor) → where forward made it
        # the constants made from shapes alone (x.new_zeros, torch.zeros, and what forward does
        # to them with numbers and each other: Swin's attention mask), usable as `constant:`
        self.from_shapes: set[int] = set()
        self.opaque: dict[int, str] = {}     # id(tensor) → the call without a kind that made it
        self.sharing: dict[int, set[str]] = {}  # storage → names of the tensors in it
        self.rewritten: list[tuple[int, str, set[str]]] = []  # in-place ops and stale views
        self.parameters: dict[int, tuple[str, nn.Parameter]] = {
            id(p): (name, p) for name, p in model.named_parameters()}
        # id(tensor) → (the parameter it holds, its shape as it is used): a view of one, or
        # one broadcast over the batch (ViT's class_token.expand(n, -1, -1))
        self.aliases: dict[int, tuple[nn.Parameter, tuple[int, ...]]] = {}
        self.param_rows: dict[int, str] = {}  # id(parameter) → the row that counts it
        self.gathered: set[int] = set()       # aliases that hold a parameter's gathered values
        # id(tensor) → k: a traced tensor whose dim 0 holds the batch times k windows (Swin's
        # window partition); per example its shape is (k, *shape[1:])
        self.folded: dict[int, int] = {}
        # id(tensor) → d > 0 of a folded tensor whose batch times k windows is dim d, where a
        # permute moved the batch and a reshape merged it (MViT's relative position over time,
        # r_q.permute(2, 0, 1, …).reshape(T, B·heads·H·W, C)); per example its shape is the
        # traced one with dim d of k (absent: dim 0)
        self.fold_at: dict[int, int] = {}
        # id(tensor) → (the tensor, the [dim, start, end, step] of each slice, the slice
        # rows) of x[idx] with slices only: an in-place add into it may be x[idx] += y
        self.views: dict[int, tuple[torch.Tensor, list[list[Any]], list[str]]] = {}
        self.window_note = False
        # id(tensor) → (the traced tensor, permute dims) of a permute that moved the batch dim
        self.moved_batch: dict[int, tuple[torch.Tensor, list[int]]] = {}
        self.buffers: set[int] | None = None  # storages of the model's buffers, when needed
        self.pieces: set[str] = set()         # rows for the pieces of chunk, split, unbind
        self.counted: set[int] = set()  # ids of the tensors of modules mapped to kinds, their
        # submodules' included (nn.MultiheadAttention's out_proj, which it never calls)
        self.state_rows: dict[int, str] = {}  # id(buffer) → the row of a function that reads it
        # ids of the tensors computed from the model's float buffers alone (a `state` row and
        # the rows that read only such tensors): once per forward pass, not per example
        self.once: set[int] = set()

    # ---- naming
    def unique(self, name: str) -> str:
        candidate, k = name, 2
        while candidate in self.names:
            candidate, k = f"{name}_{k}", k + 1
        self.names.add(candidate)
        return candidate

    def where(self) -> tuple[str, str]:
        """The innermost module being run: its path and 'path (Class)' for messages."""
        if not self.stack:
            return "", f"the model ({type(self.model).__name__})"
        module = self.stack[-1][0]
        path = self.paths.get(id(module), "")
        return path, f"{path or 'the model'} ({type(module).__name__})"

    # ---- tensors
    def is_buffer(self, tensor: torch.Tensor) -> bool:
        """Whether a tensor is one of the model's buffers, or a view of one."""
        if self.buffers is None:
            self.buffers = {b.untyped_storage().data_ptr() for b in self.model.buffers()}
        return tensor.untyped_storage().data_ptr() in self.buffers

    def parameter(self, tensor: torch.Tensor) -> tuple[nn.Parameter, tuple[int, ...]] | None:
        """The model's parameter a tensor is (or holds, see `aliases`), with its shape as used."""
        if id(tensor) in self.parameters:
            return self.parameters[id(tensor)][1], tuple(tensor.shape)
        return self.aliases.get(id(tensor))

    def held(self, tensor: torch.Tensor) -> tuple[nn.Parameter, tuple[int, ...]] | None:
        """The parameter a tensor is or holds (`parameter`), or the one that forward computes
        it from alone, value by value (as many values: logit_scale.clamp(max=c).exp(), a
        prepared scale): that work on the parameter is not per example and is not counted."""
        found = self.parameter(tensor)
        if found is not None or id(tensor) not in self.prepared:
            return found
        sources = self.prepared[id(tensor)][0]
        if len(sources) != 1:
            return None
        param = self.parameters[next(iter(sources))][1]
        return (param, tuple(tensor.shape)) if param.numel() == tensor.numel() else None

    def made_as(self, name: str | None, kind: str, spec_args: Mapping[str, Any]) -> bool:
        """Whether the row `name` exists and is this kind with these arguments: a second use of
        the state it counts is that row again (shares), anything else is refused."""
        made_by = next((op for op in self.ops if op.name == name), None)
        return made_by is not None and (made_by.kind, made_by.args) == (kind, spec_args)

    def name_of(self, tensor: torch.Tensor, what: str) -> str | None:
        name = self.producer.get(id(tensor))
        if name is not None:
            return name
        if id(tensor) in self.buffer_names and tensor.is_floating_point():
            return self.state(tensor)
        held = self.parameter(tensor)
        if held is not None or isinstance(tensor, nn.Parameter):
            label = self.parameters[id(held[0])][0] if held is not None else "a parameter"
            self.errors.append(
                f"{what} uses the parameter {label} directly (outside a module cnnsize knows): "
                "cnnsize counts a parameter that forward uses only as a learned scale (γ * x), "
                "shift (x + β) or token (torch.cat with x)")
        elif id(tensor) in self.failed:
            self.consequences += 1  # its cause is reported
        elif id(tensor) in self.opaque:
            cause = self.opaque[id(tensor)]
            if cause in self.reported:
                self.consequences += 1
            else:
                self.reported.add(cause)
                self.errors.append(f"{what} uses the result of {cause}")
        elif id(tensor) in self.prepared:
            params, calls = self.prepared[id(tensor)]
            self.errors.append(f"{what} uses a tensor that forward computes from the parameter "
                               f"{self.parameter_names(params)} ({', '.join(calls)}): cnnsize "
                               "counts such a tensor only as the weight of a layer (F.conv2d)")
        elif id(tensor) in self.buffer_names:
            self.errors.append(
                f"{what} uses the integer buffer {self.buffer_names[id(tensor)]} as an operand: "
                "cnnsize follows an integer buffer only as an index (x[index] of a tensor "
                "computed once per pass, table[index] of a parameter)")
        elif id(tensor) in self.constants:
            self.errors.append(f"{what} uses a tensor that forward creates "
                               f"({self.constants[id(tensor)]})")
        else:
            self.errors.append(f"{what} uses a tensor that is not the input or an earlier result "
                               "(a buffer or a constant)")
        return None

    def state(self, buffer: torch.Tensor) -> str:
        """The `state` row of a float buffer that forward computes from (Swin V2's
        relative_coords_table, which its cpb_mlp runs on): the source of rows run once per
        forward pass (docs/conventions.md, "Once per forward pass")."""
        name = self.unique(self.buffer_names[id(buffer)])
        self.ops.append(TracedOp(name, "state", _shown({"shape": list(buffer.shape)}, "state"),
                                 [], tuple(buffer.shape), where=self.where()[1]))
        self.produce(buffer, name)
        self.once.add(id(buffer))
        self.state_rows[id(buffer)] = name
        if not any(op.kind == "state" for op in self.ops[:-1]):
            self.notes.append(f"{name}: forward computes from the buffer {name}; the rows that "
                              "read only such buffers run once per forward pass, not per example "
                              "(their MACs and FLOPs are not multiplied by the batch: "
                              "docs/conventions.md, \"Once per forward pass\")")
        return name

    def pass_row(self, index: int, out: torch.Tensor, what: str) -> bool:
        """Row `index`, read from a call on tensors computed once per pass alone, as such a row:
        the whole tensor is its one "example" (a batch of one where the spec is built), so its
        kind's PyTorch dims move up one; False, with an error, for a kind that reads dim 1 as
        channels (a conv or a BatchNorm)."""
        op = self.ops[index]
        cls = REGISTRY[op.kind]
        if cls.window_dims is None:
            self.errors.append(f"{what}: cnnsize's {op.kind} on a tensor computed from the "
                               "model's buffers alone (once per pass) is not followed: it reads "
                               "dim 1 as channels")
            return False
        args = dict(op.args)
        for field_name in cls.window_dims:
            value = args.get(field_name, cls._defaults.get(field_name))
            if value is not None:
                args[field_name] = ([_moved_up(d) for d in value]
                                    if isinstance(value, (list, tuple)) else _moved_up(value))
        op.args = _shown(args, op.kind)
        op.shape = tuple(out.shape)
        self.once.add(id(out))
        return True

    def per_pass(self, base: str, inplace: bool, swapped: bool, args: Sequence[Any],
                 kwargs: dict[str, Any], outs: list[torch.Tensor], what: str, path: str,
                 where: str) -> None:
        """A torch function on tensors computed once per pass alone: the rows of the whole
        tensors. A reshape is one to the output's shape, x[index] (an int64 buffer of the
        model) an `indexselect`, a permute keeps the batch of one first; any other call is
        its kind's row (pass_row)."""
        x = next(t for t in _flat_tensors(list(args) + list(kwargs.values()))
                 if id(t) in self.producer)
        if len(outs) != 1:
            self.errors.append(f"{what} makes {len(outs)} tensors from a tensor computed once "
                               "per pass: not followed")
            return
        out = outs[0]
        source = self.producer[id(x)]
        name = self.unique(f"{path}.{base}" if path else base)
        rest = list(args[1:])
        row: tuple[str, dict[str, Any]] | None = None
        if base in ("reshape", "view") and out.is_floating_point():
            row = ("reshape", {"shape": list(out.shape)})
        elif base in ("getitem", "index_select"):
            dim = 0 if base == "getitem" else (rest[0] if rest else kwargs.get("dim"))
            index = rest[0] if base == "getitem" else (rest[1] if len(rest) > 1
                                                        else kwargs.get("index"))
            if isinstance(index, torch.Tensor) and id(index) in self.buffer_names and \
                    not index.is_floating_point() and index.dim() == 1 and type(dim) is int:
                row = ("indexselect", {"dim": _moved_up(dim), "size": index.numel()})
                self.state_rows[id(index)] = name
            elif base == "index_select":
                self.errors.append(f"{what}: index_select of a tensor computed once per pass by "
                                   "an index that is not an int64 buffer of the model")
                return
        elif base == "permute":
            dims = list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (list, tuple)) \
                else rest or list(kwargs.get("dims", ()))
            if all(type(d) is int for d in dims):
                row = ("permute", {"dims": [0] + [d % x.dim() + 1 for d in dims]})
        if row is not None:
            kind, spec_args = row
            self.ops.append(TracedOp(name, kind, _shown(spec_args, kind), [source],
                                     tuple(out.shape), where=where))
            self.produce(out, name)
            self.once.add(id(out))
            return
        self.names.discard(name)
        if base in FUNCTIONS and REGISTRY[FUNCTIONS[base]].state_args:
            self.errors.append(f"{what}: cnnsize's {FUNCTIONS[base]} with the model's tensors "
                               "on a tensor computed once per pass is not followed (its module, "
                               "nn.Linear, is)")
            return
        rows = len(self.ops)
        if base == "getitem":
            self.getitem_once(args, out, what, path, where)
            return
        mapped = self.map_function(base, inplace, swapped, args, kwargs, outs, what)
        for kind, spec_args, inputs, tensor in mapped or ():
            row_name = self.unique(f"{path}.{base}" if path else base)
            self.ops.append(TracedOp(row_name, kind, spec_args, inputs, tuple(tensor.shape),
                                     where=where))
            self.produce(tensor, row_name)
        for index in range(rows, len(self.ops)):
            if not self.pass_row(index, out, what):
                return

    def getitem_once(self, args: Sequence[Any], out: torch.Tensor, what: str, path: str,
                     where: str) -> None:
        """x[...] of a tensor computed once per pass: refused but for an index buffer (above)."""
        self.errors.append(f"{what}: x[{args[1]!r}] of a tensor computed once per pass: cnnsize "
                           "follows x[index] there with an int64 index buffer of the model")

    def produce(self, tensor: Any, name: str, inputs: Sequence[str] = ()) -> None:
        for t in _flat_tensors(tensor):
            ptr = t.untyped_storage().data_ptr()
            if id(t) in self.producer:  # changed in place: its other views now hold the change
                stale = self.sharing.get(ptr, set()) - {self.producer[id(t)], name}
                if stale:
                    self.rewritten.append((len(self.ops), name, stale))
            self.producer[id(t)] = name
            self.sharing.setdefault(ptr, set()).add(name)
            self.keep.append(t)

    def check_views(self) -> None:
        """A view read after its base was changed in place reads the change, which the spec's
        dataflow (the view's own row) would not: refuse it."""
        for index, name, stale in self.rewritten:
            for op in self.ops[index:]:
                read = stale.intersection(op.inputs)
                if read and op.name != name:
                    self.errors.append(f"{op.name} reads {sorted(read)[0]}, a view of a tensor that "
                                       f"{name} changed in place before: cnnsize cannot follow that")
                    return

    # ---- module calls (global hooks)
    def pre_hook(self, module: nn.Module, args: Any) -> None:
        self.called.add(id(module))
        if self.leaf_depth:
            self.leaf_depth += 1
            self.stack.append((module, None))
            return
        kind = _kind_for_module(module)
        if kind is not None:
            self.leaf_depth = 1
        self.stack.append((module, kind))

    def post_hook(self, module: nn.Module, args: Any, kwargs: Any, output: Any) -> None:
        _, kind = self.stack.pop()
        if self.leaf_depth:
            self.leaf_depth -= 1
        if kind is None or self.leaf_depth:
            return
        path = self.paths.get(id(module), "") or kind
        where = f"{path} ({type(module).__name__})"
        cls = REGISTRY[kind]
        given, call_args = self.forward_call(module, cls, args, kwargs, where)
        inputs: list[str] = []
        shapes: list[tuple[int, ...]] = []
        windows = self.windows_of(given[:cls.call_inputs(given)], where)
        if windows and self.fold_of(given) > 0:
            self.errors.append(f"{where} is called on a tensor whose dim "
                               f"{self.fold_of(given)} holds the batch (a permute moved it "
                               "there): cnnsize follows torch functions on such a tensor")
            windows = 0
        for t in given[:cls.call_inputs(given)]:  # inputs named at the call, as forward saw them
            n = self.name_of(t, where)
            if n is not None:
                inputs.append(n)
                shapes.append((windows, *t.shape[1:]) if windows else tuple(t.shape[1:]))
        tensors = _flat_tensors(output)
        if not tensors or (len(tensors) != 1 and not cls.extra_outputs) or not inputs:
            if not tensors or (len(tensors) != 1 and not cls.extra_outputs):
                self.errors.append(f"{where} returns {len(tensors)} tensors")
            elif not given:
                self.errors.append(f"{where} is called without a tensor input")
            self.fail(output, where)  # (where its inputs failed, their cause is reported)
            return
        for t in tensors[1:]:  # nn.MultiheadAttention's weights: an error where forward reads them
            self.opaque[id(t)] = (f"the {cls.extra_outputs} that {where} returns (cnnsize "
                                  "follows its first output)")
            self.keep.append(t)
        once = all(id(t) in self.once for t in given[:cls.call_inputs(given)])
        if once:  # on tensors computed once per pass alone: whole tensors (see pass_row)
            shapes = [tuple(t.shape) for t in given[:cls.call_inputs(given)]]
        first = self.calls.get(id(module))
        args_ = _module_args(module, kind)
        state = tuple(id(t) for t in (*module.parameters(), *module.buffers()))
        if first is None and state:  # another module holding the very same tensors (tied)
            twin = self.by_state.get(state)
            if twin is not None and twin[1] == (type(module), args_):
                first = twin[0]
        name = self.unique(path)
        if first is None:
            self.calls[id(module)] = name
            if state:
                self.by_state[state] = (name, (type(module), args_))
        out_shape = (windows, *tensors[0].shape[1:]) if windows else tuple(tensors[0].shape[1:])
        if once:
            out_shape = tuple(tensors[0].shape)
        args_ = cls.from_module_call(  # (on windows: as the module sees one window)
            _shown({**args_, **call_args}, kind) if call_args else args_,
            [s[1:] for s in shapes] if windows else shapes,
            out_shape[1:] if windows else out_shape)
        if first is not None and call_args:
            made = next((op for op in self.ops if op.name == first), None)
            if made is not None and made.args != args_:
                self.errors.append(f"{where} is called again with other arguments than at "
                                   f"{first} ({args_} vs {made.args}): cnnsize's shared module "
                                   "is one kind")
        grads = {n: p.requires_grad for n, p in module.named_parameters()}
        if len(set(grads.values())) > 1:
            self.errors.append(
                f"{where} is partly frozen ({', '.join(n for n, g in grads.items() if g)} "
                f"trains, {', '.join(n for n, g in grads.items() if not g)} does not): cnnsize "
                "counts a layer's parameters as all trainable or all frozen")
        self.ops.append(TracedOp(name, kind, args_, inputs, tuple(tensors[0].shape[1:]),
                                 module=self.paths.get(id(module), ""), shares=first, where=where,
                                 trainable=any(grads.values()) or not grads))
        self.produce(tensors[0], name)
        if once:
            self.pass_row(len(self.ops) - 1, tensors[0], where)
        if windows:  # its input holds windows in dim 0: so does its output
            self.on_windows(len(self.ops) - 1, windows, tensors[:1], where)
            self.windowed.append(name)
        self.counted.update(id(t) for t in (*module.parameters(), *module.buffers()))

    def forward_call(self, module: nn.Module, cls: type[Kind], args: Any, kwargs: Any,
                     where: str) -> tuple[list[torch.Tensor], dict[str, Any]]:
        """The tensors a module call passes, and the kind's `forward_args` as the call gives
        them (forward's defaults included); an error for any other argument of forward given
        a value other than its default (a mask that nn.MultiheadAttention's kind does not read)."""
        if not cls.forward_args:
            return _flat_tensors([args, kwargs]), {}
        try:
            signature = inspect.signature(module.forward)
            bound = signature.bind(*args, **kwargs)
        except (TypeError, ValueError):
            return _flat_tensors([args, kwargs]), {}
        bound.apply_defaults()
        tensors: list[torch.Tensor] = []
        read: dict[str, Any] = {}
        for i, (name, value) in enumerate(bound.arguments.items()):
            param = signature.parameters[name]
            if i < (cls.max_inputs or len(signature.parameters)) and (
                    value is None or isinstance(value, torch.Tensor)):
                tensors += _flat_tensors(value)
            elif name in cls.forward_args:
                read[name] = value
            elif param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                if value:
                    self.errors.append(f"{where}: cnnsize's {cls.type_name} reads no further "
                                       f"arguments of forward ({value!r})")
            elif not (value is param.default or (not isinstance(value, torch.Tensor)
                                                 and value == param.default)):
                shown = f"a {'×'.join(map(str, value.shape))} tensor" if isinstance(
                    value, torch.Tensor) else repr(value)
                self.errors.append(f"{where} is called with {name}={shown}, which cnnsize's "
                                   f"{cls.type_name} does not follow (it reads "
                                   f"{', '.join(cls.forward_args)})")
        return tensors, read

    # ---- torch functions
    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: Mapping[str, Any] | None = None) -> Any:
        """One call (function_call). A call that cannot be followed marks what it returns as
        failed (a use of it is a consequence, not another cause), or, with `opaque`, becomes an
        opaque row: its output shape from the trace, its costs not counted."""
        if self.leaf_depth:
            return func(*args, **dict(kwargs or {}))
        errors, rows = len(self.errors), len(self.ops)
        out = self.function_call(func, types, args, kwargs)
        if len(self.ops) > rows:
            return out
        outs = _flat_tensors(out)
        unknown = [self.opaque[id(t)] for t in outs if id(t) in self.opaque]
        causes = self.errors[errors:]
        if not causes and not unknown:
            return out
        if self.keep_opaque and outs and self.opaque_row(func, args, kwargs, outs,
                                                         (causes or unknown)[0]):
            del self.errors[errors:]
            return out
        if causes:
            self.fail(out, f"{_normalise(func)[0]} in {self.where()[1]}")
        return out

    def fail(self, out: Any, what: str) -> None:
        """What a call that could not be followed made: an error only where its cause is not."""
        for t in _flat_tensors(out):
            if id(t) not in self.producer:
                self.failed[id(t)] = what
                self.keep.append(t)

    def function_call(self, func: Any, types: Any, args: Sequence[Any] = (),
                      kwargs: Mapping[str, Any] | None = None) -> Any:
        kwargs = dict(kwargs or {})
        if self.leaf_depth:
            return func(*args, **kwargs)
        base, inplace, swapped = _normalise(func)
        tensors = _flat_tensors(list(args) + list(kwargs.values()))
        traced = [t for t in tensors if id(t) in self.producer]
        derived = traced or [t for t in tensors if id(t) in self.opaque]
        before = {id(t) for t in traced}
        out = func(*args, **kwargs)
        out_tensors = _flat_tensors(out)
        if derived and ((base in _VALUE_READS and not out_tensors) or base in _VALUE_SHAPES):
            self.data_reads.append(f"{getattr(func, '__name__', base)} at {_user_frame()}")
        path, where = self.where()
        what = f"{base} in {where}"
        windows = self.windows_of(tensors, what)
        at = self.fold_of(tensors) if windows else 0
        rows = len(self.ops)
        done = self.follow(func, base, inplace, swapped, args, kwargs, tensors, traced, derived,
                           before, out_tensors, what, path, where)
        if windows and not done:
            self.on_windows(rows, windows, out_tensors, what, at)
        return out

    def follow(self, func: Any, base: str, inplace: bool, swapped: bool, args: Sequence[Any],
               kwargs: dict[str, Any], tensors: list[torch.Tensor], traced: list[torch.Tensor],
               derived: list[torch.Tensor], before: set[int], out_tensors: list[torch.Tensor],
               what: str, path: str, where: str) -> bool:
        """The rows of one call (see function_call); True where it placed the windows itself (a
        reshape that folds or unfolds them)."""
        if out_tensors and any(id(t) in self.moved_batch for t in tensors):
            self.unmove(base, args, kwargs, out_tensors, what, path, where)
            return False
        if base in _FROM_SHAPE and out_tensors:
            for t in out_tensors:  # x.new_zeros(...): made from shapes, not from x's values
                self.constants[id(t)] = f"{base} at {_user_frame()}"
                self.from_shapes.add(id(t))
                self.keep.append(t)
            return False
        writes = inplace or base in _WRITES or any(id(t) in before for t in out_tensors)
        if base == "setitem" and self.slice_update(args, what):
            return False
        if derived and base in _WRITES:
            self.errors.append(f"{what}: forward writes into a tensor (x[...] = …, copy_), which "
                               "cnnsize cannot follow")
            return False
        if not out_tensors:
            return False  # shapes, sizes, flags: metadata, no op
        if not traced and derived:
            for t in out_tensors:  # computed from a call without a kind: an error if used
                self.opaque[id(t)] = self.opaque[id(derived[0])]
                self.keep.append(t)
            return False
        if not traced and any(id(t) in self.failed for t in tensors):
            self.fail(out_tensors, what)  # computed from what could not be followed: so is this
            return False
        if not traced:
            held = [self.parameter(t) for t in tensors]
            if len(held) == 1 and held[0] is not None and base in _PARAMETER_VIEWS \
                    and len(out_tensors) == 1:
                self.alias(tensors[0], held[0], out_tensors[0], base=base)
                return False
            params = [(t, h) for t, h in zip(tensors, held) if h is not None]
            index = [t for t, h in zip(tensors, held) if h is None]
            if len(params) == 1 and len(out_tensors) == 1 and base in _PARAMETER_GATHERS and \
                    index and all(self.is_buffer(t) and not t.is_floating_point() for t in index):
                self.alias(*params[0], out_tensors[0], gathered=True)  # table[index]
                return False
            sources = self.parameter_sources(tensors)
            if sources:  # forward's own work on parameters (a standardised weight)
                calls = tuple(dict.fromkeys(
                    (*(c for t in tensors if id(t) in self.prepared for c in self.prepared[id(t)][1]),
                     base)))
                for t in out_tensors:
                    self.prepared[id(t)] = (sources, calls)
                    self.keep.append(t)
                return False
            if not tensors or all(id(t) not in self.producer for t in tensors):
                shaped = all(id(t) in self.from_shapes for t in tensors) and (
                    bool(tensors) or base in _FROM_SIZES)
                if tensors and not shaped:  # written into with other values: no longer
                    self.from_shapes.discard(id(tensors[0]))
                for t in out_tensors:  # made inside forward (torch.zeros, a parameter's view, …)
                    self.constants.setdefault(id(t), f"{base} at {_user_frame()}")
                    self.keep.append(t)
                    if shaped:
                        self.from_shapes.add(id(t))
            return False
        if base in _SAME_TENSOR and len(out_tensors) == 1 and out_tensors[0] is traced[0]:
            return False  # the input itself (x.contiguous() of a contiguous x): no op
        if all(id(t) in self.once for t in traced) and not any(
                id(t) in self.folded or id(t) in self.moved_batch for t in tensors):
            self.per_pass(base, inplace, swapped, args, kwargs, out_tensors, what, path, where)
            return False
        if base in ("reshape", "view") and len(traced) == 1 and len(out_tensors) == 1 and \
                self.window_reshape(base, traced[0], args, kwargs, out_tensors[0], what, path, where):
            return True
        if base == "getitem" and len(traced) == 1 and len(out_tensors) == 1:
            self.getitem(args, out_tensors[0], what, path, where)
            return False
        if base == "permute" and len(traced) == 1 and len(out_tensors) == 1 and \
                self.defer_permute(args, kwargs, traced[0], out_tensors[0]):
            return False
        qualified = getattr(func, "_qualified_op_name", "")
        if qualified.startswith("quantized::"):
            self.quantized(qualified, args, kwargs, out_tensors, what, path, where)
            return False
        if base in FUNCTIONS and REGISTRY[FUNCTIONS[base]].state_args:
            self.with_state(base, args, kwargs, out_tensors, what, path, where)
            return False
        if any(self.held(t) is not None for t in tensors) and (
                base in PARAM_FUNCTIONS or base not in FUNCTIONS):
            self.with_parameter(base, inplace, swapped, args, kwargs, out_tensors, what, where)
            return False
        if base in PARAM_FUNCTIONS and any(id(t) in self.prepared for t in tensors):
            self.with_computed(base, inplace, swapped, args, kwargs, out_tensors, what, path,
                               where)
            return False
        mapped = self.map_function(base, inplace, swapped, args, kwargs, out_tensors, what)
        if mapped is None:
            if writes:  # an in-place op without a kind would change a tensor behind our back
                self.errors.append(f"{what}: cnnsize has no kind for this in-place op")
            return False
        for kind, spec_args, inputs, tensor in mapped:
            name = self.unique(f"{path}.{base}" if path else base)
            self.ops.append(TracedOp(name, kind, spec_args, inputs, tuple(tensor.shape[1:]),
                                     where=where))
            self.produce(tensor, name)
            if len(mapped) > 1:
                self.pieces.add(name)
        return False

    def defer_permute(self, args: Sequence[Any], kwargs: Mapping[str, Any], x: torch.Tensor,
                      out: torch.Tensor) -> bool:
        """A permute that puts the batch at dim 1 (timm's and Swin's
        `qkv.permute(2, 0, 3, 1, 4)`): kept until an index of its new dim 0 brings the batch
        back (`q, k, v = qkv.unbind(0)`, `qkv[0]`), see unmove."""
        sizes = list(args[1:]) if len(args) > 1 else list(kwargs.get("dims", ()))
        if len(sizes) == 1 and isinstance(sizes[0], (list, tuple)):
            sizes = list(sizes[0])
        if len(sizes) != x.dim() or not all(type(d) is int for d in sizes):
            return False
        dims = [d % x.dim() for d in sizes]
        if dims[0] == 0 or dims[1] != 0 or id(x) in self.fold_at:
            return False
        self.moved_batch[id(out)] = (x, dims)
        if id(x) in self.folded:
            self.folded[id(out)] = self.folded[id(x)]
        self.keep.append(out)
        return True

    # ---- windows in the batch dim (see the module docstring)
    def windows_of(self, tensors: Sequence[torch.Tensor], what: str) -> int:
        """k where a call's traced tensors hold the batch times k windows in dim 0 (0: none);
        an error where it combines such a tensor with another k or with a batch-first one."""
        ks = {self.folded[id(t)] for t in tensors if id(t) in self.folded}
        if not ks:
            return 0
        plain = [t for t in tensors if id(t) in self.producer and id(t) not in self.folded
                 and id(t) not in self.once]  # (computed once per pass: no batch dim)
        ats = {self.fold_at.get(id(t), 0) for t in tensors if id(t) in self.folded}
        if len(ats) > 1:
            self.errors.append(f"{what} combines tensors that hold the batch times the windows "
                               f"in different dims ({', '.join(map(str, sorted(ats)))}), which "
                               "a count per example cannot follow")
            return 0
        if len(ks) > 1 or plain:
            self.errors.append(
                f"{what} combines a tensor whose dim 0 holds the batch times "
                f"{' or '.join(map(str, sorted(ks)))} windows with "
                + ("one of other windows" if len(ks) > 1 else
                   f"one whose dim 0 is the batch ({'×'.join(map(str, plain[0].shape))})")
                + ", which a count per example cannot follow")
            return 0
        return ks.pop()

    def fold_of(self, tensors: Sequence[torch.Tensor]) -> int:
        """The dim that holds the batch times the windows in the folded ones of `tensors`."""
        return next((self.fold_at.get(id(t), 0) for t in tensors if id(t) in self.folded), 0)

    def on_windows(self, rows: int, windows: int, outs: Sequence[torch.Tensor], what: str,
                   at: int = 0) -> None:
        """The rows of a call on tensors whose dim 0 holds the batch times `windows`, as
        per-example rows: the windows are dim 1 (the kind's on_windows moves its dims), and
        every tensor the call makes must hold the batch times the same windows. Where they are
        at dim `at` > 0 (fold_at), see on_moved_windows."""
        if at:
            self.on_moved_windows(rows, windows, outs, what, at)
            return
        for op in self.ops[rows:]:
            try:
                op.args = _shown(REGISTRY[op.kind].on_windows(op.args, windows), op.kind)
            except SpecError as e:
                self.errors.append(f"{what}: {e.message}")
                return
            op.shape = (windows, *op.shape)
        for t in outs:
            if id(t) not in self.producer or id(t) in self.folded:
                continue
            if t.dim() and t.shape[0] == self.batch * windows:
                self.folded[id(t)] = windows
            else:
                self.errors.append(f"{what} makes a tensor of {'×'.join(map(str, t.shape))} from "
                                   f"one whose dim 0 holds the batch ({self.batch}) times "
                                   f"{windows} windows, which a count per example cannot follow")

    def on_moved_windows(self, rows: int, windows: int, outs: Sequence[torch.Tensor],
                         what: str, at: int) -> None:
        """One row of a call on a tensor whose dim `at` > 0 holds the batch times `windows`:
        per example that dim holds the windows, every dim moves up one (the kind's on_windows),
        and the output holds them in the same dim, or where a permute or transpose moves it. A
        kind that reads along that dim, or along the last (linear, layer norm, matmul's
        contraction, which would mix the windows), is refused."""
        made = self.ops[rows:]
        if len(made) != 1 or len(outs) != 1:
            self.errors.append(f"{what} makes {len(made)} rows from a tensor whose dim {at} "
                               "holds the batch (a permute moved it there): cnnsize follows one "
                               "op at a time on such a tensor")
            return
        op, out = made[0], outs[0]
        cls = REGISTRY[op.kind]
        rank = out.dim()
        named = [op.args.get(name) for name in (cls.window_dims or ())]
        dims = [v for value in named for v in (value if isinstance(value, list) else [value])
                if type(v) is int]
        moves = op.kind in ("permute", "transpose")
        if op.kind == "matmul" or (not moves and (
                at >= rank - 1 or any(d % rank == at for d in dims))):
            self.errors.append(f"{what}: cnnsize's {op.kind} reads along dim {at} or the last, "
                               f"where dim {at} holds the batch times {windows} windows (a "
                               "permute moved the batch there): a count per example cannot "
                               "follow that")
            return
        try:
            op.args = _shown(cls.on_windows(op.args, windows, at), op.kind)
        except SpecError as e:
            self.errors.append(f"{what}: {e.message}")
            return
        if op.kind == "permute":
            order = [d % (rank + 1) - 1 for d in op.args["dims"][1:]]
            at = order.index(at)
        elif op.kind == "transpose":
            pair = [op.args["dim0"] % (rank + 1) - 1, op.args["dim1"] % (rank + 1) - 1]
            at = pair[1 - pair.index(at)] if at in pair else at
        if out.shape[at] != self.batch * windows:
            self.errors.append(f"{what} makes a tensor of {'×'.join(map(str, out.shape))} from "
                               f"one whose dim {at} holds the batch ({self.batch}) times "
                               f"{windows} windows, which a count per example cannot follow")
            return
        op.shape = tuple(windows if d == at else s for d, s in enumerate(out.shape))
        if id(out) in self.producer:
            self.folded[id(out)] = windows
            if at:
                self.fold_at[id(out)] = at
            else:
                self.fold_at.pop(id(out), None)

    def window_reshape(self, base: str, x: torch.Tensor, args: Sequence[Any],
                       kwargs: Mapping[str, Any], out: torch.Tensor, what: str, path: str,
                       where: str) -> bool:
        """x.view/reshape that folds windows into dim 0 (its output's dim 0 is N·k, k > 1), or
        that works on a tensor holding them (keeping k' windows, or unfolding: dim 0 is N
        again): per example, a reshape to (k', *sizes[1:]) or to sizes[1:]. False where dim 0
        stays the batch (an ordinary reshape) or the output has one dim (refused as it is)."""
        held = self.folded.get(id(x), 0)
        rest = list(args[1:])
        sizes = (list(rest[0]) if len(rest) == 1 and isinstance(rest[0], (list, tuple)) else rest
                 or list(kwargs.get("shape", kwargs.get("size", ()))))
        if out.dim() < 2 or len(sizes) != out.dim() or not all(type(v) is int for v in sizes) \
                or (not held and out.shape[0] == self.batch):
            return False
        if id(x) in self.fold_at:
            self.errors.append(f"{what}: {base}{tuple(sizes)} of a tensor whose dim "
                               f"{self.fold_at[id(x)]} holds the batch (a permute moved it "
                               "there), which cnnsize does not follow")
            return True
        if out.shape[0] % self.batch:
            self.errors.append(f"{what}: {base}{tuple(sizes)} of an input "
                               f"{list(x.shape)} makes a dim 0 of {out.shape[0]}, not a multiple "
                               f"of the batch ({self.batch}), which a count per example cannot "
                               "follow")
            return True
        windows = out.shape[0] // self.batch
        shape = ([windows] if windows > 1 else []) + sizes[1:]
        name = self.unique(f"{path}.{base}" if path else base)
        self.ops.append(TracedOp(name, "reshape", _shown({"shape": shape}, "reshape"),
                                 [self.producer[id(x)]],
                                 (*shape[:1], *out.shape[1:]) if windows > 1 else
                                 tuple(out.shape[1:]), where=where))
        if windows > 1 and out.untyped_storage().data_ptr() != x.untyped_storage().data_ptr():
            # the batch and the windows merge only as a copy (MViT's heads, after a transpose):
            # per example the reshape may be a view, so the copy is a row of its own
            copied = self.unique(f"{path}.contiguous" if path else "contiguous")
            self.ops.append(TracedOp(copied, "contiguous", {}, [name], self.ops[-1].shape,
                                     where=where))
            name = copied
        self.produce(out, name)
        if windows > 1:
            self.folded[id(out)] = windows
            if not self.window_note:
                self.window_note = True
                self.notes.append(
                    f"{name}: forward folds {windows} windows into the batch dim (dim 0 = N·"
                    f"{windows}); per example they are dim 1 of each row until a reshape "
                    "brings the batch back (docs/conventions.md, \"Windows in the batch dim\")")
        return True

    def unmove(self, base: str, args: Sequence[Any], kwargs: Mapping[str, Any],
               outs: list[torch.Tensor], what: str, path: str, where: str) -> None:
        """An index of dim 0 of a tensor that a permute moved the batch behind (defer_permute):
        per example, a select of the permuted dim, then the rest of the permute (one pair of
        rows per piece that forward reads)."""
        x = next(t for t in _flat_tensors(args) if id(t) in self.moved_batch)
        source, dims = self.moved_batch[id(x)]
        rest = list(args[1:])
        if base in ("reshape", "view") and len(outs) == 1 and id(source) not in self.folded:
            self.merge_moved(base, x, source, dims, outs[0], what, path, where)
            return
        indices: list[Any] | None = None
        if base == "getitem" and len(outs) == 1:
            index = rest[0] if rest else None
            index = index[0] if isinstance(index, tuple) and len(index) == 1 else index
            indices = [index] if type(index) is int else None
        elif base in ("select", "unbind"):
            dim = rest[0] if rest else kwargs.get("dim", 0)
            if type(dim) is int and dim % x.dim() == 0:
                indices = ([rest[1] if len(rest) > 1 else kwargs.get("index")]
                           if base == "select" else list(range(len(outs))))
        if indices is None or not all(type(i) is int for i in indices):
            self.errors.append(f"{what}: forward permutes the batch dim away from dim 0 "
                               f"(permute{tuple(dims)}) and uses that tensor before an index of "
                               "its dim 0 brings the batch back, which a count per example "
                               "cannot follow")
            return
        name = self.producer[id(source)]
        order = [d - (d > dims[0]) for d in dims[1:]]
        for i, out in zip(indices, outs):
            picked = source.select(dims[0], i)
            row = self.unique(f"{path}.{base}" if path else base)
            self.ops.append(TracedOp(row, "select", _shown({"dim": dims[0], "index": i}, "select"),
                                     [name], tuple(picked.shape[1:]), where=where))
            self.pieces.add(row)
            if order != sorted(order):
                self.produce(picked, row)
                moved = self.unique(f"{path}.permute" if path else "permute")
                self.ops.append(TracedOp(moved, "permute", _shown({"dims": order}, "permute"),
                                         [row], tuple(out.shape[1:]), where=where))
                self.pieces.add(moved)
                row = moved
            self.produce(out, row)

    def merge_moved(self, base: str, x: torch.Tensor, source: torch.Tensor, dims: list[int],
                    out: torch.Tensor, what: str, path: str, where: str) -> None:
        """A reshape of a tensor that a permute moved the batch behind (defer_permute) that
        merges the batch into dim j of its output, outermost (MViT's r_q.permute(2, 0, 1, 3, 4,
        5).reshape(T, B·heads·H·W, C)): per example, the rest of the permute and a reshape
        with dim j of k = size / N; the output holds the batch times k windows at dim j
        (fold_at), or at dim 0 (folded) where j = 0."""
        moved = dims.index(0)
        before = math.prod(x.shape[:moved])
        j = next((i for i in range(out.dim()) if math.prod(out.shape[:i]) == before), None)
        if j is None or out.shape[j] % self.batch:
            self.errors.append(f"{what}: {base}{tuple(out.shape)} of a tensor whose dim {moved} "
                               f"is the batch (permute{tuple(dims)}) merges the batch into other "
                               "dims, not as the outermost of one, which a count per example "
                               "cannot follow")
            return
        windows = out.shape[j] // self.batch
        name = self.producer[id(source)]
        order = [d for d in dims if d != 0]
        if order != sorted(order):
            row = self.unique(f"{path}.permute" if path else "permute")
            permuted = source.permute(0, *order)
            self.ops.append(TracedOp(row, "permute", _shown({"dims": [0, *order]}, "permute"),
                                     [name], tuple(permuted.shape[1:]), where=where))
            name = row
        shape = [windows if i == j else s for i, s in enumerate(out.shape)]
        if j == 0 and windows == 1:
            shape = shape[1:]
        row = self.unique(f"{path}.{base}" if path else base)
        self.ops.append(TracedOp(row, "reshape", _shown({"shape": shape}, "reshape"), [name],
                                 tuple(shape), where=where))
        self.produce(out, row)
        if j or windows > 1:
            self.folded[id(out)] = windows
        if j:
            self.fold_at[id(out)] = j

    def parameter_names(self, ids: Iterable[int]) -> str:
        return ", ".join(sorted(self.parameters[i][0] for i in ids if i in self.parameters))

    def parameter_sources(self, tensors: Sequence[torch.Tensor]) -> frozenset[int]:
        """The parameters (ids) that tensors are, hold, or are computed from in forward."""
        found: set[int] = set()
        for t in tensors:
            held = self.parameter(t)
            if held is not None:
                found.add(id(held[0]))
            elif id(t) in self.prepared:
                found |= self.prepared[id(t)][0]
        return frozenset(found)

    def with_state(self, base: str, args: Sequence[Any], kwargs: dict[str, Any],
                   outs: list[torch.Tensor], what: str, path: str, where: str) -> None:
        """A torch function of a kind with `state_args`: F.conv2d(x, self.weight, self.bias,
        …), F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, …).
        Its first tensors are its inputs; its state is parameters and buffers of the model,
        counted by this row (a weight that forward computes from one parameter, as a weight-
        standardised conv does, counts that parameter: the computing is not per example and
        is not counted, docs/conventions.md). A second call with the same state shares the
        first row's module."""
        cls = REGISTRY[FUNCTIONS[base]]
        kwargs = dict(kwargs)
        rest = list(args)
        inputs: list[torch.Tensor] = []
        if "input" in kwargs and isinstance(kwargs["input"], torch.Tensor):
            inputs.append(kwargs.pop("input"))
        while rest and len(inputs) < (cls.max_inputs or 1) and isinstance(rest[0], torch.Tensor):
            inputs.append(rest.pop(0))
        if len(outs) != 1 or len(inputs) < cls.min_inputs:
            self.errors.append(f"{what}: cnnsize's {cls.type_name} takes {cls.min_inputs} input "
                               f"tensor(s) and makes one")
            return
        cls = cls.call_kind([tuple(t.shape) for t in inputs])
        kind = cls.type_name
        keywords = {k: v for k, v in kwargs.items()
                    if k not in _IGNORED_KEYWORDS or k in cls.function_args}
        try:
            spec_args = cls.from_call(rest, keywords, [tuple(t.shape) for t in inputs],
                                      tuple(outs[0].shape))
        except SpecError as e:
            self.errors.append(f"{what}: {e.message}")
            return
        if spec_args is None:
            self.errors.append(f"{what}: not a {kind} (not supported yet)")
            return
        given = {**dict(zip(cls.function_args, rest)), **keywords}
        params: set[int] = set()
        buffers: set[int] = set()
        made: list[str] = []
        for arg_name in cls.state_args:
            value = given.get(arg_name)
            if not isinstance(value, torch.Tensor):
                continue
            held = self.parameter_sources([value])
            if id(value) in self.buffer_names:
                buffers.add(id(value))
            elif held:
                total = sum(self.parameters[i][1].numel() for i in held)
                if total != value.numel():
                    self.errors.append(
                        f"{what}: its {arg_name} ({'×'.join(map(str, value.shape))}) is computed "
                        f"from the parameters {self.parameter_names(held)} ({total:,} values): "
                        f"cnnsize counts a {arg_name} that holds one parameter's values")
                    return
                params |= held
                if id(value) in self.prepared:
                    made.append(f"{arg_name} from {self.parameter_names(held)} by "
                                f"{', '.join(self.prepared[id(value)][1])}")
            else:
                self.errors.append(f"{what}: its {arg_name} is not a parameter or buffer of the "
                                   "model (computed from the input, or made in forward): cnnsize "
                                   f"counts a {kind} whose {arg_name} the model holds")
                return
        names = [self.name_of(t, what) for t in inputs]
        if any(n is None for n in names):
            return
        spec_args = _shown(spec_args, kind)
        owners = [self.param_rows.get(i) for i in params] + [self.state_rows.get(i) for i in buffers]
        first = set(owners) - {None}
        shares = None
        if first:  # a second call of the same layer, or state shared otherwise (refused)
            shares = next(iter(first)) if len(first) == 1 and None not in owners else None
            if not self.made_as(shares, kind, spec_args):
                self.errors.append(f"{what} uses the parameters or buffers of "
                                   f"{', '.join(sorted(n for n in first if n))} again, but not as "
                                   "that row does: cnnsize counts a layer's state once, in one kind")
                return
        name = self.unique(f"{path}.{base}" if path else base)
        if shares is None:
            self.param_rows.update((i, name) for i in params)
            self.state_rows.update((i, name) for i in buffers)
            if made:
                self.prepared_rows.append(name)
                self.notes.append(f"{name}: {'; '.join(made)} (forward computes it from the "
                                  "parameter in each pass, not per example: not counted)")
        trainable = all(self.parameters[i][1].requires_grad for i in params) if params else True
        self.ops.append(TracedOp(name, kind, spec_args, [n for n in names if n is not None],
                                 tuple(outs[0].shape[1:]), shares=shares, where=where,
                                 trainable=trainable))
        self.produce(outs[0], name)

    def quantized(self, qualified: str, args: Sequence[Any], kwargs: Mapping[str, Any],
                  outs: list[torch.Tensor], what: str, path: str, where: str) -> None:
        """An op of a quantized model (torch.ops.quantized.conv2d_relu, …) as its float
        counterpart (docs/conventions.md, "Quantized models"): conv and linear with the weight
        and bias that the calling nn.quantized module packs, a fused ReLU as its own in-place
        row; anything else is refused by name."""
        op = qualified.split("::", 1)[1]
        known = _QUANTIZED.get(op)
        if known is None or len(outs) != 1:
            self.errors.append(f"{what}: the quantized op {qualified} has no float counterpart "
                               "in cnnsize (not supported yet)")
            return
        kind, relu = known
        spec_args: dict[str, Any] = {}
        owner: Any = None
        if kind in ("conv1d", "conv2d", "conv3d", "linear"):
            packed = args[1] if len(args) > 1 else None
            owner = next((m for m, _ in reversed(self.stack) if packed is not None and (
                getattr(m, "_packed_params", None) is packed or getattr(
                    getattr(m, "_packed_params", None), "_packed_params", None) is packed)), None)
            if owner is None or not callable(getattr(owner, "_weight_bias", None)):
                self.errors.append(f"{what}: {qualified} with packed weights of no quantized "
                                   "module cnnsize knows (nn.quantized.Conv2d, Linear)")
                return
            weight, bias = owner._weight_bias()
            if kind == "linear":
                spec_args = {"out_features": int(weight.shape[0]), "bias": bias is not None}
            else:
                spec_args = {"out_channels": int(weight.shape[0]),
                             "kernel_size": [int(k) for k in weight.shape[2:]],
                             "stride": _plain(owner.stride), "padding": _plain(owner.padding),
                             "dilation": _plain(owner.dilation), "groups": int(owner.groups),
                             "bias": bias is not None,
                             "padding_mode": getattr(owner, "padding_mode", "zeros")}
            tensors = [args[0]]
        elif kind == "cat":
            tensors = list(args[0])
            spec_args = {"dim": int(args[1] if len(args) > 1 else kwargs.get("dim", 0))}
        elif kind in ("add", "mul"):
            tensors = [t for t in args[:2] if isinstance(t, torch.Tensor)]
            if len(tensors) != 2:
                self.errors.append(f"{what}: {qualified} with a number as an operand (not "
                                   "supported yet)")
                return
        else:
            tensors = [args[0]]
        names = [self.name_of(t, what) for t in tensors]
        if any(n is None for n in names):
            return
        self.qparams.update(id(t) for t in _flat_tensors([list(args), dict(kwargs)])
                            if id(t) in self.buffer_names)  # hardswish's scale, zero point
        inputs = [n for n in names if n is not None]
        name = self.unique(f"{path}.{op}" if path else op)
        shares = None
        if owner is not None:
            key = id(owner)
            shares = self.quantized_rows.get(key)
            if shares is None:
                self.quantized_rows[key] = name
        spec_args = _shown(spec_args, kind)
        if shares is not None:
            made = next(o for o in self.ops if o.name == shares)
            if (made.kind, made.args) != (kind, spec_args):
                self.errors.append(f"{what}: the module of {shares} called again otherwise")
                return
        self.ops.append(TracedOp(name, kind, spec_args, inputs, tuple(outs[0].shape[1:]),
                                 shares=shares, where=where, trainable=owner is None))
        if relu:  # the fused ReLU: in place on what the op makes (one output tensor)
            act = self.unique(f"{name}.relu")
            self.ops.append(TracedOp(act, "relu", {"inplace": True}, [name],
                                     tuple(outs[0].shape[1:]), where=where))
            name = act
        self.produce(outs[0], name)
        if not self.quantized_note:
            self.quantized_note = True
            self.notes.append(
                "imported from a quantized model: its ops are counted as their float "
                "counterparts (a fused ReLU as its own in-place row; BatchNorm, folded into "
                "the convolutions' biases by quantization, has no rows); its weights and its "
                "activations between quantize and dequantize are 1 B per element: report "
                "--dtype int8 for that memory (the float input and the output of dequantize "
                "are then counted at 1 B too); each layer's scale and zero point are not "
                "counted")

    def opaque_row(self, func: Any, args: Sequence[Any], kwargs: Mapping[str, Any] | None,
                   outs: list[torch.Tensor], reason: str) -> bool:
        """With `opaque`: a call cnnsize cannot follow as an `opaque` row per tensor it makes,
        reading the traced tensors it was given, counting the parameters and buffers it reads
        directly; False where it reads no traced tensor or a result loses the batch dim."""
        operands = _flat_tensors([list(args), dict(kwargs or {})])
        inputs = list(dict.fromkeys(self.producer[id(t)] for t in operands
                                    if id(t) in self.producer))
        if not inputs or any(t.dim() == 0 or t.shape[0] != self.batch for t in outs):
            return False
        params = self.parameter_sources(operands) - set(self.param_rows)
        buffers = {id(t) for t in operands if id(t) in self.buffer_names} - set(self.state_rows)
        base = _normalise(func)[0]
        path, where = self.where()
        for i, t in enumerate(outs):
            name = self.unique(f"{path}.{base}" if path else base)
            spec_args: dict[str, Any] = {"op": base, "shape": list(t.shape[1:])}
            if i == 0:
                spec_args["params"] = sum(self.parameters[p][1].numel() for p in params)
                spec_args["buffers"] = sum(t.numel() for t in self.model.buffers()
                                           if id(t) in buffers)
                self.param_rows.update((p, name) for p in params)
                self.state_rows.update((b, name) for b in buffers)
                self.notes.append(f"{name}: kept as an opaque row ({reason}; at "
                                  f"{_user_frame()})")
            self.ops.append(TracedOp(name, "opaque", _shown(spec_args, "opaque"), inputs,
                                     tuple(t.shape[1:]), where=where))
            self.produce(t, name)
        return True

    def alias(self, source: torch.Tensor, held: tuple[nn.Parameter, tuple[int, ...]],
              out: torch.Tensor, gathered: bool = False, base: str = "view") -> None:
        """A view of a parameter, the parameter broadcast over the batch dim, or its values
        gathered by an index tensor (a relative position bias: table[index]) and views of those;
        any other view of it (a part, or it repeated: MViT's spatial_pos.expand(T, -1, -1)) is
        computed from it (`prepared`)."""
        param, shape = held
        if gathered or (id(source) in self.gathered and out.numel() == source.numel()):
            self.aliases[id(out)] = (param, tuple(out.shape))
            self.gathered.add(id(out))
        elif out.numel() == param.numel():
            self.aliases[id(out)] = (param, tuple(out.shape))
        elif len(shape) == out.dim() and shape[0] == 1 and tuple(out.shape[1:]) == shape[1:]:
            self.aliases[id(out)] = (param, shape)  # expand(n, -1, -1): one per example
        elif out.dim() and out.shape[0] == self.batch and \
                math.prod(out.shape[1:]) == param.numel() and (
                    (source is param and base in ("expand", "broadcast_to")
                     and out.dim() == param.dim() + 1)
                    or (source is not param and source.dim() == len(shape) and shape[0] == 1
                        and source.dim() and source.shape[0] == self.batch)):
            # MViT's class_token.expand(n, -1).unsqueeze(1): one per example, and views of it
            self.aliases[id(out)] = (param, (1, *out.shape[1:]))
        else:
            self.prepared[id(out)] = (frozenset({id(param)}), (base,))
        self.keep.append(out)

    def operands(self, args: Sequence[Any], kwargs: dict[str, Any], swapped: bool
                 ) -> tuple[list[torch.Tensor], list[Any]]:
        """The tensors a call works on, in order (leading positional ones, lists of them as
        torch.cat takes, `input`/`tensors`/`other` by keyword: popped from kwargs), and the
        positional arguments after them; a leading string (torch.einsum's equation) is the
        first of those."""
        tensors: list[torch.Tensor] = []
        rest = list(args)
        lead = [rest.pop(0)] if rest and isinstance(rest[0], str) else []
        while rest and (isinstance(rest[0], torch.Tensor) or (
                isinstance(rest[0], (list, tuple)) and rest[0]
                and all(isinstance(t, torch.Tensor) for t in rest[0]))):
            tensors += _flat_tensors(rest.pop(0))
        for key in ("input", "tensors", "other"):  # tensors passed by keyword
            if key in kwargs and _flat_tensors(kwargs[key]):
                tensors += _flat_tensors(kwargs.pop(key))
        if swapped:
            tensors.reverse()
        return tensors, lead + rest

    def with_parameter(self, base: str, inplace: bool, swapped: bool, args: Sequence[Any],
                       kwargs: dict[str, Any], outs: list[torch.Tensor], what: str,
                       where: str) -> None:
        """A call with a parameter operand: the kind of PARAM_FUNCTIONS that counts it, named
        after the parameter; a second use of the parameter calls the first row's module."""
        kwargs = dict(kwargs)
        every = _flat_tensors(list(args) + list(kwargs.values()))
        tensors, rest = self.operands(args, kwargs, swapped)
        held = [(i, h) for i, t in enumerate(tensors) if (h := self.held(t)) is not None]
        kind = PARAM_FUNCTIONS.get(base)
        named = [self.parameters[id(h[0])][0] for t in every if (h := self.held(t))]
        label = ", ".join(dict.fromkeys(named))
        if kind is None or len(held) != 1 or len(tensors) != 2 or len(outs) != 1:
            self.errors.append(
                f"{what} uses the parameter {label} directly (outside a module cnnsize knows): "
                "cnnsize counts a parameter that forward uses only as a learned scale (γ * x), "
                "shift (x + β) or token (torch.cat with x), one parameter and one tensor")
            return
        position, (param, shape) = held[0]
        other = tensors[1 - position]
        source = self.name_of(other, what)
        if source is None:
            return
        keywords = {k: v for k, v in kwargs.items() if k not in _IGNORED_KEYWORDS}
        try:
            spec_args = REGISTRY[kind].from_param_call(
                shape, position, rest, keywords, [tuple(t.shape) for t in tensors],
                tuple(outs[0].shape))
        except SpecError as e:
            self.errors.append(f"{what}: {e.message}")
            return
        if id(tensors[position]) in self.gathered:  # table[index]: the table's size counts
            if "gathered_from" not in REGISTRY[kind].arg_names():
                self.errors.append(f"{what} uses values gathered from the parameter {label} by an "
                                   "index: cnnsize counts those only added (a relative position "
                                   "bias, x + table[index])")
                return
            spec_args["gathered_from"] = list(param.shape)
        if inplace and "inplace" not in REGISTRY[kind].arg_names():
            self.errors.append(f"{what}: cnnsize has no kind for this in-place op")
            return
        if inplace:
            spec_args["inplace"] = True
        spec_args = _shown(spec_args, kind)
        first = self.param_rows.get(id(param))
        if first is not None:
            made = next(op for op in self.ops if op.name == first)
            if (made.kind, made.args) != (kind, spec_args):
                self.errors.append(f"{what} uses the parameter {label} again, but not as "
                                   f"{first} does: cnnsize counts a parameter once, in one kind")
                return
        name = self.unique(label if first is None else first)
        if first is None:
            self.param_rows[id(param)] = name
            computed = self.prepared.get(id(tensors[position]))
            if computed is not None:  # computed from the parameter in forward (a prepared scale)
                self.prepared_rows.append(name)
                self.notes.append(f"{name}: {REGISTRY[kind].type_name} by {label} after "
                                  f"{', '.join(computed[1])} (forward computes it from the "
                                  "parameter in each pass, not per example: not counted)")
        self.ops.append(TracedOp(name, kind, spec_args, [source], tuple(outs[0].shape[1:]),
                                 shares=first, where=where, trainable=param.requires_grad))
        self.produce(outs[0], name)

    def with_computed(self, base: str, inplace: bool, swapped: bool, args: Sequence[Any],
                      kwargs: dict[str, Any], outs: list[torch.Tensor], what: str, path: str,
                      where: str) -> None:
        """x ∘ β where forward computes β from parameters alone, once per pass (MViT's position
        embedding: repeat_interleave, add and cat of three parameters): the kind of
        PARAM_FUNCTIONS with `computed_from`, the parameters' shapes (by name), which it counts;
        the computing is not per example and is not counted (docs/conventions.md)."""
        kwargs = dict(kwargs)
        tensors, rest = self.operands(args, kwargs, swapped)
        computed = [i for i, t in enumerate(tensors) if id(t) in self.prepared]
        kind = PARAM_FUNCTIONS[base]
        cls = REGISTRY[kind]
        if len(tensors) != 2 or len(computed) != 1 or len(outs) != 1 or \
                "computed_from" not in cls.arg_names():
            self.errors.append(f"{what} uses a tensor that forward computes from the parameter "
                               f"{self.parameter_names(self.parameter_sources(tensors))}: "
                               "cnnsize counts such a tensor as the weight of a layer "
                               "(F.conv2d), added to one tensor (x + β: a position embedding) "
                               "or multiplied with one (x @ W, torch.einsum)")
            return
        position = computed[0]
        sources, calls = self.prepared[id(tensors[position])]
        params = sorted((self.parameters[i] for i in sources), key=lambda item: item[0])
        source = self.name_of(tensors[1 - position], what)
        if source is None:
            return
        keywords = {k: v for k, v in kwargs.items() if k not in _IGNORED_KEYWORDS}
        try:
            spec_args = cls.from_param_call(
                tuple(tensors[position].shape), position, rest, keywords,
                [tuple(t.shape) for t in tensors], tuple(outs[0].shape))
        except SpecError as e:
            self.errors.append(f"{what}: {e.message}")
            return
        spec_args["computed_from"] = [list(p.shape) for _, p in params]
        if inplace:
            spec_args["inplace"] = True
        spec_args = _shown(spec_args, kind)
        label = ", ".join(name for name, _ in params)
        owners = {self.param_rows.get(id(p)) for _, p in params}
        first = next(iter(owners)) if len(owners) == 1 else None
        if owners != {None}:  # used before: the same row again, or refused
            if not self.made_as(first, kind, spec_args):
                self.errors.append(f"{what} uses the parameters {label} again, but not as "
                                   f"{first or 'one row'} does: cnnsize counts a parameter once, "
                                   "in one kind")
                return
        name = self.unique(first or (f"{path}.{base}" if path else base))
        if first is None:
            self.param_rows.update((id(p), name) for _, p in params)
            self.notes.append(f"{name}: β from {label} by {', '.join(calls)} (forward computes "
                              "it from the parameters in each pass, not per example: not "
                              "counted)")
        self.ops.append(TracedOp(name, kind, spec_args, [source], tuple(outs[0].shape[1:]),
                                 shares=first, where=where,
                                 trainable=all(p.requires_grad for _, p in params)))
        self.produce(outs[0], name)

    def getitem(self, args: Sequence[Any], out: torch.Tensor, what: str, path: str,
                where: str) -> None:
        """x[...] with ints, slices, None and `...`: one select, slice or unsqueeze row per
        indexed dim, in order; a tensor or list index (advanced indexing) is refused."""
        x, index = args[0], args[1]
        entries = list(index) if isinstance(index, tuple) else [index]
        ok = all(e is None or e is Ellipsis or type(e) is int or (
            isinstance(e, slice) and all(v is None or type(v) is int
                                         for v in (e.start, e.stop, e.step))) for e in entries)
        if not ok or sum(e is Ellipsis for e in entries) > 1:
            self.errors.append(f"{what}: x[{index!r}] indexes with tensors, lists or bools "
                               "(advanced indexing), which cnnsize cannot follow; slices, ints, "
                               "None and ... are followed")
            return
        real = sum(e is not None and e is not Ellipsis for e in entries)
        full: list[Any] = []
        for e in entries:
            full += [slice(None)] * (x.dim() - real) if e is Ellipsis else [e]
        steps: list[tuple[str, dict[str, Any]]] = []
        d = 0
        for e in full:
            if e is None:
                steps.append(("unsqueeze", {"dim": d}))
                d += 1
            elif isinstance(e, slice):
                if e != slice(None):
                    steps.append(("slice", {"dim": d, "start": e.start, "end": e.stop,
                                            "step": 1 if e.step is None else e.step}))
                d += 1
            else:
                steps.append(("select", {"dim": d, "index": e}))
        if any(a["dim"] == 0 for _, a in steps):
            self.errors.append(f"{what}: x[{index!r}] indexes the batch dim (dim 0), which a "
                               "count per example cannot follow")
            return
        name = self.producer[id(x)]
        if not steps:
            self.produce(out, name)  # x[:] or x[...]: the same elements
            return
        t = x
        for i, (kind, spec_args) in enumerate(steps):
            a = spec_args
            t = (t.unsqueeze(a["dim"]) if kind == "unsqueeze" else t.select(a["dim"], a["index"])
                 if kind == "select" else t[(slice(None),) * a["dim"] + (
                     slice(a["start"], a["end"], a["step"]),)])
            row = self.unique(f"{path}.getitem" if path else "getitem")
            self.ops.append(TracedOp(row, kind, _shown(spec_args, kind), [name],
                                     tuple(t.shape[1:]), where=where))
            self.produce(out if i == len(steps) - 1 else t, row)
            name = row
        if all(kind == "slice" for kind, _ in steps):  # x[idx] += y writes through it
            self.views[id(out)] = (x, [[a["dim"], a["start"], a["end"], a["step"]]
                                       for _, a in steps],
                                   [op.name for op in self.ops[-len(steps):]])

    def slice_update(self, args: Sequence[Any], what: str) -> bool:
        """x[idx] = v where v is x[idx] (slices) that an in-place add changed: Python's
        `x[idx] += y` (MViT's attn[:, :, 1:, 1:] += rel_pos). The add's row becomes a
        `sliceadd` of x and y, which x then is; the slice rows are left to go (pieces) where
        nothing else reads them. False for any other write (refused as one)."""
        x, value = (args[0], args[2]) if len(args) > 2 else (None, None)
        view = self.views.get(id(value)) if isinstance(value, torch.Tensor) else None
        if view is None or view[0] is not x or id(x) in self.folded:
            return False
        _, slices, sliced = view
        row = self.producer.get(id(value))
        op = next((o for o in reversed(self.ops) if o.name == row), None)
        if op is None or op.kind != "add" or not op.args.get("inplace") or \
                len(op.inputs) != 2 or op.inputs[0] != sliced[-1]:
            return False
        op.kind = "sliceadd"
        op.args = _shown({"slices": slices}, "sliceadd")
        op.inputs = [self.producer[id(x)], op.inputs[1]]
        op.shape = tuple(x.shape[1:])
        self.pieces.update(sliced)
        self.produce(x, op.name)
        return True

    def with_constant(self, cls: type[Kind], tensors: list[torch.Tensor], position: int,
                      rest: list[Any], kwargs: dict[str, Any], out: torch.Tensor, what: str
                      ) -> list[tuple[str, dict[str, Any], list[str], torch.Tensor]] | None:
        """x ∘ c where forward made c from shapes alone (Swin's attention mask, built from
        x.new_zeros and slice assignments): the kind with `constant`, c's shape as PyTorch has
        it; c first is refused where the order matters (c − x)."""
        constant, x = tensors[position], tensors[1 - position]
        if position == 0 and not getattr(cls, "commutative", True):
            self.errors.append(f"{what}: a tensor that forward creates "
                               f"({self.constants[id(constant)]}) {cls.type_name} a tensor: "
                               f"cnnsize's {cls.type_name} takes the constant second")
            return None
        keywords = {k: v for k, v in kwargs.items() if k not in _IGNORED_KEYWORDS}
        try:
            spec_args = cls.from_call(rest, keywords, [tuple(x.shape)], tuple(out.shape))
        except SpecError as e:
            self.errors.append(f"{what}: {e.message}")
            return None
        source = self.name_of(x, what)
        if spec_args is None or source is None:
            if spec_args is None:
                self.errors.append(f"{what}: not a {cls.type_name} with a constant operand")
            return None
        spec_args["constant"] = [int(v) for v in constant.shape]
        return [(cls.type_name, _shown(spec_args, cls.type_name), [source], out)]

    def map_function(self, base: str, inplace: bool, swapped: bool, args: Sequence[Any],
                     kwargs: dict[str, Any], outs: list[torch.Tensor], what: str
                     ) -> list[tuple[str, dict[str, Any], list[str], torch.Tensor]] | None:
        """The kind, spec arguments, input names and output of each row of a torch function
        call (one, or one per piece), or None (then its result is opaque: an error if anything
        uses it)."""
        kind = FUNCTIONS.get(base)
        # a call that returns several tensors (chunk, split, unbind) is one row per piece, of
        # a kind that takes the piece's `index`
        pieces = kind is not None and len(outs) > 1 and "index" in REGISTRY[kind].arg_names()
        if kind is None or (len(outs) != 1 and not pieces):
            for t in outs:
                self.opaque[id(t)] = (f"torch's {what}, for which cnnsize has no kind"
                                      if kind is None else f"{what}, which returns "
                                      f"{len(outs)} tensors (not supported yet)")
                self.keep.append(t)
            return None
        cls = REGISTRY[kind]
        tensors, rest = self.operands(args, kwargs, swapped)
        cls = cls.call_kind([tuple(t.shape) for t in tensors])  # F.instance_norm: 1d, 2d or 3d
        kind = cls.type_name
        fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        made_here = [i for i, t in enumerate(tensors)
                     if id(t) in self.from_shapes and id(t) not in self.producer]
        if "constant" in fields and len(tensors) == 2 and len(made_here) == 1 and len(outs) == 1:
            return self.with_constant(cls, tensors, made_here[0], rest, kwargs, outs[0], what)
        if len(tensors) < cls.min_inputs or (cls.max_inputs is not None
                                             and len(tensors) > cls.max_inputs):
            self.errors.append(f"{what}: {base} with {len(tensors)} tensor operand(s) (a number "
                               "as an operand is not supported yet)")
            return None
        keywords = {k: v for k, v in kwargs.items() if k not in _IGNORED_KEYWORDS}
        if swapped and len(tensors) == 1:  # c − x, 2 / x: a number first (x.__rsub__(c))
            keywords["reflected"] = True
        made = []
        for i, out in enumerate(outs):
            try:
                spec_args = cls.from_call(rest, {**keywords, "index": i} if pieces else keywords,
                                          [tuple(t.shape) for t in tensors], tuple(out.shape))
                refused = None if spec_args is not None else (
                    f"this {base} ({[list(t.shape) for t in tensors]} → {list(out.shape)}) is "
                    f"not a {kind} (not supported yet)")
            except SpecError as e:
                spec_args, refused = None, e.message
            if spec_args is None:  # an error where anything uses it (x.sum() > 0 reads a value)
                for t in outs:
                    self.opaque[id(t)] = f"{what}: {refused}"
                    self.keep.append(t)
                return None
            if inplace and "inplace" in fields:
                spec_args["inplace"] = True
            made.append((_shown(spec_args, kind), out))
        names = [self.name_of(t, what) for t in tensors]
        if any(n is None for n in names):
            return None
        inputs = self.aligned(tensors, [n for n in names if n is not None], what)
        if inputs is None:
            return None
        return [(kind, spec_args, inputs, out) for spec_args, out in made]

    def aligned(self, tensors: Sequence[torch.Tensor], names: list[str], what: str
                ) -> list[str] | None:
        """The inputs of a call that combines tensors computed once per pass (no batch dim)
        with ones per example: a once-per-pass tensor of more dims than an example has meets
        the batch with its leading dims, which must be 1 (Swin V2's bias, 1×heads×N×N, added
        to attention of one window per example): a reshape row without them comes first."""
        ranks = [t.dim() - (0 if id(t) in self.folded else 1) for t in tensors
                 if id(t) in self.producer and id(t) not in self.once]
        if not ranks or len(tensors) != len(names):
            return names
        rank = max(ranks)
        out = []
        for t, name in zip(tensors, names):
            extra = t.dim() - rank
            if id(t) not in self.once or extra <= 0:
                out.append(name)
                continue
            if any(s != 1 for s in t.shape[:extra]):
                self.errors.append(f"{what}: a tensor computed once per pass "
                                   f"({'×'.join(map(str, t.shape))}) meets the batch dim with "
                                   f"sizes other than 1, which a count per example cannot follow")
                return None
            row = self.unique(f"{name}.reshape")
            self.ops.append(TracedOp(row, "reshape",
                                     _shown({"shape": list(t.shape[extra:])}, "reshape"), [name],
                                     tuple(t.shape[extra:]), where=what))
            out.append(row)
        return out


def _moved_up(dim: Any) -> Any:
    """A PyTorch dim of a tensor computed once per pass (no batch dim) as a dim of that tensor
    as a batch of one: 0 is 1, negative dims stay."""
    return dim + 1 if type(dim) is int and dim >= 0 else dim


def _input_names(module: nn.Module, count: int) -> list[str]:
    """Input names from forward's signature (image1, image2) or input, input_2, …"""
    try:
        params = [p.name for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    if count == 1:
        return [DEFAULT_INPUT]
    if len(params) >= count and len(set(params[:count])) == count and \
            all(p.isidentifier() for p in params[:count]):
        return params[:count]
    return [DEFAULT_INPUT] + [f"{DEFAULT_INPUT}_{i + 1}" for i in range(1, count)]


InputShapes = Sequence[int] | Mapping[str, Sequence[int]] | Sequence[Sequence[int]]


def _shapes(module: nn.Module, input_shape: InputShapes) -> list[tuple[str, tuple[int, ...]]]:
    try:
        if isinstance(input_shape, Mapping):
            return [(str(k), tuple(int(s) for s in v)) for k, v in input_shape.items()]
        items: list[Any] = list(input_shape)
        if items and all(isinstance(v, (list, tuple)) for v in items):
            names = _input_names(module, len(items))
            return [(n, tuple(int(s) for s in v)) for n, v in zip(names, items)]
        return [(DEFAULT_INPUT, tuple(int(s) for s in items))]
    except (TypeError, ValueError):
        raise CnnsizeError(f"cannot read the input shape {input_shape!r}", field="input_shape",
                           hint="channels first, no batch dim: (3, 224, 224), or one per input"
                           ) from None


def _in_forward_order(module: nn.Module, shapes: list[tuple[str, tuple[int, ...]]]
                      ) -> list[tuple[str, tuple[int, ...]]]:
    """Inputs given by name, in the order of forward's parameters of those names (forward is
    called with them in that order); an error for a name forward does not have."""
    try:
        signature = inspect.signature(module.forward).parameters.values()
    except (TypeError, ValueError):
        return shapes  # no signature to read: in the order given
    params = [p for p in signature if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    names = [p.name for p in params]
    unknown = [name for name, _ in shapes if name not in names]
    if unknown and any(p.kind is p.VAR_POSITIONAL for p in signature):
        return shapes  # forward(*inputs): in the order given
    if unknown:
        raise CnnsizeError(f"{type(module).__name__}.forward has no parameter {unknown[0]!r}",
                           field="input", hint="name the inputs as forward does: "
                           + ", ".join(names))
    given = dict(shapes)
    ordered = [(name, given[name]) for name in names[:len(shapes)] if name in given]
    if len(ordered) != len(shapes):
        missing = [n for n in names[:len(shapes)] if n not in given]
        raise CnnsizeError(f"{type(module).__name__}.forward takes {', '.join(names[:len(shapes)])} "
                           f"first: give {missing[0]!r} too", field="input")
    return ordered


def example_inputs(module: nn.Module, input_shape: InputShapes, batch: int = 1
                   ) -> list[torch.Tensor]:
    """Random inputs for `module`'s forward, in the order of its parameters (named shapes are
    bound by name), with a batch dim."""
    shapes = _shapes(module, input_shape)
    if isinstance(input_shape, Mapping):
        shapes = _in_forward_order(module, shapes)
    return [torch.randn(batch, *shape) for _, shape in shapes]


def trace(module: nn.Module, input_shape: InputShapes, *, allow_data_dependent: bool = False,
          example: Sequence[torch.Tensor] | None = None, opaque: bool = False) -> Trace:
    """Run a copy of `module` once in eval mode on random inputs (or on `example`, with a batch
    dim, in the order of `input_shape`'s inputs) and record what it does. The caller's model
    and random number generators are left as they were. With `opaque`, an op cnnsize cannot
    follow is an `opaque` row (its shape traced, its costs not counted) instead of an error."""
    if not isinstance(module, nn.Module):
        raise CnnsizeError(f"expected a torch.nn.Module, got {type(module).__name__}",
                           field="module")
    with torch.random.fork_rng(devices=[]), _a_copy(module) as model:
        return _trace(module, model, input_shape, allow_data_dependent, example, opaque)


HOOKS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks",
         "_forward_hooks_with_kwargs", "_forward_hooks_always_called",
         "_forward_pre_hooks_with_kwargs")


@contextlib.contextmanager
def without_hooks(model: nn.Module) -> Iterator[nn.Module]:
    """The model with the hooks its modules carry set aside (they are the user's: a hook that
    logs or collects must not run for cnnsize), put back after."""
    kept = [(m, name, getattr(m, name).copy()) for m in model.modules() for name in HOOKS
            if getattr(m, name, None)]
    for m, name, _ in kept:
        getattr(m, name).clear()
    try:
        yield model
    finally:
        for m, name, hooks in kept:
            getattr(m, name).update(hooks)


@contextlib.contextmanager
def _a_copy(module: nn.Module) -> Iterator[nn.Module]:
    """A copy of the model in eval mode, without hooks; where it cannot be copied (it holds a
    lock, a file), the model itself, run without gradients and its train/eval flags and hooks
    put back after."""
    try:
        copied = copy.deepcopy(module)
    except Exception:  # anything deepcopy raises: use the original, restored after
        flags = [(m, m.training) for m in module.modules()]
        try:
            with without_hooks(module):
                yield module.eval()
        finally:
            for m, training in flags:
                m.training = training
        return
    for m in copied.modules():
        for name in HOOKS:
            if getattr(m, name, None):
                getattr(m, name).clear()
    yield copied.eval()


def _trace(module: nn.Module, model: nn.Module, input_shape: InputShapes,
           allow_data_dependent: bool, example: Sequence[torch.Tensor] | None,
           opaque: bool = False) -> Trace:
    shapes = _shapes(module, input_shape)
    if isinstance(input_shape, Mapping):
        shapes = _in_forward_order(module, shapes)
    _check_arity(module, shapes)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    if example is not None:  # the caller's inputs (crosscheck: the same data for both runs)
        xs = [x.to(device=device, dtype=dtype) for x in example]
    else:
        xs = [torch.randn(1, *shape, device=device, dtype=dtype) for _, shape in shapes]
    tracer = _Tracer(model, allow_data_dependent, opaque, batch=xs[0].shape[0] if xs else 1)
    for (name, _), x in zip(shapes, xs):
        tracer.produce(x, name)
        tracer.names.add(name)
    from torch.nn.modules import module as module_hooks

    handles = [module_hooks.register_module_forward_pre_hook(tracer.pre_hook),
               module_hooks.register_module_forward_hook(tracer.post_hook, with_kwargs=True)]
    state = [(kind, name, t) for kind, named in (("parameter", model.named_parameters()),
                                                 ("buffer", model.named_buffers()))
             for name, t in named]
    versions = [t._version for _, _, t in state]  # bumped by every write in place
    try:
        with torch.no_grad(), tracer:
            output = model(*xs)
    except CnnsizeError:
        raise
    except Exception as e:
        reached = f"after {tracer.ops[-1].name}" if tracer.ops else "before its first layer"
        raise CnnsizeError(f"the model's forward pass failed {reached}: "
                           f"{type(e).__name__}: {e}",
                           hint="check the inputs: one shape per forward argument, channels "
                                "first, no batch dim") from e
    finally:
        for handle in handles:
            handle.remove()
    tracer.check_views()
    # a write into the model's own state is no op on the input: no row would count it
    written = [f"the {kind} {name}" for (kind, name, t), version in zip(state, versions)
               if t._version != version]
    if written:
        raise CnnsizeError(f"cnnsize cannot follow this model: forward writes into "
                           f"{', '.join(written[:_MOST_CAUSES])}"
                           + (f" and {len(written) - _MOST_CAUSES} more" if len(written) >
                              _MOST_CAUSES else "") + " in place",
                           hint="cnnsize counts what forward computes from its inputs, not "
                                "updates of the model's own state (a running average, a "
                                "counter), which change what the next forward computes; import "
                                "a part that does not write (--submodule PATH)")
    if tracer.errors:
        raise _cannot_follow(model, tracer)
    if tracer.data_reads and not allow_data_dependent:
        raise CnnsizeError(
            "forward reads tensor values, so the path it takes can depend on the data: "
            + "; ".join(dict.fromkeys(tracer.data_reads)),
            hint="cnnsize counts one path; pass allow_data_dependent=True "
                 "(--allow-data-dependent) to count the path this random input takes")
    outputs: list[str] = []
    for t in _flat_tensors(output):
        found = tracer.producer.get(id(t))
        if found is None:
            made = tracer.opaque.get(id(t)) or tracer.constants.get(id(t))
            raise CnnsizeError("cnnsize cannot follow this model: forward returns "
                               + (f"the result of {made}" if made else
                                  "a tensor that does not come from its input"),
                               hint=("--opaque (opaque=True) keeps an op cnnsize cannot follow "
                                     "as a row whose shape is traced and whose costs are not "
                                     f"counted; {SUPPORTED}") if made and not opaque
                               else SUPPORTED)
        outputs.append(found)
    if not outputs:
        raise CnnsizeError("forward returns no tensor")
    if not tracer.ops:
        raise CnnsizeError("forward returns its input unchanged: there is no layer to count")
    ops = tracer.ops
    while True:  # the pieces forward never reads (and rows only they read) go
        read = {name for op in ops for name in op.inputs} | set(outputs)
        kept = [op for op in ops if op.name not in tracer.pieces or op.name in read]
        if len(kept) == len(ops):
            break
        ops = kept
    return Trace(shapes, ops, list(dict.fromkeys(outputs)),
                 _uncalled(model, tracer.called,
                           set(tracer.param_rows) | tracer.counted | set(tracer.state_rows)),
                 tracer.data_reads,
                 {path: type(sub).__name__ for path, sub in model.named_modules()},
                 tracer.notes,
                 sum(b.numel() for b in model.buffers() if id(b) in tracer.qparams),
                 tracer.prepared_rows, tracer.windowed)


_MOST_CAUSES = 4  # causes a refusal lists (a model that fails once fails on and on after)


def _cannot_follow(model: nn.Module, tracer: _Tracer) -> CnnsizeError:
    """What stopped the import: its first causes, each naming the op and the module it ran in,
    how many more there are, and what to do (keep such ops as opaque rows, or import a part)."""
    causes = list(dict.fromkeys(tracer.errors))
    text = "; ".join(causes[:_MOST_CAUSES])
    if len(causes) > _MOST_CAUSES:
        text += f"; and {len(causes) - _MOST_CAUSES} more"
    if tracer.consequences:
        text += (f" ({tracer.consequences} later use{'s' if tracer.consequences > 1 else ''} of "
                 "what these made not listed)")
    hints = []
    if not tracer.keep_opaque:
        hints.append("--opaque (opaque=True) keeps an op cnnsize cannot follow as a row whose "
                     "shape is traced and whose costs are not counted")
    parts = sorted(((sum(p.numel() for p in sub.parameters()), name)
                    for name, sub in model.named_children()), reverse=True)
    parts = [(n, name) for n, name in parts if n]
    if len(parts) > 1:
        hints.append(f"{'or i' if hints else 'I'}mport a part of the model that cnnsize can "
                     "follow (a detection "
                     "model's backbone), with --submodule PATH or from_module(model.get_submodule"
                     "(PATH), …): " + ", ".join(
                         f"{name} ({n:,} params)" for n, name in parts[:4]))
    hints.append(SUPPORTED)
    return CnnsizeError(f"cnnsize cannot follow this model: {text}", hint="; ".join(hints))


def _check_arity(module: nn.Module, shapes: Sequence[tuple[str, tuple[int, ...]]]) -> None:
    """A CnnsizeError unless forward takes as many inputs as there are shapes (RAFT's two
    images given one), naming them."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    required = [p.name for p in positional if p.default is p.empty]
    if len(required) <= len(shapes) <= len(positional):
        return
    want = (f"{len(required)}" if len(required) == len(positional) else
            f"{len(required)} to {len(positional)}")
    named = ", ".join(p.name for p in positional)
    example = " ".join(f"--input {p.name}=C,H,W" for p in positional[:max(len(required), 1)])
    raise CnnsizeError(f"{type(module).__name__}.forward takes {want} input"
                       f"{'s' if len(positional) != 1 else ''} ({named}), but "
                       f"{len(shapes)} shape{'s are' if len(shapes) != 1 else ' is'} given",
                       field="input", hint=f"one shape per input, in forward's order or by name: "
                                           f"{example}")


def _uncalled(model: nn.Module, called: set[int], free: Iterable[int] = ()
              ) -> list[tuple[str, int, int, int]]:
    """The outermost modules that forward never called, none of whose parameters or buffers
    it used (as a module's, or directly: `free`), with their parameter and buffer counts."""
    used: set[int] = set(free)
    packed_used: set[int] = set()  # the packed weights of called quantized modules
    for sub in model.modules():
        if id(sub) in called:
            used.update(id(t) for t in (*sub.parameters(recurse=False), *sub.buffers(recurse=False)))
            packed = getattr(sub, "_packed_params", None)  # its own (a quantized conv's)
            packed_used.update({id(packed), id(getattr(packed, "_packed_params", packed))})
    out = []
    skip: list[str] = []
    for name, sub in model.named_modules():
        if not name or any(name.startswith(s + ".") for s in skip):
            continue
        params = list(sub.parameters())
        buffers = list(sub.buffers())
        if id(sub) in called or any(id(t) in used for t in (*params, *buffers)):
            continue
        packed = quantized_weights(sub, set(packed_used))  # (packed, not parameters)
        if params or buffers or packed:
            out.append((name, sum(p.numel() for p in params) + packed,
                        sum(b.numel() for b in buffers),
                        sum(p.numel() for p in params if not p.requires_grad) + packed))
            skip.append(name)
    return out


# ---------------------------------------------------------------- trace → spec


def _items(trace: Trace) -> list[dict[str, Any]]:
    """Nested `sequential`s along the module paths, with `inputs:` where an op does not read
    the previous op's output. A path that is itself an op keeps its members flat (dotted
    names), so that every row keeps its traced name."""
    ops = trace.ops
    own = {op.name for op in ops}
    known: dict[str, str] = {name: name for name, _ in trace.inputs}

    def build(members: list[TracedOp], prefix: str, x: str) -> tuple[list[dict[str, Any]], str]:
        items: list[dict[str, Any]] = []
        i = 0
        while i < len(members):
            op = members[i]
            rel = op.name[len(prefix) + 1:] if prefix else op.name
            head = rel.split(".", 1)[0]
            group = f"{prefix}.{head}" if prefix else head
            if "." in rel and group not in own:
                j = i
                while j < len(members) and (members[j].name.startswith(group + ".")):
                    j += 1
                if any(m.name.startswith(group + ".") for m in members[j:]):
                    own.add(group)  # its ops are not contiguous: keep them flat
                    continue
                sub, x = build(members[i:j], group, x)
                container: dict[str, Any] = {"name": head, "type": "sequential"}
                if trace.classes.get(group, "Sequential") != "Sequential":
                    container["label"] = trace.classes[group]
                items.append({**container, "layers": sub})
                known.setdefault(group, x)
                i = j
                continue
            item: dict[str, Any] = {"name": rel}
            if op.shares is not None:
                item["shares"] = _ref(op.shares, op.name, known)
            else:
                item["type"] = op.kind
                item.update(op.args)
                if not op.trainable:
                    item["trainable"] = False
            if op.inputs and op.inputs != [x]:  # (a source, `state`, reads none)
                refs = [_ref(n, op.name, known) for n in op.inputs]
                item["inputs"] = refs if len(refs) > 1 else refs[0]
            items.append(item)
            known[op.name] = op.name
            x = op.name
            i += 1
        return items, x

    items, _ = build(ops, "", trace.inputs[0][0])
    return items


def _ref(target: str, at: str, known: dict[str, str]) -> str:
    """The shortest name for `target` that the spec's scoped look-up resolves at `at`."""
    parts = target.split(".")
    scope = at.split(".")[:-1]
    for k in range(len(parts) - 1, -1, -1):
        if k and parts[k].isdigit():
            continue  # "0.relu" reads badly: start at a name, or give the whole path
        name = ".".join(parts[k:])
        for depth in range(len(scope), -1, -1):
            candidate = ".".join((*scope[:depth], name))
            if candidate in known:
                if known[candidate] == target:
                    return name
                break
    return target


def _spec_of(traced: Trace, module: nn.Module, name: str | None) -> dict[str, Any]:
    inputs = traced.inputs
    spec: dict[str, Any] = {
        "name": name or type(module).__name__,
        "input": list(inputs[0][1]) if len(inputs) == 1 and inputs[0][0] == DEFAULT_INPUT
        else {n: list(s) for n, s in inputs},
        "meta": {"source": f"imported from {type(module).__module__}.{type(module).__name__} by "
                           "cnnsize (one traced call per op)"},
        "layers": _items(traced),
    }
    if traced.ops and traced.outputs != [traced.ops[-1].name]:
        spec["outputs"] = traced.outputs
    if traced.uncalled:
        spec["uncalled"] = {p: {"params": n, "buffers": b, **({"frozen": f} if f else {})}
                            for p, n, b, f in traced.uncalled}
    if traced.data_reads:
        spec["meta"]["data_dependent"] = list(traced.data_reads)
    if traced.notes:
        spec["meta"]["import_notes"] = list(traced.notes)
    if traced.quantization_buffers:
        spec["meta"]["quantization_buffers"] = traced.quantization_buffers
    if traced.prepared:
        spec["meta"]["prepared_weights"] = list(traced.prepared)
    return spec


def module_to_spec(module: nn.Module, input_shape: InputShapes, name: str | None = None, *,
                   allow_data_dependent: bool = False,
                   example: Sequence[torch.Tensor] | None = None, opaque: bool = False
                   ) -> tuple[dict[str, Any], dict[str, str | None], str]:
    """A spec dict for `module`, checked against it (see from_module), the module each row
    calls (None: a torch function), and how it was followed."""
    traced = trace(module, input_shape, allow_data_dependent=allow_data_dependent,
                   example=example, opaque=opaque)
    spec = _spec_of(traced, module, name)
    _verify(module, parse(spec, source=f"<{type(module).__name__}>"), traced)
    names = {op.name: None if op.name in traced.windowed else op.module for op in traced.ops}
    method = "one traced forward pass" + (
        " (the path this input takes: forward reads tensor values)" if traced.data_reads else "")
    return spec, names, method


def from_module(module: nn.Module, input_shape: InputShapes, name: str | None = None, *,
                allow_data_dependent: bool = False,
                example: Sequence[torch.Tensor] | None = None, opaque: bool = False) -> Graph:
    """The spec of an existing nn.Module, checked against it: every parameter and buffer is
    counted once (or listed as never called), and every output shape is the traced one. An op
    cnnsize cannot follow stops the import, naming it and the module it ran in; with `opaque`
    it is an `opaque` row instead: its output shape traced, its costs "not counted"."""
    spec, names, _ = module_to_spec(module, input_shape, name,
                                    allow_data_dependent=allow_data_dependent, example=example,
                                    opaque=opaque)
    network = parse(spec, source=f"<{type(module).__name__}>")
    meta = dict(network.meta)
    meta["module_names"] = names
    meta["spec"] = spec
    return dataclasses.replace(network, meta=meta)


def _verify(module: nn.Module, network: Graph, traced: Trace) -> None:
    """Loud unless the spec reproduces the trace: ops, inputs, shapes and every parameter."""
    from ..analyze import analyze

    lowered = [(op.name, op.kind.type_name, op.inputs) for op in network.ops]
    expected = [(op.name, op.kind, tuple(op.inputs)) for op in traced.ops]
    if lowered != expected:
        diff = next(((a, b) for a, b in zip(lowered, expected) if a != b),
                    (len(lowered), len(expected)))
        raise CnnsizeError(f"the written spec does not reproduce the traced graph: {diff}",
                           hint="this is a bug in cnnsize's importer; please report it")
    report = analyze(network)
    for row, op in zip(report.layers, traced.ops):
        if row.output_shape != op.shape:
            raise CnnsizeError(
                f"cnnsize's {op.kind} gives {'×'.join(map(str, row.output_shape))} but the model's "
                f"forward gave {'×'.join(map(str, op.shape))}", path=row.name, kind=op.kind,
                hint=f"called in {op.where}: an argument of the call that cnnsize does not read?")
    unique_params = {id(p): p for p in module.parameters()}.values()
    unique_buffers = {id(b): b for b in module.buffers()}.values()
    n_params = sum(p.numel() for p in unique_params) + quantized_weights(module)
    n_buffers = sum(b.numel() for b in unique_buffers) - traced.quantization_buffers
    t = report.totals
    if (t.params + t.uncalled_params, t.buffers + t.uncalled_buffers) != (n_params, n_buffers):
        owner: dict[int, str] = {}
        tied = []
        for op in traced.ops:
            if op.module is None or op.shares is not None:
                continue
            for name, tensor in module.get_submodule(op.module).named_parameters(prefix=op.module):
                if id(tensor) in owner and owner[id(tensor)] != name:
                    tied.append(f"{owner[id(tensor)]} is {name}")
                owner.setdefault(id(tensor), name)
        raise CnnsizeError(
            f"the import counts {t.params + t.uncalled_params:,} parameters and "
            f"{t.buffers + t.uncalled_buffers:,} buffers, but the model has {n_params:,} and "
            f"{n_buffers:,}: some are used in a way cnnsize does not follow"
            + (f" (tied between modules that are not one module: {', '.join(tied)})" if tied
               else ""),
            hint="cnnsize counts the parameters of the modules it maps; a parameter used "
                 "directly in forward, or tied between two modules that differ otherwise, is "
                 "not supported yet")
    n_trainable = sum(p.numel() for p in unique_params if p.requires_grad)
    counted = t.trainable_params + sum(u.params - u.frozen for u in network.uncalled)
    if counted != n_trainable:
        raise CnnsizeError(f"the import counts {counted:,} trainable parameters but the model has "
                           f"{n_trainable:,} with requires_grad",
                           hint="this is a bug in cnnsize's importer; please report it")


def quantized_weights(model: nn.Module, seen: set[int] | None = None) -> int:
    """The weights and biases that nn.quantized modules (Conv2d, Linear, ConvReLU2d, …) pack
    instead of holding them as parameters, once per packed set (those not in `seen`, which
    gets them): they do not train."""
    seen = set() if seen is None else seen
    total = 0
    for module in model.modules():
        packed = getattr(module, "_packed_params", None)
        unpack = getattr(module, "_weight_bias", None)
        if packed is None or not callable(unpack) or isinstance(packed, nn.Module):
            continue  # (a quantized Linear's LinearPackedParams holds the packed set itself)
        key = id(getattr(packed, "_packed_params", packed))
        if key in seen:
            continue
        seen.add(key)
        weight, bias = unpack()
        total += weight.numel() + (bias.numel() if bias is not None else 0)
    return total


def submodule_of(model: nn.Module, path: str) -> nn.Module:
    """model.get_submodule(path) (`--submodule`), or an error listing what the model holds."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        from ..layers.base import did_you_mean

        names = [name for name, _ in model.named_modules() if name and name.count(".") < 2]
        raise CnnsizeError(f"{type(model).__name__} has no submodule {path!r}",
                           field="--submodule",
                           hint=did_you_mean(path, names, "its submodules") if names
                           else f"{type(model).__name__} has no submodules") from None


def load_factory(reference: str) -> Callable[..., nn.Module]:
    """'package.module:factory' (e.g. 'torchvision.models:resnet50') or 'path/to/file.py:factory'
    → the callable."""
    import importlib
    import os

    mod_name, sep, attr = reference.rpartition(":") if reference.count(":") > 1 and \
        reference.lower().split(":")[-2].endswith(".py") else reference.partition(":")
    if not sep or not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise CnnsizeError(f"expected PKG.MOD:FACTORY or FILE.py:FACTORY, got {reference[:120]!r}",
                           hint="e.g. torchvision.models:resnet50 or models/mynet.py:build")
    if mod_name.lower().endswith(".py") or "/" in mod_name or os.sep in mod_name:
        mod = _import_file(mod_name)
    else:
        parts = mod_name.split(".")
        if not all(p.isidentifier() for p in parts):
            raise CnnsizeError(f"expected PKG.MOD:FACTORY (dotted names, no leading dot) or "
                               f"FILE.py:FACTORY, got {reference[:120]!r}",
                               hint="e.g. torchvision.models:resnet50 or models/mynet.py:build")
        if os.getcwd() not in sys.path and "" not in sys.path:  # like `python -m`: the cwd imports
            sys.path.insert(0, os.getcwd())
        mod = _run_import(mod_name, lambda: importlib.import_module(mod_name))
    factory: Any = mod
    for part in attr.split("."):
        if not hasattr(factory, part):
            raise CnnsizeError(f"{mod_name} has no {attr!r}")
        factory = getattr(factory, part)
    if not callable(factory):
        raise CnnsizeError(f"{reference} is not callable")
    return factory  # type: ignore[no-any-return]


def _import_file(path: str) -> Any:
    """A Python file as a module (named after the file; its folder importable, so that it can
    import its neighbours), as `python path/to/file.py` would see them."""
    import importlib.util
    import os

    if not path.lower().endswith(".py"):
        raise CnnsizeError(f"{path!r} is not a Python file (.py)",
                           hint="give FILE.py:FACTORY, or a dotted module path PKG.MOD:FACTORY")
    if not os.path.isfile(path):
        raise CnnsizeError(f"no such file: {path}")
    folder = os.path.dirname(os.path.abspath(path))
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CnnsizeError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    sys.modules[name] = module  # dataclasses and pickling look modules up by name

    def run() -> Any:
        loader.exec_module(module)
        return module

    try:
        return _run_import(path, run)
    except CnnsizeError:
        sys.modules.pop(name, None)
        raise


def _run_import(what: str, load: Callable[[], Any]) -> Any:
    try:
        return load()
    except ImportError as e:
        raise CnnsizeError(f"cannot import {what}: {e}") from None
    except SyntaxError as e:
        raise CnnsizeError(f"cannot import {what}: a syntax error at {e.filename}:{e.lineno}: "
                           f"{e.msg}") from None
    except Exception as e:  # the module's own code failed as it was imported
        raise CnnsizeError(f"importing {what} raised {type(e).__name__}: {e}") from None


__all__ = ["Trace", "TracedOp", "example_inputs", "from_module", "load_factory", "module_to_spec",
           "trace"]
