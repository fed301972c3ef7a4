"""The charts' layout, measured as drawn: horizontal bars where the rows are many, tick and point
labels that never overlap, figures that fit a slide; and docs/cli.md's plot examples run as shown."""

from __future__ import annotations

import itertools
import shlex
from pathlib import Path
from typing import Any

import pytest

import cnnsize
from cnnsize.cli import main

charts = pytest.importorskip("cnnsize.plot")

ROOT = Path(__file__).parent.parent
DEEPEST = ("resnet152", "inception_v3", "googlenet", "densenet121")
SLIDE = (16.0, 12.0)  # inches, at most


def flat(n: int) -> dict[str, Any]:
    """A spec without containers: n 3×3 convolutions, 4 channels, on a 3×16×16 input."""
    return {"name": f"flat{n}", "input": [3, 16, 16],
            "layers": [{"type": "conv2d", "name": f"conv{i}", "out_channels": 4, "kernel_size": 3,
                        "padding": 1} for i in range(1, n + 1)]}


def drawn(fig: Any, texts: Any) -> list[Any]:
    """The extents, as drawn, of the texts that show something (an annotation's text, without
    its leader line)."""
    from matplotlib.text import Text

    fig.draw_without_rendering()
    return [Text.get_window_extent(t) for t in texts if t.get_text() and t.get_visible()]


def clashes(boxes: list[Any]) -> list[tuple[Any, Any]]:
    """The pairs of boxes that share some area."""
    return [(a, b) for a, b in itertools.combinations(boxes, 2)
            if a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1]


def tick_labels(ax: Any, axis: str) -> list[Any]:
    """The axis's tick labels, major and minor, that are drawn: those within its view."""
    get, at = (ax.get_xticklabels, 0) if axis == "x" else (ax.get_yticklabels, 1)
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    return [t for t in (*get(which="major"), *get(which="minor"))
            if lo <= t.get_position()[at] <= hi]


def assert_fits_a_slide(fig: Any) -> None:
    width, height = fig.get_size_inches()
    assert width <= SLIDE[0] and height <= SLIDE[1], (width, height)
    for ax in fig.axes:
        for axis in ("x", "y"):
            boxes = drawn(fig, tick_labels(ax, axis))
            assert not clashes(boxes), f"{ax.get_title()}: {axis} tick labels overlap"
            assert all(fig.bbox.x0 <= b.x0 and b.x1 <= fig.bbox.x1 and fig.bbox.y0 <= b.y0
                       and b.y1 <= fig.bbox.y1 for b in boxes), f"{axis} tick label off the figure"


# ---------------------------------------------------------------- many rows: horizontal bars

def test_many_rows_are_drawn_across_top_to_bottom():
    """60 layers and no container to roll up: horizontal bars, conv1 on top, the values on a
    log x axis with K/M ticks, as tall as a slide allows and every layer named."""
    fig = charts.plot_layers(flat(60))
    ax = fig.axes[0]
    assert tuple(fig.get_size_inches()) == (10, 12)  # 0.18 in a row would be 13.3 in: capped
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"conv{i}" for i in range(1, 61)]
    top, bottom = ax.get_ylim()
    assert top > bottom  # the y axis runs down: conv1 at the top
    assert ax.get_xscale() == "log" and "(log scale)" in ax.get_xlabel()
    assert type(ax.xaxis.get_major_formatter()).__name__ == "FuncFormatter"
    widths = [p.get_width() for p in ax.patches]
    assert len(widths) == 3 * 60
    assert widths[:2] == [1_024, 1_024]                          # units: 4 × 16 × 16
    assert widths[60:62] == [108, 144]                           # weights: 4 × 3 × 3², 4 × 4 × 3²
    assert widths[120:122] == [27_648, 36_864]                   # connections: 1,024 × 27, × 36
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["units", "weights", "connections"]
    fig.draw_without_rendering()
    frame, legend = ax.get_window_extent(), ax.get_legend().get_window_extent()
    assert legend.y0 >= frame.y1 and ax.title.get_window_extent().y0 >= legend.y1
    assert ax.get_yticklabels()[0].get_fontsize() == charts.ROW_FONT[0]
    assert_fits_a_slide(fig)


