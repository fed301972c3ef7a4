"""Validate hand calculations: a table of claimed numbers against the computed report.

A claims file names a network and, per layer or for the totals, claimed quantities. Each claim
is checked; a wrong one gets the worked formula and, when one fits, a diagnosis of the likely
mistake (biases, MACs vs FLOPs, forgotten input channels, 224 vs 227, stride or padding, the
+1 of the size formula, K = 1000 vs 1024, a neighbour's value). When the claims follow a
counting convention consistently (biases counted for fully connected layers only, as some
lecture tables do), that is inferred and said once. Pure: no torch, no pandas.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from .analyze import analyze
from .conventions import DTYPE_BYTES, INPLACE_MODES, Conventions
from .errors import CnnsizeError, SpecError, SpecTypeError
from .expr import evaluate
from .files import read_text
from .layers import REGISTRY
from .layers.base import did_you_mean, is_int
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
TOP_KEYS = ("spec", "input", "conventions", "layers", "totals", "title", "source")
BYTE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
              "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
COUNT_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "b": 10**9,
               "ki": 2**10, "mi": 2**20, "gi": 2**30}
_NUMBER = re.compile(r"^(?P<num>[0-9][0-9,_ ]*(?:\.[0-9]+)?|\.[0-9]+)\s*(?P<unit>[a-zA-Z]*)$")


# ---------------------------------------------------------------- claimed values


@dataclass(frozen=True, slots=True)
class Claim:
    """One claimed value: exact or a closed interval, as written."""

    text: str
    low: Fraction | tuple[int, ...]
    high: Fraction | tuple[int, ...]
    approximate: bool = False
    unit: str = ""       # the suffix as written (K, M, MB, MiB, ...)
    mantissa: Fraction | None = None  # the number before the suffix

    def holds(self, value: int | tuple[int, ...] | None) -> bool:
        if value is None:
            return False
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
    "4096 × 1024", "96MB", [6, 28, 28] or "55x55x96"."""
    if isinstance(value, str) and len(value) > MAX_CELL:
        raise SpecError(f"a claim of {len(value):,} characters; the limit is {MAX_CELL:,}")
    try:
        return _parse_claim(value, quantity)
    except (ValueError, ArithmeticError, TypeError):  # a number Python will not read
        raise SpecError(f"cannot read {str(value)[:80]!r} as a number",
                        hint="write 117600, 117,600, 35K, ~60M, 60M ± 5%, 4096 × 1024 or 96MB"
                        ) from None


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
    s = value.strip().replace("\u2009", " ").replace("\u202f", " ")
    approximate = False
    for mark in ("~", "∼", "≈", "about ", "approx. ", "approx "):
        if s.lower().startswith(mark):
            s, approximate = s[len(mark):].strip(), True
    tolerance = None
    m = re.split(r"\s*(?:±|\+/-|\+-)\s*", s)
    if len(m) == 2:
        s, tolerance = m[0], m[1]
    center, unit, mantissa, step = _number(s, quantity)
    if tolerance is not None:
        if tolerance.endswith("%"):
            width = center * Fraction(tolerance[:-1].strip()) / 100
        else:
            width, _, _, _ = _number(tolerance, quantity)
        return Claim(value, center - width, center + width, True, unit, mantissa)
    if step and (approximate or unit or "." in s):
        # A rounded figure: it stands for anything that rounds to it.
        half = step / 2
        return Claim(value, center - half, center + half, True, unit, mantissa)
    if approximate:  # "~60000": the last nonzero digit is the precision
        digits = str(int(center)).rstrip("0")
        unit_step = Fraction(10) ** (len(str(int(center))) - len(digits))
        return Claim(value, center - unit_step / 2, center + unit_step / 2, True, unit, mantissa)
    return Claim(value, center, center, False, unit, mantissa)


