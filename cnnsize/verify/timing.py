"""Measured timing: per-layer and whole-network latency, a roofline floor per layer, sweeps.

On CUDA, layers are timed with CUDA events recorded from forward hooks (one pair per layer per
run, read after a synchronize); on CPU with time.perf_counter (or an injected clock, for tests).
The roofline floor of a layer is max(FLOPs / peak compute, bytes / memory bandwidth) with
bytes = input + weights + output (Williams, Waterman & Patterson, "Roofline", CACM 2009); the
peaks come from a short microbenchmark of the device: a large matmul in the chosen dtype and a
large device-to-device copy, cached per device and dtype (see PEAKS_MAX_AGE_S and BUSY for when
a cached figure is measured again).

On a machine that other programs use, a run is slower or faster than the last, so the numbers
compared with each other are measured side by side: each round times the whole network (no
hooks), then the same network with the per-layer hooks, so drift shifts both alike. Each layer's
time is flagged where it says little: below ten ticks of the clock, or under twice the fixed cost
of one hooked call (hooks, dispatch, a kernel launch or waking the thread pool; measured on a
one-element op the same way). The whole network's spread (IQR / median) and the load average at
the start are reported, with a warning when either is high.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..analyze import SpecLike, analyze
from ..conventions import Conventions
from ..errors import CnnsizeError
from ..extras import progress as show_progress
from ..report import Report
from ..spec import Network, load
from .build import build, module_for_row
from .crosscheck import DTYPES, check_device, out_of_memory, torch_error

Clock = Callable[[], float]

# A cached peak is measured again when it is older than this, or when the CPU load average per
# CPU was above BUSY while it was measured (it read the device's share, not the device).
PEAKS_MAX_AGE_S = 7 * 24 * 3600
BUSY = 0.5
# The whole network's IQR / median above this: the timings of this run are not steady.
WIDE_SPREAD = 0.10
# On a busy machine more rounds are run, up to EXTRA_ROUNDS times --repeat, until the median of
# the whole network and of the per-round sums are each known within MEDIAN_ERROR (their
# standard error, estimated from the IQR: 1.253 · IQR / 1.349 / √n, over the median).
EXTRA_ROUNDS = 4
MEDIAN_ERROR = 0.03
# Elements of the probe that wakes the CPU thread pool: twice ATen's grain size (32,768), so
# that an elementwise op runs on two threads or more, with little work (256 KiB in float32).
GRAIN_SIZE = 32_768
POOL_PROBE = 2 * GRAIN_SIZE


def duration_text(seconds: float) -> str:
    """3 significant digits in µs below a millisecond, in ms above."""
    return f"{seconds * 1e6:.3g} µs" if seconds < 1e-3 else f"{seconds * 1e3:.3g} ms"


def load_per_cpu() -> float | None:
    """The 1-minute load average divided by the CPUs this process may run on, or None where
    the OS has no load average."""
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows
        return None
    return load / max(len(_cpus()), 1)


def _cpus() -> list[int]:
    """The CPUs this process may run on."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS, Windows
        return list(range(os.cpu_count() or 1))


def _cpu_times(cpus: Sequence[int], stat: Path) -> dict[int, tuple[int, int]] | None:
    """(busy, total) jiffies of each of `cpus` from /proc/stat, or None where it is missing."""
    try:
        text = stat.read_text()
    except OSError:
        return None
    wanted = {f"cpu{c}": c for c in cpus}
    out = {}
    for line in text.splitlines():
        name, *fields = line.split()
        if name in wanted and len(fields) >= 4:
            ticks = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            out[wanted[name]] = (sum(ticks) - idle, sum(ticks))
    return out or None


def busy_cpus(window_s: float = 0.25, stat: Path = Path("/proc/stat"),
              sleep: Callable[[float], None] = time.sleep) -> float | None:
    """How many of this process's CPUs other programs keep busy now: the non-idle share of
    each CPU over `window_s` seconds of /proc/stat while this process sleeps, added up; None
    where the OS has no /proc/stat."""
    cpus = _cpus()
    before = _cpu_times(cpus, stat)
    if before is None:
        return None
    sleep(window_s)
    after = _cpu_times(cpus, stat)
    if after is None:
        return None
    total = 0.0
    for cpu, (busy0, all0) in before.items():
        busy1, all1 = after.get(cpu, (busy0, all0))
        if all1 > all0:
            total += (busy1 - busy0) / (all1 - all0)
    return total


