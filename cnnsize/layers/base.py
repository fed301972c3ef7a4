"""The layer-kind protocol, the registry, and argument parsing shared by every family.

A kind is a frozen dataclass whose fields are the PyTorch constructor arguments (normalised:
tuples have one entry per spatial dim). It knows its output shape and its costs for one input
shape, the formulas behind them, and the torch.nn module it stands for.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

from ..errors import ShapeError, SpecError
from ..record import MISSING, field, fields, frozen_error, kind_fields, record, replace
from ..shape import Dim, fmt, require_positive, sliding_window

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:  # pragma: no cover
    import inspect
    from typing import Any, ClassVar, Literal, TypeVar

    import torch

Shape = tuple[int, ...]

# Symbols used for spatial sizes in worked formulas, by number of spatial dims.
SPATIAL_SYMBOLS: dict[int, tuple[str, ...]] = {1: ("L",), 2: ("H", "W"), 3: ("T", "H", "W")}


@record
class Window:
    """How a layer maps receptive fields in one spatial dim: kernel extent and stride."""

    kernel: int
    stride: int | Fraction  # a Fraction only where it is not whole (transposed convolutions)
    dilation: int = 1       # for --explain only: kernel = dilation·(F − 1) + 1


@record
class Mixes:
    """Every output element reads every input element along these axes (per example, 0 is
    channels): a reduction over them, a linear layer over the last. Over an axis that carries a
    spatial dim of the input, the field becomes that whole dim; over channels, it stays."""

    axes: tuple[int, ...]


@record
class Moves:
    """Where a data-movement op (permute, reshape, slice, ...) puts its first input's axes: for
    each output axis (per example), the input axes it is made of (() for a new axis; several
    for merged ones, or where a reshape regroups them), and every `steps`-th element of it (a
    strided slice; () for all 1). The receptive field follows each spatial dim to its new axis;
    a view's strides are computed from these (analyze.py)."""

    axes: tuple[tuple[int, ...], ...]
    steps: tuple[int, ...] = ()


# Receptive-field effect of a layer: per-dim windows; "same" (elementwise: the inputs' fields,
# the largest over all paths); "global" (every output sees the whole input); "gated" (like
# "same", but a global input only rescales the others: a squeeze-excite gate); Mixes (whole
# along some axes).
if TYPE_CHECKING:
    RFEffect = tuple[Window, ...] | Literal["same", "global", "gated"] | Mixes
else:  # (what the aliases are at run time, where typing is not imported)
    RFEffect = tuple | str | Mixes


# Where a layer's output lives (docs/conventions.md, "Activation memory"):
#   "new":        a tensor of its own;
#   "view":       always its (first) input's storage (flatten, identity);
#   "activation": an activation PyTorch can run in place (it has an `inplace` argument): the input's
#                 storage or its own, as the `inplace_activations` convention says;
#   "eval_noop":  the input itself at inference (dropout), a new tensor in training;
#   "inplace":    written into its first input (out += identity), always;
#   "reshape":    a view where PyTorch's view rule allows it for the input's strides (reshape,
#                 flatten), else a new contiguous tensor;
#   "contiguous": the input itself where it is contiguous, else a new contiguous tensor.
if TYPE_CHECKING:
    Storage = Literal["new", "view", "activation", "eval_noop", "inplace", "reshape",
                      "contiguous"]
else:
    Storage = str

# What autograd keeps of a tensor for the backward pass: one of the op's inputs, its output, or
# a tensor of its own (max-pool indices, BatchNorm's batch statistics, a dropout mask).
if TYPE_CHECKING:
    SavedWhat = Literal["input", "output", "new"]
else:
    SavedWhat = str


@record
class Saved:
    """One tensor autograd saves for backward when the op runs in training mode."""

    what: SavedWhat
    index: int = 0                # which input, for what="input"
    elements: int = 0             # size of a "new" tensor, per example (per batch: per_batch=False)
    itemsize: int | Literal["dtype", "acc", "mask"] = "dtype"  # bytes per element: the network's
    # dtype; "acc": max(4, dtype) (statistics kept in float32); "mask": Conventions.mask_bytes
    per_batch: bool = True        # False: `elements` is for the whole batch (per-channel statistics)
    when_grad: int | None = None  # saved only when this input needs a gradient (mul's operands)
    for_weights: bool = False     # saved only for the weights' gradient (linear's input): not
    # when they are frozen
    # the input as bmm gets it (matmul, einsum): its dims (0: the batch) in this order, merged
    # into three groups of these lengths; its own storage where that reshape is a view of it,
    # else a contiguous copy (analyze.py follows the strides: a permuted head is copied)
    bmm: tuple[tuple[int, ...], tuple[int, int, int]] | None = None


