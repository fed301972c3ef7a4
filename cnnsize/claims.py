"""Validate hand calculations: a table of claimed numbers against the computed report.

A claims file names a network and, per layer or for the totals, claimed quantities. Each claim
is checked; a wrong one gets the worked formula — the row's own `--explain` lines for that
quantity (cnnsize/explain.py), never written again here — and, when one fits, a diagnosis of
the likely mistake (biases left out, folded into the weights, one per layer or counted as MACs,
MACs vs FLOPs, forgotten input channels, weights vs connections, elements vs bytes, 224 vs 227,
stride or padding, the +1 of the size formula, a field without the strides, K = 1000 vs 1024,
a neighbour's value, a figure rounded the wrong way; two at once where both fit), each with a
short label (`Mistake`) that a gradebook can count. When the claims of one quantity
follow a counting convention consistently (biases counted for fully connected layers only, as
some lecture tables do), that is inferred per quantity, applied to that quantity's totals too,
and said once; a named convention (`pytorch`, `lecun1998`, ...) or one given by the caller fixes
it instead. A cell left blank (an empty YAML value, `?`) is listed, not checked. Pure: no torch,
no pandas.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from fractions import Fraction
from pathlib import Path
from typing import Any

from .analyze import analyze
from .conventions import DTYPE_BYTES, INPLACE_MODES, Conventions
from .errors import CnnsizeError, SpecError, SpecTypeError
from .files import read_text
from .layers import REGISTRY
from .layers.base import Cost, did_you_mean, is_int
from .report import LayerStats, Report
from .spec import Network, load, parse, parse_input, read_yaml

QUANTITIES = ("output_shape", "units", "weights", "biases", "params", "connections", "macs",
              "flops", "activation_bytes", "receptive_field")
ALIASES = {
    "output_shape": "output_shape", "output": "output_shape", "output shape": "output_shape",
    "shape": "output_shape", "output size": "output_shape", "size": "output_shape",
    "units": "units", "# units": "units", "neurons": "units", "# neurons": "units",
    "weights": "weights", "# weights": "weights", "biases": "biases", "# biases": "biases",
    "params": "params", "# params": "params", "parameters": "params", "# parameters": "params",
    "param": "params", "connections": "connections", "# connections": "connections",
    "macs": "macs", "mult-adds": "macs", "multiply-adds": "macs", "ops": "macs",
    "flops": "flops", "activation_bytes": "activation_bytes", "memory": "activation_bytes",
    "activation memory": "activation_bytes", "receptive_field": "receptive_field",
    "receptive field": "receptive_field", "rf": "receptive_field",
}
IGNORED_COLUMNS = ("type", "layer type", "kind", "notes", "note", "comment")
TOP_KEYS = ("spec", "input", "conventions", "layers", "totals", "title", "source", "points")
GLOBAL_FIELDS = ("global", "whole input", "the whole input", "whole image", "the whole image",
                 "all", "entire input")  # a receptive field that covers the whole input
BLANKS = ("?",)  # a cell to fill in (a worksheet's); an empty YAML value is blank too
TOTAL_ROWS = ("total", "totals")  # the name of a table's row of whole-network figures
BYTE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "b": 10**9,
               "ki": 2**10, "mi": 2**20, "gi": 2**30}
# A word after the multiplier names what is counted: 15.5 GFLOPs, 7.7 GMACs, 138M params, 4 bytes.
UNIT_WORDS = {"flops": "flops", "flop": "flops", "macs": "macs", "mac": "macs",
              "madds": "macs", "mult-adds": "macs", "parameters": "params", "params": "params",
              "param": "params", "bytes": "activation_bytes", "byte": "activation_bytes"}
_WORD_NAMES = {"flops": "FLOPs", "macs": "MACs", "params": "parameters",
               "activation_bytes": "bytes"}
_UNIT = r"[A-Za-z]+(?:[ -][A-Za-z]+)*"
_NUMBER = re.compile(r"^(?P<num>[0-9][0-9,_ ]*(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>" + _UNIT + r")?$")
# one token of a product or sum: a number with an optional unit (not a lone x: that multiplies)
_TOKEN = re.compile(r"\s*(?:(?P<num>[0-9][0-9,_]*(?:\.[0-9]+)?|\.[0-9]+)"
                    r"(?:\s*(?P<unit>(?![xX](?![A-Za-z]))[A-Za-z]+(?:-[A-Za-z]+)*))?"
                    r"|(?P<op>[-+*×·()xX]))")
_VALUE_HINT = ("write 117600, 117,600, 35K, ~60M, 60M ± 5%, 4096 × 1024, 15.5 GFLOPs, 96MB or "
               "24M * 4 bytes")


class Mistake(str, Enum):
    """The short name of a diagnosis: what a gradebook counts and sorts by."""

    BIASES_MISSING = "biases missing"
    BIASES_ADDED = "biases added"
    BIAS_INPUTS = "bias inputs counted as connections"
    FLOPS_FOR_MACS = "FLOPs written as MACs"
    MACS_FOR_FLOPS = "MACs written as FLOPs"
    NO_ELEMENTWISE = "per-element ops left out of FLOPs"
    INPUT_CHANNELS = "input channels forgotten"
    WEIGHTS_FOR_CONNECTIONS = "weights written as connections"
    CONNECTIONS_FOR_WEIGHTS = "connections written as weights"
    OTHER_INPUT = "another input size"
    NO_STRIDE = "stride not applied"
    NO_PADDING = "padding left out"
    SAME_PADDING = "'same' padding assumed"
    OFF_BY_ONE = "off by one (+ 1)"
    UNIT_BASE = "K = 1000 vs 1024"
    TIMES_1024 = "1024 for 1000"
    NEIGHBOUR = "a neighbouring layer's value"
    ROUNDING = "cut off, not rounded"
    OWN_ROWS = "total is not the sum of the rows"
    BIASES_IN_WEIGHTS = "biases counted in weights"
    ONE_BIAS = "one bias for the whole layer"
    BIAS_PER_UNIT = "a bias per unit"
    BIAS_IN_MACS = "biases counted in MACs"
    ELEMENTS_FOR_BYTES = "element count written as bytes"
    BYTES_FOR_ELEMENTS = "bytes written as element count"
    OTHER_DTYPE = "another bytes per element"
    NO_JUMP = "strides left out of the receptive field"
    OWN_KERNEL = "the layer's kernel as its field"
    SHARED_TWICE = "shared weights counted twice"
    BLANK = "left blank"


# ---------------------------------------------------------------- named conventions


@dataclass(frozen=True, slots=True)
class NamedConventions:
    """A counting convention an instructor can fix by name (`--convention NAME`)."""

    name: str
    conventions: Conventions
    what: str   # who counts this way, with an example


NAMED_CONVENTIONS = {c.name: c for c in (
    NamedConventions("pytorch", Conventions(),
                     "the sizes of PyTorch's tensors, cnnsize's defaults: biases counted in "
                     "params and FLOPs, connections without bias inputs, FLOPs = 2·MACs + "
                     "per-element ops (LeNet-5's C1: 156 params, 117,600 connections)"),
    NamedConventions("cs231n", Conventions(bias=False),
                     "CS231n's VGG-16 table: params are the weights alone ((3·3·3)·64 = 1,728), "
                     "no bias adds in FLOPs; memory in float32 with in-place ReLUs"),
    NamedConventions("lecun1998", Conventions(bias_connections=True),
                     "LeCun et al. 1998: biases counted in params, and each unit's bias input "
                     "counted as a connection (C1: 156 params, 122,304 connections)"),
    NamedConventions("fvcore", Conventions(flops_per_mac=1, elementwise_flops=False),
                     "fvcore's FlopCountAnalysis: one FLOP per multiply-add, bias adds and "
                     "activations not counted (FLOPs = MACs); params with biases"),
    NamedConventions("flop_counter", Conventions(elementwise_flops=False),
                     "torch.utils.flop_counter: FLOPs = 2·MACs and nothing else; params with "
                     "biases"),
)}
CONVENTION_FIELDS = ("bias", "bias_connections", "flops_per_mac", "elementwise_flops",
                     "inplace_activations", "dtype", "batch")


@dataclass(frozen=True, slots=True)
class FixedConventions:
    """Conventions fixed by whoever checks (an instructor): nothing is inferred."""

    label: str          # "pytorch", or the file they were read from
    conventions: Conventions


def fixed_conventions(value: str | os.PathLike[str] | Mapping[str, Any] | Conventions
                      | FixedConventions, field: str = "--convention") -> FixedConventions:
    """A convention NAME (see NAMED_CONVENTIONS), a YAML file of convention fields
    ({bias: false, flops_per_mac: 1}), a mapping of them, or a Conventions value."""
    if isinstance(value, FixedConventions):
        return value
    if isinstance(value, Conventions):
        return FixedConventions("given", value)
    if isinstance(value, Mapping):
        return FixedConventions(_mapping_label(value), _conventions(value, field))
    if not isinstance(value, (str, os.PathLike)):
        raise SpecTypeError(f"conventions are a name, a file or a mapping, not "
                            f"{type(value).__name__}", field=field)
    name = os.fspath(value)
    if name in NAMED_CONVENTIONS:
        return FixedConventions(name, NAMED_CONVENTIONS[name].conventions)
    if name.lower() in NAMED_CONVENTIONS:
        return FixedConventions(name.lower(), NAMED_CONVENTIONS[name.lower()].conventions)
    if os.path.isfile(name) or name.lower().endswith((".yaml", ".yml")):
        data = read_yaml(read_text(name, "conventions"), name)
        if not isinstance(data, Mapping):
            raise SpecError("a conventions file is a mapping of convention fields, e.g. "
                            "{bias: false}", source=name,
                            hint=f"the fields: {', '.join(CONVENTION_FIELDS)}")
        try:
            return FixedConventions(name, _conventions(data, None))
        except CnnsizeError as e:
            raise e.located(source=name) from None
    raise SpecError(f"unknown convention {name!r}", field=field,
                    hint=did_you_mean(name, list(NAMED_CONVENTIONS), "the named conventions")
                    + "; or a YAML file of convention fields ("
                    + ", ".join(CONVENTION_FIELDS) + ")")


def _mapping_label(given: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}"
                           for k, v in given.items()) + "}"


# ---------------------------------------------------------------- claimed values


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed value: exact or a closed interval, as written."""

    text: str
    low: Fraction | tuple[int, ...]
    high: Fraction | tuple[int, ...]
    approximate: bool = False
    unit: str = ""       # the multiplier as written (K, M, MB, MiB, ...; G of GFLOPs)
    mantissa: Fraction | None = None  # the number before the suffix
    step: Fraction | None = None  # a rounded figure: the precision it was rounded to
    suffix: str = ""     # what follows the number, as written (" GFLOPs", "M")

    def holds(self, value: int | tuple[int, ...] | None) -> bool:
        if value is None or self.low == ():  # () is a global field claimed: "global"
            return value is None and self.low == ()
        if isinstance(self.low, tuple):
            return value == self.low
        assert isinstance(self.high, Fraction) and not isinstance(value, tuple)
        return self.low <= value <= self.high

    def rescaled(self, factor: Fraction) -> Claim:
        assert isinstance(self.low, Fraction) and isinstance(self.high, Fraction)
        return dataclasses.replace(self, low=self.low * factor, high=self.high * factor)