def test_the_memory_chart_of_many_rows_is_drawn_across():
    fig = charts.plot_memory(flat(60))
    ax = fig.axes[0]
    report = cnnsize.analyze(flat(60))
    kib = 2**10  # the largest value, 20 KiB alive, is under a MiB
    assert "KiB" in ax.get_xlabel() and [t.get_text() for t in ax.get_yticklabels()][-1] == "conv60"
    widths = [p.get_width() for p in ax.patches]
    assert widths == ([r.activation_bytes / kib for r in report.layers]
                      + [r.saved_bytes / kib for r in report.layers])
    assert widths[0] == 4 * 16 * 16 * 4 / kib                   # 1,024 floats of 4 bytes: 4 KiB
    alive = ax.get_lines()[0]  # a step down the rows: each row's value at its top and bottom
    assert list(alive.get_xdata()) == [r.live_bytes / kib for r in report.layers for _ in (0, 1)]
    assert list(alive.get_ydata())[:3] == [0, 0.5, 0.5] and alive.get_ydata()[-1] == 59
    assert_peak_note_is_clear(fig)
    assert_fits_a_slide(fig)


def assert_peak_note_is_clear(fig: Any) -> None:
    """The inference peak's note covers no bar and ends inside the axes, as drawn."""
    ax = fig.axes[0]
    peak = next(t for t in ax.texts if t.get_text().startswith("inference peak"))
    box = drawn(fig, [peak])[0]
    frame = ax.get_window_extent()
    assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    assert not [b.bounds for b in (p.get_window_extent() for p in ax.patches) if clashes([box, b])]


def test_the_peak_note_goes_past_the_bars_it_would_cover():
    """ResNet-152's peak (9.762 MiB, in layer1) sits under the 43 MiB bar of layer1's
    outputs: the note goes above the bars, a line back to the peak."""
    fig = charts.plot_memory("resnet152")
    peak = next(t for t in fig.axes[0].texts if t.get_text().startswith("inference peak"))
    assert peak.arrow_patch is not None and peak.xyann[1] > 6
    assert_peak_note_is_clear(fig)


def test_an_explicit_depth_with_many_bars_is_drawn_across():
    ax = charts.plot_memory("resnet152", depth=2).axes[0]  # 57 rows: the blocks of each stage
    assert len(ax.get_yticks()) == 57 > charts.MAX_BARS
    assert "layer1.0" in [t.get_text() for t in ax.get_yticklabels()]


def test_row_labels_shrink_then_thin_to_fit():
    """Where the rows are too close for the largest font, a smaller one (to ROW_FONT's floor);
    where even that overlaps, every k-th row named, the smallest k that fits, and said so."""
    ax = charts.plot_layers(flat(80)).axes[0]
    sizes = {t.get_fontsize() for t in ax.get_yticklabels()}
    assert len(ax.get_yticklabels()) == 80 and len(sizes) == 1
    assert charts.ROW_FONT[1] <= sizes.pop() < charts.ROW_FONT[0]
    fig = charts.plot_layers(flat(300))
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.get_yticklabels()]
    k = int(names[1].removeprefix("conv")) - 1
    assert k >= 2 and names == [f"conv{i}" for i in range(1, 301, k)]
    assert f"(one name every {k} rows)" in ax.get_ylabel()
    assert {*ax.get_yticks(), *ax.get_yticks(minor=True)} == set(range(300))  # a tick each
    assert {t.get_fontsize() for t in ax.get_yticklabels()} == {charts.ROW_FONT[1]}
    assert_fits_a_slide(fig)
    # the smallest k: one fewer would overlap, as drawn
    ax.set_yticks(range(0, 300, k - 1), [f"conv{i}" for i in range(1, 301, k - 1)],
                  fontsize=charts.ROW_FONT[1])
    assert clashes(drawn(fig, ax.get_yticklabels()))


def test_upright_names_that_still_overlap_are_thinned():
    """The safety net under upright bars: names too big even turned upright, one in k."""
    fig, ax, across = charts._bar_figure(40, 0.1)
    assert not across and tuple(fig.get_size_inches()) == (7, 5)
    ax.bar(range(40), range(1, 41))
    charts._row_axis(fig, ax, across, [f"name{i}" for i in range(40)], "rows", 24)
    names = [t.get_text() for t in ax.get_xticklabels()]
    k = int(names[1].removeprefix("name"))
    assert k >= 2 and f"(one name every {k} bars)" in ax.get_xlabel()
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {90.0}
    assert not clashes(drawn(fig, ax.get_xticklabels()))


# ---------------------------------------------------------------- the scatter's labels

