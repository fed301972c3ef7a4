"""The layer-kind protocol, the registry, and argument parsing shared by every family.

A kind is a frozen dataclass whose fields are the PyTorch constructor arguments (normalised:
tuples have one entry per spatial dim). It knows its output shape and its costs for one input
shape, the formulas behind them, and the torch.nn module it stands for.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from ..errors import ShapeError, SpecError
from ..shape import Dim, fmt, require_positive, sliding_window

if TYPE_CHECKING:  # pragma: no cover
    import torch

Shape = tuple[int, ...]

# Symbols used for spatial sizes in worked formulas, by number of spatial dims.
SPATIAL_SYMBOLS: dict[int, tuple[str, ...]] = {1: ("L",), 2: ("H", "W"), 3: ("T", "H", "W")}


@dataclass(frozen=True, slots=True)
class Window:
    """How a layer maps receptive fields in one spatial dim: kernel extent and stride."""

    kernel: int
    stride: Fraction


# Receptive-field effect of a layer: per-dim windows, "same" (elementwise) or "global".
RFEffect = tuple[Window, ...] | str


@dataclass(frozen=True, slots=True)
class Cost:
    """What one layer costs for one example, before any counting convention is applied."""

    output_shape: Shape
    weights: int = 0
    biases: int = 0
    buffers: int = 0
    connections: int = 0
    bias_connections: int = 0
    macs: int = 0
    elementwise_flops: int = 0
    bias_adds: int = 0
    new_tensor: bool = True
    may_alias: bool = False  # an activation PyTorch can run in place (see Conventions)
    inplace: bool = False    # ... and the spec asks for it (inplace=true)
    neurons: bool = False
    rf: RFEffect = "same"
    notes: tuple[str, ...] = ()
    explain: tuple[str, ...] = ()
    inexact: tuple[tuple[str, Any], ...] = ()  # (field, shape.Dim) for non-integer sizes

    @property
    def units(self) -> int:
        return math.prod(self.output_shape)


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

Converter = Callable[[Any, "type[Kind]", str], Any]


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


def arg(default: Any = REQUIRED, convert: Converter | None = None) -> Any:
    """Declare a constructor argument: its PyTorch default (or REQUIRED) and its converter."""
    meta = {"convert": convert, "required": default is REQUIRED}
    if default is REQUIRED:
        return field(default=None, metadata=meta)
    return field(default=default, metadata=meta)


# ---------------------------------------------------------------- the kind base class

K = TypeVar("K", bound="type[Kind]")


class Kind:
    """Base of every layer kind. Subclasses are frozen dataclasses registered by type name."""

    type_name: ClassVar[str] = ""
    torch_name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    ndim: ClassVar[int] = 0  # spatial dims the kind expects; 0 = any
    # Small valid configurations (args, input shape) that the tests check against torch.nn.
    examples: ClassVar[tuple[tuple[dict[str, Any], tuple[int, ...]], ...]] = ()
    # Arguments that exist in PyTorch but that this kind does not pass to the torch module.
    spec_only: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def arg_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Kind:
        """Validate user arguments against the PyTorch constructor and normalise them."""
        names = cls.arg_names()
        for key in args:
            if key not in names:
                raise SpecError(
                    f"unknown argument {key!r} for {cls.type_name}",
                    field=str(key),
                    hint=did_you_mean(str(key), names, "valid arguments"),
                )
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
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

    def analyze(self, shape: Shape) -> Cost:
        raise NotImplementedError

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        """Constructor arguments for the matching torch.nn module, given the input shape."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if f.name not in self.spec_only}

    def torch_module(self, shape: Shape) -> torch.nn.Module:
        import torch.nn
        module: torch.nn.Module = getattr(torch.nn, self.torch_name)(**self.torch_kwargs(shape))
        return module

    def args(self) -> dict[str, Any]:
        """The arguments that differ from PyTorch's defaults, for display."""
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            convert = f.metadata.get("convert")
            default = convert(f.default, type(self), f.name) if convert and f.default is not None \
                else f.default
            if f.metadata.get("required") or value != default:
                out[f.name] = _compact(value)
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


def did_you_mean(word: str, options: list[str], what: str) -> str:
    options = [str(o) for o in options]
    close = difflib.get_close_matches(str(word).lower(), options, n=3, cutoff=0.6)
    listing = f"{what}: {', '.join(sorted(options))}"
    return (f"did you mean {' or '.join(repr(c) for c in close)}? " if close else "") + listing


# ---------------------------------------------------------------- registry

REGISTRY: dict[str, type[Kind]] = {}


def register(cls: K) -> K:
    """Class decorator: make a dataclass kind available under its lowercase PyTorch name."""
    name = cls.type_name
    if not name:
        raise TypeError(f"{cls.__name__} has no type_name")
    if name in REGISTRY:
        raise KeyError(f"layer kind {name!r} is already registered by {REGISTRY[name].__name__}")
    REGISTRY[name] = cls
    return cls


def lookup(name: str, extra: list[str] | None = None) -> type[Kind]:
    try:
        return REGISTRY[name]
    except KeyError:
        raise SpecError(f"unknown layer type {name!r}", field="type",
                        hint=did_you_mean(name, list(REGISTRY) + (extra or []), "known types")) from None