def default_threads(device: str, threads: int | None) -> tuple[int, str]:
    """The intra-op threads to time with, and the rule that chose them, in words. On CPU
    without --threads: the CPUs that other programs leave free (busy_cpus, rounded), at most
    torch's default and at least 1, because a thread that shares its core with another
    program holds up every op it takes part in; on CUDA and with --threads: as given."""
    if threads is not None:
        return threads, "--threads"
    if device.startswith("cuda"):
        return torch.get_num_threads(), "torch's default"
    cpus = len(_cpus())
    busy = busy_cpus()
    if busy is None:
        return torch.get_num_threads(), "torch's default; no /proc/stat to see free CPUs"
    free = max(1, min(torch.get_num_threads(), round(cpus - busy)))
    return free, (f"the free CPUs: {cpus} CPU{'s' if cpus != 1 else ''}, {busy:.1f} busy "
                  "with other programs; --threads to choose")


# ---------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class Stats:
    """Summary of repeated timings, in seconds: median and spread."""

    median: float
    q1: float
    q3: float
    min: float
    max: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples")
        ordered = sorted(samples)
        if len(ordered) >= 2:
            q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
        else:
            q1 = q3 = ordered[0]
        return cls(statistics.median(ordered), q1, q3, ordered[0], ordered[-1], len(ordered))

    @property
    def iqr(self) -> float:
        return self.q3 - self.q1

    def to_dict(self) -> dict[str, float]:
        return {"median_s": self.median, "q1_s": self.q1, "q3_s": self.q3, "min_s": self.min,
                "max_s": self.max, "n": self.n}


# ---------------------------------------------------------------- device peaks


@dataclass(frozen=True, slots=True)
class Peaks:
    """Measured peak compute (FLOP/s in a dtype) and copy bandwidth (bytes/s) of a device."""

    device: str
    dtype: str
    flops_per_s: float
    bytes_per_s: float
    method: str

    def to_dict(self) -> dict[str, Any]:
        return {"device": self.device, "dtype": self.dtype, "flops_per_s": self.flops_per_s,
                "bytes_per_s": self.bytes_per_s, "method": self.method}


def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    import platform

    return f"cpu {platform.processor() or platform.machine()} x{os.cpu_count()}"


def _cache_file() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "cnnsize" / "peaks.json"


def _seconds(fn: Callable[[], Any], cuda: bool, clock: Clock) -> float:
    """One timed call: CUDA events around it (then a synchronize) on GPU, the clock on CPU."""
    if cuda:
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        return float(start.elapsed_time(end)) / 1000
    t0 = clock()
    fn()
    return clock() - t0


def _timed(fn: Callable[[], Any], device: str, repeat: int, clock: Clock) -> float:
    """Median seconds of fn() after one warm-up call."""
    fn()
    return statistics.median(_seconds(fn, device.startswith("cuda"), clock) for _ in range(repeat))


def measure_peaks(device: str = "cpu", dtype: str = "float32", *, use_cache: bool = True,
                  clock: Clock = time.perf_counter, load: float | None = None) -> Peaks:
    """Peak matmul FLOP/s and device-to-device copy bandwidth with torch's current threads,
    measured once and cached. `load`: the load average per CPU to judge the measurement by
    (default: now; cnnsize time passes the one from before its own work)."""
    threads = torch.get_num_threads()
    key = peaks_key(device, dtype)
    cache = _cache_file()
    if use_cache:
        cached = _fresh(_read_cache(cache).get(key))
        if cached is not None:
            return replace(cached, device=device, dtype=dtype)
    cuda = device.startswith("cuda")
    busy = None if cuda else load if load is not None else load_per_cpu()
    n = 8192 if cuda else 2048
    a = torch.randn(n, n, device=device, dtype=DTYPES[dtype])
    b = torch.randn(n, n, device=device, dtype=DTYPES[dtype])
    matmul_s = _timed(lambda: torch.mm(a, b), device, 10 if cuda else 5, clock)
    elements = (1 << 28 if cuda else 1 << 26) // 4  # 256 MiB on GPU, 64 MiB (past L3) on CPU
    src = torch.empty(elements, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    copy_s = _timed(lambda: dst.copy_(src), device, 20 if cuda else 5, clock)
    method = (f"{n}x{n} matmul in {dtype}; copy of {src.numel() * 4 >> 20} MiB, read + write"
              + ("" if cuda else f"; {threads} thread{'s' if threads != 1 else ''}"))
    if busy is not None and busy > BUSY:
        method += (f"; measured under load ({busy:.2f} per CPU), so measured again next time")
    peaks = Peaks(device, dtype, 2 * n**3 / matmul_s, 2 * src.numel() * 4 / copy_s, method)
    if use_cache:
        from ..files import write_text

        data = _read_cache(cache)
        data[key] = {**peaks.to_dict(), "measured_at": time.time(), "load_per_cpu": busy}
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            write_text(json.dumps(data, indent=1), cache)
        except (OSError, CnnsizeError):
            pass  # a cache that cannot be written costs a measurement next time, no more
    return peaks


def peaks_key(device: str, dtype: str) -> str:
    """The cache key of a device's peaks: its name, the dtype, torch's version and, on CPU, the
    threads torch uses now (the peak of 1 thread is not that of 16)."""
    key = f"{_device_name(device)}|{dtype}|torch {torch.__version__}"
    return key if device.startswith("cuda") else f"{key}|{torch.get_num_threads()} threads"


def _fresh(cached: Any) -> Peaks | None:
    """A cached entry as Peaks if it is what cnnsize wrote, younger than PEAKS_MAX_AGE_S and was
    not measured under load (BUSY); else None: measure again."""
    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) \
            and 0 <= value < float("inf")

    if not isinstance(cached, dict) or not isinstance(cached.get("method"), str) or not all(
            number(cached.get(k)) and cached[k] > 0 for k in ("flops_per_s", "bytes_per_s")):
        return None
    age = time.time() - cached["measured_at"] if number(cached.get("measured_at")) else None
    if age is None or not 0 <= age < PEAKS_MAX_AGE_S:
        return None
    busy = cached.get("load_per_cpu")
    if busy is not None and (not number(busy) or busy > BUSY):
        return None
    hours = age / 3600
    when = f"{hours:.0f} h ago" if hours >= 1 else f"{age / 60:.0f} min ago"
    return Peaks(str(cached.get("device", "")), str(cached.get("dtype", "")),
                 float(cached["flops_per_s"]), float(cached["bytes_per_s"]),
                 f"{cached['method']}, cached (measured {when})")


