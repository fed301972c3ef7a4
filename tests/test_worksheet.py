"""cnnsize worksheet: the blank table is the file `check` reads back, and the key holds.

An instructor writes the exercise of CSC421/2516 Lecture 10 ("Sizes of layers in LeNet": units,
connections, weights) in one command; a student fills it in and checks it. The values a
student writes in are computed here from `cnnsize.analyze`'s rows, not from the worksheet's key.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from cnnsize.analyze import analyze
from cnnsize.claims import NAMED_CONVENTIONS, check
from cnnsize.errors import CnnsizeError
from cnnsize.render.worksheet import latex_text
from cnnsize.worksheet import make_worksheet

ROOT = Path(__file__).parent.parent


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def right_value(spec: str, layer: str, quantity: str, convention: str = "pytorch") -> str:
    """What a student who gets it right writes: from the report's rows (or totals)."""
    report = analyze(spec, conventions=NAMED_CONVENTIONS[convention].conventions)
    source = report.totals if layer == "total" else report[layer]
    value = source.receptive_field if quantity == "receptive_field" else getattr(source, quantity)
    return "x".join(map(str, value)) if isinstance(value, tuple) else str(value)


def fill_table(text: str, fmt: str, spec: str, convention: str = "pytorch",
               keep: int | None = None) -> str:
    """The worksheet with its ? cells filled in (the first `keep` of them only)."""
    done = 0
    if fmt == "csv":
        lines = [line for line in text.splitlines() if line.startswith("#")]
        rows = list(csv.reader(io.StringIO("\n".join(x for x in text.splitlines()
                                                     if not x.startswith("#")))))
        header = rows[0]
        for row in rows[1:]:
            for i, cell in enumerate(row):
                if cell == "?" and (keep is None or done < keep):
                    row[i] = right_value(spec, row[0], header[i], convention)
                    done += 1
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(rows)
        return "\n".join(lines) + "\n" + out.getvalue()
    assert fmt == "md"
    out_lines, header = [], None
    for line in text.splitlines():
        if line.startswith("|") and not set(line) <= set("|:- "):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = cells
            else:
                for i, cell in enumerate(cells):
                    if cell == "?" and (keep is None or done < keep):
                        cells[i] = right_value(spec, cells[0], header[i], convention)
                        done += 1
                line = "| " + " | ".join(cells) + " |"
        out_lines.append(line)
    return "\n".join(out_lines) + "\n"


def fill_yaml(text: str, spec: str, convention: str = "pytorch", keep: int | None = None) -> str:
    data = yaml.safe_load(text)
    done = 0
    for layer, cells in [*data.get("layers", {}).items(), ("total", data.get("totals", {}))]:
        for quantity, value in cells.items():
            assert value is None                    # blank: nothing to copy from
            if keep is None or done < keep:
                cells[quantity] = right_value(spec, str(layer), quantity, convention)
                done += 1
    return yaml.safe_dump(data, sort_keys=False)


# ---------------------------------------------------------------- the lecture exercise


def test_the_blank_lenet_table_is_the_lecture_table(tmp_path):
    proc = run("worksheet", "lenet5", "-o", str(tmp_path / "lenet.csv"))
    assert proc.returncode == 0 and proc.stdout == ""
    text = (tmp_path / "lenet.csv").read_text(encoding="utf-8")
    rows = list(csv.reader(line for line in text.splitlines() if not line.startswith("#")))
    # one row per C, S and F layer, as the lecture table has: 7 rows, no ReLU or flatten rows
    assert rows[0] == ["layer", "type", "units", "weights", "connections"]
    assert [r[0] for r in rows[1:]] == ["C1", "S2", "C3", "S4", "F5", "F6", "output"]
    assert rows[1][1].startswith("conv2d(out_channels=6, kernel_size=5")  # the layer to work on
    assert rows[2][2:] == ["?", "-", "?"]               # a pool has no weights to work out
    assert "# Check: cnnsize check lenet.csv --spec lenet5 --convention pytorch" in text
    assert "4704" not in text and "117600" not in text  # no answer in the blank


