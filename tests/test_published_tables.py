"""The acceptance numbers: lecture tables and torchvision's published figures."""

from __future__ import annotations

import math

import pytest

import cnnsize
from cnnsize.conventions import Conventions

# CSC421/2516 Lecture 10 (Grosse & Ba), "Sizes of layers in LeNet": units, connections, weights,
# counted without biases. The "output" row is the lecture's 84 → 10 layer.
LENET_LECTURE = {
    "C1": (4_704, 117_600, 150),       # 6·28·28; 4,704·5·5·1; 5·5·1·6
    "S2": (1_176, 4_704, 0),           # 6·14·14; 1,176·2·2
    "C3": (1_600, 240_000, 2_400),     # 16·10·10; 1,600·5·5·6; 5·5·6·16
    "S4": (400, 1_600, 0),             # 16·5·5; 400·2·2
    "F5": (120, 48_000, 48_000),       # 400·120
    "F6": (84, 10_080, 10_080),        # 120·84
    "output": (10, 840, 840),          # 84·10
}


def test_lenet5_reproduces_the_lecture_table():
    report = cnnsize.analyze("lenet5", bias=False)
    for name, (units, connections, weights) in LENET_LECTURE.items():
        row = report[name]
        assert (row.units, row.connections, row.weights, row.params) == (
            units, connections, weights, weights), name


def test_lenet5_lecture_params_with_bias():
    # CS7015 Lecture 11: "Param = 150, 2400, 48120, 10164, 850" — conv without bias, FC with bias.
    report = cnnsize.analyze("lenet5")
    assert [report[n].params for n in ("F5", "F6", "output")] == [48_120, 10_164, 850]
    assert report["C1"].params == 150 + 6   # with its 6 biases
    assert report["C3"].params == 2_400 + 16


def test_lenet5_total_units_sum_the_lecture_rows():
    report = cnnsize.analyze("lenet5", bias=False)
    assert report.totals.units == sum(u for u, _, _ in LENET_LECTURE.values())  # 8,094


VGG16_CONV_WEIGHTS = [
    3 * 9 * 64, 64 * 9 * 64,                    # 1,728; 36,864
    64 * 9 * 128, 128 * 9 * 128,                # 73,728; 147,456
    128 * 9 * 256, *[256 * 9 * 256] * 2,
    256 * 9 * 512, *[512 * 9 * 512] * 2,
    *[512 * 9 * 512] * 3,
]
VGG16_FC_WEIGHTS = [7 * 7 * 512 * 4096, 4096 * 4096, 4096 * 1000]  # 102,760,448; 16,777,216; 4,096,000


def test_vgg16_matches_torchvision():
    report = cnnsize.analyze("vgg16")
    weights = [r.weights for r in report.layers if r.type in ("conv2d", "linear")]
    assert weights == VGG16_CONV_WEIGHTS + VGG16_FC_WEIGHTS
    assert weights[:3] == [1_728, 36_864, 73_728]
    assert weights[-3:] == [102_760_448, 16_777_216, 4_096_000]
    # torchvision.models.VGG16_Weights.IMAGENET1K_V1.meta: num_params 138,357,544, 15.47 GFLOPS.
    assert report.totals.params == 138_357_544
    assert report.totals.macs == 15_470_264_320


def test_vgg16_activation_memory_is_the_cs231n_column():
    # CS231n Lecture 9 VGG-16 table: memory column, in elements (ReLU adds no rows).
    column = [224 * 224 * 3,
              224 * 224 * 64, 224 * 224 * 64, 112 * 112 * 64,
              112 * 112 * 128, 112 * 112 * 128, 56 * 56 * 128,
              *[56 * 56 * 256] * 3, 28 * 28 * 256,
              *[28 * 28 * 512] * 3, 14 * 14 * 512,
              *[14 * 14 * 512] * 3, 7 * 7 * 512,
              4096, 4096, 1000]
    avgpool = 7 * 7 * 512  # torchvision's AdaptiveAvgPool2d((7, 7)), absent from the 2014 table
    report = cnnsize.analyze("vgg16")
    assert report.totals.activation_bytes == (sum(column) + avgpool) * 4
    # The slide's "TOTAL memory: 24M" does not match its own rows, which sum to about 15.2M.
    assert sum(column) == 15_237_608


def test_alexnet_matches_torchvision():
    report = cnnsize.analyze("alexnet")
    # torchvision.models.AlexNet_Weights.IMAGENET1K_V1.meta: 61,100,840 params, 0.71 GFLOPS.
    assert report.totals.params == 61_100_840
    assert report.totals.macs == 714_188_480
    conv1 = report["features.0"]
    assert conv1.output_shape == (64, 55, 55)
    assert any("55.25" in note for note in conv1.notes)   # (224 − 11 + 2·2)/4 + 1


def test_rows_sum_to_totals():
    for name in cnnsize.zoo_names():
        report = cnnsize.analyze(name, batch=3)
        t = report.totals
        for key in ("weights", "biases", "params", "buffers", "connections", "macs", "flops"):
            assert getattr(t, key) == sum(getattr(r, key) for r in report.layers), (name, key)
        assert t.activation_bytes == t.input_bytes + sum(r.activation_bytes for r in report.layers)
        assert t.params == t.weights + t.biases
        assert t.input_bytes == math.prod(report.input_shape) * 3 * 4


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg16"])
def test_conventions_are_consistent(name):
    base = cnnsize.analyze(name)
    no_bias = cnnsize.analyze(name, bias=False)
    assert no_bias.totals.params == base.totals.params - base.totals.biases
    pure = cnnsize.analyze(name, conventions=Conventions(elementwise_flops=False, bias=False))
    assert pure.totals.flops == 2 * pure.totals.macs
    macs_only = cnnsize.analyze(name, conventions=Conventions(flops_per_mac=1, elementwise_flops=False,
                                                               bias=False))
    assert macs_only.totals.flops == base.totals.macs
    lecun = cnnsize.analyze(name, conventions=Conventions(bias_connections=True))
    bias_units = sum(r.units for r in base.layers if r.biases and r.type in ("conv2d", "linear"))
    assert lecun.totals.connections == base.totals.connections + bias_units
    batch8 = cnnsize.analyze(name, batch=8, dtype="float16")
    assert batch8.totals.macs == 8 * base.totals.macs
    assert batch8.totals.activation_bytes == 8 * base.totals.activation_bytes // 2
    assert batch8.totals.params == base.totals.params  # per network, not per batch


def test_training_memory_estimate():
    t = cnnsize.analyze("vgg16").totals
    assert t.param_bytes == 138_357_544 * 4
    # what autograd saves for backward (tests/test_saved.py checks that against autograd itself),
    # plus the buffers and params, grads, momentum (SGD) or two moments (Adam)
    assert t.training_bytes_sgd == t.saved_bytes + t.buffer_bytes + 3 * t.param_bytes
    assert t.training_bytes_adam == t.saved_bytes + t.buffer_bytes + 4 * t.param_bytes
    # the inference peak is far below the sum of every output (CS231n's memory column)
    assert t.peak_bytes < t.activation_bytes // 2