@record
class Cost:
    """What one layer costs for one example, before any counting convention is applied."""

    output_shape: Shape
    weights: int = 0
    biases: int = 0
    buffers: int = 0
    long_buffers: int = 0     # of the buffers, those stored as int64 (num_batches_tracked)
    connections: int = 0
    bias_connections: int = 0
    macs: int = 0
    elementwise_flops: int = 0
    bias_adds: int = 0
    storage: Storage = "new"
    inplace: bool = False    # the spec asks for inplace=true
    neurons: bool = False
    rf: RFEffect = "same"
    moves: Moves | None = None  # a data-movement op: where its input's axes go
    saved: tuple[Saved, ...] = ()
    saved_inplace: tuple[Saved, ...] | None = None  # what it saves when run in place, if different
    notes: tuple[str, ...] = ()
    # A note that holds only where the last axis of the input carries a spatial dim (a linear
    # layer over W is not fully connected; over channels, as in ConvNeXt's MLP, it is meant).
    spatial_last_note: str = ""
    explain: tuple[str, ...] = ()
    inexact: tuple[tuple[str, Any], ...] = ()  # (field, shape.Dim) for non-integer sizes
    # False: an op cnnsize has no formulas for (layers/opaque.py): its MACs, FLOPs, connections
    # and memory are "not counted" in every table, never shown as numbers
    counted: bool = True

    @property
    def units(self) -> int:
        return math.prod(self.output_shape)


SAVE_INPUT = (Saved("input"),)
SAVE_OUTPUT = (Saved("output"),)


def window_dims(ndim: int, spatial: tuple[int, ...], kernel: tuple[int, ...],
                stride: tuple[int, ...], pads: tuple[tuple[int, int], ...],
                dilation: tuple[int, ...] | None = None, ceil_mode: bool = False
                ) -> tuple[list[Dim], tuple[tuple[str, Dim], ...]]:
    """The sliding-window output size per spatial dim (a ShapeError if one is not positive),
    and the (field, dim) pairs whose formula is not a whole number, for Cost.inexact."""
    dims = []
    for w1, f, s, p, d, sym in zip(spatial, kernel, stride, pads, dilation or (1,) * ndim,
                                   SPATIAL_SYMBOLS[ndim]):
        dim = sliding_window(w1, f, s, p, d, ceil_mode=ceil_mode, symbol=sym)
        require_positive(dim, w1, f, d, p, field=f"output {sym}", symbol=sym)
        dims.append(dim)
    inexact = tuple((f"output {sym}", dim) for sym, dim in zip(SPATIAL_SYMBOLS[ndim], dims)
                    if not dim.is_exact)
    return dims, inexact


# ---------------------------------------------------------------- argument converters

if TYPE_CHECKING:
    Converter = Callable[[Any, "type[Kind]", str], Any]
else:
    Converter = Callable


def _type_error(value: Any, expected: str) -> SpecError:
    return SpecError(f"expected {expected}, got {value!r} ({type(value).__name__})")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


MAX_SIZE = 2**31  # the largest size, channel count or argument a spec may give


def _bounded(value: int) -> int:
    if abs(value) > MAX_SIZE:
        raise SpecError(f"{value:.3e} is beyond any real layer (limit {MAX_SIZE:,})")
    return value


def to_int(minimum: int | None = None) -> Converter:
    def convert(value: Any, cls: type[Kind], name: str) -> int:
        if not is_int(value):
            raise _type_error(value, "an integer")
        if minimum is not None and value < minimum:
            raise SpecError(f"must be >= {minimum}, got {value}")
        return _bounded(int(value))
    return convert