@pytest.mark.parametrize("fmt", ["csv", "md"])
def test_a_filled_in_table_checks_all_right(tmp_path, fmt):
    sheet = tmp_path / f"sheet.{fmt}"
    assert run("worksheet", "lenet5", "-o", str(sheet)).returncode == 0
    sheet.write_text(fill_table(sheet.read_text(encoding="utf-8"), fmt, "lenet5"),
                     encoding="utf-8")
    proc = run("check", str(sheet), "--spec", "lenet5", "--convention", "pytorch")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 7 rows · 3 columns - 2 pool weights = 19 claims
    assert proc.stdout.rstrip().endswith("19 claims about LeNet-5: 19 ✓, 0 ✗")


def test_a_filled_in_yaml_checks_all_right(tmp_path):
    sheet = tmp_path / "sheet.yaml"
    proc = run("worksheet", "lenet5", "--ask", "output,units,params,connections,flops",
               "--totals", "--convention", "lecun1998", "-o", str(sheet))
    assert proc.returncode == 0
    text = sheet.read_text(encoding="utf-8")
    assert "spec: lenet5\nconventions: lecun1998\n" in text
    sheet.write_text(fill_yaml(text, "lenet5", "lecun1998"), encoding="utf-8")
    proc = run("check", str(sheet))                    # the YAML names network and conventions
    assert proc.returncode == 0, proc.stdout
    assert "conventions (lecun1998, fixed: nothing inferred)" in proc.stdout
    # C1 as LeCun et al. count it: 4,704 · (5·5 + 1) = 122,304 connections
    assert re.search(r"C1\s+connections\s+122304\s+122,304\s+✓", proc.stdout)


def test_a_blank_worksheet_lists_its_blanks_and_gives_nothing_away(tmp_path):
    sheet = tmp_path / "sheet.md"
    assert run("worksheet", "lenet5", "-o", str(sheet)).returncode == 0
    proc = run("check", str(sheet), "--spec", "lenet5", "--convention", "pytorch")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "every cell is blank: fill in your numbers, then check again" in proc.stdout
    assert "left blank (19): C1 units, C1 weights, C1 connections, S2 units" in proc.stdout
    assert proc.stdout.rstrip().endswith("0 claims about LeNet-5: 0 ✓, 0 ✗; 19 cells left blank")
    assert "4,704" not in proc.stdout and "117,600" not in proc.stdout


@pytest.mark.parametrize("fmt", ["csv", "md", "yaml"])
def test_a_half_done_worksheet_checks_what_is_filled_in(tmp_path, fmt):
    sheet = tmp_path / f"sheet.{fmt}"
    assert run("worksheet", "lenet5", "-o", str(sheet)).returncode == 0
    text = sheet.read_text(encoding="utf-8")
    filled = (fill_yaml(text, "lenet5", keep=7) if fmt == "yaml"
              else fill_table(text, fmt, "lenet5", keep=7))
    sheet.write_text(filled, encoding="utf-8")
    result = check(sheet, spec="lenet5", conventions="pytorch")
    assert len(result.claims) == 7 and all(v.ok for v in result.claims)
    assert len(result.blanks) == 12 and not result.ok     # 19 cells, 7 filled in
    assert result.summary() == "7 claims about LeNet-5: 7 ✓, 0 ✗; 12 cells left blank"
    assert all(v.computed is None for v in result.blanks)


# ---------------------------------------------------------------- the key


@pytest.mark.parametrize("fmt", ["csv", "md", "yaml"])
@pytest.mark.parametrize(("spec", "ask"), [
    ("lenet5", "units,weights,connections"),
    ("alexnet_2012", "output_shape,params,macs,receptive_field"),
    ("resnet18", "units,params,flops,activation_bytes"),
])
def test_the_answer_key_checks_all_right(tmp_path, fmt, spec, ask):
    key = tmp_path / f"key.{fmt}"
    proc = run("worksheet", spec, "--ask", ask, "--totals", "--answers", "-o", str(key))
    assert proc.returncode == 0, proc.stderr
    args = [str(key)] if fmt == "yaml" else [str(key), "--spec", spec, "--convention", "pytorch"]
    proc = run("check", *args)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert "✗" not in proc.stdout.split("\n\n")[1]