def _read_cache(cache: Path) -> dict[str, Any]:
    """The peaks cache, or {} where it is missing, unreadable or not what cnnsize wrote."""
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


# ---------------------------------------------------------------- per-layer timing


@dataclass(frozen=True, slots=True)
class LayerTiming:
    name: str
    type: str
    forward: Stats
    backward: Stats | None
    flops: int
    bytes_moved: int
    floor_s: float
    bound: str  # "compute" or "memory"
    # why its time says little, if it does: "resolution" (under ten clock ticks) or "overhead"
    # (under twice the fixed cost of a hooked call)
    flag: str | None = None

    @property
    def achieved_flops_per_s(self) -> float:
        return self.flops / self.forward.median if self.forward.median > 0 else 0.0

    @property
    def achieved_bytes_per_s(self) -> float:
        return self.bytes_moved / self.forward.median if self.forward.median > 0 else 0.0

    @property
    def vs_floor(self) -> float | None:
        return self.forward.median / self.floor_s if self.floor_s > 0 else None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "forward": self.forward.to_dict(),
                "backward": self.backward.to_dict() if self.backward else None,
                "flops": self.flops, "bytes_moved": self.bytes_moved,
                "achieved_flops_per_s": self.achieved_flops_per_s,
                "achieved_bytes_per_s": self.achieved_bytes_per_s,
                "roofline_floor_s": self.floor_s, "measured_over_floor": self.vs_floor,
                "bound": self.bound, "flag": self.flag}


@dataclass(frozen=True, slots=True)
class TimingResult:
    report: Report
    device: str
    device_name: str
    dtype: str
    batch: int
    channels_last: bool
    cudnn_benchmark: bool
    warmup: int
    repeat: int
    layers: tuple[LayerTiming, ...]
    whole: Stats              # end to end, no hooks
    whole_backward: Stats | None
    reference: Stats | None   # torch.utils.benchmark.Timer, same model and input
    peaks: Peaks
    notes: tuple[str, ...] = ()
    threads: int = 1                  # torch's intra-op threads while timing
    threads_rule: str = "--threads"   # what chose them (default_threads)
    load_per_cpu: float | None = None  # the load average per CPU at the start
    overhead: Stats | None = None     # one hooked call of a one-element op
    resolution_s: float = 0.0         # the clock's smallest step, measured
    warnings: tuple[str, ...] = ()
    pool_overhead: Stats | None = None  # the same with POOL_PROBE elements (CPU, threads > 1)
    round_sums: Stats | None = None   # the per-layer times summed in each hooked round

    @property
    def layer_sum(self) -> float:
        return sum(layer.forward.median for layer in self.layers)

    @property
    def sum_over_whole(self) -> float:
        """The per-layer times summed in each hooked round (median over rounds), over the
        whole network's median: like against like. The sum of per-layer medians (layer_sum)
        is lower on a busy machine, where a few slow calls land on other layers each round."""
        total = self.round_sums.median if self.round_sums else self.layer_sum
        return total / self.whole.median if self.whole.median > 0 else float("nan")

    @property
    def images_per_s(self) -> float:
        return self.batch / self.whole.median if self.whole.median > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.report.name, "device": self.device, "device_name": self.device_name,
                "dtype": self.dtype, "batch": self.batch, "channels_last": self.channels_last,
                "cudnn_benchmark": self.cudnn_benchmark, "warmup": self.warmup,
                "repeat": self.repeat, "peaks": self.peaks.to_dict(),
                "whole": self.whole.to_dict(),
                "whole_backward": self.whole_backward.to_dict() if self.whole_backward else None,
                "torch_benchmark_timer": self.reference.to_dict() if self.reference else None,
                "layer_sum_s": self.layer_sum,
                "round_sums": self.round_sums.to_dict() if self.round_sums else None,
                "sum_over_whole": self.sum_over_whole,
                "images_per_s": self.images_per_s, "threads": self.threads,
                "threads_rule": self.threads_rule,
                "load_per_cpu": self.load_per_cpu,
                "hooked_call_overhead": self.overhead.to_dict() if self.overhead else None,
                "thread_pool_overhead": self.pool_overhead.to_dict() if self.pool_overhead
                else None,
                "clock_resolution_s": self.resolution_s,
                "layers": [layer.to_dict() for layer in self.layers], "notes": list(self.notes),
                "warnings": list(self.warnings)}

    def render(self, fmt: str = "text") -> str:
        from ..render.timing import render_timing

        text: str = render_timing(self, fmt)
        return text


