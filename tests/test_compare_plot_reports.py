"""compare, plot and the committed reports."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cnnsize
from cnnsize.comparison import compare
from cnnsize.conventions import Conventions

ROOT = Path(__file__).parent.parent


def test_compare_rows_come_from_the_reports():
    comparison = compare(["lenet5", "alexnet", "vgg16"])
    assert comparison.names == ("LeNet-5", "AlexNet", "VGG-16")
    assert comparison.row("params").values == (61_706, 61_100_840, 138_357_544)
    assert comparison.row("depth").values == (5, 8, 16)          # conv + linear layers
    assert comparison.row("largest_params").values[2] == ("classifier.0", 102_764_544)
    # the lecture's rule of thumb: weights in the FC layers, connections in the conv layers
    fc_share = comparison.row("fc_param_share").values
    conv_share = comparison.row("conv_connection_share").values
    assert all(s > 0.85 for s in fc_share) and all(s > 0.8 for s in conv_share)
    # LeNet-5: F5 + F6 + output = 48,120 + 10,164 + 850 of 61,706
    assert fc_share[0] == pytest.approx((48_120 + 10_164 + 850) / 61_706)


def test_compare_follows_the_conventions():
    base = compare(["lenet5"]).row("params").values[0]
    no_bias = compare(["lenet5"], conventions=Conventions(bias=False)).row("params").values[0]
    assert base - no_bias == 6 + 16 + 120 + 84 + 10


def test_training_compute_from_metadata():
    comparison = compare(["lenet5_1998", "alexnet_2012"])
    assert comparison.row("training_examples").values == (60_000, 1_200_000)
    ops = comparison.row("training_ops").values
    connections = comparison.row("connections").values
    # ≈ 3 multiply-adds per connection per example (1 forward, 2 backward) × examples × epochs
    assert ops == (3 * connections[0] * 60_000 * 20, 3 * connections[1] * 1_200_000 * 90)


def test_compare_frame_and_formats():
    comparison = compare(["lenet5", "alexnet"])
    frame = comparison.to_frame()
    assert frame.loc["params", "AlexNet"] == 61_100_840
    data = json.loads(comparison.render("json"))
    assert data["networks"] == ["LeNet-5", "AlexNet"]
    for fmt, marker in (("markdown", "| parameters"), ("latex", "\\toprule"), ("html", "<table>"),
                        ("csv", "params,61706,61100840")):
        assert marker in comparison.render(fmt), fmt


def test_compare_cli():
    proc = subprocess.run([sys.executable, "-m", "cnnsize", "compare", "lenet5", "alexnet", "vgg16",
                           "--no-bias"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "138,344,128" in proc.stdout  # VGG-16 params without biases


# ---------------------------------------------------------------- charts, checked structurally

plt = pytest.importorskip("matplotlib")
from cnnsize import plot as charts  # noqa: E402


def test_layers_chart_structure():
    fig = charts.plot_layers("lenet5")
    ax = fig.axes[0]
    assert ax.get_title() == "LeNet-5: units, weights and connections per layer"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["C1", "S2", "C3", "S4", "F5", "F6",
                                                            "output"]
    heights = [p.get_height() for p in ax.patches]
    assert len(heights) == 3 * 7
    assert heights[:7] == [4_704, 1_176, 1_600, 400, 120, 84, 10]       # units
    assert heights[14:] == [117_600, 4_704, 240_000, 1_600, 48_000, 10_080, 840]  # connections
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["units", "weights", "connections"]
    assert ax.get_ylabel() and ax.get_xlabel()


def test_other_charts_structure():
    totals = charts.plot_totals(["lenet5", "vgg16"]).axes[0]
    assert totals.get_yscale() == "log" and len(totals.patches) == 4 * 2
    scatter = charts.plot_scatter(["lenet5", "alexnet", "resnet18"]).axes[0]
    assert [t.get_text() for t in scatter.texts] == ["LeNet-5", "AlexNet", "ResNet-18"]
    memory = charts.plot_memory("alexnet").axes[0]
    bars = [p.get_height() for p in memory.patches]
    report = cnnsize.analyze("alexnet")
    mib = 2**20  # AlexNet's live bytes reach 1.5 MiB: the axis is in MiB
    assert "MiB" in memory.get_ylabel()
    assert bars == [r.activation_bytes / mib for r in report.layers] + [r.saved_bytes / mib for r in report.layers]
    assert list(memory.get_lines()[0].get_ydata()) == [r.live_bytes / mib for r in report.layers]
    assert any("inference peak 1.491 MiB" in t.get_text() for t in memory.texts)
    resolution = charts.plot_resolution(["alexnet"], sizes=[64, 128, 224]).axes[0]
    line = resolution.get_lines()[0]
    assert list(line.get_xdata()) == [64, 128, 224]
    assert line.get_ydata()[-1] == report.totals.macs
    # sizes a network cannot run at are named in its legend entry, not dropped silently:
    # AlexNet at 16 and 32 px: conv1 (11×11, stride 4) then three 3×3/2 pools leave nothing;
    # LeNet-5's F5 is made for 16·5·5 = 400 features (1×32×32), as PyTorch's module is
    both = charts.plot_resolution(["lenet5", "alexnet"], sizes=[16, 32, 64]).axes
    assert [t.get_text() for t in both[0].get_legend().get_texts()] == [
        "LeNet-5 (does not run at 16, 64 px)", "AlexNet (does not run at 16, 32 px)"]
    # one tick style on both axes: SI numbers, no powers of ten
    assert {type(a.yaxis.get_major_formatter()).__name__ for a in both} == {"FuncFormatter"}


def test_plot_cli_writes_files(tmp_path):
    for kind, specs in (("layers", ["lenet5"]), ("scatter", []), ("resolution", ["lenet5"])):
        out = tmp_path / f"{kind}.png"
        proc = subprocess.run([sys.executable, "-m", "cnnsize", "plot", *specs, "--kind", kind,
                               "-o", str(out)], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([sys.executable, "-m", "cnnsize", "plot", "lenet5", "-o",
                          str(tmp_path / "x.jpg")], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


def test_plot_without_kind_draws_the_chart_that_fits_the_specs(tmp_path):
    """One spec: its layers; several: their totals (not "a 'layers' chart shows one network")."""
    out = tmp_path / "cmp.svg"
    proc = subprocess.run([sys.executable, "-m", "cnnsize", "plot", "lenet5", "alexnet_2012",
                           "vgg16", "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    svg = out.read_text()
    assert "Network totals compared" in svg and "AlexNet (2012)" in svg


# ---------------------------------------------------------------- committed reports

def test_committed_reports_are_up_to_date():
    from cnnsize.reports import index, pages

    folder = ROOT / "reports"
    stale = []
    for _, files in pages(charts=False):
        for name, text in files.items():
            path = folder / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
            for chart in re.findall(r"\]\(([^)]+\.svg)\)", text):
                if not (folder / chart).exists():
                    stale.append(chart)
    if (folder / "README.md").read_text(encoding="utf-8") != index(cnnsize.zoo_names()):
        stale.append("README.md")
    assert not stale, f"reports/ is out of date ({stale[:5]}): run `cnnsize reports`"


def test_plot_input_is_stated_on_the_chart_or_refused(tmp_path):
    out = tmp_path / "l.svg"
    # AlexNet's adaptive pool takes a 128x128 input (LeNet-5's F5 refuses another one)
    ok = subprocess.run([sys.executable, "-m", "cnnsize", "plot", "alexnet", "--input", "3,128,128",
                         "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "(input 3×128×128)" in out.read_text()
    for kind in ("scatter", "resolution"):
        bad = subprocess.run([sys.executable, "-m", "cnnsize", "plot", "lenet5", "--kind", kind,
                              "--input", "1,64,64", "-o", str(tmp_path / "x.png")],
                             capture_output=True, text=True, timeout=120)
        assert bad.returncode == 2 and "takes no input shape" in bad.stderr
        assert not (tmp_path / "x.png").exists()


def test_the_layers_chart_reads_at_slide_size():
    """Log scale where bars span decades, tick labels upright only where they would overlap (as
    measured when drawn), and the legend above the axes, off the bars."""
    charts = pytest.importorskip("cnnsize.plot")
    alexnet = charts.plot_layers("alexnet")
    ax = alexnet.axes[0]
    assert ax.get_yscale() == "log"  # 1,000 units of the classifier to 224 M connections
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {90.0}
    alexnet.draw_without_rendering()
    assert ax.get_legend().get_window_extent().y0 >= ax.get_window_extent().y1
    lenet = charts.plot_layers("lenet5", log=False).axes[0]
    assert lenet.get_yscale() == "linear"
    assert {t.get_rotation() for t in lenet.get_xticklabels()} == {0.0}  # C1, S2, ...: room
    flat = {"input": [4, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3,
                                            "padding": 1}] * 2}
    assert charts.plot_layers(flat).axes[0].get_yscale() == "linear"  # 256 to 9,216: < 100×


def test_a_deep_network_is_rolled_up_to_keep_to_max_bars():
    """GoogLeNet's 72 neuron layers would be 72 groups of bars; without --depth the chart rolls
    up at the deepest depth that keeps to MAX_BARS and says so; --depth and max_bars=None win."""
    charts = pytest.importorskip("cnnsize.plot")
    ax = charts.plot_layers("googlenet").axes[0]
    assert len(ax.get_xticks()) <= charts.MAX_BARS
    assert "rolled up at depth 1" in ax.get_xlabel() and "--depth chooses another" in ax.get_xlabel()
    assert "inception3a" in [t.get_text() for t in ax.get_xticklabels()]
    every = charts.plot_layers("googlenet", max_bars=None).axes[0]
    neurons = [r for r in cnnsize.analyze("googlenet").layers if r.neurons]
    # more than MAX_BARS rows: horizontal bars, the layers down the y axis
    assert len(every.get_yticks()) == len(neurons) > charts.MAX_BARS
    chosen = charts.plot_layers("googlenet", depth=2).axes[0]
    assert "to keep to" not in chosen.get_xlabel()
    memory = charts.plot_memory("resnet152").axes[0]
    assert len(memory.get_xticks()) <= charts.MAX_BARS and "depth 1" in memory.get_xlabel()
    assert len(charts.plot_layers("lenet5").axes[0].get_xticks()) == 7  # fits: every layer
