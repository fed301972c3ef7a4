"""Elementwise layers: activations, softmax, dropout, identity.

They keep the shape (GLU halves one dim), have no parameters (PReLU's slopes are weights), no
MACs and no connections. FLOPs per element follow the table in docs/conventions.md (our
convention: torch.utils.flop_counter and fvcore count them as 0; torchinfo counts PReLU's slopes
times the batch as its "Mult-Adds").
Activations that PyTorch can run in place (the ones with an `inplace` argument) may share their
input's memory; dropout (at inference) and identity always do.
"""

from __future__ import annotations

import math

from ..errors import ShapeError, SpecError
from ..record import replace
from .base import (
    SAVE_INPUT,
    SAVE_OUTPUT,
    Cost,
    Kind,
    Mixes,
    RFEffect,
    Saved,
    Shape,
    Storage,
    Window,
    arg,
    fmt_shape,
    kind_class,
    register,
    to_bool,
    to_choice,
    to_float,
    to_int,
    to_optional,
)
from .merge import _dim

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar, Literal

# What autograd saves for each activation (PyTorch's derivatives.yaml; tests/test_saved.py checks
# every kind against torch.autograd.graph.saved_tensors_hooks): its input or its output; run in
# place, the output (the same storage) or, where the backward needs the input that the op
# overwrites, a copy of it.
if TYPE_CHECKING:
    SaveRule = Literal["input", "output", "none"]
else:  # (typing is not imported at run time)
    SaveRule = str


@kind_class(frozen=True)
class _Elementwise(Kind):
    family = "activation"
    window_dims: ClassVar[tuple[str, ...] | None] = ()  # one element at a time
    examples: ClassVar[tuple[tuple[dict[str, Any], Any], ...]] = (({}, (3, 5, 5)),)
    flops_per_element: ClassVar[int] = 0
    saves: ClassVar[SaveRule] = "input"
    saves_copy_in_place: ClassVar[bool] = False  # run in place, it saves a copy of its input
    # Intermediates of the input's size that its composite forward saves as well (softsign's
    # 1 + |x|, tanhshrink's tanh(x), log_sigmoid's buffer on CPU).
    saves_intermediates: ClassVar[int] = 0

    def storage(self) -> Storage:
        return "activation" if "inplace" in self.arg_names() else "new"

    def saved(self, shape: Shape) -> tuple[tuple[Saved, ...], tuple[Saved, ...] | None]:
        """What autograd saves, out of place and (if the kind can) in place."""
        units = 1
        for s in shape:
            units *= s
        out = {"input": SAVE_INPUT, "output": SAVE_OUTPUT, "none": ()}[self.saves] + (
            Saved("new", elements=units),) * self.saves_intermediates
        if "inplace" not in self.arg_names():
            return out, None
        return out, ((Saved("new", elements=units),) if self.saves_copy_in_place else SAVE_OUTPUT)

    def analyze_one(self, shape: Shape) -> Cost:
        units = 1
        for s in shape:
            units *= s
        flops = units * self.flops_per_element
        explain = (f"FLOPs = units·{self.flops_per_element} = {units:,}·{self.flops_per_element}"
                   f" = {flops:,}",) if flops else ()
        saved, saved_inplace = self.saved(shape)
        return Cost(output_shape=shape, elementwise_flops=flops, storage=self.storage(),
                    inplace=bool(getattr(self, "inplace", False)), saved=saved,
                    saved_inplace=saved_inplace, explain=explain)


def _inplace() -> bool:
    return arg(False, to_bool)  # type: ignore[no-any-return]


