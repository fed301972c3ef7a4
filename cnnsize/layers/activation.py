"""Elementwise layers: activations, softmax, dropout, identity.

They keep the shape, have no parameters, no MACs and no connections. FLOPs per element follow the
table in docs/conventions.md (our convention: torch.utils.flop_counter and fvcore count them as 0).
Activations that PyTorch can run in place (the ones with an `inplace` argument) may share their
input's memory; dropout (at inference) and identity always do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .base import Cost, Kind, Shape, arg, register, to_bool, to_choice, to_float, to_int, to_optional


@dataclass(frozen=True, slots=True)
class _Elementwise(Kind):
    family = "activation"
    examples: ClassVar[tuple[tuple[dict[str, Any], tuple[int, ...]], ...]] = (({}, (3, 5, 5)),)
    flops_per_element: ClassVar[int] = 0
    aliases: ClassVar[bool] = False  # always shares the input's memory (views, inference no-ops)

    def analyze(self, shape: Shape) -> Cost:
        units = 1
        for s in shape:
            units *= s
        flops = units * self.flops_per_element
        explain = (f"FLOPs = units·{self.flops_per_element} = {units:,}·{self.flops_per_element}"
                   f" = {flops:,}",) if flops else ()
        return Cost(output_shape=shape, elementwise_flops=flops,
                    new_tensor=not self.aliases,
                    may_alias="inplace" in self.arg_names(),
                    inplace=bool(getattr(self, "inplace", False)), explain=explain)


def _inplace() -> bool:
    return arg(False, to_bool)  # type: ignore[no-any-return]


@register
@dataclass(frozen=True, slots=True)
class ReLU(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "relu", "ReLU", 1


@register
@dataclass(frozen=True, slots=True)
class ReLU6(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "relu6", "ReLU6", 2


@register
@dataclass(frozen=True, slots=True)
class LeakyReLU(_Elementwise):
    negative_slope: float = arg(0.01, to_float)
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "leakyrelu", "LeakyReLU", 2


@register
@dataclass(frozen=True, slots=True)
class ELU(_Elementwise):
    alpha: float = arg(1.0, to_float)
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "elu", "ELU", 4


@register
@dataclass(frozen=True, slots=True)
class GELU(_Elementwise):
    approximate: str = arg("none", to_choice("none", "tanh"))
    type_name, torch_name, flops_per_element = "gelu", "GELU", 8


@register
@dataclass(frozen=True, slots=True)
class SiLU(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "silu", "SiLU", 4


@register
@dataclass(frozen=True, slots=True)
class Sigmoid(_Elementwise):
    type_name, torch_name, flops_per_element = "sigmoid", "Sigmoid", 4


@register
@dataclass(frozen=True, slots=True)
class Tanh(_Elementwise):
    type_name, torch_name, flops_per_element = "tanh", "Tanh", 6


@register
@dataclass(frozen=True, slots=True)
class Hardswish(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "hardswish", "Hardswish", 4


@register
@dataclass(frozen=True, slots=True)
class Hardsigmoid(_Elementwise):
    inplace: bool = _inplace()
    type_name, torch_name, flops_per_element = "hardsigmoid", "Hardsigmoid", 3


@register
@dataclass(frozen=True, slots=True)
class Softmax(_Elementwise):
    dim: int | None = arg(None, to_optional(to_int()))
    type_name, torch_name, flops_per_element = "softmax", "Softmax", 3
    examples = (({"dim": 1}, (10,)),)


@register
@dataclass(frozen=True, slots=True)
class Dropout(_Elementwise):
    p: float = arg(0.5, to_float)
    inplace: bool = _inplace()
    type_name, torch_name, family, aliases = "dropout", "Dropout", "dropout", True


@register
@dataclass(frozen=True, slots=True)
class Dropout2d(_Elementwise):
    p: float = arg(0.5, to_float)
    inplace: bool = _inplace()
    type_name, torch_name, family, aliases = "dropout2d", "Dropout2d", "dropout", True


@register
@dataclass(frozen=True, slots=True)
class Identity(_Elementwise):
    type_name, torch_name, family, aliases = "identity", "Identity", "reshape", True