def _shape_text(value: str) -> tuple[int, ...] | None:
    parts = re.split(r"\s*[x×X*,]\s*", value.strip().strip("[]()"))
    if len(parts) >= 2 and all(p.isdecimal() and p.isascii() for p in parts):
        return tuple(int(p) for p in parts)
    return None


def parse_claim(value: Any, quantity: str) -> Claim:
    """A claimed value from a claims file: 117600, "117,600", "35K", "~60M", "60M ± 5%",
    "4096 × 1024", "15.5 GFLOPs", "96MB", "24M * 4 bytes", [6, 28, 28] or "55x55x96"."""
    if isinstance(value, str) and len(value) > MAX_CELL:
        raise SpecError(f"a claim of {len(value):,} characters; the limit is {MAX_CELL:,}")
    try:
        return _parse_claim(value, quantity)
    except (ValueError, ArithmeticError, TypeError):  # a number Python will not read
        raise SpecError(f"cannot read {str(value)[:80]!r} as a number", hint=_VALUE_HINT) from None


def _parse_claim(value: Any, quantity: str) -> Claim:
    text = str(value)
    if quantity in ("output_shape", "receptive_field"):
        if isinstance(value, list) and value and all(is_int(v) for v in value):
            return Claim(text, tuple(value), tuple(value))
        if is_int(value):
            return Claim(text, (value,), (value,))
        if isinstance(value, str) and (shape := _shape_text(value)) is not None:
            return Claim(text, shape, shape)
        if isinstance(value, str) and value.strip().isdecimal() and value.strip().isascii():
            return Claim(text, (int(value),), (int(value),))
        if quantity == "receptive_field" and isinstance(value, str) and \
                value.strip().lower() in GLOBAL_FIELDS:
            return Claim(text, (), ())
        if quantity == "receptive_field":
            raise SpecError(f"expected a receptive field like 14, 14x14 or global, got {value!r}")
        raise SpecError(f"expected a shape like [6, 28, 28] or '55x55x96', got {value!r}")
    if isinstance(value, bool) or value is None:
        raise SpecError(f"expected a number, got {value!r}")
    if is_int(value):
        return Claim(text, Fraction(value), Fraction(value))
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SpecError(f"expected a number, got {value!r}", hint="a count is finite")
        exact = Fraction(str(value))
        return Claim(text, exact, exact)
    if not isinstance(value, str):
        raise SpecError(f"expected a number, got {value!r}")
    s = _without_approximation(value.strip().replace("\u2009", " ").replace("\u202f", " "))
    approximate = s != value.strip().replace("\u2009", " ").replace("\u202f", " ")
    tolerance = None
    m = re.split(r"\s*(?:±|\+/-|\+-)\s*", s)
    if len(m) == 2:
        s, tolerance = m[0], m[1]
    if _NUMBER.match(s.strip()) is None:  # a product or sum: 24M * 4 bytes, (11*11*3)*96
        low, high = _expression(s, quantity)
        center = (low + high) / 2
        if tolerance is not None:
            width = _tolerance(tolerance, center, quantity)
            return Claim(value, center - width, center + width, True)
        if approximate and low == high:
            return _approximately(value, center, "", None)
        return Claim(value, low, high, approximate or low != high)
    center, unit, mantissa, step = _number(s, quantity)
    number = _NUMBER.match(s.strip())
    suffix = s.strip()[len(number.group("num").rstrip()):] if number else ""
    if tolerance is not None:
        width = _tolerance(tolerance, center, quantity)
        return Claim(value, center - width, center + width, True, unit, mantissa, suffix=suffix)
    if step and (approximate or unit or "." in s):
        # A rounded figure: it stands for anything that rounds to it.
        half = step / 2
        return Claim(value, center - half, center + half, True, unit, mantissa, step, suffix)
    if approximate:  # "~60000": the last nonzero digit is the precision
        return _approximately(value, center, unit, mantissa, suffix)
    return Claim(value, center, center, False, unit, mantissa, suffix=suffix)


def _without_approximation(s: str) -> str:
    """The claim without a leading ~, ≈, about or approx."""
    for mark in ("~", "∼", "≈", "about ", "approx. ", "approx "):
        if s.lower().startswith(mark):
            s = s[len(mark):].strip()
    return s


def _approximately(text: str, center: Fraction, unit: str, mantissa: Fraction | None,
                   suffix: str = "") -> Claim:
    """"~60000": anything that rounds to it at its last nonzero digit."""
    digits = str(int(center)).rstrip("0")
    step = Fraction(10) ** (len(str(int(center))) - len(digits))
    return Claim(text, center - step / 2, center + step / 2, True, unit, mantissa, step, suffix)


def _tolerance(text: str, center: Fraction, quantity: str) -> Fraction:
    """The half-width of "± 5%" or "± 100" (in the claim's own units)."""
    if text.endswith("%"):
        return abs(center) * Fraction(text[:-1].strip()) / 100
    width, _, _, _ = _number(text, quantity)
    return width


def _unit(unit: str, quantity: str, written: str) -> tuple[int, str]:
    """(multiplier, canonical multiplier) of a unit: K, Mi, MB, KiB, GFLOPs, GMACs, M params,
    bytes. A word that names another quantity than the claim's is refused."""
    key = unit.replace(" ", "").lower()
    if quantity == "activation_bytes" and key in BYTE_UNITS:
        return BYTE_UNITS[key], unit
    for word in sorted(UNIT_WORDS, key=len, reverse=True):
        prefix = key[:-len(word)]
        if not key.endswith(word) or prefix not in COUNT_UNITS:
            continue
        meant = UNIT_WORDS[word]
        if meant != quantity:
            raise SpecError(f"{written!r} counts {_WORD_NAMES[meant]}, but the claim is about "
                            f"{quantity}",
                            hint=f"claim it as {meant}"
                                 + (" (FLOPs = 2·MACs)" if {meant, quantity} == {"flops", "macs"}
                                    else "")
                                 + f", or leave out the word {unit[len(unit) - len(word):]!r}")
        original = unit.replace(" ", "")[:len(prefix)]
        if meant == "activation_bytes":
            if prefix + "b" not in BYTE_UNITS:
                break
            return BYTE_UNITS[prefix + "b"], original + "B"
        return COUNT_UNITS[prefix], original
    if key in COUNT_UNITS and not (quantity == "activation_bytes" and key.endswith("b")):
        return COUNT_UNITS[key], unit
    if key in BYTE_UNITS:  # 12.8MB as units: bytes where a count belongs
        raise SpecError(f"{written!r} is in bytes, but the claim is about {quantity}",
                        hint="memory is claimed as memory (activation_bytes); a count of "
                             f"elements is written without the B: {written[:-1].strip()} "
                             "(bytes = elements × bytes per element)")
    raise SpecError(f"unknown unit {unit!r} in {written!r}",
                    hint="counts take K, M, G (1000) or Ki, Mi, Gi (1024), and may name what "
                         "they count (15.5 GFLOPs, 7.7 GMACs, 138M params); memory B, KB, MB "
                         "(1000) or KiB, MiB (1024), or bytes")


def _number(s: str, quantity: str) -> tuple[Fraction, str, Fraction | None, Fraction | None]:
    """(value, multiplier as written, mantissa, rounding step) of a number with an optional
    unit."""
    compact = s.strip()
    m = _NUMBER.match(compact)
    if m is None:
        raise SpecError(f"cannot read {s!r} as a number", hint=_VALUE_HINT)
    num = m.group("num").replace(",", "").replace("_", "").replace(" ", "")
    scale, unit = _unit(m.group("unit"), quantity, compact) if m.group("unit") else (1, "")
    mantissa = Fraction(num)
    decimals = len(num.split(".")[1]) if "." in num else 0
    step = scale * Fraction(1, 10**decimals) if (scale > 1 or decimals) else None
    if scale > 1 and not decimals:  # "35K": the last nonzero digit is the precision
        digits = num.rstrip("0") or "0"
        step = scale * Fraction(10) ** (len(num) - len(digits))
    return mantissa * scale, unit, mantissa, step


def _expression(s: str, quantity: str) -> tuple[Fraction, Fraction]:
    """The interval a product or sum of numbers stands for: "(11*11*3)*96" is exact,
    "24M * 4 bytes" is 23.5M·4 to 24.5M·4 (24M is a rounded figure). Operators: + - * × x ·
    and parentheses; at most one factor of a product is in bytes."""
    tokens: list[tuple[str, str]] = []
    pos, text = 0, s.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise SpecError(f"cannot read {s!r} as a number", hint=_VALUE_HINT)
        if m.group("num") is not None:
            tokens.append(("num", m.group("num") + (m.group("unit") or "")))
        else:
            tokens.append(("op", m.group("op")))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    if not any(kind == "op" and tok not in "()" for kind, tok in tokens):
        raise SpecError(f"cannot read {s!r} as a number", hint=_VALUE_HINT)
    i = 0

    def peek() -> str | None:
        return tokens[i][1] if i < len(tokens) and tokens[i][0] == "op" else None

    def factor() -> tuple[Fraction, Fraction, int]:
        nonlocal i
        if i >= len(tokens):
            raise SpecError(f"cannot read {s!r} as a number: it ends with an operator",
                            hint=_VALUE_HINT)
        kind, tok = tokens[i]
        i += 1
        if kind == "op" and tok == "(":
            low, high, dim = total()
            if peek() != ")":
                raise SpecError(f"cannot read {s!r} as a number: a '(' is not closed",
                                hint=_VALUE_HINT)
            i += 1
            return low, high, dim
        if kind != "num":
            raise SpecError(f"cannot read {s!r} as a number: {tok!r} where a number belongs",
                            hint=_VALUE_HINT)
        value, unit, _, step = _number(tok, quantity)
        dim = int(quantity == "activation_bytes" and unit.lower().endswith("b"))
        if step and (unit or "." in tok):
            return value - step / 2, value + step / 2, dim
        return value, value, dim

    def product() -> tuple[Fraction, Fraction, int]:
        nonlocal i
        low, high, dim = factor()
        while peek() in ("*", "×", "x", "X", "·"):
            i += 1
            f_low, f_high, f_dim = factor()
            low, high, dim = low * f_low, high * f_high, dim + f_dim
            if dim > 1:
                raise SpecError(f"{s!r} multiplies bytes by bytes",
                                hint="write the element count times the bytes per element: "
                                     "24M * 4 bytes")
        return low, high, dim

    def total() -> tuple[Fraction, Fraction, int]:
        nonlocal i
        low, high, dim = product()
        while peek() in ("+", "-"):
            sign = peek()
            i += 1
            t_low, t_high, t_dim = product()
            low, high = (low + t_low, high + t_high) if sign == "+" else (low - t_high, high - t_low)
            dim = max(dim, t_dim)
        return low, high, dim

    low, high, _ = total()
    if i != len(tokens):
        raise SpecError(f"cannot read {s!r} as a number: {tokens[i][1]!r} is left over",
                        hint=_VALUE_HINT)
    return low, high


# ---------------------------------------------------------------- results


