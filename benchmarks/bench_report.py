"""`cnnsize report` against its floor and its peers, as whole processes, in one run.

Every command is a fresh Python process, as a user runs it at the shell, with bytecode (the
modules are compiled first; PYTHONDONTWRITEBYTECODE is dropped). The commands run in rounds,
one of each per round, so that a machine getting busier or quieter shifts them all alike. Each
figure is the median over the rounds of the process's CPU time (user + system, from wait4) and
of its wall time; the ratios are to the floor's CPU time.

- the floors: `python -c pass` (interpreter start-up), a minimal script that reads the same
  zoo YAML with libyaml's loader and prints a tabulate table of its items (what any tool must
  at least pay to answer from a spec), and the import of the standard modules cnnsize's JSON
  report cannot do without (argparse, fractions, json);
- cnnsize: `report vgg16` (text and JSON) and `report resnet152` (515 rows);
- the peers, where installed: torchinfo's summary, fvcore's FlopCountAnalysis and ptflops on
  the same VGG-16 in plain torch.nn (each imports torch, builds the model and runs it once);
- in-process: `cnnsize.analyze` of VGG-16 and ResNet-152, spec parsing included: the first
  call (every cache of the process emptied: parsed zoo specs, kinds, costs; the zoo's file
  cache on disk is read, as by a new process) and a repeated one. The `--explain` lines are
  made when read (LayerStats.explain), so neither call makes them;
- with `--scaling`, then bench_scaling.py's table (100 to 100,000 layers per spec family), so
  that one run prints all three.

    python benchmarks/bench_report.py [--repeat 5] [--no-peers] [--peers-python PATH] [--scaling]

Run it with the interpreter of the install to measure: a base install (PyYAML and tabulate
only) is what a student has; the header says whether site's start-up loads an editable
install's path finder, as that moves the floor (`python -c pass`); `--peers-python` runs the
peers with another interpreter (one that has torch, torchinfo, fvcore and ptflops).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # with bytecode

VGG16 = """
import torch, torch.nn as nn
cfg = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M']
layers, c = [], 3
for v in cfg:
    if v == 'M':
        layers.append(nn.MaxPool2d(2, 2))
    else:
        layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
        c = v
model = nn.Sequential(nn.Sequential(*layers), nn.AdaptiveAvgPool2d(7), nn.Flatten(),
                      nn.Sequential(nn.Linear(25088, 4096), nn.ReLU(True), nn.Dropout(),
                                    nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
                                    nn.Linear(4096, 1000))).eval()
"""
PEERS = {
    "torchinfo": VGG16 + "import torchinfo\nprint(torchinfo.summary(model, (1, 3, 224, 224), verbose=0))\n",
    "fvcore": VGG16 + ("from fvcore.nn import FlopCountAnalysis\n"
                       "print(FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224)).total())\n"),
    "ptflops": VGG16 + ("from ptflops import get_model_complexity_info\n"
                        "print(get_model_complexity_info(model, (3, 224, 224), as_strings=False,"
                        " print_per_layer_stat=False))\n"),
}
# The least a tool must do to answer from the spec: read the YAML (libyaml) and print a table.
MINIMAL = """
import sys, yaml, tabulate
with open(sys.argv[1], encoding="utf-8") as f:
    data = yaml.load(f, Loader=yaml.CSafeLoader)
rows = [[item.get("name", i), item.get("type")] for i, item in enumerate(data["layers"])]
print(tabulate.tabulate(rows, headers=["layer", "type"]))
"""

# The standard modules the JSON report needs (argparse: the command line; fractions: exact sizes;
# json: the output), imported and nothing done. Its data classes are records (cnnsize/record.py),
# made without dataclasses (which imports inspect), and typing is imported by type checkers only.
STDLIB = "import argparse, fractions, json"


def cpu_and_wall(cmd: list[str]) -> tuple[float, float]:
    """(user + system CPU seconds, wall seconds) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV,
                            cwd=ROOT)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)[:200]}\n{err}")
    return usage.ru_utime + usage.ru_stime, wall


def rounds(commands: dict[str, list[str]], repeat: int) -> dict[str, tuple[float, float]]:
    """Medians of (CPU, wall) per command over `repeat` rounds of one run each, after a warm-up
    round (file cache, bytecode)."""
    for cmd in commands.values():
        cpu_and_wall(cmd)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            runs[name].append(cpu_and_wall(cmd))
    return {name: (statistics.median(c for c, _ in r), statistics.median(w for _, w in r))
            for name, r in runs.items()}