def roofline(flops: int, bytes_moved: int, peaks: Peaks) -> tuple[float, str]:
    """(floor seconds, 'compute' or 'memory'): max(FLOPs / peak, bytes / bandwidth)."""
    compute = flops / peaks.flops_per_s if peaks.flops_per_s else 0.0
    memory = bytes_moved / peaks.bytes_per_s if peaks.bytes_per_s else 0.0
    return max(compute, memory), "compute" if compute >= memory else "memory"


class _Recorder:
    """Forward (and backward) timestamps per row, with CUDA events or a host clock."""

    def __init__(self, cuda: bool, clock: Clock) -> None:
        self.cuda = cuda
        self.clock = clock
        self.marks: list[tuple[str, str, Any]] = []  # (row, "start"/"end", event or time)

    def mark(self, row: str, what: str) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append((row, what, event))
        else:
            self.marks.append((row, what, self.clock()))

    def durations(self) -> dict[str, float]:
        if self.cuda:
            torch.cuda.synchronize()
        starts: dict[str, Any] = {}
        out: dict[str, float] = {}
        for row, what, stamp in self.marks:
            if what == "start":
                starts[row] = stamp
            elif row in starts:
                begin = starts.pop(row)
                seconds = begin.elapsed_time(stamp) / 1000 if self.cuda else stamp - begin
                out[row] = out.get(row, 0.0) + seconds
        self.marks.clear()
        return out


def _leaf_rows(report: Report) -> list[str]:
    return [r.name for r in report.layers]


def _bytes_moved(report: Report, conv: Conventions) -> dict[str, int]:
    """input + weights + output bytes per row, from the symbolic counts."""
    size = conv.bytes_per_element
    out = {}
    for row in report.layers:
        n_in = 1
        for s in row.input_shape or row.output_shape:
            n_in *= s
        examples = 1 if row.per_pass else conv.batch  # per_pass: once per forward
        out[row.name] = (n_in * examples + row.params + row.units * examples) * size
    return out


def _one_input(network: Network) -> Network:
    if len(network.inputs) != 1:
        raise CnnsizeError(f"cnnsize time runs networks with one input; {network.name} has "
                           f"{len(network.inputs)} ({', '.join(network.input_names)})",
                           field="input")
    return network


