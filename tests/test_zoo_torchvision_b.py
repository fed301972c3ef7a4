"""torchvision's ResNets, DenseNet-121 and Inception v3 in the zoo: published counts, shapes by hand, fvcore.

Published figures: the `meta` of torchvision.models.<Net>_Weights.IMAGENET1K_V1 in
torchvision/models/{resnet,densenet,inception}.py: "num_params", and "_ops", the GFLOPS column of
the model docs, which counts conv and linear multiply-adds, bias excluded (pytorch/vision PR #6936).
torchvision's ResNet-50/101/152 are "v1.5" (stride on the 3x3 conv); He et al. 2016, Table 1
lists the v1 networks (stride on the first 1x1 conv), checked below too.

fvcore's FlopCountAnalysis counts more than cnnsize's MACs, and exactly this more
(fvcore/nn/flop_count.py, _DEFAULT_SUPPORTED_OPS; fvcore/nn/jit_handles.py):
  aten::batch_norm           2 per element in eval mode with affine (batchnorm_flop_jit)
  aten::adaptive_avg_pool2d  1 per input element (elementwise_flop_counter(1, 0))
It has no handle for ReLU, max/avg pooling, the residual add or cat (0, as in cnnsize's MACs).
"""

from __future__ import annotations

import functools
from importlib import resources

import pytest
import yaml

import cnnsize

torch = pytest.importorskip("torch")
pytest.importorskip("fvcore")
from fvcore.nn import FlopCountAnalysis  # noqa: E402

from cnnsize.verify.build import build  # noqa: E402

# name: (num_params, _ops in GFLOPS), from torchvision's <Net>_Weights.IMAGENET1K_V1.meta
PUBLISHED = {
    "resnet18": (11_689_512, 1.814),
    "resnet34": (21_797_672, 3.664),
    "resnet50": (25_557_032, 4.089),
    "resnet101": (44_549_160, 7.801),
    "resnet152": (60_192_808, 11.514),
    "densenet121": (7_978_856, 2.834),
    "inception_v3": (27_161_264, 5.713),   # num_params includes the AuxLogits head: see below
}

# Exact multiply-adds, cnnsize's count; for resnet18, densenet121 and inception_v3 also fvcore's
# conv + linear count of the built torch model (test_macs_equal_fvcores_count; resnet50's
# 4,089,184,256 was checked the same way while writing this file: tracing it takes ~1 s more).
MACS = {
    "resnet18": 1_814_073_344,
    "resnet34": 3_663_761_408,
    "resnet50": 4_089_184_256,
    "resnet101": 7_801_405_440,
    "resnet152": 11_513_626_624,
    "densenet121": 2_834_161_664,
    "inception_v3": 5_713_216_096,
}

# Inception3(aux_logits=True).AuxLogits (torchvision/models/inception.py, InceptionAux on the
# 768x17x17 output of Mixed_6e): avg_pool2d 5/3 → 768x5x5, BasicConv2d 768→128 1x1,
# BasicConv2d 128→768 5x5 → 768x1x1, adaptive pool, flatten, fc 768→1000.
AUX_PARAMS = (768 * 128 + 2 * 128            # conv0: conv + bn = 98,560
              + 128 * 768 * 5 * 5 + 2 * 768  # conv1: conv + bn = 2,459,136
              + 768 * 1000 + 1000)           # fc: 769,000  →  3,326,696


@functools.cache
def report(name: str) -> cnnsize.Report:
    return cnnsize.analyze(name)


@pytest.mark.parametrize("name", sorted(MACS))
def test_published_params_and_gflops(name):
    params, gflops = PUBLISHED[name]
    if name == "inception_v3":
        params -= AUX_PARAMS                       # 27,161,264 − 3,326,696 = 23,834,568
    assert report(name).totals.params == params
    assert report(name).totals.macs == MACS[name]
    assert round(MACS[name] / 1e9, 3) == gflops                  # the meta's "_ops"
    assert round(MACS[name] / 1e9, 2) == round(gflops, 2)        # the docs' GFLOPS column


