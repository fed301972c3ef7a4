"""Grade many students' claims files against one spec or answer file: a gradebook.

An instructor fixes the counting conventions (a name such as `pytorch`, or a file of fields)
and, optionally, the questions and their points in an answer file: a claims file whose cells
are the questions (a value is the key and must hold; a blank asks without giving one) with
`points: {weights: 2, ...}` (1 each by default). Each student's file is checked with `check`
under those conventions; a file that cannot be read is listed with its error and the others
are graded. Pure: no torch, no pandas; the gradebook is plain data, rendered by
`render/gradebook.py`.
"""

from __future__ import annotations

import glob
import math
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from .claims import (
    ALIASES,
    NAMED_CONVENTIONS,
    QUANTITIES,
    CheckResult,
    FixedConventions,
    Mistake,
    Verdict,
    check,
    claims_network,
    fixed_conventions,
)
from .errors import CnnsizeError, SpecError
from .extras import progress as progress_bar
from .files import read_text, read_yaml, same_file
from .layers.base import did_you_mean
from .spec import Network, load

Key = tuple[tuple[str, ...], str]   # (the rows, sorted; () for a total), quantity
Status = Literal["right", "wrong", "blank"]
DEFAULT_CONVENTION = "pytorch"
MAX_SUBMISSIONS = 10_000


@dataclass(frozen=True, slots=True)
class Question:
    """One cell to grade: a row (or several joined, or the total) and a quantity."""

    key: Key
    label: str          # "C1 weights", "total params"
    points: Fraction


@dataclass(frozen=True, slots=True)
class Rubric:
    """What every student is graded against."""

    network: Network
    conventions: FixedConventions
    points: Mapping[str, Fraction]          # quantity → points; 1 where not given
    questions: tuple[Question, ...] | None  # None: the cells the students answered
    source: str                             # the spec or answer file, as given
    files: tuple[str, ...] = ()             # files it was read from (never graded, never written)

    def points_for(self, quantity: str) -> Fraction:
        return self.points.get(quantity, Fraction(1))


@dataclass(frozen=True, slots=True)
class Graded:
    """One student's answer to one question."""

    question: Question
    status: Status
    claimed: str = ""
    computed: int | tuple[int, ...] | None = None
    mistake: Mistake | None = None
    diagnosis: str = ""

    @property
    def earned(self) -> Fraction:
        return self.question.points if self.status == "right" else Fraction(0)

    @property
    def short(self) -> str:
        """What went wrong, in a few words: the diagnosis's name."""
        if self.status == "blank":
            return Mistake.BLANK.value
        return self.mistake.value if self.mistake is not None else "no diagnosis"


@dataclass(frozen=True, slots=True)
class Student:
    """One claims file graded, or the error that kept it from being read."""

    name: str                       # the file's stem (its name where two stems are alike)
    source: str
    answers: tuple[Graded, ...] = ()
    error: str = ""
    notes: tuple[str, ...] = ()

    @property
    def graded(self) -> bool:
        return not self.error

    @property
    def earned(self) -> Fraction:
        return sum((a.earned for a in self.answers), Fraction(0))

    @property
    def possible(self) -> Fraction:
        return sum((a.question.points for a in self.answers), Fraction(0))

    @property
    def score(self) -> Fraction | None:
        return self.earned / self.possible if self.graded and self.possible else None

    @property
    def wrong(self) -> tuple[Graded, ...]:
        return tuple(a for a in self.answers if a.status != "right")


@dataclass(frozen=True, slots=True)
class QuestionSummary:
    question: Question
    right: int
    graded: int                          # students whose file could be read
    mistakes: tuple[tuple[str, int], ...]  # (short diagnosis, how many), most common first