def test_the_key_has_the_worked_formulas_of_explain():
    text = make_worksheet("lenet5").render("md", answers=True)
    assert re.search(r"\| C1 +\| conv2d\(out_channels=6, kernel_size=5[^|]*\| +4,704 \| +150 \| "
                     r"+117,600 \|", text)
    explain = run("report", "lenet5", "--explain").stdout
    for line in ("weights = FH·FW·C_in·C_out = 5·5·1·6 = 150",
                 "connections = units·FH·FW·C_in = 4,704·5·5·1 = 117,600",
                 "connections = units·window = 1,176·2·2 = 4,704"):
        assert f"  {line}\n" in text and f"  {line}\n" in explain
    yaml_key = make_worksheet("lenet5", ["params"], totals=True).render("yaml", answers=True)
    # 5·5·1·6 + 6 = 156; the total: 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706
    assert "    # params = weights + biases = 150 + 6 = 156\n    params: 156\n" in yaml_key
    assert ("  # total params = sum over 5 layers = 156 + 2,416 + 48,120 + 10,164 + 850 = 61,706"
            "\n  params: 61706\n") in yaml_key
    assert "points: {params: 1}" in yaml_key


def test_conventions_change_the_key():
    def c1(convention: str) -> str:
        sheet = make_worksheet("lenet5", ["params", "connections"], conventions=convention)
        (row,) = [x for x in sheet.render("csv", answers=True).splitlines() if x.startswith("C1,")]
        return row
    assert ",156,117600," in c1("pytorch")               # 5·5·1·6 + 6; 4,704·5·5
    assert ",150,117600," in c1("cs231n")                # no biases
    assert ",156,122304," in c1("lecun1998")             # LeCun et al. 1998: 4,704·26


# ---------------------------------------------------------------- formats


def test_latex_is_plain_ascii_with_balanced_braces():
    for answers in (False, True):
        text = make_worksheet("resnet18", ["output", "units", "params", "flops", "rf"],
                              totals=True).render("latex", answers=answers)
        assert text.isascii()
        assert text.count("{") == text.count("}")
        assert text.count(r"\begin{tabular}") == text.count(r"\end{tabular}") == 1
        spec = re.search(r"\\begin\{tabular\}\{((?:[^{}]|\{[^{}]*\})*)\}", text).group(1)
        columns = len(spec.strip("|").split("|"))                # |l|l|p{2.2cm}|...|
        body = text[text.index(r"\hline"):text.index(r"\end{tabular}")]
        rows = [line for line in body.splitlines() if line.endswith(r"\\")]
        assert rows and all(line.count(" & ") == columns - 1 for line in rows)
        assert "$$" not in text                            # no accidental display math


def test_latex_escapes_what_latex_reads():
    assert latex_text("conv_1 50% & #2 {x} $5 ~ ^ \\") == (
        r"conv\_1 50\% \& \#2 \{x\} \$5 \textasciitilde{} \textasciicircum{} \textbackslash{}")
    assert latex_text("6×28×28 = 4,704·5·5 − 1 → ⌊x⌋") == (
        r"6\ensuremath{\times}28\ensuremath{\times}28 = 4,704\ensuremath{\cdot}5\ensuremath{\cdot}5 "
        r"\ensuremath{-} 1 \ensuremath{\rightarrow} \ensuremath{\lfloor}x\ensuremath{\rfloor}")
    assert latex_text("γ ☃") == r"\ensuremath{\gamma} ?"


def test_odd_layer_names_survive_every_format(tmp_path):
    spec = tmp_path / "odd.yaml"
    spec.write_text("name: Odd\ninput: [1, 8, 8]\nlayers:\n"
                    "  - {type: conv2d, name: 'on', out_channels: 2, kernel_size: 3}\n"
                    "  - {type: conv2d, name: '1e3', out_channels: 2, kernel_size: 3}\n"
                    "  - {type: conv2d, name: 'a_b%', out_channels: 2, kernel_size: 3}\n",
                    encoding="utf-8")
    for fmt in ("csv", "md", "yaml"):
        key = tmp_path / f"key.{fmt}"
        assert run("worksheet", str(spec), "--answers", "-o", str(key)).returncode == 0
        result = check(key, spec=str(spec), conventions="pytorch")
        assert result.ok and {v.layer for v in result.verdicts} == {"on", "1e3", "a_b%"}, fmt
    latex = make_worksheet(spec).render("latex")
    assert r"a\_b\%" in latex