def _number(s: str, quantity: str) -> tuple[Fraction, str, Fraction | None, Fraction | None]:
    """(value, unit suffix, mantissa, rounding step) of a number with an optional unit."""
    compact = s.strip()
    m = _NUMBER.match(compact)
    if m is None:
        if re.fullmatch(r"[0-9\s.,()+*×x·-]+", compact) and re.search(r"[*×x·+]", compact):
            expr = re.sub(r"[×x·]", "*", compact.replace(",", ""))
            result = evaluate(expr, {})
            if isinstance(result, int):
                return Fraction(result), "", None, None
        raise SpecError(f"cannot read {s!r} as a number",
                        hint="write 117600, 117,600, 35K, ~60M, 60M ± 5%, 4096 × 1024 or 96MB")
    num = m.group("num").replace(",", "").replace("_", "").replace(" ", "")
    unit = m.group("unit")
    units = BYTE_UNITS if quantity == "activation_bytes" and unit.lower().endswith("b") \
        else COUNT_UNITS
    key = unit.lower()
    if key not in units:
        raise SpecError(f"unknown unit {unit!r} in {s!r}",
                        hint="counts take K, M, G (1000) or Ki, Mi, Gi (1024); memory B, KB, MB "
                             "(1000) or KiB, MiB (1024)")
    mantissa = Fraction(num)
    decimals = len(num.split(".")[1]) if "." in num else 0
    step = units[key] * Fraction(1, 10**decimals) if (unit or decimals) else None
    if unit and not decimals:  # "35K": the last nonzero digit is the precision
        digits = num.rstrip("0") or "0"
        step = units[key] * Fraction(10) ** (len(num) - len(digits))
    return mantissa * units[key], unit, mantissa, step


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

    def to_dict(self) -> dict[str, Any]:
        computed = list(self.computed) if isinstance(self.computed, tuple) else self.computed
        return {"layer": self.layer, "quantity": self.quantity, "claimed": self.claimed,
                "computed": computed, "ok": self.ok, "formula": list(self.formula),
                "diagnosis": self.diagnosis, "note": self.note}


@dataclass(frozen=True, slots=True)
class CheckResult:
    network: str
    verdicts: tuple[Verdict, ...]
    conventions: tuple[str, ...]  # what was assumed or inferred, said once
    source: str = ""

    @property
    def ok(self) -> bool:
        return all(v.ok for v in self.verdicts)

    def summary(self) -> str:
        wrong = sum(not v.ok for v in self.verdicts)
        n = len(self.verdicts)
        return (f"{n} claim{'s' if n != 1 else ''} about {self.network}: "
                f"{len(self.verdicts) - wrong} ✓, {wrong} ✗")

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "ok": self.ok, "summary": self.summary(),
                "conventions": list(self.conventions),
                "claims": [v.to_dict() for v in self.verdicts]}

    def render(self, fmt: str = "text") -> str:
        from .render.check import render_check

        text: str = render_check(self, fmt)
        return text


# ---------------------------------------------------------------- loading claims


def load_claims(source: str | os.PathLike[str] | Mapping[str, Any],
                spec: str | None = None) -> tuple[dict[str, Any], str]:
    """A claims mapping from a YAML file, a CSV or Markdown table (with `spec`), or a dict."""
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
            data = {"layers": _table_rows(rows, name)}
        elif suffix in (".md", ".markdown"):
            data = {"layers": _table_rows(_markdown_rows(text, name), name)}
        else:
            data = read_yaml(text, name)
            if not isinstance(data, Mapping):
                raise SpecError("a claims file must be a mapping with 'spec' and 'layers' or "
                                "'totals'", source=name)
            data = dict(data)
    if spec is not None:
        data["spec"] = spec
    return data, name


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


