"""torchvision's MobileNetV2 and EfficientNet-B0 in the zoo: published counts, shapes by hand, fvcore.

Published figures: the `meta` of torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
(num_params 3,504,872; _ops 0.301 GFLOPS) and EfficientNet_B0_Weights.IMAGENET1K_V1
(num_params 5,288,548; _ops 0.386 GFLOPS), where torchvision's "GFLOPS" are multiply-adds.

fvcore's FlopCountAnalysis counts more than cnnsize's MACs for these nets, and exactly this more
(fvcore/nn/flop_count.py, _DEFAULT_SUPPORTED_OPS; fvcore/nn/jit_handles.py):
  aten::batch_norm           2 per element in eval mode with affine (batchnorm_flop_jit)
  aten::adaptive_avg_pool2d  1 per input element (elementwise_flop_counter(1, 0))
and it skips the elementwise ops (ReLU6, SiLU, Sigmoid, the residual add, and the
squeeze-excitation multiply aten::mul) as unsupported, as cnnsize's MACs do.
MACs = conv + linear multiply-adds, bias adds excluded, on both sides.
"""

from __future__ import annotations

import functools
import math

import pytest

import cnnsize

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
from fvcore.nn import FlopCountAnalysis  # noqa: E402

from cnnsize.verify.build import build  # noqa: E402


@functools.cache
def traced(name: str) -> tuple[cnnsize.Report, FlopCountAnalysis]:
    """The report and fvcore's analysis of the built model, once per network (tracing is slow)."""
    analysis = FlopCountAnalysis(build(name), torch.randn(1, 3, 224, 224))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analysis.total()
    return cnnsize.analyze(name), analysis


# ---------------------------------------------------------------- MobileNetV2


def test_mobilenet_v2_published_counts():
    report = cnnsize.analyze("mobilenet_v2")
    # torchvision MobileNet_V2_Weights.IMAGENET1K_V1.meta["num_params"]
    assert report.totals.params == 3_504_872
    # Our exact count; fvcore's conv + linear for the same model (test below). torchvision
    # MobileNet_V2_Weights.IMAGENET1K_V1.meta["_ops"] = 0.301, listed as 0.30 GFLOPS in the docs.
    assert report.totals.macs == 300_774_272
    assert round(report.totals.macs / 1e9, 3) == 0.301
    assert round(report.totals.macs / 1e9, 2) == 0.30


def test_mobilenet_v2_shapes_by_hand():
    report = cnnsize.analyze("mobilenet_v2")
    stem = report["features.0.0"]
    assert stem.output_shape == (32, 112, 112)          # floor((224 - 3 + 2·1)/2) + 1 = 112
    assert stem.weights == 3 * 32 * 3 * 3                # 864, bias=False
    # features.1 has t = 1: no expand conv, so conv.0 is the depthwise 3x3 on 32 channels.
    assert report["features.1.conv.0.0"].weights == 32 * 3 * 3       # 288 = C·k·k
    assert report["features.1.conv.1"].weights == 32 * 16            # 512, pw-linear
    # features.2: expand 16 → 6·16 = 96, depthwise stride 2, project to 24.
    assert report["features.2.conv.0.0"].weights == 16 * 96          # 1,536
    dw = report["features.2.conv.1.0"]
    assert dw.weights == 96 * 3 * 3                                  # 864 = C·k·k (groups = C)
    assert dw.macs == 96 * 56 * 56 * 3 * 3                           # 2,709,504
    assert dw.output_shape == (96, 56, 56)
    assert report["features.17.conv.2"].weights == 960 * 320         # 307,200
    assert report["features.18.0"].output_shape == (1280, 7, 7)
    assert report["classifier.1"].weights == 1280 * 1000
    # Residual only where stride 1 and C_in == C_out: every block of a stage but the first.
    residual = [r.name for r in report.layers if r.type == "add"]
    assert residual == [f"features.{n}" for n in (3, 5, 6, 8, 9, 10, 12, 13, 15, 16)]


# ---------------------------------------------------------------- EfficientNet-B0


def test_efficientnet_b0_published_counts():
    report = cnnsize.analyze("efficientnet_b0")
    # torchvision EfficientNet_B0_Weights.IMAGENET1K_V1.meta["num_params"]
    assert report.totals.params == 5_288_548
    # Our exact count; fvcore's conv + linear for the same model (test below). torchvision
    # EfficientNet_B0_Weights.IMAGENET1K_V1.meta["_ops"] = 0.386, 0.39 GFLOPS in the docs.
    assert report.totals.macs == 385_814_752
    assert round(report.totals.macs / 1e9, 3) == 0.386
    assert round(report.totals.macs / 1e9, 2) == 0.39


