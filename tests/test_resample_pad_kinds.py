"""Resampling (upsample, pixel shuffle), padding layers and the activations added with them
(PReLU, SELU, GLU, …), against torch built here, independently of cnnsize's own mapping.

The generic tests pick up every kind's `examples` too (test_oracle_torch.py: shapes and params;
test_saved.py: what autograd saves); these check what they cannot: many sizes and scales,
PyTorch's padding order and limits, receptive fields, the import of the functional forms, and
what fvcore, flop_counter and torchinfo count.
"""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from fractions import Fraction

import pytest

import cnnsize
from cnnsize.conventions import Conventions
from cnnsize.errors import CnnsizeError, ShapeError, SpecError
from cnnsize.layers import REGISTRY

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from cnnsize.verify import crosscheck as cc  # noqa: E402
from cnnsize.verify.build import build  # noqa: E402
from cnnsize.verify.importer import from_module  # noqa: E402

NEW_KINDS = ["upsample", "upsamplingnearest2d", "upsamplingbilinear2d", "pixelshuffle",
             "pixelunshuffle", "pad", "prelu", "selu", "celu", "softsign", "tanhshrink",
             "hardtanh", "threshold", "softshrink", "hardshrink", "logsigmoid", "logsoftmax",
             "softmin", "softmax2d", "glu",
             *(f"{p}{n}d" for p in ("zeropad", "constantpad", "reflectionpad", "replicationpad",
                                   "circularpad") for n in (1, 2, 3))]


def shape_of(kind_name, args, shape):
    """cnnsize's output shape for one example, or the error it raises."""
    kind = REGISTRY[kind_name].from_args(args)
    return kind.analyze([tuple(shape)]).output_shape


def torch_shape(run, shape):
    """torch's output shape without the batch dim, or None where it refuses (or is empty)."""
    try:
        with torch.no_grad():
            out = run(torch.zeros(1, *shape))
    except (RuntimeError, ValueError, NotImplementedError, IndexError):
        return None
    return tuple(out.shape[1:]) if out.numel() else None


def agree(kind_name, args, shape, run):
    """cnnsize refuses exactly where torch does, and otherwise gives torch's shape; the one
    exception: a circular pad that crops, which PyTorch's _pad_circular does for some sizes
    and fails inside torch for others (cnnsize refuses all of them, saying so)."""
    expected = torch_shape(run, shape)
    try:
        got, refused = shape_of(kind_name, args, shape), ""
    except CnnsizeError as e:
        got, refused = None, str(e)
    if "circular padding cannot crop" in refused:
        pads = args.get("padding", args.get("pad"))
        assert min(pads) < 0 if isinstance(pads, list) else pads < 0
        return
    assert got == expected, (kind_name, args, shape, refused)


def row(spec_layers, input_shape, **kw):
    report = cnnsize.analyze({"input": list(input_shape), "layers": spec_layers}, **kw)
    return report, report.layers[-1]


# ---------------------------------------------------------------- upsample: sizes

WIDTHS = [*range(1, 41), 100, 101, 224, 1000, 1023]
SCALES = [0.1, 0.2, 0.29, 0.3, 0.5, 0.57, 0.7, 0.9, 1.01, 1.1, 1.3, 1.5, 1.7, 2.0, 2.1, 2.5,
          3.3, 1 / 3, 2 / 3, 4.0, 7.7, 1.25]


def test_upsample_sizes_are_pytorchs_for_about_3000_scales():
    """floor(W1 · scale) in double precision, whatever the mode: 45 widths × 22 scales × 3
    modes = 2,970 cases against F.interpolate, with the size refused where torch refuses it."""
    cases = 0
    for w, s, (mode, recompute) in itertools.product(
            WIDTHS, SCALES, [("nearest", None), ("bilinear", None), ("nearest-exact", True)]):
        args = {"scale_factor": [1.0, s], "mode": mode, "recompute_scale_factor": recompute}
        agree("upsample", args, (1, 2, w), lambda x, args=args: F.interpolate(x, **args))
        cases += 1
    assert cases == 2_970