@dataclass(frozen=True, slots=True)
class Verdict:
    """One claim checked: what was claimed, what is right, and why they differ."""

    layer: str
    quantity: str
    claimed: str
    computed: int | tuple[int, ...] | None
    ok: bool
    formula: tuple[str, ...] = ()
    diagnosis: str = ""
    note: str = ""
    mistake: Mistake | None = None   # the diagnosis's short name (BLANK: a cell left blank)
    rows: tuple[str, ...] = ()       # the rows claimed about, as the report names them (): a total

    @property
    def blank(self) -> bool:
        """A cell left blank: nothing claimed, nothing computed shown."""
        return self.mistake is Mistake.BLANK

    @property
    def key(self) -> tuple[tuple[str, ...], str]:
        """(rows, quantity), the same however the rows were spelt or ordered."""
        return tuple(sorted(self.rows)), self.quantity

    def to_dict(self) -> dict[str, Any]:
        computed = list(self.computed) if isinstance(self.computed, tuple) else self.computed
        return {"layer": self.layer, "quantity": self.quantity, "claimed": self.claimed,
                "computed": computed, "ok": self.ok, "formula": list(self.formula),
                "diagnosis": self.diagnosis,
                "mistake": self.mistake.value if self.mistake is not None else None,
                "note": self.note}


@dataclass(frozen=True, slots=True)
class CheckResult:
    network: str
    verdicts: tuple[Verdict, ...]   # the cells left blank too (Verdict.blank)
    conventions: tuple[str, ...]  # what was assumed or inferred, said once
    source: str = ""
    fixed: str = ""     # the label of conventions fixed by the caller or by name; "": none
    overridden: tuple[str, ...] = ()  # the file's keys that the caller's arguments replaced

    @property
    def claims(self) -> tuple[Verdict, ...]:
        """The verdicts of the cells filled in."""
        return tuple(v for v in self.verdicts if not v.blank)

    @property
    def blanks(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.blank)

    @property
    def ok(self) -> bool:
        """Every claim holds, and no cell is left blank."""
        return all(v.ok for v in self.verdicts)

    def summary(self) -> str:
        claims = self.claims
        wrong = sum(not v.ok for v in claims)
        n = len(claims)
        text = (f"{n} claim{'s' if n != 1 else ''} about {self.network}: "
                f"{n - wrong} ✓, {wrong} ✗")
        if self.blanks:
            b = len(self.blanks)
            text += f"; {b} cell{'s' if b != 1 else ''} left blank"
        return text

    def to_dict(self) -> dict[str, Any]:
        out = {"network": self.network, "ok": self.ok, "summary": self.summary(),
               "conventions": list(self.conventions),
               "claims": [v.to_dict() for v in self.claims]}
        if self.blanks:
            out["blank"] = [{"layer": v.layer, "quantity": v.quantity} for v in self.blanks]
        return out

    def render(self, fmt: str = "text") -> str:
        from .render.check import render_check

        text: str = render_check(self, fmt)
        return text


# ---------------------------------------------------------------- loading claims


@dataclass(frozen=True, slots=True)
class _Written:
    """One claim as written: where (for messages), about which row(s) (None: a total), the
    quantity as written (a key or a column header) and the value."""

    where: str          # "layers.C1", "layers entry 3 (C1)", "totals", "row 4 (C1)"
    layer: str | None
    key: str
    value: Any
    at: str             # for "claimed twice": "layers.C1.units", "row 4"


def load_claims(source: str | os.PathLike[str] | Mapping[str, Any],
                spec: str | None = None) -> tuple[dict[str, Any], str]:
    """A claims mapping from a YAML file, a CSV or Markdown table (with `spec`), or a dict.
    A table's rows become a `layers` list; its `total` row, if any, the `totals`."""
    data, name, written = _load(source, spec)
    if written is not None:
        layers = [{"layer": w.layer, ALIASES[w.key.lower()]: w.value}
                  for w in written if w.layer is not None]
        data["layers"] = layers
        data["totals"] = {ALIASES[w.key.lower()]: w.value for w in written if w.layer is None}
    return data, name


def _load(source: str | os.PathLike[str] | Mapping[str, Any],
          spec: str | None) -> tuple[dict[str, Any], str, list[_Written] | None]:
    """The claims file's top-level mapping, its name, and a table's claims (None for YAML)."""
    written: list[_Written] | None = None
    if isinstance(source, Mapping):
        data = dict(source)
        name = "<dict>"
    else:
        if not isinstance(source, (str, os.PathLike)):
            raise SpecTypeError(f"claims are a file name or a mapping, not {type(source).__name__}")
        name = os.fspath(source)
        path = Path(name)
        text = read_text(name, "claims")
        suffix = path.suffix.lower()
        if suffix == ".csv":
            lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
            try:
                rows = list(csv.reader(io.StringIO("\n".join(lines))))
            except csv.Error as e:
                raise SpecError(f"cannot read the CSV table: {e}", source=name,
                                hint=f"a cell holds at most {MAX_CELL:,} characters") from None
            data, written = {}, _table_claims(rows, name)
        elif suffix in (".md", ".markdown"):
            data, written = {}, _table_claims(_markdown_rows(text, name), name)
        else:
            data = read_yaml(text, name)
            if not isinstance(data, Mapping):
                raise SpecError("a claims file must be a mapping with 'spec' and 'layers' or "
                                "'totals'", source=name)
            data = dict(data)
    if spec is not None:
        data["spec"] = spec
    return data, name, written


def _markdown_rows(text: str, name: str) -> list[list[str]]:
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if all(re.fullmatch(r":?-{2,}:?", c) for c in cells if c):
            continue
        rows.append(cells)
    if not rows:
        raise SpecError("no Markdown table found (rows start with '|')", source=name)
    return rows


MAX_CELL = 1_000      # characters in one cell of a claims table
MAX_CLAIM_ROWS = 10_000
MAX_PROBLEMS = 20     # cells listed in one error; the rest are counted


def _table_claims(rows: list[list[str]], name: str) -> list[_Written]:
    """The claims of a table with a 'layer' column; a row named `total` holds the totals."""
    if not rows:
        raise SpecError("the table is empty", source=name)
    if len(rows) > MAX_CLAIM_ROWS:
        raise SpecError(f"the table has {len(rows):,} rows; the limit is {MAX_CLAIM_ROWS:,}",
                        source=name)
    problems, ragged = [], False
    for number, row in enumerate(rows, start=1):
        if any(len(c) > MAX_CELL for c in row):
            problems.append(f"row {number} has a cell of more than {MAX_CELL:,} characters")
        elif number > 1 and any(c.strip() for c in row) and len(row) != len(rows[0]):
            problems.append(f"row {number} has {len(row)} cells, the header {len(rows[0])}")
            ragged = True
    if problems:
        raise SpecError("cannot read the table: " + "; ".join(problems[:10])
                        + (f"; and {len(problems) - 10} more" if len(problems) > 10 else ""),
                        source=name, hint="every row needs one cell per column (an empty cell "
                                          "for a claim you do not make)" if ragged else
                        "shorten the cell (a note is for a few words)")
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    if "layer" not in lower:
        raise SpecError("the table needs a 'layer' column", source=name,
                        hint=f"its columns: {', '.join(lower)}")
    claimed: dict[str, str] = {}  # quantity → the column that holds it
    for h in lower:
        if h == "layer" or h in IGNORED_COLUMNS or not h:
            continue
        if h not in ALIASES:
            raise SpecError(f"unknown column {h!r}", source=name,
                            hint=did_you_mean(h, list(ALIASES), "known columns"))
        if ALIASES[h] in claimed:
            raise SpecError(f"the columns {claimed[ALIASES[h]]!r} and {h!r} both hold "
                            f"{ALIASES[h]}", source=name, hint="keep one of them")
        claimed[ALIASES[h]] = h
    layer_col = lower.index("layer")
    out: list[_Written] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        layer = row[layer_col].strip()
        total = layer.lower() in TOTAL_ROWS
        for h, cell in zip(header, row):
            if h.lower() in claimed.values() and cell.strip() not in ("", "-", "—"):
                out.append(_Written(f"row {number} ({layer})", None if total else layer, h,
                                    cell.strip(), f"row {number}"))
    return out


def _yaml_claims(data: Mapping[str, Any]) -> list[_Written]:
    """The claims of a YAML file (or dict): `layers` as a mapping or a list, and `totals`."""
    out: list[_Written] = []
    layer_claims = data.get("layers", {}) or {}
    entries: list[tuple[str, str, Any]] = []  # (where, layer, its claims)
    if isinstance(layer_claims, list):  # [{layer: C1, units: ...}, ...]
        for i, entry in enumerate(layer_claims, start=1):
            if not isinstance(entry, Mapping) or "layer" not in entry:
                raise SpecError("each entry of a 'layers' list needs a 'layer' key", field="layers")
            name = str(entry["layer"])
            entries.append((f"layers entry {i} ({name})", name,
                            {k: v for k, v in entry.items() if k != "layer"}))
    elif isinstance(layer_claims, Mapping):
        entries = [(f"layers.{name}", str(name), quantities)
                   for name, quantities in layer_claims.items()]
    else:
        raise SpecError("must map layer names to claimed quantities", field="layers")
    for where, name, quantities in entries:
        if not isinstance(quantities, Mapping):
            raise SpecError(f"claims for {name!r} must be a mapping of quantity to value",
                            field="layers")
        for key, value in quantities.items():
            at = f"{where}.{key}" if where.startswith("layers.") else where.split(" (")[0]
            out.append(_Written(where, name, str(key), value, at))
    totals = data.get("totals", {}) or {}
    if not isinstance(totals, Mapping):
        raise SpecError("must map quantities to claimed totals", field="totals")
    out += [_Written("totals", None, str(key), value, f"totals.{key}")
            for key, value in totals.items()]
    return out


# ---------------------------------------------------------------- checking


_FAMILY = {"conv": "conv", "linear": "linear"}
_FAMILY_LABEL = {"conv": "convolution layers", "linear": "fully connected layers",
                 "other": "other layers"}


def _family(row: LayerStats) -> str:
    cls = REGISTRY.get(row.type)
    return _FAMILY.get(cls.family, "other") if cls else "other"


def _value(row: LayerStats | None, quantity: str) -> int | tuple[int, ...] | None:
    if row is None:
        return None
    if quantity == "receptive_field":
        return row.receptive_field
    value: int | tuple[int, ...] = getattr(row, quantity)
    return value


BIAS_SENSITIVE = ("params", "biases", "connections", "flops")
# The quantities whose claims choose a convention; `biases` follows the choice for `params`
# (a claimed 0 alone is a mistake, not a convention).
INFERRED = ("params", "connections", "flops")
VARIANTS = ("given", "no bias", "bias inputs as connections")
_SAID = {
    "params": {"given": "biases counted", "no bias": "biases not counted"},
    "flops": {"given": "bias adds counted", "no bias": "bias adds not counted"},
    "connections": {"given": "bias inputs not counted",
                    "bias inputs as connections": "each unit's bias input counted as a "
                                                  "connection (LeCun et al. 1998)"},
}

Choice = dict[tuple[str, str], str]  # (inferred quantity, layer family) → variant


def _group(quantity: str) -> str:
    return "params" if quantity == "biases" else quantity


