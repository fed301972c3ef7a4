"""Quantization boundaries: `torch.quantize_per_tensor` (nn.quantized.Quantize) and
`x.dequantize()` (nn.quantized.DeQuantize), as a quantized model (torchvision's
`quantization.resnet18(quantize=True)`) runs them at its input and output.

A quantized model's other ops are imported as their float counterparts (docs/conventions.md,
"Quantized models"): quantized::conv2d as conv2d, conv2d_relu as conv2d and relu, linear as
linear, add_relu as add and relu, … : the same shapes, parameters and MACs. Its weights and the
activations between these two rows are 8-bit integers (1 B per element): `--dtype int8` gives
that memory; the float input and the float output of dequantize are then counted at 1 B too.

FLOPs, our convention: 2 per element each way, as BatchNorm's scale and shift (quantize:
x / s + z, then rounding and clamping, not counted; dequantize: (q − z) · s);
torch.utils.flop_counter and fvcore count 0. Quantize holds its scale and zero point as two
buffers (nn.quantized.Quantize's). Neither keeps anything for backward (quantized tensors do
not train).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from .base import Cost, Kind, Shape, arg, kind_class, register, to_choice

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any

QUANTIZED_DTYPES = ("quint8", "qint8", "qint32")


@register
@kind_class(frozen=True)
class Quantize(Kind):
    dtype: str = arg("quint8", to_choice(*QUANTIZED_DTYPES))

    type_name, torch_name, family = "quantize", "", "quantize"
    stops_gradient = True  # quantized tensors have no gradient
    functions, function_args = ("quantize_per_tensor",), ("scale", "zero_point", "dtype")
    state_args = ("scale", "zero_point")  # tensors where a model holds them as buffers (fx)
    origin = "`torch.quantize_per_tensor` (`nn.quantized.Quantize`)"
    examples = (({}, (3, 4, 4)), ({"dtype": "qint8"}, (5,)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """torch.quantize_per_tensor(x, scale, zero_point, dtype): the dtype (torch.quint8)."""
        raw = {**dict(zip(cls.function_args, positional)), **keywords}
        dtype = str(raw.get("dtype", "torch.quint8")).removeprefix("torch.")
        return {"dtype": dtype}

    def torch_module(self, shape: Shape) -> Any:
        import torch
        from torch.ao.nn.quantized import Quantize as TorchQuantize

        return TorchQuantize(1.0, 0, getattr(torch, self.dtype))  # type: ignore[no-untyped-call]

    def analyze_one(self, shape: Shape) -> Cost:
        units = math.prod(shape)
        return Cost(output_shape=shape, buffers=2, elementwise_flops=2 * units,
                    explain=(f"a {self.dtype} copy of the input: q = round(x / s) + z",
                             "buffers = 2 (its scale s and zero point z)",
                             f"FLOPs = 2·units = 2·{units:,} = {2 * units:,} (divide, add)"))


@register
@kind_class(frozen=True)
class Dequantize(Kind):
    type_name, torch_name, family = "dequantize", "", "quantize"
    functions = ("dequantize",)
    origin = "`x.dequantize()` (`nn.quantized.DeQuantize`)"
    examples = (({}, (3, 4, 4)),)

    def torch_module(self, shape: Shape) -> Any:
        from torch.ao.nn.quantized import DeQuantize

        return DeQuantize()

    def analyze_one(self, shape: Shape) -> Cost:
        units = math.prod(shape)
        return Cost(output_shape=shape, elementwise_flops=2 * units,
                    explain=("a float copy of the quantized input: x = (q − z) · s",
                             f"FLOPs = 2·units = 2·{units:,} = {2 * units:,} (subtract, multiply)"))


__all__ = ["QUANTIZED_DTYPES", "Dequantize", "Quantize"]
