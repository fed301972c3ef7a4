"""Turn a Report into text, markdown, csv, json, latex or html (numbers become strings here only)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from ..errors import CnnsizeError
from ..pause import collector_paused
from ..record import record
from ..report import NOT_COUNTED, ContainerStats

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:  # pragma: no cover
    from typing import Any

    from ..report import LayerStats, Report

FORMATS = ("text", "markdown", "csv", "json", "latex", "html")
_TABLEFMT = {"text": "simple", "markdown": "pipe", "latex": "latex_booktabs", "html": "html"}


def human_count(n: int) -> str:
    """Exact integer with thousands separators: 138,357,544."""
    return f"{n:,}"


def short_count(n: float) -> str:
    """Counts with SI suffixes (K = 1000): 15.47 G."""
    for value, suffix in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"),
                          (1e3, "K")):
        if abs(n) >= value:
            return f"{n / value:.4g} {suffix}"
    return f"{n:g}"


def human_bytes(n: int, si: bool = False) -> str:
    """Bytes in binary (KiB = 1024 B, default) or decimal (kB = 1000 B) units."""
    base, units = (1000, ("B", "kB", "MB", "GB", "TB")) if si else (1024, ("B", "KiB", "MiB", "GiB", "TiB"))
    value = float(n)
    for unit in units:
        if abs(value) < base or unit == units[-1]:
            return f"{n:,} B" if unit == "B" else f"{value:.4g} {unit}"
        value /= base
    raise AssertionError("unreachable")


def json_text(data: Any) -> str:
    """Strict JSON (RFC 8259): NaN and infinities become null, dates ISO strings, other values
    that JSON has no type for their text; one place for every format that writes JSON."""
    def clean(value: Any) -> Any:
        if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(v) for v in value]
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        iso = getattr(value, "isoformat", None)
        return iso() if callable(iso) else str(value)

    import json

    return json.dumps(clean(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def value_text(value: object) -> str:
    """A computed value for a table cell: 6×28×28, 117,600, or — for none."""
    if isinstance(value, tuple):
        return "×".join(map(str, value))
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "—" if value is None else str(value)


def shape_text(shape: tuple[int, ...] | None, sep: str = "×") -> str:
    return sep.join(str(s) for s in shape) if shape else "—"


def _rf_text(row: LayerStats | ContainerStats) -> str:
    if row.receptive_field is None:
        return "global"
    rf = "×".join(str(r) for r in row.receptive_field)
    if len(set(row.receptive_field)) == 1:
        rf = str(row.receptive_field[0])
    return rf


def _jump_text(jump: tuple[int | Fraction, ...] | None) -> str:
    if jump is None:
        return "—"
    parts = [str(j) for j in jump]
    return parts[0] if len(set(parts)) == 1 else "×".join(parts)


def _table_rows(report: Report, si: bool, indent: str, view: _View) -> list[list[str]]:
    from .rows import cells, input_cells, shown_rows, total_cells

    keys = view.columns
    inputs = report.inputs or (("input", report.input_shape),)
    rows = [input_cells(name, shape, report, keys, si) for name, shape in inputs]
    rows += [cells(shown, report, keys, si, indent)
             for shown in shown_rows(report, view.depth, view.tree)]
    rows.append(total_cells(report, keys, si))
    return rows


def _bytes(n: int, si: bool) -> str:
    """Exact bytes and, where it differs, the unit form: 36,472 B (35.62 KiB)."""
    unit = human_bytes(n, si)
    return unit if unit == f"{n:,} B" else f"{n:,} B ({unit})"


def input_text(report: Report) -> str:
    """'input 3×224×224', or 'inputs image 3×8×8, mask 1×8×8'."""
    if len(report.inputs) <= 1:
        return f"input {shape_text(report.input_shape)}"
    return "inputs " + ", ".join(f"{name} {shape_text(shape)}" for name, shape in report.inputs)


def _both(n: int, more: str | None = None) -> str:
    """The exact count and, where it differs, the short form: 61,706 (61.71 K). With `more`,
    the parenthesis stays open for more text after that separator: '61,706 (61.71 K; '."""
    short = short_count(n)
    if more is None:
        return f"{n:,}" if short == f"{n:g}" else f"{n:,} ({short})"
    return f"{n:,} (" if short == f"{n:g}" else f"{n:,} ({short}{more}"


def summary_lines(report: Report, si: bool = False) -> list[str]:
    t = report.totals
    c = report.conventions
    lines = [
        f"params: {_both(t.params, '; ')}weights {t.weights:,} + biases {t.biases:,}) = "
        f"{human_bytes(t.param_bytes, si)} in {c.dtype}"
        + (f"; buffers: {t.buffers:,}" if t.buffers else ""),
    ]
    if t.trainable_params != t.params:
        lines.append(f"trainable params: {t.trainable_params:,}; frozen (trainable: false): "
                     f"{t.params - t.trainable_params:,}")
    lines += _uncalled_lines(report)
    lower = "≥ " if any(not row.counted for row in report.layers) else ""
    lines += [
        f"MACs: {lower}{_both(t.macs)}   FLOPs: {lower}{_both(t.flops)}",
        *_not_counted_lines(report),
        *_per_pass_lines(report),
        f"activation memory (batch {c.batch}, input included): {_bytes(t.activation_bytes, si)} "
        f"summed over every layer's output; inference peak {_bytes(t.peak_bytes, si)} "
        + (f"while {t.peak_at} runs" if t.peak_at else "(the input)"),
        f"training memory estimate: SGD-momentum {human_bytes(t.training_bytes_sgd, si)}, "
        f"Adam {human_bytes(t.training_bytes_adam, si)} (saved for backward "
        f"{human_bytes(t.saved_bytes, si)} + params, gradients and optimizer state"
        + (" of the trainable ones" if t.trainable_params != t.params else "")
        + (" + buffers" if t.buffers else "") + ")",
        f"conventions: {c.describe()}",
    ]
    return lines


def _uncalled_lines(report: Report) -> list[str]:
    t = report.totals
    if not (t.uncalled_params or t.uncalled_buffers):
        return []
    return [f"not called by forward (counted apart): {t.uncalled_params:,} params"
            + (f", {t.uncalled_buffers:,} buffers" if t.uncalled_buffers else "")
            + " in " + ", ".join(path for path, _, _ in report.uncalled)]


def _not_counted_lines(report: Report) -> list[str]:
    """What the totals leave out: rows of ops cnnsize has no formulas for (opaque)."""
    names = [row.name for row in report.layers if not row.counted]
    if not names:
        return []
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return [f"not counted: {len(names)} row{'s' if len(names) != 1 else ''} ({shown}): ops "
            "cnnsize has no formulas for (opaque); their connections, MACs, FLOPs and memory "
            "are n/c and not in these totals, which are lower bounds (≥); the inference peak "
            "takes their outputs as new tensors of the traced shapes"]


def _per_pass_lines(report: Report) -> list[str]:
    """The rows run once per forward pass (computed from the model's buffers alone), whose
    MACs and FLOPs the totals hold once, whatever the batch."""
    rows = [row for row in report.layers if row.per_pass]
    if not rows:
        return []
    macs = sum(row.macs for row in rows)
    return [f"once per forward pass: {len(rows):,} row{'s' if len(rows) != 1 else ''} computed "
            f"from the model's buffers alone ({macs:,} MACs, {sum(r.flops for r in rows):,} "
            f"FLOPs): the totals hold them once, whatever the batch (per example · "
            f"{report.conventions.batch} + per pass)"]


def memory_lines(report: Report, si: bool = False) -> list[str]:
    """The inference peak and the training memory worked out with their numbers (--explain)."""
    t = report.totals
    c = report.conventions
    alive = " + ".join(f"{name} {nbytes:,}" for name, nbytes in t.peak_live[:12])
    if len(t.peak_live) > 12:
        rest = sum(b for _, b in t.peak_live[12:])
        alive += f" + {len(t.peak_live) - 12} more {rest:,}"
    where = f"while {t.peak_at} runs" if t.peak_at else "before the first layer"
    savers = [(r.name, r.saved_bytes) for r in report.layers if r.saved_bytes]
    saved = " + ".join(f"{name} {nbytes:,}" for name, nbytes in savers[:8])
    if len(savers) > 8:
        saved += f" + {len(savers) - 8} more rows {sum(b for _, b in savers[8:]):,}"
    p = t.param_bytes
    q = t.trainable_params * c.bytes_per_element
    head = f"saved {t.saved_bytes:,} + buffers {t.buffer_bytes:,} + "
    if q == p:
        sgd = f"{head}3·{p:,} (params, gradients, momentum)"
        adam = f"{head}4·{p:,} (params, gradients, two moments)"
    else:
        sgd = f"{head}params {p:,} + 2·{q:,} (gradients and momentum of the trainable ones)"
        adam = f"{head}params {p:,} + 3·{q:,} (gradients and two moments of the trainable ones)"
    return [
        f"inference peak = {t.peak_bytes:,} B ({human_bytes(t.peak_bytes, si)}) {where}, the "
        f"tensors alive then: {alive}",
        "  (ops run in order; a tensor is freed after its last reader, the inputs and outputs "
        "stay; views and in-place ops share their input's storage)",
        f"saved for backward (training mode, batch {c.batch}) = {t.saved_bytes:,} B"
        + (f", by row: {saved}" if saved else ""),
        f"training, SGD-momentum = {sgd} = {t.training_bytes_sgd:,} B "
        f"({human_bytes(t.training_bytes_sgd, si)})",
        f"training, Adam = {adam} = {t.training_bytes_adam:,} B "
        f"({human_bytes(t.training_bytes_adam, si)})",
    ]


def size_lines(report: Report, si: bool = False) -> list[str]:
    """The block torchinfo prints under its table, in cnnsize's terms (docs/coming-from.md)."""
    t = report.totals
    size = report.conventions.bytes_per_element
    infer = t.param_bytes + t.buffer_bytes + t.peak_bytes
    return [
        f"total params: {t.params:,}",
        f"trainable params: {t.trainable_params:,}",
        f"non-trainable params: {t.params - t.trainable_params:,}",
        *_uncalled_lines(report),
        f"total mult-adds (MACs): {_both(t.macs)}; FLOPs: {_both(t.flops)}",
        *_not_counted_lines(report),
        *_per_pass_lines(report),
        f"input size: {_bytes(t.input_bytes, si)}",
        f"params size: {_bytes(t.param_bytes, si)}"
        + (f"; buffers: {_bytes(t.buffer_bytes, si)}" if t.buffer_bytes else ""),
        f"forward pass, inference peak (tensors alive at once): {_bytes(t.peak_bytes, si)}",
        f"forward/backward pass, saved for backward: {_bytes(t.saved_bytes, si)}",
        f"estimated total, inference (params + buffers + peak): {_bytes(infer, si)}",
        f"estimated total, training with SGD-momentum (+ saved, gradients, momentum): "
        f"{_bytes(t.training_bytes_sgd, si)}; Adam: {_bytes(t.training_bytes_adam, si)}",
    ] + ([f"({size} B per element, {report.conventions.dtype})"] if size != 4 else [])


def _notes(report: Report) -> list[str]:
    return [f"⚠ {note}" for note in report.notes] + [
        f"⚠ {row.name}: {note}" for row in report.layers for note in row.notes]


def _explain(report: Report, view: _View) -> list[str]:
    """Each shown layer's formulas with its numbers; a rolled-up container adds its rows up."""
    from .rows import shown_rows

    lines = []
    previous = report.inputs[0][0] if report.inputs else "input"
    for shown in shown_rows(report, view.depth, view.tree):
        stats = shown.stats
        if isinstance(stats, ContainerStats):
            if not shown.expanded:
                lines += _rolled_up(report, stats)
                previous = report.layers[stats.last].name
            continue
        row = stats
        reads = "" if row.inputs == (previous,) else f" ← {', '.join(row.inputs)}"
        previous = row.name
        if not row.explain:
            continue
        args = ", ".join(f"{k}={v}" for k, v in row.args)
        lines.append(f"{row.name} ({row.type}{': ' + args if args else ''}){reads}")
        lines.extend(f"  {line}" for line in row.explain)
    return lines


# What a rolled-up container adds up in --explain: (ContainerStats field, label, unit).
_ROLLED_UP = (("units", "units", ""), ("weights", "weights", ""), ("biases", "biases", ""),
              ("params", "params", ""), ("connections", "connections", ""), ("macs", "MACs", ""),
              ("flops", "FLOPs", ""), ("activation_bytes", "memory", " B"))


def _rolled_up(report: Report, c: ContainerStats, most: int = 12) -> list[str]:
    """'params = 36,864 + 128 + … = 147,968' over the rows a container holds, for each count
    of the table (units: neuron rows only, as in the totals), then its output's field."""
    members = report.layers[c.first:c.last + 1]
    out = [f"{c.name} ({c.type}, {c.rows} rows rolled up; --depth shows them)"]
    for key, label, unit in _ROLLED_UP:
        terms = [getattr(r, key) for r in members
                 if getattr(r, key) and (key != "units" or r.neurons)]
        if not terms:
            continue
        text = " + ".join(f"{v:,}" for v in terms[:most])
        if len(terms) > most:
            text += f" + {len(terms) - most} more rows {sum(terms[most:]):,}"
        out.append(f"  {label} = {text} = {getattr(c, key):,}{unit}" if len(terms) > 1
                   else f"  {label} = {getattr(c, key):,}{unit} (one row)")
    out.append(f"  receptive field = {_rf_text(c)}" + (
        f"; jump = {_jump_text(c.jump)} (of its output)" if c.jump is not None else
        " (of its output)"))
    return out


@record
class _View:
    depth: int | None
    tree: bool
    columns: tuple[str, ...]
    summary: bool


def _view(report: Report, depth: int | None, tree: bool | None,
          columns: str | Sequence[str] | None, summary: bool | None) -> _View:
    """The options given, else the report's own view (Report.with_view), else the defaults."""
    from .rows import DEFAULT_COLUMNS
    from .rows import columns as column_keys

    own = report.view
    keys = column_keys(columns) if columns is not None else own.columns or DEFAULT_COLUMNS
    return _View(own.depth if depth is None else depth, own.tree if tree is None else tree,
                 keys, own.summary if summary is None else summary)


def _tabulated(report: Report, fmt: str, explain: bool, si: bool, view: _View) -> str:
    from .rows import alignment, headers

    indent = "  " if fmt == "text" else ""
    body = table(_table_rows(report, si, indent, view), headers(view.columns), _TABLEFMT[fmt],
                 colalign=alignment(view.columns), preserve_whitespace=fmt == "text")
    title = f"{report.name}: {input_text(report)}"
    if view.summary:  # the size block says what the summary lines would, but conventions
        extra = [*size_lines(report, si), f"conventions: {report.conventions.describe()}",
                 *_notes(report)]
    else:
        extra = summary_lines(report, si) + _notes(report)
    if fmt == "text":
        parts = [title, "", body, "", *extra]
        if explain:
            parts += ["", "Formulas:", *_explain(report, view), "", "Memory:",
                      *(f"  {line}" for line in memory_lines(report, si))]
        return "\n".join(parts) + "\n"
    if fmt == "markdown":
        parts = [f"### {title}", "", body, "", *(f"- {line}" for line in extra if line)]
        if explain:
            parts += ["", "```", *_explain(report, view), "", "Memory:",
                      *(f"  {line}" for line in memory_lines(report, si)), "```"]
        return "\n".join(parts) + "\n"
    if fmt == "html":
        import html

        items = "".join(f"<li>{html.escape(line)}</li>" for line in extra if line)
        return f"<div><strong>{html.escape(title)}</strong>{body}<ul>{items}</ul></div>\n"
    return body + "\n"


_CONTROL = {c: "\ufffd" for c in (*range(32), 0x7F)}  # shown as �, never sent to a terminal


def _cell(text: Any, tablefmt: str) -> str:
    """A cell as the format shows it literally: no control characters (a layer name from a
    spec could carry terminal escapes), a '|' escaped in Markdown tables."""
    out = str(text).translate(_CONTROL)
    return out.replace("|", "\\|") if tablefmt == "pipe" else out


def table(rows: list[list[str]], headers: tuple[str, ...] | list[str], tablefmt: str,
          colalign: tuple[str, ...] | None = None, preserve_whitespace: bool = False) -> str:
    """A table of strings, shown as given (no number parsing); leading spaces (indentation)
    kept when asked. The text format ("simple") is drawn here, character for character as
    tabulate draws it (tests/test_render.py holds it to tabulate), because importing tabulate
    costs more than all of a text report's own work; Markdown, LaTeX and HTML are tabulate's.

    tabulate >= 0.10 takes `preserve_whitespace=`; older versions read a module global, which is
    set and restored here.
    """
    rows = [[_cell(c, tablefmt) for c in row] for row in rows]
    headers = [_cell(h, tablefmt) for h in headers]
    if tablefmt == "simple":
        return simple_table(rows, headers, colalign, preserve_whitespace)
    import inspect

    import tabulate as tab

    kwargs: dict[str, Any] = {"headers": headers, "tablefmt": tablefmt, "disable_numparse": True}
    if colalign:
        kwargs["colalign"] = colalign
    if "preserve_whitespace" in inspect.signature(tab.tabulate).parameters:
        return tab.tabulate(rows, preserve_whitespace=preserve_whitespace, **kwargs)
    saved = tab.PRESERVE_WHITESPACE
    tab.PRESERVE_WHITESPACE = preserve_whitespace
    try:
        return tab.tabulate(rows, **kwargs)
    finally:
        tab.PRESERVE_WHITESPACE = saved


def simple_table(rows: list[list[str]], headers: Sequence[str],
                 colalign: Sequence[str] | None = None, preserve_whitespace: bool = False) -> str:
    """tabulate's "simple" format for cells of one line without terminal escapes (what `_cell`
    leaves): columns two spaces apart, each as wide as its widest cell or its header plus two,
    a row of dashes under the headers (above and below the rows when there are none), no
    trailing spaces; columns and their headers left-aligned unless `colalign` says "right"
    (headers without rows are left-aligned).
    Widths are len(), as tabulate's are without its optional wcwidth."""
    width = max([len(headers), *map(len, rows)])
    if width == 0:
        return ""
    rows = [[*row, *[""] * (width - len(row))] for row in rows]
    if not preserve_whitespace:
        rows = [[c.strip() for c in row] for row in rows]
    aligns = [*(colalign or ())][:width] if rows else []  # tabulate's: headers alone align left
    aligns += ["left"] * (width - len(aligns))
    if not set(aligns) <= {"left", "right"}:
        raise ValueError(f"alignments {aligns}: the text table aligns left or right")
    pads = [str.rjust if a == "right" else str.ljust for a in aligns]
    heads = [*[""] * (width - len(headers)), *headers] if headers else []
    widths = [max([len(heads[i]) + 2 if heads else 0, *(len(row[i]) for row in rows)])
              for i in range(width)]
    dashes = "  ".join("-" * w for w in widths).rstrip()

    def line(cells: Sequence[str]) -> str:
        return "  ".join(pad(c, w) for c, pad, w in zip(cells, pads, widths)).rstrip()

    body = [line(row) for row in rows]
    return "\n".join([line(heads), dashes, *body] if heads else [dashes, *body, dashes])


def _csv(report: Report, view: _View) -> str:
    """Every layer with every field; with depth or tree, the rows shown (containers too, their
    `row` column saying so) and the same fields where a container has them."""
    import csv
    import io

    from .rows import shown_rows

    out = io.StringIO()
    flat = view.depth is None and not view.tree
    records = []
    for shown in shown_rows(report, view.depth, view.tree):
        rec = shown.stats.to_dict()
        if not flat:
            rec = {"row": "container" if shown.container else "layer", "level": shown.level,
                   **rec}
        records.append(rec)
    keys: list[str] = []
    for rec in records:
        keys += [k for k in rec if k not in keys]
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n", restval="")
    writer.writeheader()
    for rec in records:
        for key, value in rec.items():
            if key in ("inputs", "scope"):
                rec[key] = " ".join(value)
            elif key == "input_shapes":
                rec[key] = " ".join("x".join(map(str, shape)) for shape in value)
            elif key in ("shares", "parent"):
                rec[key] = value or ""
            elif key in ("output_shape", "jump"):
                rec[key] = "x".join(map(str, value or []))
            elif key == "receptive_field":
                rec[key] = "x".join(map(str, value or [])) or "global"
            elif key == "notes":
                rec[key] = " | ".join(value)
            elif value is None and key in NOT_COUNTED:  # an opaque row: not counted, not 0
                rec[key] = "n/c"
        writer.writerow(rec)
    return out.getvalue()


def _json(report: Report) -> str:
    return json_text(report.to_dict())


@collector_paused
def render(report: Report, fmt: str = "text", *, explain: bool = False, si: bool = False,
           depth: int | None = None, tree: bool | None = None,
           columns: str | Sequence[str] | None = None, summary: bool | None = None) -> str:
    """Render a report in one of FORMATS. `depth`, `tree` and `columns` pick the rows and
    columns of a table (see render/rows.py; JSON always holds every row and container);
    unset, they are the report's own view (Report.with_view)."""
    if fmt == "json":
        return _json(report)
    if fmt != "csv" and fmt not in _TABLEFMT:
        raise CnnsizeError(f"unknown format {fmt!r}", field="format",
                           hint=f"choose one of {', '.join(FORMATS)}")
    view = _view(report, depth, tree, columns, summary)
    if fmt == "csv":
        return _csv(report, view)
    return _tabulated(report, fmt, explain, si, view)


__all__ = ["FORMATS", "human_bytes", "human_count", "render", "short_count", "size_lines",
           "summary_lines"]
