"""The same torchvision models through cnnsize, torchinfo, fvcore, ptflops and torch's
flop_counter: what each reports and how long it takes, side by side (docs/coming-from.md).

Each tool gets the ORIGINAL torchvision module at batch 1, float32, eval mode; cnnsize gets it
through cnnsize.summary(model, input_size) (the import, one traced forward pass) and also
through its zoo spec (symbolic only, no torch work). The numbers are printed as each tool gives
them, exact; the last block gives the ratios to cnnsize's MACs and the seconds each took.

    pip install torch==2.14.1 torchvision==0.29.1 -e '.[bench,zoo]'
    python benchmarks/bench_peers.py [--models resnet18,resnet50,vgg16,mobilenet_v2,densenet121]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings
from typing import Any

DEFAULT = "resnet18,resnet50,vgg16,mobilenet_v2,densenet121"


def _timed(run: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    value = run()
    return value, time.perf_counter() - start


def measure(name: str) -> dict[str, Any]:
    import torch
    import torchinfo
    import torchvision
    from fvcore.nn import FlopCountAnalysis, parameter_count
    from ptflops import get_model_complexity_info
    from torch.utils.flop_counter import FlopCounterMode

    import cnnsize

    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 224, 224)
    out: dict[str, Any] = {}

    report, out["t_cnnsize_import"] = _timed(
        lambda: cnnsize.summary(model, (1, 3, 224, 224), verbose=0))
    spec, out["t_cnnsize_spec"] = _timed(lambda: cnnsize.analyze(name))
    t = report.totals
    out["cnnsize"] = {"params": t.params, "trainable": t.trainable_params, "macs": t.macs,
                      "flops": t.flops, "input_bytes": t.input_bytes, "param_bytes": t.param_bytes,
                      "peak_bytes": t.peak_bytes, "saved_bytes": t.saved_bytes,
                      "activation_bytes": t.activation_bytes,
                      "training_sgd": t.training_bytes_sgd, "spec_macs": spec.totals.macs,
                      "spec_params": spec.totals.params}

    stats, out["t_torchinfo"] = _timed(
        lambda: torchinfo.summary(model, input_size=(1, 3, 224, 224), verbose=0))
    out["torchinfo"] = {"params": stats.total_params, "trainable": stats.trainable_params,
                        "mult_adds": stats.total_mult_adds, "input_bytes": stats.total_input,
                        "forward_backward_bytes": stats.total_output_bytes,
                        "param_bytes": stats.total_param_bytes}

    def fvcore() -> tuple[int, int]:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            flops = FlopCountAnalysis(model, x)
            flops.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            return int(flops.total()), int(parameter_count(model)[""])

    (fv_flops, fv_params), out["t_fvcore"] = _timed(fvcore)
    out["fvcore"] = {"params": fv_params, "flops": fv_flops}

    def ptflops() -> tuple[int, int]:
        with contextlib.redirect_stdout(io.StringIO()):
            macs, params = get_model_complexity_info(model, (3, 224, 224), as_strings=False,
                                                     print_per_layer_stat=False, verbose=False)
        return int(macs), int(params)

    (pt_macs, pt_params), out["t_ptflops"] = _timed(ptflops)
    out["ptflops"] = {"params": pt_params, "macs": pt_macs}

    def flop_counter() -> int:
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(x)
        return int(counter.get_total_flops())

    fc_flops, out["t_flop_counter"] = _timed(flop_counter)
    out["flop_counter"] = {"flops": fc_flops}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=DEFAULT)
    args = parser.parse_args()
    import torch

    import cnnsize

    print(f"torch {torch.__version__}, cnnsize {cnnsize.__version__}; batch 1, float32, "
          "3×224×224, torchvision models with random weights, eval mode")
    rows = []
    for name in args.models.split(","):
        m = measure(name)
        rows.append((name, m))
        c, ti, fv, pt, fc = (m["cnnsize"], m["torchinfo"], m["fvcore"], m["ptflops"],
                             m["flop_counter"])
        print(f"\n{name}")
        print(f"  params      cnnsize {c['params']:,} (zoo spec {c['spec_params']:,}); "
              f"torchinfo {ti['params']:,}; fvcore {fv['params']:,}; ptflops {pt['params']:,}")
        print(f"  trainable   cnnsize {c['trainable']:,}; torchinfo {ti['trainable']:,}")
        print(f"  MACs        cnnsize {c['macs']:,} (zoo spec {c['spec_macs']:,}); "
              f"torchinfo mult-adds {ti['mult_adds']:,}; fvcore 'flops' {fv['flops']:,}; "
              f"ptflops 'MACs' {pt['macs']:,}; flop_counter FLOPs/2 {fc['flops'] // 2:,}")
        print(f"  FLOPs       cnnsize {c['flops']:,} (2·MACs + per-element ops); "
              f"flop_counter {fc['flops']:,} (2·MACs of conv, linear, matmul only)")
        print(f"  memory      input: cnnsize {c['input_bytes']:,} B, torchinfo "
              f"{ti['input_bytes']:,} B; params: cnnsize {c['param_bytes']:,} B, torchinfo "
              f"{ti['param_bytes']:,} B")
        print(f"              torchinfo forward/backward pass {ti['forward_backward_bytes']:,} B; "
              f"cnnsize every output {c['activation_bytes']:,} B, inference peak "
              f"{c['peak_bytes']:,} B, saved for backward {c['saved_bytes']:,} B, training "
              f"(SGD-momentum) {c['training_sgd']:,} B")
    print("\nratios to cnnsize's MACs, and seconds each tool took (one run, this machine)")
    print(f"{'model':14} {'torchinfo':>10} {'fvcore':>8} {'ptflops':>8} {'fc/2':>8}   "
          f"{'cnnsize spec':>12} {'cnnsize import':>14} {'torchinfo':>9} {'fvcore':>7} "
          f"{'ptflops':>7} {'flop_counter':>12}")
    for name, m in rows:
        macs = m["cnnsize"]["macs"]
        print(f"{name:14} {m['torchinfo']['mult_adds'] / macs:10.5f} "
              f"{m['fvcore']['flops'] / macs:8.5f} {m['ptflops']['macs'] / macs:8.5f} "
              f"{m['flop_counter']['flops'] / 2 / macs:8.5f}   {m['t_cnnsize_spec']:12.3f} "
              f"{m['t_cnnsize_import']:14.3f} {m['t_torchinfo']:9.3f} {m['t_fvcore']:7.3f} "
              f"{m['t_ptflops']:7.3f} {m['t_flop_counter']:12.3f}")


if __name__ == "__main__":
    main()