@dataclass(frozen=True, slots=True)
class Gradebook:
    network: str
    rubric: str                 # the spec or answer file
    conventions: str            # the label of the fixed conventions
    conventions_text: str       # Conventions.describe()
    questions: tuple[Question, ...]
    questions_from: Literal["answer file", "students"]
    students: tuple[Student, ...]
    points: tuple[tuple[str, Fraction], ...]  # the points of each quantity asked

    @property
    def graded(self) -> tuple[Student, ...]:
        return tuple(s for s in self.students if s.graded)

    @property
    def unreadable(self) -> tuple[Student, ...]:
        return tuple(s for s in self.students if not s.graded)

    @property
    def possible(self) -> Fraction:
        return sum((q.points for q in self.questions), Fraction(0))

    def summary(self) -> tuple[QuestionSummary, ...]:
        """Per question: how many got it right, and the mistakes made most often."""
        out = []
        for i, q in enumerate(self.questions):
            answers = [s.answers[i] for s in self.graded]
            counts = Counter(a.short for a in answers if a.status != "right")
            mistakes = tuple(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
            out.append(QuestionSummary(q, sum(a.status == "right" for a in answers),
                                       len(answers), mistakes))
        return tuple(out)

    def render(self, fmt: str = "markdown") -> str:
        from .render.gradebook import render_gradebook

        text: str = render_gradebook(self, fmt)
        return text

    def to_dict(self) -> dict[str, Any]:
        def number(x: Fraction) -> int | float:
            return int(x) if x.denominator == 1 else float(x)

        def computed(value: int | tuple[int, ...] | None) -> Any:
            return list(value) if isinstance(value, tuple) else value

        return {
            "network": self.network, "rubric": self.rubric, "conventions": self.conventions,
            "conventions_text": self.conventions_text, "questions_from": self.questions_from,
            "points": {q: number(p) for q, p in self.points},
            "possible": number(self.possible),
            "students": [{
                "name": s.name, "file": s.source, "error": s.error or None,
                "score": float(s.score) if s.score is not None else None,
                "points": number(s.earned) if s.graded else None, "notes": list(s.notes),
                "answers": [{"question": a.question.label, "status": a.status,
                             "claimed": a.claimed, "computed": computed(a.computed),
                             "points": number(a.earned), "of": number(a.question.points),
                             "mistake": a.short if a.status != "right" else None,
                             "diagnosis": a.diagnosis} for a in s.answers],
            } for s in self.students],
            "questions": [{"question": q.question.label, "points": number(q.question.points),
                           "right": q.right, "graded": q.graded,
                           "mistakes": [{"mistake": m, "count": n} for m, n in q.mistakes]}
                          for q in self.summary()],
        }


# ---------------------------------------------------------------- the rubric


def load_rubric(spec_or_answer: str | os.PathLike[str] | Mapping[str, Any] | Network,
                convention: str | os.PathLike[str] | Mapping[str, Any] | None = None) -> Rubric:
    """A spec (a built-in name, a spec file) or an answer file: a claims file (YAML) with
    `spec`, optionally `conventions`, `points` and the questions as `layers`/`totals` cells.
    `convention` (--convention) overrides the answer file's conventions; the default is
    pytorch."""
    answer = _answer_data(spec_or_answer)
    if answer is None:
        fixed = fixed_conventions(convention if convention is not None else DEFAULT_CONVENTION)
        network = load(spec_or_answer)
        return Rubric(network, fixed, {}, None, _name(spec_or_answer), _files(spec_or_answer))
    data, source = answer
    try:
        if convention is not None:
            fixed = fixed_conventions(convention)
        elif data.get("conventions"):
            fixed = fixed_conventions(data["conventions"], "conventions")
        else:
            fixed = fixed_conventions(DEFAULT_CONVENTION)
        points = _points(data.get("points"))
        network = claims_network(data, source)
    except CnnsizeError as e:
        raise e.located(source=source) from None
    questions = None
    if data.get("layers") or data.get("totals"):
        key = check(data if source == "<dict>" else source, spec=network, conventions=fixed)
        wrong = [v for v in key.claims if not v.ok]
        if wrong:
            raise SpecError(
                f"the answer key does not hold in the conventions {fixed.label}: "
                + "; ".join(f"{v.layer} {v.quantity}: {v.claimed}, the right value is "
                            f"{_value(v.computed)}" for v in wrong[:5])
                + (f"; and {len(wrong) - 5} more" if len(wrong) > 5 else ""),
                source=source, field="layers" if wrong[0].rows else "totals",
                hint="correct the value, leave the cell blank (a question without a key), or "
                     "fix the conventions: " + ", ".join(NAMED_CONVENTIONS) + " or a file")
        questions = tuple(Question(v.key, _label(v), points.get(v.quantity, Fraction(1)))
                          for v in key.verdicts)
    return Rubric(network, fixed, points, questions, source, _files(source))


def _answer_data(value: Any) -> tuple[dict[str, Any], str] | None:
    """The answer file's mapping and name, or None for a spec (a name, a spec file)."""
    if isinstance(value, Network):
        return None
    if isinstance(value, Mapping):
        return (dict(value), "<dict>") if "spec" in value else None
    name = os.fspath(value)
    if not os.path.isfile(name) or not name.lower().endswith((".yaml", ".yml")):
        return None
    data = read_yaml(read_text(name, "answer"), name)
    if isinstance(data, Mapping) and "spec" in data:
        return dict(data), name
    return None


def _points(given: Any) -> dict[str, Fraction]:
    """points: {weights: 2, connections: 1, ...}: the points of each quantity (1 each)."""
    if given is None:
        return {}
    if not isinstance(given, Mapping):
        raise SpecError("must map quantities to points, e.g. {weights: 2, connections: 1}",
                        field="points")
    out: dict[str, Fraction] = {}
    for key, value in given.items():
        quantity = ALIASES.get(str(key).strip().lower())
        if quantity is None:
            raise SpecError(f"unknown quantity {key!r}", field="points",
                            hint=did_you_mean(str(key), list(QUANTITIES), "quantities"))
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
                math.isfinite(value) and value >= 0):
            raise SpecError(f"{key}: points are a number ≥ 0, got {value!r}", field="points")
        if quantity in out:
            raise SpecError(f"{key}: the points of {quantity} are given twice", field="points")
        out[quantity] = Fraction(str(value))
    return out