def test_upsample_modes_dims_and_sizes_match_nn_upsample():
    rng = random.Random(0)
    modes = {1: ["nearest", "nearest-exact", "linear", "bilinear"],
             2: ["nearest", "nearest-exact", "bilinear", "bicubic", "linear", "trilinear"],
             3: ["nearest", "nearest-exact", "trilinear", "bilinear"]}
    for ndim, mode_list in modes.items():
        for mode in mode_list:
            for _ in range(12):
                spatial = tuple(rng.randint(1, 9) for _ in range(ndim))
                if rng.random() < 0.5:
                    args = {"size": rng.randint(1, 12) if rng.random() < 0.5
                            else [rng.randint(1, 12) for _ in range(ndim)]}
                else:
                    args = {"scale_factor": rng.choice([0.5, 1.5, 2, 3, 0.75, 2.5])}
                args["mode"] = mode
                if mode not in ("nearest", "nearest-exact") and rng.random() < 0.5:
                    args["align_corners"] = rng.random() < 0.5
                module = nn.Upsample(**args)
                agree("upsample", args, (2, *spatial), module)


def test_fixed_mode_upsamplings_match_torch():
    for args in ({"scale_factor": 2}, {"scale_factor": 1.7}, {"size": [3, 9]}, {"size": 5}):
        for name, cls in (("upsamplingnearest2d", nn.UpsamplingNearest2d),
                          ("upsamplingbilinear2d", nn.UpsamplingBilinear2d)):
            agree(name, args, (3, 7, 5), cls(**args))


def test_a_product_that_rounds_is_flagged_and_double_precision_is_followed():
    _, up = row([{"type": "upsample", "scale_factor": 1.5}], (3, 7, 8))
    assert up.output_shape == (3, 10, 12)  # floor(7·1.5) = 10, 8·1.5 = 12
    assert any("7·1.5 = 10.5 is not a whole number" in n for n in up.notes), up.notes
    with pytest.raises(ShapeError, match=r"10\.5 is not a whole number"):
        cnnsize.analyze({"input": [3, 7, 8], "layers": [{"type": "upsample", "scale_factor": 1.5}]},
                        strict=True)
    # 100 · 0.29 is 29, but 100.0 * 0.29 == 28.999999999999996: PyTorch gives 28
    _, up = row([{"type": "upsample", "scale_factor": 0.29, "mode": "linear"}], (2, 100))
    assert up.output_shape == (2, 28) == tuple(F.interpolate(torch.zeros(1, 2, 100),
                                                             scale_factor=0.29).shape[1:])
    assert any("double precision" in n and "28.999999999999996" in n for n in up.notes)
    # 3 · (1/3) is 1.0 in double precision: whole, no note
    _, up = row([{"type": "upsample", "scale_factor": 1 / 3}], (2, 3))
    assert up.output_shape == (2, 1) and not up.notes


def test_upsample_flops_connections_and_explain_by_mode():
    # A 2× bilinear upsample of 8×8×8: units 8·16·16 = 2,048; 3 two-tap combines of 3 FLOPs
    # each = 9 per output; each output reads 2×2 inputs
    _, up = row([{"type": "upsample", "scale_factor": 2, "mode": "bilinear"}], (8, 8, 8))
    assert (up.units, up.macs, up.flops, up.connections) == (2_048, 0, 9 * 2_048, 4 * 2_048)
    assert any("units·9 (bilinear: 3 two-tap combines of 2 multiplies and 1 add) = 2,048·9 = "
               "18,432" in line for line in up.explain), up.explain
    assert "H2 = floor(H1·scale_factor) = floor(8·2.0) = 16" in up.explain
    assert not up.neurons and up.activation_bytes == 2_048 * 4
    per_output = {("nearest", (4, 6)): 0, ("nearest-exact", (4, 6, 6)): 0, ("linear", (4, 6)): 3,
                  ("bilinear", (4, 6, 6)): 9, ("trilinear", (4, 6, 6, 6)): 21,
                  ("bicubic", (4, 6, 6)): 35}
    taps = {"nearest": 1, "nearest-exact": 1, "linear": 2, "bilinear": 4, "trilinear": 8,
            "bicubic": 16}
    for (mode, shape), flops in per_output.items():
        _, up = row([{"type": "upsample", "scale_factor": 2, "mode": mode}], shape)
        assert up.flops == flops * up.units and up.connections == taps[mode] * up.units, mode
        _, off = row([{"type": "upsample", "scale_factor": 2, "mode": mode}], shape,
                     conventions=Conventions(elementwise_flops=False))
        assert off.flops == 0  # interpolation FLOPs are per-element ops: no MACs


