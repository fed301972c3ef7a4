"""Exact figures for ConvNeXt-T, ViT-B/16, FCN-ResNet50 (torchvision's) and the 2015 U-Net.

Published numbers come from torchvision's weight metadata (torchvision/models/convnext.py,
vision_transformer.py, segmentation/fcn.py: `*_Weights.<DEFAULT>.meta`, "num_params" and "_ops"
in GFLOPS, which torchvision counts as multiply-adds), and, for the U-Net, from Fig. 1 of
Ronneberger, Fischer & Brox 2015 and the conv formulas worked by hand. With torchvision
installed, each torchvision entry is also held to the module it describes: its parameters,
torch.utils.flop_counter on it (2 FLOPs per MAC), and its `cnnsize import`, row by row.
Row-by-row shapes, params and buffers against the built torch models are in tests/test_zoo.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import cnnsize

# torchvision *_Weights.<DEFAULT>.meta: (num_params, _ops in GFLOPS, multiply-adds)
PUBLISHED = {
    "convnext_tiny": (28_589_128, 4.456),       # ConvNeXt_Tiny_Weights.IMAGENET1K_V1
    "vit_b_16": (86_567_656, 17.564),           # ViT_B_16_Weights.IMAGENET1K_V1
    "fcn_resnet50": (35_322_218, 152.717),      # FCN_ResNet50_Weights.COCO_WITH_VOC_LABELS_V1
}
EXACT_MACS = {"convnext_tiny": 4_455_531_264, "vit_b_16": 17_563_828_224,
              "fcn_resnet50": 152_716_512_000}


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_params_and_gflops(name):
    report = cnnsize.analyze(name)
    params, gflops = PUBLISHED[name]
    assert report.totals.params == params
    assert report.totals.macs == EXACT_MACS[name]
    assert round(report.totals.macs / 1e9, 3) == gflops


# ---------------------------------------------------------------- ConvNeXt-T


def test_convnext_tiny_params_by_hand():
    def cn_block(d: int) -> int:
        # 7x7 depthwise conv 49d + d, LayerNorm 2d, Linear d->4d 4d² + 4d, 4d->d 4d² + d, γ d
        return 50 * d + 2 * d + 4 * d * d + 4 * d + 4 * d * d + d + d   # 8d² + 58d

    def downsample(c_in: int, c_out: int) -> int:
        return 2 * c_in + 4 * c_in * c_out + c_out   # LayerNorm2d, 2x2 conv with bias

    report = cnnsize.analyze("convnext_tiny")
    assert cn_block(96) == 79_296
    assert report["features.1.0"].type == "add"
    assert sum(r.params for r in report.layers if r.name.startswith("features.1.0.")) == 79_296
    assert report["features.1.0.layer_scale"].params == 96          # a 96x1x1 nn.Parameter
    stem = 3 * 16 * 96 + 96 + 2 * 96                                 # 4x4 conv, LayerNorm2d
    blocks = sum(n * cn_block(d) for d, n in ((96, 3), (192, 3), (384, 9), (768, 3)))
    downs = downsample(96, 192) + downsample(192, 384) + downsample(384, 768)
    head = 2 * 768 + 768 * 1000 + 1000                               # LayerNorm2d, Linear
    assert stem + blocks + downs + head == report.totals.params == 28_589_128


def test_convnext_tiny_shapes_and_stochastic_depth():
    report = cnnsize.analyze("convnext_tiny")
    for stage, (c, side) in {1: (96, 56), 3: (192, 28), 5: (384, 14), 7: (768, 7)}.items():
        assert report[f"features.{stage}.0.block.0"].output_shape == (c, side, side)
        assert report[f"features.{stage}.0.block.3"].output_shape == (side, side, 4 * c)
    assert report["classifier.2"].output_shape == (1000,)
    net = cnnsize.load("convnext_tiny")
    p = [net.op(f"features.{s}.{b}.stochastic_depth").kind.p
         for s, n in ((1, 3), (3, 3), (5, 9), (7, 3)) for b in range(n)]
    assert p == pytest.approx([0.1 * k / 17 for k in range(18)])     # linear, 0 to 0.1
    assert all(report[r.name].macs == 0 for r in report.layers if r.type == "stochasticdepth")


# ---------------------------------------------------------------- ViT-B/16


def test_vit_b_16_by_hand():
    d, mlp, tokens, layers = 768, 3072, 14 * 14 + 1, 12
    per_layer = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * mlp + mlp) + (mlp * d + d)
    assert per_layer == 12 * d * d + 13 * d == 7_087_872
    params = (3 * 16 * 16 * d + d) + d + tokens * d + layers * per_layer + 2 * d + (d * 1000 + 1000)
    # conv_proj 590,592; class token 768; pos_embedding 197·768 = 151,296; final LN; head
    report = cnnsize.analyze("vit_b_16")
    assert report.totals.params == params == 86_567_656
    # per layer: q, k, v, out projections and the MLP, 12·d² per token; QKᵀ and AV 2·197²·d
    macs = 3 * 16 * 16 * d * 196 + layers * (12 * d * d * tokens + 2 * tokens * tokens * d) + d * 1000
    assert report.totals.macs == macs == 17_563_828_224
    assert report["encoder.layers.encoder_layer_0.self_attention"].macs == (
        4 * d * d * tokens + 2 * tokens * tokens * d) == 524_391_936
    assert report["class_token"].output_shape == (197, 768)
    assert report["class_token_select"].output_shape == (768,)
    assert report["encoder.layers.encoder_layer_11.add"].inputs == (
        "encoder.layers.encoder_layer_11.dropout", "encoder.layers.encoder_layer_10.add_2")


# ---------------------------------------------------------------- FCN-ResNet50


def test_fcn_resnet50_dilation_and_heads():
    report = cnnsize.analyze("fcn_resnet50")
    assert report.outputs == ("out", "aux")
    assert report["out"].output_shape == report["aux"].output_shape == (21, 520, 520)
    net = cnnsize.load("fcn_resnet50")
    dilations = {layer: [net.op(f"backbone.{layer}.{b}.conv2").kind.dilation[0] for b in range(n)]
                 for layer, n in (("layer3", 6), ("layer4", 3))}
    assert dilations == {"layer3": [1, 2, 2, 2, 2, 2], "layer4": [2, 4, 4]}
    # output stride 8: 520 -> 260 -> 130 -> 65, then 65 through the dilated layer3 and layer4
    assert report["backbone.maxpool"].output_shape == (64, 130, 130)
    assert report["backbone.layer2.3.relu"].output_shape == (512, 65, 65)
    assert report["backbone.layer3.5.relu"].output_shape == (1024, 65, 65)
    assert report["backbone.layer4.2.relu"].output_shape == (2048, 65, 65)
    assert report["classifier.0"].inputs == ("backbone.layer4.2.relu",)
    assert report["aux_classifier.0"].inputs == ("backbone.layer3.5.relu",)
    heads = {}
    for head, (c_in, c) in {"classifier": (2048, 512), "aux_classifier": (1024, 256)}.items():
        heads[head] = sum(r.params for r in report.layers if r.name.startswith(head + "."))
        assert heads[head] == 9 * c_in * c + 2 * c + c * 21 + 21    # 3x3 no bias, BN, 1x1
    assert heads == {"classifier": 9_448_981,        # 9,437,184 + 1,024 + 10,773
                     "aux_classifier": 2_365_205}    # 2,359,296 + 512 + 5,397
    backbone = report.totals.params - sum(heads.values())
    # dilation changes no weight: resnet50's 25,557,032 less its fc (2,049,000)
    assert backbone == cnnsize.analyze("resnet50").totals.params - (2048 * 1000 + 1000) == 23_508_032


# ---------------------------------------------------------------- U-Net (2015)

# Fig. 1: (level, rows, channels, sides after each of the two 3x3 convs)
UNET_FIG1 = [
    ("down0", 64, (570, 568)), ("down1", 128, (282, 280)), ("down2", 256, (138, 136)),
    ("down3", 512, (66, 64)), ("bottom", 1024, (30, 28)),
    ("up3", 512, (54, 52)), ("up2", 256, (102, 100)), ("up1", 128, (198, 196)),
    ("up0", 64, (390, 388)),
]
UNET_POOLED = {"down1": 284, "down2": 140, "down3": 68, "bottom": 32}   # 568/2, 280/2, ...
UNET_UP = {"up3": 56, "up2": 104, "up1": 200, "up0": 392}               # 2 · 28, 2 · 52, ...


def unet_convs() -> Iterator[tuple[int, int, int, int]]:
    """(kernel, C_in, C_out, output side) of every conv of Fig. 1, from the paper's rules."""
    side, c_in = 572, 1
    for level, c in enumerate((64, 128, 256, 512, 1024)):
        if level:
            side //= 2                                   # 2x2 max pool, stride 2
        for _ in range(2):
            side -= 2                                    # unpadded 3x3
            yield 3, c_in, c, side
            c_in = c
    for c in (512, 256, 128, 64):
        side *= 2                                        # 2x2 up-conv, stride 2, halves C
        yield 2, c_in, c, side
        c_in = 2 * c                                     # cropped copy + up-conv output
        for _ in range(2):
            side -= 2
            yield 3, c_in, c, side
            c_in = c
    yield 1, 64, 2, side


