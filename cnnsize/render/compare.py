"""Render a Comparison: quantities down, networks across."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING, Any

from ..errors import CnnsizeError
from . import human_bytes, json_text, short_count, table

if TYPE_CHECKING:  # pragma: no cover
    from ..comparison import Comparison, Row

_TABLEFMT = {"text": "simple", "markdown": "pipe", "latex": "latex_booktabs", "html": "html"}


def cell(row: Row, value: Any, si: bool = False) -> str:
    if value is None:
        return "—"
    if row.kind == "bytes":
        return human_bytes(value, si)
    if row.kind == "share":
        return f"{value:.1%}"
    if row.kind == "shape":
        return "×".join(map(str, value))
    if row.kind in ("layer", "layer_bytes"):
        name, amount = value
        size = human_bytes(amount, si) if row.kind == "layer_bytes" else short_count(amount)
        return f"{name} ({size})"
    if row.kind == "count" and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}" if value < 10**6 else f"{value:,} ({short_count(value)})"
    return str(value)


def render_comparison(comparison: Comparison, fmt: str = "text", *, si: bool = False) -> str:
    if fmt == "json":
        return json_text(comparison.to_dict())
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["quantity", *comparison.names])
        for row in comparison.rows:
            writer.writerow([row.key, *(_csv_value(v) for v in row.values)])
        return out.getvalue()
    if fmt not in _TABLEFMT:
        raise CnnsizeError(f"unknown format {fmt!r}", field="format",
                           hint="choose one of text, markdown, csv, json, latex, html")
    rows = [[row.label, *(cell(row, v, si) for v in row.values)] for row in comparison.rows]
    body = table(rows, ["", *comparison.names], _TABLEFMT[fmt])
    footer = [f"conventions: {comparison.conventions.describe()}"]
    if fmt == "markdown":
        return body + "\n\n" + "\n".join(f"- {line}" for line in footer) + "\n"
    if fmt in ("latex", "html"):
        return body + "\n"
    return body + "\n\n" + "\n".join(footer) + "\n"


def _csv_value(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str):
        return f"{value[0]}={value[1]}"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return "" if value is None else value