def time_layers(net: SpecLike, *, device: str = "cpu", batch: int = 1, dtype: str = "float32",
                channels_last: bool = False, warmup: int = 3, repeat: int = 10,
                backward: bool = False, cudnn_benchmark: bool = True,
                peaks: Peaks | None = None, clock: Clock = time.perf_counter,
                reference_timer: bool = True, threads: int | None = None,
                progress: bool = False) -> TimingResult:
    """Time every layer and the whole network; see the module docstring. `threads`: torch's
    intra-op threads while timing (default: default_threads, the CPUs other programs leave
    free)."""
    if dtype not in DTYPES:
        raise CnnsizeError(f"timing runs {', '.join(DTYPES)}", field="dtype")
    check_device(device)
    cuda = device.startswith("cuda")
    if warmup < 0:
        raise CnnsizeError(f"must be >= 0, got {warmup}", field="warmup")
    if repeat < 1:
        raise CnnsizeError(f"must be >= 1, got {repeat}", field="repeat")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                or threads < 1):
        raise CnnsizeError(f"must be a positive integer, got {threads!r}", field="threads")
    network = _one_input(load(net))
    conv = Conventions(batch=batch, dtype=dtype, elementwise_flops=False)
    report = analyze(network, conventions=conv)
    busy = load_per_cpu()
    previous_benchmark = torch.backends.cudnn.benchmark
    previous_threads = torch.get_num_threads()
    torch.backends.cudnn.benchmark = cudnn_benchmark
    on_device = contextlib.ExitStack()
    try:
        threads, threads_rule = default_threads(device, threads)
        torch.set_num_threads(threads)
        used_threads = torch.get_num_threads()
        # the peaks first: with the threads the layers get, judged by the load before any of
        # this process's own work
        peaks = peaks or measure_peaks(device, dtype, load=busy)
        if cuda:  # synchronize() and events act on the current device: make it this one
            on_device.enter_context(torch.cuda.device(device))
        model = build(network).to(device=device, dtype=DTYPES[dtype])
        x = torch.randn(batch, *network.input_shape, device=device, dtype=DTYPES[dtype])
        channels_last = channels_last and x.dim() == 4  # NHWC exists for 2-d images only
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        model.eval()  # inference semantics for dropout and BN; gradients still flow
        whole, whole_bwd, per_layer_fwd, per_layer_bwd, sums = _time_interleaved(
            model, report, x, cuda, warmup, repeat, clock, backward, progress)
        overhead = Stats.of(_hooked_call_overhead(device, DTYPES[dtype], cuda, clock,
                                                  max(repeat, 20)))
        pool = Stats.of(_hooked_call_overhead(device, DTYPES[dtype], cuda, clock,
                                              max(repeat, 20), POOL_PROBE)) \
            if not cuda and used_threads > 1 else None
        resolution = 5e-7 if cuda else _resolution(clock)  # CUDA events: about 0.5 µs
        reference = _reference(model, x, repeat) if reference_timer and not backward else None
    except (RuntimeError, MemoryError) as e:  # out of memory, a dtype the device lacks
        raise torch_error(e, f"timing {network.name}", device) from e
    finally:
        on_device.close()
        torch.backends.cudnn.benchmark = previous_benchmark
        torch.set_num_threads(previous_threads)
    moved = _bytes_moved(report, conv)
    layers = []
    for row in report.layers:
        samples = per_layer_fwd.get(row.name)
        if not samples:
            continue
        floor, bound = roofline(row.flops, moved[row.name], peaks)
        bwd = per_layer_bwd.get(row.name)
        stats = Stats.of(samples)
        # the thread pool wakes only for ops over tensors of ATen's grain size or more
        big = max((math.prod(s) for s in row.input_shapes), default=0) * batch >= GRAIN_SIZE \
            or row.units * batch >= GRAIN_SIZE
        fixed = max(overhead.median, pool.median if pool and big else 0.0)
        flag = ("resolution" if stats.median < 10 * resolution else
                "overhead" if stats.median < 2 * fixed else None)
        layers.append(LayerTiming(row.name, row.type, stats, Stats.of(bwd) if bwd else None,
                                  row.flops, moved[row.name], floor, bound, flag))
    notes = [f"cuDNN autotuning (torch.backends.cudnn.benchmark) "
             f"{'on' if cudnn_benchmark else 'off'}" if cuda else "CPU: host clock timing",
             "each round times the whole network, then the network with per-layer hooks, so "
             "that a machine getting busier or quieter shifts both alike",
             "the per-layer sum exceeds the whole by hook overhead, and falls short of it by the "
             "time between layers (Python dispatch, kernel launch gaps)",
             "FLOPs here are 2·MACs (conv and linear multiply-adds); per-element work is not "
             "counted in the roofline's compute term"]
    if backward:
        notes.append("backward per layer: time between the gradient of a layer's output and "
                     "the next gradient that arrives (exact for chains, approximate at merges; "
                     "the first layer has none after it)")
    whole_stats = Stats.of(whole)
    warnings = _warnings(whole_stats, busy, layers, overhead, pool, cuda, used_threads)
    return TimingResult(report, device, _device_name(device), dtype, batch, channels_last,
                        cudnn_benchmark and cuda, warmup, repeat, tuple(layers), whole_stats,
                        Stats.of(whole_bwd) if whole_bwd else None, reference, peaks, tuple(notes),
                        used_threads, threads_rule, busy, overhead, resolution,
                        tuple(warnings), pool,
                        Stats.of(sums))


