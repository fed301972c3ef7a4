"""Render a Worksheet: a Markdown, CSV or YAML claims file that `cnnsize check` reads back, or
a LaTeX tabular to print; with answers, the key with the worked formula of every cell."""

from __future__ import annotations

import csv
import io
import json
from typing import TYPE_CHECKING

from ..claims import NAMED_CONVENTIONS
from ..errors import CnnsizeError
from . import table

if TYPE_CHECKING:  # pragma: no cover
    from ..worksheet import Cell, Row, Worksheet

BLANK, NOTHING = "?", "-"   # a cell to fill in; a cell with nothing to work out
_DEFAULTS = ("arguments not shown take PyTorch's defaults (stride 1, padding 0; a pool's "
             "stride is its kernel size)")


def render_worksheet(ws: Worksheet, fmt: str = "md", *, answers: bool = False,
                     filename: str | None = None) -> str:
    writers = {"md": _markdown, "csv": _csv, "yaml": _yaml, "latex": _latex}
    if fmt not in writers:
        raise CnnsizeError(f"unknown format {fmt!r}", field="--format",
                           hint="choose one of " + ", ".join(writers))
    return writers[fmt](ws, answers, filename or f"worksheet.{_SUFFIX[fmt]}")


_SUFFIX = {"md": "md", "csv": "csv", "yaml": "yaml", "latex": "tex"}


def _check_command(ws: Worksheet, filename: str, fmt: str) -> str:
    """The command that checks the filled-in file: a table names neither the network nor the
    conventions, a YAML file names both."""
    if fmt == "yaml":
        return f"cnnsize check {_quote(filename)}"
    return (f"cnnsize check {_quote(filename)} --spec {_quote(ws.spec)} "
            f"--convention {_quote(ws.conventions.label)}")


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _intro(ws: Worksheet, answers: bool, filename: str, fmt: str) -> list[str]:
    """What the sheet is about and how to fill it in, as plain lines."""
    title = f"{'Answers' if answers else 'Worksheet'}: {ws.network}, {ws.input}"
    lines = [title]
    if answers:
        lines.append("Every value worked out, with its formula; counted as "
                     f"{ws.conventions.label} counts: {ws.conventions.conventions.describe()}.")
    else:
        blank = "each empty value" if fmt == "yaml" else f"each {BLANK}"
        lines += [f"Work out {blank} and write your number in its place ({NOTHING}: nothing to "
                  f"work out); {_DEFAULTS}.",
                  f"Count as {ws.conventions.label} counts: "
                  f"{ws.conventions.conventions.describe()}."]
    lines.append(f"Check: {_check_command(ws, filename, fmt)}")
    return lines


def _text(cell: Cell, answers: bool, plain: bool = False) -> str:
    """A cell as written in the sheet: its value (the key), ? (to fill in) or - (nothing)."""
    if not cell.asked:
        return NOTHING
    if not answers:
        return BLANK
    value = cell.value
    if isinstance(value, tuple):
        return "×".join(map(str, value))
    assert isinstance(value, int)
    return str(value) if plain else f"{value:,}"


def _formula(cell: Cell) -> tuple[str, ...]:
    if cell.answer.formula:
        return cell.answer.formula
    return (f"{cell.quantity} = {_text(cell, True)}",)


def _safe(text: str) -> str:
    """A cell of a Markdown table that `check` splits on '|': no '|' in it."""
    return text.replace("|", "/")


def _markdown(ws: Worksheet, answers: bool, filename: str) -> str:
    intro = _intro(ws, answers, filename, "md")
    rows = [[_safe(r.name), _safe(r.what), *[_text(c, answers) for c in _full(ws, r)]]
            for r in ws.rows]
    body = table(rows, ["layer", "type", *ws.quantities], "pipe",
                 colalign=("left", "left", *("right",) * len(ws.quantities)))
    lines = [f"# {intro[0]}", "", *intro[1:-1], "", f"Check your numbers: `{intro[-1][7:]}`", "",
             body, ""]
    if answers:
        lines += ["## Worked formulas", "", "```text"]
        for r in ws.rows:
            lines.append(f"{r.name}: {r.what}")
            lines += [f"  {line}" for c in r.cells if c.asked for line in _formula(c)]
        lines += ["```", ""]
    return "\n".join(lines)


def _full(ws: Worksheet, row: Row) -> list[Cell]:
    """The row's cells in the sheet's columns (a total row has none for shapes)."""
    from ..claims import Answer
    from ..worksheet import Cell

    by_quantity = {c.quantity: c for c in row.cells}
    return [by_quantity.get(q) or Cell(q, Answer(row.name, q, None, ()), False)
            for q in ws.quantities]


def _csv(ws: Worksheet, answers: bool, filename: str) -> str:
    out = io.StringIO()
    for line in _intro(ws, answers, filename, "csv"):
        out.write(f"# {line}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["layer", "type", *ws.quantities, *(["notes"] if answers else [])])
    for r in ws.rows:
        cells = _full(ws, r)
        notes = [_fit("; ".join(line for c in cells if c.asked for line in _formula(c)))]
        writer.writerow([r.name, r.what, *[_text(c, answers, plain=True) for c in cells],
                         *(notes if answers else [])])
    return out.getvalue()


def _fit(text: str) -> str:
    """A cell short enough for `check` to read the table back."""
    from ..claims import MAX_CELL

    return text if len(text) <= MAX_CELL else text[:MAX_CELL - 1] + "…"


def _yaml_key(name: str) -> str:
    """A row name as a YAML key that reads back as the same string."""
    import yaml

    try:
        if yaml.safe_load(f"{name}: 1") == {name: 1}:
            return name
    except yaml.YAMLError:
        pass
    return json.dumps(name, ensure_ascii=False)


def _yaml_value(cell: Cell) -> str:
    value = cell.value
    if isinstance(value, tuple):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)


