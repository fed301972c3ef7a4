"""Exact figures for the VGG family, SqueezeNet 1.0 and GoogLeNet (torchvision's and the paper's).

Published numbers come from torchvision's weight metadata (torchvision/models/*.py,
`*_Weights.IMAGENET1K_V1.meta`: "num_params", and "_ops" in GFLOPS, which torchvision counts as
multiply-adds of convolutions and matrix products) and from Szegedy et al. 2014, Table 1.
Row-by-row shapes, params and buffers against the built torch models are in tests/test_zoo.py.
"""

from __future__ import annotations

import itertools
import math

import pytest

import cnnsize

# ---------------------------------------------------------------- VGG

# (zoo name, conv widths per stage as (width, count), exact MACs)
VGG = {
    "vgg11": ([(64, 1), (128, 1), (256, 2), (512, 2), (512, 2)], 7_609_090_048),
    "vgg13": ([(64, 2), (128, 2), (256, 2), (512, 2), (512, 2)], 11_308_466_176),
    "vgg16": ([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 15_470_264_320),
    "vgg19": ([(64, 2), (128, 2), (256, 4), (512, 4), (512, 4)], 19_632_062_464),
}
# torchvision VGG*_Weights.IMAGENET1K_V1.meta: (num_params, _ops)
VGG_PUBLISHED = {
    "vgg11": (132_863_336, 7.609), "vgg11_bn": (132_868_840, 7.609),
    "vgg13": (133_047_848, 11.308), "vgg13_bn": (133_053_736, 11.308),
    "vgg16": (138_357_544, 15.47), "vgg16_bn": (138_365_992, 15.47),
    "vgg19": (143_667_240, 19.632), "vgg19_bn": (143_678_248, 19.632),
}
FC = [(25_088, 4_096), (4_096, 4_096), (4_096, 1_000)]   # 512·7·7 = 25,088 inputs to classifier.0


def vgg_by_hand(stages: list[tuple[int, int]]) -> tuple[int, int]:
    """Params and MACs of a VGG from its widths: 3x3 convs with bias, 2x2 pools, then FC."""
    params = macs = 0
    c_in, side = 3, 224
    for width, count in stages:
        for _ in range(count):
            params += 9 * c_in * width + width
            macs += 9 * c_in * width * side * side
            c_in = width
        side //= 2
    params += sum(i * o + o for i, o in FC)
    macs += sum(i * o for i, o in FC)
    return params, macs


@pytest.mark.parametrize("name", sorted(VGG_PUBLISHED))
def test_vgg_matches_torchvision_metadata(name):
    stages, exact_macs = VGG[name.removesuffix("_bn")]
    params, macs = vgg_by_hand(stages)
    channels = sum(w * n for w, n in stages)       # conv output channels = BN features
    bn_layers = sum(n for _, n in stages)
    if name.endswith("_bn"):
        params += 2 * channels                      # γ and β per channel
    report = cnnsize.analyze(name)
    published_params, published_gflops = VGG_PUBLISHED[name]
    assert report.totals.params == params == published_params
    assert report.totals.macs == macs == exact_macs  # BN adds no multiply-adds
    assert round(report.totals.macs / 1e9, 3) == published_gflops
    # running mean and var per channel + one num_batches_tracked per BN layer
    assert report.totals.buffers == (2 * channels + bn_layers if name.endswith("_bn") else 0)


def test_vgg11_layers_and_paths_by_hand():
    report = cnnsize.analyze("vgg11")
    convs = [r for r in report.layers if r.type == "conv2d"]
    assert [r.name for r in convs] == ["features.0", "features.3", "features.6", "features.8",
                                       "features.11", "features.13", "features.16", "features.18"]
    assert [r.weights for r in convs] == [
        3 * 9 * 64, 64 * 9 * 128, 128 * 9 * 256, 256 * 9 * 256,   # 1,728; 73,728; 294,912; 589,824
        256 * 9 * 512, 512 * 9 * 512, 512 * 9 * 512, 512 * 9 * 512]
    assert report["features.20"].type == "maxpool2d"
    assert report["features.20"].output_shape == (512, 7, 7)       # 224 / 2**5
    assert report["classifier.6"].output_shape == (1000,)


def test_vgg_bn_puts_batchnorm_between_conv_and_relu():
    # torchvision make_layers(batch_norm=True): [conv2d, BatchNorm2d(v), ReLU(inplace=True)]
    report = cnnsize.analyze("vgg16_bn")
    assert [report[f"features.{i}"].type for i in range(7)] == [
        "conv2d", "batchnorm2d", "relu", "conv2d", "batchnorm2d", "relu", "maxpool2d"]
    assert report["features.43"].type == "maxpool2d"               # 13·3 + 5 = 44 modules
    assert report["features.43"].output_shape == (512, 7, 7)
    assert report["features.41"].params == 2 * 512                 # the last BN: γ, β
    report19 = cnnsize.analyze("vgg19_bn")
    assert report19["features.52"].type == "maxpool2d"             # 16·3 + 5 = 53 modules


# ---------------------------------------------------------------- SqueezeNet 1.0


def test_squeezenet1_0_matches_torchvision():
    report = cnnsize.analyze("squeezenet1_0")
    # torchvision SqueezeNet1_0_Weights.IMAGENET1K_V1.meta: num_params 1,248,424, _ops 0.819
    assert report.totals.params == 1_248_424
    assert report.totals.macs == 818_924_576
    assert round(report.totals.macs / 1e9, 3) == 0.819
    assert report["features.0"].params == 3 * 49 * 96 + 96          # 14,208
    assert report["features.0"].output_shape == (96, 109, 109)      # floor((224 − 7)/2) + 1
    assert report["features.0"].notes                               # 109.5 floored: flagged
    assert report["features.2"].output_shape == (96, 54, 54)        # ceil((109 − 3)/2) + 1
    assert report["features.6"].output_shape == (256, 27, 27)       # ceil((54 − 3)/2) + 1
    assert report["features.11"].output_shape == (512, 13, 13)      # ceil((27 − 3)/2) + 1
    # Fire(96, 16, 64, 64): squeeze, then concat of the 1x1 and 3x3 expands, with torchvision's
    # module names; the row features.3 is the Fire module's output (the torch.cat).
    assert report["features.3.squeeze"].params == 96 * 16 + 16      # 1,552
    assert report["features.3.expand1x1"].params == 16 * 64 + 64    # 1,088
    assert report["features.3.expand3x3"].params == 16 * 9 * 64 + 64                # 9,280
    assert report["features.3"].type == "cat"
    assert report["features.3"].output_shape == (128, 54, 54)
    assert report["features.12"].output_shape == (512, 13, 13)
    assert [r.name for r in report.layers if r.name.startswith("features.3.")] == [
        f"features.3.{m}" for m in ("squeeze", "squeeze_activation", "expand1x1",
                                    "expand1x1_activation", "expand3x3", "expand3x3_activation")]
    assert report["classifier.1"].params == 512 * 1000 + 1000       # final_conv: 513,000
    assert report["classifier.3"].output_shape == (1000, 1, 1)
    assert report["flatten"].output_shape == (1000,)


# ---------------------------------------------------------------- GoogLeNet (torchvision)

INCEPTIONS = {  # Table 1 and torchvision: in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


def test_googlenet_matches_torchvision():
    report = cnnsize.analyze("googlenet")
    # torchvision GoogLeNet_Weights.IMAGENET1K_V1.meta: num_params 6,624,904, _ops 1.498
    assert report.totals.params == 6_624_904
    assert report.totals.macs == 1_498_376_192
    assert round(report.totals.macs / 1e9, 3) == 1.498
    bn_betas = sum(r.biases for r in report.layers if r.type == "batchnorm2d")
    assert report.totals.biases == bn_betas + 1000   # convs have bias=False; fc has 1,000
    assert report["conv1.conv"].output_shape == (64, 112, 112)      # floor(112.5), flagged
    assert report["conv1.conv"].notes
    for pool, side in (("maxpool1", 56), ("maxpool2", 28), ("maxpool3", 14), ("maxpool4", 7)):
        assert report[pool].output_shape[1:] == (side, side)
    assert report["inception5b"].output_shape == (1024, 7, 7)      # 384 + 384 + 128 + 128
    assert report["fc"].output_shape == (1000,)
    # torchvision's branch3 is 3x3 where the paper's is 5x5 (pytorch/vision#906)
    assert report["inception3a.branch3.1.conv"].weights == 16 * 32 * 3 * 3      # 4,608
    assert report["inception3a.branch3.1.bn"].params == 2 * 32
    paper = cnnsize.analyze("googlenet_2014")
    assert paper["inception3a.branch3.1.conv"].weights == 16 * 32 * 5 * 5       # 12,800
    saved = sum(r5 * c5 * (25 - 9) for (_, _, _, _, r5, c5, _) in INCEPTIONS.values())
    assert saved == 380_928


def test_googlenet_num_params_excludes_the_aux_heads():
    nn = pytest.importorskip("torch.nn")

    def aux_head(c_in: int) -> nn.Module:
        # torchvision InceptionAux(c_in, 1000): BasicConv2d(c_in, 128, 1), fc1 2048->1024,
        # fc2 1024->num_classes (pooling, ReLU and dropout are functional)
        return nn.ModuleList([nn.Conv2d(c_in, 128, 1, bias=False), nn.BatchNorm2d(128, eps=0.001),
                              nn.Linear(2048, 1024), nn.Linear(1024, 1000)])

    aux1, aux2 = (sum(p.numel() for p in aux_head(c).parameters()) for c in (512, 528))
    assert aux1 == 512 * 128 + 2 * 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 == 3_188_968
    assert aux2 == 528 * 128 + 2 * 128 + 2048 * 1024 + 1024 + 1024 * 1000 + 1000 == 3_191_016
    without = cnnsize.analyze("googlenet").totals.params
    assert without == 6_624_904                      # = torchvision's num_params: no aux heads
    assert without + aux1 + aux2 == 13_004_888       # GoogLeNet(aux_logits=True)


# ---------------------------------------------------------------- GoogLeNet, the 2014 paper

# Szegedy et al. 2014, Table 1: row -> (spec paths in the row, output size (C, H, W),
# params in K, ops in M). "convolution 3x3/1" is the 1x1 reduce (64) and the 3x3 conv (192).
TABLE1 = {
    "convolution 7x7/2": (("conv1",), (64, 112, 112), 2.7, 34),
    "max pool 1": (("maxpool1",), (64, 56, 56), 0, 0),
    "convolution 3x3/1": (("conv2", "conv3"), (192, 56, 56), 112, 360),
    "max pool 2": (("maxpool2",), (192, 28, 28), 0, 0),
    "inception (3a)": (("inception3a",), (256, 28, 28), 159, 128),
    "inception (3b)": (("inception3b",), (480, 28, 28), 380, 304),
    "max pool 3": (("maxpool3",), (480, 14, 14), 0, 0),
    "inception (4a)": (("inception4a",), (512, 14, 14), 364, 73),
    "inception (4b)": (("inception4b",), (512, 14, 14), 437, 88),
    "inception (4c)": (("inception4c",), (512, 14, 14), 463, 100),
    "inception (4d)": (("inception4d",), (528, 14, 14), 580, 119),
    "inception (4e)": (("inception4e",), (832, 14, 14), 840, 170),
    "max pool 4": (("maxpool4",), (832, 7, 7), 0, 0),
    "inception (5a)": (("inception5a",), (832, 7, 7), 1072, 54),
    "inception (5b)": (("inception5b",), (1024, 7, 7), 1388, 71),
    "avg pool": (("avgpool",), (1024, 1, 1), 0, 0),
    "linear": (("fc",), (1000,), 1000, 1),
}


def inception_by_hand(c_in: int, a: int, r3: int, b: int, r5: int, d: int, p: int) -> int:
    """Weights of an Inception module (biases excluded): 1x1 | 1x1, 3x3 | 1x1, 5x5 | pool, 1x1."""
    return c_in * a + c_in * r3 + 9 * r3 * b + c_in * r5 + 25 * r5 * d + c_in * p


# Exact weights (biases excluded) and multiply-adds of each Table 1 row; Table 1 in comments.
EXACT = {
    "convolution 7x7/2": (9_408, 118_013_952),      # 7·7·3·64; ·112·112    table 2.7K, 34M
    "convolution 3x3/1": (114_688, 359_661_568),    # 64·64 + 9·64·192; ·56·56   112K, 360M
    "inception (3a)": (163_328, 128_049_152),       # ·28·28                     159K, 128M
    "inception (3b)": (388_096, 304_267_264),       #                            380K, 304M
    "inception (4a)": (375_552, 73_608_192),        # ·14·14                     364K, 73M
    "inception (4b)": (448_512, 87_908_352),        #                            437K, 88M
    "inception (4c)": (509_440, 99_850_240),        #                            463K, 100M
    "inception (4d)": (604_672, 118_515_712),       #                            580K, 119M
    "inception (4e)": (867_328, 169_996_288),       #                            840K, 170M
    "inception (5a)": (1_042_432, 51_079_168),      # ·7·7                      1072K, 54M
    "inception (5b)": (1_442_816, 70_697_984),      #                           1388K, 71M
    "linear": (1_024_000, 1_024_000),               # 1024·1000                 1000K, 1M
}
SIDE = {"3": 28, "4": 14, "5": 7}                   # output size of inception 3x, 4x, 5x


def test_table1_exact_values_by_hand():
    for name, config in INCEPTIONS.items():
        weights = inception_by_hand(*config)
        assert EXACT[f"inception ({name[-2:]})"] == (weights, weights * SIDE[name[-2]] ** 2)
    assert EXACT["convolution 7x7/2"] == (49 * 3 * 64, 49 * 3 * 64 * 112 * 112)
    conv3x3 = 64 * 64 + 9 * 64 * 192
    assert EXACT["convolution 3x3/1"] == (conv3x3, conv3x3 * 56 * 56)


def rows_under(report: cnnsize.Report, paths: tuple[str, ...]) -> list[cnnsize.LayerStats]:
    """The report rows of the layers (or groups) named by paths."""
    return [r for r in report.layers
            if any(r.name == p or r.name.startswith(p + ".") for p in paths)]


def test_googlenet_2014_reproduces_table1_shapes_and_totals():
    report = cnnsize.analyze("googlenet_2014")
    for row, (paths, size, _, _) in TABLE1.items():
        assert rows_under(report, paths)[-1].output_shape == size, row
    assert report["lrn1"].output_shape == (64, 56, 56)
    assert report["softmax"].output_shape == (1000,)
    assert report.totals.weights == sum(w for w, _ in EXACT.values()) == 6_990_272
    assert report.totals.biases == 8_280            # one per output channel of every conv, + 1,000
    assert report.totals.params == 6_998_552
    assert report.totals.macs == sum(m for _, m in EXACT.values()) == 1_582_671_872
    # Table 1's ops column sums to 1,502M: the paper's "1.5 billion multiply-adds"
    assert sum(ops for *_, ops in TABLE1.values()) == 1_502


def test_googlenet_2014_against_table1_columns():
    report = cnnsize.analyze("googlenet_2014")

    def row_sum(paths: tuple[str, ...], field: str) -> int:
        return sum(getattr(r, field) for r in rows_under(report, paths)
                   if r.type in ("conv2d", "linear"))

    params_match, ops_match = set(), set()
    for row, (paths, _, k_params, m_ops) in TABLE1.items():
        if not k_params:
            continue
        weights, macs = row_sum(paths, "weights"), row_sum(paths, "macs")
        assert (weights, macs) == EXACT[row], row
        # params: weights only, K = 1024 (conv 3x3/1: 114,688 = 112·1024; linear: 1,024,000 =
        # 1000·1024), rounded down (3a: 163,328 = 159.5·1024 is printed 159).
        if weights // 1024 == k_params:
            params_match.add(row)
        # ops: multiply-adds (biases excluded) in units of 10^6, rounded to nearest.
        if round(macs / 1e6) == m_ops:
            ops_match.add(row)
    assert params_match == {"convolution 3x3/1", "inception (3a)", "linear"}
    assert ops_match == set(EXACT) - {"convolution 7x7/2", "inception (4a)", "inception (5a)"}
    # Where the ops entry is wrong it is the (wrong) params entry times the output positions:
    assert round(364 * 1024 * 14 * 14 / 1e6) == 73       # 4a: exact 73.6M, params 366.75K
    assert round(1072 * 1024 * 7 * 7 / 1e6) == 54        # 5a: exact 51.1M, params 1,018K
    assert round(2.7e3 * 112 * 112 / 1e6) == 34          # conv1: exact 118.0M, params 9.2K


# ---------------------------------------------------------------- fvcore


@pytest.mark.parametrize("name", ["vgg11", "squeezenet1_0", "googlenet"])
def test_macs_agree_with_fvcore(name):
    """fvcore counts one per multiply-add of convs and linears, as cnnsize's MACs do; its total()
    also counts 1 per input element of an adaptive average pool and 2 per element of an
    inference-mode BatchNorm (fvcore/nn/jit_handles.py), which cnnsize keeps in FLOPs only."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("fvcore")
    from fvcore.nn import FlopCountAnalysis

    from cnnsize.verify.build import build

    report = cnnsize.analyze(name)
    analysis = FlopCountAnalysis(build(name), torch.randn(1, *report.input_shape))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = analysis.by_operator()
    assert by_op["conv"] + by_op.get("linear", 0) == report.totals.macs
    rows = list(report.layers)
    pool_inputs = sum(math.prod(prev.output_shape) for prev, row in itertools.pairwise(rows)
                      if row.type == "adaptiveavgpool2d")
    bn_elements = sum(r.units for r in rows if r.type == "batchnorm2d")
    assert analysis.total() == report.totals.macs + pool_inputs + 2 * bn_elements
