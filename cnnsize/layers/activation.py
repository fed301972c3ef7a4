"""Elementwise layers: activations, softmax, dropout, identity.

They keep the shape, have no parameters, no MACs and no connections. FLOPs per element follow the
table in docs/conventions.md (our convention: torch.utils.flop_counter and fvcore count them as 0).
Activations that PyTorch can run in place (the ones with an `inplace` argument) may share their
input's memory; dropout (at inference) and identity always do.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from .base import (
    SAVE_INPUT,
    SAVE_OUTPUT,
    Cost,
    Kind,
    Saved,
    Shape,
    Storage,
    arg,
    kind_class,
    register,
    to_bool,
    to_choice,
    to_float,
    to_int,
    to_optional,
)

# What autograd saves for each activation (PyTorch's derivatives.yaml; tests/test_saved.py checks
# every kind against torch.autograd.graph.saved_tensors_hooks): its input or its output; run in
# place, the output (the same storage) or, where the backward needs the input that the op
# overwrites, a copy of it.
SaveRule = Literal["input", "output", "none"]


@kind_class(frozen=True)
class _Elementwise(Kind):
    family = "activation"
    examples: ClassVar[tuple[tuple[dict[str, Any], Any], ...]] = (({}, (3, 5, 5)),)
    flops_per_element: ClassVar[int] = 0
    saves: ClassVar[SaveRule] = "input"
    saves_copy_in_place: ClassVar[bool] = False  # run in place, it saves a copy of its input

    def storage(self) -> Storage:
        return "activation" if "inplace" in self.arg_names() else "new"

    def saved(self, shape: Shape) -> tuple[tuple[Saved, ...], tuple[Saved, ...] | None]:
        """What autograd saves, out of place and (if the kind can) in place."""
        out = {"input": SAVE_INPUT, "output": SAVE_OUTPUT, "none": ()}[self.saves]
        if "inplace" not in self.arg_names():
            return out, None
        units = 1
        for s in shape:
            units *= s
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


@register
@kind_class(frozen=True)
class Softmax(_Elementwise):
    dim: int | None = arg(None, to_optional(to_int()))
    type_name, torch_name, flops_per_element, saves = "softmax", "Softmax", 3, "output"
    functions, function_args = ("softmax",), ("dim",)
    examples = (({"dim": 1}, (10,)),)


@kind_class(frozen=True)
class _DropoutNd(_Elementwise):
    """At inference the input itself; in training y = x · noise, and the noise is saved."""

    family = "dropout"

    def storage(self) -> Storage:
        return "eval_noop"

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
    functions, function_args = ("dropout2d",), ("p", "training", "inplace")

    def noise_elements(self, shape: Shape) -> int:
        return shape[0]  # one draw per channel (N×C×1×1)


@register
@kind_class(frozen=True)
class Identity(_Elementwise):
    type_name, torch_name, family, saves = "identity", "Identity", "reshape", "none"

    def storage(self) -> Storage:
        return "view"
