"""Parameters that a forward uses directly, outside any module cnnsize knows: a learned scale
(`self.gamma * x`: ConvNeXt's layer scale), shift (`x + self.pos_embedding`: ViT's position
embedding) and token (`torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)`: ViT's class
token).

A graph op reads tensors and makes one; a parameter is neither, so it is counted as weights
of the op that uses it (its `shape` argument is the parameter's shape, as PyTorch gives it),
trainable or frozen as the parameter is. `cnnsize import` maps `mul`, `add` and `cat` with a
parameter operand to these kinds; a parameter used twice is one module called twice (`shares`),
counted once. Any other direct use of a parameter is refused by name.

Costs: scale and shift are one multiply or add per output element (elementwise FLOPs, as mul
and add), token none (a copy, as cat); no MACs. torch.utils.flop_counter counts 0 for all three
and fvcore reports aten::mul and aten::add as unsupported (0). Saved for backward: scale keeps
its input for the parameter's gradient (when it trains; the parameter itself is not counted:
docs/conventions.md), shift and token nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..errors import ShapeError, SpecError
from .base import (
    Cost,
    Kind,
    Saved,
    Shape,
    Storage,
    arg,
    fmt_shape,
    is_int,
    kind_class,
    register,
    to_bool,
    to_int,
    to_optional,
)
from .merge import broadcast


def to_parameter_shape(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    items = [value] if is_int(value) else value
    if not isinstance(items, (list, tuple)) or not items or \
            not all(is_int(v) and v >= 1 for v in items):
        raise SpecError(f"expected the parameter's shape, a list of integers >= 1, got {value!r}")
    return tuple(int(v) for v in items)


def per_example(shape: Shape, rank: int, what: str) -> Shape:
    """A parameter's shape as it broadcasts against one example of rank `rank`, PyTorch's way:
    right-aligned, missing dims 1; dims beyond the example's meet the batch and must be 1."""
    extra = len(shape) - rank
    if extra > 0:
        if any(s != 1 for s in shape[:extra]):
            raise ShapeError(f"a parameter of shape {fmt_shape(shape)} against examples of rank "
                             f"{rank}: its leading {fmt_shape(shape[:extra])} would meet the batch "
                             "dim", field="shape",
                             hint=f"{what}: the parameter's leading dims beyond the example's "
                                  "rank must be 1 (a size-1 batch dim, as torchvision's (1, T, D))")
        return shape[extra:]
    return (1,) * -extra + shape


@kind_class(frozen=True)
class _Learned(Kind):
    shape: tuple[int, ...] = arg(convert=to_parameter_shape, sizes=True)

    family = "learned"
    operator: ClassVar[str] = "mul"
    window_dims: ClassVar[tuple[str, ...] | None] = ()

    @classmethod
    def from_param_call(cls, parameter: Shape, position: int, positional: Sequence[Any],
                        keywords: Mapping[str, Any], in_shapes: Sequence[Shape],
                        out_shape: Shape) -> dict[str, Any]:
        extra = [repr(v) for v in positional] + [f"{k}={v!r}" for k, v in keywords.items()
                                                 if v is not None]
        if extra:
            raise SpecError(f"cnnsize's {cls.type_name} has no argument like {', '.join(extra)}")
        return {"shape": list(parameter)}

    def elementwise(self, shape: Shape, what: str) -> tuple[Shape, int]:
        mine = per_example(self.shape, len(shape), self.type_name)
        out = broadcast([shape, mine])
        if out != shape:
            raise ShapeError(f"a parameter of shape {fmt_shape(self.shape)} does not broadcast "
                             f"into an input of {fmt_shape(shape)}", field="shape",
                             hint=f"the {what} takes the input's shape: each dim of the "
                                  "parameter is 1 or the input's size (right-aligned)")
        return mine, math.prod(shape)

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Learned(self.type_name, self.shape, self.operator)


@register
@kind_class(frozen=True)
class Scale(_Learned):
    """y = γ ⊙ x, γ a learned tensor that broadcasts into x (a layer scale)."""

    inplace: bool = arg(False, to_bool)  # x.mul_(gamma) (not an argument of torch.mul)

    type_name, torch_name = "scale", ""
    param_functions = ("mul", "multiply")
    spec_only = frozenset({"inplace"})
    origin = "`γ * x`, γ an `nn.Parameter` (ConvNeXt's layer scale, timm's `LayerScale`)"
    examples = (({"shape": [4, 1, 1]}, (4, 3, 3)), ({"shape": [6]}, (2, 2, 6)),
                ({"shape": [4, 1, 1], "inplace": True}, (4, 2, 2)))

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Learned(self.type_name, self.shape, "imul" if self.inplace else "mul")

    def analyze_one(self, shape: Shape) -> Cost:
        mine, units = self.elementwise(shape, "scale")
        storage: Storage = "inplace" if self.inplace else "new"
        weights = math.prod(self.shape)
        return Cost(output_shape=shape, weights=weights, elementwise_flops=units, storage=storage,
                    saved=(Saved("input", for_weights=True),), explain=(
                        f"y = γ ⊙ x, γ of {fmt_shape(self.shape)} broadcast as {fmt_shape(mine)}",
                        f"weights = ∏shape = {weights:,} (a parameter forward uses directly)",
                        f"FLOPs = units = {units:,} (one multiply each)"))