def to_ints(minimum: int = 0) -> Converter:
    """An int or a list with one int per spatial dim, normalised to a tuple."""
    def convert(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
        n = cls.ndim
        if is_int(value):
            items = [value] * n
        elif isinstance(value, (list, tuple)) and len(value) == n and all(is_int(v) for v in value):
            items = list(value)
        else:
            raise _type_error(value, f"an integer or a list of {n} integers")
        if any(v < minimum for v in items):
            raise SpecError(f"every entry must be >= {minimum}, got {value!r}")
        return tuple(_bounded(int(v)) for v in items)
    return convert


def to_optional_ints(value: Any, cls: type[Kind], name: str) -> tuple[int | None, ...]:
    """Adaptive pools' output_size: an int, or a list whose entries may be null (keep input)."""
    n = cls.ndim
    items = [value] * n if is_int(value) else value
    if not (isinstance(items, (list, tuple)) and len(items) == n
            and all(v is None or is_int(v) for v in items)):
        raise _type_error(value, f"an integer or a list of {n} integers or nulls")
    if any(v is not None and v < 1 for v in items):
        raise SpecError(f"every entry must be >= 1, got {value!r}")
    for v in items:
        if v is not None:
            _bounded(v)
    if n == 1 and items[0] is None:
        raise SpecError("a 1d adaptive pool needs an integer output_size (PyTorch)")
    return tuple(items)


def to_padding(value: Any, cls: type[Kind], name: str) -> tuple[int, ...] | str:
    if value == "same" or value == "valid":
        return "same" if value == "same" else "valid"
    if isinstance(value, str):
        raise SpecError(f"expected an integer, a list of integers, 'same' or 'valid', got {value!r}")
    ints: tuple[int, ...] = to_ints(0)(value, cls, name)
    return ints


def to_bool(value: Any, cls: type[Kind], name: str) -> bool:
    if not isinstance(value, bool):
        raise _type_error(value, "true or false")
    return value


def to_float(value: Any, cls: type[Kind], name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _type_error(value, "a number")
    return float(value)


def to_choice(*choices: Any) -> Converter:
    def convert(value: Any, cls: type[Kind], name: str) -> Any:
        if value not in choices:
            raise SpecError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return value
    return convert


def to_optional(inner: Converter) -> Converter:
    def convert(value: Any, cls: type[Kind], name: str) -> Any:
        return None if value is None else inner(value, cls, name)
    return convert


REQUIRED = object()


def arg(default: Any = REQUIRED, convert: Converter | None = None, *, sizes: bool = False) -> Any:
    """Declare a constructor argument: its PyTorch default (or REQUIRED) and its converter.
    `sizes`: a tensor's shape (or a list F.pad reads), shown as a list in args(): [4, 4] is a
    shape, not the 4 that a kernel size (4, 4) is shown as."""
    meta = {"convert": convert, "required": default is REQUIRED, "sizes": sizes}
    if default is REQUIRED:
        return field(default=None, metadata=meta)
    return field(default=default, metadata=meta)


# ---------------------------------------------------------------- the kind base class

if TYPE_CHECKING:  # type checkers see what a kind is: a frozen dataclass
    K = TypeVar("K", bound="type[Kind]")

    from typing_extensions import dataclass_transform

    @dataclass_transform(frozen_default=True, field_specifiers=(field,))
    def kind_class(*, frozen: bool = True) -> Callable[[K], K]: ...
else:
    def kind_class(*, frozen: bool = True) -> Callable[[type[Any]], type[Any]]:
        """@dataclass(frozen=True) for a layer kind, without generating code for each class.

        Kinds are all alike (keyword fields with defaults), so Kind defines __init__, __eq__,
        __hash__, __repr__ and frozen's __setattr__ once, generically, from the fields; here
        only the fields are recorded (record.kind_fields; dataclasses.fields, replace and asdict
        work as for any dataclass).
        """
        if not frozen:
            raise TypeError("layer kinds are frozen")

        def make(cls: type[Any]) -> type[Any]:
            if not cls.__doc__:  # what it is, rather than its signature
                cls.__doc__ = (f"The layer kind {cls.type_name!r}" if cls.type_name
                               else "A layer kind") \
                    + (f" (torch.nn.{cls.torch_name})." if cls.torch_name else ".")
            cls = kind_fields(cls)
            made = fields(cls)
            lacking = [f.name for f in made if f.default is MISSING]
            if lacking:
                raise TypeError(f"{cls.__name__}: every argument of a kind has a default "
                                f"(arg() gives one), not {', '.join(lacking)}")
            type.__setattr__(cls, "_field_names", tuple(f.name for f in made))
            type.__setattr__(cls, "_defaults", {f.name: f.default for f in made})
            return cls

        return make


class _Signature:
    """Kind.__signature__: its fields, with their defaults, for each kind class."""

    def __get__(self, obj: object, owner: type[Kind]) -> inspect.Signature:
        sig = _SIGNATURES.get(owner)
        if sig is None:
            import inspect  # (not at import: a report never asks)

            sig = inspect.Signature([
                inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default)
                for name, default in owner._defaults.items()])
            if "_defaults" in owner.__dict__:  # not while kind_class makes the class
                _SIGNATURES[owner] = sig
        return sig


_SIGNATURES: dict[type, inspect.Signature] = {}


class Kind:
    """Base of every layer kind. Subclasses are frozen dataclasses registered by type name."""

    type_name: ClassVar[str] = ""
    torch_name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    ndim: ClassVar[int] = 0  # spatial dims the kind expects; 0 = any
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1  # None: any number
    # Small valid configurations (args, input shape) that the tests check against torch.nn; a
    # kind with several inputs gives (args, (shape, shape, ...)).
    examples: ClassVar[tuple[tuple[dict[str, Any], Any], ...]] = ()
    # Arguments that exist in PyTorch but that this kind does not pass to the torch module.
    spec_only: ClassVar[frozenset[str]] = frozenset()
    # The torch functions this kind is when a forward calls them (what `cnnsize import` maps):
    # names as torch gives them, without dunders, a trailing _ (in place) or an r/i prefix
    # (x.__radd__, x.__iadd__ are add), and their positional arguments after the tensors.
    functions: ClassVar[tuple[str, ...]] = ()
    function_args: ClassVar[tuple[str, ...]] = ()
    # The torch functions this kind is when one operand is a parameter that forward uses
    # directly (`self.gamma * x` is `scale`), and classes outside torch.nn that it is, by
    # module and qualified name (torchvision.ops.stochastic_depth.StochasticDepth).
    param_functions: ClassVar[tuple[str, ...]] = ()
    module_classes: ClassVar[tuple[str, ...]] = ()
    # The arguments of its `functions` that are the layer's own tensors (weights, biases,
    # running statistics: F.conv2d(x, self.weight, self.bias), F.batch_norm(x,
    # self.running_mean, ...)): `cnnsize import` reads them as its parameters and buffers,
    # not as inputs, and `from_call` gets them as tensors (it reads their shapes).
    state_args: ClassVar[tuple[str, ...]] = ()
    # True: no gradient flows through it (quantize), so autograd keeps nothing before it for
    # the backward pass through it
    stops_gradient: ClassVar[bool] = False
    # How `cnnsize import` reads a module call of this kind beyond its constructor's arguments:
    # the fields that are arguments of the module's forward (nn.MultiheadAttention's
    # need_weights), read from the call; what the outputs after the first are, which the graph
    # does not follow ("" : the module returns one tensor); and the fields that say whether a
    # parameter exists, with the attribute that holds it (bias: in_proj_bias), where the module
    # has no attribute of the field's name. See also call_inputs.
    forward_args: ClassVar[tuple[str, ...]] = ()
    extra_outputs: ClassVar[str] = ""
    parameter_flags: ClassVar[Mapping[str, str]] = {}
    # How `cnnsize import` reads a call on a tensor whose dim 0 holds the batch times k windows
    # (Swin's window partition, docs/conventions.md "Windows in the batch dim"): the fields that
    # are PyTorch dims, which move up one (per example the windows are dim 1); or None: a kind
    # that reads dim 1 as channels (conv, pool, batch norm) runs once per window, as on k
    # examples, where it has a field `windows` (PerWindow), and cannot otherwise. See on_windows.
    window_dims: ClassVar[tuple[str, ...] | None] = None
    # What it stands for in PyTorch, for docs/spec.md (default: the torch.nn class).
    origin: ClassVar[str] = ""
    # Its fields, in order, and their defaults: set by kind_class.
    _field_names: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    # What inspect.signature(kind) shows, as for a dataclass's generated __init__: made on
    # first use, not for every kind at import.
    __signature__: ClassVar[inspect.Signature] = _Signature()  # type: ignore[assignment]

    # -- what dataclass(frozen=True) would generate for each kind, once for all of them
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        names = self._field_names
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__}() takes at most {len(names)} arguments, "
                            f"got {len(args)}")
        values = dict(self._defaults)
        values.update(zip(names, args))
        for key, value in kwargs.items():
            if key not in values:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                                f"{key!r}")
            if key in names[:len(args)]:
                raise TypeError(f"{type(self).__name__}() got multiple values for {key!r}")
            values[key] = value
        for key, value in values.items():
            object.__setattr__(self, key, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._field_names)

    def __setattr__(self, name: str, value: Any) -> None:
        raise frozen_error(name)

    def __delattr__(self, name: str) -> None:
        raise frozen_error(name, "delete")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        args = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._field_names)
        return f"{type(self).__qualname__}({args})"

    @classmethod
    def docs_row(cls) -> str:
        """Its row in the tables of docs/spec.md (tests/test_docs.py keeps them in step)."""
        args = []
        for f in fields(cls):
            if f.metadata.get("required"):
                args.append(f"`{f.name}` (required)")
                continue
            default = f.default
            text = ("null" if default is None else ("true" if default else "false")
                    if isinstance(default, bool) else repr(default))
            note = ("" if f.name not in cls.spec_only else
                    " (forward's argument)" if f.name in ("output_size", *cls.forward_args)
                    else " (not PyTorch's)")
            args.append(f"`{f.name}`={text}{note}")
        origin = cls.origin or f"`nn.{cls.torch_name}`"
        return f"| `{cls.type_name}` | {origin} | {', '.join(args) or '—'} |"

    @classmethod
    def arg_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def from_args(cls, args: Mapping[str, Any], also: Sequence[str] = ()) -> Kind:
        """Validate user arguments against the PyTorch constructor and normalise them. `also`:
        other keys an item may have (for a did-you-mean: `input` for `inputs`). The same
        arguments give the same (frozen) kind, made once: a network repeats its layers."""
        key = _args_key(cls, args)
        kind = _KINDS.get(key) if key is not None else None
        if kind is None:
            kind = cls._from_args(args, also)
            if key is not None:
                if len(_KINDS) >= _KINDS_MAX:
                    _KINDS.clear()
                _KINDS[key] = kind
        return kind

    @classmethod
    def _from_args(cls, args: Mapping[str, Any], also: Sequence[str]) -> Kind:
        names = cls.arg_names()
        for key in args:
            if key not in names:
                import difflib  # errors only

                close = difflib.get_close_matches(str(key), list(also), n=1, cutoff=0.8)
                raise SpecError(
                    f"unknown argument {key!r} for {cls.type_name}",
                    field=str(key),
                    hint=f"did you mean {close[0]!r}?" if close else
                    did_you_mean(str(key), names, "valid arguments") if names else
                    f"{cls.type_name} takes no arguments",
                )
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in args and f.metadata.get("required"):
                raise SpecError(f"missing required argument {f.name!r} for {cls.type_name}",
                                field=f.name)
            value = args.get(f.name, f.default)
            convert = f.metadata.get("convert")
            try:
                values[f.name] = convert(value, cls, f.name) if convert else value
            except SpecError as e:
                raise _with_field(e, f.name) from None
        kind = cls(**values)
        kind.validate()
        return kind

    def validate(self) -> None:
        """Check arguments against each other (shape-independent); raise SpecError."""

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        """Output shape and costs for these input shapes (one example each, no batch dim)."""
        return self.analyze_one(self.single_input(inputs))

    def analyze_one(self, shape: Shape) -> Cost:
        """analyze() of a kind with one input."""
        raise NotImplementedError

    def single_input(self, inputs: Sequence[Shape]) -> Shape:
        self.check_arity(inputs)
        return inputs[0]

    @classmethod
    def example_inputs(cls, example: tuple[dict[str, Any], Any]) -> tuple[Shape, ...]:
        """The input shapes of one of `examples`."""
        shapes = example[1]
        return tuple(tuple(s) for s in shapes) if cls.max_inputs != 1 else (tuple(shapes),)

    def check_arity(self, inputs: Sequence[Shape]) -> None:
        n, low, high = len(inputs), self.min_inputs, self.max_inputs
        if n < low or (high is not None and n > high):
            want = (f"{low}" if low == high else f"{low} or more" if high is None
                    else f"{low} to {high}")
            raise SpecError(f"{self.type_name} takes {want} input{'s' if want != '1' else ''}, "
                            f"got {n}", field="inputs",
                            hint="merge tensors first with add, mul or cat" if high == 1
                            else "list the tensors it combines under inputs:")

    def call_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of the module's forward call (not of its constructor)."""
        return {}

    @classmethod
    def from_module_call(cls, args: dict[str, Any], in_shapes: Sequence[Shape],
                         out_shape: Shape) -> dict[str, Any]:
        """Spec arguments of a module call, given its constructor's (`args`) and what the call
        gave: a kind whose forward takes arguments (output_size) reads them off the shapes."""
        return args

    @classmethod
    def call_inputs(cls, tensors: Sequence[object]) -> int:
        """How many of a module call's tensor arguments are the op's inputs: all of them, or
        fewer where the kind reads a tensor passed twice as one input (`attn(x, x, x)`)."""
        return len(tensors)

    @classmethod
    def call_kind(cls, in_shapes: Sequence[Shape]) -> type[Kind]:
        """The kind a call of one of `functions` is, given its tensors' shapes (batch dim
        included): this one, or a sibling where one torch function serves several ranks
        (F.instance_norm is instancenorm1d, 2d or 3d)."""
        return cls

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """Spec arguments from a call of one of `functions` (shapes with the batch dim), or
        None where the call is not this kind; a SpecError for an argument it does not have."""
        names = {f.name for f in fields(cls)}
        extra = [repr(v) for v in positional[len(cls.function_args):]] + [
            f"{k}={v!r}" for k, v in keywords.items() if k not in names and v is not None]
        if extra:
            raise SpecError(f"cnnsize's {cls.type_name} has no argument like {', '.join(extra)}")
        raw = dict(zip(cls.function_args, positional))
        raw.update(keywords)
        return {k: v for k, v in raw.items() if k in names and v is not None}

    @classmethod
    def from_param_call(cls, parameter: Shape, position: int, positional: Sequence[Any],
                        keywords: Mapping[str, Any], in_shapes: Sequence[Shape],
                        out_shape: Shape) -> dict[str, Any]:
        """Spec arguments of a call of one of `param_functions` whose operand number `position`
        is a parameter, used with the shape `parameter` (shapes with the batch dim)."""
        raise SpecError(f"{cls.type_name} has no parameter operand")

    @classmethod
    def on_windows(cls, args: Mapping[str, Any], windows: int, at: int = 0) -> dict[str, Any]:
        """Spec arguments of a call (as from_call read them against the traced tensors) on a
        tensor whose dim 0 holds the batch times `windows`: per example that tensor has the
        windows as dim 1, so each dim of `window_dims` >= 1 moves up one (a dim from the end
        stays); dim 0, the batch and the windows together, is refused. `at`: the dim that holds
        them where a permute moved them from dim 0 (MViT's relative position over time: per
        example that dim holds the windows, and every dim moves up one)."""
        if cls.window_dims is None and "windows" in cls._field_names:
            return {**args, "windows": True}  # once per window, as on k examples (PerWindow)
        if cls.window_dims is None:
            raise SpecError(f"cnnsize's {cls.type_name} reads a tensor whose dim 0 holds the batch "
                            f"times {windows} windows (a window partition) only as one example "
                            "per row, which it is not", hint="a window partition (Swin) is "
                            "followed through elementwise ops, linear, layer norm, softmax, "
                            "matmul and data movement, and convolutions, pools and norms over "
                            "channels run once per window")
        out = dict(args)
        for name in cls.window_dims:
            value = out.get(name, cls._defaults.get(name))
            if value is not None:
                out[name] = ([window_dim(d, cls, at) for d in value]
                             if isinstance(value, (list, tuple)) else window_dim(value, cls, at))
        return out

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        """Constructor arguments for the matching torch.nn module, given the input shape."""
        return {f.name: getattr(self, f.name) for f in fields(type(self))
                if f.name not in self.spec_only}

    def torch_module(self, shape: Shape) -> torch.nn.Module:
        import torch.nn
        module: torch.nn.Module = getattr(torch.nn, self.torch_name)(**self.torch_kwargs(shape))
        return module

    def args(self) -> dict[str, Any]:
        """The arguments that differ from PyTorch's defaults, for display."""
        out = {}
        for f in fields(type(self)):
            value = getattr(self, f.name)
            convert = f.metadata.get("convert")
            default = convert(f.default, type(self), f.name) if convert and f.default is not None \
                else f.default
            if f.metadata.get("required") or value != default:
                out[f.name] = [list(v) if isinstance(v, tuple) else v for v in value] \
                    if f.metadata.get("sizes") and isinstance(value, tuple) else _compact(value)
        return out

    # helpers for subclasses
    def expect_spatial(self, shape: Shape) -> tuple[int, tuple[int, ...]]:
        """Split (C, *spatial), checking the number of spatial dims."""
        if self.ndim and len(shape) != self.ndim + 1:
            sym = "×".join(("C",) + SPATIAL_SYMBOLS[self.ndim])
            raise ShapeError(
                f"{self.type_name} expects an input of shape {sym} ({self.ndim} spatial dims), "
                f"got {fmt_shape(shape)}",
                field="input",
                hint="flatten comes before linear layers; 1d/2d/3d kinds need 1/2/3 spatial dims",
            )
        return shape[0], tuple(shape[1:])

    def check_given(self, name: str, given: int | None, actual: int) -> None:
        if given is not None and given != actual:
            raise ShapeError(f"is {given} but the input to this layer has {actual}", field=name,
                             hint=f"remove {name} to let cnnsize infer it, or fix the layer before")


