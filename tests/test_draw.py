"""Architecture diagrams (cnnsize draw): what is on them, measured from the drawn figure.

Structure, not pixels: the texts a picture must show (every shape, kernel and caption comes from
the analysis), element counts, kernel windows to scale, no two texts overlapping as drawn, and
figure sizes that fit a slide.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

import cnnsize
from cnnsize.cli import main
from cnnsize.draw import MAX_BOXES, MAX_TALL, draw, fit_depth, units
from cnnsize.errors import CnnsizeError
from cnnsize.plot import save

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
WINDOW = "#f6c28b"  # the kernel windows' colour


def texts(fig):
    return [t.get_text() for t in fig.axes[0].texts]


def windows(fig):
    from matplotlib.colors import to_hex

    return [p for p in fig.axes[0].patches
            if type(p).__name__ == "Polygon" and to_hex(p.get_facecolor()) == WINDOW]


def overlaps(fig):
    """Pairs of texts whose boxes, as drawn, intersect (more than half a pixel)."""
    fig.draw_without_rendering()
    boxes = [(t.get_text(), t.get_window_extent()) for t in fig.axes[0].texts if t.get_text()]
    return [(a, b) for (a, ba), (b, bb) in itertools.combinations(boxes, 2)
            if min(ba.x1, bb.x1) - max(ba.x0, bb.x0) > 0.5
            and min(ba.y1, bb.y1) - max(ba.y0, bb.y0) > 0.5]


def outside(fig):
    fig.draw_without_rendering()
    width, height = fig.bbox.width, fig.bbox.height
    return [t.get_text() for t in fig.axes[0].texts if t.get_text() and (
        (b := t.get_window_extent()).x0 < 0 or b.y0 < 0 or b.x1 > width or b.y1 > height)]


def test_lenet_style_shows_the_lecture_figure():
    """LeNet-5 as in LeCun et al. 1998, Fig. 2: every stack with its maps, every transition
    with its layer, one kernel window per convolution or subsampling."""
    fig = draw("lenet5_1998", "lenet")
    shown = texts(fig)
    for label in ("1@32×32", "6@28×28", "6@14×14", "16@10×10", "16@5×5", "120×1×1", "84", "10",
                  "C1", "S2", "C3", "S4", "C5", "F6", "5×5 conv, 6", "2×2 subsampling",
                  "5×5 conv, 16", "5×5 conv, 120", "fc 84", "RBF 10"):
        assert label in shown, label
    assert shown.count("2×2 subsampling") == 2
    assert len(windows(fig)) == 5  # C1, S2, C3, S4, C5: each reads a window of a map
    assert overlaps(fig) == [] and outside(fig) == []


def test_kernel_windows_are_to_scale():
    """Each window is its kernel's share of the map it reads: 5/32 of the input's plane, 2/28
    of C1's front plane, 5/14, 2/10, and all of S4's 5×5."""
    fig = draw("lenet5_1998", "lenet")

    def extents(patches):
        return sorted((p.get_path().get_extents().transformed(p.get_patch_transform())
                       for p in patches), key=lambda e: e.x0)

    fronts = [e for e in extents(p for p in fig.axes[0].patches
                                 if type(p).__name__ == "Polygon"
                                 and tuple(p.get_facecolor()[:3]) == (1.0, 1.0, 1.0))
              if e.width == pytest.approx(e.height)]  # the maps' front planes, not the columns
    assert len(fronts) == 5
    shares = [5 / 32, 2 / 28, 5 / 14, 2 / 10, 5 / 5]
    for window, front, share in zip(extents(windows(fig)), fronts, shares, strict=True):
        assert window.height == pytest.approx(front.height * share)
        assert front.x0 <= window.x0 and window.x1 <= front.x1
    # planes to scale: 32, 28, 14, 10, 5 on one linear scale
    sizes = [32, 28, 14, 10, 5]
    assert [f.height / fronts[0].height for f in fronts] == pytest.approx([n / 32 for n in sizes])


def test_alexnet_style_labels_every_dim():
    fig = draw("alexnet", "alexnet")
    shown = texts(fig)
    for label in ("224", "55", "27", "13", "6", "3", "64", "192", "384", "256", "4,096", "1,000",
                  "11×11 conv, 64, /4", "5×5 conv, 192", "3×3 max pool, /2", "fc 4096",
                  "fc 1000", "after ReLU"):
        assert label in shown, label
    assert len(windows(fig)) == 8  # 5 convs and 3 max pools read windows of maps
    assert overlaps(fig) == [] and outside(fig) == []


def test_graph_style_draws_every_unit_and_edge():
    """ResNet-18 with its blocks open (depth 3): one box per row, one arrow per edge, the
    shape of every tensor under the box that makes it."""
    report = cnnsize.analyze("resnet18")
    drawn = units(report, 3)
    fig = draw("resnet18", "graph", depth=3)
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if type(p).__name__ == "FancyBboxPatch"]
    arrows = [p for p in ax.patches if type(p).__name__ == "FancyArrowPatch"]
    rows = len(report.layers) - sum(c.rows - 1 for c in report.containers if c.depth == 2)
    assert len(boxes) == len(drawn) == 1 + rows  # the input, and the downsamples as one box
    assert len(arrows) == sum(len(u.inputs) for u in drawn)
    shown = texts(fig)
    assert all(u.name in shown for u in drawn[1:])
    adds = [u for u in drawn if u.caption == "add"]
    assert len(adds) == 8 and all(len(u.inputs) == 2 for u in adds)
    assert "64×56×56" in shown and "1000  → output" in shown
    assert overlaps(fig) == [] and outside(fig) == []


def test_default_depth_keeps_a_graph_readable():
    """Without --depth: every row where they fit, else the deepest depth that does; a chain
    style, the deepest depth that is a chain."""
    assert fit_depth(cnnsize.analyze("lenet5"), "graph") is None
    assert fit_depth(cnnsize.analyze("resnet152"), "graph") == 2   # 50 blocks
    assert fit_depth(cnnsize.analyze("googlenet"), "graph") == 2   # the branches of each module
    assert fit_depth(cnnsize.analyze("inception_v3"), "graph") == 1
    assert fit_depth(cnnsize.analyze("resnet18"), "lenet") == 2    # blocks hold the skips
    for name in ("resnet152", "googlenet", "inception_v3"):
        report = cnnsize.analyze(name)
        assert len(units(report, fit_depth(report, "graph"))) <= MAX_BOXES


def test_a_graph_whose_skips_cross_every_rank_rolls_up_until_it_fits():
    """U-Net's 54 rows fit MAX_BOXES, but its long skips leave no rank to wrap a column at: a
    33-inch column. Without --depth it rolls up to its 10 blocks, a U; with it, as asked."""
    fig = draw("unet")
    assert fig.get_size_inches()[1] <= MAX_TALL
    from matplotlib.text import Text

    texts = " ".join(t.get_text() for t in fig.findobj(Text))
    assert "11 boxes (containers rolled up at depth 1)" in texts
    assert draw("unet", depth=2).get_size_inches()[1] > MAX_TALL


@pytest.mark.parametrize(("name", "style"), [
    ("lenet5", "lenet"), ("lenet5", "graph"), ("alexnet_2012", "alexnet"), ("vgg16", "alexnet"),
    ("vgg16", "lenet"), ("resnet152", "graph"), ("resnet152", "alexnet"), ("googlenet", "graph"),
    ("inception_v3", "graph"), ("densenet121", "graph"), ("mobilenet_v2", "graph"),
    ("deepbind", "lenet"), ("squeezenet1_0", "graph"), ("efficientnet_b0", "alexnet"),
    ("unet", "graph"), ("fcn_resnet50", "graph"), ("convnext_tiny", "graph"), ("vit_b_16", "graph")])
def test_no_text_overlaps_and_the_figure_fits_a_slide(name, style):
    fig = draw(name, style)
    width, height = fig.get_size_inches()
    assert width <= 20 and height <= 14, (width, height)
    assert overlaps(fig) == []
    assert outside(fig) == []


def test_branched_graphs_and_several_inputs():
    fig = draw(EXAMPLES / "two_inputs.yaml", "graph")
    shown = texts(fig)
    assert "image" in shown and "mask" in shown
    fig = draw(EXAMPLES / "unet.yaml", "graph")
    assert overlaps(fig) == [] and outside(fig) == []
    with pytest.raises(CnnsizeError, match="chain of layers"):
        draw(EXAMPLES / "two_inputs.yaml", "lenet")
    with pytest.raises(CnnsizeError, match="at depth 3 ResNet-18 branches"):
        draw("resnet18", "alexnet", depth=3)


def test_costs_are_the_reports_exact_counts():
    report = cnnsize.analyze("alexnet")
    fig = draw("alexnet", "graph", costs=["macs", "params", "memory"])
    shown = texts(fig)
    row = report["features.0"]
    assert f"MACs {row.macs:,}" in shown and f"params {row.params:,}" in shown
    assert f"memory {row.activation_bytes:,} B" in shown
    with pytest.raises(CnnsizeError, match="unknown cost"):
        draw("alexnet", "graph", costs=["speed"])
    with pytest.raises(CnnsizeError, match="graph diagram"):
        draw("alexnet", "lenet", costs=["macs"])
    with pytest.raises(CnnsizeError, match="unknown style"):
        draw("alexnet", "nnsvg")  # type: ignore[arg-type]


def test_vector_output_is_text_deterministic_and_literal(tmp_path):
    """SVG keeps text as text; two renders are byte for byte the same; a '$' in a user's layer
    name is drawn as written (no mathtext)."""
    spec = {"name": "cost $5", "input": [1, 8, 8], "layers": [
        {"name": "$1", "type": "conv2d", "out_channels": 2, "kernel_size": 3},
        {"name": "pool", "type": "maxpool2d", "kernel_size": 2}]}
    for style in ("graph", "lenet", "alexnet"):
        a, b = tmp_path / f"a_{style}.svg", tmp_path / f"b_{style}.svg"
        save(draw(spec, style), a)
        save(draw(spec, style), b)
        svg = a.read_text(encoding="utf-8")
        assert a.read_bytes() == b.read_bytes()
        assert "$1" in svg and "cost $5" in svg and "<text" in svg


def test_draw_cli_writes_every_format_and_refuses_bad_input(tmp_path, capsys):
    for ext in ("svg", "pdf", "png"):
        out = tmp_path / f"lenet.{ext}"
        assert main(["draw", "lenet5", "--style", "lenet", "-o", str(out)]) == 0
        assert out.stat().st_size > 1000
    assert main(["draw", "resnet50", "--depth", "1", "--costs", "macs,params",
                 "-o", str(tmp_path / "r.svg")]) == 0
    assert main(["draw", "lenet5", "-o", str(tmp_path / "x.txt")]) == 2
    assert main(["draw", "resnet50", "--style", "lenet", "--depth", "3",
                 "-o", str(tmp_path / "y.png")]) == 2
    err = capsys.readouterr().err
    assert "not '.txt'" in err and "branches" in err and "Traceback" not in err
    spec = tmp_path / "net.yaml"
    spec.write_text("input: [1, 8, 8]\nlayers:\n  - {type: conv2d, out_channels: 2, "
                    "kernel_size: 3}\n", encoding="utf-8")
    before = spec.read_bytes()
    assert main(["draw", str(spec), "-o", str(spec)]) == 2
    assert spec.read_bytes() == before


def test_input_is_stated_in_the_title():
    fig = draw("alexnet", "alexnet", input_shape=(3, 227, 227))
    assert any("(input 3×227×227)" in t.get_text() for t in fig.axes[0].texts)
    assert "227" in texts(fig)


def test_work_is_bounded_before_it_starts():
    with pytest.raises(CnnsizeError, match="512 boxes do not make a diagram") as e:
        draw("resnet152", "graph", depth=3)
    assert "--depth" in str(e.value)
    flat = {"input": [1, 8, 8], "layers": [{"type": "relu"} for _ in range(400)]}
    with pytest.raises(CnnsizeError, match="has no containers to roll up"):
        draw(flat, "graph")
    with pytest.raises(CnnsizeError, match="stages do not read"):
        draw({"input": [1, 64, 64], "layers": [
            {"type": "conv2d", "out_channels": 1, "kernel_size": 1} for _ in range(60)]}, "lenet")
