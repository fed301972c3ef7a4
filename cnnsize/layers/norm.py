"""Normalisation: nn.BatchNorm1d/2d/3d, nn.InstanceNorm1d/2d/3d, nn.LayerNorm (and LayerNorm2d,
its channels-first form), nn.GroupNorm and nn.LocalResponseNorm.

BatchNorm: weights = C (γ) and biases = C (β) when affine; buffers = 2C + 1 (running mean and
variance, num_batches_tracked) when track_running_stats. At inference it folds to one multiply and
one add per element: FLOPs = 2 · units.
LayerNorm (Ba, Kiros & Hinton 2016), GroupNorm (Wu & He 2018) and InstanceNorm (Ulyanov,
Vedaldi & Lempitsky 2016) normalise each group of n values by the group's own mean μ and
σ = sqrt(var + eps), at inference too (InstanceNorm with track_running_stats: by its running
statistics, then FLOPs = 2 · units as BatchNorm). Our convention (docs/conventions.md), per value:
    FLOPs = (6 + a) · units   — mean 1 (add), variance 3 (subtract, square, add),
                                normalise 2 (subtract μ, times 1/σ), affine a = 2 (γ·x̂ + β),
                                1 (γ only), 0;
the few divides and the rsqrt per group are left out, as BatchNorm's per-channel folding is.
Groups G per example: LayerNorm units / ∏normalized_shape (one per position), GroupNorm
num_groups, InstanceNorm C. Training saves the input and μ, 1/σ per group (float32 or wider);
PyTorch's InstanceNorm runs batch_norm on an N·C-channel view and saves its per-(example,
channel) copies of γ and of the running statistics too (derivatives.yaml, native_batch_norm).
Normalize (`F.normalize`, no module in torch.nn): y = x / max(‖x‖_p, eps) along one dim, at each
position of the others (SSD's L2Norm over channels, Swin V2's cosine attention over the last
dim); no parameters. Per value (our convention): the p-th power 1 (|x|, x², or |x| for p = ∞;
2 for any other p: |x| and the power), the sum 1 (a max for p = ∞), the divide 1:
    FLOPs = 3 · units (p = 1, 2, ∞), 4 · units otherwise;
the root and the clamp to eps per group are left out, as above. torch.utils.flop_counter counts
0 (it has no formula for linalg_vector_norm, clamp_min or div). Training saves the input, the
norm and the clamped norm (G values each, in the dtype), autograd's way.
LocalResponseNorm (Krizhevsky et al. 2012, eq. 1): each output reads `size` neighbouring channels:
connections = units · size; FLOPs = units · (2·size + 2) (size squares, size − 1 adds, then scale,
add k, power, divide: our convention).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from ..errors import ShapeError, SpecError
from .base import (
    SAVE_INPUT,
    Cost,
    Kind,
    Mixes,
    PerWindow,
    Saved,
    Shape,
    arg,
    call_args,
    fmt_shape,
    is_int,
    kind_class,
    register,
    to_bool,
    to_float,
    to_int,
    to_optional,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any, ClassVar

    import torch

# FLOPs per value of normalising by a group's own statistics: mean 1, variance 3, normalise 2.
STATISTICS_FLOPS = 6


def to_shape(value: Any, cls: type[Kind], name: str) -> tuple[int, ...]:
    """LayerNorm's normalized_shape: an int or a list of ints (the sizes of the last dims)."""
    items = [value] if is_int(value) else value
    if not (isinstance(items, (list, tuple)) and items and all(is_int(v) for v in items)):
        raise SpecError(f"expected an integer or a list of integers (the sizes of the last "
                        f"dims), got {value!r}")
    if any(v < 1 for v in items):
        raise SpecError(f"every entry must be >= 1, got {value!r}")
    return tuple(to_int(1)(v, cls, name) for v in items)


