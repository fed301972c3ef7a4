"""Resampling: nn.Upsample / F.interpolate, nn.UpsamplingNearest2d / UpsamplingBilinear2d,
nn.PixelShuffle / nn.PixelUnshuffle.

Output size (PyTorch's `F.interpolate` and `upsample_*` kernels): W2 = `size`, or
W2 = floor(W1 · scale_factor) with the product taken in double precision, as PyTorch takes it.
An output reads k inputs per spatial dim (k = 1 nearest, 2 linear/bilinear/trilinear, 4 bicubic),
so connections = units · k^d. FLOPs (our convention, docs/conventions.md): nearest modes copy
(0); the others interpolate separably, one k-tap combine (k multiplies, k − 1 adds) per
(k^d − 1)/(k − 1) nodes of the tree PyTorch's CPU kernel (`UpSampleKernel.cpp`) evaluates:
FLOPs per output = (2k − 1) · (k^d − 1)/(k − 1) = 3 (linear), 9 (bilinear), 21 (trilinear),
35 (bicubic); the weights, computed once per output position, are not counted.
Receptive field: a window of k inputs with jump × 1/scale, where scale is the factor PyTorch maps
coordinates with (`area_pixel_compute_scale`): 1/scale_factor when given (and not recomputed),
W1/W2 otherwise, (W1 − 1)/(W2 − 1) with align_corners. Autograd saves nothing (the backward
needs sizes and scales only). Pixel shuffle moves values: no FLOPs, a new tensor.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction

from ..errors import ShapeError, SpecError
from ..shape import Dim, fmt
from .base import (
    MAX_SIZE,
    SPATIAL_SYMBOLS,
    Cost,
    Kind,
    Shape,
    Window,
    arg,
    fmt_shape,
    is_int,
    kind_class,
    product_text,
    register,
    to_bool,
    to_choice,
    to_int,
    to_optional,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any, ClassVar, Literal

if TYPE_CHECKING:
    Mode = Literal["nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear"]
else:  # (typing is not imported at run time)
    Mode = str
MODES: tuple[Mode, ...] = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear")
TAPS: dict[str, int] = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 2,
                        "trilinear": 2, "bicubic": 4}
# The spatial dims a mode interpolates over (the nearest modes: any of 1, 2, 3).
MODE_NDIM: dict[str, int] = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}


def flops_per_output(mode: str, ndim: int) -> int:
    """(2k − 1) · (k^d − 1)/(k − 1): separable k-tap combines; 0 for the nearest modes."""
    k = TAPS[mode]
    return 0 if k == 1 else (2 * k - 1) * (k ** ndim - 1) // (k - 1)


def _whole(x: Fraction) -> int | Fraction:
    return x.numerator if x.denominator == 1 else x


# ---------------------------------------------------------------- argument converters


def _to_size(value: Any, cls: type[Kind], name: str) -> int | tuple[int, ...] | None:
    """`size`: null, an integer for every spatial dim, or a list of 1 to 3 integers."""
    if value is None:
        return None
    items = [value] if is_int(value) else value
    if not (isinstance(items, (list, tuple)) and 1 <= len(items) <= 3
            and all(is_int(v) for v in items)):
        raise SpecError(f"expected an integer or a list of 1 to 3 integers, got {value!r}")
    if any(v < 1 or v > MAX_SIZE for v in items):
        raise SpecError(f"every size must be between 1 and {MAX_SIZE:,}, got {value!r}")
    return int(value) if is_int(value) else tuple(int(v) for v in items)


def _scale(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SpecError(f"expected a number or a list of 1 to 3 numbers, got {value!r}")
    scale = float(value)
    if not (math.isfinite(scale) and 0 < scale <= MAX_SIZE):
        raise SpecError(f"scale_factor must be a finite number > 0 and <= {MAX_SIZE:,}, "
                        f"got {value!r}")
    return scale


def _to_scale(value: Any, cls: type[Kind], name: str) -> float | tuple[float, ...] | None:
    """`scale_factor`: null, a number for every spatial dim, or a list of 1 to 3 numbers."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if not 1 <= len(value) <= 3:
            raise SpecError(f"expected a number or a list of 1 to 3 numbers, got {value!r}")
        return tuple(_scale(v) for v in value)
    return _scale(value)


# ---------------------------------------------------------------- interpolation