def test_scatter_labels_never_overlap():
    """The zoo scatter (VGG-n and VGG-n-BN nearly on one point): no two names overlap, none
    covers a point or leaves the axes, and the same chart places them the same way."""
    fig = charts.plot_scatter()
    ax = fig.axes[0]
    names = [t.get_text() for t in ax.texts]
    assert len(names) == len(cnnsize.zoo_names())  # one label per entry
    boxes = drawn(fig, ax.texts)
    assert not clashes(boxes), [(a.bounds, b.bounds) for a, b in clashes(boxes)]
    frame = ax.get_window_extent()
    assert all(frame.x0 <= b.x0 and b.x1 <= frame.x1 and frame.y0 <= b.y0 and b.y1 <= frame.y1
               for b in boxes)
    radius = fig.dpi / 72 * ax.collections[0].get_sizes()[0] ** 0.5 / 2
    points = ax.transData.transform(ax.collections[0].get_offsets())
    assert not [(n, b.bounds) for n, b in zip(names, boxes, strict=True) for x, y in points
                if b.x0 < x + radius and x - radius < b.x1 and b.y0 < y + radius
                and y - radius < b.y1]
    legend = ax.get_legend().get_window_extent()
    assert not [b.bounds for b in boxes if clashes([legend, b])]
    again = charts.plot_scatter().axes[0]
    assert [t.xyann for t in again.texts] == [t.xyann for t in ax.texts]


def test_a_log_axis_that_spans_little_keeps_one_tick_style():
    """The VGGs span 132 M to 144 M parameters: matplotlib labels minor ticks there, and they
    read 134M, 20G like the major ones (not 1.34×10⁸, 2×10¹⁰)."""
    import re

    fig = charts.plot_scatter(["vgg11", "vgg13", "vgg16", "vgg19"])
    ax = fig.axes[0]
    fig.draw_without_rendering()
    shown = {axis: [t.get_text() for t in tick_labels(ax, axis) if t.get_text()]
             for axis in ("x", "y")}
    assert "134M" in shown["x"] and "20G" in shown["y"]
    assert all(re.fullmatch(r"\d+(\.\d+)?[KMGT]?", t) for t in shown["x"] + shown["y"]), shown


# ---------------------------------------------------------------- slide-sized, any depth

@pytest.mark.parametrize(("kind", "net"), [(k, n) for k in ("layers", "memory") for n in DEEPEST])
def test_per_layer_charts_of_the_deepest_nets_fit_a_slide(kind, net):
    assert_fits_a_slide(charts.plot([net], kind))


@pytest.mark.parametrize("kind", ["totals", "scatter", "resolution"])
def test_charts_of_several_deep_nets_fit_a_slide(kind):
    assert_fits_a_slide(charts.plot(list(DEEPEST), kind))


def test_every_layer_of_a_deep_net_still_fits_a_slide():
    """ResNet-152 at --depth 3: 511 rows of memory, named one in k, on one slide."""
    fig = charts.plot(["resnet152"], "memory", depth=3)
    ax = fig.axes[0]
    assert {*ax.get_yticks(), *ax.get_yticks(minor=True)} == set(range(511))
    assert "one name every" in ax.get_ylabel()
    assert_fits_a_slide(fig)


# ---------------------------------------------------------------- docs/cli.md runs as shown

def plot_examples() -> list[tuple[str, list[str]]]:
    """Each `cnnsize plot ...` line of a code block in docs/cli.md's plot section, with the lines
    shown after it in its block."""
    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = text.split("\n## `cnnsize plot`\n", 1)[1].split("\n## ", 1)[0]
    out = []
    for block in section.split("```")[1::2]:
        lines = block.split("\n")[1:]  # past the fence's language
        for i, line in enumerate(lines):
            command = line.removeprefix("$ ").split("  #")[0].strip()
            if command.startswith("cnnsize plot ") and "--help" not in command:
                out.append((command, [s for s in lines[i + 1:] if s.strip()] if "$?" in command
                            else []))
    return out


def test_the_plot_section_has_examples():
    examples = plot_examples()
    assert len(examples) >= 8 and any("$?" in c for c, _ in examples)


@pytest.mark.parametrize(("command", "shown"), plot_examples(), ids=[c for c, _ in plot_examples()])
def test_documented_plot_examples_do_what_the_docs_say(command, shown, tmp_path, capsys):
    """Each runs through `cnnsize.cli.main` with -o in tmp_path: 0 and the file written, of the
    format its extension names; an example shown failing (`; echo $?`) prints what the docs
    show and exits 2, writing nothing."""
    words = shlex.split(command.split(";")[0])[2:]  # past `cnnsize plot`
    words = [w for w in words if w != "2>&1"]
    at = next(i for i, w in enumerate(words) if w in ("-o", "--output")) + 1
    target = tmp_path / Path(words[at]).name
    words[at] = str(target)
    status = main(["plot", *words])
    err = capsys.readouterr().err
    if "$?" in command:
        *message, code = shown
        assert status == int(code) == 2 and err.splitlines() == message
        assert not target.exists()
        return
    assert status == 0, err
    magic = {".png": b"\x89PNG", ".svg": b"<?xml", ".pdf": b"%PDF"}[target.suffix]
    assert target.read_bytes().startswith(magic) and err == f"wrote {target}\n"