def _normalised(units: int, groups: int, affine: int, weights: int, biases: int,
                statistics: str, symbol: str, saved: tuple[Saved, ...] = (),
                buffers_text: str = "") -> dict[str, Any]:
    """Cost fields (all but the output shape) of normalising `groups` groups per example by
    their own mean and variance, then an affine transform of `affine` ops a value; `statistics`
    says what a group is, `symbol` the size of γ and β."""
    per = STATISTICS_FLOPS + affine
    affine_text = {2: "affine 2", 1: "γ only 1", 0: "no affine 0"}[affine]
    return dict(
        weights=weights, biases=biases, elementwise_flops=per * units,
        saved=(*SAVE_INPUT, Saved("new", elements=2 * groups, itemsize="acc"), *saved),
        explain=(f"statistics: {statistics}",
                 (f"weights = γ = {symbol} = {weights:,}; " + (
                     f"biases = β = {symbol} = {biases:,}" if biases else "biases = 0 (bias=False)"))
                 if weights else "weights = biases = 0 (no γ, β)",
                 *((buffers_text,) if buffers_text else ()),
                 f"FLOPs = ({STATISTICS_FLOPS} + a)·units = {per}·{units:,} = {per * units:,} "
                 f"(mean 1, variance 3, normalise 2, {affine_text})"))


def _affine_from_call(call: str, weight: Any, bias: Any) -> bool:
    """Whether a functional norm call is affine: both γ and β, or neither."""
    if (weight is None) != (bias is None):
        raise SpecError(f"{call} with a {'weight' if bias is None else 'bias'} but no "
                        f"{'bias' if bias is None else 'weight'}: cnnsize's kind has both or "
                        "neither")
    return weight is not None




@kind_class(frozen=True)
class _RunningStatsNorm(Kind):
    """BatchNorm and InstanceNorm: one channel dim, optional γ/β and running statistics."""

    num_features: int | None = arg(None, to_optional(to_int(1)))
    eps: float = arg(1e-5, to_float)
    momentum: float | None = arg(0.1, to_optional(to_float))
    affine: bool = arg(True, to_bool)
    track_running_stats: bool = arg(True, to_bool)

    family = "norm"
    accepted_ranks: ClassVar[tuple[int, ...]] = ()

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        kw = {name: getattr(self, name) for name in self.arg_names() if name not in self.spec_only}
        kw["num_features"] = shape[0]
        return kw

    def channels(self, shape: Shape) -> int:
        if len(shape) not in self.accepted_ranks:
            raise ShapeError(f"{self.type_name} expects an input of rank "
                             f"{' or '.join(str(r) for r in self.accepted_ranks)} (without batch), "
                             f"got {fmt_shape(shape)}", field="input")
        c = shape[0]
        self.check_given("num_features", self.num_features, c)
        return c

    # The kind of each input rank (batch dim included) that its functional form serves
    # (F.batch_norm: N×C and N×C×L are 1d, N×C×H×W 2d, N×C×T×H×W 3d), set below.
    by_rank: ClassVar[dict[int, type[Kind]]] = {}

    @classmethod
    def call_kind(cls, in_shapes: Sequence[Shape]) -> type[Kind]:
        """The kind its functional form is at the input's rank (F.instance_norm likewise)."""
        rank = len(in_shapes[0]) if in_shapes else 0
        return cls.by_rank.get(rank, cls)


