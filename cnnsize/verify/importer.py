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
(layers/learned.py), named after it. Dataflow follows tensor identity, so any graph
imports: skips across levels, DenseNet's growing torch.cat lists, lists of tensors passed
between blocks, several inputs and outputs. A module called twice is one module: its second
call `shares` the first (parameters counted once). Python control flow runs as it runs for
this input shape; a forward that reads tensor values (an `if` on a tensor) is refused unless
the caller accepts the path this input takes. Parameters of modules the forward never calls
are listed apart (`uncalled`), and the import checks that every parameter is accounted for.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
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
from ..layers.base import MODULE_CLASSES, PARAM_FUNCTIONS
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
                    "permute", "transpose", "flatten", "unflatten", "t", "getitem"}
# Keywords of torch functions that change nothing cnnsize counts.
_IGNORED_KEYWORDS = {"_stacklevel", "training", "out"}
_WRITES = {"setitem", "copy", "index_put", "masked_fill", "scatter", "index_copy", "fill"}
# Calls that read tensor values into Python (the path forward takes may depend on the data),
# and calls whose output shape depends on the values.
_VALUE_READS = {"bool", "item", "tolist", "int", "float", "index", "complex", "numpy", "array",
                "equal", "allclose"}
_VALUE_SHAPES = {"nonzero", "argwhere", "unique", "masked_select", "unique_consecutive"}


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
        if f.name == "bias" and isinstance(getattr(module, "bias", None), (torch.Tensor, type(None))):
            args["bias"] = getattr(module, "bias", None) is not None
            continue
        if hasattr(module, f.name):
            value = getattr(module, f.name)
            if isinstance(value, torch.Tensor):
                continue
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

    def __init__(self, model: nn.Module, allow_data_dependent: bool) -> None:
        super().__init__()
        self.model = model
        self.allow = allow_data_dependent
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
        self.opaque: dict[int, str] = {}     # id(tensor) → the call without a kind that made it
        self.sharing: dict[int, set[str]] = {}  # storage → names of the tensors in it
        self.rewritten: list[tuple[int, str, set[str]]] = []  # in-place ops and stale views
        self.parameters: dict[int, tuple[str, nn.Parameter]] = {
            id(p): (name, p) for name, p in model.named_parameters()}
        # id(tensor) → (the parameter it holds, its shape as it is used): a view of one, or
        # one broadcast over the batch (ViT's class_token.expand(n, -1, -1))
        self.aliases: dict[int, tuple[nn.Parameter, tuple[int, ...]]] = {}
        self.param_rows: dict[int, str] = {}  # id(parameter) → the row that counts it
        self.pieces: set[str] = set()         # rows for the pieces of chunk, split, unbind

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
    def parameter(self, tensor: torch.Tensor) -> tuple[nn.Parameter, tuple[int, ...]] | None:
        """The model's parameter a tensor is (or holds, see `aliases`), with its shape as used."""
        if id(tensor) in self.parameters:
            return self.parameters[id(tensor)][1], tuple(tensor.shape)
        return self.aliases.get(id(tensor))

    def name_of(self, tensor: torch.Tensor, what: str) -> str | None:
        name = self.producer.get(id(tensor))
        if name is not None:
            return name
        held = self.parameter(tensor)
        if held is not None or isinstance(tensor, nn.Parameter):
            label = self.parameters[id(held[0])][0] if held is not None else "a parameter"
            self.errors.append(
                f"{what} uses the parameter {label} directly (outside a module cnnsize knows): "
                "cnnsize counts a parameter that forward uses only as a learned scale (γ * x), "
                "shift (x + β) or token (torch.cat with x)")
        elif id(tensor) in self.opaque:
            self.errors.append(f"{what} uses the result of {self.opaque[id(tensor)]}")
        elif id(tensor) in self.constants:
            self.errors.append(f"{what} uses a tensor that forward creates "
                               f"({self.constants[id(tensor)]})")
        else:
            self.errors.append(f"{what} uses a tensor that is not the input or an earlier result "
                               "(a buffer or a constant)")
        return None

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
        inputs: list[str] = []
        shapes: list[tuple[int, ...]] = []
        for t in _flat_tensors([args, kwargs]):  # inputs named at the call, as forward saw them
            n = self.name_of(t, where)
            if n is not None:
                inputs.append(n)
                shapes.append(tuple(t.shape[1:]))
        tensors = _flat_tensors(output)
        if len(tensors) != 1 or not inputs:
            self.errors.append(f"{where} returns {len(tensors)} tensors" if len(tensors) != 1
                               else f"{where} is called without a tensor input")
            return
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
        out_shape = tuple(tensors[0].shape[1:])
        args_ = REGISTRY[kind].from_module_call(args_, shapes, out_shape)
        grads = {n: p.requires_grad for n, p in module.named_parameters()}
        if len(set(grads.values())) > 1:
            self.errors.append(
                f"{where} is partly frozen ({', '.join(n for n, g in grads.items() if g)} "
                f"trains, {', '.join(n for n, g in grads.items() if not g)} does not): cnnsize "
                "counts a layer's parameters as all trainable or all frozen")
        self.ops.append(TracedOp(name, kind, args_, inputs, out_shape,
                                 module=self.paths.get(id(module), ""), shares=first, where=where,
                                 trainable=any(grads.values()) or not grads))
        self.produce(output, name)

    # ---- torch functions
    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (),
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
        writes = inplace or base in _WRITES or any(id(t) in before for t in out_tensors)
        if derived and base in _WRITES:
            self.errors.append(f"{what}: forward writes into a tensor (x[...] = …, copy_), which "
                               "cnnsize cannot follow")
            return out
        if not out_tensors:
            return out  # shapes, sizes, flags: metadata, no op
        if not traced and derived:
            for t in out_tensors:  # computed from a call without a kind: an error if used
                self.opaque[id(t)] = self.opaque[id(derived[0])]
                self.keep.append(t)
            return out
        if not traced:
            held = [self.parameter(t) for t in tensors]
            if len(held) == 1 and held[0] is not None and base in _PARAMETER_VIEWS \
                    and len(out_tensors) == 1:
                self.alias(held[0], out_tensors[0])
                return out
            if not tensors or all(id(t) not in self.producer for t in tensors):
                for t in out_tensors:  # made inside forward (torch.zeros, a parameter's view, …)
                    self.constants.setdefault(id(t), f"{base} at {_user_frame()}")
            return out
        if base in _SAME_TENSOR and len(out_tensors) == 1 and out_tensors[0] is traced[0]:
            return out  # the input itself (x.contiguous() of a contiguous x): no op
        if base == "getitem" and len(traced) == 1 and len(out_tensors) == 1:
            self.getitem(args, out_tensors[0], what, path, where)
            return out
        if any(self.parameter(t) is not None for t in tensors) and (
                base in PARAM_FUNCTIONS or base not in FUNCTIONS):
            self.with_parameter(base, inplace, swapped, args, kwargs, out_tensors, what, where)
            return out
        mapped = self.map_function(base, inplace, swapped, args, kwargs, out_tensors, what)
        if mapped is None:
            if writes:  # an in-place op without a kind would change a tensor behind our back
                self.errors.append(f"{what}: cnnsize has no kind for this in-place op")
            return out
        for kind, spec_args, inputs, tensor in mapped:
            name = self.unique(f"{path}.{base}" if path else base)
            self.ops.append(TracedOp(name, kind, spec_args, inputs, tuple(tensor.shape[1:]),
                                     where=where))
            self.produce(tensor, name)
            if len(mapped) > 1:
                self.pieces.add(name)
        return out

    def alias(self, held: tuple[nn.Parameter, tuple[int, ...]], out: torch.Tensor) -> None:
        """A view of a parameter, or the parameter broadcast over the batch dim."""
        param, shape = held
        if out.numel() == param.numel():
            self.aliases[id(out)] = (param, tuple(out.shape))
        elif len(shape) == out.dim() and shape[0] == 1 and tuple(out.shape[1:]) == shape[1:]:
            self.aliases[id(out)] = (param, shape)  # expand(n, -1, -1): one per example
        else:
            self.constants[id(out)] = (f"a part of the parameter {self.parameters[id(param)][0]} "
                                       f"taken at {_user_frame()}")
            self.keep.append(out)
            return
        self.keep.append(out)

    def operands(self, args: Sequence[Any], kwargs: dict[str, Any], swapped: bool
                 ) -> tuple[list[torch.Tensor], list[Any]]:
        """The tensors a call works on, in order (leading positional ones, lists of them as
        torch.cat takes, `input`/`tensors`/`other` by keyword: popped from kwargs), and the
        positional arguments after them."""
        tensors: list[torch.Tensor] = []
        rest = list(args)
        while rest and (isinstance(rest[0], torch.Tensor) or (
                isinstance(rest[0], (list, tuple)) and rest[0]
                and all(isinstance(t, torch.Tensor) for t in rest[0]))):
            tensors += _flat_tensors(rest.pop(0))
        for key in ("input", "tensors", "other"):  # tensors passed by keyword
            if key in kwargs:
                tensors += _flat_tensors(kwargs.pop(key))
        if swapped:
            tensors.reverse()
        return tensors, rest

    def with_parameter(self, base: str, inplace: bool, swapped: bool, args: Sequence[Any],
                       kwargs: dict[str, Any], outs: list[torch.Tensor], what: str,
                       where: str) -> None:
        """A call with a parameter operand: the kind of PARAM_FUNCTIONS that counts it, named
        after the parameter; a second use of the parameter calls the first row's module."""
        kwargs = dict(kwargs)
        every = _flat_tensors(list(args) + list(kwargs.values()))
        tensors, rest = self.operands(args, kwargs, swapped)
        held = [(i, h) for i, t in enumerate(tensors) if (h := self.parameter(t)) is not None]
        kind = PARAM_FUNCTIONS.get(base)
        named = [self.parameters[id(h[0])][0] for t in every if (h := self.parameter(t))]
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
        self.ops.append(TracedOp(name, kind, spec_args, [source], tuple(outs[0].shape[1:]),
                                 shares=first, where=where, trainable=param.requires_grad))
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
        if len(tensors) < cls.min_inputs or (cls.max_inputs is not None
                                             and len(tensors) > cls.max_inputs):
            self.errors.append(f"{what}: {base} with {len(tensors)} tensor operand(s) (a number "
                               "as an operand is not supported yet)")
            return None
        keywords = {k: v for k, v in kwargs.items() if k not in _IGNORED_KEYWORDS}
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
        inputs = [n for n in names if n is not None]
        return [(kind, spec_args, inputs, out) for spec_args, out in made]


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
          example: Sequence[torch.Tensor] | None = None) -> Trace:
    """Run a copy of `module` once in eval mode on random inputs (or on `example`, with a batch
    dim, in the order of `input_shape`'s inputs) and record what it does. The caller's model
    and random number generators are left as they were."""
    if not isinstance(module, nn.Module):
        raise CnnsizeError(f"expected a torch.nn.Module, got {type(module).__name__}",
                           field="module")
    with torch.random.fork_rng(devices=[]), _a_copy(module) as model:
        return _trace(module, model, input_shape, allow_data_dependent, example)


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
           allow_data_dependent: bool, example: Sequence[torch.Tensor] | None) -> Trace:
    shapes = _shapes(module, input_shape)
    if isinstance(input_shape, Mapping):
        shapes = _in_forward_order(module, shapes)
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    if example is not None:  # the caller's inputs (crosscheck: the same data for both runs)
        xs = [x.to(device=device, dtype=dtype) for x in example]
    else:
        xs = [torch.randn(1, *shape, device=device, dtype=dtype) for _, shape in shapes]
    tracer = _Tracer(model, allow_data_dependent)
    for (name, _), x in zip(shapes, xs):
        tracer.produce(x, name)
        tracer.names.add(name)
    from torch.nn.modules import module as module_hooks

    handles = [module_hooks.register_module_forward_pre_hook(tracer.pre_hook),
               module_hooks.register_module_forward_hook(tracer.post_hook, with_kwargs=True)]
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
    if tracer.errors:
        listed = "; ".join(dict.fromkeys(tracer.errors))
        raise CnnsizeError(f"cnnsize cannot follow this model: {listed}", hint=SUPPORTED)
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
                                  "a tensor that does not come from its input"), hint=SUPPORTED)
        outputs.append(found)
    if not outputs:
        raise CnnsizeError("forward returns no tensor")
    if not tracer.ops:
        raise CnnsizeError("forward returns its input unchanged: there is no layer to count")
    read = {name for op in tracer.ops for name in op.inputs} | set(outputs)
    ops = [op for op in tracer.ops if op.name not in tracer.pieces or op.name in read]
    return Trace(shapes, ops, list(dict.fromkeys(outputs)),
                 _uncalled(model, tracer.called, set(tracer.param_rows)), tracer.data_reads,
                 {path: type(sub).__name__ for path, sub in model.named_modules()})