@kind_class(frozen=True)
class _Resample(Kind):
    """Shared by nn.Upsample and its two fixed-mode subclasses."""

    size: int | tuple[int, ...] | None = arg(None, _to_size)
    scale_factor: float | tuple[float, ...] | None = arg(None, _to_scale)

    family = "resample"
    fixed_mode: ClassVar[Mode] = "nearest"
    fixed_align_corners: ClassVar[bool | None] = None

    def _mode(self) -> Mode:
        return self.fixed_mode

    def _align_corners(self) -> bool:
        return bool(self.fixed_align_corners)

    def _recompute(self) -> bool:
        return False

    def validate(self) -> None:
        if (self.size is None) == (self.scale_factor is None):
            raise SpecError("give exactly one of size and scale_factor"
                            if self.size is not None else "give size or scale_factor",
                            field="size", hint="size: the output's spatial size, [H, W]; "
                                               "scale_factor: its ratio to the input's, 2")

    def _per_dim(self, value: Any, ndim: int, name: str) -> tuple[Any, ...]:
        if not isinstance(value, tuple):
            return (value,) * ndim
        if len(value) != ndim:
            raise ShapeError(f"has {len(value)} entries but the input has {ndim} spatial "
                             f"dim{'s' if ndim != 1 else ''}", field=name,
                             hint="one entry per spatial dim, or one number for all")
        return value

    def _dim(self, w1: int, size: int | None, scale: float | None, sym: str
             ) -> tuple[int, str, Dim | None, str | None]:
        """Output size, its worked formula, a Dim where the exact product is not whole (for
        the ⚠ note), and a note where double precision rounds a whole product down."""
        if size is not None or scale is None:
            return size or w1, f"{sym}2 = size = {size}", None, None
        product = float(w1) * scale  # PyTorch's double-precision product
        if product > MAX_SIZE:
            raise ShapeError(f"output {sym} would be {product:.4g}, beyond any real layer",
                             field="scale_factor")
        w2 = math.floor(product)
        exact = w1 * Fraction(repr(scale))  # the decimal the user wrote
        text = f"{sym}2 = floor({sym}1·scale_factor) = floor({w1}·{scale!r}) = {w2:,}"
        if w2 < 1:
            least = Fraction(1, w1)
            raise ShapeError(f"output {sym} would be {w2}", field="scale_factor", formula=text,
                             hint=f"PyTorch needs every output size >= 1: scale_factor >= "
                                  f"{fmt(least)} for {sym}1 = {w1}, or give size")
        if product == w2:
            return w2, text, None, None
        if exact.denominator == 1:
            return w2, text, None, (
                f"output {sym}: {w1}·{scale!r} is {exact} exactly, but PyTorch multiplies in "
                f"double precision ({product!r}) and floors that to {w2}")
        formula = f"{sym}2 = {sym}1·scale_factor = {w1}·{scale!r} = {fmt(exact)} → floor {w2}"
        return w2, text, Dim(w2, exact, formula, "floor"), None

    def _jump(self, w1: int, w2: int, scale: float | None) -> int | Fraction:
        """Input pixels between neighbouring outputs: PyTorch's coordinate scale."""
        if self._align_corners() and TAPS[self._mode()] > 1:
            return _whole(Fraction(w1 - 1, w2 - 1)) if w2 > 1 else 0
        if scale is not None and not self._recompute():
            return _whole(1 / Fraction(repr(scale)))
        return _whole(Fraction(w1, w2))

    def analyze_one(self, shape: Shape) -> Cost:
        mode = self._mode()
        if self.ndim:
            channels, spatial = self.expect_spatial(shape)
        else:
            channels, spatial = shape[0] if shape else 0, tuple(shape[1:])
            want = MODE_NDIM.get(mode)
            if not 1 <= len(spatial) <= 3 or (want is not None and len(spatial) != want):
                n = want or len(spatial)
                need = (f"a {n}d input {'×'.join(('C',) + SPATIAL_SYMBOLS[n])}"
                        if n in SPATIAL_SYMBOLS else "1 to 3 spatial dims")
                raise ShapeError(f"mode {mode!r} interpolates {need}, got {fmt_shape(shape)}",
                                 field="input", hint="linear is 1d, bilinear and bicubic 2d, "
                                 "trilinear 3d; nearest takes 1 to 3 spatial dims")
        ndim = len(spatial)
        syms = SPATIAL_SYMBOLS[ndim]
        sizes = self._per_dim(self.size, ndim, "size") if self.size is not None else (None,) * ndim
        scales = (self._per_dim(self.scale_factor, ndim, "scale_factor")
                  if self.scale_factor is not None else (None,) * ndim)
        out_dims, explain, notes, inexact, rf = [], [], [], [], []
        k = TAPS[mode]
        for w1, size, scale, sym in zip(spatial, sizes, scales, syms):
            w2, text, dim, note = self._dim(w1, size, scale, sym)
            out_dims.append(w2)
            explain.append(text)
            if dim is not None:
                inexact.append((f"output {sym}", dim))
            if note is not None:
                notes.append(note)
            rf.append(Window(k, self._jump(w1, w2, scale)))
        out = (channels, *out_dims)
        units = math.prod(out)
        taps = k ** ndim
        per = flops_per_output(mode, ndim)
        reads = "×".join([str(k)] * ndim)
        explain += [f"units = {product_text(list(out))} = {units:,}",
                    f"connections = units·{taps} (each output reads {reads} inputs, {mode}) = "
                    f"{units:,}·{taps} = {units * taps:,}",
                    f"FLOPs = units·{per} ({_flops_text(mode, ndim)}) = {units:,}·{per} = "
                    f"{units * per:,}",
                    f"receptive field: a window of {k} input{'s' if k > 1 else ''} per dim, "
                    f"jump ×{_jumps(rf)} (PyTorch's coordinate scale: input pixels between "
                    "neighbouring outputs)"]
        return Cost(output_shape=out, connections=units * taps, elementwise_flops=units * per,
                    rf=tuple(rf), explain=tuple(explain), notes=tuple(notes),
                    inexact=tuple(inexact))


