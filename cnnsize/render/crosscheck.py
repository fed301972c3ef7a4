"""Render a CrossCheck: one row per layer, one column per compared quantity."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CnnsizeError
from . import json_text, table, value_text

if TYPE_CHECKING:  # pragma: no cover
    from ..verify.crosscheck import Check, CrossCheck

COLUMNS = (("output_shape", "shape"), ("params", "params"), ("buffers", "buffers"),
           ("macs", "MACs (fvcore)"), ("flops", "FLOPs (flop_counter)"),
           ("activations", "acts (fvcore)"), ("activation_bytes", "memory (hooks)"))
_TABLEFMT = {"text": "simple", "markdown": "pipe"}


def cell(check: Check | None) -> str:
    if check is None:
        return ""
    if check.status == "match":
        return "✓" if check.quantity in ("output_shape",) or check.predicted == 0 \
            else f"✓ {value_text(check.predicted)}"
    if check.status == "not counted":
        return "n/c"
    if check.status == "info":
        return f"({value_text(check.measured)})"
    err = check.rel_error
    pct = f" ({err:+.1%})" if err is not None else ""
    return f"✗ {value_text(check.predicted)} vs {value_text(check.measured)}{pct}"


def render_crosscheck(result: CrossCheck, fmt: str = "text") -> str:
    if fmt == "json":
        return json_text(result.to_dict())
    if fmt not in _TABLEFMT:
        raise CnnsizeError(f"unknown format {fmt!r}", field="format",
                           hint="choose one of text, markdown, json")
    rows = [[layer.name, layer.type, *(cell(layer.get(q)) for q, _ in COLUMNS)]
            for layer in result.layers]
    body = table(rows, ["layer", "type", *(h for _, h in COLUMNS)], _TABLEFMT[fmt])
    totals = [f"total {c.quantity}: predicted {value_text(c.predicted)}, measured {value_text(c.measured)}"
              f" [{c.status}{'; ' + c.note if c.note else ''}]" for c in result.totals]
    legend = ("✓ match (predicted value shown; for a module called several times, all its "
              "calls, at its first row); ✗ predicted vs measured (relative error); n/c not "
              "counted by the reference tool; (x) the tool counts x where cnnsize's convention "
              "counts something else; (—) counted at another row")
    mismatches = [f"✗ {layer.name} {c.quantity}: predicted {value_text(c.predicted)}, measured "
                  f"{value_text(c.measured)}{' — ' + c.note if c.note else ''}"
                  for layer in result.layers for c in layer.checks if c.status == "mismatch"]
    lines = [body, "", *totals, *mismatches, *result.notes, legend, result.summary()]
    if fmt == "markdown":
        return "\n".join([lines[0], "", *(f"- {line}" for line in lines[2:])]) + "\n"
    return "\n".join(lines) + "\n"
