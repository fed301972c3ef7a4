"""Which rows a table or chart shows, and in which columns.

The rows: every layer (the default, flat), or containers too, with their subtotals (`tree`, or
`depth=N`, which rolls every container N levels down up into one row). The columns: one
registry that every table format reads (`COLUMNS`), the defaults first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ..errors import CnnsizeError
from ..layers.base import did_you_mean
from ..record import record
from ..report import ContainerStats

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:  # pragma: no cover
    from ..report import LayerStats, Report


@record
class Shown:
    """One row of a view: a layer, or a container with the subtotals of the rows it holds."""

    stats: LayerStats | ContainerStats
    level: int        # the containers shown around it
    label: str        # its name, or with `tree` its name under its parent
    container: bool
    expanded: bool    # a container whose members are shown below it (subtotals in parentheses)


def shown_rows(report: Report, depth: int | None = None, tree: bool = False) -> list[Shown]:
    """The rows of the view. Flat (no depth, no tree): every layer, as the report holds them.
    Otherwise containers are rows too; an item nested `depth` levels or deeper is rolled up
    into the container above it (depth=1: the top-level layers and containers only)."""
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int) or depth < 1):
        raise CnnsizeError(f"depth must be a whole number ≥ 1, got {depth!r}", field="depth")
    if depth is None and not tree:  # full paths say the nesting: no indentation
        return [Shown(row, 0, row.name, False, False) for row in report.layers]
    # The container tree: each container's members in order (its ops are one contiguous run).
    members: dict[str | None, list[LayerStats | ContainerStats]] = {None: []}
    by_name = {c.name: c for c in report.containers}
    for c in report.containers:
        members[c.name] = []
    for row in report.layers:
        parent: str | None = None
        for path in row.scope:
            items = members[parent]
            container = by_name[path]
            if not items or items[-1] is not container:
                items.append(container)
            parent = path
        members[parent].append(row)
    out: list[Shown] = []

    def walk(parent: str | None, level: int) -> None:
        for item in members[parent]:
            label = _short(item.name, parent, item.type) if tree else item.name
            if not isinstance(item, ContainerStats):
                out.append(Shown(item, level, label, False, False))
                continue
            expanded = depth is None or level + 1 < depth
            out.append(Shown(item, level, label, True, expanded))
            if expanded:
                walk(item.name, level + 1)

    walk(None, 0)
    return out


def _short(name: str, parent: str | None, type_name: str) -> str:
    """A name under its parent: 'layer1.0.conv1' under 'layer1.0' is 'conv1'; the merge step
    that has its container's own name is '(add)'."""
    if parent is None:
        return name
    if name == parent:
        return f"({type_name})"
    return name[len(parent) + 1:] if name.startswith(parent + ".") else name


def leaves(report: Report, depth: int | None) -> list[Shown]:
    """The rows a chart draws: with `depth`, rolled-up containers stand for their members."""
    return [s for s in shown_rows(report, depth) if not s.expanded]


# ---------------------------------------------------------------- columns

Cell = Callable[["Shown", "Report", bool], str]


@record
class Column:
    key: str
    header: str
    help: str
    cell: Cell
    total: Callable[[Report, bool], str] = lambda report, si: ""
    numeric: bool = True    # right-aligned; a subtotal is shown in parentheses when expanded
    summed: bool = False    # a container's value is the sum over its rows


def _count(attr: str, help: str, header: str | None = None, key: str | None = None) -> Column:
    def cell(shown: Shown, report: Report, si: bool) -> str:
        return f"{getattr(shown.stats, attr):,}"

    def total(report: Report, si: bool) -> str:
        return f"{getattr(report.totals, attr):,}"

    return Column(key or attr, header or attr, help, cell, total, summed=True)


def _bytes_col(attr: str, header: str, help: str, total_attr: str | None) -> Column:
    def cell(shown: Shown, report: Report, si: bool) -> str:
        from . import human_bytes

        value = getattr(shown.stats, attr)
        return human_bytes(value, si) if value else "0"

    def total(report: Report, si: bool) -> str:
        from . import human_bytes

        return human_bytes(getattr(report.totals, total_attr), si) if total_attr else ""

    return Column(attr if attr != "activation_bytes" else "memory", header, help, cell, total,
                  summed=attr != "live_bytes")