@dataclass
class _Context:
    network: Network
    conv: Conventions
    variants: dict[str, Report]           # name → report under an alternative convention
    choice: Choice = field(default_factory=dict)
    rows: dict[str, dict[str, LayerStats]] = field(default_factory=dict)  # variant → name → row
    claims: list[_Parsed] = field(default_factory=list)  # every claim filled in, for evidence
    other_inputs: dict[tuple[int, ...], Report | None] = field(default_factory=dict)
    others: dict[Conventions, Report] = field(default_factory=dict)  # see report()

    def __post_init__(self) -> None:
        self.rows = {v: {r.name: r for r in rep.layers} for v, rep in self.variants.items()}

    @property
    def base(self) -> Report:
        return self.variants["given"]

    def variant(self, quantity: str, row: LayerStats, choice: Choice | None = None) -> str:
        """The variant a row's `quantity` is counted in: its family's choice."""
        if quantity not in BIAS_SENSITIVE:
            return "given"
        return (self.choice if choice is None else choice).get(
            (_group(quantity), _family(row)), "given")

    def report(self, conventions: Conventions) -> Report:
        """The network analysed in other conventions (a variant's report where it is one)."""
        for report in self.variants.values():
            if report.conventions == conventions:
                return report
        if conventions not in self.others:
            self.others[conventions] = analyze(self.network, conventions=conventions)
        return self.others[conventions]

    def value(self, row: LayerStats, quantity: str, variant: str = "given"
              ) -> int | tuple[int, ...] | None:
        if row.type == "input":
            return _value(row, quantity)
        return _value(self.rows[variant][row.name], quantity)


ConventionsArg = str | os.PathLike[str] | Mapping[str, Any] | Conventions | FixedConventions


def check(claims: str | os.PathLike[str] | Mapping[str, Any],
          spec: str | Network | None = None, *,
          conventions: ConventionsArg | None = None) -> CheckResult:
    """Check every claim of a claims file (see docs/tutorial-check.md).

    `spec` replaces the file's network: a name or spec file, or a parsed Network (then the
    file's `input` is replaced too: the network is the caller's). `conventions` fixes the
    counting conventions, replacing the file's: a name (`pytorch`, `lecun1998`, ...), a YAML
    file of convention fields, a mapping or a Conventions value; nothing is inferred."""
    fixed = fixed_conventions(conventions) if conventions is not None else None
    data, source, written = _load(claims, spec if isinstance(spec, str) else None)
    try:
        return _check(data, source, written, fixed=fixed,
                      network=spec if isinstance(spec, Network) else None)
    except CnnsizeError as e:
        raise e.located(source=source) from None


@dataclass(frozen=True, slots=True)
class _Parsed:
    """A claim read: as written, its rows (empty: a total), its quantity, its value (a cell
    left blank has a placeholder claim that nothing reads)."""

    written: _Written
    rows: tuple[LayerStats, ...]
    quantity: str
    claim: Claim
    blank: bool = False

    @property
    def name(self) -> str:
        return self.written.layer if self.written.layer is not None else "total"


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and value.strip() in ("", *BLANKS))


def claims_network(data: Mapping[str, Any], source: str) -> Network:
    """The network a claims mapping names (`spec`, and `input` if given); `source` is the
    file it came from, against which a relative spec file is found."""
    if "spec" not in data:
        raise SpecError("the claims name no network: add 'spec: NAME_OR_FILE' (or --spec)",
                        field="spec")
    raw_spec = data["spec"]
    if isinstance(raw_spec, Mapping):
        network = parse(raw_spec, source=f"{source} (inline spec)")
    elif isinstance(raw_spec, str):
        base = Path(source).parent if source != "<dict>" else Path(".")
        candidate = base / raw_spec
        network = load(candidate if candidate.is_file() else raw_spec)
    else:
        raise SpecError("must be a zoo name, a spec file or an inline spec", field="spec")
    if "input" in data:
        network = network.with_input(parse_input(data["input"]))
    return network


def _check(data: dict[str, Any], source: str, written: list[_Written] | None = None, *,
           fixed: FixedConventions | None = None, network: Network | None = None
           ) -> CheckResult:
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown key {key!r} in the claims file", field=str(key),
                            hint=did_you_mean(str(key), list(TOP_KEYS), "valid keys"))
    overridden: list[str] = []
    if network is None:
        network = claims_network(data, source)
    else:
        overridden += [k for k in ("spec", "input") if k in data]
    given = data.get("conventions", {}) or {}
    if isinstance(given, str):           # a named convention: fixed, as --convention NAME is
        named = fixed_conventions(given, "conventions")
        if fixed is None:
            fixed = named
        elif named.conventions != fixed.conventions:
            overridden.append("conventions")
        given = {}
    elif not isinstance(given, Mapping):
        raise SpecError("must be a mapping, e.g. {bias: false}, or a name: "
                        + ", ".join(NAMED_CONVENTIONS), field="conventions")
    stated = _conventions(given)
    if fixed is not None:
        if given and stated != fixed.conventions:
            overridden.append("conventions")
        conv, explicit_bias = fixed.conventions, True
    else:
        conv, explicit_bias = stated, "bias" in given or "bias_connections" in given
    variants = {"given": analyze(network, conventions=conv)}
    if not explicit_bias:
        variants["no bias"] = analyze(network, conventions=dataclasses.replace(conv, bias=False))
        variants["bias inputs as connections"] = analyze(
            network, conventions=dataclasses.replace(conv, bias_connections=True))
    ctx = _Context(network, conv, variants)

    if written is None:
        written = _yaml_claims(data)
    if not written:
        raise SpecError("there is nothing to check: give 'layers' or 'totals'", field="layers")
    parsed = _parse_all(ctx, written)
    filled = [p for p in parsed if not p.blank]

    notes = _infer_conventions(ctx, filled)
    ctx.claims = filled
    verdicts = [_blank(p) if p.blank else _judge_layer(ctx, p) if p.rows
                else _judge_total(ctx, p, filled) for p in parsed]
    if fixed is not None:
        missing = sum(v.mistake is Mistake.BIASES_MISSING for v in verdicts)
        if missing:
            notes.append(f"biases missing: {missing} of your claims hold without biases; the "
                         f"conventions here ({fixed.label}) count them")
        if "conventions" in overridden:
            notes.append(f"the file's own conventions are replaced by {fixed.label}")
        notes.append(f"conventions ({fixed.label}, fixed: nothing inferred): {conv.describe()}")
    else:
        notes.append(f"{'other conventions' if ctx.choice else 'conventions'}: "
                     f"{ctx.base.conventions.describe()}")
    if data.get("title"):
        notes.insert(0, str(data["title"]))
    return CheckResult(network.name, tuple(verdicts), tuple(notes), source,
                       fixed.label if fixed is not None else "", tuple(overridden))


def _blank(p: _Parsed) -> Verdict:
    return Verdict(p.name, p.quantity, "", None, False, mistake=Mistake.BLANK,
                   rows=tuple(r.name for r in p.rows))


_PLACEHOLDER = Claim("", Fraction(0), Fraction(0))  # the claim of a cell left blank


