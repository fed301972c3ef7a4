"""Measured timing of VGG-16 and ResNet-50 in float32 and bfloat16 (issue: GPU evidence).

    python benchmarks/bench_timing.py [--device cuda] [--batch 64] [--repeat 20] [--out DIR]

For each model and dtype: whole-model latency and images/s (CUDA events / perf_counter), the
same model timed by torch.utils.benchmark.Timer in the same run, the device's measured peaks,
the spread of per-layer measured/floor ratios, and how the per-layer times sum against the
whole. Each result is also written as JSON to --out (default benchmarks/results/).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from cnnsize.verify.timing import time_layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--models", default="vgg16,resnet50")
    parser.add_argument("--dtypes", default="float32,bfloat16")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for model in args.models.split(","):
        for dtype in args.dtypes.split(","):
            r = time_layers(model, device=args.device, batch=args.batch, dtype=dtype,
                            repeat=args.repeat, warmup=5)
            ratios = [layer.vs_floor for layer in r.layers if layer.vs_floor and layer.flops]
            print(f"{model} {dtype} batch {args.batch} on {r.device_name}:")
            print(f"  whole: {r.whole.median * 1e3:.3f} ms (IQR {r.whole.q1 * 1e3:.3f}–"
                  f"{r.whole.q3 * 1e3:.3f}), {r.images_per_s:,.1f} images/s")
            if r.reference:
                print(f"  torch.utils.benchmark.Timer: {r.reference.median * 1e3:.3f} ms")
            print(f"  peaks: {r.peaks.flops_per_s / 1e12:.1f} TFLOP/s, "
                  f"{r.peaks.bytes_per_s / 1e9:.0f} GB/s ({r.peaks.method})")
            if ratios:
                print(f"  conv/linear measured/floor: median {statistics.median(ratios):.2f}×, "
                      f"min {min(ratios):.2f}×, max {max(ratios):.2f}×")
            print(f"  per-layer sum / whole: {r.sum_over_whole:.3f}")
            name = f"{r.device}_{model}_{dtype}_b{args.batch}.json".replace(":", "")
            (out / name).write_text(json.dumps(r.to_dict(), indent=1))


if __name__ == "__main__":
    main()
