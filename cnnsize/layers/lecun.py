"""Layers of LeCun et al. 1998, "Gradient-based learning applied to document recognition".

Trainable subsampling (S2, S4): each unit adds a window of one map, multiplies the sum by a
trainable coefficient and adds a trainable bias: weights = C, biases = C,
connections = units · window (+ units for the bias inputs).
Euclidean RBF output: y_j = Σ_i (x_i − c_ij)² with fixed centres c (buffers, not trainable):
connections = MACs = N_in · N_out.
"""

from __future__ import annotations

import math

from .base import (
    Cost,
    Kind,
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
    window_dims,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any


@register
@kind_class(frozen=True)
class Subsampling2d(Kind):
    kernel_size: tuple[int, ...] = arg(convert=to_ints(1))
    stride: tuple[int, ...] | None = arg(None, to_optional(to_ints(1)))
    bias: bool = arg(True, to_bool)

    type_name, torch_name, family, ndim = "subsampling2d", "", "pool", 2
    origin = "none (LeCun et al. 1998)"
    examples = (({"kernel_size": 2}, (6, 28, 28)),)

    def torch_module(self, shape: Shape) -> Any:
        from ..verify.modules import Subsampling

        return Subsampling(self.ndim, shape[0], self.kernel_size,
                           self.stride or self.kernel_size, self.bias)

    def analyze_one(self, shape: Shape) -> Cost:
        channels, spatial = self.expect_spatial(shape)
        stride = self.stride or self.kernel_size
        dims, inexact = window_dims(self.ndim, spatial, self.kernel_size, stride,
                                    ((0, 0),) * self.ndim)
        out = (channels, *(d.size for d in dims))
        units = math.prod(out)
        window = math.prod(self.kernel_size)
        biases = channels if self.bias else 0
        return Cost(
            output_shape=out, weights=channels, biases=biases, connections=units * window,
            bias_connections=units if self.bias else 0,
            elementwise_flops=units * window,  # window − 1 adds and one multiply
            bias_adds=units if self.bias else 0, neurons=True,
            rf=tuple(Window(f, s) for f, s in zip(self.kernel_size, stride)),
            # verify.modules.Subsampling: the pool's input (when it needs a gradient), and the
            # pooled sum for the coefficient's gradient
            saved=(Saved("input", when_grad=0), Saved("new", elements=units, for_weights=True)),
            explain=(*(d.formula for d in dims),
                     f"units = {product_text(list(out))} = {units:,}",
                     f"weights = C = {channels} (one coefficient per map)",
                     f"biases = C = {biases}" if self.bias else "biases = 0 (bias=False)",
                     f"connections = units·window = {product_text([units, *self.kernel_size])} = "
                     f"{units * window:,}",
                     f"FLOPs = units·window (window − 1 adds and a multiply) = "
                     f"{units:,}·{window} = {units * window:,}"),
            inexact=inexact,
        )


@register
@kind_class(frozen=True)
class RBF(Kind):
    out_features: int = arg(convert=to_int(1))
    in_features: int | None = arg(None, to_optional(to_int(1)))

    type_name, torch_name, family = "rbf", "", "linear"
    origin = "none (LeCun et al. 1998)"
    examples = (({"out_features": 10}, (84,)),)

    def torch_module(self, shape: Shape) -> Any:
        from ..verify.modules import RBF as TorchRBF

        return TorchRBF(shape[-1], self.out_features)

    def analyze_one(self, shape: Shape) -> Cost:
        n_in = shape[-1]
        self.check_given("in_features", self.in_features, n_in)
        out = (*shape[:-1], self.out_features)
        macs = math.prod(shape[:-1]) * n_in * self.out_features
        return Cost(output_shape=out, buffers=n_in * self.out_features, connections=macs,
                    macs=macs, elementwise_flops=macs,  # the subtraction before each square
                    neurons=True, rf="global",
                    # verify.modules.RBF squares x − c: the difference, N_out·N_in per example
                    saved=(Saved("new", elements=macs),),
                    explain=(f"units = {product_text(list(out))} = {math.prod(out):,}",
                             f"centres (fixed, buffers) = N_in·N_out = {n_in}·{self.out_features} = "
                             f"{n_in * self.out_features:,}",
                             f"connections = MACs = N_in·N_out = {macs:,}",
                             f"FLOPs = MACs (a subtraction before each square) = {macs:,}"))