@register
@kind_class(frozen=True)
class ReLU(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element, saves = "relu", "ReLU", 1, "output"
    functions, function_args = ("relu",), ("inplace",)


@register
@kind_class(frozen=True)
class ReLU6(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element, saves_copy_in_place = "relu6", "ReLU6", 2, True
    functions, function_args = ("relu6",), ("inplace",)


@register
@kind_class(frozen=True)
class LeakyReLU(_Elementwise):
    negative_slope: float = arg(0.01, to_float)
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "leakyrelu", "LeakyReLU", 2
    functions, function_args = ("leaky_relu",), ("negative_slope", "inplace")


@register
@kind_class(frozen=True)
class ELU(_Elementwise):
    alpha: float = arg(1.0, to_float)
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "elu", "ELU", 4
    functions, function_args = ("elu",), ("alpha", "inplace")


@register
@kind_class(frozen=True)
class GELU(_Elementwise):
    approximate: str = arg("none", to_choice("none", "tanh"))
    type_name, torch_name, flops_per_element = "gelu", "GELU", 8
    functions = ("gelu",)


@register
@kind_class(frozen=True)
class SiLU(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element, saves_copy_in_place = "silu", "SiLU", 4, True
    functions, function_args = ("silu",), ("inplace",)


@register
@kind_class(frozen=True)
class Mish(_Elementwise):
    """x · tanh(softplus(x)): softplus 4, tanh 6, and a multiply."""

    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element, saves_copy_in_place = "mish", "Mish", 11, True
    functions, function_args = ("mish",), ("inplace",)


@register
@kind_class(frozen=True)
class Softplus(_Elementwise):
    """log(1 + exp(β·x)) / β (the input itself where β·x > threshold)."""

    beta: float = arg(1.0, to_float)
    threshold: float = arg(20.0, to_float)
    type_name, torch_name, flops_per_element = "softplus", "Softplus", 4
    functions, function_args = ("softplus",), ("beta", "threshold")
    examples = (({}, (3, 5, 5)), ({"beta": 2, "threshold": 10}, (4, 6)))


@register
@kind_class(frozen=True)
class Sigmoid(_Elementwise):
    type_name, torch_name, flops_per_element, saves = "sigmoid", "Sigmoid", 4, "output"
    functions = ("sigmoid",)


@register
@kind_class(frozen=True)
class Tanh(_Elementwise):
    type_name, torch_name, flops_per_element, saves = "tanh", "Tanh", 6, "output"
    functions = ("tanh",)


@register
@kind_class(frozen=True)
class Hardswish(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element, saves_copy_in_place = "hardswish", "Hardswish", 4, True
    functions, function_args = ("hardswish",), ("inplace",)


@register
@kind_class(frozen=True)
class Hardsigmoid(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element, saves_copy_in_place = ("hardsigmoid", "Hardsigmoid", 3,
                                                                     True)
    functions, function_args = ("hardsigmoid",), ("inplace",)


def _along(cost: Cost, dim: int | None, shape: Shape, type_name: str) -> Cost:
    """A softmax's field: each output reads its whole row along `dim` (global over a token
    or spatial axis, unchanged over channels)."""
    if dim is None:
        return cost
    return replace(cost, rf=Mixes((_dim(dim, len(shape), type_name),)))


@register
@kind_class(frozen=True)
class Softmax(_Elementwise):
    dim: int | None = arg(None, to_optional(to_int()))
    type_name, torch_name, flops_per_element, saves = "softmax", "Softmax", 3, "output"
    window_dims = ("dim",)
    functions, function_args = ("softmax",), ("dim",)
    examples = (({"dim": 1}, (10,)), ({"dim": -1}, (2, 5, 7)))

    def analyze_one(self, shape: Shape) -> Cost:
        return _along(_Elementwise.analyze_one(self, shape), self.dim, shape, self.type_name)


@register
@kind_class(frozen=True)
class PReLU(_Elementwise):
    """max(0, x) + a·min(0, x) with a learnt slope a, one shared or one per channel: a
    comparison and a multiply. Its slopes are weights (PyTorch's `weight`)."""

    num_parameters: int = arg(1, to_int(1))
    init: float = arg(0.25, to_float)
    type_name, torch_name, flops_per_element = "prelu", "PReLU", 2
    window_dims = None  # its parameters are per channel (dim 1)
    examples = (({}, (3, 5, 5)), ({"num_parameters": 4}, (4, 3, 3)), ({"num_parameters": 6}, (6,)))

    def analyze_one(self, shape: Shape) -> Cost:
        channels = shape[0] if shape else 1
        n = self.num_parameters
        if n not in (1, channels):
            raise ShapeError(f"is {n} but the input to this layer has {channels} channels",
                             field="num_parameters",
                             hint=f"use 1 (one slope for all channels) or {channels} (one per "
                                  "channel), as PyTorch's prelu requires")
        cost = _Elementwise.analyze_one(self, shape)
        what = "one slope for all channels" if n == 1 else "one slope per channel"
        return replace(cost, weights=n, explain=(
            f"weights = num_parameters = {n:,} ({what})", *cost.explain))


@register
@kind_class(frozen=True)
class SELU(_Elementwise):
    """scale · ELU(x, α) with PyTorch's fixed scale and α: ELU's 4 and a multiply."""

    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "selu", "SELU", 5
    functions, function_args = ("selu",), ("inplace",)


@register
@kind_class(frozen=True)
class CELU(_Elementwise):
    """max(0, x) + min(0, α·(exp(x/α) − 1)): ELU's 4 and a divide."""

    alpha: float = arg(1.0, to_float)
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "celu", "CELU", 5
    functions, function_args = ("celu",), ("alpha", "inplace")

    def validate(self) -> None:
        if self.alpha == 0:
            raise SpecError("alpha must not be 0 (CELU divides by it)", field="alpha")


@register
@kind_class(frozen=True)
class Softsign(_Elementwise):
    """x / (1 + |x|): an abs, an add, a divide; autograd keeps the input and 1 + |x|."""

    type_name, torch_name, flops_per_element, saves_intermediates = "softsign", "Softsign", 3, 1
    functions = ("softsign",)


@register
@kind_class(frozen=True)
class Tanhshrink(_Elementwise):
    """x − tanh(x): tanh's 6 and a subtract; autograd keeps tanh(x)."""

    type_name, torch_name, flops_per_element = "tanhshrink", "Tanhshrink", 7
    saves, saves_intermediates = "none", 1
    functions = ("tanhshrink",)


@register
@kind_class(frozen=True)
class Hardtanh(_Elementwise):
    """clamp(x, min_val, max_val): two comparisons."""

    min_val: float = arg(-1.0, to_float)
    max_val: float = arg(1.0, to_float)
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element, saves_copy_in_place = "hardtanh", "Hardtanh", 2, True
    functions, function_args = ("hardtanh",), ("min_val", "max_val", "inplace")
    examples = (({}, (3, 5, 5)), ({"min_val": -2, "max_val": 3}, (4, 6)))

    def validate(self) -> None:
        if not self.max_val > self.min_val:
            raise SpecError(f"max_val ({self.max_val}) must be greater than min_val "
                            f"({self.min_val})", field="max_val")


@register
@kind_class(frozen=True)
class Threshold(_Elementwise):
    """x if x > threshold else value: one comparison."""

    threshold: float = arg(convert=to_float)
    value: float = arg(convert=to_float)
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element, saves_copy_in_place = ("threshold", "Threshold", 1,
                                                                     True)
    functions, function_args = ("threshold",), ("threshold", "value", "inplace")
    examples = (({"threshold": 0.1, "value": 20.0}, (3, 5, 5)),)


@register
@kind_class(frozen=True)
class Softshrink(_Elementwise):
    """x − λ above λ, x + λ below −λ, else 0: two comparisons and an add."""

    lambd: float = arg(0.5, to_float)
    type_name, torch_name, flops_per_element = "softshrink", "Softshrink", 3
    functions, function_args = ("softshrink",), ("lambd",)

    def validate(self) -> None:
        if self.lambd < 0:
            raise SpecError(f"lambd must be >= 0, got {self.lambd}", field="lambd")


@register
@kind_class(frozen=True)
class Hardshrink(_Elementwise):
    """x where |x| > λ, else 0: an abs and a comparison."""

    lambd: float = arg(0.5, to_float)
    type_name, torch_name, flops_per_element = "hardshrink", "Hardshrink", 2
    functions, function_args = ("hardshrink",), ("lambd",)


@register
@kind_class(frozen=True)
class LogSigmoid(_Elementwise):
    """log(1 / (1 + exp(−x))) = −softplus(−x): softplus's 4. On CPU autograd keeps the input
    and a buffer of its size (on CUDA the buffer is empty)."""

    type_name, torch_name, flops_per_element, saves_intermediates = ("logsigmoid", "LogSigmoid",
                                                                     4, 1)
    functions = ("log_sigmoid",)


@register
@kind_class(frozen=True)
class LogSoftmax(_Elementwise):
    """x − log Σ exp(x) along dim: softmax's 3 (an exp, a sum, a subtract)."""

    dim: int | None = arg(None, to_optional(to_int()))
    type_name, torch_name, flops_per_element, saves = "logsoftmax", "LogSoftmax", 3, "output"
    window_dims = ("dim",)
    functions, function_args = ("log_softmax",), ("dim",)
    examples = (({"dim": 1}, (10,)), ({"dim": 1}, (3, 4, 4)))

    def analyze_one(self, shape: Shape) -> Cost:
        return _along(_Elementwise.analyze_one(self, shape), self.dim, shape, self.type_name)


@register
@kind_class(frozen=True)
class Softmin(_Elementwise):
    """softmax(−x) along dim: a negate and softmax's 3."""

    dim: int | None = arg(None, to_optional(to_int()))
    type_name, torch_name, flops_per_element, saves = "softmin", "Softmin", 4, "output"
    window_dims = ("dim",)
    functions, function_args = ("softmin",), ("dim",)
    examples = (({"dim": 1}, (10,)), ({"dim": 2}, (3, 4, 4)))

    def analyze_one(self, shape: Shape) -> Cost:
        return _along(_Elementwise.analyze_one(self, shape), self.dim, shape, self.type_name)


@register
@kind_class(frozen=True)
class Softmax2d(_Elementwise):
    """Softmax over the channels at every position of a C×H×W map: softmax's 3."""

    type_name, torch_name, flops_per_element, saves = "softmax2d", "Softmax2d", 3, "output"
    window_dims = None  # over dim 1 of a C×H×W example

    def analyze_one(self, shape: Shape) -> Cost:
        if len(shape) != 3:
            raise ShapeError(f"softmax2d expects an input of shape C×H×W, got {fmt_shape(shape)}",
                             field="input", hint="use softmax with a dim for other shapes")
        return _Elementwise.analyze_one(self, shape)


@register
@kind_class(frozen=True)
class GLU(_Elementwise):
    """a ⊗ σ(b), where a and b are the two halves of the input along dim: the output has half
    the size there; per output a sigmoid (4) and a multiply. Autograd keeps the input."""

    dim: int = arg(-1, to_int())
    type_name, torch_name, flops_per_element = "glu", "GLU", 5
    window_dims = ("dim",)
    functions, function_args = ("glu",), ("dim",)
    examples = (({"dim": 1}, (4, 5, 5)), ({}, (3, 6)), ({"dim": -1}, (2, 3, 8)))

    def analyze_one(self, shape: Shape) -> Cost:
        axis = _dim(self.dim, len(shape), self.type_name)
        size = shape[axis]
        if size % 2:
            raise ShapeError(f"glu halves dim {self.dim}, of size {size}: it must be even",
                             field="dim", hint="the layer before needs an even size there "
                                               "(2·the output's channels for dim 1)")
        out = (*shape[:axis], size // 2, *shape[axis + 1:])
        units = math.prod(out)
        flops = units * self.flops_per_element
        # Output position w of a spatial dim reads inputs w and w + size/2: a window of
        # size/2 + 1 positions at stride 1 there (the two halves), nothing new elsewhere.
        rf: RFEffect = "same" if axis == 0 else tuple(
            Window(size // 2 + 1 if i == axis - 1 else 1, 1) for i in range(len(shape) - 1))
        return Cost(output_shape=out, elementwise_flops=flops, rf=rf, saved=SAVE_INPUT,
                    explain=(f"dim {self.dim}: {size} → {size} / 2 = {size // 2:,} (a and b)",
                             f"units = {units:,}",
                             f"FLOPs = units·{self.flops_per_element} (a sigmoid and a multiply) "
                             f"= {units:,}·{self.flops_per_element} = {flops:,}"))


@kind_class(frozen=True)
class _DropoutNd(_Elementwise):
    """At inference the input itself; in training y = x · noise, and the noise is saved."""

    family = "dropout"

    def storage(self) -> Storage:
        p: float = getattr(self, "p")  # noqa: B009 (a field of every subclass)
        return "view" if p == 0 else "eval_noop"  # p = 0: the input itself, in training too

    def noise_elements(self, shape: Shape) -> int:
        raise NotImplementedError

    def saved(self, shape: Shape) -> tuple[tuple[Saved, ...], tuple[Saved, ...] | None]:
        p: float = getattr(self, "p")  # noqa: B009 (a field of every subclass)
        if p == 0:
            return (), None  # PyTorch returns the input unchanged
        if p == 1:  # multiplied by a zero scalar tensor, which is saved
            return (Saved("new", elements=1, per_batch=False),), None
        return (Saved("new", elements=self.noise_elements(shape), itemsize="mask"),), None


@register
@kind_class(frozen=True)
class Dropout(_DropoutNd):
    p: float = arg(0.5, to_float)
    inplace: bool = _inplace()
    type_name, torch_name = "dropout", "Dropout"
    functions, function_args = ("dropout",), ("p", "training", "inplace")

    def noise_elements(self, shape: Shape) -> int:
        units = 1
        for s in shape:
            units *= s
        return units


@register
@kind_class(frozen=True)
class Dropout2d(_DropoutNd):
    p: float = arg(0.5, to_float)
    inplace: bool = _inplace()
    type_name, torch_name = "dropout2d", "Dropout2d"
    window_dims = None  # drops whole channels (dim 1)
    functions, function_args = ("dropout2d",), ("p", "training", "inplace")

    def noise_elements(self, shape: Shape) -> int:
        return shape[0]  # one draw per channel (N×C×1×1)


@register
@kind_class(frozen=True)
class Identity(_Elementwise):
    type_name, torch_name, family, saves = "identity", "Identity", "reshape", "none"

    def storage(self) -> Storage:
        return "view"