def test_unet_reproduces_fig1_shapes():
    report = cnnsize.analyze("unet")
    assert report.input_shape == (1, 572, 572)
    for level, c, (a, b) in UNET_FIG1:
        assert report[f"{level}.conv1"].output_shape == (c, a, a), level
        assert report[f"{level}.conv2"].output_shape == (c, b, b), level
    for level, side in UNET_POOLED.items():
        assert report[f"{level}.pool"].output_shape[1:] == (side, side)
    for level, side in UNET_UP.items():
        c = report[f"{level}.conv1"].output_shape[0]
        assert report[f"{level}.upconv"].output_shape == (c, side, side)      # halves 2c -> c
        assert report[f"{level}.crop"].output_shape == (c, side, side)
        assert report[f"{level}.concat"].output_shape == (2 * c, side, side)
    assert report["head"].output_shape == (2, 388, 388)
    assert report.outputs == ("head",)


def test_unet_center_crops():
    report = cnnsize.analyze("unet")
    net = cnnsize.load("unet")
    # (encoder side − decoder side) / 2 cropped on every side
    crops = {"up3": ("down3", 4), "up2": ("down2", 16), "up1": ("down1", 40), "up0": ("down0", 88)}
    for level, (skip, k) in crops.items():
        enc = report[f"{skip}.relu2"].output_shape[-1]
        assert (enc - UNET_UP[level]) // 2 == k
        assert report[f"{level}.crop"].inputs == (f"{skip}.relu2",)
        assert net.op(f"{level}.crop").kind.padding == (-k,) * 4
        assert report[f"{level}.concat"].inputs == (f"{level}.crop", f"{level}.upconv")


