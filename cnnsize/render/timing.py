"""Render timing results and sweeps: tables and charts."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

from ..errors import CnnsizeError
from . import json_text, table

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from ..verify.timing import Sweep, TimingResult

_TABLEFMT = {"text": "simple", "markdown": "pipe"}


def _ms(seconds: float) -> str:
    """Milliseconds with 4 significant digits (µs-scale floors stay readable)."""
    return f"{seconds * 1000:.4g}"


def _rate(value: float, unit: str) -> str:
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def render_timing(result: TimingResult, fmt: str = "text") -> str:
    if fmt == "json":
        return json_text(result.to_dict())
    total_time = result.layer_sum or 1.0
    total_flops = sum(layer.flops for layer in result.layers) or 1
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["layer", "type", "median_s", "q1_s", "q3_s", "flops", "bytes_moved",
                         "floor_s", "measured_over_floor", "bound", "flag"])
        for layer in result.layers:
            writer.writerow([layer.name, layer.type, layer.forward.median, layer.forward.q1,
                             layer.forward.q3, layer.flops, layer.bytes_moved, layer.floor_s,
                             layer.vs_floor, layer.bound, layer.flag or ""])
        return out.getvalue()
    if fmt not in _TABLEFMT:
        raise CnnsizeError(f"unknown format {fmt!r}", field="format",
                           hint="choose one of text, markdown, csv, json")
    rows = []
    for layer in result.layers:
        rows.append([
            layer.name, layer.type, _ms(layer.forward.median),
            f"{_ms(layer.forward.q1)}–{_ms(layer.forward.q3)}",
            _ms(layer.backward.median) if layer.backward else "",
            f"{layer.forward.median / total_time:.1%}", f"{layer.flops / total_flops:.1%}",
            _rate(layer.achieved_flops_per_s, "FLOP/s"), _rate(layer.achieved_bytes_per_s, "B/s"),
            _ms(layer.floor_s), f"{layer.vs_floor:.1f}×" if layer.vs_floor else "—", layer.bound,
            layer.flag or "",
        ])
    body = table(rows, ["layer", "type", "ms", "IQR ms", "bwd ms", "time", "FLOPs", "achieved",
                        "bandwidth", "floor ms", "÷ floor", "bound", "flag"], _TABLEFMT[fmt])
    p = result.peaks
    lines = [
        f"{result.report.name} on {result.device} ({result.device_name}), {result.dtype}, batch "
        f"{result.batch}{', channels-last' if result.channels_last else ''}; {result.warmup} "
        f"warm-up + {result.whole.n} timed rounds (whole, then per layer"
        + (f"; {result.whole.n - result.repeat} more than --repeat, as the times spread"
           if result.whole.n > result.repeat else "") + f"); {result.threads} "
        f"thread{'s' if result.threads != 1 else ''} ({result.threads_rule})"
        + (f"; load average {result.load_per_cpu:.2f} per CPU at the start"
           if result.load_per_cpu is not None else ""),
        f"device peaks: {_rate(p.flops_per_s, 'FLOP/s')} ({p.method}); "
        f"{_rate(p.bytes_per_s, 'B/s')} copy bandwidth",
        "", body, "",
        f"whole network: median {_ms(result.whole.median)} ms (IQR "
        f"{_ms(result.whole.q1)}–{_ms(result.whole.q3)}), {result.images_per_s:,.1f} images/s",
        f"per-layer times summed in each round: median "
        f"{_ms(result.round_sums.median if result.round_sums else result.layer_sum)} ms = "
        f"{result.sum_over_whole:.3f}× the whole (the per-layer medians add up to "
        f"{_ms(result.layer_sum)} ms)",
    ]
    if result.whole_backward:
        lines.append(f"forward + backward: median {_ms(result.whole_backward.median)} ms")
    if result.reference:
        lines.append(f"torch.utils.benchmark.Timer, same model and input: median "
                     f"{_ms(result.reference.median)} ms over {result.reference.n} blocks (IQR "
                     f"{_ms(result.reference.q1)}–{_ms(result.reference.q3)})")
    if result.overhead:
        from ..verify.timing import duration_text

        pool = result.pool_overhead
        lines.append(f"fixed cost of one hooked call: {duration_text(result.overhead.median)} "
                     "for a one-element op" + (f", {duration_text(pool.median)} for a "
                                               f"65,536-element one on {result.threads} threads"
                                               if pool else "")
                     + f"; clock step {result.resolution_s * 1e9:.3g} ns (flag: 'overhead' "
                       "under twice the fixed cost, 'resolution' under ten clock steps)")
    compute = sum(1 for layer in result.layers if layer.bound == "compute" and layer.flops)
    memory = sum(1 for layer in result.layers if layer.bound == "memory")
    lines.append(f"roofline: {compute} layers compute-bound, {memory} memory-bound (floor = "
                 "max(FLOPs / peak, bytes / bandwidth), bytes = input + weights + output)")
    lines += [f"note: {n}" for n in result.notes]
    lines += [f"warning: {w}" for w in result.warnings]
    return "\n".join(lines) + "\n"


def render_sweep(result: Sweep, fmt: str = "text") -> str:
    if fmt == "json":
        return json_text(result.to_dict())
    rows = [[p.batch, "×".join(map(str, p.input_shape)), _ms(p.latency.median),
             f"{_ms(p.latency.q1)}–{_ms(p.latency.q3)}", f"{p.images_per_s:,.1f}"]
            for p in result.points]
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["batch", "input", "median_s", "images_per_s"])
        for p in result.points:
            writer.writerow([p.batch, "x".join(map(str, p.input_shape)), p.latency.median,
                             p.images_per_s])
        return out.getvalue()
    body = table([[str(c) for c in r] for r in rows],
                 ["batch", "input", "latency ms", "IQR ms", "images/s"], _TABLEFMT.get(fmt, "simple"))
    lines = [f"{result.name} on {result.device}, {result.dtype}; {result.threads} "
             f"thread{'s' if result.threads != 1 else ''} ({result.threads_rule})", "", body]
    if result.interrupted:
        lines.append("interrupted: the settings measured before Ctrl-C are shown")
    lines += [f"skipped {s}" for s in result.skipped]
    return "\n".join(lines) + "\n"


def timing_chart(result: TimingResult) -> Figure:
    """Per-layer share of time next to share of FLOPs."""
    from ..plot import _figure, label

    layers = [layer for layer in result.layers]
    total_time = result.layer_sum or 1.0
    total_flops = sum(layer.flops for layer in layers) or 1
    fig, ax = _figure(max(7.0, 0.3 * len(layers) + 3), 5)
    xs = range(len(layers))
    ax.bar([x - 0.2 for x in xs], [100 * layer.forward.median / total_time for layer in layers],
           0.4, label="share of measured time", color="#17becf")
    ax.bar([x + 0.2 for x in xs], [100 * layer.flops / total_flops for layer in layers], 0.4,
           label="share of FLOPs (2·MACs)", color="#ff7f0e")
    ax.set_xticks(list(xs), [label(layer.name) for layer in layers], rotation=90,
                  fontsize=7 if len(layers) > 30 else 8)
    ax.set_xlabel("layer")
    ax.set_ylabel("share of the network (%)")
    ax.set_title(f"{label(result.report.name)} on {result.device_name}, {result.dtype}, batch "
                 f"{result.batch}: where the time goes")
    ax.legend()
    return fig


def sweep_chart(result: Sweep) -> Figure:
    """Throughput against batch size, one line per input size."""
    from ..plot import _figure, label

    fig, ax = _figure(8, 5)
    for shape in sorted({p.input_shape for p in result.points}):
        points = [p for p in result.points if p.input_shape == shape]
        ax.plot([p.batch for p in points], [p.images_per_s for p in points], marker="o",
                label=f"input {'×'.join(map(str, shape))}")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("batch size (log scale)")
    ax.set_ylabel("throughput (images/s)")
    ax.set_title(f"{label(result.name)} on {result.device}, {result.dtype}: throughput vs batch")
    ax.legend()
    return fig