def _yaml(ws: Worksheet, answers: bool, filename: str) -> str:
    lines = [f"# {line}" for line in _intro(ws, answers, filename, "yaml")]
    lines.append(f"spec: {_yaml_key(ws.spec)}")
    label = ws.conventions.label
    if label in NAMED_CONVENTIONS:
        lines.append(f"conventions: {label}")
    else:
        c = ws.conventions.conventions
        lines.append("conventions: {" + ", ".join(
            f"{k}: {json.dumps(getattr(c, k))}" for k in (
                "bias", "bias_connections", "flops_per_mac", "elementwise_flops",
                "inplace_activations", "dtype", "batch")) + "}")
    if answers:
        lines.append("points: {" + ", ".join(f"{q}: 1" for q in ws.quantities) + "}"
                     "   # per quantity, for cnnsize check --grade")
    layers = [r for r in ws.rows if r.name != "total"]
    if layers:
        lines.append("layers:")
    for r in layers:
        lines += _yaml_cells(f"  {_yaml_key(r.name)}:", r, answers, "    ")
    for r in ws.rows:
        if r.name == "total":
            lines += _yaml_cells("totals:", r, answers, "  ", comment=False)
    return "\n".join(lines) + "\n"


def _yaml_cells(head: str, row: Row, answers: bool, indent: str, comment: bool = True
                ) -> list[str]:
    asked = [c for c in row.cells if c.asked]
    if not asked:
        return []
    lines = [f"{head}{'  # ' + row.what if comment else ''}"]
    for c in asked:
        if answers:
            lines += [f"{indent}# {line}" for line in _formula(c)]
            lines.append(f"{indent}{c.quantity}: {_yaml_value(c)}")
        else:
            lines.append(f"{indent}{c.quantity}:")
    return lines


# ---------------------------------------------------------------- LaTeX


_LATEX = {
    "\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
    "%": r"\%", "_": r"\_", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
    "×": r"\ensuremath{\times}", "·": r"\ensuremath{\cdot}", "−": r"\ensuremath{-}",
    "→": r"\ensuremath{\rightarrow}", "←": r"\ensuremath{\leftarrow}",
    "⌊": r"\ensuremath{\lfloor}", "⌋": r"\ensuremath{\rfloor}", "⌈": r"\ensuremath{\lceil}",
    "⌉": r"\ensuremath{\rceil}", "≥": r"\ensuremath{\geq}", "≤": r"\ensuremath{\leq}",
    "≠": r"\ensuremath{\neq}", "±": r"\ensuremath{\pm}", "≈": r"\ensuremath{\approx}",
    "∏": r"\ensuremath{\prod}", "∑": r"\ensuremath{\sum}", "Σ": r"\ensuremath{\Sigma}",
    "√": r"\ensuremath{\surd}", "∞": r"\ensuremath{\infty}", "²": r"\ensuremath{^2}",
    "³": r"\ensuremath{^3}", "…": r"\ldots{}", "—": "---", "–": "--", "’": "'", "‘": "`",
    "“": "``", "”": "''", "✓": r"\ensuremath{\surd}", "⚠": "(!)",
    **{g: rf"\ensuremath{{\{n}}}" for g, n in (
        ("α", "alpha"), ("β", "beta"), ("γ", "gamma"), ("δ", "delta"), ("ε", "epsilon"),
        ("λ", "lambda"), ("μ", "mu"), ("σ", "sigma"), ("π", "pi"), ("τ", "tau"))},
}


def latex_text(text: str) -> str:
    """Text for LaTeX (no package needed): its special characters escaped, the symbols of
    cnnsize's formulas as math, anything else outside ASCII as '?'."""
    out = []
    for ch in text:
        if ch in _LATEX:
            out.append(_LATEX[ch])
        elif ch.isascii() and (ch.isprintable() or ch == " "):
            out.append(ch)
        elif ch.isspace():
            out.append(" ")
        else:
            out.append("?")
    return "".join(out)


def _latex(ws: Worksheet, answers: bool, filename: str) -> str:
    intro = _intro(ws, answers, filename, "latex")
    n = len(ws.quantities)
    spec = "|l|l|" + ("r|" * n if answers else "p{2.2cm}|" * n)
    title = intro[0].replace("×", "x").encode("ascii", "replace").decode("ascii")
    lines = [f"% {title} (cnnsize worksheet{' --answers' if answers else ''})",
             "% plain LaTeX, no package needed: \\input{} this file in a document",
             r"\noindent " + latex_text(intro[0]) + r"\par",
             r"\noindent " + latex_text(" ".join(intro[1:-1])) + r"\par\medskip",
             rf"\begin{{tabular}}{{{spec}}}", r"\hline",
             " & ".join(["layer", "type", *[latex_text(q) for q in ws.quantities]]) + r" \\",
             r"\hline"]
    for r in ws.rows:
        cells = [("" if c.asked and not answers else latex_text(_text(c, answers)))
                 for c in _full(ws, r)]
        lines += [" & ".join([latex_text(r.name), latex_text(r.what), *cells]) + r" \\",
                  r"\hline"]
    lines.append(r"\end{tabular}")
    if answers:
        lines += [r"\medskip", r"\begin{description}"]
        for r in ws.rows:
            formulas = [latex_text(line) for c in r.cells if c.asked for line in _formula(c)]
            if formulas:
                lines.append(rf"\item[{{{latex_text(r.name)}}}] {latex_text(r.what)}\newline "
                             + r"\newline ".join(formulas))
        lines.append(r"\end{description}")
    return "\n".join(lines) + "\n"


__all__ = ["BLANK", "NOTHING", "latex_text", "render_worksheet"]