class PerWindow(Kind):
    """A kind that reads dim 1 as channels (conv, pool, batch norm) with a field `windows`:
    true, the input per example is k × C × …, k windows (heads) that forward folds into the
    batch dim (MViT's pooling of each head: x.reshape(B·heads, C, T, H, W)), and the layer runs
    once per window, as on k examples: its weights once, its MACs, connections and FLOPs k
    times (docs/conventions.md, "Windows in the batch dim")."""

    windows: bool  # a field of each subclass (spec only: PyTorch's module has no such argument)

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        shape = self.single_input(inputs)
        if not self.windows:
            return self.analyze_one(shape)
        if len(shape) < 2:
            raise ShapeError(f"windows: true reads the input's first dim as the windows, but the "
                             f"input is {fmt_shape(shape)}", field="windows",
                             hint=f"the input is k × the {self.type_name}'s own input per example")
        return over_windows(self.analyze_one(shape[1:]), shape[0])

    def torch_module(self, shape: Shape) -> torch.nn.Module:
        module = self.one_window_module(shape[1:] if self.windows else shape)
        if not self.windows:
            return module
        from ..verify.modules import PerWindow as Windows

        return Windows(module, self.type_name, self.args())

    def one_window_module(self, shape: Shape) -> torch.nn.Module:
        """The torch module for one window (its input shape per example)."""
        return Kind.torch_module(self, shape)