def _table_rows(rows: list[list[str]], name: str) -> dict[str, dict[str, str]]:
    if not rows:
        raise SpecError("the table is empty", source=name)
    if len(rows) > MAX_CLAIM_ROWS:
        raise SpecError(f"the table has {len(rows):,} rows; the limit is {MAX_CLAIM_ROWS:,}",
                        source=name)
    problems = []
    for number, row in enumerate(rows, start=1):
        if any(len(c) > MAX_CELL for c in row):
            problems.append(f"row {number} has a cell of more than {MAX_CELL:,} characters")
        elif number > 1 and any(c.strip() for c in row) and len(row) != len(rows[0]):
            problems.append(f"row {number} has {len(row)} cells, the header {len(rows[0])}")
    if problems:
        raise SpecError("cannot read the table: " + "; ".join(problems[:10])
                        + (f"; and {len(problems) - 10} more" if len(problems) > 10 else ""),
                        source=name, hint="every row needs one cell per column (an empty cell "
                                          "for a claim you do not make)")
    header = [h.strip().lower() for h in rows[0]]
    if "layer" not in header:
        raise SpecError("the table needs a 'layer' column", source=name,
                        hint=f"its columns: {', '.join(header)}")
    columns: list[str | None] = []
    for h in header:
        if h == "layer" or h in IGNORED_COLUMNS or not h:
            columns.append(None)
        elif h in ALIASES:
            columns.append(ALIASES[h])
        else:
            raise SpecError(f"unknown column {h!r}", source=name,
                            hint=did_you_mean(h, list(ALIASES), "known columns"))
    layer_col = header.index("layer")
    out: dict[str, dict[str, str]] = {}
    first_row: dict[tuple[str, str], int] = {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        layer = row[layer_col].strip()
        claims = {q: cell.strip() for q, cell in zip(columns, row)
                  if q is not None and cell.strip() not in ("", "-", "—")}
        for q in claims:
            if (layer, q) in first_row:
                raise SpecError(f"{layer}'s {q} is claimed twice, in rows {first_row[layer, q]} "
                                f"and {number}", source=name,
                                hint="one claim per layer and quantity")
            first_row[layer, q] = number
        out.setdefault(layer, {}).update(claims)
    return out


# ---------------------------------------------------------------- checking


_FAMILY = {"conv": "conv", "linear": "linear"}


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


@dataclass
class _Context:
    network: Network
    conv: Conventions
    variants: dict[str, Report]           # name → report under an alternative convention
    choice: dict[str, str] = field(default_factory=dict)  # family → variant for bias claims

    @property
    def base(self) -> Report:
        return self.variants["given"]


BIAS_SENSITIVE = ("params", "biases", "connections", "flops")


def check(claims: str | os.PathLike[str] | Mapping[str, Any], spec: str | None = None) -> CheckResult:
    """Check every claim of a claims file (see docs/tutorial-check.md)."""
    data, source = load_claims(claims, spec)
    try:
        return _check(data, source)
    except CnnsizeError as e:
        raise e.located(source=source) from None


def _check(data: dict[str, Any], source: str) -> CheckResult:
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(f"unknown key {key!r} in the claims file", field=str(key),
                            hint=did_you_mean(str(key), list(TOP_KEYS), "valid keys"))
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
    given = data.get("conventions", {}) or {}
    if not isinstance(given, Mapping):
        raise SpecError("must be a mapping, e.g. {bias: false}", field="conventions")
    conv = _conventions(given)
    explicit_bias = "bias" in given or "bias_connections" in given
    explicit_fpm = "flops_per_mac" in given
    variants = {"given": analyze(network, conventions=conv)}
    if not explicit_bias:
        variants["no bias"] = analyze(network, conventions=dataclasses.replace(conv, bias=False))
        variants["bias inputs as connections"] = analyze(
            network, conventions=dataclasses.replace(conv, bias_connections=True))
    ctx = _Context(network, conv, variants)

    layer_claims = data.get("layers", {}) or {}
    if isinstance(layer_claims, list):  # [{layer: C1, units: ...}, ...]
        listed: dict[str, Any] = {}
        for entry in layer_claims:
            if not isinstance(entry, Mapping) or "layer" not in entry:
                raise SpecError("each entry of a 'layers' list needs a 'layer' key", field="layers")
            listed[str(entry["layer"])] = {k: v for k, v in entry.items() if k != "layer"}
        layer_claims = listed
    if not isinstance(layer_claims, Mapping):
        raise SpecError("must map layer names to claimed quantities", field="layers")
    totals = data.get("totals", {}) or {}
    if not isinstance(totals, Mapping):
        raise SpecError("must map quantities to claimed totals", field="totals")
    if not layer_claims and not totals:
        raise SpecError("there is nothing to check: give 'layers' or 'totals'", field="layers")

    parsed: list[tuple[str, list[LayerStats], str, Claim]] = []
    for name, quantities in layer_claims.items():
        rows = _rows(ctx.base, str(name))
        if not isinstance(quantities, Mapping):
            raise SpecError(f"claims for {name!r} must be a mapping of quantity to value",
                            field="layers")
        for key, value in quantities.items():
            quantity = _quantity(str(key), f"layers.{name}")
            try:
                parsed.append((str(name), rows, quantity, parse_claim(value, quantity)))
            except SpecError as e:
                e.path, e.field = f"layers.{name}", str(key)
                raise e.located() from None
    total_claims = []
    for key, value in totals.items():
        quantity = _quantity(str(key), "totals")
        if quantity == "output_shape":
            raise SpecError("totals have no output shape", field=str(key))
        try:
            total_claims.append((quantity, parse_claim(value, quantity)))
        except SpecError as e:
            e.path, e.field = "totals", str(key)
            raise e.located() from None

    notes = _infer_conventions(ctx, parsed, explicit_bias, explicit_fpm)
    verdicts = [_judge_layer(ctx, name, rows, q, c) for name, rows, q, c in parsed]
    for quantity, claim in total_claims:
        verdicts.append(_judge_total(ctx, quantity, claim, parsed))
    notes.append(f"{'other conventions' if ctx.choice else 'conventions'}: "
                 f"{ctx.base.conventions.describe()}")
    if data.get("title"):
        notes.insert(0, str(data["title"]))
    return CheckResult(network.name, tuple(verdicts), tuple(notes), source)


def _conventions(given: Mapping[str, Any]) -> Conventions:
    allowed = [f.name for f in dataclasses.fields(Conventions)]
    for key, value in given.items():
        if key not in allowed:
            raise SpecError(f"unknown convention {key!r}", field="conventions",
                            hint=did_you_mean(str(key), allowed, "conventions"))
        if key in ("bias", "bias_connections", "elementwise_flops") and not isinstance(value, bool):
            raise SpecError(f"{key} must be true or false", field="conventions")
    if given.get("dtype", "float32") not in list(DTYPE_BYTES):
        raise SpecError(f"unknown dtype {given.get('dtype')!r}", field="conventions",
                        hint=f"one of {', '.join(DTYPE_BYTES)}")
    if given.get("inplace_activations", "all") not in list(INPLACE_MODES):
        raise SpecError("inplace_activations must be all, spec or none", field="conventions")
    try:
        return Conventions(**dict(given))
    except CnnsizeError as e:
        raise e.located(path="conventions") from None


def _quantity(key: str, where: str) -> str:
    q = ALIASES.get(key.strip().lower())
    if q is None:
        raise SpecError(f"unknown quantity {key!r}", path=where, field=key,
                        hint=did_you_mean(key, list(QUANTITIES), "quantities"))
    return q


def _rows(report: Report, name: str) -> list[LayerStats]:
    """The rows a claim names: one row, or several joined with '+'."""
    names = [n.strip() for n in name.split("+")]
    by_name = {r.name: r for r in report.layers}
    by_name["input"] = _input_row(report)
    by_lower = {r.name.lower(): r for r in report.layers}
    rows = []
    for n in names:
        row = by_name.get(n) or by_lower.get(n.lower())
        if row is None:
            raise SpecError(f"{report.name} has no layer {n!r}", path=f"layers.{name}",
                            hint=did_you_mean(n, list(by_name), "its layers"))
        rows.append(row)
    return rows


def _input_row(report: Report) -> LayerStats:
    """The report's `input` row as a pseudo-layer, so that claims about it can be checked."""
    t = report.totals
    units = t.input_bytes // (report.conventions.batch * report.conventions.bytes_per_element)
    return LayerStats("input", "input", report.input_shape, units, 0, 0, 0, 0, 0, 0, 0,
                      t.input_bytes, (1,) * (len(report.input_shape) - 1), None, 0, False)


def _computed(ctx: _Context, rows: list[LayerStats], quantity: str,
              report: Report | None = None) -> int | tuple[int, ...] | None:
    """The value for one row (or the sum over several), in the variant chosen for its family."""
    values = []
    for row in rows:
        if report is not None:
            rep = report
        elif quantity in BIAS_SENSITIVE:
            rep = ctx.variants[ctx.choice.get(_family(row), "given")]
        else:
            rep = ctx.base
        values.append(_value(row if row.type == "input" else rep[row.name], quantity))
    if len(values) == 1:
        return values[0]
    if any(not isinstance(v, int) for v in values):
        return None
    return sum(v for v in values if isinstance(v, int))


def _infer_conventions(ctx: _Context, parsed: list[tuple[str, list[LayerStats], str, Claim]],
                       explicit_bias: bool, explicit_fpm: bool) -> list[str]:
    """Pick, per layer family, the bias convention under which all its claims hold."""
    notes: list[str] = []
    if explicit_bias:
        return notes
    by_family: dict[str, list[tuple[list[LayerStats], str, Claim]]] = {}
    for _, rows, quantity, claim in parsed:
        if quantity in BIAS_SENSITIVE and len({_family(r) for r in rows}) == 1:
            by_family.setdefault(_family(rows[0]), []).append((rows, quantity, claim))
    def holds(variant: str, claims: list[tuple[list[LayerStats], str, Claim]]) -> bool:
        return all(c.holds(_computed(ctx, rows, q, ctx.variants[variant])) for rows, q, c in claims)

    for family, claims in by_family.items():
        if holds("given", claims):
            continue
        for variant in ("no bias", "bias inputs as connections"):
            if holds(variant, claims):
                ctx.choice[family] = variant
                break
    if ctx.choice:
        label = {"conv": "convolution layers", "linear": "fully connected layers",
                 "other": "other layers"}
        said = {"no bias": "biases not counted", "bias inputs as connections":
                "each unit's bias input counted as a connection (LeCun et al. 1998)"}
        parts = [f"{label[f]}: {said[v]}" for f, v in sorted(ctx.choice.items())]
        rest = [label[f] for f in ("conv", "linear") if f not in ctx.choice and f in by_family]
        if rest:
            parts.append(f"{' and '.join(rest)}: biases counted")
        notes.append("your numbers follow one convention throughout, checked that way — "
                     + "; ".join(parts))
    return notes


def _judge_layer(ctx: _Context, name: str, rows: list[LayerStats], quantity: str,
                 claim: Claim) -> Verdict:
    computed = _computed(ctx, rows, quantity)
    note = ""
    ok = claim.holds(computed)
    if not ok and quantity == "output_shape" and isinstance(computed, tuple) and \
            isinstance(claim.low, tuple) and len(computed) >= 2 and \
            claim.low == (*computed[1:], computed[0]):
        ok, note = True, "written channels last (H×W×C); cnnsize writes C×H×W"
    if not ok and quantity == "receptive_field" and isinstance(computed, tuple) and \
            isinstance(claim.low, tuple) and len(claim.low) == 1 and set(computed) == set(claim.low):
        ok = True
    if ok:
        return Verdict(name, quantity, claim.text, computed, True, note=note)
    formula = _formula(ctx, rows, quantity)
    diagnosis = _diagnose(ctx, rows, quantity, claim, computed)
    return Verdict(name, quantity, claim.text, computed, False, formula, diagnosis)


def _judge_total(ctx: _Context, quantity: str, claim: Claim,
                 parsed: list[tuple[str, list[LayerStats], str, Claim]]) -> Verdict:
    totals = ctx.base.totals
    if quantity in BIAS_SENSITIVE and ctx.choice:
        values = [_computed(ctx, [r], quantity) for r in ctx.base.layers]
        computed: Any = sum(v for v in values if isinstance(v, int))
    elif quantity == "units":
        computed = totals.units
    else:
        computed = getattr(totals, quantity)
    if claim.holds(computed):
        return Verdict("total", quantity, claim.text, computed, True)
    rows = [r for r in ctx.base.layers if _value(r, quantity) and (quantity != "units" or r.neurons)]
    terms = [_fmt(_value(r, quantity)) for r in rows[:6]]
    formula = [f"total {quantity} = sum over {len(rows)} layers = {' + '.join(terms)}"
               f"{' + …' if len(rows) > 6 else ''} = {_fmt(computed)}"]
    if quantity == "activation_bytes":
        formula.append(f"(input {totals.input_bytes:,} B included; {ctx.base.conventions.dtype}, "
                       f"batch {ctx.base.conventions.batch})")
    diagnosis = _diagnose(ctx, None, quantity, claim, computed)
    own = [(c.low, c.high) for _, _, q, c in parsed
           if q == quantity and isinstance(c.low, Fraction) and isinstance(c.high, Fraction)]
    if own and not diagnosis:
        claimed_sum = sum(((low + high) / 2 for low, high in own), Fraction(0))
        if not claim.holds(int(claimed_sum)) and len(own) > 1:
            diagnosis = (f"your own rows for {quantity} add up to {_fmt(int(claimed_sum))}, "
                         "not to this total")
    return Verdict("total", quantity, claim.text, computed, False, tuple(formula), diagnosis)


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return "×".join(map(str, value))
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


_FORMULA_PREFIX = {
    "output_shape": ("H2 =", "W2 =", "L2 =", "T2 =", "output ="), "units": ("units =",),
    "weights": ("weights =", "centres"), "biases": ("biases =", "weights = γ"),
    "params": ("weights =", "biases ="), "connections": ("connections =",),
    "macs": ("MACs =", "connections ="), "flops": ("FLOPs =", "MACs ="),
}


def _formula(ctx: _Context, rows: list[LayerStats], quantity: str) -> tuple[str, ...]:
    lines: list[str] = []
    for row in rows:
        prefixes = _FORMULA_PREFIX.get(quantity, ())
        lines += [f"{row.name}: {line}" if len(rows) > 1 else line
                  for line in row.explain if line.startswith(prefixes)]
        conv = ctx.base.conventions
        if quantity == "params":
            lines.append(f"params = weights + biases = {row.weights:,} + {row.biases:,} = "
                         f"{row.params:,}")
        if quantity == "flops":
            lines.append(f"FLOPs = {conv.flops_per_mac}·MACs + per-element ops = {row.flops:,}")
        if quantity == "activation_bytes":
            lines.append(f"memory = units·batch·bytes = {row.units:,}·{conv.batch}·"
                         f"{conv.bytes_per_element} = {row.units * conv.batch * conv.bytes_per_element:,}"
                         + (" (counted as 0: it shares its input's memory)"
                            if not row.activation_bytes else ""))
        if quantity == "receptive_field" and row.receptive_field:
            lines.append("r_out = r_in + (F_eff − 1)·j_in, j_out = j_in·S → "
                         f"{_fmt(row.receptive_field)}")
    if len(rows) > 1:
        lines.append(f"sum = {' + '.join(_fmt(_value(r, quantity)) for r in rows)}")
    return tuple(lines)


# ---------------------------------------------------------------- diagnoses


Diagnosis = Callable[[_Context, list[LayerStats] | None, str, Claim, Any], str | None]


def _with_bias_toggled(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                       claim: Claim, computed: Any) -> str | None:
    if quantity not in BIAS_SENSITIVE:
        return None
    conv = ctx.base.conventions
    other = analyze(ctx.network, conventions=dataclasses.replace(conv, bias=not conv.bias))
    value = _computed(ctx, rows, quantity, other) if rows else getattr(other.totals, quantity)
    if claim.holds(value):
        return (f"this is the value {'without' if conv.bias else 'with'} biases "
                f"({_fmt(value)}): biases {'left out' if conv.bias else 'added'}")
    lecun = analyze(ctx.network, conventions=dataclasses.replace(conv, bias_connections=True))
    value = _computed(ctx, rows, quantity, lecun) if rows else getattr(lecun.totals, quantity)
    if quantity == "connections" and claim.holds(value):
        return f"this counts each unit's bias input as a connection ({_fmt(value)}), as LeCun et al. 1998 do"
    return None


def _macs_vs_flops(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                   claim: Claim, computed: Any) -> str | None:
    if quantity not in ("macs", "flops") or not isinstance(computed, int):
        return None
    macs = _computed(ctx, rows, "macs") if rows else ctx.base.totals.macs
    if not isinstance(macs, int):
        return None
    if quantity == "macs" and claim.holds(2 * macs):
        return f"this is 2·MACs = FLOPs ({_fmt(2 * macs)}): one MAC is one multiply and one add"
    if quantity == "flops" and claim.holds(macs):
        return f"this is the MAC count ({_fmt(macs)}); FLOPs = 2·MACs"
    if quantity == "flops" and claim.holds(2 * macs):
        return (f"this is 2·MACs ({_fmt(2 * macs)}) without the per-element ops (bias adds, "
                "activations, pooling) that cnnsize adds: use --no-elementwise-flops")
    return None


def _input_channels(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                    claim: Claim, computed: Any) -> str | None:
    if not rows or len(rows) != 1 or quantity not in ("weights", "params", "connections", "macs"):
        return None
    row = rows[0]
    if row.input_shape is None or _family(row) != "conv" or not isinstance(computed, int):
        return None
    c_in = row.input_shape[0] // dict(row.args).get("groups", 1)
    if (c_in > 1 and claim.holds(computed // c_in)) or (
            quantity == "params" and claim.holds(row.weights // c_in + row.biases)):
        return f"the input channels were left out: each filter spans C_in = {c_in} channels"
    return None


def _other_input(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
                 claim: Claim, computed: Any) -> str | None:
    spatial = ctx.network.input_shape[1:]
    swaps = {224: 227, 227: 224}
    if not spatial or any(s not in swaps for s in spatial):
        return None
    shape = (ctx.network.input_shape[0], *(swaps[s] for s in spatial))
    try:
        other = analyze(ctx.network, conventions=ctx.base.conventions, input_shape=shape)
    except CnnsizeError:
        return None
    value = _computed(ctx, rows, quantity, other) if rows else getattr(other.totals, quantity)
    if quantity == "output_shape" and isinstance(value, tuple) and isinstance(claim.low, tuple) \
            and claim.low == (*value[1:], value[0]):
        value = claim.low
    if claim.holds(value):
        return (f"this is the value for a {shape[1]}×{shape[1]} input ({_fmt(value)}); the network "
                f"here takes {spatial[0]}×{spatial[0]}")
    return None


def _size_rule(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
               claim: Claim, computed: Any) -> str | None:
    """Stride or padding misapplied, or the +1 forgotten, in one layer's output size."""
    if not rows or len(rows) != 1 or quantity not in ("output_shape", "units"):
        return None
    row = rows[0]
    node_kind = _kind_at(ctx.network, row.name)
    if node_kind is None or row.input_shape is None:
        return None
    names = {f.name for f in dataclasses.fields(node_kind)}
    trials: list[tuple[str, dict[str, Any]]] = []
    if "stride" in names:
        trials.append(("the stride was not applied (stride 1)", {"stride": (1,) * node_kind.ndim}))
    if "padding" in names and not isinstance(node_kind.padding, str):
        kernel = getattr(node_kind, "kernel_size", None)
        trials.append(("the padding was left out", {"padding": (0,) * node_kind.ndim}))
        if kernel:
            trials.append(("'same' padding was assumed", {"padding": tuple(k // 2 for k in kernel)}))
    for message, change in trials:
        try:
            alt = dataclasses.replace(node_kind, **change).analyze(row.input_shapes)
        except (CnnsizeError, TypeError, ValueError):
            continue
        value = alt.output_shape if quantity == "output_shape" else alt.units
        if claim.holds(value) or (quantity == "output_shape" and isinstance(claim.low, tuple)
                                  and claim.low == (*value[1:], value[0])):
            return f"{message}: that gives {_fmt(value)}"
    if quantity == "output_shape" and isinstance(computed, tuple) and isinstance(claim.low, tuple):
        claimed = claim.low
        for candidate in (claimed, (claimed[-1], *claimed[:-1])):
            if len(candidate) == len(computed) and candidate[0] == computed[0] and all(
                    abs(a - b) == 1 for a, b in zip(candidate[1:], computed[1:])):
                return ("off by one: the size formula is (W1 − F + 2P)/S + 1 — check the + 1 "
                        "and the floor")
    return None


def _unit_base(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
               claim: Claim, computed: Any) -> str | None:
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
            return (f"{claim.text} fits if its {claim.unit} meant {_UNIT_NAMES[other]} "
                    f"({_fmt(computed)} = {value:.4g} {_UNIT_NAMES[other]}): "
                    f"{_UNIT_NAMES[unit]} = {table[unit]:,}, {_UNIT_NAMES[other]} = {table[other]:,}")
    ratio = Fraction(1024, 1000)
    if not claim.approximate and claim.rescaled(1 / ratio).holds(computed):
        return (f"{claim.text} is 1.024× the right value: 1024 appears where 1000 belongs "
                "(K = 1024 vs 1000, or 1024 classes for 1000)")
    return None


_UNIT_NAMES = {"k": "K", "m": "M", "g": "G", "ki": "Ki", "mi": "Mi", "gi": "Gi", "kb": "kB",
               "mb": "MB", "gb": "GB", "kib": "KiB", "mib": "MiB", "gib": "GiB"}


def _neighbour(ctx: _Context, rows: list[LayerStats] | None, quantity: str,
               claim: Claim, computed: Any) -> str | None:
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
                return f"this is the value of the neighbouring layer {layers[j].name} ({_fmt(value)})"
    return None


DIAGNOSES: tuple[Diagnosis, ...] = (_with_bias_toggled, _macs_vs_flops, _input_channels,
                                    _other_input, _size_rule, _unit_base, _neighbour)


def _diagnose(ctx: _Context, rows: list[LayerStats] | None, quantity: str, claim: Claim,
              computed: Any) -> str:
    for diagnosis in DIAGNOSES:
        found = diagnosis(ctx, rows, quantity, claim, computed)
        if found:
            return found
    return ""


def _kind_at(network: Network, path: str) -> Any:
    op = network.op(path)
    return op.kind if op is not None else None


__all__ = ["QUANTITIES", "CheckResult", "Claim", "Verdict", "check", "load_claims", "parse_claim"]
