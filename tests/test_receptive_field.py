"""Receptive field and jump (effective stride)."""

from __future__ import annotations

import cnnsize


def rows(layers, input_shape=(1, 64, 64)):
    return cnnsize.analyze({"input": list(input_shape), "layers": layers}).layers


def test_three_stacked_3x3_convs_see_7():
    conv = {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}
    out = rows([conv, conv, conv])
    assert [r.receptive_field for r in out] == [(3, 3), (5, 5), (7, 7)]  # 1 + 3·(3 − 1)
    assert out[-1].jump == (1, 1)


def test_stride_multiplies_the_jump():
    out = rows([
        {"type": "conv2d", "out_channels": 4, "kernel_size": 7, "stride": 2, "padding": 3},
        {"type": "maxpool2d", "kernel_size": 3, "stride": 2, "padding": 1},
        {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
    ], (3, 224, 224))
    # ResNet stem: 7; then 7 + (3 − 1)·2 = 11 at jump 4; then 11 + (3 − 1)·4 = 19.
    assert [r.receptive_field for r in out] == [(7, 7), (11, 11), (19, 19)]
    assert [r.jump for r in out] == [(2, 2), (4, 4), (4, 4)]


def test_dilation_and_anisotropic_kernels():
    out = rows([{"type": "conv2d", "out_channels": 2, "kernel_size": [3, 5], "dilation": [2, 1]}])
    assert out[0].receptive_field == (5, 5)   # 2·(3 − 1) + 1 = 5 and 5
    out = rows([{"type": "conv2d", "out_channels": 2, "kernel_size": [3, 1]}])
    assert out[0].receptive_field == (3, 1)


def test_vgg16_pool5_sees_212_and_fc_is_global():
    report = cnnsize.analyze("vgg16")
    assert report["features.30"].receptive_field == (212, 212)
    assert report["classifier.0"].receptive_field is None   # fully connected: the whole input
    assert report.totals.receptive_field == (224, 224)


def test_residual_takes_the_wider_branch():
    out = rows([{"type": "residual",
                 "body": [{"type": "conv2d", "out_channels": 1, "kernel_size": 3, "padding": 1}] * 2}])
    assert out[-1].type == "add" and out[-1].receptive_field == (5, 5)