def _parse_all(ctx: _Context, written: list[_Written]) -> list[_Parsed]:
    """Every claim read, or one error listing every claim that cannot be (with its place)."""
    problems: list[CnnsizeError] = []
    parsed: list[_Parsed] = []
    rows_of: dict[tuple[str, str], tuple[LayerStats, ...] | None] = {}
    first: dict[tuple[tuple[str, ...], str], _Written] = {}
    for w in written:
        try:
            if w.layer is not None and (w.where, w.layer) not in rows_of:
                rows_of[w.where, w.layer] = None
                rows_of[w.where, w.layer] = tuple(_rows(ctx.base, w.layer, w.where))
            rows = rows_of[w.where, w.layer] if w.layer is not None else ()
            if rows is None:
                continue  # its layer is unknown: said once, for its first cell
            quantity = _quantity(w.key, w.where)
            if not rows and quantity == "output_shape":
                raise SpecError("totals have no output shape", path=w.where, field=w.key)
            blank = _is_blank(w.value)
            try:
                claim = _PLACEHOLDER if blank else parse_claim(w.value, quantity)
            except SpecError as e:
                e.path, e.field = w.where, w.key
                raise e.located() from None
        except CnnsizeError as e:
            problems.append(e)
            continue
        key = (tuple(sorted(r.name for r in rows)), quantity)
        if key in first:
            what = f"{w.layer}'s {quantity}" if rows else f"the total {quantity}"
            both = f"at {first[key].at} and at {w.at}"
            for kind, plural in (("row ", "rows"), ("layers entry ", "layers entries")):
                if first[key].at.startswith(kind) and w.at.startswith(kind):  # in rows 2 and 3
                    both = f"in {plural} {first[key].at[len(kind):]} and {w.at[len(kind):]}"
            problems.append(SpecError(f"{what} is claimed twice, {both}",
                                      hint="one claim per layer and quantity: keep the one you "
                                           "mean (a sum of layers is written C1 + C3)"))
            continue
        first[key] = w
        parsed.append(_Parsed(w, rows, quantity, claim, blank))
    if len(problems) == 1:
        raise problems[0]
    if problems:
        lines = [": ".join(x for x in (p.path, p.field, p.message) if x)
                 for p in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            lines.append(f"and {len(problems) - MAX_PROBLEMS} more")
        hints = list(dict.fromkeys(p.hint for p in problems[:MAX_PROBLEMS] if p.hint))
        raise SpecError(f"{len(problems)} problems in the claims; nothing was checked",
                        detail="\n  ".join(lines), hint="\n  hint: ".join(hints) or None)
    return parsed


def _conventions(given: Mapping[str, Any], field: str | None = "conventions") -> Conventions:
    allowed = [f.name for f in dataclasses.fields(Conventions)]
    for key, value in given.items():
        if key not in allowed:
            raise SpecError(f"unknown convention {key!r}", field=field,
                            hint=did_you_mean(str(key), allowed, "conventions"))
        if key in ("bias", "bias_connections", "elementwise_flops") and not isinstance(value, bool):
            raise SpecError(f"{key} must be true or false", field=field)
    if given.get("dtype", "float32") not in list(DTYPE_BYTES):
        raise SpecError(f"unknown dtype {given.get('dtype')!r}", field=field,
                        hint=f"one of {', '.join(DTYPE_BYTES)}")
    if given.get("inplace_activations", "all") not in list(INPLACE_MODES):
        raise SpecError("inplace_activations must be all, spec or none", field=field)
    try:
        return Conventions(**dict(given))
    except CnnsizeError as e:
        raise e.located(path=field) from None


def _quantity(key: str, where: str) -> str:
    q = ALIASES.get(key.strip().lower())
    if q is None:
        raise SpecError(f"unknown quantity {key!r}", path=where, field=key,
                        hint=did_you_mean(key, list(QUANTITIES), "quantities"))
    return q


def _rows(report: Report, name: str, where: str | None = None) -> list[LayerStats]:
    """The rows a claim names: one row, or several joined with '+'."""
    where = where or f"layers.{name}"
    names = [n.strip() for n in name.split("+")]
    by_name = {r.name: r for r in report.layers}
    by_name["input"] = _input_row(report)
    by_lower = {r.name.lower(): r for r in report.layers}
    rows: list[LayerStats] = []
    for n in names:
        row = by_name.get(n) or by_lower.get(n.lower())
        if row is None:
            hint = did_you_mean(n, list(by_name), "its layers")
            if n.lower() in TOTAL_ROWS:
                hint = "whole-network figures go under 'totals:', e.g. totals: {params: 61706}"
            raise SpecError(f"{report.name} has no layer {n!r}", path=where, hint=hint)
        if row in rows:
            raise SpecError(f"{row.name} is named twice in {name!r}", path=where,
                            hint="a sum names each layer once")
        rows.append(row)
    return rows


def _input_row(report: Report) -> LayerStats:
    """The report's `input` row as a pseudo-layer, so that claims about it can be checked."""
    t = report.totals
    units = t.input_bytes // (report.conventions.batch * report.conventions.bytes_per_element)
    return LayerStats("input", "input", report.input_shape, units, 0, 0, 0, 0, 0, 0, 0,
                      t.input_bytes, (1,) * (len(report.input_shape) - 1), None, 0, False)


def _computed(ctx: _Context, rows: list[LayerStats] | tuple[LayerStats, ...], quantity: str,
              report: Report | None = None, choice: Choice | None = None
              ) -> int | tuple[int, ...] | None:
    """The value for one row (or the sum over several), in the variant chosen for its family
    (or in `report`)."""
    values = []
    for row in rows:
        if report is not None:
            values.append(_value(row if row.type == "input" else report[row.name], quantity))
        else:
            values.append(ctx.value(row, quantity, ctx.variant(quantity, row, choice)))
    if len(values) == 1:
        return values[0]
    if any(not isinstance(v, int) for v in values):
        return None
    return sum(v for v in values if isinstance(v, int))


def _total_rows(ctx: _Context, quantity: str, choice: Choice | None = None) -> list[LayerStats]:
    """The rows a total of `quantity` sums (units: the neuron layers; memory: the input too)."""
    rows = [r for r in ctx.base.layers if ctx.value(r, quantity, ctx.variant(quantity, r, choice))
            and (quantity != "units" or r.neurons)]
    if quantity == "activation_bytes":
        rows.insert(0, _input_row(ctx.base))
    return rows


def _total(ctx: _Context, quantity: str, choice: Choice | None = None
           ) -> int | tuple[int, ...] | None:
    """The network's total of `quantity`, each row counted in its family's chosen variant."""
    value: int | tuple[int, ...] | None = getattr(ctx.base.totals, quantity)
    if quantity not in BIAS_SENSITIVE or not isinstance(value, int):
        return value
    for row in ctx.base.layers:
        variant = ctx.variant(quantity, row, choice)
        if variant != "given":
            there, here = ctx.value(row, quantity, variant), _value(row, quantity)
            assert isinstance(there, int) and isinstance(here, int)
            value += there - here
    return value


def _infer_conventions(ctx: _Context, parsed: list[_Parsed]) -> list[str]:
    """Per quantity (params, connections, FLOPs) and per layer family, the bias convention
    under which that quantity's row claims all hold; said once, and applied to its totals.

    A family whose claims hold in more than one variant, or that has none, takes the one that
    makes sums across families hold, then the one that gives every family the same variant
    (a total then counts the unclaimed rows as the claimed ones are counted), then the fewest
    changes from the stated conventions. Totals alone infer nothing."""
    if len(ctx.variants) == 1:  # the conventions were stated
        return []
    parts: list[str] = []
    for group in INFERRED:
        claims = [p for p in parsed if p.quantity == group and isinstance(p.claim.low, Fraction)]
        if not claims:
            continue
        families = sorted({_family(r) for r in ctx.base.layers
                           if any(ctx.value(r, group, v) for v in ctx.variants)})
        if not families:
            continue

        members = {f: [r for r in ctx.base.layers if _family(r) == f] for f in families}
        # (family, variant) → the first variant that counts that family's rows the same way
        canon = {(f, v): next(u for u in VARIANTS if all(
            ctx.value(r, group, u) == ctx.value(r, group, v) for r in members[f]))
            for f in families for v in VARIANTS}

        single: dict[str, list[_Parsed]] = {}
        joint: list[_Parsed] = []  # sums over rows of several families
        for p in claims:
            fams = {_family(r) for r in p.rows if r.type != "input"} & set(families)
            if len(fams) == 1:
                single.setdefault(next(iter(fams)), []).append(p)
            elif len(fams) > 1:
                joint.append(p)
        if not single and not joint:
            continue  # a total alone infers nothing: one number matches some variant by chance
        options: list[list[str]] = []
        for f in families:
            own = sorted({canon[f, v] for v in VARIANTS}, key=VARIANTS.index)
            holding = [v for v in own if all(
                p.claim.holds(_computed(ctx, p.rows, group, choice={(group, f): v}))
                for p in single.get(f, []))]
            options.append(holding if f not in single else holding or ["given"])

        def key(assignment: tuple[str, ...], group: str = group, families: list[str] = families,
                joint: list[_Parsed] = joint, canon: dict[tuple[str, str], str] = canon
                ) -> tuple[int, int, int]:
            """Sums across families that miss, then not one variant for all, then changes."""
            choice = {(group, f): v for f, v in zip(families, assignment)}
            failing = sum(not p.claim.holds(_computed(ctx, p.rows, group, choice=choice))
                          for p in joint)
            uniform = any(all(canon[f, u] == v for f, v in zip(families, assignment))
                          for u in VARIANTS)
            return failing, int(not uniform), sum(v != "given" for v in assignment)

        best = min(itertools.product(*options), key=key)
        for f, v in zip(families, best):
            if v != "given":
                ctx.choice[group, f] = v
        if any(v != "given" for v in best):
            parts.append(_convention_text(group, families, best, canon, parsed))
    if not parts:
        return []
    return ["your numbers follow one convention for each quantity, checked that way — "
            + "; ".join(parts)]


def _convention_text(group: str, families: list[str], assignment: tuple[str, ...],
                     canon: Mapping[tuple[str, str], str], parsed: list[_Parsed]) -> str:
    """"params: biases not counted", or per family where they differ."""
    said = _SAID[group]
    quantities = " and ".join(q for q in ("params", "biases", "connections", "flops")
                              if _group(q) == group and any(p.quantity == q for p in parsed))
    for u in VARIANTS:
        if all(canon[f, u] == v for f, v in zip(families, assignment)) and u in said:
            return f"{quantities}: {said[u]}"
    by_variant: dict[str, list[str]] = {}
    for f, v in zip(families, assignment):
        by_variant.setdefault(v, []).append(_FAMILY_LABEL[f])
    return f"{quantities}: " + ", ".join(
        f"{said.get(v, v)} in {' and '.join(labels)}" for v, labels in by_variant.items())


def _judge_layer(ctx: _Context, p: _Parsed) -> Verdict:
    rows, quantity, claim = list(p.rows), p.quantity, p.claim
    computed = _computed(ctx, rows, quantity)
    note = ""
    ok = claim.holds(computed)
    if not ok and quantity == "output_shape" and isinstance(computed, tuple) and \
            isinstance(claim.low, tuple) and len(computed) >= 2 and \
            claim.low == (*computed[1:], computed[0]):
        ok, note = True, "written channels last (H×W×C); cnnsize writes C×H×W"
    if not ok and quantity == "output_shape":
        note = _same_values(claim, computed)
        ok = bool(note)
    if not ok and quantity == "receptive_field" and computed is None and \
            isinstance(claim.low, tuple) and claim.low:
        spatial = ctx.network.input_shape[1:]
        sizes = claim.low * len(spatial) if len(claim.low) == 1 else claim.low
        if spatial and len(sizes) == len(spatial) and all(c >= n for c, n in zip(sizes, spatial)):
            ok, note = True, (f"global: each output reads the whole {_fmt(spatial)} input, "
                              "which your field covers")
    if not ok and quantity == "receptive_field" and isinstance(computed, tuple) and \
            isinstance(claim.low, tuple) and len(claim.low) == 1 and set(computed) == set(claim.low):
        ok = True
    names = tuple(r.name for r in rows)
    if ok:
        return Verdict(p.name, quantity, claim.text, computed, True, note=note, rows=names)
    formula = _formula(ctx, rows, quantity)
    mistake, diagnosis = _diagnose(ctx, rows, quantity, claim, computed)
    return Verdict(p.name, quantity, claim.text, computed, False, formula, diagnosis,
                   mistake=mistake, rows=names)


def _without_ones(shape: tuple[int, ...]) -> tuple[int, ...]:
    while len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    return shape


def _same_values(claim: Claim, computed: Any) -> str:
    """A shape that differs from the output only by trailing 1s: a global pool's 512 for
    512×1×1 (or 1×1×512, channels last), a linear layer's 1000×1×1 for 1000. The same values:
    accepted, with a note ("" where it is not that)."""
    if not isinstance(computed, tuple) or not isinstance(claim.low, tuple):
        return ""
    written = claim.low
    candidates = [written] + ([(written[-1], *written[:-1])] if len(written) > 1 else [])
    for candidate in candidates:
        if candidate != computed and _without_ones(candidate) == _without_ones(computed):
            ones = "×1" * abs(len(computed) - len(candidate))
            return (f"the same {math.prod(computed):,} values as {_fmt(computed)}, written "
                    + (f"without its {ones}" if len(candidate) < len(computed)
                       else f"with {ones} more"))
    return ""


def _judge_total(ctx: _Context, p: _Parsed, parsed: list[_Parsed]) -> Verdict:
    quantity, claim = p.quantity, p.claim
    computed = _total(ctx, quantity)
    if claim.holds(computed):
        return Verdict("total", quantity, claim.text, computed, True)
    mistake, diagnosis = _diagnose(ctx, None, quantity, claim, computed)
    if mistake is None:
        mistake, diagnosis = _own_rows(ctx, p, parsed) or (None, "")
    return Verdict("total", quantity, claim.text, computed, False, _total_formula(ctx, quantity),
                   diagnosis, mistake=mistake)


def _total_formula(ctx: _Context, quantity: str, most: int = 6) -> tuple[str, ...]:
    """"total units = sum over 7 layers = 4,704 + 1,176 + … = 8,094": the first `most` terms."""
    computed = _total(ctx, quantity)
    rows = _total_rows(ctx, quantity)
    terms = [_fmt(_computed(ctx, [r], quantity)) for r in rows[:most]]
    over = (f"the input and {len(rows) - 1} layers" if quantity == "activation_bytes"
            else f"{len(rows)} layers")
    formula = [f"total {quantity} = sum over {over} = {' + '.join(terms)}"
               f"{' + …' if len(rows) > most else ''} = {_fmt(computed)}"]
    totals = ctx.base.totals
    if quantity == "activation_bytes":
        formula.append(f"(input {totals.input_bytes:,} B included; {ctx.base.conventions.dtype}, "
                       f"batch {ctx.base.conventions.batch})")
    return tuple(formula)


# ---------------------------------------------------------------- answer keys


ANSWER_TERMS = 24  # terms of a total's sum an answer key writes out


@dataclass(frozen=True, slots=True)
class Answer:
    """The right value of one cell, with its worked formula (a worksheet's key)."""

    layer: str                          # a row of the report, or "total"
    quantity: str
    value: int | tuple[int, ...] | None
    formula: tuple[str, ...]


def answers(network: Network, conventions: Conventions,
            cells: list[tuple[str | None, str]]) -> list[Answer]:
    """The value and formula of each (row name or None for a total, quantity) in `cells`,
    counted in `conventions`: the lines `cnnsize report --explain` prints, as `check` shows
    them under a ✗."""
    ctx = _Context(network, conventions, {"given": analyze(network, conventions=conventions)})
    out = []
    for layer, quantity in cells:
        quantity = _quantity(quantity, "answers")
        if layer is None:
            if quantity == "output_shape":
                raise SpecError("totals have no output shape", field=quantity)
            out.append(Answer("total", quantity, _total(ctx, quantity),
                              _total_formula(ctx, quantity, most=ANSWER_TERMS)))
            continue
        rows = _rows(ctx.base, layer)
        out.append(Answer(layer, quantity, _computed(ctx, rows, quantity),
                          _formula(ctx, rows, quantity)))
    return out


MAX_UNCLAIMED = 2  # rows a total's "your own rows add up to" may fill in with computed values


def _own_rows(ctx: _Context, total: _Parsed, parsed: list[_Parsed]) -> Found | None:
    """"Your own rows add up to …": only when the claimed rows are every row that the total
    sums (or all but one or two, which are named and filled in with their computed values)."""
    quantity, claim = total.quantity, total.claim
    summed = _total_rows(ctx, quantity)
    names = {r.name for r in summed}
    covered: set[str] = set()
    low = high = Fraction(0)
    for p in parsed:
        if p.quantity != quantity or not p.rows or not isinstance(p.claim.low, Fraction):
            continue
        inside = {r.name for r in p.rows if r.name in names}
        if not inside:
            continue  # a row the total does not sum (an activation's units, the input's)
        if len(inside) != len(p.rows) or inside & covered:
            return None  # a sum that mixes rows in and out of the total, or a row claimed twice
        assert isinstance(p.claim.high, Fraction)
        covered |= inside
        low, high = low + p.claim.low, high + p.claim.high
    missing = [r for r in summed if r.name not in covered]
    if len(covered) < 2 or len(missing) > min(MAX_UNCLAIMED, len(covered) - 1):
        return None
    extra = sum(v for r in missing if isinstance(v := _computed(ctx, [r], quantity), int))
    assert isinstance(claim.low, Fraction) and isinstance(claim.high, Fraction)
    if claim.low <= high + extra and low + extra <= claim.high:
        return None  # the total is the sum of the rows (as rounded): a row is what is wrong
    written = int((low + high) / 2)
    if not missing:
        return (Mistake.OWN_ROWS,
                f"your own rows for {quantity} add up to {_fmt(written)}, not to this total")
    filled = " and ".join(f"{r.name} ({_fmt(_computed(ctx, [r], quantity))})" for r in missing)
    return (Mistake.OWN_ROWS,
            f"your own rows for {quantity} add up to {_fmt(written)}; with {filled}, which you "
            f"did not claim, {_fmt(written + extra)} — not this total")


def _fmt(value: Any) -> str:
    if value is None:
        return "global"  # a receptive field that covers the whole input
    if isinstance(value, tuple):
        return "×".join(map(str, value))
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


# What each quantity's explain lines state, by the name a line starts with ("weights = …",
# "receptive field H = …", "receptive field: none …"): the lines `cnnsize report --explain`
# prints (cnnsize/explain.py and the kinds' formulas), picked, never written again here.
_STATES = {
    "units": ("units",), "weights": ("weights", "centres (fixed, buffers)"),
    "biases": ("biases",), "params": ("weights", "biases", "params"),
    "connections": ("connections",), "macs": ("MACs",),
    "flops": ("MACs", "per-element FLOPs", "FLOPs"), "activation_bytes": ("memory",),
    "receptive_field": ("receptive field", "jump"),
}
_SHAPE_HEAD = re.compile(r"^(?:output_size )?[A-Z]2$|^output$|^C2$|^channels$|^dim -?\d+"
                         r"|^(?:sum|difference|product|quotient) of \d+ inputs$")
_CALLS_AGAIN = "calls the module of "
_NAMES = {"macs": "MACs", "flops": "FLOPs", "activation_bytes": "memory"}
FIELD_PATH = 3  # earlier layers whose field lines a receptive field's formula shows


def _statements(line: str) -> list[list[str]]:
    """The names each statement of an explain line gives its value: 'connections = MACs =
    N_in·N_out = 400·120 = 48,000' → [['connections', 'MACs', 'N_in·N_out', '400·120']];
    statements are split at '; ' outside parentheses, 'name: …' is one name."""
    parts, depth, begin = [], 0, 0
    for i, c in enumerate(line):
        depth += {"(": 1, ")": -1}.get(c, 0)
        if depth == 0 and line.startswith("; ", i):
            parts.append(line[begin:i])
            begin = i + 2
    parts.append(line[begin:])
    out = []
    for part in parts:
        colon, equals = part.find(": "), part.find(" = ")
        if colon >= 0 and (equals < 0 or colon < equals):
            out.append([part[:colon]])
        else:
            out.append(part.split(" = ")[:-1] if equals >= 0 else [part])
    return out


def _states(line: str, quantity: str) -> bool:
    """Whether an explain line states `quantity` (the first name of one of its statements;
    a line that names MACs second, 'connections = MACs = …', states MACs too)."""
    for names in _statements(line):
        head = names[0]
        if quantity == "output_shape":
            if _SHAPE_HEAD.match(head):
                return True
            continue
        if quantity in ("params", "weights", "biases") and head.startswith(_CALLS_AGAIN):
            return True
        wanted = _STATES.get(quantity, ())
        if any(head == w or head.startswith(w + " ") for w in wanted):
            return True
        if quantity in ("macs", "flops") and names[1:2] == ["MACs"]:
            return True
    return False


def quantity_lines(explain: tuple[str, ...] | list[str], quantity: str) -> tuple[str, ...]:
    """The lines of a row's `--explain` that work out `quantity`, in their order; for MACs and
    FLOPs also the connections line that a `… = connections = N` line refers to."""
    picked = [i for i, line in enumerate(explain) if _states(line, quantity)]
    if quantity in ("macs", "flops") and any(
            "connections" in names[1:2] for i in picked for names in _statements(explain[i])):
        first = next((i for i, line in enumerate(explain)
                      if _statements(line)[0][0] == "connections"), None)
        if first is not None and first not in picked:
            picked = sorted([first, *picked])
    return tuple(explain[i] for i in picked)


def _input_lines(ctx: _Context, row: LayerStats, quantity: str) -> tuple[str, ...]:
    """The input pseudo-row (which `--explain` does not list): its shape, units and memory."""
    conv = ctx.base.conventions
    shape = row.output_shape
    if quantity == "output_shape":
        return (f"input = {_fmt(shape)} (the network's input, per example)",)
    if quantity == "units":
        return (f"units = {'·'.join(map(str, shape))} = {row.units:,}",)
    if quantity == "activation_bytes":
        return (f"memory = units·bytes/element·batch = {row.units:,}·{conv.bytes_per_element}·"
                f"{conv.batch} = {row.activation_bytes:,} B",)
    return ()


def _field_path(ctx: _Context, variant: str, row: LayerStats) -> list[LayerStats]:
    """The rows before `row` on the path that sets its receptive field (at a merge, the input
    with the largest field), in order: each one that changes the field or the jump."""
    rows = ctx.rows[variant]
    chain: list[LayerStats] = []
    current, seen = row, {row.name}
    while True:
        inputs = [rows[n] for n in current.inputs if n in rows and n not in seen]
        inputs = [r for r in inputs if r.receptive_field]
        if not inputs:
            break
        current = max(inputs, key=lambda r: sum(r.receptive_field or ()))
        seen.add(current.name)
        chain.append(current)
    chain.reverse()
    path, before = [], None
    for r in chain:
        now = (r.receptive_field, r.jump)
        if now != before and (before is not None or any(f != 1 for f in r.receptive_field or ())
                              or any(j != 1 for j in r.jump or ())):
            path.append(r)
        before = now
    return path


def _formula(ctx: _Context, rows: list[LayerStats], quantity: str) -> tuple[str, ...]:
    """Each row's `--explain` lines for `quantity` (counted as the claims are), named where
    there are several rows, and their sum; a receptive field also shows the earlier layers
    that set it."""
    lines: list[str] = []
    for base_row in rows:
        variant = ctx.variant(quantity, base_row)
        row = base_row if base_row.type == "input" else ctx.rows[variant][base_row.name]
        own = (_input_lines(ctx, row, quantity) if row.type == "input"
               else quantity_lines(row.explain, quantity))
        if not own and _value(row, quantity) == 0:  # nothing to work out: say why it is 0
            own = (f"{_NAMES.get(quantity, quantity)} = 0 (a {row.type} has none)",)
        if quantity == "receptive_field" and len(rows) == 1 and row.type != "input" \
                and row.receptive_field:
            path = _field_path(ctx, variant, row)
            if len(path) > FIELD_PATH:
                lines.append(f"({len(path) - FIELD_PATH} earlier layers that set the field "
                             "not shown: cnnsize report --explain lists them)")
            lines += [f"{r.name}: {line}" for r in path[-FIELD_PATH:]
                      for line in quantity_lines(r.explain, "receptive_field")]
        lines += [f"{row.name}: {line}" if len(rows) > 1 else line for line in own]
    if len(rows) > 1:
        lines.append(f"sum = {' + '.join(_fmt(_computed(ctx, [r], quantity)) for r in rows)}"
                     f" = {_fmt(_computed(ctx, rows, quantity))}")
    return tuple(lines)


# ---------------------------------------------------------------- diagnoses


Found = tuple[Mistake, str]  # a diagnosis: its short name and what it says
Diagnosis = Callable[[_Context, list[LayerStats] | None, str, Claim, Any], Found | None]


def _with_bias_toggled(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                       claim: Claim, computed: Any) -> Found | None:
    if quantity not in BIAS_SENSITIVE:
        return None
    conv = ctx.base.conventions
    other = ctx.report(dataclasses.replace(conv, bias=not conv.bias))
    value = _computed(ctx, rows, quantity, other) if rows else getattr(other.totals, quantity)
    if claim.holds(value):
        return (Mistake.BIASES_MISSING if conv.bias else Mistake.BIASES_ADDED,
                f"this is the value {'without' if conv.bias else 'with'} biases "
                f"({_fmt(value)}): biases {'left out' if conv.bias else 'added'}")
    lecun = ctx.report(dataclasses.replace(conv, bias_connections=True))
    value = _computed(ctx, rows, quantity, lecun) if rows else getattr(lecun.totals, quantity)
    if quantity == "connections" and claim.holds(value):
        return (Mistake.BIAS_INPUTS, f"this counts each unit's bias input as a connection "
                                     f"({_fmt(value)}), as LeCun et al. 1998 do")
    return None


def _macs_vs_flops(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                   claim: Claim, computed: Any) -> Found | None:
    if quantity not in ("macs", "flops") or not isinstance(computed, int):
        return None
    macs = _computed(ctx, rows, "macs") if rows else ctx.base.totals.macs
    if not isinstance(macs, int):
        return None
    if quantity == "macs" and claim.holds(2 * macs):
        return (Mistake.FLOPS_FOR_MACS,
                f"this is 2·MACs = FLOPs ({_fmt(2 * macs)}): one MAC is one multiply and one add")
    if quantity == "flops" and claim.holds(macs):
        return Mistake.MACS_FOR_FLOPS, f"this is the MAC count ({_fmt(macs)}); FLOPs = 2·MACs"
    if quantity == "flops" and claim.holds(2 * macs):
        return (Mistake.NO_ELEMENTWISE,
                f"this is 2·MACs ({_fmt(2 * macs)}) without the per-element ops (bias adds, "
                "activations, pooling) that cnnsize adds; if that is how you count, say so in "
                "a YAML claims file: conventions: {elementwise_flops: false}")
    return None


def _input_channels(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                    claim: Claim, computed: Any) -> Found | None:
    if not rows or len(rows) != 1 or quantity not in ("weights", "params", "connections", "macs"):
        return None
    row = rows[0]
    if row.input_shape is None or _family(row) != "conv" or not isinstance(computed, int):
        return None
    c_in = row.input_shape[0] // dict(row.args).get("groups", 1)
    if (c_in > 1 and claim.holds(computed // c_in)) or (
            quantity == "params" and claim.holds(row.weights // c_in + row.biases)):
        return (Mistake.INPUT_CHANNELS,
                f"the input channels were left out: each filter spans C_in = {c_in} channels")
    return None


def _swapped_input(ctx: _Context) -> tuple[tuple[int, ...], Report | None] | None:
    """The input of the other common size (224 ↔ 227), and the network analysed at it (None
    where it does not work out there)."""
    spatial = ctx.network.input_shape[1:]
    swaps = {224: 227, 227: 224}
    if not spatial or any(s not in swaps for s in spatial):
        return None
    shape = (ctx.network.input_shape[0], *(swaps[s] for s in spatial))
    if shape not in ctx.other_inputs:
        try:
            ctx.other_inputs[shape] = analyze(ctx.network, conventions=ctx.base.conventions,
                                              input_shape=shape)
        except CnnsizeError:
            ctx.other_inputs[shape] = None
    return shape, ctx.other_inputs[shape]


def _holds_shape(claim: Claim, value: Any) -> bool:
    """A claim holds `value`, a shape also written channels last."""
    if isinstance(value, tuple) and isinstance(claim.low, tuple) and len(value) >= 2 \
            and claim.low == (*value[1:], value[0]):
        return True
    return claim.holds(value)


def _other_input(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                 claim: Claim, computed: Any) -> Found | None:
    swapped = _swapped_input(ctx)
    if swapped is None:
        return None
    shape, other = swapped
    if other is None:
        return None
    value = _computed(ctx, rows, quantity, other) if rows else getattr(other.totals, quantity)
    if value != computed and _holds_shape(claim, value):
        value = claim.low if isinstance(value, tuple) else value  # as written: 55×55×96
        return (Mistake.OTHER_INPUT,
                f"this is the value for a {shape[1]}×{shape[1]} input ({_fmt(value)}); the network "
                f"here takes {ctx.network.input_shape[1]}×{ctx.network.input_shape[1]}")
    return None


def _input_evidence(ctx: _Context, rows: list[LayerStats] | None, quantity: str
                    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The student's other claims that fit another input size and not this one (support for
    'another input'), and those right here that would be wrong there (against it)."""
    swapped = _swapped_input(ctx)
    if swapped is None or swapped[1] is None:
        return [], []
    other = swapped[1]
    support: list[tuple[str, str]] = []
    against: list[tuple[str, str]] = []
    for p in ctx.claims:
        if not p.rows or (p.quantity == quantity and list(p.rows) == list(rows or ())):
            continue
        here = _computed(ctx, p.rows, p.quantity)
        there = _computed(ctx, p.rows, p.quantity, other)
        if here == there:
            continue  # a claim the input size does not change says nothing about it
        fits_here, fits_there = _holds_shape(p.claim, here), _holds_shape(p.claim, there)
        label = (p.name, p.quantity)
        if fits_there and not fits_here:
            support.append(label)
        elif fits_here and not fits_there:
            against.append(label)
    return support, against


def _size_rule(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
               claim: Claim, computed: Any) -> Found | None:
    """Stride or padding misapplied, or the +1 forgotten, in one layer's output size."""
    if not rows or len(rows) != 1 or quantity not in ("output_shape", "units"):
        return None
    row = rows[0]
    node_kind = _kind_at(ctx.network, row.name)
    if node_kind is None or row.input_shape is None:
        return None
    names = {f.name for f in dataclasses.fields(node_kind)}
    trials: list[tuple[Mistake, str, dict[str, Any]]] = []
    if "stride" in names:
        trials.append((Mistake.NO_STRIDE, "the stride was not applied (stride 1)",
                       {"stride": (1,) * node_kind.ndim}))
    if "padding" in names and not isinstance(node_kind.padding, str):
        kernel = getattr(node_kind, "kernel_size", None)
        trials.append((Mistake.NO_PADDING, "the padding was left out",
                       {"padding": (0,) * node_kind.ndim}))
        if kernel:
            trials.append((Mistake.SAME_PADDING, "'same' padding was assumed",
                           {"padding": tuple(k // 2 for k in kernel)}))
    for mistake, message, change in trials:
        try:
            alt = dataclasses.replace(node_kind, **change).analyze(row.input_shapes)
        except (CnnsizeError, TypeError, ValueError):
            continue
        value = alt.output_shape if quantity == "output_shape" else alt.units
        if claim.holds(value) or (quantity == "output_shape" and isinstance(claim.low, tuple)
                                  and claim.low == (*value[1:], value[0])):
            return mistake, f"{message}: that gives {_fmt(value)}"
    if quantity == "output_shape" and isinstance(computed, tuple) and isinstance(claim.low, tuple):
        claimed = claim.low
        for candidate in (claimed, (claimed[-1], *claimed[:-1])):
            if len(candidate) == len(computed) and candidate[0] == computed[0] and all(
                    abs(a - b) == 1 for a, b in zip(candidate[1:], computed[1:])):
                if all(a < b for a, b in zip(candidate[1:], computed[1:])):
                    return (Mistake.OFF_BY_ONE, "off by one: the + 1 of the size formula "
                                                "(W1 − F + 2P)/S + 1 left out")
                return (Mistake.OFF_BY_ONE, "off by one: the size formula is (W1 − F + 2P)/S "
                                            "+ 1 — check the + 1 and the floor")
    return None


_SHARED = ("a weight is shared by every output position of its channel; a connection is "
           "counted at each position")


def _weights_or_connections(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                            claim: Claim, computed: Any) -> Found | None:
    """The weight count written as connections (or MACs), or the connections as weights; of a
    row, a sum of rows or the network."""
    if not isinstance(computed, int):
        return None
    swaps = {"connections": ("weights", "params"), "macs": ("weights", "params"),
             "weights": ("connections",), "params": ("connections",)}
    for other in swaps.get(quantity, ()):
        value = _computed(ctx, rows, other) if rows else _total(ctx, other)
        if not (isinstance(value, int) and value and value != computed and claim.holds(value)):
            continue
        if quantity in ("connections", "macs"):
            return (Mistake.WEIGHTS_FOR_CONNECTIONS,
                    f"this is the number of {other} ({_fmt(value)}), not of {quantity}: "
                    + _SHARED)
        if computed == 0 and rows:
            return (Mistake.CONNECTIONS_FOR_WEIGHTS,
                    f"this is the number of connections ({_fmt(value)}): "
                    f"{' and '.join(r.name for r in rows)} "
                    f"{'has' if len(rows) == 1 else 'have'} no {quantity}; a pool compares or "
                    "averages the inputs of its window")
        return (Mistake.CONNECTIONS_FOR_WEIGHTS,
                f"this is the number of connections ({_fmt(value)}), not of {quantity}: "
                + _SHARED + ", a weight once")
    return None


def _shared_twice(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                  claim: Claim, computed: Any) -> Found | None:
    """A row that calls another's module again, claimed with that module's parameters."""
    if not rows or len(rows) != 1 or quantity not in ("weights", "biases", "params"):
        return None
    row = rows[0]
    if row.shares is None:
        return None
    owner = ctx.rows["given"].get(row.shares)
    value = ctx.value(owner, quantity, ctx.variant(quantity, owner)) if owner else None
    if isinstance(value, int) and value and claim.holds(value):
        return (Mistake.SHARED_TWICE,
                f"{row.name} calls the module of {row.shares} again: its {value:,} {quantity} are "
                f"{row.shares}'s, counted there once")
    return None


def _cost(row: LayerStats) -> Cost | None:
    """A row's raw per-example costs (before any convention), from its kind."""
    if row.kind is None or row.type == "input":
        return None
    try:
        cost: Cost = row.kind.analyze(row.input_shapes)
    except (CnnsizeError, TypeError, ValueError):
        return None
    return cost


def _bias_slips(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                claim: Claim, computed: Any) -> Found | None:
    """The biases folded into the weights (156 = 150 + 6), one bias for a whole layer (151), a
    bias per unit instead of per channel, or bias adds counted as MACs."""
    if quantity not in ("weights", "params", "biases", "macs", "flops") or \
            not isinstance(computed, int):
        return None
    members = rows if rows else ctx.base.layers
    batch = ctx.base.conventions.batch
    weights = biases = layers = units = macs = adds = 0
    for row in members:
        cost = _cost(row)
        if cost is None:
            continue
        macs += row.macs
        adds += cost.bias_adds * (1 if row.per_pass else batch)  # per_pass: once per forward
        if row.shares is None:
            weights += row.weights
            biases += cost.biases
            layers += bool(cost.biases)
            units += row.units if cost.biases else 0
    if not biases:
        return None
    one = len(members) == 1
    per = ("one per output unit" if one and _family(members[0]) == "linear" else
           "one per output channel" if one else "one per output channel or unit")
    layer = "the whole layer" if one else "each layer"
    if quantity == "weights" and claim.holds(weights + biases):
        return (Mistake.BIASES_IN_WEIGHTS,
                f"this is weights + biases ({weights:,} + {biases:,} = {weights + biases:,}), the "
                f"params; weights counts the {weights:,} weights alone")
    counted = biases if quantity == "biases" else weights + biases
    if quantity in ("params", "biases") and computed == counted:
        base = 0 if quantity == "biases" else weights

        def sum_text(extra: int) -> str:
            return "" if quantity == "biases" else f" ({weights:,} + {extra:,} = {weights + extra:,})"

        if layers != biases and claim.holds(base + layers):
            return (Mistake.ONE_BIAS,
                    f"this counts one bias for {layer}{sum_text(layers)}; there is {per}: "
                    f"{biases:,} biases")
        if units != biases and claim.holds(base + units):
            return (Mistake.BIAS_PER_UNIT,
                    f"this counts a bias for every output unit{sum_text(units)}; a convolution "
                    f"shares one bias per output channel across the positions: {biases:,} "
                    "biases")
    if quantity == "macs" and adds and claim.holds(macs + adds):
        return (Mistake.BIAS_IN_MACS,
                f"this counts each output's bias add as a MAC ({macs:,} + {adds:,} = "
                f"{macs + adds:,}); a bias add is no multiply: FLOPs count it, MACs do not")
    if quantity == "macs" and claim.holds(macs + biases):
        return (Mistake.BIAS_IN_MACS,
                f"this adds the {biases:,} biases to the MACs ({macs:,} + {biases:,} = "
                f"{macs + biases:,}); a bias is no multiply: its adds, one per output "
                f"({adds:,}), are counted in FLOPs")
    conv = ctx.base.conventions
    if quantity == "flops" and adds and conv.flops_per_mac == 2 and conv.elementwise_flops \
            and claim.holds(computed + adds):
        return (Mistake.BIAS_IN_MACS,
                f"this counts each bias add as a MAC, 2 FLOPs (2·({macs:,} + {adds:,}) = "
                f"{2 * (macs + adds):,}); a bias add is one FLOP: 2·{macs:,} + {adds:,}")
    return None


def _elements_or_bytes(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                       claim: Claim, computed: Any) -> Found | None:
    """An element count claimed as memory (CS231n's "memory: 224·224·64 = 3.2M"), or memory at
    another number of bytes per element."""
    from .render import human_bytes

    if not isinstance(computed, int) or not computed:
        return None
    conv = ctx.base.conventions
    size, dtype = conv.bytes_per_element, conv.dtype
    if quantity == "activation_bytes":
        elements = computed // size
        if claim.holds(elements):
            return (Mistake.ELEMENTS_FOR_BYTES,
                    f"this is the element count ({elements:,}); memory is in bytes: ×{size} B "
                    f"per {dtype} = {computed:,} B ({human_bytes(computed, si=True)})")
        count = sum(row.units * (1 if row.per_pass else conv.batch)  # as totals.units: neurons
                    for row in ctx.base.layers if row.neurons)
        if rows is None and claim.holds(count):
            return (Mistake.ELEMENTS_FOR_BYTES,
                    f"this is the layers' element count ({count:,} units, without the input); "
                    f"memory is in bytes, ×{size} B per {dtype}, and includes the input: "
                    f"{computed:,} B ({human_bytes(computed, si=True)})")
        for other, name in ((2, "float16"), (8, "float64")):
            if other != size and claim.holds(elements * other):
                return (Mistake.OTHER_DTYPE,
                        f"this is the memory at {other} B per element ({name}: {elements:,}·"
                        f"{other} = {elements * other:,} B); the conventions here count {dtype}, "
                        f"{size} B per element")
    return None


def _bytes_for_elements(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                        claim: Claim, computed: Any) -> Found | None:
    """Bytes claimed as an element count (after _neighbour: a 2×2 pool's 4·units is also the
    layer before's units)."""
    if quantity != "units" or not isinstance(computed, int) or not computed:
        return None
    conv = ctx.base.conventions
    memory = computed * conv.bytes_per_element
    if claim.holds(memory):
        return (Mistake.BYTES_FOR_ELEMENTS,
                f"this is the memory in bytes ({computed:,}·{conv.bytes_per_element} B per "
                f"{conv.dtype} = {memory:,} B); units counts the output's elements: "
                f"{computed:,}")
    return None


def _field_slips(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                 claim: Claim, computed: Any) -> Found | None:
    """A receptive field added up without the jumps (1 + Σ(F − 1), strides left out), or the
    layer's own kernel given as its field."""
    if quantity != "receptive_field" or not rows or len(rows) != 1 or \
            not isinstance(computed, tuple) or not computed or not isinstance(claim.low, tuple):
        return None
    row = rows[0]
    windows = []
    for r in [*_field_path(ctx, "given", row), row]:
        cost = _cost(r)
        if cost is None or not isinstance(cost.rf, tuple):
            continue
        if any(not isinstance(w.stride, int) for w in cost.rf):
            return None  # a transposed convolution or an upsampling: no simple sum
        windows.append(cost.rf)
    if not windows or any(len(w) != len(computed) for w in windows):
        return None

    def fits(value: tuple[int, ...]) -> bool:
        assert isinstance(claim.low, tuple)
        return claim.low == value or (len(claim.low) == 1 and set(value) == set(claim.low))

    sums = tuple(1 + sum(w[d].kernel - 1 for w in windows) for d in range(len(computed)))
    if sums != computed and fits(sums):
        terms = " + ".join(str(w[0].kernel - 1) for w in windows)
        total = str(sums[0]) if len(set(sums)) == 1 else _fmt(sums)
        return (Mistake.NO_JUMP,
                f"this adds up the kernels without the strides (1 + {terms} = {total}): each "
                "F − 1 counts steps of j_in input pixels, the product of the strides before it")
    own = cost.rf if (cost := _cost(row)) is not None and isinstance(cost.rf, tuple) else None
    if own is not None and len(windows) > 1:
        kernel = tuple(w.kernel for w in own)
        if kernel != computed and fits(kernel):
            return (Mistake.OWN_KERNEL,
                    f"this is {row.name}'s own kernel ({_fmt(kernel)}): the receptive field is "
                    "measured in input pixels, through every layer before it")
    return None


def _unit_base(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
               claim: Claim, computed: Any) -> Found | None:
    if not isinstance(computed, int) or not isinstance(claim.low, Fraction):
        return None
    swaps = {"k": "ki", "m": "mi", "g": "gi", "ki": "k", "mi": "m", "gi": "g", "kb": "kib",
             "mb": "mib", "gb": "gib", "kib": "kb", "mib": "mb", "gib": "gb"}
    unit = claim.unit.lower()
    if unit in swaps:
        table = BYTE_UNITS if unit.endswith("b") else COUNT_UNITS
        other = swaps[unit]
        if claim.rescaled(Fraction(table[other], table[unit])).holds(computed):
            value = float(Fraction(computed) / table[other])
            return (Mistake.UNIT_BASE,
                    f"{claim.text} fits if its {claim.unit} meant {_UNIT_NAMES[other]} "
                    f"({_fmt(computed)} = {value:.4g} {_UNIT_NAMES[other]}): "
                    f"{_UNIT_NAMES[unit]} = {table[unit]:,}, {_UNIT_NAMES[other]} = {table[other]:,}")
    ratio = Fraction(1024, 1000)
    if not claim.approximate and claim.rescaled(1 / ratio).holds(computed):
        return (Mistake.TIMES_1024,
                f"{claim.text} is 1.024× the right value: 1024 appears where 1000 belongs "
                "(K = 1024 vs 1000, or 1024 classes for 1000)")
    return None


_UNIT_NAMES = {"k": "K", "m": "M", "g": "G", "ki": "Ki", "mi": "Mi", "gi": "Gi", "kb": "kB",
               "mb": "MB", "gb": "GB", "kib": "KiB", "mib": "MiB", "gib": "GiB"}


def _neighbour(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
               claim: Claim, computed: Any) -> Found | None:
    if not rows or len(rows) != 1:
        return None
    layers = [r for r in ctx.base.layers if r.neurons or r is rows[0]]
    if rows[0] not in layers:
        return None
    i = layers.index(rows[0])
    for j in (i - 1, i + 1):
        if 0 <= j < len(layers):
            value = _computed(ctx, [layers[j]], quantity)
            if value != computed and claim.holds(value):
                return (Mistake.NEIGHBOUR, f"this is the value of the neighbouring layer "
                                           f"{layers[j].name} ({_fmt(value)})")
    return None


def _rounding(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
              claim: Claim, computed: Any) -> Found | None:
    """A rounded figure that misses by less than one step: cut off instead of rounded."""
    if not isinstance(computed, int) or claim.step is None or claim.mantissa is None:
        return None
    assert isinstance(claim.low, Fraction) and isinstance(claim.high, Fraction)
    center, step = (claim.low + claim.high) / 2, claim.step
    if abs(computed - center) > step * 3 / 2 or center <= 0:
        return None
    scale = center / claim.mantissa
    written = _without_approximation(claim.text.strip())
    suffix = claim.suffix

    def at(value: Fraction, precision: Fraction) -> str:
        """value in the claim's units, rounded half up to `precision` (a power of ten)."""
        places = max(0, -round(math.log10(precision)))
        rounded = math.floor(value / precision + Fraction(1, 2)) * precision
        return f"{Decimal(rounded.numerator) / Decimal(rounded.denominator):,.{places}f}"

    rounds_to = at(Fraction(computed) / scale, step / scale)
    finer = step / 10
    while not claim_holds(f"{at(Fraction(computed) / scale, finer / scale)}{suffix}", quantity,
                          computed) and finer > 1:
        finer /= 10
    better = f"{at(Fraction(computed) / scale, finer / scale)}{suffix}"
    percent = max(1, math.ceil(abs(computed - center) * 100 / center))
    core = written.split("±")[0].strip()
    return (Mistake.ROUNDING,
            f"{computed:,} rounds to {rounds_to}{suffix}, not {core}: a rounded figure stands "
            f"for what rounds to it ({at(claim.low / scale, step / scale / 10)}{suffix} to "
            f"{at(claim.high / scale, step / scale / 10)}{suffix}); write {better}, or "
            f"{core} ± {percent}%")


def claim_holds(text: str, quantity: str, value: int) -> bool:
    try:
        return parse_claim(text, quantity).holds(value)
    except CnnsizeError:
        return False


# In order: the first that explains a claim is said (see _diagnose for two that both do).
DIAGNOSES: tuple[Diagnosis, ...] = (
    _shared_twice, _with_bias_toggled, _macs_vs_flops, _bias_slips, _elements_or_bytes,
    _input_channels, _weights_or_connections, _other_input, _size_rule, _field_slips,
    _unit_base, _neighbour, _bytes_for_elements, _rounding)


def _diagnose(ctx: _Context, rows: list[LayerStats] | None, quantity: str, claim: Claim,
              computed: Any) -> tuple[Mistake | None, str]:
    """The first diagnosis that explains the claim; where another input size does and a later
    one does too (a forgotten + 1 gives pool2 of a 227 AlexNet the 224 value), both."""
    for i, diagnosis in enumerate(DIAGNOSES):
        found = diagnosis(ctx, rows, quantity, claim, computed)
        if not found:
            continue
        if diagnosis is _other_input:
            rest = next((f for later in DIAGNOSES[i + 1:]
                         if (f := later(ctx, rows, quantity, claim, computed))), None)
            if rest is not None:
                return _either(ctx, rows, quantity, found, rest)
        return found
    return None, ""


def _claims_text(claims: list[tuple[str, str]], most: int = 4) -> str:
    """"conv1 and pool1 output_shape, conv2 units": (row, quantity) pairs, by quantity."""
    by_quantity: dict[str, list[str]] = {}
    for name, quantity in claims[:most]:
        by_quantity.setdefault(quantity, []).append(name)
    parts = [f"{', '.join(names[:-1])} and {names[-1]}" if len(names) > 1 else names[0]
             for names in by_quantity.values()]
    text = ", ".join(f"{p} {q}" for p, q in zip(parts, by_quantity))
    return text + (f" and {len(claims) - most} more" if len(claims) > most else "")


def _either(ctx: _Context, rows: list[LayerStats] | None, quantity: str, other_input: Found,
            rest: Found) -> Found:
    """Another input size and another slip both give the claimed value: the input alone where
    the student's other claims fit it too; both otherwise, the slip first where the claims
    that hold here rule the input out."""
    support, against = _input_evidence(ctx, rows, quantity)
    if support and not against:
        return other_input
    if against:
        size = ctx.network.input_shape[1]
        shown = _claims_text(against)
        return (rest[0], f"{rest[1]}; or {other_input[1].split(';')[0]}, but your {shown} "
                         f"{'is' if len(against) == 1 else 'are'} right for {size}×{size}")
    return other_input[0], f"two slips give this value: {other_input[1]}; or {rest[1]}"


def _kind_at(network: Network, path: str) -> Any:
    op = network.op(path)
    return op.kind if op is not None else None


__all__ = ["NAMED_CONVENTIONS", "QUANTITIES", "Answer", "CheckResult", "Claim", "FixedConventions",
           "Mistake", "NamedConventions", "Verdict", "answers", "check", "fixed_conventions",
           "load_claims", "parse_claim"]