def _label(v: Verdict) -> str:
    return f"{' + '.join(v.rows)} {v.quantity}" if v.rows else f"total {v.quantity}"


def _value(value: int | tuple[int, ...] | None) -> str:
    from .render import value_text

    return value_text(value)


def _name(spec: Any) -> str:
    if isinstance(spec, Network):
        return spec.name
    return os.fspath(spec) if isinstance(spec, (str, os.PathLike)) else "<dict>"


def _files(spec: Any) -> tuple[str, ...]:
    if isinstance(spec, (str, os.PathLike)) and os.path.isfile(os.fspath(spec)):
        return (os.fspath(spec),)
    return ()


# ---------------------------------------------------------------- the submissions


def submissions(where: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
                exclude: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """The files to grade: every file in a folder (not those whose name starts with a dot),
    the files a glob pattern matches (** for subfolders), one file, or a list; never one of
    `exclude` (the answer file, the gradebook)."""
    if isinstance(where, (str, os.PathLike)):
        text = os.fspath(where)
        if os.path.isdir(text):
            found = [str(p) for p in sorted(Path(text).iterdir())
                     if p.is_file() and not p.name.startswith(".")]
            if not found:
                raise CnnsizeError(f"the folder {text} holds no files", field="--grade",
                                   hint="give the folder of the students' claims files, or a "
                                        "pattern such as 'submissions/*.yaml'")
        elif glob.has_magic(text):
            found = sorted(p for p in glob.glob(text, recursive=True) if os.path.isfile(p))
            if not found:
                raise CnnsizeError(f"the pattern {text!r} matches no file", field="--grade",
                                   hint="quote the pattern, so that cnnsize expands it: "
                                        "--grade 'submissions/*.csv'")
        elif os.path.isfile(text):
            found = [text]
        else:
            raise CnnsizeError(f"no such folder or file: {text}", field="--grade",
                               hint="a folder of claims files, a pattern such as "
                                    "'submissions/*.yaml', or one file")
    else:
        found = [os.fspath(p) for p in where]
    excluded = [os.fspath(e) for e in exclude if os.fspath(e)]
    found = [f for f in found if not any(same_file(f, e) for e in excluded)]
    if not found:
        raise CnnsizeError("there is nothing to grade but the answer file", field="--grade")
    if len(found) > MAX_SUBMISSIONS:
        raise CnnsizeError(f"{len(found):,} files to grade; the limit is {MAX_SUBMISSIONS:,}",
                           field="--grade")
    return found


def _names(files: list[str]) -> list[str]:
    """Each file's stem; its name where two stems are alike; its path where two names are."""
    names = [Path(f).stem for f in files]
    for pick in (lambda f: Path(f).name, lambda f: f):
        counts = Counter(names)
        names = [pick(f) if counts[n] > 1 else n for f, n in zip(files, names)]
    return names


# ---------------------------------------------------------------- grading


def grade(students: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], rubric: Rubric,
          *, progress: bool = False, exclude: Iterable[str | os.PathLike[str]] = ()) -> Gradebook:
    """Check every student's claims file against the rubric and collect the grades."""
    files = submissions(students, [*rubric.files, *exclude])
    results: list[tuple[str, str, CheckResult | str]] = []
    for name, path in progress_bar(list(zip(_names(files), files)), progress, "grading",
                                   total=len(files), unit="file"):
        try:
            results.append((name, path, check(path, spec=rubric.network,
                                              conventions=rubric.conventions)))
        except CnnsizeError as e:
            results.append((name, path, _error_text(e)))
        except (RecursionError, MemoryError) as e:
            results.append((name, path, f"{path}: too large to read ({type(e).__name__})"))
    source: Literal["answer file", "students"] = "answer file"
    if rubric.questions is not None:
        questions = rubric.questions
    else:
        checked = [r for _, _, r in results if not isinstance(r, str)]
        questions, source = _asked(rubric, checked), "students"
    graded = []
    for name, path, result in results:
        if isinstance(result, str):
            graded.append(Student(name, path, error=result))
            continue
        by_key = {v.key: v for v in result.verdicts}
        answers = []
        for q in questions:
            v = by_key.get(q.key)
            if v is None or v.blank:
                answers.append(Graded(q, "blank"))
            else:
                answers.append(Graded(q, "right" if v.ok else "wrong", v.claimed, v.computed,
                                      v.mistake, v.diagnosis))
        asked = {q.key for q in questions}
        notes = []
        extra = [v for v in result.claims if v.key not in asked]
        if extra:
            notes.append(f"{len(extra)} claim{'s' if len(extra) != 1 else ''} not asked "
                         f"(not graded): " + ", ".join(_label(v) for v in extra[:3])
                         + (", …" if len(extra) > 3 else ""))
        if "conventions" in result.overridden:
            notes.append(f"its own conventions replaced by {rubric.conventions.label}")
        graded.append(Student(name, path, tuple(answers), notes=tuple(notes)))
    asked_quantities = list(dict.fromkeys(q.key[1] for q in questions))
    points = tuple((quantity, rubric.points_for(quantity)) for quantity in asked_quantities)
    return Gradebook(rubric.network.name, rubric.source, rubric.conventions.label,
                     rubric.conventions.conventions.describe(), tuple(questions), source,
                     tuple(graded), points)


