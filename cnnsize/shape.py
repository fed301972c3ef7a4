"""Output-size arithmetic, one function per formula, with exact fractions and worked formulas.

Source of the formulas: the shape notes of PyTorch's nn.Conv*d, nn.ConvTranspose*d, nn.MaxPool*d,
nn.AvgPool*d and nn.AdaptiveAvgPool*d docs; for the lecture form W2 = (W1 - F + 2P)/S + 1,
CS231n "Convolutional Networks". Here W1 is an input size, F the kernel size, P the padding on each
side, S the stride, D the dilation, OP the output padding.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from .errors import ShapeError


def fmt(n: int | Fraction) -> str:
    """An exact number as a student writes it: 34,848 or 54.25 or 217/3."""
    if isinstance(n, Fraction):
        if n.denominator == 1:
            return f"{n.numerator:,}"
        as_float = float(n)
        if Fraction(repr(as_float)) == n:
            return repr(as_float)
        return f"{n.numerator}/{n.denominator} ≈ {as_float:.4f}"
    return f"{n:,}"


@dataclass(frozen=True, slots=True)
class Dim:
    """One output size: the integer used, the exact value of the formula, and the formula."""

    size: int
    exact: Fraction
    formula: str
    rounding: str  # "floor" or "ceil"
    # (W1, F, S, (P_left, P_right), D) of a sliding window, for suggesting exact alternatives
    window: tuple[int, int, int, tuple[int, int], int] | None = None

    @property
    def is_exact(self) -> bool:
        return self.exact.denominator == 1 and self.size == self.exact


def _padding_text(pad: tuple[int, int]) -> str:
    left, right = pad
    return f"2·{left}" if left == right else f"({left} + {right})"


def sliding_window(
    w1: int,
    kernel: int,
    stride: int,
    pad: tuple[int, int],
    dilation: int = 1,
    ceil_mode: bool = False,
    symbol: str = "W",
) -> Dim:
    """W2 = (W1 - D(F-1) - 1 + 2P)/S + 1, floored (or ceiled, PyTorch's pooling ceil_mode rule)."""
    f_eff = dilation * (kernel - 1) + 1
    p_total = pad[0] + pad[1]
    exact = Fraction(w1 + p_total - f_eff, stride) + 1
    rounding = "ceil" if ceil_mode else "floor"
    size = math.ceil(exact) if ceil_mode else math.floor(exact)
    dropped = ceil_mode and (size - 1) * stride >= w1 + pad[0]
    if dropped:
        # PyTorch drops a last window that would start inside the right padding.
        size -= 1
    if dilation == 1:
        lhs = f"{symbol}2 = ({symbol}1 − F + 2P)/S + 1"
        nums = f"({w1} − {kernel} + {_padding_text(pad)})/{stride} + 1"
    else:
        lhs = f"{symbol}2 = ({symbol}1 − D·(F − 1) − 1 + 2P)/S + 1"
        nums = f"({w1} − {dilation}·({kernel} − 1) − 1 + {_padding_text(pad)})/{stride} + 1"
    text = f"{lhs} = {nums} = {fmt(exact)}"
    if dropped:
        text += (f" → ceil {size + 1}, less the last window, which would start in the padding"
                 f" → {size}")
    elif exact != size:
        text += f" → {rounding} {size}"
    return Dim(size, exact, text, rounding, (w1, kernel, stride, pad, dilation))


def transposed(
    w1: int, kernel: int, stride: int, pad: int, dilation: int, output_padding: int,
    symbol: str = "W",
) -> Dim:
    """W2 = (W1 - 1)·S - 2P + D·(F - 1) + OP + 1 (PyTorch's nn.ConvTranspose*d)."""
    size = (w1 - 1) * stride - 2 * pad + dilation * (kernel - 1) + output_padding + 1
    text = (
        f"{symbol}2 = ({symbol}1 − 1)·S − 2P + D·(F − 1) + OP + 1 = "
        f"({w1} − 1)·{stride} − 2·{pad} + {dilation}·({kernel} − 1) + {output_padding} + 1 = {size:,}"
    )
    return Dim(size, Fraction(size), text, "floor")


def adaptive_windows(w1: int, w2: int) -> list[int]:
    """Window lengths of an adaptive pool: bin i spans [floor(i·W1/W2), ceil((i+1)·W1/W2))."""
    return [-(-(i + 1) * w1 // w2) - (i * w1 // w2) for i in range(w2)]


def require_positive(dim: Dim, w1: int, kernel: int, dilation: int, pad: tuple[int, int],
                     field: str, symbol: str = "W") -> None:
    """Raise a ShapeError with the worked formula when an output size is not positive."""
    if dim.size >= 1:
        return
    f_eff = dilation * (kernel - 1) + 1
    need = max(0, math.ceil((f_eff - w1) / 2))
    raise ShapeError(
        f"output size would be {dim.size}",
        field=field,
        formula=dim.formula,
        hint=(f"the input to this layer has {symbol}1 = {w1}; kernel_size {kernel}"
              + (f" with dilation {dilation}" if dilation != 1 else "")
              + f" needs padding >= {need} (it has {pad[0]})"),
    )


def divisible_inputs(w1: int, kernel: int, stride: int, pad: tuple[int, int], dilation: int,
                     span: int = 16) -> list[int]:
    """Input sizes near W1 for which (W1 + 2P - D(F-1) - 1)/S + 1 is a whole number."""
    f_eff = dilation * (kernel - 1) + 1
    found = [w for w in range(max(1, w1 - span), w1 + span + 1)
             if w + sum(pad) - f_eff >= 0 and (w + sum(pad) - f_eff) % stride == 0 and w != w1]
    return sorted(found, key=lambda w: (abs(w - w1), w))[:2]


def divisible_paddings(w1: int, kernel: int, stride: int, dilation: int, limit: int) -> list[int]:
    """Symmetric paddings up to `limit` for which the size formula divides exactly."""
    f_eff = dilation * (kernel - 1) + 1
    return [p for p in range(limit + 1) if w1 + 2 * p - f_eff >= 0 and (w1 + 2 * p - f_eff) % stride == 0]