def _warnings(whole: Stats, busy: float | None, layers: list[LayerTiming], overhead: Stats,
              pool: Stats | None, cuda: bool, threads: int) -> list[str]:
    """What makes this run's figures less trustworthy, and what to do about it."""
    out = []
    spread = whole.iqr / whole.median if whole.median > 0 else 0.0
    if spread > WIDE_SPREAD:
        out.append(f"the whole network's timings spread by {spread:.0%} of their median (IQR "
                   f"{whole.q1 * 1e3:.4g}–{whole.q3 * 1e3:.4g} ms): other work shares this "
                   "machine, or its clock speed changes; more --repeat, --threads 1 or a "
                   "quieter machine give steadier figures")
    if busy is not None and busy > BUSY and not cuda:
        out.append(f"the machine was busy when timing started (load average {busy:.2f} per "
                   f"CPU): layers share the CPUs with other programs")
    flagged = [layer for layer in layers if layer.flag]
    if flagged:
        fixed = (f"{duration_text(overhead.median)} that one hooked call of a one-element op "
                 "costs" + (f" (or the {duration_text(pool.median)} of a {POOL_PROBE:,}-element "
                            f"one on {threads} threads)" if pool else ""))
        out.append(f"{len(flagged)} of {len(layers)} layers take less than twice the {fixed} "
                   "(flagged 'overhead'), or less than ten clock ticks ('resolution'): their "
                   "times are mostly that fixed cost" + (
                       "; with --threads 1 small CPU ops do not wait for the thread pool"
                       if pool and pool.median > 4 * overhead.median else ""))
    return out


def _step(model: nn.Module, x: torch.Tensor, backward: bool) -> None:
    """One forward pass (no autograd), or one forward and backward pass from a scalar loss."""
    if backward:
        model.zero_grad(set_to_none=True)
        out = model(x.detach().requires_grad_(True))
        out.float().sum().backward()
    else:
        with torch.no_grad():
            model(x)


def _time_whole(model: nn.Module, x: torch.Tensor, cuda: bool, warmup: int, repeat: int,
                clock: Clock, backward: bool) -> list[float]:
    def step() -> None:
        _step(model, x, backward)

    for _ in range(warmup):
        step()
    return [_seconds(step, cuda, clock) for _ in range(repeat)]


def _time_interleaved(model: nn.Module, report: Report, x: torch.Tensor, cuda: bool,
                      warmup: int, repeat: int, clock: Clock, backward: bool, progress: bool
                      ) -> tuple[list[float], list[float] | None, dict[str, list[float]],
                                 dict[str, list[float]], list[float]]:
    """Rounds of: the whole forward (no hooks), the whole forward + backward (with `backward`),
    then one run with per-layer hooks; the first `warmup` rounds are not kept."""
    whole: list[float] = []
    whole_bwd: list[float] = []
    sums: list[float] = []
    forward: dict[str, list[float]] = {}
    backward_times: dict[str, list[float]] = {}
    hooked = _PerLayer(model, report, cuda, clock, backward)
    rounds: Iterable[int] = show_progress(range(warmup + repeat), progress, "timing",
                                          unit="round")
    def settled() -> bool:
        return all(_median_error(series) <= MEDIAN_ERROR for series in (whole, sums))

    for run in itertools.chain(rounds, itertools.takewhile(
            lambda _: not settled(), range(warmup + repeat, warmup + EXTRA_ROUNDS * repeat))):
        fwd_s = _seconds(lambda: _step(model, x, False), cuda, clock)
        bwd_s = _seconds(lambda: _step(model, x, True), cuda, clock) if backward else 0.0
        durations, grads = hooked.run(x)
        if run < warmup:
            continue
        whole.append(fwd_s)
        whole_bwd.append(bwd_s)
        sums.append(sum(durations.values()))
        for name, seconds in durations.items():
            forward.setdefault(name, []).append(seconds)
        for name, seconds in grads.items():
            backward_times.setdefault(name, []).append(seconds)
    return whole, whole_bwd if backward else None, forward, backward_times, sums


def _median_error(samples: list[float]) -> float:
    """The standard error of the median of `samples` over the median, estimated from the IQR
    (as for a normal distribution: σ = IQR / 1.349, error = 1.253 σ / √n)."""
    if len(samples) < 4:
        return 0.0
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return 1.253 * (q3 - q1) / 1.349 / len(samples) ** 0.5 / median if median > 0 else 0.0


class _Tiny(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x)


def _hooked_call_overhead(device: str, dtype: torch.dtype, cuda: bool, clock: Clock,
                          n: int, elements: int = 1) -> list[float]:
    """Seconds of one hooked call of a ReLU over `elements`, timed as the layers are (n
    samples): one element costs the hooks, the dispatch and a kernel launch; POOL_PROBE
    elements on a CPU with several threads also wake the thread pool."""
    recorder = _Recorder(cuda, clock)
    tiny = _Tiny()
    handles = [tiny.register_forward_pre_hook(lambda m, i: recorder.mark("tiny", "start")),
               tiny.register_forward_hook(lambda m, i, o: recorder.mark("tiny", "end"))]
    x = torch.ones(elements, device=device, dtype=dtype)
    samples = []
    try:
        with torch.no_grad():
            for k in range(n + 3):
                tiny(x)
                seconds = recorder.durations().get("tiny", 0.0)
                if k >= 3:
                    samples.append(seconds)
    finally:
        for handle in handles:
            handle.remove()
    return samples


