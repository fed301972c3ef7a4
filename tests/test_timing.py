"""Timing: statistics, roofline arithmetic, the per-layer/whole agreement and sweeps.

Clock-dependent logic runs with an injected fake clock; CUDA assertions skip without a GPU.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
from cnnsize.render.timing import render_sweep  # noqa: E402
from cnnsize.verify import timing  # noqa: E402
from cnnsize.verify.timing import Peaks, Stats, roofline, sweep, time_layers  # noqa: E402

PEAKS = Peaks("cpu", "float32", flops_per_s=1e12, bytes_per_s=1e11, method="given")


class FakeClock:
    """Advances by a fixed step at every reading."""

    def __init__(self, step: float = 1e-3) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_stats_median_and_quartiles():
    s = Stats.of([5.0, 1.0, 4.0, 2.0, 3.0])
    assert (s.median, s.q1, s.q3, s.min, s.max, s.n) == (3.0, 2.0, 4.0, 1.0, 5.0, 5)
    assert s.iqr == 2.0
    assert Stats.of([7.0]).median == 7.0


def test_roofline_takes_the_slower_bound():
    # 2 GFLOP at 1 TFLOP/s = 2 ms; 1 GB at 100 GB/s = 10 ms → memory-bound, floor 10 ms
    assert roofline(2 * 10**9, 10**9, PEAKS) == pytest.approx((0.01, "memory"))
    # 50 GFLOP = 50 ms of compute vs 10 ms of traffic → compute-bound
    assert roofline(50 * 10**9, 10**9, PEAKS) == pytest.approx((0.05, "compute"))


def test_per_layer_arithmetic_with_an_injected_clock():
    result = time_layers("lenet5", warmup=1, repeat=4, clock=FakeClock(), peaks=PEAKS,
                         reference_timer=False)
    # every layer: its pre-hook and hook read the clock once each → exactly one 1 ms step
    assert [layer.forward.median for layer in result.layers] == pytest.approx([1e-3] * 12)
    assert result.whole.median == pytest.approx(1e-3)     # two readings around a hook-free run
    assert result.sum_over_whole == pytest.approx(12.0)
    c1 = next(layer for layer in result.layers if layer.name == "C1")
    # C1: 2·117,600 FLOPs; bytes = (1·32·32 input + 156 params + 6·28·28 output)·4
    assert c1.flops == 235_200 and c1.bytes_moved == (1024 + 156 + 4704) * 4
    assert c1.floor_s == pytest.approx(max(235_200 / 1e12, (1024 + 156 + 4704) * 4 / 1e11))
    assert c1.achieved_flops_per_s == pytest.approx(235_200 / 1e-3)
    assert c1.vs_floor == pytest.approx(1e-3 / c1.floor_s)


def test_real_cpu_timing_agrees_with_the_whole():
    result = time_layers("resnet18", batch=1, warmup=2, repeat=5, peaks=PEAKS)
    assert result.whole.median > 0 and result.reference is not None
    assert 0.5 < result.sum_over_whole < 1.5  # hooks must not distort the total much
    assert {layer.bound for layer in result.layers} <= {"compute", "memory"}
    text = result.render("text")
    assert "torch.utils.benchmark.Timer" in text and "images/s" in text


def test_backward_timing():
    result = time_layers("lenet5", warmup=1, repeat=2, backward=True, peaks=PEAKS,
                         reference_timer=False)
    assert result.whole_backward is not None and result.whole_backward.median > 0
    assert any(layer.backward for layer in result.layers)


def test_sweep_stops_cleanly_on_ctrl_c(monkeypatch):
    real = timing._time_whole
    calls = {"n": 0}

    def interrupted(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(timing, "_time_whole", interrupted)
    result = sweep("lenet5", batches=[1, 2, 4, 8], warmup=0, repeat=1, clock=FakeClock())
    assert result.interrupted and [p.batch for p in result.points] == [1, 2]
    assert result.points[1].images_per_s == pytest.approx(2 / 1e-3)


def test_sweep_skips_sizes_that_do_not_fit():
    result = sweep("lenet5", batches=[1], sizes=[8, 32], warmup=0, repeat=1, clock=FakeClock())
    assert [p.input_shape for p in result.points] == [(1, 32, 32)]
    assert result.skipped and "input 1×8×8" in result.skipped[0]


def test_peaks_are_measured_once_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(timing, "load_per_cpu", lambda: 0.1)  # a quiet machine
    first = timing.measure_peaks("cpu", "float32")
    second = timing.measure_peaks("cpu", "float32")
    assert first.flops_per_s > 1e8 and first.bytes_per_s > 1e8
    assert "cached (measured 0 min ago)" in second.method
    assert second.flops_per_s == first.flops_per_s


def _cached_entry(tmp_path, **entry):
    cache = tmp_path / "cnnsize" / "peaks.json"
    cache.parent.mkdir(exist_ok=True)
    key = timing.peaks_key("cpu", "float32")
    base = {"device": "cpu", "dtype": "float32", "flops_per_s": 1.0, "bytes_per_s": 1.0,
            "method": "m", "measured_at": timing.time.time(), "load_per_cpu": 0.1}
    cache.write_text(json.dumps({key: {**base, **entry}}))


@pytest.mark.parametrize(("entry", "reused"), [
    ({}, True),
    ({"measured_at": 0.0}, False),                                   # 1970: too old
    ({"measured_at": None}, False),                                  # written before the rule
    ({"load_per_cpu": 0.9}, False),                                  # measured under load
    ({"load_per_cpu": None}, True),                                  # no load average (Windows)
    ({"measured_at": 1e20}, False),                                  # from the future
])
def test_cached_peaks_are_measured_again_when_old_or_measured_under_load(
        tmp_path, monkeypatch, entry, reused):
    """The rule of PEAKS_MAX_AGE_S and BUSY (docs/cli.md, 'The roofline')."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(timing, "load_per_cpu", lambda: 0.1)
    _cached_entry(tmp_path, **entry)
    peaks = timing.measure_peaks("cpu", "float32")
    assert (peaks.flops_per_s == 1.0) == reused
    assert ("cached" in peaks.method) == reused


