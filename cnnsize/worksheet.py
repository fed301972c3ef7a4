"""Worksheets: the blank table a student fills in, and its answer key with worked formulas.

A worksheet is a claims file with its cells left blank (`?` in a table, an empty value in
YAML), so that `cnnsize check` reads the student's filled-in copy back, and the key is the same
file with every value and the lines `cnnsize report --explain` prints for it. The rows are a
network's neuron layers (convolutions, pools, fully connected layers) unless others are
named; a cell with nothing to work out (the weights of a pool, the receptive field of a fully
connected layer) is `-`, as lecture tables leave it empty. Pure: no torch, no pandas; the text
is made by `render/worksheet.py`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass

from .analyze import analyze
from .claims import ALIASES, QUANTITIES, Answer, FixedConventions, answers, fixed_conventions
from .errors import CnnsizeError, SpecError
from .layers.base import did_you_mean
from .render import input_text
from .report import LayerStats
from .spec import Network, load

DEFAULT_ASK = ("units", "weights", "connections")
FORMATS = ("md", "csv", "yaml", "latex")
# Quantities whose 0 means "nothing to work out here" (a pool's weights), shown as '-'.
ZERO_IS_NOTHING = ("weights", "biases", "params", "connections", "macs", "flops",
                   "activation_bytes")
NO_TOTAL = ("output_shape", "receptive_field")


@dataclass(frozen=True, slots=True)
class Cell:
    quantity: str
    answer: Answer
    asked: bool         # False: '-', nothing to work out

    @property
    def value(self) -> int | tuple[int, ...] | None:
        return self.answer.value


@dataclass(frozen=True, slots=True)
class Row:
    name: str           # a row of the report, or "total"
    what: str           # the layer as written: "conv2d(out_channels=6, kernel_size=5)"
    cells: tuple[Cell, ...]


@dataclass(frozen=True, slots=True)
class Worksheet:
    network: str
    spec: str           # the network as `check` names it: a built-in name or a spec file
    input: str          # "input 1×32×32"
    conventions: FixedConventions
    quantities: tuple[str, ...]
    rows: tuple[Row, ...]

    def render(self, fmt: str = "md", *, answers: bool = False, filename: str | None = None
               ) -> str:
        from .render.worksheet import render_worksheet

        text: str = render_worksheet(self, fmt, answers=answers, filename=filename)
        return text


def asked_quantities(text: str | Sequence[str]) -> tuple[str, ...]:
    """--ask units,weights,connections: quantities by any of their names, in that order."""
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else list(text)
    out: list[str] = []
    for item in items:
        if not item:
            continue
        quantity = ALIASES.get(item.lower())
        if quantity is None:
            raise SpecError(f"unknown quantity {item!r}", field="--ask",
                            hint=did_you_mean(item, list(QUANTITIES), "quantities"))
        if quantity in out:
            raise SpecError(f"{item!r} is asked twice", field="--ask")
        out.append(quantity)
    if not out:
        raise SpecError("nothing to ask", field="--ask",
                        hint="e.g. --ask units,weights,connections")
    return tuple(out)


def make_worksheet(spec: str | os.PathLike[str] | Network, ask: Sequence[str] = DEFAULT_ASK, *,
                   conventions: str | os.PathLike[str] | FixedConventions | None = None,
                   layers: Sequence[str] | None = None, totals: bool = False,
                   spec_name: str | None = None) -> Worksheet:
    """The worksheet for `spec`: a row per neuron layer (or per row named in `layers`, "all"
    for every row), a cell per quantity in `ask`, and a total row when `totals`; answers in
    `conventions` (pytorch unless given). `spec_name` is how the worksheet names the network
    (default: the spec as given)."""
    network = load(spec)
    fixed = fixed_conventions(conventions if conventions is not None else "pytorch")
    quantities = asked_quantities(ask)
    report = analyze(network, conventions=fixed.conventions)
    rows = _rows(report.layers, layers)
    cells: list[tuple[str | None, str]] = [(r.name, q) for r in rows for q in quantities]
    summed = [q for q in quantities if q not in NO_TOTAL]
    if totals:
        if not summed:
            raise SpecError("totals have no output shape or receptive field to ask",
                            field="--totals", hint="ask a count too: --ask units,params")
        cells += [(None, q) for q in summed]
    found = iter(answers(network, fixed.conventions, cells))
    names = [report.inputs[0][0] if report.inputs else "input", *(r.name for r in report.layers)]
    previous = dict(zip(names[1:], names))  # each row's predecessor in the report
    out = []
    for row in rows:
        out.append(Row(row.name, _what(row, previous[row.name]),
                       tuple(_cell(q, next(found)) for q in quantities)))
    if totals:
        out.append(Row("total", "the whole network", tuple(_cell(q, next(found))
                                                           for q in summed)))
    name = spec_name if spec_name is not None else (
        network.name if isinstance(spec, Network) else os.fspath(spec))
    return Worksheet(network.name, name, input_text(report), fixed, quantities, tuple(out))


def _rows(rows: Sequence[LayerStats], names: Sequence[str] | None) -> list[LayerStats]:
    if names is None:
        return [r for r in rows if r.neurons]
    if list(names) == ["all"]:
        return list(rows)
    by_lower = {r.name.lower(): r for r in rows}
    picked: list[LayerStats] = []
    for n in names:
        row = next((r for r in rows if r.name == n), None) or by_lower.get(n.lower())
        if row is None:
            raise SpecError(f"the network has no layer {n!r}", field="--layers",
                            hint=did_you_mean(n, [r.name for r in rows], "its layers"))
        if row in picked:
            raise SpecError(f"{n!r} is named twice", field="--layers")
        picked.append(row)
    if not picked:
        raise CnnsizeError("no layers named", field="--layers", hint="e.g. --layers C1,S2 or all")
    return picked


def _what(row: LayerStats, previous: str) -> str:
    """The row's kind and the arguments that differ from PyTorch's defaults, and what it
    reads where that is not the row before it. An argument that only restates the size of
    the input (a zoo entry's in_channels or in_features, pinned to refuse another input) is
    left out: that size is for the student to work out."""
    args = ", ".join(f"{k}={_arg(v)}" for k, v in row.args if not _restates_input(row, k))
    reads = "" if row.inputs in ((), (previous,)) else f" ← {', '.join(row.inputs)}"
    return f"{row.type}({args}){reads}"


def _restates_input(row: LayerStats, name: str) -> bool:
    """Whether the layer is the same with the optional argument `name` left out (inferred
    from its input)."""
    kind = row.kind
    if kind is None or not dataclasses.is_dataclass(kind):
        return False
    field = next((f for f in dataclasses.fields(kind) if f.name == name), None)
    if field is None or field.default is not None or getattr(kind, name) is None:
        return False
    try:
        inferred = dataclasses.replace(kind, **{name: None}).analyze(row.input_shapes)
        given = kind.analyze(row.input_shapes)
    except (CnnsizeError, TypeError, ValueError):
        return False
    return all(getattr(inferred, k) == getattr(given, k) for k in (
        "output_shape", "weights", "biases", "connections", "macs"))


def _arg(value: object) -> str:
    if isinstance(value, (tuple, list)):
        return "×".join(map(str, value)) if value and all(isinstance(v, int) for v in value) \
            else str(value)
    return str(value)


def _cell(quantity: str, answer: Answer) -> Cell:
    value = answer.value
    asked = value is not None and not (quantity in ZERO_IS_NOTHING and value == 0)
    return Cell(quantity, answer, asked)


__all__ = ["DEFAULT_ASK", "FORMATS", "Cell", "Row", "Worksheet", "asked_quantities",
           "make_worksheet"]