def over_windows(cost: Cost, k: int) -> Cost:
    """The cost of a layer run once on each of k windows (PerWindow): the per-window output
    k times; weights, biases and buffers once; the work and what training saves k times."""
    def more(saved: tuple[Saved, ...]) -> tuple[Saved, ...]:
        return tuple(replace(s, elements=s.elements * k)
                     if s.what == "new" and s.per_batch else s for s in saved)

    return replace(
        cost, output_shape=(k, *cost.output_shape), connections=cost.connections * k,
        bias_connections=cost.bias_connections * k, macs=cost.macs * k,
        elementwise_flops=cost.elementwise_flops * k, bias_adds=cost.bias_adds * k,
        saved=more(cost.saved),
        saved_inplace=None if cost.saved_inplace is None else more(cost.saved_inplace),
        explain=(*(f"per window: {line}" for line in cost.explain),
                 f"{k} windows (dim 1 of the input), each run as its own example, the weights "
                 "shared:",
                 *([f"units = {k}·{cost.units:,} = {k * cost.units:,}"] if cost.neurons else []),
                 *([f"weights = {cost.weights:,} (once)"] if cost.weights else []),
                 *([f"biases = {cost.biases:,} (once)"] if cost.biases else []),
                 *([f"connections = {k}·{cost.connections:,} = {k * cost.connections:,}"]
                   if cost.connections else []),
                 *([f"MACs = {k}·{cost.macs:,} = {k * cost.macs:,}"] if cost.macs else []),
                 *([f"FLOPs = {k}·{cost.elementwise_flops:,} = {k * cost.elementwise_flops:,}"]
                   if cost.elementwise_flops else [])))