def _uncalled(model: nn.Module, called: set[int], free: Iterable[int] = ()
              ) -> list[tuple[str, int, int, int]]:
    """The outermost modules that forward never called, none of whose parameters or buffers
    it used (as a module's, or directly: `free`), with their parameter and buffer counts."""
    used: set[int] = set(free)
    for sub in model.modules():
        if id(sub) in called:
            used.update(id(t) for t in (*sub.parameters(recurse=False), *sub.buffers(recurse=False)))
    out = []
    skip: list[str] = []
    for name, sub in model.named_modules():
        if not name or any(name.startswith(s + ".") for s in skip):
            continue
        params = list(sub.parameters())
        buffers = list(sub.buffers())
        if (params or buffers) and id(sub) not in called and \
                not any(id(t) in used for t in (*params, *buffers)):
            out.append((name, sum(p.numel() for p in params), sum(b.numel() for b in buffers),
                        sum(p.numel() for p in params if not p.requires_grad)))
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
            if op.inputs != [x]:
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
    return spec


def module_to_spec(module: nn.Module, input_shape: InputShapes, name: str | None = None, *,
                   allow_data_dependent: bool = False,
                   example: Sequence[torch.Tensor] | None = None
                   ) -> tuple[dict[str, Any], dict[str, str | None], str]:
    """A spec dict for `module`, checked against it (see from_module), the module each row
    calls (None: a torch function), and how it was followed."""
    traced = trace(module, input_shape, allow_data_dependent=allow_data_dependent, example=example)
    spec = _spec_of(traced, module, name)
    _verify(module, parse(spec, source=f"<{type(module).__name__}>"), traced)
    names = {op.name: op.module for op in traced.ops}
    method = "one traced forward pass" + (
        " (the path this input takes: forward reads tensor values)" if traced.data_reads else "")
    return spec, names, method


def from_module(module: nn.Module, input_shape: InputShapes, name: str | None = None, *,
                allow_data_dependent: bool = False,
                example: Sequence[torch.Tensor] | None = None) -> Graph:
    """The spec of an existing nn.Module, checked against it: every parameter and buffer is
    counted once (or listed as never called), and every output shape is the traced one."""
    spec, names, _ = module_to_spec(module, input_shape, name,
                                    allow_data_dependent=allow_data_dependent, example=example)
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
    n_params = sum(p.numel() for p in unique_params)
    n_buffers = sum(b.numel() for b in unique_buffers)
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