# ---------------------------------------------------------------- receptive fields

def test_upsampling_divides_the_jump_exactly():
    layers = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2},   # r 3, j 2
              {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "stride": 2},   # 3 + 2·2 = 7, j 4
              {"name": "up", "type": "upsample", "scale_factor": 2, "mode": "bilinear"},
              {"name": "after", "type": "conv2d", "out_channels": 4, "kernel_size": 3}]
    report, _ = row(layers, (3, 33, 33))
    up, after = report["up"], report["after"]
    assert up.receptive_field == (11, 11) and up.jump == (2, 2)  # 7 + (2 − 1)·4; 4 / 2
    assert after.receptive_field == (15, 15) and after.jump == (2, 2)  # 11 + 2·2
    # nearest: a window of 1, and a size 17 from 11 scales the jump by 11/17, as PyTorch does
    layers = [{"type": "conv2d", "out_channels": 4, "kernel_size": 3},
              {"name": "up", "type": "upsample", "size": 17}]
    report, _ = row(layers, (3, 13, 13))
    assert report["up"].receptive_field == (3, 3)
    assert report["up"].jump == (Fraction(11, 17), Fraction(11, 17))
    # align_corners: (W1 − 1)/(W2 − 1) = 10/16; bicubic reads 4 inputs: 3 + 3·1 = 6
    layers[1] = {"name": "up", "type": "upsample", "size": 17, "mode": "bicubic",
                 "align_corners": True}
    report, _ = row(layers, (3, 13, 13))
    assert report["up"].receptive_field == (6, 6) and report["up"].jump == (Fraction(5, 8),) * 2


