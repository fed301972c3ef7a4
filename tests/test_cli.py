"""The console script, run for real in subprocesses, and the output formats."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cnnsize
from cnnsize.report import COUNT_KEYS


def run(*args: str, check_rc: int | None = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, "-m", "cnnsize", *args], capture_output=True, text=True,
                          timeout=120)
    if check_rc is not None:
        assert proc.returncode == check_rc, proc.stderr
    return proc


def test_console_script_entry_point():
    proc = subprocess.run(["cnnsize", "zoo"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    assert {"lenet5", "alexnet", "vgg16"} <= {line.split()[0] for line in proc.stdout.splitlines()[2:]}
    assert "138,357,544" in proc.stdout


def test_symbolic_path_imports_no_heavy_module(tmp_path):
    code = textwrap.dedent("""
        import sys, cnnsize
        from cnnsize.cli import main
        main(["report", "vgg16", "--explain", "-o", sys.argv[1]])
        main(["report", "alexnet", "--format", "json", "-o", sys.argv[1]])
        main(["zoo"])
        main(["check", "docs/examples/lenet_table.yaml", "-o", sys.argv[1]])
        main(["compare", "lenet5", "alexnet", "vgg16", "-o", sys.argv[1]])
        heavy = sorted(m for m in ("torch", "fvcore", "pandas", "matplotlib", "numpy") if m in sys.modules)
        print("HEAVY", heavy)
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout


def test_a_text_report_imports_none_of_the_modules_it_does_not_use():
    """What `cnnsize report vgg16` to stdout leaves out: tabulate (the text table is
    render.simple_table), shutil (argparse's width), threading (the locks are _thread's),
    pathlib (os.path finds the zoo and reads files), dataclasses and inspect (the data classes
    are records, cnnsize/record.py), typing (for type checkers only). Only what the report
    imports counts:
    site's start-up may import them (a certifi .pth does, an editable install's finder too)."""
    code = textwrap.dedent("""
        import sys
        before = set(sys.modules)
        from cnnsize.cli import main
        main(["report", "vgg16"])
        print("UNUSED", sorted(m for m in ("tabulate", "shutil", "threading", "pathlib",
                                                 "dataclasses", "inspect", "typing")
                               if m in sys.modules and m not in before))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert "UNUSED []" in proc.stdout


@pytest.mark.parametrize("collecting", [True, False])
def test_importing_cnnsize_leaves_the_collector_as_it_was(collecting):
    code = (f"import gc\n{'' if collecting else 'gc.disable()'}\nimport cnnsize\n"
            "print(gc.isenabled())")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(collecting)


BLOCKED = textwrap.dedent("""
    import importlib.abc, sys

    class NotInstalled(importlib.abc.MetaPathFinder):
        # as if only the base install were there: PyYAML and tabulate
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "fvcore", "pandas", "matplotlib", "tqdm"):
                raise ModuleNotFoundError(f"No module named {name!r}")

    sys.meta_path.insert(0, NotInstalled())
    from cnnsize.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize(("args", "status", "says"), [
    (["report", "resnet18", "--tree", "--depth", "2", "--summary"], 0, "trainable params"),
    (["compare", "lenet5", "resnet50"], 0, "longest path"),
    (["check", "docs/examples/lenet_table.yaml"], 0, "19 ✓, 0 ✗"),
    (["zoo"], 0, "resnet18"),
    (["crosscheck", "lenet5"], 2, "pip install 'cnnsize[torch]'"),
    (["import", "torchvision.models:resnet18", "--input", "3,224,224"], 2, "cnnsize[torch]"),
    (["time", "lenet5"], 2, "needs torch, which is not installed"),
    (["plot", "lenet5", "-o", "OUT.png"], 2, "pip install 'cnnsize[plot]'"),
])
def test_the_base_install_runs_the_symbolic_path_and_names_the_extra_for_the_rest(
        args, status, says, tmp_path):
    args = [str(tmp_path / "x.png") if a == "OUT.png" else a for a in args]
    proc = subprocess.run([sys.executable, "-c", BLOCKED, *args], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).parent.parent)
    assert proc.returncode == status, proc.stderr
    assert says in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.png").exists()


