"""An op cnnsize has no formulas for, kept on request (`cnnsize import --opaque`,
`from_module(..., opaque=True)`): a row whose output shape is the one the traced forward gave.

What is known is counted: the output shape, and the parameters and buffers the op reads
directly (their sizes, as PyTorch holds them). What is not known is never shown as a number:
its MACs, FLOPs, connections and memory (the output it stores, what training saves) are
"not counted" in every table (`Cost.counted`), and the totals say how many rows they leave
out. Its receptive field is taken as the whole input (an upper bound: cnnsize cannot follow
what it reads). For the analysis of the inference peak its output is a new tensor of its shape.
Built, it is a stand-in that returns zeros of that shape (the graph runs, nothing is computed).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import SpecError
from .base import Cost, Kind, Shape, arg, fmt_shape, is_int, kind_class, register, to_int

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any


def to_shape(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    """The output shape of one example: a list of integers >= 0 (empty for a scalar)."""
    if not isinstance(value, (list, tuple)) or not all(is_int(v) and v >= 0 for v in value):
        raise SpecError(f"expected the output shape of one example, a list of integers, got "
                        f"{value!r}")
    return tuple(int(v) for v in value)


def to_label(value: Any, cls: type[Kind], name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise SpecError(f"expected the name of the op (a short string), got {value!r}")
    return value


@register
@kind_class(frozen=True)
class Opaque(Kind):
    """An op without formulas: its output shape as traced, its costs not counted."""

    op: str = arg(convert=to_label)
    shape: tuple[int, ...] = arg(convert=to_shape, sizes=True)
    params: int = arg(0, to_int(0))
    buffers: int = arg(0, to_int(0))

    type_name, torch_name, family = "opaque", "", "opaque"
    min_inputs, max_inputs = 1, None
    origin = ("any op cnnsize has no formulas for, kept by `cnnsize import --opaque` (its costs "
              "are not counted)")
    examples = (({"op": "grid_sample", "shape": [4, 5, 5]}, ((4, 6, 6), (5, 5, 2))),
                ({"op": "my_op", "shape": [3], "params": 6, "buffers": 2}, ((2, 3),)))

    def torch_module(self, shape: Shape) -> Any:
        from ..verify.modules import OpaqueStandIn

        return OpaqueStandIn(self.shape, self.params, self.buffers)

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        known = [f"output {fmt_shape(self.shape)} (as the traced forward gave it)"]
        if self.params or self.buffers:
            known.append(f"params = {self.params:,}; buffers = {self.buffers:,} (the tensors "
                         "it reads directly)")
        return Cost(output_shape=self.shape, weights=self.params, buffers=self.buffers,
                    rf="global", counted=False,
                    notes=(f"{self.op}: cnnsize has no formulas for this op; its MACs, FLOPs, "
                           "connections and memory are not counted",),
                    explain=(f"{self.op}: not counted (cnnsize has no formulas for it); "
                             + "; ".join(known),
                             "receptive field: taken as the whole input (not followed)"))


__all__ = ["Opaque"]
