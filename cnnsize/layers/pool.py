"""Pooling: nn.MaxPool*d, nn.AvgPool*d, nn.AdaptiveAvgPool*d, nn.AdaptiveMaxPool*d.

connections = units · window (the lecture tables: each pooled unit reads a window of one channel)
FLOPs (our per-element convention, docs/conventions.md): max = window − 1 comparisons per output,
average = window − 1 additions + 1 division = window per output. No MACs.
Adaptive pools use PyTorch's bins: bin i spans [floor(i·W1/W2), ceil((i+1)·W1/W2)).
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import ShapeError, SpecError
from ..shape import adaptive_bins
from .base import (
    SAVE_INPUT,
    SPATIAL_SYMBOLS,
    Cost,
    Kind,
    PerWindow,
    RFEffect,
    Saved,
    Shape,
    Window,
    arg,
    kind_class,
    product_text,
    register,
    to_bool,
    to_int,
    to_ints,
    to_optional,
    to_optional_ints,
    window_dims,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any


def _saved(is_max: bool, units: int) -> tuple[Saved, ...]:
    """Pools keep their input for backward; max pools also the argmax of every output (int64)."""
    return (*SAVE_INPUT, Saved("new", elements=units, itemsize=8)) if is_max else SAVE_INPUT


@kind_class(frozen=True)
class _PoolNd(PerWindow):
    """Shared by max and average pooling: the sliding-window shape rule with ceil_mode."""

    kernel_size: tuple[int, ...] = arg(convert=to_ints(1))
    stride: tuple[int, ...] | None = arg(None, to_optional(to_ints(1)))
    padding: tuple[int, ...] = arg(0, to_ints(0))
    ceil_mode: bool = arg(False, to_bool)
    # Not a PyTorch argument: the input is k windows of C × … each (layers/base.py, PerWindow).
    windows: bool = arg(False, to_bool)

    family = "pool"
    spec_only = frozenset({"windows"})
    is_max = True
    # PyTorch's avg_pool3d also refuses inputs smaller than the kernel before padding.
    unpadded_input_at_least_kernel = False

    def _dilation(self) -> tuple[int, ...]:
        return (1,) * self.ndim

    def _stride(self) -> tuple[int, ...]:
        stride: tuple[int, ...] | None = self.stride
        return stride if stride is not None else self.kernel_size

    def validate(self) -> None:
        kernel: tuple[int, ...] = self.kernel_size
        padding: tuple[int, ...] = self.padding
        for f, p in zip(kernel, padding):
            # PyTorch: "pad should be smaller than or equal to half of kernel size" (not dilated).
            if p > f // 2:
                raise SpecError(f"padding {p} is more than half of the kernel size {f}",
                                field="padding", hint=f"use padding <= {f // 2}")

    def analyze_one(self, shape: Shape) -> Cost:
        channels, spatial = self.expect_spatial(shape)
        kernel: tuple[int, ...] = self.kernel_size
        padding: tuple[int, ...] = self.padding
        ceil_mode: bool = self.ceil_mode
        if self.unpadded_input_at_least_kernel and any(w < f for w, f in zip(spatial, kernel)):
            raise ShapeError(f"input {'×'.join(map(str, spatial))} is smaller than the kernel "
                             f"{'×'.join(map(str, kernel))}", field="kernel_size",
                             hint=f"PyTorch's {self.torch_name} needs every input size >= "
                                  "kernel_size, before padding")
        dims, inexact = window_dims(self.ndim, spatial, kernel, self._stride(),
                                    tuple((p, p) for p in padding), self._dilation(), ceil_mode)
        out = (channels, *(d.size for d in dims))
        units = math.prod(out)
        window = math.prod(kernel)
        connections = units * window
        per_output = window - 1 if self.is_max else window
        op = "comparisons (window − 1)" if self.is_max else "adds and a divide (window)"
        explain = [d.formula for d in dims] + [
            f"units = {product_text(list(out))} = {units:,}",
            f"connections = units·window = {product_text([units, *kernel])} = {connections:,}",
            f"FLOPs = units·{op} = {units:,}·{per_output} = {units * per_output:,}",
        ]
        return Cost(
            output_shape=out, connections=connections, elementwise_flops=units * per_output,
            neurons=True,
            rf=tuple(Window(d * (f - 1) + 1, s, d)
                     for f, s, d in zip(kernel, self._stride(), self._dilation())),
            saved=_saved(self.is_max, units),
            explain=tuple(explain),
            inexact=inexact,
        )


@kind_class(frozen=True)
class _MaxPoolNd(_PoolNd):
    dilation: tuple[int, ...] = arg(1, to_ints(1))
    return_indices: bool = arg(False, to_bool)

    function_args = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")

    def validate(self) -> None:
        if self.return_indices:
            raise SpecError("return_indices=True returns a tuple; cnnsize follows tensors only",
                            field="return_indices")
        _PoolNd.validate(self)

    def _dilation(self) -> tuple[int, ...]:
        return self.dilation


@kind_class(frozen=True)
class _AvgPoolNd(_PoolNd):
    count_include_pad: bool = arg(True, to_bool)
    divisor_override: int | None = arg(None, to_optional(to_int(1)))

    is_max = False
    function_args = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                     "divisor_override")


@register
@kind_class(frozen=True)
class MaxPool1d(_MaxPoolNd):
    type_name, torch_name, ndim = "maxpool1d", "MaxPool1d", 1
    functions = ("max_pool1d",)
    examples = (({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (2, 10)),)


@register
@kind_class(frozen=True)
class MaxPool2d(_MaxPoolNd):
    type_name, torch_name, ndim = "maxpool2d", "MaxPool2d", 2
    functions = ("max_pool2d",)
    examples = (({"kernel_size": 2}, (6, 28, 28)),
                ({"kernel_size": 3, "stride": 2, "ceil_mode": True}, (64, 112, 112)),
                ({"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2}, (3, 15, 14)),
                ({"kernel_size": 3, "stride": 2, "padding": 1, "windows": True}, (2, 3, 5, 5)))


@register
@kind_class(frozen=True)
class MaxPool3d(_MaxPoolNd):
    type_name, torch_name, ndim = "maxpool3d", "MaxPool3d", 3
    functions = ("max_pool3d",)
    examples = (({"kernel_size": [1, 2, 2]}, (2, 4, 6, 6)),)


@register
@kind_class(frozen=True)
class AvgPool1d(_AvgPoolNd):
    type_name, torch_name, ndim = "avgpool1d", "AvgPool1d", 1
    functions = ("avg_pool1d",)
    examples = (({"kernel_size": 4, "stride": 3, "padding": 1}, (2, 11)),)

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        kw = _AvgPoolNd.torch_kwargs(self, shape)
        del kw["divisor_override"]  # AvgPool1d has no divisor_override in PyTorch
        return kw


@register
@kind_class(frozen=True)
class AvgPool2d(_AvgPoolNd):
    type_name, torch_name, ndim = "avgpool2d", "AvgPool2d", 2
    functions = ("avg_pool2d",)
    examples = (({"kernel_size": 2, "stride": 2}, (3, 7, 8)),
                ({"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (3, 10, 10)))


@register
@kind_class(frozen=True)
class AvgPool3d(_AvgPoolNd):
    type_name, torch_name, ndim = "avgpool3d", "AvgPool3d", 3
    functions = ("avg_pool3d",)
    unpadded_input_at_least_kernel = True
    examples = (({"kernel_size": 2}, (1, 4, 4, 5)),)


@kind_class(frozen=True)
class _AdaptivePoolNd(PerWindow):
    output_size: tuple[int | None, ...] = arg(convert=to_optional_ints)
    windows: bool = arg(False, to_bool)  # k windows of C × … each (PerWindow)

    family = "pool"
    spec_only = frozenset({"windows"})
    is_max = False

    def analyze_one(self, shape: Shape) -> Cost:
        channels, spatial = self.expect_spatial(shape)
        sizes = tuple(w if o is None else o for o, w in zip(self.output_size, spatial))
        out = (channels, *sizes)
        units = math.prod(out)
        bins = [adaptive_bins(w1, w2) for w1, w2 in zip(spatial, sizes)]
        # Sum over output positions of the window volume = product over dims of the bin sums.
        connections = channels * math.prod(b.total for b in bins)
        flops = connections - units if self.is_max else connections
        global_pool = all(s == 1 for s in sizes)
        explain = [
            f"{sym}2 = output_size = {s} (bins of {b.shortest}–{b.longest} inputs)"
            for sym, s, b in zip(SPATIAL_SYMBOLS[self.ndim], sizes, bins)
        ] + [
            f"units = {product_text(list(out))} = {units:,}",
            f"connections = C·∏(sum of bin lengths) = "
            f"{product_text([channels, *(b.total for b in bins)])} = {connections:,}",
            f"FLOPs = {'connections − units' if self.is_max else 'connections'} = {flops:,}",
        ]
        # For receptive fields a non-global adaptive pool acts like its largest bin at stride W1//W2.
        rf: RFEffect = "global" if global_pool else tuple(
            Window(b.longest, w1 // w2 if w1 >= w2 else Fraction(w1, w2))
            for b, w1, w2 in zip(bins, spatial, sizes))
        # PyTorch computes an average pool to 1 as a mean, whose backward needs no tensor (1d,
        # 2d and 3d: adaptive_avg_pool3d's shortcut too, torch 2.13 and 2.14).
        saved = () if global_pool and not self.is_max else _saved(self.is_max, units)
        return Cost(output_shape=out, connections=connections, elementwise_flops=flops,
                    neurons=True, rf=rf, saved=saved, explain=tuple(explain))

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        return {"output_size": self.output_size}


def _adaptive(name: str, torch_name: str, ndim: int, is_max: bool,
              example: tuple[dict[str, Any], Shape]) -> type[Kind]:
    function = f"adaptive_{'max' if is_max else 'avg'}_pool{ndim}d"
    cls: type[Kind] = kind_class(frozen=True)(
        type(torch_name, (_AdaptivePoolNd,), {
            "__module__": __name__, "type_name": name, "torch_name": torch_name, "ndim": ndim,
            "is_max": is_max, "examples": (example,), "__annotations__": {},
            "functions": (function,), "function_args": ("output_size", "return_indices"),
        }))
    return register(cls)


AdaptiveAvgPool1d = _adaptive("adaptiveavgpool1d", "AdaptiveAvgPool1d", 1, False,
                              ({"output_size": 3, "windows": True}, (4, 2, 10)))
AdaptiveAvgPool2d = _adaptive("adaptiveavgpool2d", "AdaptiveAvgPool2d", 2, False,
                              ({"output_size": [7, 7]}, (512, 7, 7)))
AdaptiveAvgPool3d = _adaptive("adaptiveavgpool3d", "AdaptiveAvgPool3d", 3, False,
                              ({"output_size": [1, None, 2]}, (2, 3, 5, 7)))
AdaptiveMaxPool1d = _adaptive("adaptivemaxpool1d", "AdaptiveMaxPool1d", 1, True,
                              ({"output_size": 1}, (4, 101)))
AdaptiveMaxPool2d = _adaptive("adaptivemaxpool2d", "AdaptiveMaxPool2d", 2, True,
                              ({"output_size": [3, 2]}, (2, 10, 7)))
AdaptiveMaxPool3d = _adaptive("adaptivemaxpool3d", "AdaptiveMaxPool3d", 3, True,
                              ({"output_size": 2}, (1, 5, 5, 5)))