def test_pixel_shuffle_and_padding_receptive_fields():
    layers = [{"type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2},  # 3, j 2
              {"name": "shuffle", "type": "pixelshuffle", "upscale_factor": 2},     # j 1
              {"name": "pad", "type": "reflectionpad2d", "padding": 2},              # same
              {"name": "unshuffle", "type": "pixelunshuffle", "downscale_factor": 2},  # 3 + 1·1
              {"name": "glu", "type": "glu", "dim": 1}]                             # same
    report, _ = row(layers, (3, 17, 17))
    assert report["shuffle"].receptive_field == (3, 3) and report["shuffle"].jump == (1, 1)
    assert report["pad"].receptive_field == (3, 3) and report["pad"].jump == (1, 1)
    assert report["unshuffle"].receptive_field == (4, 4) and report["unshuffle"].jump == (2, 2)
    assert report["glu"].receptive_field == (4, 4)
    # glu over W (size 10): output w reads w and w + 5, a window of 6
    report, _ = row([{"name": "glu", "type": "glu", "dim": -1}], (2, 4, 10))
    assert report["glu"].output_shape == (2, 4, 5) and report["glu"].receptive_field == (1, 6)


# ---------------------------------------------------------------- pixel shuffle

def test_pixel_shuffle_matches_torch_and_names_the_numbers():
    for c, h, w, r in itertools.product((1, 4, 8, 9, 18, 36), (1, 3, 4), (2, 6), (1, 2, 3)):
        agree("pixelshuffle", {"upscale_factor": r}, (c, h, w), nn.PixelShuffle(r))
        agree("pixelunshuffle", {"downscale_factor": r}, (c, h, w), nn.PixelUnshuffle(r))
    with pytest.raises(ShapeError) as e:
        shape_of("pixelshuffle", {"upscale_factor": 2}, (10, 4, 4))
    assert "the input has 10 channels, which 2² = 4 does not divide" in str(e.value)
    assert "C2 = C1 / r² = 10 / 4 = 2.5" in str(e.value) and "8 or 12" in str(e.value)
    with pytest.raises(ShapeError, match="the input's W = 5 is not a multiple of 2"):
        shape_of("pixelunshuffle", {"downscale_factor": 2}, (3, 4, 5))


# ---------------------------------------------------------------- padding

PAD_MODULES = {"zeropad": "ZeroPad", "constantpad": "ConstantPad", "reflectionpad": "ReflectionPad",
               "replicationpad": "ReplicationPad", "circularpad": "CircularPad"}


def _pad_cases(rng, ndim, count):
    for _ in range(count):
        spatial = tuple(rng.randint(1, 6) for _ in range(ndim))
        low, high = (-1, 2) if rng.random() < 0.6 else (-4, 6)  # mostly small, some beyond
        padding = [rng.randint(low, high) for _ in range(2 * ndim)]
        if rng.random() < 0.2:
            padding = rng.randint(-1, 4)
        extra = rng.choice([(), (2,), (2, 3)])  # channels, and a dim more than PyTorch allows
        yield padding, (*extra, *spatial)


@pytest.mark.parametrize("prefix", sorted(PAD_MODULES))
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_padding_layers_follow_pytorchs_order_and_limits(prefix, ndim):
    """Random paddings (negative ones crop), input sizes and ranks: cnnsize's shape is torch's,
    and it refuses exactly what torch refuses (reflection ≥ W1, a second circular wrap, …)."""
    rng = random.Random(f"{prefix}{ndim}")
    torch_cls = getattr(nn, f"{PAD_MODULES[prefix]}{ndim}d")
    for padding, shape in _pad_cases(rng, ndim, 300):
        args = {"padding": padding}
        if prefix == "constantpad":
            args["value"] = 0.5
        agree(f"{prefix}{ndim}d", args, shape, torch_cls(**args))


def test_padding_order_by_hand():
    # ZeroPad2d((left 1, right 2, top 3, bottom 4)) on 3×5×6: H 5 + 3 + 4 = 12, W 6 + 1 + 2 = 9
    _, pad = row([{"type": "zeropad2d", "padding": [1, 2, 3, 4]}], (3, 5, 6))
    assert pad.output_shape == (3, 12, 9) == tuple(nn.ZeroPad2d((1, 2, 3, 4))(torch.zeros(1, 3, 5, 6)).shape[1:])
    assert pad.explain[:2] == ("H2 = H1 + P_top + P_bottom = 5 + 3 + 4 = 12",
                               "W2 = W1 + P_left + P_right = 6 + 1 + 2 = 9")
    assert (pad.macs, pad.flops, pad.connections, pad.params) == (0, 0, 0, 0)
    assert pad.activation_bytes == 3 * 12 * 9 * 4  # a copy in a new tensor
    # (front, back) last: ConstantPad3d((1, 2, 3, 4, 5, 6)) on 1×2×2×2 → 13×9×5
    assert shape_of("constantpad3d", {"padding": [1, 2, 3, 4, 5, 6], "value": 1},
                    (1, 2, 2, 2)) == (1, 13, 9, 5)


def test_f_pad_matches_torch_in_every_mode():
    rng = random.Random(1)
    for mode in ("constant", "reflect", "replicate", "circular"):
        for _ in range(150):
            rank = rng.randint(1, 4)
            shape = tuple(rng.randint(1, 5) for _ in range(rank))
            pad = [rng.randint(-2, 4) for _ in range(2 * rng.randint(1, min(rank, 3)))]
            args = {"pad": pad, "mode": mode}
            agree("pad", args, shape, lambda x, pad=pad, mode=mode: F.pad(x, pad, mode=mode))


def test_padding_errors_name_the_numbers():
    with pytest.raises(ShapeError) as e:
        shape_of("reflectionpad2d", {"padding": 3}, (3, 3, 3))
    assert ("reflection padding must be less than the input size: H1 = 3, padding (top, bottom) "
            "= (3, 3)") in str(e.value)
    assert "use padding <= 2 here" in str(e.value)
    with pytest.raises(ShapeError, match=r"circular padding may wrap around once at most: L1 = 3"):
        shape_of("circularpad1d", {"padding": [4, 0]}, (2, 3))
    with pytest.raises(ShapeError, match="output W would be 0"):
        shape_of("zeropad2d", {"padding": [-2, -2, 0, 0]}, (1, 4, 4))
    with pytest.raises(SpecError, match=r"a list of 4 integers \(left, right, top, bottom\)"):
        REGISTRY["zeropad2d"].from_args({"padding": [1, 2]})
    with pytest.raises(SpecError, match="mode 'reflect' takes no value"):
        REGISTRY["pad"].from_args({"pad": [1, 1], "mode": "reflect", "value": 0.0})


# ---------------------------------------------------------------- activations

def test_prelu_slopes_are_weights_and_must_fit_the_channels():
    _, act = row([{"type": "prelu", "num_parameters": 4}], (4, 5, 5))
    assert (act.weights, act.biases, act.params) == (4, 0, 4) == (
        nn.PReLU(4).weight.numel(), 0, sum(p.numel() for p in nn.PReLU(4).parameters()))
    assert act.flops == 2 * 4 * 5 * 5 and act.macs == 0
    assert act.explain[0] == "weights = num_parameters = 4 (one slope per channel)"
    with pytest.raises(ShapeError, match="num_parameters: is 3 but the input to this layer has 4"):
        shape_of("prelu", {"num_parameters": 3}, (4, 5, 5))
    with pytest.raises(RuntimeError):  # torch refuses it too
        nn.PReLU(3)(torch.zeros(1, 4, 5, 5))


def test_glu_halves_its_dim():
    assert shape_of("glu", {"dim": 1}, (6, 4, 4)) == (3, 4, 4) == tuple(
        nn.GLU(1)(torch.zeros(1, 6, 4, 4)).shape[1:])
    assert shape_of("glu", {}, (3, 8)) == (3, 4)
    with pytest.raises(ShapeError, match="glu halves dim 1, of size 5: it must be even"):
        shape_of("glu", {"dim": 1}, (5, 4, 4))
    with pytest.raises(ShapeError, match="the batch dim"):
        shape_of("glu", {"dim": 0}, (4, 4))


def test_activation_arguments_are_checked_as_pytorch_does():
    with pytest.raises(SpecError, match="max_val"):
        REGISTRY["hardtanh"].from_args({"min_val": 1, "max_val": 1})
    with pytest.raises(SpecError, match="missing required argument 'value'"):
        REGISTRY["threshold"].from_args({"threshold": 0.1})
    with pytest.raises(ShapeError, match="softmax2d expects an input of shape C×H×W"):
        shape_of("softmax2d", {}, (3, 4))


# ---------------------------------------------------------------- import and crosscheck

class SmallFCN(nn.Module):
    """Fully convolutional: pad, conv (stride 2), PReLU, conv, interpolate back to the input's
    size, a zero pad and a 1×1 head; written as users write it (F.interpolate with size)."""

    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(1)
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2)
        self.act = nn.PReLU(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.zpad = nn.ZeroPad2d((0, 1, 0, 1))
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x):
        y = self.conv2(self.act(self.conv1(self.pad(x))))
        y = F.interpolate(y, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.zpad(y))