def _share(attr: str, what: str) -> Column:
    def cell(shown: Shown, report: Report, si: bool) -> str:
        whole = getattr(report.totals, attr)
        return f"{getattr(shown.stats, attr) / whole:.1%}" if whole else "—"

    return Column(f"{attr}%", f"{attr}%", f"share of the network's {what}", cell,
                  lambda report, si: "100.0%" if getattr(report.totals, attr) else "—",
                  summed=True)


def _shape_cell(shown: Shown, report: Report, si: bool) -> str:
    from . import shape_text

    return shape_text(shown.stats.output_shape)


def _input_cell(shown: Shown, report: Report, si: bool) -> str:
    from . import shape_text

    if shown.container:
        first = report.layers[shown.stats.first]  # type: ignore[union-attr]
        return "; ".join(shape_text(s) for s in first.input_shapes)
    return "; ".join(shape_text(s) for s in shown.stats.input_shapes)  # type: ignore[union-attr]


def _kernel_cell(shown: Shown, report: Report, si: bool) -> str:
    kind = None if shown.container else shown.stats.kind  # type: ignore[union-attr]
    size = getattr(kind, "kernel_size", None)
    if size is None:
        return ""
    dims = len(shown.stats.output_shape) - 1
    values = (size,) * max(dims, 1) if isinstance(size, int) else tuple(size)
    return "×".join(map(str, values))


def _rf_cell(shown: Shown, report: Report, si: bool) -> str:
    rf = shown.stats.receptive_field
    if rf is None:
        return "global"
    return str(rf[0]) if len(set(rf)) == 1 else "×".join(map(str, rf))


def _type_cell(shown: Shown, report: Report, si: bool) -> str:
    return shown.stats.type


def _share_of(shown: Shown, report: Report, si: bool) -> str:
    return "" if shown.container else shown.stats.shares or ""  # type: ignore[union-attr]


COLUMNS: dict[str, Column] = {c.key: c for c in (
    Column("type", "type", "the layer kind, or the container's type", _type_cell, numeric=False),
    Column("input", "input", "input shape(s) of one example", _input_cell),
    Column("output", "output", "output shape of one example", _shape_cell),
    Column("kernel", "kernel", "kernel size (convolutions and pools)", _kernel_cell),
    _count("units", "output elements of neuron layers (conv, pool, linear)"),
    _count("weights", "weights (multiplicative parameters)"),
    _count("biases", "biases (additive parameters)"),
    _count("params", "weights + biases"),
    _count("trainable_params", "params that train (not frozen with trainable: false)",
           "trainable", "trainable"),
    _count("buffers", "buffers (batch norm running statistics)"),
    _count("connections", "input-to-output connections"),
    _count("macs", "multiply-accumulates, for the batch", "MACs"),
    _count("flops", "floating-point operations, for the batch", "FLOPs"),
    _bytes_col("activation_bytes", "memory", "the output it stores (inference), for the batch",
               "activation_bytes"),
    _bytes_col("saved_bytes", "saved", "what autograd keeps for backward (training)",
               "saved_bytes"),
    _bytes_col("live_bytes", "live", "every tensor alive while it runs (inference; a "
               "container: the most over its rows)", None),
    Column("rf", "RF", "receptive field of its output (pixels of the input)", _rf_cell),
    Column("shares", "shares", "the layer whose module it calls again", _share_of, numeric=False),
    _share("params", "parameters"),
    _share("macs", "MACs"),
    _share("flops", "FLOPs"),
)}
DEFAULT_COLUMNS = ("type", "output", "units", "weights", "biases", "connections", "macs", "flops",
                   "memory", "rf")
# torchinfo's column names (summary(col_names=...)) and what they mean here
ALIASES = {"input_size": "input", "output_size": "output", "num_params": "params",
           "params_percent": "params%", "kernel_size": "kernel", "mult_adds": "macs",
           "trainable": "trainable", "memory": "memory", "layer": "layer"}