def _resolution(clock: Clock) -> float:
    """The smallest step between two different readings of the clock."""
    steps = []
    last = clock()
    for _ in range(200):
        now = clock()
        while now == last:
            now = clock()
        steps.append(now - last)
        last = now
    return min(steps)


class _PerLayer:
    """Forward hooks on every row's module, registered for one run at a time (so that the
    whole-network runs between them have none), timing each row and, with `backward`, the
    gradient of its output."""

    def __init__(self, model: nn.Module, report: Report, cuda: bool, clock: Clock,
                 backward: bool) -> None:
        self.model, self.backward = model, backward
        self.recorder = _Recorder(cuda, clock)
        self.bwd_recorder = _Recorder(cuda, clock)
        self.order: list[str] = []
        # A module that several rows call (`shares`) serves its rows in call order, each run.
        self.queues: dict[int, list[str]] = {}
        self.modules: dict[int, nn.Module] = {}
        for row in report.layers:
            module = module_for_row(model, row.name, row.shares)
            self.queues.setdefault(id(module), []).append(row.name)
            self.modules[id(module)] = module
        self.calls = dict.fromkeys(self.queues, 0)
        self.current: dict[int, str] = {}

    def _pre(self, key: int) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any) -> None:
            queue = self.queues[key]
            self.current[key] = name = queue[self.calls[key] % len(queue)]
            self.calls[key] += 1
            self.recorder.mark(name, "start")
        return hook

    def _post(self, key: int) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            name = self.current[key]
            self.recorder.mark(name, "end")
            if self.backward and isinstance(output, torch.Tensor) and output.requires_grad:
                self.order.append(name)
                output.register_hook(lambda grad: self.bwd_recorder.mark(name, "grad"))
        return hook

    def run(self, x: torch.Tensor) -> tuple[dict[str, float], dict[str, float]]:
        """One hooked run: each row's forward seconds, and its backward seconds."""
        handles = []
        try:
            for key, module in self.modules.items():
                handles.append(module.register_forward_pre_hook(self._pre(key)))
                handles.append(module.register_forward_hook(self._post(key)))
            self.order.clear()
            for key in self.calls:
                self.calls[key] = 0
            _step(self.model, x, self.backward)
        finally:
            for handle in handles:
                handle.remove()
        durations = self.recorder.durations()
        grads = _grad_intervals(self.bwd_recorder, self.order) if self.backward else {}
        return durations, grads


def _grad_intervals(recorder: _Recorder, order: list[str]) -> dict[str, float]:
    """Backward time of each row: from its output's gradient to the next gradient to arrive."""
    if recorder.cuda:
        torch.cuda.synchronize()
    marks = [(row, stamp) for row, _, stamp in recorder.marks]
    recorder.marks.clear()
    out: dict[str, float] = {}
    for (row, stamp), (_, nxt) in itertools.pairwise(marks):
        seconds = stamp.elapsed_time(nxt) / 1000 if recorder.cuda else nxt - stamp
        out[row] = out.get(row, 0.0) + seconds
    return out


def _benchmark() -> Any:
    """torch.utils.benchmark, imported with torch.utils.cpp_extension's log line silenced: where
    a CUDA toolkit is installed beside a CPU build of torch, that import warns "No CUDA runtime
    is found", which is about compiling extensions, not about timing."""
    import logging

    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        from torch.utils import benchmark
    finally:
        log.setLevel(level)
    return benchmark


def _reference(model: nn.Module, x: torch.Tensor, repeat: int) -> Stats | None:
    """The whole model timed by torch.utils.benchmark.Timer, for comparison: blocks of calls
    (blocked_autorange) until `repeat` blocks or a second have run, each block one sample."""
    timer = _benchmark().Timer(stmt="with torch.no_grad(): model(x)",
                            globals={"model": model, "x": x, "torch": torch},
                            num_threads=torch.get_num_threads())  # Timer's default is 1 thread
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < max(3, repeat) and (time.perf_counter() - start < 1.0
                                              or len(samples) < 3):
        measurement = timer.blocked_autorange(min_run_time=0.05)
        samples += [t / measurement.number_per_run for t in measurement.raw_times]
    return Stats.of(samples)


# ---------------------------------------------------------------- sweeps


@dataclass(frozen=True, slots=True)
class SweepPoint:
    batch: int
    input_shape: tuple[int, ...]
    latency: Stats

    @property
    def images_per_s(self) -> float:
        return self.batch / self.latency.median if self.latency.median > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {"batch": self.batch, "input": list(self.input_shape),
                "latency": self.latency.to_dict(), "images_per_s": self.images_per_s}