_KINDS: dict[tuple[Any, ...], Kind] = {}
_KINDS_MAX = 8192


def window_dim(dim: Any, cls: type[Kind], at: int = 0) -> Any:
    """A PyTorch dim of a tensor whose dim `at` (0 unless a permute moved them) holds the
    batch times k windows, as a dim of the per-example tensor with the windows at dim `at` + 1
    (see Kind.on_windows)."""
    if not is_int(dim) or dim < 0:
        return dim  # from the end: the same dim
    if dim == at:
        raise SpecError(f"cnnsize's {cls.type_name} works along dim {at}, which holds the batch "
                        "times the windows (a window partition): a count per example cannot "
                        "follow that", hint="work along the other dims, or undo the partition "
                                            "first (x.view(B, ...))")
    return int(dim) + 1


def _args_key(cls: type[Kind], args: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A key for these arguments that tells every value apart by its type as well (True from 1,
    1 from 1.0, a list from a tuple), or None where a value is not plain data."""
    try:
        return (cls, *sorted((k, _frozen(v)) for k, v in args.items()))
    except TypeError:  # a key that is not a string, a mapping or another unhashable value
        return None


def _frozen(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return (type(value), *map(_frozen, value))
    hash(value)
    if isinstance(value, float):  # -0.0 == 0.0, but the spec said which
        return (float, value, math.copysign(1.0, value))
    return (type(value), value)


def _compact(value: Any) -> Any:
    """(5, 5) → 5 for display, as one writes it in PyTorch."""
    if isinstance(value, tuple) and value and len(set(value)) == 1:
        return value[0]
    return value


def _with_field(e: SpecError, name: str) -> SpecError:
    e.field = e.field or name
    e.args = (e.render(),)
    return e


def fmt_shape(shape: Shape) -> str:
    return "×".join(str(s) for s in shape) if shape else "scalar"


def product_text(factors: list[int]) -> str:
    return "·".join(fmt(f) for f in factors)


def call_args(cls: type[Kind], positional: Sequence[Any], keywords: Mapping[str, Any],
               extra: Sequence[str] = ()) -> dict[str, Any]:
    """A functional call's arguments by name (`function_args`, then keywords), refusing any
    other: F.conv2d(x, weight, bias, stride, …), whose weight and bias are tensors (`extra`:
    positional arguments that change nothing, such as F.batch_norm's cudnn_enabled)."""
    names = (*cls.function_args, *extra)
    unknown = [repr(v) for v in positional[len(names):]] + [
        f"{k}={v!r}" for k, v in keywords.items() if k not in names and v is not None]
    if unknown:
        raise SpecError(f"cnnsize's {cls.type_name} has no argument like {', '.join(unknown)}")
    raw = dict(zip(names, positional))
    raw.update(keywords)
    return raw


def did_you_mean(word: str, options: list[str], what: str) -> str:
    options = [str(o) for o in options]
    import difflib  # errors only

    close = difflib.get_close_matches(str(word).lower(), options, n=3, cutoff=0.6)
    listing = f"{what}: {', '.join(sorted(options))}"
    return (f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + listing


# ---------------------------------------------------------------- registry

# Every kind of cnnsize, by the module of layers/ that defines it. A module registers its
# kinds when it is imported, and a lookup imports the module of the kind it needs (a VGG's
# spec imports 6 of them); `cnnsize.layers.REGISTRY` imports them all. register() refuses a
# kind of these modules that is not listed here, so that the list cannot fall behind.
FAMILIES: dict[str, tuple[str, ...]] = {
    "conv": ("conv1d", "conv2d", "conv3d", "convtranspose1d", "convtranspose2d",
             "convtranspose3d"),
    "activation": ("relu", "relu6", "leakyrelu", "elu", "gelu", "silu", "mish", "softplus",
                   "sigmoid", "tanh", "hardswish", "hardsigmoid", "softmax", "prelu", "selu",
                   "celu", "softsign", "tanhshrink", "hardtanh", "threshold", "softshrink",
                   "hardshrink", "logsigmoid", "logsoftmax", "softmin", "softmax2d", "glu",
                   "dropout", "dropout2d", "identity"),
    "pool": ("maxpool1d", "maxpool2d", "maxpool3d", "avgpool1d", "avgpool2d", "avgpool3d",
             "adaptiveavgpool1d", "adaptiveavgpool2d", "adaptiveavgpool3d", "adaptivemaxpool1d",
             "adaptivemaxpool2d", "adaptivemaxpool3d"),
    "linear": ("linear", "flatten"),
    "merge": ("add", "sub", "mul", "div", "cat", "stack", "matmul", "sliceadd"),
    "norm": ("batchnorm1d", "batchnorm2d", "batchnorm3d", "instancenorm1d", "instancenorm2d",
             "instancenorm3d", "layernorm", "layernorm2d", "groupnorm", "localresponsenorm",
             "normalize"),
    "shape_ops": ("reshape", "unflatten", "permute", "transpose", "squeeze", "unsqueeze",
                  "expand", "channelshuffle", "contiguous", "roll", "slice", "select", "chunk",
                  "split", "tensorsplit"),
    "stochastic": ("stochasticdepth",),
    "pad": ("zeropad1d", "zeropad2d", "zeropad3d", "constantpad1d", "constantpad2d",
            "constantpad3d", "reflectionpad1d", "reflectionpad2d", "reflectionpad3d",
            "replicationpad1d", "replicationpad2d", "replicationpad3d", "circularpad1d",
            "circularpad2d", "circularpad3d", "pad"),
    "resample": ("upsample", "upsamplingnearest2d", "upsamplingbilinear2d", "pixelshuffle",
                 "pixelunshuffle"),
    "reduce": ("mean", "sum", "amax", "amin"),
    "learned": ("scale", "shift", "token", "contract", "state", "indexselect"),
    "lecun": ("subsampling2d", "rbf"),
    "attention": ("multiheadattention", "scaleddotproductattention", "einsum"),
    "opaque": ("opaque",),
    "quantize": ("quantize", "dequantize"),
}
_FAMILY_OF = {name: family for family, names in FAMILIES.items() for name in names}

REGISTRY: dict[str, type[Kind]] = {}
FUNCTIONS: dict[str, str] = {}  # torch function name → kind (see Kind.functions)
PARAM_FUNCTIONS: dict[str, str] = {}  # the same, with a parameter operand (Kind.param_functions)
MODULE_CLASSES: dict[str, str] = {}   # "module.QualName" of a class outside torch.nn → kind


def register(cls: K) -> K:
    """Class decorator: make a dataclass kind available under its lowercase PyTorch name."""
    name = cls.type_name
    if not name:
        raise TypeError(f"{cls.__name__} has no type_name")
    if name in REGISTRY:
        raise KeyError(f"layer kind {name!r} is already registered by {REGISTRY[name].__name__}")
    package, _, family = cls.__module__.rpartition(".")
    if package == __package__ and _FAMILY_OF.get(name) != family:
        raise KeyError(f"layer kind {name!r} of {cls.__module__} is not listed under "
                       f"{family!r} in cnnsize.layers.base.FAMILIES: add it there")
    for table, keys, what in ((FUNCTIONS, cls.functions, "torch function"),
                              (PARAM_FUNCTIONS, cls.param_functions, "torch function with a "
                               "parameter operand"),
                              (MODULE_CLASSES, cls.module_classes, "module class")):
        for key in keys:
            if key in table:
                raise KeyError(f"{what} {key!r} is already the kind {table[key]!r}")
    REGISTRY[name] = cls
    FUNCTIONS.update((function, name) for function in cls.functions)
    PARAM_FUNCTIONS.update((function, name) for function in cls.param_functions)
    MODULE_CLASSES.update((qualname, name) for qualname in cls.module_classes)
    return cls


def load_families() -> None:
    """Import every family module of FAMILIES (all of cnnsize's kinds registered)."""
    import importlib

    for family in FAMILIES:
        importlib.import_module(f"{__package__}.{family}")


def kind_names() -> list[str]:
    """Every registered kind's name, without importing the families that define them."""
    return [*_FAMILY_OF, *(name for name in REGISTRY if name not in _FAMILY_OF)]


def is_kind(name: str) -> bool:
    """Whether `name` is a registered kind's (kind_names()), without importing families."""
    return name in _FAMILY_OF or name in REGISTRY


def lookup(name: str, extra: list[str] | None = None) -> type[Kind]:
    cls = REGISTRY.get(name)
    if cls is None and name in _FAMILY_OF:
        import importlib

        importlib.import_module(f"{__package__}.{_FAMILY_OF[name]}")
        cls = REGISTRY.get(name)
    if cls is None:
        raise SpecError(f"unknown layer type {name!r}", field="type",
                        hint=did_you_mean(name, kind_names() + (extra or []), "known types"))
    return cls
