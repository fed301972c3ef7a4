"""Stochastic depth (drop path): torchvision's `ops.StochasticDepth(p, mode)`.

Identity at inference: forward returns its input (eval mode), so it costs nothing and stores
nothing then; each row says so in its notes. In training it keeps an example ("row": each one
by its own draw; "batch": all or none) with probability 1 − p and scales it by 1 / (1 − p):
y = x · noise, a new tensor, and autograd saves the noise (one value per example for "row",
one per batch for "batch"). p = 0 is the identity in training too. No FLOPs are counted (the
count is for inference; torch.utils.flop_counter and fvcore count 0).
"""

from __future__ import annotations

from ..errors import SpecError
from .base import Cost, Kind, Saved, Shape, arg, kind_class, register, to_choice, to_float

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any


@register
@kind_class(frozen=True)
class StochasticDepth(Kind):
    p: float = arg(convert=to_float)
    mode: str = arg(convert=to_choice("row", "batch"))

    type_name, torch_name, family = "stochasticdepth", "", "dropout"
    module_classes = ("torchvision.ops.stochastic_depth.StochasticDepth",)
    origin = "`torchvision.ops.StochasticDepth` (drop path)"
    examples = (({"p": 0.2, "mode": "row"}, (4, 3, 3)), ({"p": 0.5, "mode": "batch"}, (6,)),
                ({"p": 0.0, "mode": "row"}, (3, 2, 2)))

    def validate(self) -> None:
        if not 0 <= self.p <= 1:
            raise SpecError(f"p is a probability: 0 to 1, got {self.p}", field="p")

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.StochasticDepth(self.p, self.mode)

    def analyze_one(self, shape: Shape) -> Cost:
        note = ("stochastic depth is the identity at inference (eval mode): no cost, no memory; "
                "in training it multiplies by a per-"
                f"{'example' if self.mode == 'row' else 'batch'} keep mask / (1 − p)")
        if self.p == 0:
            return Cost(output_shape=shape, storage="view", notes=(
                        "stochastic depth with p = 0 is the identity, at inference and in "
                        "training",),
                        explain=("p = 0: the input itself, in training too",))
        return Cost(output_shape=shape, storage="eval_noop", notes=(note,),
                    saved=(Saved("new", elements=1, per_batch=self.mode == "row"),),
                    explain=(f"inference: the input itself; training: y = x · noise, noise one "
                             f"value per {'example' if self.mode == 'row' else 'batch'} (saved)",))


__all__ = ["StochasticDepth"]