@kind_class(frozen=True)
class _BatchNormNd(_RunningStatsNorm, PerWindow):
    # Not a PyTorch argument: the input is k windows of C × … each (layers/base.py, PerWindow).
    windows: bool = arg(False, to_bool)

    spec_only = frozenset({"windows"})
    function_args = ("running_mean", "running_var", "weight", "bias", "training", "momentum",
                     "eps")
    state_args = ("running_mean", "running_var", "weight", "bias")

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps), as
        a BatchNorm2d subclass that adds an activation calls it (timm's BatchNormAct2d), or
        torch.batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps,
        cudnn_enabled): affine from weight and bias, track_running_stats from the running
        statistics, which inference normalises by (training=False, as in eval mode)."""
        if len(positional) == 8:  # torch.batch_norm's order: every argument, weight first
            weight, bias, mean, var, training, momentum, eps, _ = positional
            positional = [mean, var, weight, bias, training, momentum, eps]
        raw = call_args(cls, positional, keywords, extra=("cudnn_enabled",))
        running = raw.get("running_mean") is not None
        if running != (raw.get("running_var") is not None):
            raise SpecError("batch_norm with only one of running_mean and running_var")
        training = bool(raw.get("training", False))
        if running and training:
            raise SpecError("batch_norm normalises by the batch's statistics (training=True) and "
                            "updates running ones: cnnsize's batchnorm normalises by the running "
                            "statistics at inference, as nn.BatchNorm2d does in eval mode")
        if not running and not training:
            raise SpecError("batch_norm without running statistics and training=False "
                            "(PyTorch refuses it)")
        args: dict[str, Any] = {"affine": _affine_from_call("batch_norm", raw.get("weight"),
                                                           raw.get("bias")),
                                "track_running_stats": running}
        if "momentum" in raw:
            args["momentum"] = raw["momentum"]
        if raw.get("eps") is not None:
            args["eps"] = raw["eps"]
        return args

    def analyze_one(self, shape: Shape) -> Cost:
        c = self.channels(shape)
        units = math.prod(shape)
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
    functions = ("batch_norm",)  # every rank: call_kind picks the kind
    examples = (({}, (120,)), ({"affine": False}, (4, 9)))


@register
@kind_class(frozen=True)
class BatchNorm2d(_BatchNormNd):
    type_name, torch_name, accepted_ranks = "batchnorm2d", "BatchNorm2d", (3,)
    examples = (({}, (64, 56, 56)), ({"track_running_stats": False}, (3, 4, 4)),
                ({"windows": True}, (4, 3, 2, 3)))


@register
@kind_class(frozen=True)
class BatchNorm3d(_BatchNormNd):
    type_name, torch_name, accepted_ranks = "batchnorm3d", "BatchNorm3d", (4,)
    examples = (({}, (2, 3, 4, 5)),)


@kind_class(frozen=True)
class _InstanceNormNd(_RunningStatsNorm):
    """Each channel of each example normalised over its spatial positions."""

    affine: bool = arg(False, to_bool)
    track_running_stats: bool = arg(False, to_bool)

    function_args = ("running_mean", "running_var", "weight", "bias", "use_input_stats",
                     "momentum", "eps")
    state_args = ("running_mean", "running_var", "weight", "bias")

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """F.instance_norm(x, running_mean, running_var, weight, bias, use_input_stats, …):
        affine from weight and bias, track_running_stats from the running statistics (used at
        inference: use_input_stats=False, as nn.InstanceNorm*d passes it in eval mode)."""
        raw = call_args(cls, positional, keywords)
        running = raw.get("running_mean") is not None
        if running != (raw.get("running_var") is not None):
            raise SpecError("instance_norm with only one of running_mean and running_var")
        use_input_stats = raw.get("use_input_stats", True)
        if running and use_input_stats:
            raise SpecError("instance_norm keeps running statistics but normalises by the "
                            "input's (use_input_stats=True): cnnsize's instancenorm with "
                            "track_running_stats normalises by the running ones, as "
                            "nn.InstanceNorm*d does in eval mode")
        args: dict[str, Any] = {"affine": _affine_from_call("instance_norm", raw.get("weight"),
                                                           raw.get("bias")),
                                "track_running_stats": running}
        args.update({k: raw[k] for k in ("momentum", "eps") if raw.get(k) is not None})
        return args

    def analyze_one(self, shape: Shape) -> Cost:
        c = self.channels(shape)
        units = math.prod(shape)
        n = units // c
        if n == 1 and not self.track_running_stats:
            raise ShapeError(f"{self.type_name} normalises each channel over its positions, and "
                             f"this input ({fmt_shape(shape)}) has one: PyTorch refuses it "
                             "(\"Expected more than 1 spatial element\")", field="input",
                             hint="instance norm needs a spatial size above 1 (with "
                                  "track_running_stats it runs on running statistics at "
                                  "inference, but PyTorch still refuses it in training)")
        affine = c if self.affine else 0
        buffers = 2 * c + 1 if self.track_running_stats else 0
        buffers_text = (f"buffers = running mean + running var + num_batches_tracked = 2·{c:,} + 1"
                        f" = {buffers:,}" if buffers else "buffers = 0")
        # Training: PyTorch runs batch_norm on the input viewed as 1×(N·C)×…, which saves a
        # copy of γ per example and channel and, with running statistics, copies of those.
        copy = Saved("new", elements=c)
        copies = (copy,) * ((1 if self.affine else 0) + (2 if self.track_running_stats else 0))
        if self.track_running_stats:  # inference: the running statistics, folded as BatchNorm's
            return Cost(output_shape=shape, weights=affine, biases=affine, buffers=buffers,
                        long_buffers=1, elementwise_flops=2 * units,
                        saved=(*SAVE_INPUT, Saved("new", elements=2 * c, itemsize="acc"), *copies),
                        explain=(f"weights = γ = C = {affine:,}; biases = β = C = {affine:,}",
                                 buffers_text,
                                 f"FLOPs = 2·units = 2·{units:,} = {2 * units:,} (running "
                                 "statistics at inference: scale and shift)"))
        cost = _normalised(units, c, 2 if self.affine else 0, affine, affine,
                           f"G = C = {c:,} groups (one per channel) of n = ∏spatial = {n:,} values",
                           "C", saved=copies, buffers_text=buffers_text)
        return Cost(output_shape=shape, **cost)


@register
@kind_class(frozen=True)
class InstanceNorm1d(_InstanceNormNd):
    type_name, torch_name, accepted_ranks = "instancenorm1d", "InstanceNorm1d", (2,)
    functions = ("instance_norm",)  # every rank: call_kind picks the kind
    examples = (({}, (6, 7)), ({"affine": True, "track_running_stats": True}, (4, 9)))


@register
@kind_class(frozen=True)
class InstanceNorm2d(_InstanceNormNd):
    type_name, torch_name, accepted_ranks = "instancenorm2d", "InstanceNorm2d", (3,)
    examples = (({}, (6, 4, 4)), ({"affine": True}, (3, 5, 5)),
                ({"track_running_stats": True}, (3, 4, 4)))


@register
@kind_class(frozen=True)
class InstanceNorm3d(_InstanceNormNd):
    type_name, torch_name, accepted_ranks = "instancenorm3d", "InstanceNorm3d", (4,)
    examples = (({"affine": True, "track_running_stats": True}, (3, 2, 3, 4)),)


_BatchNormNd.by_rank = {2: BatchNorm1d, 3: BatchNorm1d, 4: BatchNorm2d, 5: BatchNorm3d}
_InstanceNormNd.by_rank = {3: InstanceNorm1d, 4: InstanceNorm2d, 5: InstanceNorm3d}


def _without_idle_bias(kind: Kind, shown: dict[str, Any]) -> dict[str, Any]:
    """LayerNorm's arguments for display: `bias` says nothing without elementwise_affine
    (PyTorch then has neither γ nor β), so it is not shown."""
    if not getattr(kind, "elementwise_affine", True):
        shown.pop("bias", None)
    return shown


def _layer_norm_cost(units: int, groups: int, n: int, elementwise_affine: bool, bias: bool,
                     statistics: str, symbol: str) -> dict[str, Any]:
    weights = n if elementwise_affine else 0
    biases = n if elementwise_affine and bias else 0
    affine = (1 if weights else 0) + (1 if biases else 0)
    return _normalised(units, groups, affine, weights, biases, statistics, symbol)


@register
@kind_class(frozen=True)
class LayerNorm(Kind):
    """Normalises over the last dims (`normalized_shape`), at each position of the others."""

    normalized_shape: tuple[int, ...] = arg(convert=to_shape)
    eps: float = arg(1e-5, to_float)
    elementwise_affine: bool = arg(True, to_bool)
    bias: bool = arg(True, to_bool)

    type_name, torch_name, family = "layernorm", "LayerNorm", "norm"
    window_dims = ()  # the last dims, at every position of the others
    functions = ("layer_norm",)
    function_args = ("normalized_shape", "weight", "bias", "eps")
    state_args = ("weight", "bias")
    examples = (({"normalized_shape": 8}, (5, 8)), ({"normalized_shape": [5, 8]}, (3, 5, 8)),
                ({"normalized_shape": 6, "elementwise_affine": False}, (4, 6)),
                ({"normalized_shape": 6, "bias": False}, (2, 3, 6)),
                ({"normalized_shape": [4, 3, 3]}, (4, 3, 3)))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """F.layer_norm(x, normalized_shape, weight, bias, eps) (torch.layer_norm also takes
        cudnn_enable): elementwise_affine from weight, bias from bias."""
        raw = call_args(cls, positional, keywords, extra=("cudnn_enable",))
        raw.pop("cudnn_enable", None)
        weight, bias = raw.get("weight"), raw.get("bias")
        if weight is None and bias is not None:
            raise SpecError("layer_norm with a bias but no weight: cnnsize's layernorm has a "
                            "bias only with elementwise_affine")
        shape = raw.get("normalized_shape")
        args: dict[str, Any] = {
            "normalized_shape": [int(s) for s in shape] if isinstance(shape, (list, tuple))
            else shape,
            "elementwise_affine": weight is not None}
        if weight is not None:
            args["bias"] = bias is not None
        if raw.get("eps") is not None:
            args["eps"] = raw["eps"]
        return args

    def args(self) -> dict[str, Any]:
        out = _without_idle_bias(self, super().args())
        if len(self.normalized_shape) > 1:  # [8, 8] is not 8
            out["normalized_shape"] = list(self.normalized_shape)
        return out

    def analyze_one(self, shape: Shape) -> Cost:
        k = len(self.normalized_shape)
        if k > len(shape) or tuple(shape[len(shape) - k:]) != self.normalized_shape:
            dims = "last dim" if k == 1 else f"last {k} dims"
            got = (f"its {dims} {'is' if k == 1 else 'are'} {fmt_shape(tuple(shape[len(shape) - k:]))}"
                   if k <= len(shape) else f"it has only {len(shape)} dim{_s(len(shape))} "
                   "(the batch dim is not normalised over)")
            fits = list(shape[len(shape) - k:]) if 1 < k <= len(shape) else shape[-1]
            channels_first = len(shape) == 3 and self.normalized_shape == (shape[0],)
            raise ShapeError(
                f"normalized_shape {fmt_shape(self.normalized_shape)} must equal the input's "
                f"{dims}: the input is {fmt_shape(shape)}, {got}", field="normalized_shape",
                hint=f"{shape[0]} is this C×H×W input's channel count: a LayerNorm over C at "
                     "each position (ConvNeXt's) is layernorm2d" if channels_first else
                     "normalized_shape gives the sizes of the dims it normalises over, counted "
                     f"from the last: {fits} for this input's "
                     f"{dims if isinstance(fits, list) else 'last dim'}")
        n = math.prod(self.normalized_shape)
        units = math.prod(shape)
        g = units // n
        cost = _layer_norm_cost(units, g, n, self.elementwise_affine, self.bias,
                                f"G = units / n = {units:,} / {n:,} = {g:,} group{_s(g)} (one per "
                                f"position) of n = ∏normalized_shape = {n:,} values",
                                "∏normalized_shape")
        return Cost(output_shape=shape, **cost)


@register
@kind_class(frozen=True)
class LayerNorm2d(Kind):
    """LayerNorm over the channels of a C×H×W map, at each position (ConvNeXt's downsampling
    layers and stem: torchvision's `convnext.LayerNorm2d` and timm's `LayerNorm2d` compute it
    by permuting to channels last, F.layer_norm over C, and permuting back)."""

    normalized_shape: int | None = arg(None, to_optional(to_int(1)))
    eps: float = arg(1e-5, to_float)
    elementwise_affine: bool = arg(True, to_bool)
    bias: bool = arg(True, to_bool)

    type_name, torch_name, family, ndim = "layernorm2d", "", "norm", 2
    origin = "none (torchvision's and timm's `LayerNorm2d`: `nn.LayerNorm` over C, channels first)"
    examples = (({}, (6, 4, 4)), ({"elementwise_affine": False}, (3, 5, 5)),
                ({"normalized_shape": 4, "bias": False}, (4, 3, 2)))

    def args(self) -> dict[str, Any]:
        return _without_idle_bias(self, super().args())

    def torch_module(self, shape: Shape) -> torch.nn.Module:
        from ..verify.modules import LayerNorm2d as TorchLayerNorm2d

        return TorchLayerNorm2d(shape[0], eps=self.eps, elementwise_affine=self.elementwise_affine,
                                bias=self.bias)

    def analyze_one(self, shape: Shape) -> Cost:
        c, spatial = self.expect_spatial(shape)
        self.check_given("normalized_shape", self.normalized_shape, c)
        units = math.prod(shape)
        g = math.prod(spatial)
        cost = _layer_norm_cost(units, g, c, self.elementwise_affine, self.bias,
                                f"G = H·W = {g:,} group{_s(g)} (one per position) of n = C = {c:,} "
                                "values", "C")
        return Cost(output_shape=shape, **cost)


@register
@kind_class(frozen=True)
class GroupNorm(Kind):
    """Channels split into num_groups groups, each normalised over its channels and positions."""

    num_groups: int = arg(convert=to_int(1))
    num_channels: int | None = arg(None, to_optional(to_int(1)))
    eps: float = arg(1e-5, to_float)
    affine: bool = arg(True, to_bool)

    type_name, torch_name, family = "groupnorm", "GroupNorm", "norm"
    functions = ("group_norm",)
    function_args = ("num_groups", "weight", "bias", "eps")
    state_args = ("weight", "bias")
    examples = (({"num_groups": 2}, (6, 4, 4)), ({"num_groups": 3, "affine": False}, (6, 5)),
                ({"num_groups": 1}, (4, 3, 3)), ({"num_groups": 4}, (8,)),
                ({"num_groups": 2, "num_channels": 4}, (4, 2, 2, 2)))

    def validate(self) -> None:
        if self.num_channels is not None and self.num_channels % self.num_groups:
            raise SpecError(f"num_channels {self.num_channels} is not divisible by num_groups "
                            f"{self.num_groups}", field="num_groups",
                            hint=_divisors_hint(self.num_channels))

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """F.group_norm(x, num_groups, weight, bias, eps) (torch.group_norm also takes
        cudnn_enabled): affine from weight and bias."""
        raw = call_args(cls, positional, keywords, extra=("cudnn_enabled",))
        args: dict[str, Any] = {"num_groups": raw.get("num_groups"),
                                "affine": _affine_from_call("group_norm", raw.get("weight"),
                                                            raw.get("bias"))}
        if raw.get("eps") is not None:
            args["eps"] = raw["eps"]
        return args

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        return {"num_groups": self.num_groups, "num_channels": shape[0], "eps": self.eps,
                "affine": self.affine}

    def analyze_one(self, shape: Shape) -> Cost:
        if not shape:
            raise ShapeError("groupnorm needs a channel dim, got a scalar", field="input")
        c = shape[0]
        self.check_given("num_channels", self.num_channels, c)
        if c % self.num_groups:
            raise ShapeError(f"num_groups {self.num_groups} does not divide the input's {c:,} "
                             f"channels ({c:,} / {self.num_groups} = {c / self.num_groups:.4g})",
                             field="num_groups", hint=_divisors_hint(c))
        units = math.prod(shape)
        affine = c if self.affine else 0
        g, n = self.num_groups, units // self.num_groups
        per = "·".join(str(s) for s in (c // g, *shape[1:]))
        size = "(C / G)·∏spatial" if len(shape) > 1 else "C / G"
        cost = _normalised(units, g, 2 if self.affine else 0, affine, affine,
                           f"G = num_groups = {g:,} group{_s(g)} of n = {size} = {per} = {n:,} "
                           "values", "C")
        return Cost(output_shape=shape, **cost)


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _divisors_hint(c: int) -> str:
    if c > 10**6:
        return "num_groups must divide the channel count"
    small = [d for d in range(1, math.isqrt(c) + 1) if c % d == 0]
    divisors = sorted({*small, *(c // d for d in small)})
    return f"num_groups must divide the channel count: for {c:,} channels, one of " + \
        ", ".join(f"{d:,}" for d in divisors)


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


@register
@kind_class(frozen=True)
class Normalize(Kind):
    """x / max(‖x‖_p, eps) along `dim` (a PyTorch dim: 1 is channels, -1 the last), at each
    position of the other dims: F.normalize."""

    p: float = arg(2.0, to_float)
    dim: int = arg(1, to_int())
    eps: float = arg(1e-12, to_float)

    type_name, torch_name, family = "normalize", "", "norm"
    origin = "`F.normalize(x, p, dim, eps)` (no `torch.nn` class: SSD's L2Norm, cosine attention)"
    window_dims = ("dim",)
    functions, function_args = ("normalize",), ("p", "dim", "eps")
    examples = (({}, (6, 4, 4)), ({"dim": -1}, (3, 5, 8)), ({"p": 1.0, "dim": 2}, (4, 6)),
                ({"p": 3.0, "dim": -1, "eps": 1e-6}, (2, 3, 5)))

    def validate(self) -> None:
        if self.p <= 0:
            raise SpecError(f"p must be > 0 (the norm's order), got {self.p:g}", field="p",
                            hint="2.0 for the Euclidean (L2) norm, 1.0 for L1")

    def torch_module(self, shape: Shape) -> torch.nn.Module:
        from torch.nn import functional as F

        from ..verify import modules

        return modules.Function(self.type_name, F.normalize,
                                {"p": self.p, "dim": self.dim, "eps": self.eps})

    def analyze_one(self, shape: Shape) -> Cost:
        from .shape_ops import axis

        a = axis(self.dim, len(shape), self.type_name)
        units = math.prod(shape)
        n = shape[a]
        groups = units // n
        simple = self.p in (1.0, 2.0, math.inf)
        per = 3 if simple else 4
        power = {1.0: "|x| 1", 2.0: "x² 1", math.inf: "|x| 1"}.get(self.p, "|x|^p 2")
        total = "a max 1" if self.p == math.inf else "sum 1"
        return Cost(output_shape=shape, elementwise_flops=per * units, rf=Mixes((a,)),
                    saved=(*SAVE_INPUT, Saved("new", elements=2 * groups)),
                    explain=(f"y = x / max(‖x‖_{self.p:g}, eps) along dim {self.dim}: G = units / n "
                             f"= {units:,} / {n:,} = {groups:,} group{_s(groups)} of n = {n:,} "
                             "values",
                             "weights = biases = 0",
                             f"FLOPs = {per}·units = {per}·{units:,} = {per * units:,} ({power}, "
                             f"{total}, divide 1; the root and the clamp per group left out)"))