def has(python: str, module: str) -> bool:
    """Whether `python` can import `module`."""
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", probe], env=ENV).returncode == 0


def in_process(name: str, calls: int, cold: bool) -> float:
    """Median seconds of cnnsize.analyze(name); `cold`: with the process's caches emptied
    before each call, as the first call of a process finds them."""
    import importlib

    import cnnsize

    analyze_module = importlib.import_module("cnnsize.analyze")  # the module, not the function
    spec_module = importlib.import_module("cnnsize.spec")
    base = importlib.import_module("cnnsize.layers.base")

    runs = []
    for _ in range(calls):
        if cold:
            spec_module._ZOO_PARSED.clear()
            base._KINDS.clear()
            analyze_module._COSTS.clear()
            analyze_module._CONTIGUOUS.clear()
        start = time.perf_counter()
        cnnsize.analyze(name)
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def install_kind() -> str:
    """Whether site's start-up loads an editable install's path finder, which moves the floor:
    the finder imports pathlib, re, fnmatch, … in every process, `python -c pass` included,
    where a regular install's cnnsize has to import what it needs itself. (The commands run in
    the repository, so `-m cnnsize` reads this source tree either way.)"""
    probe = subprocess.run([sys.executable, "-c", "import sys; print(any('__editable__' in m "
                            "for m in sys.modules))"], capture_output=True, text=True, env=ENV,
                           cwd=ROOT, check=True).stdout.strip()
    return ("an editable install's path finder in site's start-up (in the floor too)"
            if probe == "True" else "no editable install's path finder in site's start-up")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (5)")
    parser.add_argument("--no-peers", action="store_true", help="leave out torchinfo, fvcore, ptflops")
    parser.add_argument("--peers-python", default=sys.executable,
                        help="the interpreter that runs the peers (default: this one)")
    parser.add_argument("--scaling", action="store_true",
                        help="then run bench_scaling.py and print its table (a few minutes)")
    args = parser.parse_args()
    compileall.compile_dir(str(ROOT / "cnnsize"), quiet=1)
    py = sys.executable
    vgg_yaml = str(ROOT / "cnnsize" / "zoo" / "vgg16.yaml")
    commands = {
        "python -c pass": [py, "-c", "pass"],
        "minimal: libyaml + tabulate": [py, "-c", MINIMAL, vgg_yaml],
        "stdlib: argparse, fractions, json": [py, "-c", STDLIB],
        "cnnsize report vgg16": [py, "-m", "cnnsize", "report", "vgg16"],
        "cnnsize report vgg16 --format json": [py, "-m", "cnnsize", "report", "vgg16", "--format",
                                               "json"],
        "cnnsize report resnet152": [py, "-m", "cnnsize", "report", "resnet152"],
    }
    if not args.no_peers:
        for peer, script in PEERS.items():
            if has(args.peers_python, peer) and has(args.peers_python, "torch"):
                commands[f"{peer} on vgg16"] = [args.peers_python, "-c", script]
    print(f"{args.repeat} rounds, whole processes with bytecode, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the start; "
          f"{install_kind()}")
    results = rounds(commands, args.repeat)
    floor = results["python -c pass"][0]
    minimal = results["minimal: libyaml + tabulate"][0]
    print(f"\n{'command':<38} {'CPU ms':>9} {'wall ms':>9} {'× python -c pass':>17} "
          f"{'× minimal':>10}")
    for name, (cpu, wall) in results.items():
        print(f"{name:<38} {cpu * 1e3:9.1f} {wall * 1e3:9.1f} {cpu / floor:17.2f} "
              f"{cpu / minimal:10.2f}")
    ours = results["cnnsize report vgg16"][0]
    for peer in PEERS:
        if f"{peer} on vgg16" in results:
            print(f"{peer} / cnnsize report vgg16 (CPU): "
                  f"{results[f'{peer} on vgg16'][0] / ours:.1f}×")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")

    print("\nin-process cnnsize.analyze, spec parsing included (medians of 21 calls after one):")
    for name in ("vgg16", "resnet152"):
        in_process(name, 1, cold=False)
        print(f"  {name:<10} first call {in_process(name, 21, cold=True) * 1e3:7.2f} ms   "
              f"repeated {in_process(name, 21, cold=False) * 1e3:7.2f} ms")
    if args.scaling:
        print("\nscaling (benchmarks/bench_scaling.py):", flush=True)
        subprocess.run([py, str(ROOT / "benchmarks" / "bench_scaling.py")], check=True)


if __name__ == "__main__":
    main()