def test_a_spec_file_is_named_relative_to_the_worksheet(tmp_path):
    out = tmp_path / "class" / "week3.yaml"
    out.parent.mkdir()
    proc = run("worksheet", "docs/examples/my_first_cnn.yaml", "--answers", "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert (out.parent / data["spec"]).resolve() == (ROOT / "docs/examples/my_first_cnn.yaml").resolve()
    assert run("check", out.name, cwd=out.parent).returncode == 0  # from the student's folder


def test_the_format_follows_the_suffix(tmp_path):
    for name, start in (("a.md", "# Worksheet: LeNet-5"), ("a.csv", "# Worksheet: LeNet-5"),
                        ("a.yaml", "# Worksheet: LeNet-5"), ("a.tex", "% Worksheet: LeNet-5")):
        assert run("worksheet", "lenet5", "-o", str(tmp_path / name)).returncode == 0
        assert (tmp_path / name).read_text(encoding="utf-8").startswith(start), name
    assert "\nlayer,type,units" in run("worksheet", "lenet5", "--format", "csv").stdout


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "fragments"), [
    (["--ask", "units,wieghts"], ["--ask: unknown quantity 'wieghts'", "did you mean 'weights'?"]),
    (["--ask", "units,neurons"], ["'neurons' is asked twice"]),
    (["--layers", "C1,C7"], ["--layers: the network has no layer 'C7'", "its layers:"]),
    (["--convention", "pytroch"], ["unknown convention 'pytroch'", "did you mean 'pytorch'?"]),
    (["--ask", "output_shape", "--totals"], ["totals have no output shape or receptive field"]),
])
def test_bad_options_exit_2_with_a_hint(args, fragments):
    proc = run("worksheet", "lenet5", *args)
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


def test_a_worksheet_is_never_written_over_its_spec(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text((ROOT / "docs/examples/my_first_cnn.yaml").read_text(encoding="utf-8"),
                    encoding="utf-8")
    before = spec.read_text(encoding="utf-8")
    proc = run("worksheet", str(spec), "--format", "yaml", "-o", str(spec))
    assert proc.returncode == 2 and "is one of this command's inputs" in proc.stderr
    assert spec.read_text(encoding="utf-8") == before


def test_layers_all_and_named_rows():
    every = make_worksheet("lenet5", layers=["all"])
    assert [r.name for r in every.rows][:3] == ["C1", "1", "S2"]       # the ReLU row too
    named = make_worksheet("lenet5", layers=["c1", "F5"])
    assert [r.name for r in named.rows] == ["C1", "F5"]
    with pytest.raises(CnnsizeError, match="named twice"):
        make_worksheet("lenet5", layers=["C1", "c1"])


def test_a_pinned_input_size_is_not_given_away(tmp_path):
    # A spec that pins F5's in_features (as a fixed module does) would hand the student the
    # 16·5·5 = 400 they are to work out; it is left out of the row, the rest kept.
    spec = tmp_path / "pinned.yaml"
    spec.write_text("name: Pinned\ninput: [1, 32, 32]\nlayers:\n"
                    "  - {type: conv2d, name: C1, in_channels: 1, out_channels: 6, kernel_size: 5}\n"
                    "  - {type: maxpool2d, name: S2, kernel_size: 2}\n"
                    "  - {type: conv2d, name: C3, out_channels: 16, kernel_size: 5}\n"
                    "  - {type: maxpool2d, name: S4, kernel_size: 2}\n"
                    "  - {type: flatten}\n"
                    "  - {type: linear, name: F5, in_features: 400, out_features: 120}\n",
                    encoding="utf-8")
    sheet = make_worksheet(spec)
    what = {r.name: r.what for r in sheet.rows}
    assert what["C1"] == "conv2d(out_channels=6, kernel_size=5)"
    assert what["F5"].startswith("linear(out_features=120)")
    assert "400" not in sheet.render("md")