def test_a_small_fcn_imports_exact_and_crosschecks():
    model = SmallFCN()
    report = cnnsize.analyze(from_module(model, (3, 17, 19)))
    assert [(r.name, r.type) for r in report.layers] == [
        ("pad", "reflectionpad2d"), ("conv1", "conv2d"), ("act", "prelu"), ("conv2", "conv2d"),
        ("interpolate", "upsample"), ("zpad", "zeropad2d"), ("head", "conv2d")]
    up = report["interpolate"]
    assert dict(up.args) == {"size": (17, 19), "mode": "bilinear", "align_corners": False}
    assert up.output_shape == (8, 17, 19) and up.flops == 9 * 8 * 17 * 19
    assert report["zpad"].output_shape == (8, 18, 20)
    assert report.totals.params == sum(p.numel() for p in model.parameters())  # PReLU's 8 too
    result = cnnsize.crosscheck(model, input_shape=(3, 17, 19), batch=2)
    assert result.ok, [(layer.name, c) for layer in result.layers for c in layer.checks
                       if c.status == cc.MISMATCH]
    act = next(layer for layer in result.layers if layer.name == "act")
    assert act.get("params").status == cc.MATCH and act.get("params").predicted == 8


SPEC = {"name": "resample_pad", "input": [3, 16, 16], "layers": [
    {"name": "pad", "type": "reflectionpad2d", "padding": [1, 1, 2, 0]},
    {"name": "conv", "type": "conv2d", "out_channels": 8, "kernel_size": 3, "stride": 2},
    {"name": "act", "type": "prelu", "num_parameters": 8},
    {"name": "up", "type": "upsample", "scale_factor": 1.5, "mode": "bilinear"},
    {"name": "zpad", "type": "zeropad2d", "padding": 1},
    {"name": "shuffle", "type": "pixelshuffle", "upscale_factor": 2},
    {"name": "unshuffle", "type": "pixelunshuffle", "downscale_factor": 2},
    {"name": "glu", "type": "glu", "dim": 1},
    {"name": "cpad", "type": "pad", "pad": [0, 1, 1, 0], "mode": "circular"},
    {"name": "near", "type": "upsample", "size": [20, 20]},
    {"name": "selu", "type": "selu", "inplace": True},
    {"name": "out", "type": "logsoftmax", "dim": 1},
]}