def test_efficientnet_b0_shapes_by_hand():
    report = cnnsize.analyze("efficientnet_b0")
    assert report["features.0.0"].output_shape == (32, 112, 112)
    # features.1.0: expand ratio 1, so block.0 is the depthwise conv and block.1 the SE.
    assert report["features.1.0.block.0.0"].weights == 32 * 3 * 3           # 288 = C·k·k
    fc1 = report["features.1.0.block.1.fc1"]
    assert (fc1.weights, fc1.biases) == (32 * 8, 8)        # squeeze = max(1, 32 // 4) = 8
    assert fc1.output_shape == (8, 1, 1)
    assert report["features.1.0.block.1"].type == "mul"
    assert report["features.1.0.block.1"].output_shape == (32, 112, 112)   # gate × input
    # features.3.0: 24 → 144 expand, 5x5 depthwise stride 2 (padding (5 − 1)//2 = 2).
    dw = report["features.3.0.block.1.0"]
    assert dw.weights == 144 * 5 * 5                                         # 3,600 = C·k·k
    assert dw.output_shape == (144, 28, 28)            # floor((56 - 5 + 2·2)/2) + 1 = 28
    # The squeeze width comes from the block's input channels, not the expanded ones.
    se = report["features.6.3.block.2.fc1"]
    assert se.weights == 1152 * (192 // 4)                                   # 55,296
    assert report["features.6.3.block.2.fc2"].params == 48 * 1152 + 1152     # 56,448
    assert report["features.8.0"].output_shape == (1280, 7, 7)
    assert report["classifier.1"].weights == 1280 * 1000
    types = [r.type for r in report.layers]
    assert types.count("mul") == 16                    # one squeeze-excitation per MBConv
    residual = [r.name for r in report.layers if r.type == "add"]
    assert residual == ["features.2.1", "features.3.1", "features.4.1", "features.4.2",
                        "features.5.1", "features.5.2", "features.6.1", "features.6.2",
                        "features.6.3"]
    # StochasticDepth is the identity at inference, before each residual addition only.
    assert [r.name for r in report.layers if r.type == "identity"] == [
        f"{name}.stochastic_depth" for name in residual]


# ---------------------------------------------------------------- fvcore


# fvcore's total() = our MACs + batch norm (2·Σ BN units) + adaptive pools (Σ pool inputs):
FVCORE_TOTAL = {
    "mobilenet_v2": 314_193_216,     # 300,774,272 + 13,356,224 + 62,720 (1280·7·7)
    "efficientnet_b0": 401_659_392,  # 385,814,752 + 13,475,392 + 2,369,248 (16 SE pools + head)
}


@pytest.mark.parametrize("name", sorted(FVCORE_TOTAL))
def test_macs_equal_fvcore_conv_and_linear(name):
    report, analysis = traced(name)
    ops = analysis.by_operator()
    assert report.totals.macs == ops["conv"] + ops["linear"]
    assert analysis.total() == FVCORE_TOTAL[name]
    # fvcore's total adds batch norm and adaptive average pools, and nothing else.
    assert set(ops) == {"conv", "linear", "batch_norm", "adaptive_avg_pool2d"}
    bn = 2 * sum(r.units for r in report.layers if r.type == "batchnorm2d")
    # A global average pool reads each input element once: connections = C·H·W of its input.
    pooled = sum(r.connections for r in report.layers if r.type == "adaptiveavgpool2d")
    assert ops["batch_norm"] == bn
    assert ops["adaptive_avg_pool2d"] == pooled
    assert analysis.total() == report.totals.macs + bn + pooled
    # To make fvcore count only MACs, give those two ops a handle that returns 0. Not
    # set_op_handle(op, None), which fvcore's comment on aten::batch_norm suggests: in fvcore
    # 0.1.5.post20221221 None only adds the op to the ignored set, and the default handle still
    # runs (JitModelAnalysis looks up handles before the ignored set).


def test_fvcore_skips_the_squeeze_excitation_multiply():
    report, analysis = traced("efficientnet_b0")
    # 16 SE gates, each a C×1×1 tensor times a C×H×W one: aten::mul, no handle in fvcore.
    assert analysis.unsupported_ops()["aten::mul"] == 16
    # cnnsize counts them as elementwise FLOPs (one per output element), not as MACs.
    mul_rows = [r for r in report.layers if r.type == "mul"]
    assert sum(r.macs for r in mul_rows) == 0
    assert sum(r.flops for r in mul_rows) == sum(math.prod(r.output_shape) for r in mul_rows)
