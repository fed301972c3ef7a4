"""Render a Gradebook: per student (score, points, each ✗ with its short diagnosis) and per
question (how many got it right, the most common mistakes), as Markdown, text, CSV or JSON."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

from ..errors import CnnsizeError
from . import json_text, table, value_text

if TYPE_CHECKING:  # pragma: no cover
    from ..grade import Gradebook, Graded, Student

FORMATS = ("text", "markdown", "csv", "json")
MOST_MISTAKES = 3   # mistakes named per question


def render_gradebook(book: Gradebook, fmt: str = "markdown") -> str:
    if fmt == "json":
        return json_text(book.to_dict())
    if fmt == "csv":
        return _csv(book)
    if fmt not in ("text", "markdown"):
        raise CnnsizeError(f"unknown format {fmt!r}", field="format",
                           hint="choose one of " + ", ".join(FORMATS))
    tablefmt = "pipe" if fmt == "markdown" else "simple"

    def heading(text: str, level: int) -> list[str]:
        if fmt == "markdown":
            return [f"{'#' * level} {text}", ""]
        return [text, "=" * len(text) if level == 1 else "-" * len(text), ""]

    students = [[s.name, _percent(s.score), f"{_points(s.earned)}/{_points(s.possible)}",
                 "; ".join(_wrong(a) for a in s.wrong), "; ".join(s.notes)]
                for s in book.graded]
    headers = ["student", "score", "points", "wrong (short diagnosis)", "notes"]
    if not any(row[-1] for row in students):
        students, headers = [row[:-1] for row in students], headers[:-1]
    questions = [[q.question.label, _points(q.question.points), f"{q.right}/{q.graded}",
                  ", ".join(f"{m} ({n})" for m, n in q.mistakes[:MOST_MISTAKES])
                  + (", …" if len(q.mistakes) > MOST_MISTAKES else "")]
                 for q in book.summary()]
    lines = [*heading(f"Gradebook: {book.network}", 1), *_about(book), ""]
    lines += heading("Students", 2)
    lines += [table(students, headers, tablefmt, colalign=("left", "right", "right")
                    + ("left",) * (len(headers) - 3)) if students
              else "no file could be graded", ""]
    lines += heading("Questions", 2)
    lines += [table(questions, ["question", "points", "right", "most common mistakes"],
                    tablefmt, colalign=("left", "right", "right", "left")), ""]
    if book.unreadable:
        lines += heading("Not graded", 2)
        lines += [table([[s.source, s.error] for s in book.unreadable], ["file", "error"],
                        tablefmt), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def _about(book: Gradebook) -> list[str]:
    n, bad = len(book.students), len(book.unreadable)
    asked = ("the cells of the answer file" if book.questions_from == "answer file"
             else "every cell some student answered (an answer file fixes them)")
    points = ", ".join(f"{q} {_points(p)}" for q, p in book.points)
    return [
        f"{n} file{'s' if n != 1 else ''} checked against {book.rubric}: {n - bad} graded"
        + (f", {bad} could not be read" if bad else "") + ".",
        f"Conventions {book.conventions} (fixed): {book.conventions_text}.",
        f"{len(book.questions)} questions: {asked}; {_points(book.possible)} points "
        f"({points or 'none asked'}).",
    ]


def _wrong(a: Graded) -> str:
    if a.status == "blank":
        return f"{a.question.label}: left blank"
    return f"{a.question.label}: {a.claimed} → {value_text(a.computed)} ({a.short})"


def _percent(score: Fraction | None) -> str:
    return "—" if score is None else f"{float(score) * 100:.1f}%"


def _points(x: Fraction) -> str:
    return str(x.numerator) if x.denominator == 1 else f"{float(x):.4g}"


def _text_cell(text: str) -> str:
    """Text from a student's file, not read as a formula by a spreadsheet (a file named
    '=cmd.csv'): a leading = + - @ gets a quote."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@") else text


def _csv(book: Gradebook) -> str:
    """One row per student (a column per question with the points earned), then a row of
    how many got each question right and one of the most common mistake."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    labels = [q.label for q in book.questions]
    writer.writerow(["student", "file", "score", "points", "of", *labels, "wrong", "notes",
                     "error"])

    def row(s: Student) -> list[str]:
        name, source = _text_cell(s.name), _text_cell(s.source)
        if not s.graded:
            return [name, source, "", "", "", *[""] * len(labels), "", "", _text_cell(s.error)]
        return [name, source, _percent(s.score), _points(s.earned), _points(s.possible),
                *[_points(a.earned) for a in s.answers],
                _text_cell("; ".join(_wrong(a) for a in s.wrong)),
                _text_cell("; ".join(s.notes)), ""]

    for s in book.students:
        writer.writerow(row(s))
    summary = book.summary()
    writer.writerow(["(right)", "", "", "", "", *[f"{q.right}/{q.graded}" for q in summary],
                     "", "", ""])
    writer.writerow(["(most common mistake)", "", "", "", "",
                     *[f"{q.mistakes[0][0]} ({q.mistakes[0][1]})" if q.mistakes else ""
                       for q in summary], "", "", ""])
    return out.getvalue()


__all__ = ["FORMATS", "render_gradebook"]