@dataclass(frozen=True, slots=True)
class Sweep:
    name: str
    device: str
    dtype: str
    points: tuple[SweepPoint, ...]
    interrupted: bool = False
    skipped: tuple[str, ...] = field(default=())
    threads: int = 1
    threads_rule: str = "--threads"   # what chose them (default_threads)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "device": self.device, "dtype": self.dtype,
                "threads": self.threads, "threads_rule": self.threads_rule,
                "interrupted": self.interrupted, "skipped": list(self.skipped),
                "points": [p.to_dict() for p in self.points]}


def sweep(net: SpecLike, *, batches: Iterable[int] = (1,), sizes: Iterable[int] = (),
          device: str = "cpu", dtype: str = "float32", channels_last: bool = False,
          warmup: int = 2, repeat: int = 5, clock: Clock = time.perf_counter,
          progress: bool = False, cudnn_benchmark: bool = True,
          threads: int | None = None) -> Sweep:
    """Latency and images/s over batch sizes (and square input sizes); Ctrl-C stops cleanly
    with the points measured so far. `threads`: torch's intra-op threads meanwhile (default:
    default_threads)."""
    check_device(device)
    previous = torch.backends.cudnn.benchmark
    previous_threads = torch.get_num_threads()
    torch.backends.cudnn.benchmark = cudnn_benchmark
    try:
        threads, rule = default_threads(device, threads)
        torch.set_num_threads(threads)
        result = _sweep(net, batches, sizes, device, dtype, channels_last, warmup, repeat,
                        clock, progress)
        return replace(result, threads=torch.get_num_threads(), threads_rule=rule)
    finally:
        torch.backends.cudnn.benchmark = previous
        torch.set_num_threads(previous_threads)


def _sweep(net: SpecLike, batches: Iterable[int], sizes: Iterable[int], device: str, dtype: str,
           channels_last: bool, warmup: int, repeat: int, clock: Clock, progress: bool) -> Sweep:
    network = _one_input(load(net))
    channels, *spatial = network.input_shape
    shapes = [(channels, *[s] * len(spatial)) for s in sizes] or [network.input_shape]
    grid = [(b, shape) for shape in shapes for b in batches]
    points: list[SweepPoint] = []
    skipped: list[str] = []
    interrupted = False
    items: Iterable[tuple[int, tuple[int, ...]]] = show_progress(grid, progress, "sweep",
                                                                  unit="setting")
    cuda = device.startswith("cuda")
    try:
        for batch, shape in items:
            try:
                variant = network.with_input(tuple(shape))
                analyze(variant)
                model = build(variant).to(device=device, dtype=DTYPES[dtype]).eval()
            except CnnsizeError as e:
                skipped.append(f"batch {batch}, input {'×'.join(map(str, shape))}: {e.message}")
                continue
            try:
                x = torch.randn(batch, *shape, device=device, dtype=DTYPES[dtype])
                if channels_last and x.dim() == 4:
                    model = model.to(memory_format=torch.channels_last)
                    x = x.contiguous(memory_format=torch.channels_last)
                samples = _time_whole(model, x, cuda, warmup, repeat, clock, backward=False)
            except (RuntimeError, MemoryError) as e:  # keep what was measured; say what was not
                if not out_of_memory(e):
                    raise torch_error(e, f"timing batch {batch}", device) from e
                skipped.append(f"batch {batch}, input {'×'.join(map(str, shape))}: out of memory")
                del model
                if cuda:
                    torch.cuda.empty_cache()
                continue
            points.append(SweepPoint(batch, tuple(shape), Stats.of(samples)))
    except KeyboardInterrupt:
        interrupted = True
    return Sweep(network.name, device, dtype, tuple(points), interrupted, tuple(skipped))


def parse_sweep(text: str) -> dict[str, list[int]]:
    """'batch=1,8,32;size=112,224' → {'batch': [1, 8, 32], 'size': [112, 224]}."""
    out: dict[str, list[int]] = {}
    for part in text.replace(" ", "").split(";"):
        if not part:
            continue
        key, _, values = part.partition("=")
        if key not in ("batch", "size") or not values:
            raise CnnsizeError(f"cannot read sweep {part!r}", field="--sweep",
                               hint="e.g. --sweep batch=1,8,32,128 or --sweep 'batch=1,8;size=112,224'")
        try:
            out[key] = [int(v) for v in values.split(",")]
        except ValueError:
            raise CnnsizeError(f"cannot read sweep values {values!r}", field="--sweep") from None
        if any(v < 1 for v in out[key]):
            raise CnnsizeError("sweep values must be positive", field="--sweep")
    return out


__all__ = ["LayerTiming", "Peaks", "Stats", "Sweep", "SweepPoint", "TimingResult", "duration_text",
           "measure_peaks", "parse_sweep", "peaks_key", "roofline", "sweep", "time_layers"]
