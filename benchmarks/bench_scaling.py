"""How the symbolic path scales with the number of layers, per spec family.

Each family is written as a YAML file of N layers (100 to 100,000), then read, analysed and
rendered in this process, timing each phase (the median of 5 runs, of 3 at 100,000). The table
gives the cost per layer in µs and its ratio to the cost per layer at 1,000 layers: a family that
scales linearly stays near 1.0.

- flat: N items in one list (conv, relu, conv, relu, ...);
- repeat: a block (conv, relu) repeated 1,000 times in a block that is repeated N/2,000 times;
- residual: N/3 residual blocks in a row (conv, relu in the body; the add);
- nested: residuals nested 10 deep, that nest repeated (paths 10 containers long);
- concat: one concat with N/2 branches of one conv each (its cat reads N/2 tensors).

    python benchmarks/bench_scaling.py [--sizes 100,1000,10000,100000] [--families flat,...]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cnnsize
from cnnsize.render import render

CONV = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}
RELU = {"type": "relu"}
NEST = 10


def flat(n: int) -> dict[str, Any]:
    return {"name": f"flat-{n}", "input": [4, 8, 8],
            "layers": [dict(CONV) if i % 2 == 0 else dict(RELU) for i in range(n)]}


def repeat(n: int) -> dict[str, Any]:
    inner = min(n // 2, 1000)  # `repeat` goes to 10,000: a repeated block of repeated pairs
    return {"name": f"repeat-{n}", "input": [4, 8, 8],
            "blocks": {"pair": {"layers": [CONV, RELU]},
                       "group": {"layers": [{"type": "pair", "repeat": inner}]}},
            "layers": [{"type": "group", "repeat": n // (2 * inner)}]}


def residual(n: int) -> dict[str, Any]:
    block = {"type": "residual", "body": [CONV, RELU]}
    return {"name": f"residual-{n}", "input": [4, 8, 8],
            "layers": [dict(block) for _ in range(n // 3)]}


def nested(n: int) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "residual", "body": [CONV]}
    for _ in range(NEST - 1):
        item = {"type": "residual", "body": [CONV, item]}
    per = 2 * NEST  # NEST convs and NEST adds
    return {"name": f"nested-{n}", "input": [4, 8, 8],
            "blocks": {"nest": {"layers": [item]}},
            "layers": [{"type": "nest", "repeat": max(1, n // per)}]}


def concat(n: int) -> dict[str, Any]:
    return {"name": f"concat-{n}", "input": [4, 8, 8],
            "layers": [{"type": "concat", "branches": [[dict(CONV)] for _ in range(n // 2)]}]}


FAMILIES: dict[str, Callable[[int], dict[str, Any]]] = {
    "flat": flat, "repeat": repeat, "residual": residual, "nested": nested, "concat": concat}


def timed(fn: Callable[..., Any], *args: Any) -> tuple[Any, float]:
    gc.collect()
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def measure(spec: dict[str, Any], runs: int, folder: Path) -> tuple[int, dict[str, float]]:
    path = folder / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    phases: dict[str, list[float]] = {"read": [], "analyze": [], "text": [], "json": []}
    rows = 0
    for _ in range(runs):
        net, t = timed(cnnsize.load, str(path))
        phases["read"].append(t)
        report, t = timed(cnnsize.analyze, net)
        phases["analyze"].append(t)
        _, t = timed(render, report, "text")
        phases["text"].append(t)
        _, t = timed(render, report, "json")
        phases["json"].append(t)
        rows = len(report.layers)
    return rows, {k: statistics.median(v) for k, v in phases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,10000,100000")
    parser.add_argument("--families", default=",".join(FAMILIES))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print("µs per row, by phase; 'vs 10³': total per row / total per row at 1,000 layers\n")
    print(f"{'family':<9} {'layers':>7} {'rows':>7} {'read':>7} {'analyze':>8} {'text':>7} "
          f"{'json':>7} {'total s':>8} {'vs 10³':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for family in args.families.split(","):
            measured = []
            for n in sizes:
                rows, t = measure(FAMILIES[family](n), 5 if n <= 10_000 else 3, Path(tmp))
                measured.append((n, rows, t, sum(t.values()) / rows))
            base = next((per for n, _, _, per in measured if n == 1000), measured[0][3])
            for n, rows, t, per in measured:
                cells = " ".join(f"{t[k] / rows * 1e6:{w}.2f}" for k, w in
                                 (("read", 7), ("analyze", 8), ("text", 7), ("json", 7)))
                print(f"{family:<9} {n:>7,} {rows:>7,} {cells} {sum(t.values()):8.3f} "
                      f"{per / base:7.2f}")

if __name__ == "__main__":
    main()