@register
@kind_class(frozen=True)
class Shift(_Learned):
    """y = x + β, β a learned tensor that broadcasts into x (a position embedding); with
    `gathered_from`, β = table[index] of that shape (a relative position bias: Swin, MaxViT)."""

    gathered_from: tuple[int, ...] | None = arg(None, to_optional(to_parameter_shape),
                                                sizes=True)

    type_name, torch_name, operator = "shift", "", "add"
    param_functions = ("add",)
    origin = ("`x + β`, β an `nn.Parameter` (ViT's position embedding), or a table's rows "
              "gathered by an index buffer (a relative position bias)")
    examples = (({"shape": [1, 5, 8]}, (5, 8)), ({"shape": [3, 1, 1]}, (3, 2, 2)),
                ({"shape": [1, 2, 9, 9], "gathered_from": [25, 2]}, (3, 2, 9, 9)))

    def validate(self) -> None:
        rows = self.gathered_from[1:] if self.gathered_from else ()
        if math.prod(self.shape) % math.prod(rows):
            raise SpecError(f"a tensor of {fmt_shape(self.shape)} cannot be rows of a table of "
                            f"{fmt_shape(self.gathered_from or ())}", field="gathered_from",
                            hint="table[index] has the index's size times the table's other dims")

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        if self.gathered_from is None:
            return modules.Learned(self.type_name, self.shape, self.operator)
        return modules.Learned(self.type_name, self.shape, "add_gathered",
                               {"gathered_from": list(self.gathered_from)})

    def analyze_one(self, shape: Shape) -> Cost:
        mine, units = self.elementwise(shape, "shift")
        if self.gathered_from is not None:
            weights = math.prod(self.gathered_from)
            index = math.prod(self.shape) // math.prod(self.gathered_from[1:])
            return Cost(output_shape=shape, weights=weights, buffers=index, long_buffers=index,
                        elementwise_flops=units, explain=(
                            f"y = x + table[index], a {fmt_shape(self.shape)} tensor broadcast "
                            f"as {fmt_shape(mine)}, gathered from a table of "
                            f"{fmt_shape(self.gathered_from)} (once per forward, not per example)",
                            f"weights = ∏gathered_from = {weights:,} (the table)",
                            f"buffers = ∏shape / ∏gathered_from[1:] = {index:,} (the int64 index)",
                            f"FLOPs = units = {units:,} (one add each)"))
        weights = math.prod(self.shape)
        return Cost(output_shape=shape, weights=weights, elementwise_flops=units, explain=(
            f"y = x + β, β of {fmt_shape(self.shape)} broadcast as {fmt_shape(mine)}",
            f"weights = ∏shape = {weights:,} (a parameter forward uses directly)",
            f"FLOPs = units = {units:,} (one add each)"))


@register
@kind_class(frozen=True)
class Token(_Learned):
    """torch.cat([t.expand(N, ...), x], dim): a learned tensor t, the same for every example,
    joined to x along `dim` (a class token); `first: false` puts it after x."""

    dim: int = arg(1, to_int())
    first: bool = arg(True, to_bool)

    type_name, torch_name, operator = "token", "", "cat"
    window_dims = ("dim",)
    param_functions = ("cat", "concat", "concatenate")
    spec_only = frozenset({"first"})
    origin = "`torch.cat([t.expand(n, -1, -1), x], dim)`, t an `nn.Parameter` (ViT's class token)"
    examples = (({"shape": [1, 1, 8]}, (5, 8)), ({"shape": [1, 2, 3, 3], "first": False}, (4, 3, 3)))

    @classmethod
    def from_param_call(cls, parameter: Shape, position: int, positional: Sequence[Any],
                        keywords: Mapping[str, Any], in_shapes: Sequence[Shape],
                        out_shape: Shape) -> dict[str, Any]:
        if len(in_shapes) != 2:
            raise SpecError(f"cat of {len(in_shapes)} tensors with a parameter: cnnsize's token "
                            "joins one parameter to one tensor")
        dim = positional[0] if positional else keywords.get("dim", 0)
        return {"shape": list(parameter), "dim": dim, "first": position == 0}

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Learned(self.type_name, self.shape, "cat",
                               {"dim": self.dim, "first": self.first})

    def analyze_one(self, shape: Shape) -> Cost:
        from .shape_ops import axis

        mine = per_example(self.shape, len(shape), self.type_name)
        a = axis(self.dim, len(shape), self.type_name)
        if mine[:a] + mine[a + 1:] != shape[:a] + shape[a + 1:]:
            raise ShapeError(f"a token of {fmt_shape(mine)} per example cannot join "
                             f"{fmt_shape(shape)} along dim {self.dim}: every other dim must agree",
                             field="shape")
        out = (*shape[:a], shape[a] + mine[a], *shape[a + 1:])
        weights = math.prod(self.shape)
        return Cost(output_shape=out, weights=weights, explain=(
            f"output = token {fmt_shape(mine)} and x {fmt_shape(shape)} joined along dim "
            f"{self.dim} = {fmt_shape(out)} (a copy, no arithmetic)",
            f"weights = ∏shape = {weights:,} (a parameter forward uses directly)"))


__all__ = ["Scale", "Shift", "Token", "per_example"]
