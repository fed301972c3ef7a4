"""Normalisation: nn.BatchNorm1d/2d/3d and nn.LocalResponseNorm.

BatchNorm: weights = C (γ) and biases = C (β) when affine; buffers = 2C + 1 (running mean and
variance, num_batches_tracked) when track_running_stats. At inference it folds to one multiply and
one add per element: FLOPs = 2 · units.
LocalResponseNorm (Krizhevsky et al. 2012, eq. 1): each output reads `size` neighbouring channels:
connections = units · size; FLOPs = units · (2·size + 2) (size squares, size − 1 adds, then scale,
add k, power, divide: our convention).
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import ShapeError
from .base import (
    SAVE_INPUT,
    Cost,
    Kind,
    Saved,
    Shape,
    arg,
    fmt_shape,
    kind_class,
    register,
    to_bool,
    to_float,
    to_int,
    to_optional,
)


@kind_class(frozen=True)
class _BatchNormNd(Kind):
    num_features: int | None = arg(None, to_optional(to_int(1)))
    eps: float = arg(1e-5, to_float)
    momentum: float | None = arg(0.1, to_optional(to_float))
    affine: bool = arg(True, to_bool)
    track_running_stats: bool = arg(True, to_bool)

    family = "norm"
    accepted_ranks: ClassVar[tuple[int, ...]] = ()

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        kw = {name: getattr(self, name) for name in self.arg_names()}
        kw["num_features"] = shape[0]
        return kw

    def analyze_one(self, shape: Shape) -> Cost:
        if len(shape) not in self.accepted_ranks:
            raise ShapeError(f"{self.type_name} expects an input of rank "
                             f"{' or '.join(str(r) for r in self.accepted_ranks)} (without batch), "
                             f"got {fmt_shape(shape)}", field="input")
        c = shape[0]
        self.check_given("num_features", self.num_features, c)
        units = 1
        for s in shape:
            units *= s
        affine = c if self.affine else 0
        buffers = 2 * c + 1 if self.track_running_stats else 0
        return Cost(
            output_shape=shape, weights=affine, biases=affine, buffers=buffers,
            long_buffers=1 if self.track_running_stats else 0,
            elementwise_flops=2 * units,
            # Training mode: the input, and the batch mean and inverse std per channel (float32).
            saved=(*SAVE_INPUT, Saved("new", elements=2 * c, itemsize="acc", per_batch=False)),
            explain=(f"weights = γ = C = {affine:,}; biases = β = C = {affine:,}",
                     f"buffers = running mean + running var + num_batches_tracked = 2·{c:,} + 1"
                     f" = {buffers:,}" if buffers else "buffers = 0",
                     f"FLOPs = 2·units = 2·{units:,} = {2 * units:,} (scale and shift)"))


@register
@kind_class(frozen=True)
class BatchNorm1d(_BatchNormNd):
    type_name, torch_name, accepted_ranks = "batchnorm1d", "BatchNorm1d", (1, 2)
    examples = (({}, (120,)), ({"affine": False}, (4, 9)))


@register
@kind_class(frozen=True)
class BatchNorm2d(_BatchNormNd):
    type_name, torch_name, accepted_ranks = "batchnorm2d", "BatchNorm2d", (3,)
    examples = (({}, (64, 56, 56)), ({"track_running_stats": False}, (3, 4, 4)))


@register
@kind_class(frozen=True)
class BatchNorm3d(_BatchNormNd):
    type_name, torch_name, accepted_ranks = "batchnorm3d", "BatchNorm3d", (4,)
    examples = (({}, (2, 3, 4, 5)),)


@register
@kind_class(frozen=True)
class LocalResponseNorm(Kind):
    size: int = arg(convert=to_int(1))
    alpha: float = arg(1e-4, to_float)
    beta: float = arg(0.75, to_float)
    k: float = arg(1.0, to_float)

    type_name, torch_name, family = "localresponsenorm", "LocalResponseNorm", "norm"
    examples = (({"size": 5, "alpha": 1e-4, "beta": 0.75, "k": 2.0}, (96, 55, 55)),)

    def analyze_one(self, shape: Shape) -> Cost:
        if len(shape) < 2:
            raise ShapeError(f"localresponsenorm needs channels and at least one spatial dim, got "
                             f"{fmt_shape(shape)}", field="input")
        units = 1
        for s in shape:
            units *= s
        per = 2 * self.size + 2
        # PyTorch's composite LRN saves its input, the squared input padded by size − 1 channels
        # (for the average over neighbours), and two input-sized intermediates (base and power).
        padded = (shape[0] + self.size - 1) * (units // shape[0])
        return Cost(output_shape=shape, connections=units * self.size, elementwise_flops=units * per,
                    saved=(*SAVE_INPUT, Saved("new", elements=padded), Saved("new", elements=units),
                           Saved("new", elements=units)),
                    explain=(f"connections = units·size = {units:,}·{self.size} = {units * self.size:,}",
                             f"FLOPs = units·(2·size + 2) = {units:,}·{per} = {units * per:,}"))