def test_peaks_measured_under_load_say_so_and_are_not_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(timing, "load_per_cpu", lambda: 1.5)
    first = timing.measure_peaks("cpu", "float32")
    assert "measured under load (1.50 per CPU)" in first.method
    assert "cached" not in timing.measure_peaks("cpu", "float32").method


def test_interleaved_rounds_flags_and_threads_with_an_injected_clock():
    """Rounds alternate whole and hooked runs; every FakeClock reading is 1 ms, so each layer
    (1 ms) is under twice the probe's fixed cost (1 ms) and under ten clock steps: flagged."""
    before = torch.get_num_threads()
    result = time_layers("lenet5", warmup=1, repeat=3, clock=FakeClock(), peaks=PEAKS,
                         reference_timer=False, threads=1)
    assert torch.get_num_threads() == before  # restored
    assert result.threads == 1 and result.whole.n == 3
    assert result.overhead is not None and result.overhead.median == pytest.approx(1e-3)
    assert result.resolution_s == pytest.approx(1e-3)
    assert {layer.flag for layer in result.layers} == {"resolution"}
    assert any("12 of 12 layers" in w for w in result.warnings)
    text = result.render("text")
    assert "1 thread (--threads)" in text and "warning: 12 of 12" in text


def _stat(tmp_path, *cpus):
    """A /proc/stat with one `cpuN user nice system idle iowait irq softirq steal` line per
    (busy, idle) pair given."""
    path = tmp_path / "stat"
    lines = ["cpu  0 0 0 0 0 0 0 0"] + [f"cpu{i} {busy} 0 0 {idle} 0 0 0 0"
                                        for i, (busy, idle) in enumerate(cpus)]
    path.write_text("\n".join([*lines, "intr 1 2 3", "ctxt 9"]) + "\n")
    return path


def test_busy_cpus_reads_the_non_idle_share_of_each_cpu_while_it_sleeps(tmp_path, monkeypatch):
    """cpu0 busy for all 100 ticks of the window, cpu1 for 30 of 100, cpu2 not this process's
    (left out): 1.3 CPUs busy. The window is the time slept between the two readings."""
    monkeypatch.setattr(timing, "_cpus", lambda: [0, 1])
    path = _stat(tmp_path, (1000, 50), (200, 800), (0, 0))
    slept = []

    def sleep(seconds):
        slept.append(seconds)
        _stat(tmp_path, (1100, 50), (230, 870), (100, 0))

    assert timing.busy_cpus(0.3, path, sleep) == pytest.approx(1.3)
    assert slept == [0.3]
    assert timing.busy_cpus(0.3, tmp_path / "missing", sleep) is None  # no /proc/stat


def test_default_threads_are_the_cpus_other_programs_leave_free(monkeypatch):
    monkeypatch.setattr(timing, "_cpus", lambda: list(range(4)))
    monkeypatch.setattr(torch, "get_num_threads", lambda: 4)
    for busy, want in [(0.0, 4), (0.4, 4), (1.0, 3), (2.6, 1), (3.9, 1), (7.0, 1)]:
        monkeypatch.setattr(timing, "busy_cpus", lambda busy=busy: busy)
        threads, rule = timing.default_threads("cpu", None)
        assert threads == want, busy
        assert f"4 CPUs, {busy:.1f} busy with other programs" in rule
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)  # torch's default caps it
    monkeypatch.setattr(timing, "busy_cpus", lambda: 0.0)
    assert timing.default_threads("cpu", None)[0] == 2
    monkeypatch.setattr(timing, "busy_cpus", lambda: None)  # no /proc/stat: torch's default
    assert timing.default_threads("cpu", None) == (2, "torch's default; no /proc/stat to see "
                                                      "free CPUs")
    assert timing.default_threads("cpu", 3) == (3, "--threads")
    assert timing.default_threads("cuda", None) == (2, "torch's default")


