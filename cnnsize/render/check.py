"""Render a CheckResult: one row per claim; the worked formula and diagnosis under each ✗."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CnnsizeError
from . import json_text, table, value_text

if TYPE_CHECKING:  # pragma: no cover
    from ..claims import CheckResult, Verdict

_TABLEFMT = {"text": "simple", "markdown": "pipe"}


def render_check(result: CheckResult, fmt: str = "text") -> str:
    if fmt == "json":
        return json_text(result.to_dict())
    if fmt not in _TABLEFMT:
        raise CnnsizeError(f"unknown format {fmt!r}", field="format",
                           hint="choose one of text, markdown, json")
    rows = [[v.layer, v.quantity, v.claimed, _computed_text(v), "✓" if v.ok else "✗",
             v.note or v.diagnosis] for v in result.claims]
    body = (table(rows, ["layer", "quantity", "claimed", "computed", "", "why"], _TABLEFMT[fmt])
            if rows else "every cell is blank: fill in your numbers, then check again")
    details = []
    for v in result.claims:
        if v.ok:
            continue
        details.append(f"✗ {v.layer} {v.quantity}: you wrote {v.claimed}, the right value is "
                       f"{_computed_text(v)}")
        details += [f"    {line}" for line in v.formula]
        if v.diagnosis:
            details.append(f"    likely mistake: {v.diagnosis}")
    lines = [f"{result.network}: checking {result.source}", "", body, "", *details]
    if details:
        lines.append("")
    if result.blanks:  # listed, never with the value: that is for the student to work out
        lines += [_blank_text(result.blanks), ""]
    lines += [*result.conventions, result.summary()]
    if fmt == "markdown":
        return "\n".join([f"### {lines[0]}", "", body, "", "```", *lines[4:], "```"]) + "\n"
    return "\n".join(lines) + "\n"


def _computed_text(v: Verdict) -> str:
    """The computed value with its unit where it has one: 61,050,784 B."""
    if v.quantity == "receptive_field" and v.computed is None:
        return "global"  # each output reads the whole input
    text = value_text(v.computed)
    return f"{text} B" if v.quantity == "activation_bytes" and isinstance(v.computed, int) else text


def _blank_text(blanks: tuple[Verdict, ...], most: int = 12) -> str:
    cells = [f"{v.layer} {v.quantity}" for v in blanks]
    shown = ", ".join(cells[:most]) + (f" and {len(cells) - most} more" if len(cells) > most else "")
    return f"left blank ({len(cells)}): {shown}"
