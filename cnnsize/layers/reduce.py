"""Reductions over dims: x.mean(dim), x.sum(dim), x.amax(dim), x.amin(dim), with keepdim.

`x.mean([2, 3])` is MNASNet's global pool: the same numbers as adaptiveavgpool2d to 1 and a
flatten. FLOPs (our per-element convention, docs/conventions.md), with n = ∏ of the reduced
sizes and one output per n inputs: sum = n − 1 additions per output, mean = n − 1 additions and
one division = n per output (one per input element, as avgpool counts its window), amax/amin =
n − 1 comparisons per output. No MACs: torch.utils.flop_counter counts 0 for all four, fvcore
reports them as unsupported (0).

Receptive field: each output reads every input along the reduced dims, so the field becomes
the whole input in the spatial dims those axes carry (global when they are all of them);
reducing channels changes nothing. Saved for backward: mean and sum nothing (their gradient
needs only the shape), amax and amin their input and output (the gradient goes to the maxima).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..errors import SpecError
from .base import (
    SAVE_INPUT,
    SAVE_OUTPUT,
    Cost,
    Kind,
    Mixes,
    Moves,
    Saved,
    Shape,
    arg,
    fmt_shape,
    kind_class,
    product_text,
    register,
    to_bool,
)
from .shape_ops import axis, to_dims

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar


@kind_class(frozen=True)
class _Reduce(Kind):
    dim: tuple[int, ...] = arg(convert=to_dims)
    keepdim: bool = arg(False, to_bool)

    family = "reduce"
    function_args = ("dim", "keepdim")
    window_dims = ("dim",)
    what: ClassVar[str] = "sum"
    per_output: ClassVar[int] = -1  # FLOPs per output beyond n − 1 (mean: one division)
    saves: ClassVar[tuple[Saved, ...]] = ()
    examples: ClassVar[tuple[tuple[dict[str, Any], Any], ...]] = (
        ({"dim": [2, 3]}, (4, 5, 5)), ({"dim": 1, "keepdim": True}, (6, 3, 3)),
        ({"dim": -1}, (3, 7)), ({"dim": [1, -1], "keepdim": True}, (2, 3, 4)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        if keywords.get("dtype") is not None:
            raise SpecError(f"{cls.type_name}(dtype=...): cnnsize counts in the network's dtype")
        args = super().from_call(positional, {k: v for k, v in keywords.items() if k != "dtype"},
                                 in_shapes, out_shape)
        if args is not None and args.get("dim") is None:
            raise SpecError(f"{cls.type_name}() over every dim would also reduce the batch: give "
                            "the dims (x.mean([2, 3]) for a global average pool)")
        if args is not None and isinstance(args["dim"], (tuple, list)):
            args["dim"] = list(args["dim"])
        return args

    def args(self) -> dict[str, Any]:
        out = super().args()
        out["dim"] = self.dim[0] if len(self.dim) == 1 else list(self.dim)
        return out

    def torch_module(self, shape: Shape) -> Any:
        import torch

        from ..verify import modules

        return modules.Function(self.type_name, getattr(torch, self.type_name),
                                {"dim": list(self.dim), "keepdim": self.keepdim})

    def analyze_one(self, shape: Shape) -> Cost:
        axes = sorted({axis(d, len(shape), self.type_name) for d in self.dim})
        if len(axes) != len(self.dim):
            raise SpecError(f"dim {list(self.dim)} names a dim twice", field="dim")
        if self.keepdim:
            out = tuple(1 if a in axes else s for a, s in enumerate(shape))
            moves = tuple(() if a in axes else (a,) for a in range(len(shape)))
        else:
            out = tuple(s for a, s in enumerate(shape) if a not in axes)
            moves = tuple((a,) for a in range(len(shape)) if a not in axes)
        n = math.prod(shape[a] for a in axes)
        outputs = math.prod(out)
        per = n + self.per_output
        flops = outputs * per
        rule = "n" if self.per_output == 0 else "(n − 1)"
        return Cost(output_shape=out, elementwise_flops=flops, rf=Mixes(tuple(axes)),
                    moves=Moves(moves), saved=self.saves, explain=(
                        f"output = {fmt_shape(shape)} reduced over dim {list(self.dim)}"
                        f"{' (kept as 1)' if self.keepdim else ''} = {fmt_shape(out)}",
                        f"n = {product_text([shape[a] for a in axes])} = {n:,} inputs per output",
                        f"FLOPs = outputs·{rule} = {outputs:,}·{per:,} = {flops:,} ({self.what})"))


@register
@kind_class(frozen=True)
class Mean(_Reduce):
    type_name, torch_name, what, per_output = "mean", "", "n − 1 additions and a division", 0
    functions, origin = ("mean",), "`torch.mean`, `x.mean(dim)`"


@register
@kind_class(frozen=True)
class Sum(_Reduce):
    type_name, torch_name, what = "sum", "", "additions"
    functions, origin = ("sum",), "`torch.sum`, `x.sum(dim)`"


@register
@kind_class(frozen=True)
class Amax(_Reduce):
    type_name, torch_name, what = "amax", "", "comparisons"
    functions, origin = ("amax",), "`torch.amax`, `x.amax(dim)`"
    saves = (*SAVE_INPUT, *SAVE_OUTPUT)


@register
@kind_class(frozen=True)
class Amin(_Reduce):
    type_name, torch_name, what = "amin", "", "comparisons"
    functions, origin = ("amin",), "`torch.amin`, `x.amin(dim)`"
    saves = (*SAVE_INPUT, *SAVE_OUTPUT)


__all__ = ["Amax", "Amin", "Mean", "Sum"]
