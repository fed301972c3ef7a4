"""cnnsize check --grade: a class's claims files graded against one answer file.

The exercise is the LeNet-5 table of CSC421/2516 Lecture 10 with a params column, made with
`cnnsize worksheet lenet5 --ask units,weights,params,connections --answers`. Three students
hand it in: alice gets every cell right, bob leaves out every bias (params = weights, as the
CS231n VGG table counts), carol writes each convolution's weight count as its connections and
leaves one cell blank; dave's file has a word where a number belongs.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest

from cnnsize.claims import Mistake, check
from cnnsize.errors import CnnsizeError
from cnnsize.grade import grade, load_rubric

ROOT = Path(__file__).parent.parent

ALICE = """layer,type,# units,# weights,# params,# connections
C1,conv,4704,150,156,"117,600"
S2,pool,1176,-,-,4704
C3,conv,1600,2400,2416,"240,000"
S4,pool,400,-,-,1600
F5,fc,120,"48,000","48,120","48,000"
F6,fc,84,"10,080","10,164","10,080"
output,fc,10,840,850,840
"""
# params = weights: 5·5·1·6 = 150 instead of 156, ..., 84·10 = 840 instead of 850
BOB = """| layer | units | weights | params | connections |
|---|---|---|---|---|
| C1 | 4704 | 150 | 150 | 117,600 |
| S2 | 1176 | | | 4704 |
| C3 | 1600 | 2400 | 2400 | 240,000 |
| S4 | 400 | | | 1600 |
| F5 | 120 | 48,000 | 48,000 | 48,000 |
| F6 | 84 | 10,080 | 10,080 | 10,080 |
| output | 10 | 840 | 840 | 840 |
"""
# connections = weights for the convolutions (150, 2,400); F6's connections left blank
CAROL = """spec: lenet5
layers:
  C1: {units: 4704, weights: 150, params: 156, connections: 150}
  S2: {units: 1176, connections: 4704}
  C3: {units: 1600, weights: 2400, params: 2416, connections: 2400}
  S4: {units: 400, connections: 1600}
  F5: {units: 120, weights: 48000, params: 48120, connections: 48000}
  F6: {units: 84, weights: 10080, params: 10164, connections: }
  output: {units: 10, weights: 840, params: 850, connections: 840}
