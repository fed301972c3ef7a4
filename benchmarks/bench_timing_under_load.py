"""`cnnsize time` on a busy CPU: does the per-layer sum still agree with the whole?

Runs `cnnsize time MODEL --device cpu --format json` several times, each a whole process, while
another process keeps one core busy (a Python loop that never sleeps: one core at 100 %, the
kind of load a second program puts on a laptop), and prints for each run `sum_over_whole` (the
median of the per-layer times summed in each round, over the whole network's median), the sum of
the per-layer medians over the whole, the whole's median and spread, the rounds, the threads
used and the load average, then the rule that chose the threads (without --threads, the CPUs
the loader leaves free). Without --no-load the loader starts first and is stopped at the end.

    python benchmarks/bench_timing_under_load.py [--model vgg16] [--runs 5] [--threads N]
        [--repeat 10] [--no-load]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

SPIN = "while True:\n    pass\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="vgg16")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int)
    parser.add_argument("--no-load", action="store_true", help="no loader process")
    args = parser.parse_args()
    loader = None if args.no_load else subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        time.sleep(0 if loader is None else 5)  # let the load average see the loader
        print(f"{args.model}, {args.runs} runs of `cnnsize time --device cpu --repeat "
              f"{args.repeat}`{' --threads ' + str(args.threads) if args.threads else ''}, "
              f"{'one core kept busy by another process' if loader else 'no added load'}, "
              f"{os.cpu_count()} CPUs")
        print(f"{'run':>3} {'sum / whole':>11} {'medians / whole':>15} {'whole ms':>9} {'IQR / median':>12} "
              f"{'rounds':>6} {'threads':>7} {'load/CPU':>8} {'flagged':>7}")
        ratios = []
        rules_seen = []
        for run in range(1, args.runs + 1):
            cmd = [sys.executable, "-m", "cnnsize", "time", args.model, "--device", "cpu",
                   "--repeat", str(args.repeat), "--format", "json"]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                sys.exit(proc.stderr)
            data = json.loads(proc.stdout)
            whole = data["whole"]
            ratios.append(data["sum_over_whole"])
            rules_seen.append(data["threads_rule"])
            flagged = sum(1 for layer in data["layers"] if layer["flag"])
            load = data["load_per_cpu"]
            medians = data["layer_sum_s"] / whole["median_s"]
            print(f"{run:>3} {data['sum_over_whole']:11.3f} {medians:15.3f} {whole['median_s'] * 1e3:9.1f} "
                  f"{(whole['q3_s'] - whole['q1_s']) / whole['median_s']:12.1%} "
                  f"{whole['n']:>6} {data['threads']:>7} {load if load is None else f'{load:.2f}':>8} "
                  f"{flagged:>7}")
        rules = sorted(set(rules_seen))
        print(f"threads chosen by: {'; '.join(rules)}")
        inside = sum(0.9 <= r <= 1.1 for r in ratios)
        print(f"sum / whole within 0.9–1.1 in {inside} of {len(ratios)} runs "
              f"(range {min(ratios):.3f}–{max(ratios):.3f})")
    finally:
        if loader is not None:
            loader.kill()
            loader.wait()


if __name__ == "__main__":
    main()