def test_inception_aux_head_by_hand():
    assert AUX_PARAMS == 3_326_696
    assert report("inception_v3").totals.params == 23_834_568    # Inception3(aux_logits=False)
    assert report("inception_v3").totals.params + AUX_PARAMS == 27_161_264
    # The same head as a spec: its params, and its MACs on Mixed_6e's output.
    conv = [{"type": "conv2d", "bias": False}, {"type": "batchnorm2d", "eps": 0.001},
            {"type": "relu"}]
    aux = cnnsize.analyze({"input": [768, 17, 17], "layers": [
        {"type": "avgpool2d", "kernel_size": 5, "stride": 3},                     # 768x5x5
        {**conv[0], "out_channels": 128, "kernel_size": 1}, conv[1], conv[2],
        {**conv[0], "out_channels": 768, "kernel_size": 5}, conv[1], conv[2],     # 768x1x1
        {"type": "adaptiveavgpool2d", "output_size": 1},
        {"type": "flatten"}, {"type": "linear", "out_features": 1000}]})
    assert aux.totals.params == AUX_PARAMS
    assert aux.totals.macs == 768 * 128 * 25 + 128 * 768 * 25 + 768 * 1000     # 5,683,200
    # torchvision's 5.713 GFLOPS leave the head out (it runs only in training mode): with it
    # the count would round to 5.719.
    assert round((MACS["inception_v3"] + aux.totals.macs) / 1e9, 3) == 5.719


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "inception_v3"])
def test_macs_equal_fvcores_count(name):
    size = 299 if name == "inception_v3" else 224
    analysis = FlopCountAnalysis(build(name), torch.randn(1, 3, size, size))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_op = analysis.by_operator()
    rep = report(name)
    assert by_op["conv"] + by_op["linear"] == rep.totals.macs == MACS[name]
    # fvcore's total adds 2 per BatchNorm output element and 1 per adaptive-pool input element.
    bn = sum(2 * r.units for r in rep.layers if r.type == "batchnorm2d")
    pool = sum(r.connections for r in rep.layers if r.type == "adaptiveavgpool2d")
    assert analysis.total() == rep.totals.macs + bn + pool


# ---------------------------------------------------------------- ResNets


def test_resnet_shapes_by_hand():
    r18, r50, r152 = report("resnet18"), report("resnet50"), report("resnet152")
    assert r18["conv1"].output_shape == (64, 112, 112)          # floor((224 − 7 + 2·3)/2) + 1
    assert r18["maxpool"].output_shape == (64, 56, 56)          # floor((112 − 3 + 2·1)/2) + 1
    assert r18["conv1"].weights == 3 * 64 * 7 * 7               # 9,408, bias=False
    # BasicBlock: the stride sits on conv1; a projection only where the size changes.
    assert r18["layer2.0.conv1"].output_shape == (128, 28, 28)
    assert r18["layer2.0.downsample.0"].weights == 64 * 128     # 8,192
    names18 = {r.name for r in r18.layers}
    assert "layer1.0.downsample.0" not in names18 and "layer2.1.downsample.0" not in names18
    assert r18["layer4.1"].output_shape == (512, 7, 7)
    assert r18["fc"].params == 512 * 1000 + 1000                # 513,000
    # Bottleneck v1.5: conv1 keeps 56x56, the 3x3 conv2 strides to 28x28.
    assert r50["layer2.0.conv1"].output_shape == (128, 56, 56)
    assert r50["layer2.0.conv2"].output_shape == (128, 28, 28)
    assert r50["layer1.0.downsample.0"].weights == 64 * 256     # 64 → 256 channels, stride 1
    assert r50["layer4.2"].output_shape == (2048, 7, 7)
    assert r50["fc"].params == 2048 * 1000 + 1000               # 2,049,000
    # ResNet-152: 3 + 8 + 36 + 3 = 50 bottlenecks of 3 convs, + conv1 + fc = 152 layers; the
    # 4 projection convs (one per stage) are not counted in the name.
    assert sum(r.type == "add" for r in r152.layers) == 50
    assert sum(r.type in ("conv2d", "linear") for r in r152.layers) == 50 * 3 + 2 + 4
    assert r152["layer3.35"].output_shape == (1024, 14, 14)