def test_a_spec_of_the_new_kinds_passes_crosscheck():
    result = cnnsize.crosscheck(SPEC, batch=2)
    assert result.ok and result.counts()[cc.MISMATCH] == 0
    by_name = {layer.name: layer for layer in result.layers}
    # fvcore counts 2d upsampling, 4 per output for bilinear: 2·8·12·12·4 = 9,216 (info)
    assert by_name["up"].get("macs").status == cc.INFO and by_name["up"].get("macs").measured == 9_216
    assert by_name["near"].get("macs").measured == 2 * 4 * 20 * 20  # nearest: one per output
    assert by_name["shuffle"].get("macs") is None  # neither tool counts anything there
    totals = {c.quantity: c for c in result.totals}
    assert totals["saved_bytes"].status == cc.MATCH and totals["peak_bytes"].status == cc.MATCH


def test_every_new_kind_builds_and_imports_back_as_itself():
    """build (the kind's torch module) → from_module (read back from the module's attributes,
    or the function call) gives the same kind and arguments, for every example."""
    for name in NEW_KINDS:
        cls = REGISTRY[name]
        for args, shape in cls.examples:
            spec = {"input": list(shape), "layers": [{"name": "op", "type": name, **args}]}
            expected = cnnsize.analyze(spec).layers[0]
            got = cnnsize.analyze(from_module(build(spec), shape)).layers[0]
            assert (got.type, got.args, got.output_shape) == (
                expected.type, expected.args, expected.output_shape), (name, args)


class Functional(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x):
        y = F.pad(self.conv(x), (1, 1, 2, 2), mode="reflect")
        y = F.hardtanh(F.selu(y), -2.0, 2.0, inplace=True)
        y = F.glu(F.pixel_shuffle(F.interpolate(y, scale_factor=2), 2), 1)
        return F.log_softmax(F.pixel_unshuffle(y, 2), dim=1)


def test_functional_forms_import_as_the_kinds():
    model = Functional()
    report = cnnsize.analyze(from_module(model, (3, 8, 8)))
    assert [(r.name, r.type) for r in report.layers] == [
        ("conv", "conv2d"), ("pad", "pad"), ("selu", "selu"), ("hardtanh", "hardtanh"),
        ("interpolate", "upsample"), ("pixel_shuffle", "pixelshuffle"), ("glu", "glu"),
        ("pixel_unshuffle", "pixelunshuffle"), ("log_softmax", "logsoftmax")]
    assert dict(report["pad"].args) == {"pad": [1, 1, 2, 2], "mode": "reflect"}
    assert dict(report["hardtanh"].args) == {"min_val": -2.0, "max_val": 2.0, "inplace": True}
    # 8×6×6 → pad 8×10×8 → ×2 8×20×16 → shuffle 2×40×32 → glu 1×40×32 → unshuffle 4×20×16
    assert report.layers[-1].output_shape == (4, 20, 16)
    assert cnnsize.crosscheck(model, input_shape=(3, 8, 8), batch=2).ok