def test_time_and_sweep_state_the_threads_and_their_rule(monkeypatch):
    """Without --threads a busy core is left to its program, and the output says why."""
    before = torch.get_num_threads()
    monkeypatch.setattr(timing, "_cpus", lambda: list(range(before + 1)))
    monkeypatch.setattr(timing, "busy_cpus", lambda: float(before))  # one CPU left free
    result = time_layers("lenet5", warmup=1, repeat=3, clock=FakeClock(), peaks=PEAKS,
                         reference_timer=False)
    assert torch.get_num_threads() == before
    assert result.threads == 1 and result.to_dict()["threads"] == 1
    rule = (f"the free CPUs: {before + 1} CPUs, {before:.1f} busy with other programs; "
            "--threads to choose")
    assert result.to_dict()["threads_rule"] == rule
    assert f"1 thread ({rule})" in result.render("text").splitlines()[0]
    swept = sweep("lenet5", batches=[1], warmup=0, repeat=1, clock=FakeClock())
    assert (swept.threads, swept.threads_rule) == (1, rule)
    assert f"1 thread ({rule})" in render_sweep(swept, "text").splitlines()[0]
    assert swept.to_dict()["threads"] == 1


def test_a_wide_spread_is_warned_about():
    from cnnsize.verify.timing import BUSY, Stats, _warnings

    steady = Stats.of([1.0, 1.01, 1.02, 0.99])
    wide = Stats.of([1.0, 1.5, 0.6, 2.0])
    probe = Stats.of([1e-6])
    assert _warnings(steady, 0.1, [], probe, None, False, 2) == []
    assert "spread by" in _warnings(wide, 0.1, [], probe, None, False, 2)[0]
    assert "busy" in _warnings(steady, BUSY + 0.1, [], probe, None, False, 2)[0]


def test_time_command(tmp_path):
    chart = tmp_path / "t.png"
    proc = subprocess.run([sys.executable, "-m", "cnnsize", "time", "lenet5", "--warmup", "1",
                           "--repeat", "2", "--format", "json", "--chart", str(chart)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["device"] == "cpu" and len(data["layers"]) == 12
    assert chart.read_bytes()[:4] == b"\x89PNG"
    bad = subprocess.run([sys.executable, "-m", "cnnsize", "time", "lenet5", "--sweep", "size="],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_events_timing():
    result = time_layers("resnet18", device="cuda", batch=8, warmup=3, repeat=10)
    assert result.cudnn_benchmark and result.device_name
    assert 0.7 < result.sum_over_whole < 1.3
    assert result.peaks.flops_per_s > 1e12


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"x": 1}', '{"KEY": {"flops_per_s": "a"}}',
                                     '{"KEY": {"flops_per_s": -1, "bytes_per_s": 1, "method": "m"}}'])
def test_a_corrupt_peaks_cache_is_measured_again(tmp_path, monkeypatch, content):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cache = tmp_path / "cnnsize" / "peaks.json"
    cache.parent.mkdir()
    key = timing.peaks_key("cpu", "float32")
    cache.write_text(content.replace("KEY", key))
    peaks = timing.measure_peaks("cpu", "float32")
    assert peaks.flops_per_s > 0 and peaks.bytes_per_s > 0 and "cached" not in peaks.method
    assert json.loads(cache.read_text())[key]["flops_per_s"] == peaks.flops_per_s


class JumpyClock(FakeClock):
    """Steps of 1, 2, 3, 7 ms in turn: every series has a wide spread."""

    def __init__(self) -> None:
        super().__init__()
        self.k = 0

    def __call__(self) -> float:
        self.k += 1
        self.now += (1e-3, 2e-3, 3e-3, 7e-3)[self.k % 4]
        return self.now


def test_more_rounds_run_while_the_medians_are_unsettled():
    """A wide spread adds rounds, up to EXTRA_ROUNDS × --repeat, and the output says so."""
    result = time_layers("lenet5", warmup=0, repeat=5, clock=JumpyClock(), peaks=PEAKS,
                         reference_timer=False, threads=1)
    assert 5 < result.whole.n <= timing.EXTRA_ROUNDS * 5
    assert f"{result.whole.n - 5} more than --repeat" in result.render("text")
    steady = time_layers("lenet5", warmup=0, repeat=5, clock=FakeClock(), peaks=PEAKS,
                         reference_timer=False, threads=1)
    assert steady.whole.n == 5


def test_the_thread_pool_cost_flags_only_layers_big_enough_to_wake_the_pool(monkeypatch):
    """On 2+ threads a 65,536-element probe measures the pool's wake-up; a layer over fewer than
    32,768 elements never wakes it and is judged against the one-element probe alone."""
    probes = iter([[1e-6] * 20, [1.0] * 20])  # one element: 1 µs; the pool: 1 s
    monkeypatch.setattr(timing, "_hooked_call_overhead", lambda *a, **k: next(probes))
    result = time_layers("lenet5", warmup=0, repeat=4, peaks=PEAKS, reference_timer=False,
                         threads=2)
    assert result.pool_overhead is not None and result.pool_overhead.median == 1.0
    flags = {layer.name: layer.flag for layer in result.layers}
    # C1 reads 1·32·32 and writes 6·28·28 = 4,704 elements: under the grain size, no pool flag
    assert flags["C1"] is None and flags["C3"] is None
