"""Turn a Report into text, markdown, csv, json, latex or html (numbers become strings here only)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from ..errors import CnnsizeError

if TYPE_CHECKING:  # pragma: no cover
    from ..report import LayerStats, Report

FORMATS = ("text", "markdown", "csv", "json", "latex", "html")
_TABLEFMT = {"text": "simple", "markdown": "pipe", "latex": "latex_booktabs", "html": "html"}
HEADERS = ("layer", "type", "output", "units", "weights", "biases", "connections", "MACs", "FLOPs",
           "memory", "RF")


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


def _rf_text(row: LayerStats) -> str:
    if row.receptive_field is None:
        return "global"
    rf = "×".join(str(r) for r in row.receptive_field)
    if len(set(row.receptive_field)) == 1:
        rf = str(row.receptive_field[0])
    return rf


def _jump_text(jump: tuple[Fraction, ...] | None) -> str:
    if jump is None:
        return "—"
    parts = [str(j) for j in jump]
    return parts[0] if len(set(parts)) == 1 else "×".join(parts)


def _table_rows(report: Report, si: bool, indent: str) -> list[list[str]]:
    c = report.conventions
    inputs = report.inputs or (("input", report.input_shape),)
    rows = [[name, "", shape_text(shape), "", "", "", "", "", "",
             human_bytes(math.prod(shape) * c.batch * c.bytes_per_element, si), "1"]
            for name, shape in inputs]
    for row in report.layers:
        mark = " ⚠" if row.notes else ""
        rows.append([
            indent * row.depth + row.name + mark, row.type, shape_text(row.output_shape),
            human_count(row.units), human_count(row.weights), human_count(row.biases),
            human_count(row.connections), human_count(row.macs), human_count(row.flops),
            human_bytes(row.activation_bytes, si) if row.activation_bytes else "0",
            _rf_text(row),
        ])
    t = report.totals
    rows.append(["total", "", "", human_count(t.units), human_count(t.weights),
                 human_count(t.biases), human_count(t.connections), human_count(t.macs),
                 human_count(t.flops), human_bytes(t.activation_bytes, si), ""])
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
    if t.uncalled_params or t.uncalled_buffers:
        lines.append(f"not called by forward (counted apart): {t.uncalled_params:,} params"
                     + (f", {t.uncalled_buffers:,} buffers" if t.uncalled_buffers else "")
                     + " in " + ", ".join(path for path, _, _ in report.uncalled))
    lines += [
        f"MACs: {_both(t.macs)}   FLOPs: {_both(t.flops)}",
        f"activation memory (batch {c.batch}, input included): {_bytes(t.activation_bytes, si)} "
        f"summed over every layer's output; inference peak {_bytes(t.peak_bytes, si)} "
        + (f"while {t.peak_at} runs" if t.peak_at else "(the input)"),
        f"training memory estimate: SGD-momentum {human_bytes(t.training_bytes_sgd, si)}, "
        f"Adam {human_bytes(t.training_bytes_adam, si)} (saved for backward "
        f"{human_bytes(t.saved_bytes, si)} + params, gradients and optimizer state"
        + (" + buffers" if t.buffers else "") + ")",
        f"conventions: {c.describe()}",
    ]
    return lines


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
    return [
        f"inference peak = {t.peak_bytes:,} B ({human_bytes(t.peak_bytes, si)}) {where}, the "
        f"tensors alive then: {alive}",
        "  (ops run in order; a tensor is freed after its last reader, the inputs and outputs "
        "stay; views and in-place ops share their input's storage)",
        f"saved for backward (training mode, batch {c.batch}) = {t.saved_bytes:,} B"
        + (f", by row: {saved}" if saved else ""),
        f"training, SGD-momentum = saved {t.saved_bytes:,} + buffers {t.buffer_bytes:,} + "
        f"3·{p:,} (params, gradients, momentum) = {t.training_bytes_sgd:,} B "
        f"({human_bytes(t.training_bytes_sgd, si)})",
        f"training, Adam = saved {t.saved_bytes:,} + buffers {t.buffer_bytes:,} + "
        f"4·{p:,} (params, gradients, two moments) = {t.training_bytes_adam:,} B "
        f"({human_bytes(t.training_bytes_adam, si)})",
    ]


def _notes(report: Report) -> list[str]:
    return [f"⚠ {note}" for note in report.notes] + [
        f"⚠ {row.name}: {note}" for row in report.layers for note in row.notes]


def _explain(report: Report) -> list[str]:
    lines = []
    previous = report.inputs[0][0] if report.inputs else "input"
    for row in report.layers:
        reads = "" if row.inputs == (previous,) else f" ← {', '.join(row.inputs)}"
        previous = row.name
        if not row.explain:
            continue
        args = ", ".join(f"{k}={v}" for k, v in row.args)
        lines.append(f"{row.name} ({row.type}{': ' + args if args else ''}){reads}")
        lines.extend(f"  {line}" for line in row.explain)
    return lines


def _tabulated(report: Report, fmt: str, explain: bool, si: bool) -> str:
    indent = "  " if fmt == "text" else ""
    body = table(_table_rows(report, si, indent), HEADERS, _TABLEFMT[fmt],
                 colalign=("left", "left", "right") + ("right",) * 8,
                 preserve_whitespace=fmt == "text")
    title = f"{report.name}: {input_text(report)}"
    extra = summary_lines(report, si) + _notes(report)
    if fmt == "text":
        parts = [title, "", body, "", *extra]
        if explain:
            parts += ["", "Formulas:", *_explain(report), "", "Memory:",
                      *(f"  {line}" for line in memory_lines(report, si))]
        return "\n".join(parts) + "\n"
    if fmt == "markdown":
        parts = [f"### {title}", "", body, "", *(f"- {line}" for line in extra)]
        if explain:
            parts += ["", "```", *_explain(report), "", "Memory:",
                      *(f"  {line}" for line in memory_lines(report, si)), "```"]
        return "\n".join(parts) + "\n"
    if fmt == "html":
        import html

        items = "".join(f"<li>{html.escape(line)}</li>" for line in extra)
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
    """tabulate with numbers kept as given; leading spaces (indentation) kept when asked.

    tabulate >= 0.10 takes `preserve_whitespace=`; older versions read a module global, which is
    set and restored here.
    """
    import inspect

    import tabulate as tab

    rows = [[_cell(c, tablefmt) for c in row] for row in rows]
    headers = [_cell(h, tablefmt) for h in headers]
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


def _csv(report: Report) -> str:
    out = io.StringIO()
    rows = [row.to_dict() for row in report.layers]
    keys = list(rows[0]) if rows else []
    writer = csv.DictWriter(out, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for rec in rows:
        rec["inputs"] = " ".join(rec["inputs"])
        rec["input_shapes"] = " ".join("x".join(map(str, shape)) for shape in rec["input_shapes"])
        rec["shares"] = rec["shares"] or ""
        rec["output_shape"] = "x".join(map(str, rec["output_shape"]))
        rec["receptive_field"] = "x".join(map(str, rec["receptive_field"] or [])) or "global"
        rec["jump"] = "x".join(map(str, rec["jump"] or []))
        rec["notes"] = " | ".join(rec["notes"])
        writer.writerow(rec)
    return out.getvalue()


def _json(report: Report) -> str:
    return json_text(report.to_dict())


def render(report: Report, fmt: str = "text", *, explain: bool = False, si: bool = False) -> str:
    """Render a report in one of FORMATS."""
    renderers: dict[str, Callable[[], str]] = {
        "csv": lambda: _csv(report),
        "json": lambda: _json(report),
    }
    if fmt in renderers:
        return renderers[fmt]()
    if fmt in _TABLEFMT:
        return _tabulated(report, fmt, explain, si)
    raise CnnsizeError(f"unknown format {fmt!r}", field="format",
                       hint=f"choose one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "human_bytes", "human_count", "render", "short_count", "summary_lines"]
