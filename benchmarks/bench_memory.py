"""Inference memory: cnnsize's peak of live tensors against what PyTorch allocates on CPU.

For each network: the predicted inference peak (tensor lifetimes, analyze.py), the measured
peak of live tensors in a real forward pass of the built model (crosscheck's weak references,
the same quantity measured), and the CPU allocator's peak from torch.profiler's memory events
(profile_memory=True: every allocation and free, kernel temporaries included), each with its
ratio to the prediction. Also the sum of every output, which the lecture tables call memory.

    python benchmarks/bench_memory.py [--batch 1] [NAME ...]
"""

from __future__ import annotations

import argparse
import sys

import torch

import cnnsize
from cnnsize.conventions import Conventions
from cnnsize.verify.build import build
from cnnsize.verify.crosscheck import _hooked_forward


def allocator_peak(model: torch.nn.Module, x: torch.Tensor) -> int:
    """The input's bytes plus the highest running total of the profiler's allocations."""
    from torch.profiler import ProfilerActivity, profile

    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        model(x)
    events = sorted((e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events()
                    if e.name() == "[memory]")
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    return x.numel() * x.element_size() + peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=["lenet5", "alexnet", "vgg16", "resnet18",
                                                     "resnet50", "densenet121", "googlenet",
                                                     "mobilenet_v2", "inception_v3"])
    parser.add_argument("--batch", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, CPU, float32, batch {args.batch}, ReLUs as the specs mark "
          "them (--inplace spec)")
    print(f"{'network':<14} {'every output':>14} {'peak (pred)':>13} {'live (meas)':>13} "
          f"{'allocator':>13} {'alloc/pred':>10}")
    for name in args.names:
        conv = Conventions(batch=args.batch, inplace_activations="spec")
        report = cnnsize.analyze(name, conventions=conv)
        model = build(name).eval()
        x = torch.randn(args.batch, *report.input_shape)
        rows = [(row.name, model.get_submodule(row.shares or row.name)) for row in report.layers]
        _, live = _hooked_forward(model, rows, (x,))
        with torch.no_grad():
            model(x)  # warm-up before the profiled pass
        alloc = allocator_peak(model, x)
        t = report.totals
        print(f"{name:<14} {t.activation_bytes:>14,} {t.peak_bytes:>13,} {live.peak:>13,} "
              f"{alloc:>13,} {alloc / t.peak_bytes:>10.2f}", flush=True)
    sys.stdout.write("allocator − predicted: kernel temporaries (im2col buffers of CPU convolutions, "
                     "max-pool argmax), freed before the op returns\n")


if __name__ == "__main__":
    main()