"""
DAVE = "layer,units,weights\nC1,lots,150\n"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """tmp/key.yaml (weights 2 points, the rest 1) and tmp/submissions/."""
    key = tmp_path / "key.yaml"
    proc = run("worksheet", "lenet5", "--ask", "units,weights,params,connections", "--answers",
               "-o", str(key))
    assert proc.returncode == 0, proc.stderr
    text = key.read_text(encoding="utf-8")
    assert "points: {units: 1, weights: 1, params: 1, connections: 1}" in text
    key.write_text(text.replace("weights: 1,", "weights: 2,"), encoding="utf-8")
    sub = tmp_path / "submissions"
    sub.mkdir()
    for name, text in (("alice.csv", ALICE), ("bob.md", BOB), ("carol.yaml", CAROL),
                       ("dave.csv", DAVE)):
        (sub / name).write_text(text, encoding="utf-8")
    return tmp_path


# 7 rows · 4 quantities - the weights and params of 2 pools = 24 questions;
# points: 7 units + 5 weights · 2 + 5 params + 7 connections = 29
QUESTIONS, POSSIBLE = 24, 29


def test_three_students_graded(course):
    book = grade(course / "submissions", load_rubric(course / "key.yaml"))
    assert len(book.questions) == QUESTIONS and book.possible == POSSIBLE
    by_name = {s.name: s for s in book.students}
    assert set(by_name) == {"alice", "bob", "carol", "dave"}
    assert by_name["alice"].earned == 29 and by_name["alice"].score == 1
    bob = by_name["bob"]                              # 5 params wrong, 1 point each: 29 - 5
    assert bob.earned == 24 and bob.score == Fraction(24, 29)
    assert [(a.question.label, a.short) for a in bob.wrong] == [
        (f"{row} params", "biases missing") for row in ("C1", "C3", "F5", "F6", "output")]
    carol = by_name["carol"]                          # 2 connections wrong, 1 blank: 29 - 3
    assert carol.earned == 26
    assert [(a.question.label, a.short) for a in carol.wrong] == [
        ("C1 connections", "weights written as connections"),
        ("C3 connections", "weights written as connections"),
        ("F6 connections", "left blank")]
    dave = by_name["dave"]
    assert not dave.graded and dave.score is None
    assert dave.error.startswith("row 2 (C1): units: cannot read 'lots' as a number")


def test_the_per_question_summary_counts_the_mistakes(course):
    book = grade(course / "submissions", load_rubric(course / "key.yaml"))
    summary = {q.question.label: q for q in book.summary()}
    assert (summary["C1 weights"].right, summary["C1 weights"].graded) == (3, 3)
    assert summary["C1 weights"].question.points == 2
    assert summary["C1 params"].right == 2
    assert summary["C1 params"].mistakes == (("biases missing", 1),)
    assert summary["C3 connections"].mistakes == (("weights written as connections", 1),)
    assert summary["F6 connections"].mistakes == (("left blank", 1),)


def test_the_gradebook_files(course):
    md, table = course / "gradebook.md", course / "gradebook.csv"
    for out in (md, table):
        proc = run("check", "--grade", str(course / "submissions"), "--spec",
                   str(course / "key.yaml"), "-o", str(out))
        assert proc.returncode == 0 and proc.stdout == "", proc.stderr  # dave's file: still 0
        assert proc.stderr == f"wrote {out}: 3 graded, 1 could not be read\n"
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Gradebook: LeNet-5\n")
    assert "Conventions pytorch (fixed): biases counted;" in text
    assert ("24 questions: the cells of the answer file; 29 points (units 1, weights 2, "
            "params 1, connections 1).") in text
    assert "| alice     |  100.0% |    29/29 |" in text
    assert "| bob       |   82.8% |    24/29 | C1 params: 150 → 156 (biases missing); " in text
    assert "C1 connections: 150 → 117,600 (weights written as connections)" in text
    assert "F6 connections: left blank" in text
    assert "| C1 params          |        1 |     2/3 | biases missing (1)" in text
    assert "## Not graded" in text and "dave.csv" in text
    rows = list(csv.reader(io.StringIO(table.read_text(encoding="utf-8"))))
    header = rows[0]
    assert header[:5] == ["student", "file", "score", "points", "of"]
    assert header[5:9] == ["C1 units", "C1 weights", "C1 params", "C1 connections"]
    bob = next(r for r in rows if r[0] == "bob")
    assert bob[2:5] == ["82.8%", "24", "29"] and bob[5:9] == ["1", "2", "0", "1"]
    assert next(r for r in rows if r[0] == "dave")[-1].startswith("row 2 (C1): units: cannot")
    right = next(r for r in rows if r[0] == "(right)")
    assert right[header.index("C1 params")] == "2/3"
    common = next(r for r in rows if r[0] == "(most common mistake)")
    assert common[header.index("C3 connections")] == "weights written as connections (1)"


def test_inference_passes_bob_but_the_fixed_convention_does_not(course):
    bob = course / "submissions" / "bob.md"
    # on his own, bob's params follow one convention (no biases): all 24 of his claims hold
    inferred = check(bob, spec="lenet5")
    assert inferred.ok and inferred.summary() == "24 claims about LeNet-5: 24 ✓, 0 ✗"
    fixed = check(bob, spec="lenet5", conventions="pytorch")
    wrong = [v for v in fixed.claims if not v.ok]
    assert [(v.layer, v.mistake) for v in wrong] == [
        (row, Mistake.BIASES_MISSING) for row in ("C1", "C3", "F5", "F6", "output")]
    assert wrong[0].diagnosis == "this is the value without biases (150): biases left out"
    assert ("biases missing: 5 of your claims hold without biases; the conventions here "
            "(pytorch) count them") in fixed.conventions
    proc = run("check", str(bob), "--spec", "lenet5", "--convention", "pytorch")
    assert proc.returncode == 1 and "biases missing: 5 of your claims" in proc.stdout


def test_without_an_answer_file_every_answered_cell_is_a_question(course):
    book = grade(course / "submissions", load_rubric("lenet5"))
    assert book.questions_from == "students"
    labels = [q.label for q in book.questions]
    # in the network's order; alice's and bob's 24 cells (the pool cells are '-' or empty)
    assert labels[:4] == ["C1 units", "C1 weights", "C1 params", "C1 connections"]
    assert len(labels) == QUESTIONS and book.possible == 24      # 1 point each


def test_points_and_conventions_come_from_the_answer_file(tmp_path):
    key = tmp_path / "key.yaml"
    key.write_text("spec: lenet5\nconventions: cs231n\npoints: {params: 3}\n"
                   "layers:\n  C1: {params: 150}\n  C3: {params: }\n", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "erin.yaml").write_text("spec: lenet5\nlayers:\n  C1: {params: 150}\n"
                                   "  C3: {params: 2416}\n", encoding="utf-8")
    book = grade(sub, load_rubric(key))
    assert book.conventions == "cs231n"                # biases not counted: 5·5·6·16 = 2,400
    (erin,) = book.students
    assert erin.earned == 3 and erin.possible == 6
    assert erin.wrong[0].short == "biases added"
    # --convention overrides the answer file's: with pytorch the key's 150 is wrong
    with pytest.raises(CnnsizeError, match=r"the answer key does not hold in the conventions "
                                           r"pytorch: C1 params: 150, the right value is 156"):
        load_rubric(key, "pytorch")


def test_a_students_own_conventions_are_replaced(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "frank.yaml").write_text("spec: lenet5\nconventions: {bias: false}\n"
                                    "layers:\n  C1: {params: 150}\n", encoding="utf-8")
    book = grade(sub, load_rubric("lenet5"))
    (frank,) = book.students
    assert frank.earned == 0 and frank.notes == ("its own conventions replaced by pytorch",)


def test_the_answer_file_and_the_gradebook_are_not_graded(course):
    sub = course / "submissions"
    (sub / "key.yaml").write_text((course / "key.yaml").read_text(encoding="utf-8"),
                                  encoding="utf-8")
    out = sub / "gradebook.md"
    proc = run("check", "--grade", str(sub), "--spec", str(sub / "key.yaml"), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert "4 files checked against" in text and "| key " not in text
    # run again, the gradebook is one of the folder's files: it is not written over
    proc = run("check", "--grade", str(sub), "--spec", str(sub / "key.yaml"), "-o", str(out))
    assert proc.returncode == 2 and "is one of this command's inputs" in proc.stderr
    assert out.read_text(encoding="utf-8") == text


def test_a_glob_picks_the_files(course):
    book = grade(str(course / "submissions" / "*.csv"), load_rubric(course / "key.yaml"))
    assert [s.name for s in book.students] == ["alice", "dave"]
    (course / "submissions" / "alice.yaml").write_text(CAROL, encoding="utf-8")
    book = grade(course / "submissions", load_rubric(course / "key.yaml"))
    assert "alice.csv" in [s.name for s in book.students]      # two alices: their file names
    assert "alice.yaml" in [s.name for s in book.students]


def test_a_file_that_is_not_text_is_listed(course):
    (course / "submissions" / "gina.pdf").write_bytes(b"%PDF-1.4\n\xff\xfe\x00binary")
    book = grade(course / "submissions", load_rubric(course / "key.yaml"))
    gina = next(s for s in book.students if s.name == "gina")
    assert not gina.graded and "not UTF-8 text" in gina.error
    assert len(book.graded) == 3


def test_the_gradebook_is_never_written_over_a_submission(course):
    alice = course / "submissions" / "alice.csv"
    proc = run("check", "--grade", str(course / "submissions"), "--spec", "lenet5",
               "--format", "csv", "-o", str(alice))
    assert proc.returncode == 2 and "is one of this command's inputs" in proc.stderr
    assert alice.read_text(encoding="utf-8") == ALICE


def test_an_interrupted_grading_writes_nothing(course, monkeypatch, capsys):
    import cnnsize.grade
    from cnnsize.cli import main

    calls = []

    def interrupted(*args, **kwargs):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return check(*args, **kwargs)

    monkeypatch.setattr(cnnsize.grade, "check", interrupted)
    out = course / "gradebook.md"
    status = main(["check", "--grade", str(course / "submissions"), "--spec", "lenet5",
                   "-o", str(out)])
    assert status == 130 and not out.exists()
    assert "cnnsize: interrupted" in capsys.readouterr().err


def test_progress_is_shown_on_request(course, capsys):
    grade(course / "submissions", load_rubric("lenet5"), progress=True)
    assert "grading" in capsys.readouterr().err        # tqdm's bar, on stderr


@pytest.mark.parametrize(("args", "fragments"), [
    (["--grade", "submissions"], ["--grade needs --spec", "cnnsize worksheet SPEC --answers"]),
    (["--grade", "nowhere", "--spec", "lenet5"], ["--grade: no such folder or file: nowhere"]),
    (["--grade", "submissions/*.txt", "--spec", "lenet5"], ["matches no file"]),
    (["--grade", "submissions", "--spec", "lenet5", "--convention", "lecunn"],
     ["unknown convention 'lecunn'", "did you mean 'lecun1998'?"]),
    (["--grade", "submissions", "--spec", "bad_points.yaml"],
     ["bad_points.yaml: points: unknown quantity 'weigths'", "did you mean 'weights'?"]),
    (["--grade", "submissions", "--spec", "wrong_key.yaml"],
     ["wrong_key.yaml: layers: the answer key does not hold in the conventions pytorch: "
      "C1 weights: 156, the right value is 150"]),
    (["submissions/alice.csv", "--grade", "submissions", "--spec", "lenet5"], ["not both"]),
    (["submissions/alice.csv", "--spec", "lenet5", "--format", "csv"], ["gradebook format"]),
])
def test_bad_grading_input_exits_2(course, args, fragments):
    (course / "bad_points.yaml").write_text("spec: lenet5\npoints: {weigths: 2}\n",
                                            encoding="utf-8")
    (course / "wrong_key.yaml").write_text("spec: lenet5\nlayers:\n  C1: {weights: 156}\n",
                                           encoding="utf-8")
    proc = run("check", *args, cwd=course)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_json_gradebook(course):
    import json

    proc = run("check", "--grade", "submissions", "--spec", "key.yaml", "--format", "json",
               cwd=course)
    data = json.loads(proc.stdout)
    assert data["possible"] == 29 and data["points"]["weights"] == 2
    bob = next(s for s in data["students"] if s["name"] == "bob")
    assert bob["points"] == 24 and round(bob["score"], 4) == round(24 / 29, 4)
    c1 = next(a for a in bob["answers"] if a["question"] == "C1 params")
    assert c1 == {"question": "C1 params", "status": "wrong", "claimed": "150", "computed": 156,
                  "points": 0, "of": 1, "mistake": "biases missing",
                  "diagnosis": "this is the value without biases (150): biases left out"}


def test_a_file_name_is_not_a_spreadsheet_formula(tmp_path):
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "=1+1.csv").write_text("layer,units\nC1,4704\n", encoding="utf-8")
    rows = list(csv.reader(io.StringIO(grade(sub, load_rubric("lenet5")).render("csv"))))
    assert rows[1][0] == "'=1+1" and rows[1][2] == "100.0%"