def test_lenet5_text_report(golden):
    golden(run("report", "lenet5", "--no-bias").stdout)


def test_alexnet_explain(golden):
    golden(run("report", "alexnet", "--explain").stdout)


def test_explain_shows_the_lecture_arithmetic(tmp_path):
    spec = tmp_path / "alex1.yaml"
    spec.write_text("input: [3, 227, 227]\nlayers:\n"
                    "  - {name: conv1, type: conv2d, out_channels: 96, kernel_size: 11, stride: 4}\n")
    out = run("report", str(spec), "--explain").stdout
    assert "W2 = (W1 − F + 2P)/S + 1 = (227 − 11 + 2·0)/4 + 1 = 55" in out
    assert "weights = FH·FW·C_in·C_out = 11·11·3·96 = 34,848" in out
    flagged = run("report", str(spec), "--input", "3,224,224").stdout
    assert "(224 − 11 + 2·0)/4 + 1 = 54.25 is not a whole number" in flagged
    strict = run("report", str(spec), "--input", "3,224,224", "--strict", check_rc=2)
    assert "54.25" in strict.stderr and "227" in strict.stderr and "Traceback" not in strict.stderr


def test_json_contract():
    data = json.loads(run("report", "vgg16", "--format", "json").stdout)
    assert {"name", "input", "batch", "dtype", "layers", "totals"} <= set(data)
    layer_keys = {"name", "type", "output_shape", "receptive_field", *COUNT_KEYS}
    assert all(layer_keys <= set(layer) for layer in data["layers"])
    assert set(COUNT_KEYS) <= set(data["totals"])
    assert data["totals"]["params"] == 138_357_544 and data["input"] == [3, 224, 224]
    assert data == json.loads(json.dumps(cnnsize.analyze("vgg16").to_dict()))


def test_no_bias_flag_in_json():
    data = json.loads(run("report", "lenet5", "--no-bias", "--format", "json").stdout)
    by_name = {layer["name"]: layer for layer in data["layers"]}
    assert by_name["F5"]["params"] == 48_000 and by_name["F5"]["connections"] == 48_000
    assert data["totals"]["biases"] == 0


def test_csv_keeps_exact_integers():
    rows = list(csv.DictReader(io.StringIO(run("report", "vgg16", "--format", "csv").stdout)))
    assert rows[0]["name"] == "features.0" and rows[0]["output_shape"] == "64x224x224"
    by_name = {row["name"]: row for row in rows}
    assert int(by_name["classifier.3"]["weights"]) == 16_777_216   # 4096·4096
    assert int(by_name["classifier.3"]["flops"]) == 2 * 16_777_216 + 4096 + 0


@pytest.mark.parametrize(("fmt", "marker"), [("markdown", "| C1 "), ("latex", "\\toprule"),
                                             ("html", "<table>")])
def test_human_formats(fmt, marker):
    out = run("report", "lenet5", "--format", fmt).stdout
    assert marker in out and "117,600" in out


def test_output_file_and_options(tmp_path):
    target = tmp_path / "r.md"
    run("report", "alexnet", "--format", "markdown", "--batch", "4", "--dtype", "bfloat16",
        "-o", str(target))
    text = target.read_text()
    assert "batch 4" in text and "bfloat16" in text


def test_bad_flags_exit_2():
    assert run("report", "lenet5", "--batch", "0", check_rc=2).stderr
    assert "error" in run("report", "lenet5", "--input", "3,a", check_rc=2).stderr
    assert "Traceback" not in run("report", "lenet5", "--dtype", "int4", check_rc=2).stderr


def test_notebook_and_pandas_views():
    report = cnnsize.analyze("lenet5")
    assert report._repr_html_().count("<tr>") == len(report.layers) + 3  # header, input, total
    frame = report.to_frame()
    assert frame.loc["C3", "weights"] == 2_400 and frame["params"].sum() == report.totals.params