def test_what_upsample_cannot_count_is_refused_by_name():
    class Antialias(nn.Module):
        def forward(self, x):
            return F.interpolate(x, scale_factor=0.5, mode="bilinear", antialias=True)

    class Area(nn.Module):
        def forward(self, x):
            return F.interpolate(x, size=(2, 2), mode="area")

    with pytest.raises(CnnsizeError, match="no argument like antialias=True"):
        from_module(Antialias(), (3, 8, 8))
    with pytest.raises(CnnsizeError, match="mode 'area' is adaptive average pooling"):
        from_module(Area(), (3, 8, 8))


# ---------------------------------------------------------------- the CLI: exit 2, numbers

@pytest.mark.parametrize(("layer", "message"), [
    ("{type: pixelshuffle, upscale_factor: 2}", "the input has 6 channels, which 2² = 4 does not divide"),
    ("{type: reflectionpad2d, padding: [8, 0, 0, 0]}",
     "reflection padding must be less than the input size: W1 = 8, padding (left, right) = (8, 0)"),
    ("{type: upsample, scale_factor: 2, size: 4}", "give exactly one of size and scale_factor"),
    ("{type: upsample, scale_factor: 0.1}", "output H would be 0"),
    ("{type: upsample, scale_factor: 2, mode: bilinear, input: x}", "unknown argument 'input'"),
    ("{type: upsample, size: 4, mode: linear}", "mode 'linear' interpolates a 1d input C×L"),
    ("{type: upsample, scale_factor: 2, align_corners: true}", "align_corners can only be set"),
    ("{type: prelu, num_parameters: 4}", "num_parameters: is 4 but the input to this layer has 6"),
    ("{type: glu, dim: 2}", "glu halves dim 2, of size 5"),
])
def test_bad_layers_exit_2_with_the_numbers(tmp_path, layer, message):
    path = tmp_path / "bad.yaml"
    path.write_text(f"input: [6, 5, 8]\nlayers:\n  - {layer}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "cnnsize", "report", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


# ---------------------------------------------------------------- who counts how (measured)

def _tools(module, x):
    from fvcore.nn import FlopCountAnalysis
    from torch.utils.flop_counter import FlopCounterMode

    fv = FlopCountAnalysis(module.eval(), x).unsupported_ops_warnings(False).total()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        module(x)
    return fv, counter.get_total_flops()


def test_what_fvcore_and_flop_counter_count_for_these_kinds():
    """docs/conventions.md, "Resampling, padding and the other activations"."""
    x = torch.randn(2, 3, 8, 8)
    outputs = 2 * 3 * 16 * 16  # 1,536
    assert _tools(nn.Upsample(scale_factor=2), x) == (outputs, 0)
    assert _tools(nn.Upsample(scale_factor=2, mode="bilinear"), x) == (4 * outputs, 0)
    assert _tools(nn.UpsamplingBilinear2d(scale_factor=2), x) == (4 * outputs, 0)
    for module in (nn.Upsample(scale_factor=2, mode="bicubic"),
                   nn.Upsample(scale_factor=2, mode="nearest-exact"), nn.ZeroPad2d(1),
                   nn.ReflectionPad2d(1), nn.CircularPad2d(1), nn.PReLU(3), nn.SELU(), nn.GLU(-1)):
        assert _tools(module, x) == (0, 0), module
    assert _tools(nn.PixelShuffle(2), torch.randn(2, 12, 8, 8)) == (0, 0)
    assert _tools(nn.Upsample(scale_factor=2, mode="trilinear"), torch.randn(2, 3, 2, 4, 4)) == (0, 0)


def test_what_torchinfo_counts_for_these_kinds():
    torchinfo = pytest.importorskip("torchinfo")
    x = torch.randn(2, 3, 8, 8)

    def mult_adds(module):
        return torchinfo.summary(module, input_data=x, verbose=0).total_mult_adds

    assert mult_adds(nn.PReLU(3)) == 3 * 2  # its weight's size · batch
    assert mult_adds(nn.PReLU()) == 1 * 2
    for module in (nn.Upsample(scale_factor=2, mode="bilinear"), nn.ZeroPad2d(1), nn.SELU(),
                   nn.Upsample(scale_factor=2)):
        assert mult_adds(module) == 0, module