def _asked(rubric: Rubric, results: list[CheckResult]) -> tuple[Question, ...]:
    """Without an answer file: every cell some student answered, in the network's order."""
    from .analyze import analyze

    order = {layer.name: i for i, layer in enumerate(analyze(rubric.network).layers)}
    seen: dict[Key, Verdict] = {}
    for result in results:
        for v in result.verdicts:
            seen.setdefault(v.key, v)

    def position(item: tuple[Key, Verdict]) -> tuple[int, int, int]:
        (rows, quantity), _ = item
        first = min((order.get(r, -1) for r in rows), default=len(order))
        return (not rows, first, QUANTITIES.index(quantity))

    return tuple(Question(key, _label(v), rubric.points_for(key[1]))
                 for key, v in sorted(seen.items(), key=position))


MAX_ERROR = 300  # characters of an error shown in the gradebook
MAX_HINT = 80    # of its hint (a did-you-mean comes first; the list of names after it is cut)


def _error_text(error: CnnsizeError) -> str:
    """An error on one line, without the file name the gradebook shows beside it."""
    where = [x for x in (error.path, error.field) if x]
    parts = [": ".join([*where, error.message])]
    if error.detail:
        parts += [line.strip() for line in error.detail.splitlines() if line.strip()]
    if error.hint:
        hint = error.hint.splitlines()[0]
        parts.append("hint: " + (hint if len(hint) <= MAX_HINT else hint[:MAX_HINT - 1] + "…"))
    text = "; ".join(parts)
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR - 1] + "…"


__all__ = ["Gradebook", "Graded", "Question", "Rubric", "Student", "grade", "load_rubric",
           "submissions"]