def _jumps(rf: Sequence[Window]) -> str:
    texts = [fmt(Fraction(w.stride)) for w in rf]
    return texts[0] if len(set(texts)) == 1 else ", ".join(texts)


def _flops_text(mode: str, ndim: int) -> str:
    k = TAPS[mode]
    if k == 1:
        return f"{mode}: a copy of the nearest input"
    combines = (k ** ndim - 1) // (k - 1)
    taps = {2: "two", 4: "four"}[k]
    return (f"{mode}: {combines} {taps}-tap combine{'s' if combines > 1 else ''} of {k} "
            f"multiplies and {k - 1} add{'s' if k > 2 else ''}")


@register
@kind_class(frozen=True)
class Upsample(_Resample):
    mode: Mode = arg("nearest", to_choice(*MODES))
    align_corners: bool | None = arg(None, to_optional(to_bool))
    recompute_scale_factor: bool | None = arg(None, to_optional(to_bool))

    type_name, torch_name = "upsample", "Upsample"
    functions = ("interpolate",)
    function_args = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")
    origin = "`nn.Upsample`, `F.interpolate`"
    examples = (({"scale_factor": 2}, (3, 5, 7)),
                ({"scale_factor": 1.5, "mode": "bilinear"}, (2, 7, 9)),
                ({"size": [5, 11], "mode": "bicubic", "align_corners": True}, (2, 4, 6)),
                ({"scale_factor": [0.5, 1.7], "mode": "nearest-exact"}, (3, 9, 10)),
                ({"scale_factor": 3, "mode": "linear"}, (2, 5)),
                ({"size": 6, "mode": "trilinear"}, (1, 3, 4, 5)),
                ({"scale_factor": 2, "mode": "nearest"}, (2, 2, 3, 3)))

    def _mode(self) -> Mode:
        return self.mode

    def _align_corners(self) -> bool:
        return bool(self.align_corners)

    def _recompute(self) -> bool:
        return bool(self.recompute_scale_factor)

    def validate(self) -> None:
        _Resample.validate(self)
        if self.align_corners is not None and TAPS[self.mode] == 1:
            raise SpecError(f"align_corners can only be set with the interpolating modes, not "
                            f"{self.mode!r}", field="align_corners",
                            hint="linear, bilinear, bicubic or trilinear; leave it out for "
                                 "nearest (PyTorch refuses it)")
        if self.recompute_scale_factor and self.size is not None:
            raise SpecError("recompute_scale_factor is not meaningful with an explicit size",
                            field="recompute_scale_factor")

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        """F.interpolate(input, size, scale_factor, mode, align_corners,
        recompute_scale_factor, antialias): antialias=True is a different filter."""
        positional, keywords = list(positional), dict(keywords)
        antialias = keywords.pop("antialias", positional.pop(5) if len(positional) > 5 else False)
        if antialias:
            raise SpecError("cnnsize's upsample has no argument like antialias=True (a wider "
                            "filter when it downsamples)")
        mode = keywords.get("mode", positional[2] if len(positional) > 2 else "nearest")
        if mode not in MODES:
            raise SpecError(f"cnnsize's upsample has no mode {mode!r}"
                            + (": mode 'area' is adaptive average pooling, write "
                               "adaptiveavgpool2d with output_size" if mode == "area" else ""))
        return super().from_call(positional, keywords, in_shapes, out_shape)