def test_unet_params_and_macs_by_hand():
    convs = list(unet_convs())
    assert [side for *_, side in convs][-2:] == [388, 388]
    params = sum(k * k * c_in * c + c for k, c_in, c, _ in convs)
    # 3x3 convs 28,244,288 + 2x2 up-convs 2,786,240 + 1x1 130
    assert sum(9 * i * c + c for k, i, c, _ in convs if k == 3) == 28_244_288
    assert sum(4 * i * c + c for k, i, c, _ in convs if k == 2) == 2_786_240
    report = cnnsize.analyze("unet")
    assert report.totals.params == params == 31_030_658
    # a conv: k·k·C_in·C_out per output position; an up-conv: per input position (side / 2)
    macs = sum(k * k * c_in * c * (side // 2 if k == 2 else side) ** 2 for k, c_in, c, side in convs)
    assert report.totals.macs == macs == 150_428_424_448


# ---------------------------------------------------------------- against torchvision itself


def torchvision_model(name: str) -> tuple[Any, tuple[int, ...]]:
    models = pytest.importorskip("torchvision.models")
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    if name == "fcn_resnet50":
        return models.segmentation.fcn_resnet50(weights=None, weights_backbone=None,
                                                aux_loss=True, num_classes=21).eval(), (3, 520, 520)
    return getattr(models, name)(weights=None).eval(), (3, 224, 224)


def fcn_name(name: str) -> str:
    """The module path `cnnsize import` gives a row of fcn_resnet50.yaml: torchvision's
    Bottleneck calls its one `relu` three times (relu, relu_2, relu_3)."""
    m = re.fullmatch(r"(backbone\.layer\d\.\d+)\.relu(1|2)?", name)
    if m:
        return m[1] + {"1": ".relu", "2": ".relu_2", None: ".relu_3"}[m[2]]
    return {"out": "interpolate", "aux": "interpolate_2"}.get(name, name)


IMPORTED_NAME: dict[str, Callable[[str], str]] = {
    "convnext_tiny": lambda n: n,
    "vit_b_16": lambda n: {"class_token_select": "getitem"}.get(n, n),
    "fcn_resnet50": fcn_name,
}
# what one zoo row is where the import has several: LayerNorm2d's permute, layer_norm, permute
GROUPS = {"layernorm2d": ["permute", "layernorm", "permute"]}


def flop_counter_macs(model: Any, shape: tuple[int, ...]) -> tuple[int, Any]:
    """torch.utils.flop_counter's FLOPs over one forward, halved, and the output. MHA's fast
    path and the fused SDPA kernels have no formula there: the math path runs instead."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from cnnsize.verify.crosscheck import _countable_attention

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad(), _countable_attention():
        out = model(torch.randn(1, *shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2, out


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_entry_equals_torchvision_and_its_import(name):
    model, shape = torchvision_model(name)
    models = pytest.importorskip("torchvision.models")
    from cnnsize.verify.importer import from_module

    weights = models.get_model_weights(name).DEFAULT
    assert (weights.meta["num_params"], weights.meta["_ops"]) == PUBLISHED[name]
    zoo = cnnsize.analyze(name)
    assert zoo.input_shape == shape
    assert zoo.totals.params == sum(p.numel() for p in model.parameters()) == PUBLISHED[name][0]
    assert zoo.totals.buffers == sum(b.numel() for b in model.buffers())
    counter_macs, out = flop_counter_macs(model, shape)
    assert 2 * zoo.totals.macs == 2 * counter_macs
    shapes = [tuple(t.shape[1:]) for t in (out.values() if isinstance(out, dict) else [out])]
    assert [zoo[o].output_shape for o in zoo.outputs] == shapes

    imported = cnnsize.analyze(from_module(model, shape))
    rows, j = list(imported.layers), 0
    rename = IMPORTED_NAME[name]
    paths = [rename(row.name) for row in zoo.layers] + [""]
    for k, row in enumerate(zoo.layers):   # each zoo row against the imported rows of its module
        path, following = paths[k], paths[k + 1]
        group = []
        while j < len(rows) and (rows[j].name == path or rows[j].name.startswith(path + ".")) \
                and not (group and rows[j].name == following):
            group.append(rows[j])
            j += 1
        assert [r.type for r in group] == GROUPS.get(row.type, [row.type]), (row.name, group)
        assert row.output_shape == group[-1].output_shape, row.name
        for field in ("params", "buffers", "macs", "flops", "connections"):
            assert getattr(row, field) == sum(getattr(r, field) for r in group), (row.name, field)
        assert row.activation_bytes == sum(r.activation_bytes for r in group), row.name
    assert j == len(rows), rows[j].name
    assert [imported[o].output_shape for o in imported.outputs] == shapes
    for field in ("params", "buffers", "macs", "flops", "connections"):
        assert getattr(zoo.totals, field) == getattr(imported.totals, field), field
    assert zoo.totals.activation_bytes == imported.totals.activation_bytes
    assert zoo.totals.peak_bytes == imported.totals.peak_bytes
