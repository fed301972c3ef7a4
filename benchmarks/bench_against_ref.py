"""This checkout against an earlier commit, in the same run: is it slower?

Checks the commit out into a temporary git worktree and times, alternating the two so that
drift on a busy machine falls on both: the whole `cnnsize report vgg16` process (with bytecode,
as a user runs it), and `cnnsize.analyze(name)` in-process (median of many calls, after one to
warm up, so that only the analysis is timed). Prints each median and the ratio now / before.

    python benchmarks/bench_against_ref.py [--ref 56a90fe] [--repeat 7]

56a90fe is the last commit before the graph core (the nested tree of sequential, residual and
concat nodes, walked recursively).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IN_PROCESS = """
import statistics, sys, time
import cnnsize
name = sys.argv[1]
cnnsize.analyze(name)
runs = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    cnnsize.analyze(name)
    runs.append(time.perf_counter() - start)
print(statistics.median(runs))
"""


def run(tree: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(tree))
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # with bytecode, as an installed package runs
    return subprocess.run([sys.executable, *args], cwd=tree, env=env, capture_output=True,
                          text=True, check=True)


def whole(tree: Path, model: str) -> float:
    start = time.perf_counter()
    run(tree, ["-m", "cnnsize", "report", model])
    return time.perf_counter() - start


def in_process(tree: Path, name: str, calls: int) -> float:
    return float(run(tree, ["-c", IN_PROCESS, name, str(calls)]).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ref", default="56a90fe", help="the commit to compare with (56a90fe)")
    parser.add_argument("--repeat", type=int, default=7, help="alternated pairs of runs (7)")
    parser.add_argument("--calls", type=int, default=21, help="analyze() calls per run (21)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(before), args.ref], cwd=ROOT,
                       check=True, capture_output=True)
        try:
            trees = {"now": ROOT, "before": before}
            for tree in trees.values():  # bytecode written, file cache warm
                run(tree, ["-m", "compileall", "-q", str(tree / "cnnsize")])
                whole(tree, "vgg16")
            print(f"{args.repeat} alternated pairs; before = {args.ref}, now = this checkout; "
                  f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
            rows = [("cnnsize report vgg16 (process)", lambda t: whole(t, "vgg16")),
                    ("cnnsize report resnet152 (process)", lambda t: whole(t, "resnet152"))]
            rows += [(f"analyze({name!r})", lambda t, n=name: in_process(t, n, args.calls))
                     for name in ("vgg16", "resnet50", "resnet152", "densenet121", "inception_v3")]
            for label, measure in rows:
                times: dict[str, list[float]] = {"now": [], "before": []}
                for _ in range(args.repeat):
                    for side, tree in trees.items():
                        times[side].append(measure(tree))
                now, old = (statistics.median(times[s]) for s in ("now", "before"))
                print(f"  {label:<36} before {old * 1000:8.2f} ms   now {now * 1000:8.2f} ms   "
                      f"now/before {now / old:5.2f}")
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(before)], cwd=ROOT,
                           check=False, capture_output=True)


if __name__ == "__main__":
    main()
