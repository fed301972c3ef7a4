"""Padding: nn.ZeroPad*d, nn.ConstantPad*d, nn.ReflectionPad*d, nn.ReplicationPad*d,
nn.CircularPad*d (1d, 2d, 3d), and F.pad.

`padding` is PyTorch's: one integer for every side, or (left, right) for the last dim, then
(top, bottom) for the one before, then (front, back): W2 = W1 + P_left + P_right per padded dim
(a negative padding crops). The output is a new tensor, a copy of the input with the border
filled in: no MACs, no FLOPs, no connections (docs/conventions.md), and the receptive field and
jump are the input's. PyTorch's rules (`aten/src/ATen/native/PadNd.cpp`, `ReflectionPad.cpp`,
`torch/nn/functional.py`), checked in tests/test_resample_pad_kinds.py: W2 >= 1; reflection
needs each padding < W1; a constant pad crops at most W1 per side; circular padding at most W1
(one wrap) and, here, not negative (PyTorch's _pad_circular fails inside torch for some crops);
the non-constant modes take one or two dims more than they pad (C×H×W or H×W for 2d).
Autograd saves the input for reflection and replication (their backward reads it) and nothing
for constant and circular padding.
"""

from __future__ import annotations

import math

from ..errors import ShapeError, SpecError
from .base import (
    SAVE_INPUT,
    SPATIAL_SYMBOLS,
    Cost,
    Kind,
    Shape,
    _bounded,
    arg,
    fmt_shape,
    is_int,
    kind_class,
    product_text,
    register,
    to_choice,
    to_float,
    to_optional,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar, Literal

if TYPE_CHECKING:
    PadMode = Literal["constant", "reflect", "replicate", "circular"]
else:  # (typing is not imported at run time)
    PadMode = str
PAD_MODES: tuple[PadMode, ...] = ("constant", "reflect", "replicate", "circular")
_WHAT = {"constant": "a constant", "reflect": "the input's reflection (edge not repeated)",
         "replicate": "copies of the edge value", "circular": "the other side's values (wrapped)"}


def _to_padding(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    """An int for every side, or 2·ndim ints in PyTorch's order (left, right, top, bottom, …)."""
    n = 2 * cls.ndim
    if is_int(value):
        items = [value] * n
    elif isinstance(value, (list, tuple)) and len(value) == n and all(is_int(v) for v in value):
        items = list(value)
    else:
        raise SpecError(f"expected an integer or a list of {n} integers "
                        f"({_order(cls.ndim)}), got {value!r}")
    return tuple(_bounded(int(v)) for v in items)


def _to_pad(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    """F.pad's `pad`: an even number of ints, (left, right) of the last dim first."""
    if not (isinstance(value, (list, tuple)) and value and len(value) % 2 == 0
            and all(is_int(v) for v in value)):
        raise SpecError(f"expected a list of 2, 4, … integers ((left, right) of the last dim, "
                        f"then of the one before, …), got {value!r}")
    return tuple(_bounded(int(v)) for v in value)


_SIDES = (("left", "right"), ("top", "bottom"), ("front", "back"))


def _order(ndim: int) -> str:
    return ", ".join(f"{a}, {b}" for a, b in _SIDES[:ndim])


def pad_cost(shape: Shape, pads: tuple[int, ...], mode: PadMode, field: str = "padding") -> Cost:
    """Output shape and costs of padding the last len(pads)/2 dims of one example."""
    n = len(pads) // 2
    rank = len(shape)
    if mode == "constant" and rank < n:
        raise ShapeError(f"pads {n} dims but the input {fmt_shape(shape)} has {rank} per "
                         "example: it would pad the batch dim", field=field,
                         hint="give padding for the spatial dims only")
    if mode != "constant" and (n > 3 or rank not in (n, n + 1)):
        raise ShapeError(
            f"{mode} padding of {n} dim{'s' if n > 1 else ''} takes an input of "
            + (f"{n} or {n + 1} dims per example" if n <= 3 else "at most 3 padded dims")
            + f", got {fmt_shape(shape)}", field=field,
            hint="PyTorch pads the last 1, 2 or 3 dims of a (N, C, …) tensor in this mode")
    syms = SPATIAL_SYMBOLS.get(n, tuple(f"d{i}" for i in range(n)))
    out = list(shape)
    explain = []
    for i in reversed(range(n)):  # the padded dims in order, (front, back) first
        left, right = pads[2 * i], pads[2 * i + 1]
        axis = rank - 1 - i
        sym = syms[n - 1 - i]
        w1 = shape[axis]
        w2 = w1 + left + right
        before, after = _SIDES[i] if i < len(_SIDES) else (f"start{i}", f"end{i}")  # (F.pad)
        formula = (f"{sym}2 = {sym}1 + P_{before} + P_{after} = {w1} + {left} + {right} = "
                   f"{w2:,}")
        side = f"{before}, {after}"
        if mode == "reflect" and max(left, right) >= w1:
            raise ShapeError(f"reflection padding must be less than the input size: {sym}1 = "
                             f"{w1}, padding ({side}) = ({left}, {right})", field=field,
                             formula=formula,
                             hint=f"use padding <= {w1 - 1} here, or replicate or zero padding")
        if mode == "circular" and max(left, right) > w1:
            raise ShapeError(f"circular padding may wrap around once at most: {sym}1 = {w1}, "
                             f"padding ({side}) = ({left}, {right})", field=field,
                             formula=formula, hint=f"use padding <= {w1} here")
        if mode == "circular" and min(left, right) < 0:
            # PyTorch's _pad_circular copies between overlapping slices for some crops and
            # fails inside torch; cnnsize takes the sizes it always pads
            raise ShapeError(f"circular padding cannot crop here: padding ({side}) = "
                             f"({left}, {right})", field=field, formula=formula,
                             hint="PyTorch's circular padding fails for some negative paddings; "
                                  f"use 0 to {w1}, and crop with a zero pad before it")
        if w2 < 1:
            raise ShapeError(f"output {sym} would be {w2}", field=field, formula=formula,
                             hint="a negative padding crops; it must leave at least one value")
        if mode == "constant" and min(left, right) < -w1:
            raise ShapeError(f"crops {-min(left, right)} on one side of {sym}1 = {w1}",
                             field=field, formula=formula,
                             hint=f"a negative padding crops at most {w1} (PyTorch)")
        out[axis] = w2
        explain.append(formula)
    output = tuple(out)
    units = math.prod(output)
    explain += [f"units = {product_text(list(output))} = {units:,}",
                f"a copy of the input with a border of {_WHAT[mode]}: no MACs or FLOPs; "
                f"a new tensor of {units:,} values"]
    saved = SAVE_INPUT if mode in ("reflect", "replicate") else ()
    return Cost(output_shape=output, saved=saved, explain=tuple(explain))


@kind_class(frozen=True)
class _PadNd(Kind):
    padding: tuple[int, ...] = arg(convert=_to_padding)

    family = "pad"
    pad_mode: ClassVar[PadMode] = "constant"

    def analyze_one(self, shape: Shape) -> Cost:
        return pad_cost(shape, self.padding, self.pad_mode)


@kind_class(frozen=True)
class _ConstantPadNd(_PadNd):
    value: float = arg(convert=to_float)


_EXAMPLES: dict[int, tuple[tuple[dict[str, Any], Shape], ...]] = {
    1: (({"padding": 2}, (3, 5)), ({"padding": [1, 3]}, (2, 6))),
    2: (({"padding": 1}, (3, 5, 6)), ({"padding": [1, 2, 0, 3]}, (2, 4, 5))),
    3: (({"padding": 1}, (2, 3, 4, 4)), ({"padding": [0, 1, 2, 1, 1, 0]}, (1, 3, 4, 5))),
}


def _padding_kind(prefix: str, torch_prefix: str, mode: PadMode, ndim: int,
                  base: type[_PadNd] = _PadNd) -> type[Kind]:
    examples = _EXAMPLES[ndim]
    if base is _ConstantPadNd:
        examples = tuple(({**args, "value": 0.5}, shape) for args, shape in examples)
    cls: type[Kind] = kind_class(frozen=True)(
        type(f"{torch_prefix}{ndim}d", (base,), {
            "__module__": __name__, "type_name": f"{prefix}{ndim}d",
            "torch_name": f"{torch_prefix}{ndim}d", "ndim": ndim, "pad_mode": mode,
            "examples": examples, "__annotations__": {},
        }))
    return register(cls)


ZeroPad1d, ZeroPad2d, ZeroPad3d = (_padding_kind("zeropad", "ZeroPad", "constant", n)
                                   for n in (1, 2, 3))
ConstantPad1d, ConstantPad2d, ConstantPad3d = (
    _padding_kind("constantpad", "ConstantPad", "constant", n, _ConstantPadNd) for n in (1, 2, 3))
ReflectionPad1d, ReflectionPad2d, ReflectionPad3d = (
    _padding_kind("reflectionpad", "ReflectionPad", "reflect", n) for n in (1, 2, 3))
ReplicationPad1d, ReplicationPad2d, ReplicationPad3d = (
    _padding_kind("replicationpad", "ReplicationPad", "replicate", n) for n in (1, 2, 3))
CircularPad1d, CircularPad2d, CircularPad3d = (
    _padding_kind("circularpad", "CircularPad", "circular", n) for n in (1, 2, 3))


@register
@kind_class(frozen=True)
class Pad(Kind):
    """F.pad(input, pad, mode, value): any of the four modes, over the last len(pad)/2 dims."""

    pad: tuple[int, ...] = arg(convert=_to_pad, sizes=True)  # F.pad's list: [1, 1, 1, 1] is not 1
    mode: PadMode = arg("constant", to_choice(*PAD_MODES))
    value: float | None = arg(None, to_optional(to_float))

    type_name, torch_name, family, origin = "pad", "", "pad", "`F.pad`"
    functions, function_args = ("pad",), ("pad", "mode", "value")
    examples = (({"pad": [1, 2]}, (3, 4, 5)), ({"pad": [1, 1, 2, 0], "mode": "reflect"}, (2, 4, 5)),
                ({"pad": [1, 0, 0, 2, 1, 1], "mode": "replicate"}, (2, 3, 4, 5)),
                ({"pad": [2, 1], "mode": "circular", "value": None}, (3, 4)),
                ({"pad": [0, 0, -1, 2], "value": 1.5}, (2, 4, 5)))

    def validate(self) -> None:
        if self.value is not None and self.mode != "constant":
            raise SpecError(f"mode {self.mode!r} takes no value", field="value",
                            hint="only constant padding fills with a value")

    def analyze_one(self, shape: Shape) -> Cost:
        return pad_cost(shape, self.pad, self.mode, "pad")

    def torch_module(self, shape: Shape) -> Any:
        import torch.nn.functional as F

        from ..verify import modules

        return modules.Function("pad", F.pad, {"pad": list(self.pad), "mode": self.mode,
                                               "value": self.value})
