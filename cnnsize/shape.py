"""Output-size arithmetic, one function per formula, with exact fractions and worked formulas.

Source of the formulas: the shape notes of PyTorch's nn.Conv*d, nn.ConvTranspose*d, nn.MaxPool*d,
nn.AvgPool*d and nn.AdaptiveAvgPool*d docs; for the lecture form W2 = (W1 - F + 2P)/S + 1,
CS231n "Convolutional Networks". Here W1 is an input size, F the kernel size, P the padding on each
side, S the stride, D the dilation, OP the output padding.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .errors import ShapeError
from .record import record


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


@record
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


def floor_sum(n: int, m: int, a: int, b: int) -> int:
    """Σ_{i=0}^{n−1} ⌊(a·i + b)/m⌋ for n, a, b ≥ 0 and m ≥ 1, in O(log) steps (the floor-sum
    algorithm of the AtCoder Library)."""
    total = 0
    while True:
        if a >= m:
            total += (n - 1) * n // 2 * (a // m)
            a %= m
        if b >= m:
            total += n * (b // m)
            b %= m
        y_max = a * n + b
        if y_max < m:
            return total
        n, b = divmod(y_max, m)
        m, a = a, m


@record
class Bins:
    """The bins of an adaptive pool in one dim: bin i spans [⌊i·W1/W2⌋, ⌈(i+1)·W1/W2⌉)."""

    total: int     # Σ bin lengths (each output reads its bin: the connections per dim)
    shortest: int
    longest: int


def adaptive_bins(w1: int, w2: int) -> Bins:
    """Sum, shortest and longest of PyTorch's adaptive-pool bins, without listing them."""
    ends = floor_sum(w2, w2, w1, w1 + w2 - 1)   # Σ ⌈(i+1)·W1/W2⌉
    starts = floor_sum(w2, w2, w1, 0)           # Σ ⌊i·W1/W2⌋
    q, r = divmod(w1, w2)
    if r == 0:
        return Bins(ends - starts, q, q)
    # bin i is q + ⌈(i+1)r/W2⌉ − ⌊ir/W2⌋: q + 1, or q + 2 where ir mod W2 > W2 − r; the largest
    # ir mod W2 is W2 − gcd(r, W2)
    return Bins(ends - starts, q + 1, q + 2 if r > math.gcd(r, w2) else q + 1)


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


def divisible_paddings(w1: int, kernel: int, stride: int, dilation: int, limit: int,
                       most: int = 8) -> list[int]:
    """Symmetric paddings P ≤ `limit` (the first `most`) for which the size formula divides
    exactly: W1 + 2P − F_eff ≡ 0 (mod S), solved as a congruence, not searched."""
    f_eff = dilation * (kernel - 1) + 1
    c = (f_eff - w1) % stride              # 2P ≡ c (mod S)
    g = math.gcd(2, stride)
    if c % g:
        return []
    modulus = stride // g
    first = (c // g) * pow(2 // g, -1, modulus) % modulus if modulus > 1 else 0
    least = max(0, -(-(f_eff - w1) // 2))  # the output must have a size
    if first < least:
        first += -(-(least - first) // modulus) * modulus
    return list(range(first, limit + 1, modulus))[:most] if modulus else []
