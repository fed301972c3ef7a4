"""Time `cnnsize report` against torchinfo's summary of the same model, as whole processes.

Both sides start a fresh Python process, as a user does at the shell: cnnsize reads the zoo spec
and prints the table; torchinfo imports torch, builds the model (plain torch.nn, no torchvision)
and runs its summary with a forward pass at batch 1. Prints medians, spreads and the ratio.

    python benchmarks/bench_report.py [--repeat 7] [--model vgg16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

# Plain torch definitions of the zoo models (torchvision's layer structure), for torchinfo.
TORCH_MODELS = {
    "vgg16": """
import torch.nn as nn
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
                                    nn.Linear(4096, 1000)))
shape = (1, 3, 224, 224)
""",
    "alexnet": """
import torch.nn as nn
model = nn.Sequential(
    nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2),
    nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
    nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(True), nn.Conv2d(384, 256, 3, padding=1),
    nn.ReLU(True), nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2),
    nn.AdaptiveAvgPool2d(6), nn.Flatten(), nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(True),
    nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(True), nn.Linear(4096, 1000))
shape = (1, 3, 224, 224)
""",
}


ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # with bytecode


def timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{proc.stderr}")
    return elapsed


def measure(cmd: list[str], repeat: int) -> list[float]:
    timed(cmd)  # warm the file cache
    return [timed(cmd) for _ in range(repeat)]


def describe(name: str, times: list[float]) -> str:
    return (f"{name:<28} median {statistics.median(times) * 1000:8.1f} ms   "
            f"min {min(times) * 1000:8.1f}   max {max(times) * 1000:8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--model", choices=sorted(TORCH_MODELS), default="vgg16")
    args = parser.parse_args()
    try:
        import torchinfo  # noqa: F401
    except ImportError:
        sys.exit("torchinfo is needed for the comparison: pip install -e '.[bench]'")

    ours = [sys.executable, "-m", "cnnsize", "report", args.model]
    theirs = [sys.executable, "-c", TORCH_MODELS[args.model]
              + "import torchinfo\nprint(torchinfo.summary(model, shape, verbose=0))\n"]
    baseline = [sys.executable, "-c", "pass"]

    print(f"model: {args.model}, {args.repeat} runs each, whole processes, {sys.version.split()[0]}")
    results = {
        "python -c pass (startup)": measure(baseline, args.repeat),
        f"cnnsize report {args.model}": measure(ours, args.repeat),
        f"torchinfo.summary {args.model}": measure(theirs, args.repeat),
    }
    for name, times in results.items():
        print(describe(name, times))
    t_ours = statistics.median(results[f"cnnsize report {args.model}"])
    t_theirs = statistics.median(results[f"torchinfo.summary {args.model}"])
    print(f"ratio torchinfo / cnnsize: {t_theirs / t_ours:.1f}x")

    big = [sys.executable, "-m", "cnnsize", "report", "resnet152"]
    print(describe("cnnsize report resnet152", measure(big, args.repeat)))

    import cnnsize

    print("\nin-process analysis of every zoo entry (spec parsing included), median of 11 runs:")
    for name in cnnsize.zoo_names():
        runs = []
        for _ in range(11):
            start = time.perf_counter()
            report = cnnsize.analyze(name)
            runs.append(time.perf_counter() - start)
        print(f"  {name:<16} {len(report.layers):4d} rows  {statistics.median(runs) * 1000:7.2f} ms")


if __name__ == "__main__":
    main()