def columns(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """Column keys from `--columns` ('a,b' replaces the defaults, '+a,b' adds to them) or a
    list; 'layer' is always first and implied."""
    if spec is None:
        return DEFAULT_COLUMNS
    if isinstance(spec, str):
        extend = spec.startswith("+")
        names = [n.strip() for n in spec.lstrip("+").split(",") if n.strip()]
    else:
        extend, names = False, [str(n) for n in spec]
    keys: list[str] = list(DEFAULT_COLUMNS) if extend else []
    for name in names:
        key = ALIASES.get(name.lower(), name.lower())
        if key == "layer":
            continue
        if key not in COLUMNS:
            raise CnnsizeError(f"unknown column {name!r}", field="columns",
                               hint=did_you_mean(name, [*COLUMNS, *ALIASES], "columns") + "; "
                               "all of them: " + ", ".join(COLUMNS))
        if key not in keys:
            keys.append(key)
    if not keys:
        raise CnnsizeError("no columns given", field="columns",
                           hint="e.g. --columns type,output,params,macs")
    return tuple(keys)


# The columns of what a row of an op without formulas (opaque) does not count
# (report.NOT_COUNTED): "n/c" in its row, never a number; a subtotal or total over such a row
# is a lower bound ("≥ ").
NOT_COUNTED_COLUMNS = frozenset({"connections", "macs", "flops", "memory", "saved_bytes",
                                 "macs%", "flops%"})
NOT_COUNTED_TEXT = "n/c"


def _uncounted(shown: Shown, report: Report) -> str:
    """"row" for a row whose costs are not counted, "some" for a container holding one."""
    stats = shown.stats
    if isinstance(stats, ContainerStats):
        rows = report.layers[stats.first:stats.last + 1]
        return "some" if any(not r.counted for r in rows) else ""
    return "" if stats.counted else "row"


def cells(shown: Shown, report: Report, keys: Sequence[str], si: bool, indent: str) -> list[str]:
    stats = shown.stats
    mark = " ⚠" if (stats.flagged if isinstance(stats, ContainerStats) else stats.notes) else ""
    out = [indent * shown.level + shown.label + mark]
    uncounted = _uncounted(shown, report)
    for key in keys:
        column = COLUMNS[key]
        text = column.cell(shown, report, si)
        if uncounted and key in NOT_COUNTED_COLUMNS:
            text = NOT_COUNTED_TEXT if uncounted == "row" else f"≥ {text}"
        if shown.expanded and column.summed and text not in ("", "0", "—", NOT_COUNTED_TEXT):
            text = f"({text})"
        out.append(text)
    return out


def total_cells(report: Report, keys: Sequence[str], si: bool) -> list[str]:
    lower = any(not r.counted for r in report.layers)  # rows not counted: lower bounds
    return ["total", *(f"≥ {text}" if lower and key in NOT_COUNTED_COLUMNS and text else text
                       for key in keys for text in [COLUMNS[key].total(report, si)])]


def input_cells(name: str, shape: tuple[int, ...], report: Report, keys: Sequence[str],
                si: bool) -> list[str]:
    """The pseudo-row of a network input: its shape, its bytes, receptive field 1."""
    from . import human_bytes, shape_text

    c = report.conventions
    known = {"output": shape_text(shape), "rf": "1",
             "memory": human_bytes(math.prod(shape) * c.batch * c.bytes_per_element, si)}
    return [name, *(known.get(key, "") for key in keys)]


def headers(keys: Sequence[str]) -> list[str]:
    return ["layer", *(COLUMNS[key].header for key in keys)]


def alignment(keys: Sequence[str]) -> tuple[str, ...]:
    return ("left", *("right" if COLUMNS[k].numeric else "left" for k in keys))


__all__ = ["ALIASES", "COLUMNS", "DEFAULT_COLUMNS", "Column", "Shown", "cells", "columns",
           "headers", "leaves", "shown_rows"]