def test_resnet_params_by_hand():
    bn = 2   # γ and β per channel

    def basic(c_in, c, project):
        return (c_in * c * 9 + bn * c + c * c * 9 + bn * c
                + (c_in * c + bn * c if project else 0))

    stem = 3 * 64 * 49 + bn * 64
    r18 = (stem + 2 * basic(64, 64, False)
           + sum(basic(c // 2, c, True) + basic(c, c, False) for c in (128, 256, 512))
           + 512 * 1000 + 1000)
    assert r18 == report("resnet18").totals.params == 11_689_512


# He et al. 2016, Table 1, "FLOPs" row (multiply-adds, x 10^9), and the exact count of the
# paper's networks: v1 bottlenecks stride their first 1x1 conv (BasicBlocks are the same in both).
PAPER = {
    "resnet18": (1.8, 1_814_073_344),
    "resnet34": (3.6, 3_663_761_408),    # rounds to 3.7: the paper truncates here
    "resnet50": (3.8, 3_857_973_248),    # rounds to 3.9: truncated here too
    "resnet101": (7.6, 7_570_194_432),   # but rounded here (truncation would give 7.5)
    "resnet152": (11.3, 11_282_415_616),
}


@pytest.mark.parametrize("name", sorted(PAPER))
def test_resnet_v1_stride_placement_gives_the_papers_figures(name):
    paper_gflops, exact = PAPER[name]
    data = yaml.safe_load((resources.files("cnnsize") / "zoo" / f"{name}.yaml").read_text())
    if "bottleneck" in data["blocks"]:
        body = data["blocks"]["bottleneck"]["layers"][0]["body"]
        assert (body[0]["name"], body[3]["name"]) == ("conv1", "conv2")
        body[0]["stride"], body[3]["stride"] = "$stride", 1
    v1 = cnnsize.analyze(data)
    assert v1.totals.params == PUBLISHED[name][0]           # the stride moves no weights
    assert v1.totals.macs == exact
    assert v1.totals.macs <= MACS[name]                     # v1.5 costs more
    assert abs(exact / 1e9 - paper_gflops) < 0.065          # one significant digit, loosely


# ---------------------------------------------------------------- DenseNet-121


def test_densenet121_shapes_by_hand():
    r = report("densenet121")
    block = "features.denseblock{}.denselayer{}"
    assert r["features.pool0"].output_shape == (64, 56, 56)
    assert r[block.format(1, 1)].output_shape == (96, 56, 56)          # 64 + 32, concat
    assert r[block.format(1, 6)].output_shape == (256, 56, 56)         # 64 + 6·32
    assert r["features.transition1.conv"].output_shape == (128, 56, 56)
    assert r["features.transition1.pool"].output_shape == (128, 28, 28)
    assert r[block.format(2, 12)].output_shape == (512, 28, 28)        # 128 + 12·32
    assert r[block.format(3, 24)].output_shape == (1024, 14, 14)       # 256 + 24·32
    assert r[block.format(4, 16)].output_shape == (1024, 7, 7)         # 512 + 16·32
    assert r["features.norm5"].output_shape == (1024, 7, 7)
    # Layer 24 of block 3 reads 256 + 23·32 = 992 channels into its 1x1 bottleneck of 4·32.
    assert r[block.format(3, 24) + ".new.conv1"].weights == 992 * 128
    assert r[block.format(3, 24) + ".new.conv2"].weights == 128 * 32 * 3 * 3
    assert r["classifier"].params == 1024 * 1000 + 1000


def test_densenet121_params_by_hand():
    k, bn = 32, 2
    total, c = 3 * 64 * 49 + bn * 64, 64                       # conv0, norm0
    for n, last in ((6, False), (12, False), (24, False), (16, True)):
        for _ in range(n):                                     # norm1, conv1, norm2, conv2
            total += bn * c + c * 4 * k + bn * 4 * k + 4 * k * k * 9
            c += k
        if not last:                                           # norm, conv 1x1 to c // 2
            total += bn * c + c * (c // 2)
            c //= 2
    total += bn * c + c * 1000 + 1000                          # norm5, classifier
    assert total == report("densenet121").totals.params == 7_978_856


# ---------------------------------------------------------------- Inception v3


def test_inception_v3_shapes_by_hand():
    # The "# N x C x H x W" comments in torchvision's Inception3._forward.
    expected = {
        "Conv2d_1a_3x3.conv": (32, 149, 149), "Conv2d_2a_3x3.conv": (32, 147, 147),
        "Conv2d_2b_3x3.conv": (64, 147, 147), "maxpool1": (64, 73, 73),
        "Conv2d_3b_1x1.conv": (80, 73, 73), "Conv2d_4a_3x3.conv": (192, 71, 71),
        "maxpool2": (192, 35, 35), "Mixed_5b": (256, 35, 35), "Mixed_5c": (288, 35, 35),
        "Mixed_5d": (288, 35, 35), "Mixed_6a": (768, 17, 17), "Mixed_6b": (768, 17, 17),
        "Mixed_6c": (768, 17, 17), "Mixed_6d": (768, 17, 17), "Mixed_6e": (768, 17, 17),
        "Mixed_7a": (1280, 8, 8), "Mixed_7b": (2048, 8, 8), "Mixed_7c": (2048, 8, 8),
        "avgpool": (2048, 1, 1), "dropout": (2048, 1, 1), "flatten": (2048,), "fc": (1000,),
    }
    r = report("inception_v3")
    assert {name: r[name].output_shape for name in expected} == expected
    # InceptionE's nested split: 384 (1x3) + 384 (3x1) = 768 channels per inner concat, a row
    # named after the torch.cat's variable in torchvision's forward().
    assert r["Mixed_7b.branch3x3"].output_shape == (768, 8, 8)
    assert r["Mixed_7c.branch3x3dbl"].output_shape == (768, 8, 8)
    assert r["Mixed_7b.branch3x3.branch3x3_2a.conv"].weights == 384 * 384 * 1 * 3
    assert r["Mixed_7b.branch3x3_1.conv"].weights == 1280 * 384     # torchvision's own path
    # InceptionB/D pool branches (F.max_pool2d) pass their channels on: 288 → 288, 768 → 768.
    assert r["Mixed_6a.max_pool2d"].output_shape == (288, 17, 17)
    assert r["Mixed_7a.max_pool2d"].output_shape == (768, 8, 8)
    # Mixed_6b, channels_7x7 = 128: a 1x7 conv 128 → 128 at 17x17.
    conv = r["Mixed_6b.branch7x7_2.conv"]
    assert conv.weights == 128 * 128 * 7 and conv.macs == 128 * 128 * 7 * 17 * 17
    assert r["Mixed_5b.branch_pool.conv"].weights == 192 * 32   # pool_features 32
    # Inline branches: an Inception module's convs keep torchvision's names, one level down.
    assert [x.name for x in r.layers if x.name.startswith("Mixed_5b.") and x.type == "conv2d"] == [
        f"Mixed_5b.{m}.conv" for m in ("branch1x1", "branch5x5_1", "branch5x5_2", "branch3x3dbl_1",
                                       "branch3x3dbl_2", "branch3x3dbl_3", "branch_pool")]
    assert r["fc"].params == 2048 * 1000 + 1000