@register
@kind_class(frozen=True)
class UpsamplingNearest2d(_Resample):
    type_name, torch_name, ndim = "upsamplingnearest2d", "UpsamplingNearest2d", 2
    examples = (({"scale_factor": 2}, (3, 4, 5)), ({"size": [7, 3]}, (2, 4, 5)))


@register
@kind_class(frozen=True)
class UpsamplingBilinear2d(_Resample):
    type_name, torch_name, ndim = "upsamplingbilinear2d", "UpsamplingBilinear2d", 2
    fixed_mode, fixed_align_corners = "bilinear", True
    examples = (({"scale_factor": 2}, (3, 4, 5)), ({"size": [7, 3]}, (2, 4, 5)))


# ---------------------------------------------------------------- pixel shuffle


@kind_class(frozen=True)
class _Shuffle(Kind):
    family = "resample"
    ndim = 2
    up: ClassVar[bool] = True

    def _factor(self) -> int:
        raise NotImplementedError

    def analyze_one(self, shape: Shape) -> Cost:
        channels, (h1, w1) = self.expect_spatial(shape)
        r = self._factor()
        name = "upscale_factor" if self.up else "downscale_factor"
        if self.up:
            if channels % (r * r):
                raise ShapeError(
                    f"the input has {channels} channels, which {r}² = {r * r} does not divide",
                    field=name, formula=f"C2 = C1 / r² = {channels} / {r * r} = "
                                        f"{fmt(Fraction(channels, r * r))}",
                    hint=f"the layer before needs a multiple of {r * r} channels "
                         f"({r * r * max(1, channels // (r * r))} or "
                         f"{r * r * (channels // (r * r) + 1)})")
            out = (channels // (r * r), h1 * r, w1 * r)
            explain = [f"C2 = C1 / r² = {channels} / {r * r} = {out[0]:,}",
                       f"H2 = H1·r = {h1}·{r} = {out[1]:,}", f"W2 = W1·r = {w1}·{r} = {out[2]:,}"]
            rf = (Window(1, Fraction(1, r)), Window(1, Fraction(1, r)))
        else:
            bad = [(sym, w) for sym, w in (("H", h1), ("W", w1)) if w % r]
            if bad:
                sym, w = bad[0]
                raise ShapeError(f"the input's {sym} = {w} is not a multiple of {r}", field=name,
                                 formula=f"{sym}2 = {sym}1 / r = {w} / {r} = {fmt(Fraction(w, r))}",
                                 hint=f"PixelUnshuffle needs H and W divisible by {r}")
            out = (channels * r * r, h1 // r, w1 // r)
            explain = [f"C2 = C1·r² = {channels}·{r * r} = {out[0]:,}",
                       f"H2 = H1 / r = {h1} / {r} = {out[1]:,}", f"W2 = W1 / r = {w1} / {r} = "
                                                                 f"{out[2]:,}"]
            rf = (Window(r, r), Window(r, r))
        units = math.prod(out)
        explain += [f"units = {product_text(list(out))} = {units:,}",
                    "a copy that moves every value to its new place: no FLOPs, a new tensor"]
        return Cost(output_shape=out, rf=rf, explain=tuple(explain))


@register
@kind_class(frozen=True)
class PixelShuffle(_Shuffle):
    upscale_factor: int = arg(convert=to_int(1))
    type_name, torch_name = "pixelshuffle", "PixelShuffle"
    functions, function_args = ("pixel_shuffle",), ("upscale_factor",)
    examples = (({"upscale_factor": 2}, (12, 4, 5)), ({"upscale_factor": 3}, (9, 2, 3)))

    def _factor(self) -> int:
        return self.upscale_factor


@register
@kind_class(frozen=True)
class PixelUnshuffle(_Shuffle):
    downscale_factor: int = arg(convert=to_int(1))
    type_name, torch_name, up = "pixelunshuffle", "PixelUnshuffle", False
    functions, function_args = ("pixel_unshuffle",), ("downscale_factor",)
    examples = (({"downscale_factor": 2}, (3, 4, 6)),)

    def _factor(self) -> int:
        return self.downscale_factor
