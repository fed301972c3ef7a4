"""LayerNorm (and layernorm2d), GroupNorm and InstanceNorm1d/2d/3d against PyTorch.

The torch side is built here, independently of cnnsize's mapping (`nn.GroupNorm(...)` written
out): shapes, parameters and buffers from the real modules, what fvcore, flop_counter and
torchinfo count (as docs/conventions.md states it), imports of modules and of the functional
forms, crosscheck, and the errors a student gets.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cnnsize
from cnnsize.errors import CnnsizeError, ShapeError, SpecError
from cnnsize.layers import FUNCTIONS

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from cnnsize.verify.build import build  # noqa: E402
from cnnsize.verify.crosscheck import _saved_for_backward, crosscheck  # noqa: E402
from cnnsize.verify.importer import from_module  # noqa: E402

ROOT = Path(__file__).parent.parent


class ChannelsFirstLayerNorm(nn.Module):
    """ConvNeXt's LayerNorm2d written out: channels last, nn.LayerNorm over C, and back."""

    def __init__(self, c, **kwargs):
        super().__init__()
        self.norm = nn.LayerNorm(c, **kwargs)

    def forward(self, x):
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def one(kind, args, shape):
    return {"input": list(shape), "layers": [{"name": "op", "type": kind, **args}]}


def row(kind, args, shape, **conventions):
    return cnnsize.analyze(one(kind, args, shape),
                           conventions=cnnsize.Conventions(**conventions)).layers[0]


# (kind, spec arguments, input shape, the torch module built by hand)
CASES = [
    ("layernorm", {"normalized_shape": 8}, (5, 8), lambda: nn.LayerNorm(8)),
    ("layernorm", {"normalized_shape": [5, 8]}, (3, 5, 8), lambda: nn.LayerNorm([5, 8])),
    ("layernorm", {"normalized_shape": 768}, (197, 768), lambda: nn.LayerNorm(768, eps=1e-6)),
    ("layernorm", {"normalized_shape": 6, "elementwise_affine": False}, (4, 6),
     lambda: nn.LayerNorm(6, elementwise_affine=False)),
    ("layernorm", {"normalized_shape": 6, "bias": False}, (2, 3, 6),
     lambda: nn.LayerNorm(6, bias=False)),
    ("layernorm2d", {}, (96, 14, 14), lambda: ChannelsFirstLayerNorm(96, eps=1e-6)),
    ("layernorm2d", {"bias": False}, (4, 3, 2), lambda: ChannelsFirstLayerNorm(4, bias=False)),
    ("groupnorm", {"num_groups": 32}, (256, 7, 7), lambda: nn.GroupNorm(32, 256)),
    ("groupnorm", {"num_groups": 3, "affine": False}, (6, 5), lambda: nn.GroupNorm(3, 6, affine=False)),
    ("groupnorm", {"num_groups": 4}, (8,), lambda: nn.GroupNorm(4, 8)),
    ("groupnorm", {"num_groups": 2}, (4, 2, 3, 3), lambda: nn.GroupNorm(2, 4)),
    ("instancenorm1d", {}, (6, 7), lambda: nn.InstanceNorm1d(6)),
    ("instancenorm1d", {"affine": True, "track_running_stats": True}, (4, 9),
     lambda: nn.InstanceNorm1d(4, affine=True, track_running_stats=True)),
    ("instancenorm2d", {"affine": True}, (64, 16, 16), lambda: nn.InstanceNorm2d(64, affine=True)),
    ("instancenorm2d", {"track_running_stats": True}, (3, 4, 4),
     lambda: nn.InstanceNorm2d(3, track_running_stats=True)),
    ("instancenorm3d", {"affine": True, "track_running_stats": True}, (3, 2, 3, 4),
     lambda: nn.InstanceNorm3d(3, affine=True, track_running_stats=True)),
]
IDS = [f"{k}-{i}" for i, (k, *_) in enumerate(CASES)]


@pytest.mark.parametrize(("kind", "args", "shape", "module"), CASES, ids=IDS)
def test_shape_params_buffers_equal_the_torch_module(kind, args, shape, module):
    m = module().eval()
    with torch.no_grad():
        out = m(torch.randn(2, *shape))
    r = row(kind, args, shape)
    named = dict(m.named_parameters())
    assert r.output_shape == tuple(out.shape[1:])
    assert r.weights == sum(p.numel() for n, p in named.items() if n.endswith("weight"))
    assert r.biases == sum(p.numel() for n, p in named.items() if n.endswith("bias"))
    assert r.buffers == sum(b.numel() for b in m.buffers())


@pytest.mark.parametrize(("kind", "args", "shape", "module"), CASES, ids=IDS)
def test_saved_for_backward_equals_autograd(kind, args, shape, module):
    """Behind a conv (so that a gradient flows in), in training mode, batch 3."""
    c = shape[0]
    conv = {1: nn.Conv1d, 2: nn.Conv1d, 3: nn.Conv2d, 4: nn.Conv3d}[len(shape)]
    spec = {"input": list(shape), "layers": [
        {"name": "conv", "type": f"conv{max(len(shape) - 1, 1)}d", "out_channels": c,
         "kernel_size": 1}, {"name": "op", "type": kind, **args}]}
    if len(shape) == 1:  # a 1-d input: a linear layer in front instead
        spec["layers"][0] = {"name": "conv", "type": "linear", "out_features": c}
        front = nn.Linear(c, c)
    else:
        front = conv(c, c, 1)
    model = nn.Sequential(front, module())
    predicted = cnnsize.analyze(spec, conventions=cnnsize.Conventions(batch=3)).totals.saved_bytes
    assert predicted == _saved_for_backward(model, (torch.randn(3, *shape),))


def test_worked_numbers():
    # ConvNeXt-T's stem norm: LayerNorm2d over 96 channels at 56·56 positions
    r = row("layernorm2d", {"eps": 1e-6}, (96, 56, 56))
    assert (r.weights, r.biases) == (96, 96)
    assert r.flops == 8 * 96 * 56 * 56 == 2_408_448          # (6 + 2)·units
    # ViT-B/16's LayerNorm: 197 tokens of 768
    r = row("layernorm", {"normalized_shape": 768}, (197, 768), batch=2)
    assert r.params == 2 * 768 == 1_536
    assert r.flops == 2 * 8 * 197 * 768 == 2_420_736       # batch 2
    # saved: input 197·768·4 = 605,184 B and μ, 1/σ per token 2·197·4 = 1,576 B, per example
    assert r.saved_bytes == 2 * (605_184 + 1_576)
    # GroupNorm(32, 256) on 256×7×7, no affine: (6 + 0)·12,544
    r = row("groupnorm", {"num_groups": 32, "affine": False}, (256, 7, 7))
    assert (r.params, r.flops) == (0, 6 * 12_544)
    # InstanceNorm2d with running statistics: BatchNorm's 2 per value; buffers 2·3 + 1 = 7
    r = row("instancenorm2d", {"track_running_stats": True}, (3, 4, 4))
    assert (r.flops, r.buffers) == (2 * 48, 7)
    # LayerNorm without β: (6 + 1) per value
    assert row("layernorm", {"normalized_shape": 6, "bias": False}, (2, 3, 6)).flops == 7 * 36
    assert row("layernorm", {"normalized_shape": 6}, (6,), elementwise_flops=False).flops == 0


def test_explain_fills_in_the_numbers():
    lines = row("groupnorm", {"num_groups": 4}, (8, 16, 16)).explain
    assert "statistics: G = num_groups = 4 groups of n = (C / G)·∏spatial = 2·16·16 = 512 values" \
        in lines
    assert "weights = γ = C = 8; biases = β = C = 8" in lines
    assert any(line.endswith("FLOPs = (6 + a)·units = 8·2,048 = 16,384 (mean 1, variance 3, "
                             "normalise 2, affine 2)") for line in lines)
    text = "\n".join(row("layernorm", {"normalized_shape": [8, 256], "bias": False}, (8, 256)).explain)
    assert "G = units / n = 2,048 / 2,048 = 1 group (one per position)" in text
    assert "7·2,048 = 14,336" in text and "γ only 1" in text


# ---------------------------------------------------------------- who counts how

def _fvcore(m, x):
    from fvcore.nn import FlopCountAnalysis

    analysis = FlopCountAnalysis(m.eval(), x)
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    return analysis.total()


def _flop_counter(m, x):
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        m.eval()(x)
    return counter.get_total_flops()


@pytest.mark.parametrize(("kind", "args", "shape", "module"), CASES, ids=IDS)
def test_what_the_other_tools_count(kind, args, shape, module):
    """docs/conventions.md, "Who counts how": fvcore 5 per value (4 without γ), flop_counter 0,
    torchinfo's Mult-Adds batch·params."""
    m, x = module(), torch.randn(2, *shape)
    affine = any(True for _ in m.parameters())
    assert _fvcore(m, x) == (5 if affine else 4) * x.numel()
    assert _flop_counter(m, x) == 0
    torchinfo = pytest.importorskip("torchinfo")
    stats = torchinfo.summary(m, input_data=x, verbose=0)
    assert stats.total_mult_adds == 2 * sum(p.numel() for p in m.parameters())


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize(("kind", "args", "shape", "error", "message"), [
    ("groupnorm", {"num_groups": 4}, (6, 4, 4), ShapeError,
     r"num_groups 4 does not divide the input's 6 channels(.|\n)*one of 1, 2, 3, 6"),
    ("groupnorm", {"num_groups": 4, "num_channels": 6}, (6, 4, 4), SpecError,
     "num_channels 6 is not divisible by num_groups 4"),
    ("groupnorm", {"num_groups": 2, "num_channels": 4}, (6, 4, 4), ShapeError,
     "num_channels: is 4 but the input to this layer has 6"),
    ("groupnorm", {"num_groups": 0}, (6, 4, 4), SpecError, "must be >= 1"),
    ("layernorm", {"normalized_shape": [5, 8]}, (3, 5, 7), ShapeError,
     r"normalized_shape 5×8 must equal the input's last 2 dims: the input is 3×5×7, its last 2 "
     r"dims are 5×7(.|\n)*\[5, 7\]"),
    ("layernorm", {"normalized_shape": 6}, (6, 4, 4), ShapeError,
     r"its last dim is 4(.|\n)*6 is this C×H×W input's channel count(.|\n)*layernorm2d"),
    ("layernorm", {"normalized_shape": [5, 8]}, (8,), ShapeError, "it has only 1 dim"),
    ("layernorm", {}, (8,), SpecError, "missing required argument 'normalized_shape'"),
    ("layernorm", {"normalized_shape": []}, (8,), SpecError, "an integer or a list of integers"),
    ("layernorm", {"normalized_shape": [8, 0]}, (8,), SpecError, "must be >= 1"),
    ("layernorm2d", {}, (6, 4), ShapeError, r"C×H×W \(2 spatial dims\), got 6×4"),
    ("layernorm2d", {"normalized_shape": 4}, (6, 4, 4), ShapeError, "is 4 but the input"),
    ("instancenorm2d", {}, (6, 4), ShapeError, r"rank 3 \(without batch\), got 6×4"),
    ("instancenorm1d", {"num_features": 5}, (6, 4), ShapeError, "is 5 but the input"),
    ("instancenorm3d", {"affine": 1}, (6, 4, 4, 4), SpecError, "true or false"),
    ("instancenorm2d", {}, (6, 1, 1), ShapeError, "PyTorch refuses it"),
])
def test_bad_input_is_refused_with_the_numbers(kind, args, shape, error, message):
    with pytest.raises(error, match=message):
        cnnsize.analyze(one(kind, args, shape))


def test_pytorch_refuses_what_cnnsize_refuses():
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(RuntimeError):
        nn.LayerNorm([5, 8])(torch.randn(1, 3, 5, 7))


# ---------------------------------------------------------------- random configurations

@st.composite
def norm_case(draw):
    which = draw(st.sampled_from(["layernorm", "groupnorm", "instancenorm", "layernorm2d"]))
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.integers(1, 6)) for _ in range(rank))
    if which == "layernorm":
        k = draw(st.integers(1, rank))
        normalized = list(shape[rank - k:])
        if draw(st.booleans()):  # sometimes wrong
            normalized[0] += draw(st.integers(1, 2))
        args = {"normalized_shape": normalized, "elementwise_affine": draw(st.booleans()),
                "bias": draw(st.booleans())}
        return which, args, shape, lambda: nn.LayerNorm(normalized, **{
            k: v for k, v in args.items() if k != "normalized_shape"})
    if which == "groupnorm":
        groups, affine = draw(st.integers(1, 6)), draw(st.booleans())
        return which, {"num_groups": groups, "affine": affine}, shape, \
            lambda: nn.GroupNorm(groups, shape[0], affine=affine)
    if which == "layernorm2d":
        shape = tuple(draw(st.integers(1, 6)) for _ in range(3))
        affine, bias = draw(st.booleans()), draw(st.booleans())
        return which, {"elementwise_affine": affine, "bias": bias}, shape, \
            lambda: ChannelsFirstLayerNorm(shape[0], elementwise_affine=affine, bias=bias)
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(ndim + 1))
    affine, track = draw(st.booleans()), draw(st.booleans())
    cls = getattr(nn, f"InstanceNorm{ndim}d")
    return f"instancenorm{ndim}d", {"affine": affine, "track_running_stats": track}, shape, \
        lambda: cls(shape[0], affine=affine, track_running_stats=track)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(norm_case())
def test_random_norms_agree_with_torch(case):
    kind, args, shape, module = case
    try:
        r = row(kind, args, shape)
    except CnnsizeError:
        with pytest.raises((ValueError, RuntimeError)):
            module().eval()(torch.randn(2, *shape))
        return
    m = module().eval()
    with torch.no_grad():
        out = m(torch.randn(2, *shape))
    assert r.output_shape == tuple(out.shape[1:])
    assert (r.params, r.buffers) == (sum(p.numel() for p in m.parameters()),
                                     sum(b.numel() for b in m.buffers()))
    stats = 6 + (2 if r.biases else 1 if r.weights else 0)
    assert r.flops == (2 if args.get("track_running_stats") else stats) * math.prod(shape)


# ---------------------------------------------------------------- import and crosscheck

class NormNet(nn.Module):
    """Every norm kind as a module (LayerNorm over two dims and without β among them)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gn = nn.GroupNorm(4, 8, eps=1e-6)
        self.inorm = nn.InstanceNorm2d(8, affine=True, track_running_stats=True)
        self.inorm_plain = nn.InstanceNorm2d(8)
        self.ln = nn.LayerNorm([16, 16], bias=False)
        self.in1 = nn.InstanceNorm1d(8, affine=True)
        self.ln_last = nn.LayerNorm(256, elementwise_affine=False)
        self.fc = nn.Linear(256, 10)

    def forward(self, x):
        x = self.inorm_plain(self.inorm(self.gn(self.conv(x))))
        x = self.in1(torch.flatten(self.ln(x), 2))
        return self.fc(self.ln_last(x))


class FunctionalNorms(nn.Module):
    """The functional forms in a custom module's forward, with its own parameters."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gw, self.gb = nn.Parameter(torch.rand(8)), nn.Parameter(torch.rand(8))
        self.iw, self.ib = nn.Parameter(torch.rand(8)), nn.Parameter(torch.rand(8))
        self.lw = nn.Parameter(torch.rand(16))

    def forward(self, x):
        x = self.conv(x)
        x = torch.group_norm(x, 4, self.gw, self.gb, 1e-6, False)  # positional, cudnn_enabled
        x = F.instance_norm(x, weight=self.iw, bias=self.ib)
        x = torch.layer_norm(x, [16], self.lw, None, 1e-5, False)  # positional, γ only
        x = F.layer_norm(x, (8, 16, 16))
        x = F.instance_norm(torch.flatten(x, 2))                   # the 1d form
        return F.instance_norm(x)


class InstanceNormRelu(nn.InstanceNorm2d):
    """A subclass whose forward calls F.instance_norm and an activation (as model libraries
    write their norm-act layers)."""

    def forward(self, x):
        y = F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            self.training or not self.track_running_stats, self.momentum, self.eps)
        return F.relu(y)


def test_modules_import_exact_and_crosscheck():
    model = NormNet()
    network = from_module(model, (3, 16, 16))
    types = {op.name: op.kind.type_name for op in network.ops}
    assert types == {"conv": "conv2d", "gn": "groupnorm", "inorm": "instancenorm2d",
                     "inorm_plain": "instancenorm2d", "ln": "layernorm", "flatten": "flatten",
                     "in1": "instancenorm1d", "ln_last": "layernorm", "fc": "linear"}
    spec = {item["name"]: item for item in network.meta["spec"]["layers"]}
    assert spec["gn"] == {"name": "gn", "type": "groupnorm", "num_groups": 4, "eps": 1e-6}
    assert spec["ln"] == {"name": "ln", "type": "layernorm", "normalized_shape": [16, 16],
                          "bias": False}
    assert spec["inorm"]["track_running_stats"] is True and spec["inorm"]["affine"] is True
    report = cnnsize.analyze(network)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report.totals.buffers == sum(b.numel() for b in model.buffers()) == 2 * 8 + 1
    result = crosscheck(model, input_shape=(3, 16, 16))
    assert result.ok, result.render()
    # the spec written by the import builds and crosschecks too, saved bytes included
    built = crosscheck(network.meta["spec"])
    assert built.ok, built.render()
    assert {c.quantity: c.status for c in built.totals}["saved_bytes"] == "match"


def test_functional_forms_import():
    model = FunctionalNorms()
    network = from_module(model, (3, 16, 16))
    spec = network.meta["spec"]["layers"]
    assert [(item["name"], item["type"]) for item in spec] == [
        ("conv", "conv2d"), ("group_norm", "groupnorm"), ("instance_norm", "instancenorm2d"),
        ("layer_norm", "layernorm"), ("layer_norm_2", "layernorm"), ("flatten", "flatten"),
        ("instance_norm_2", "instancenorm1d"), ("instance_norm_3", "instancenorm1d")]
    assert spec[1] == {"name": "group_norm", "type": "groupnorm", "num_groups": 4, "eps": 1e-6}
    assert spec[2]["affine"] is True
    assert spec[3] == {"name": "layer_norm", "type": "layernorm", "normalized_shape": 16,
                       "bias": False}
    assert spec[4] == {"name": "layer_norm_2", "type": "layernorm",
                       "normalized_shape": [8, 16, 16], "elementwise_affine": False}
    report = cnnsize.analyze(network)
    # every parameter counted once: conv 224, γ and β 8 + 8 twice, the layer_norm's γ 16
    assert report.totals.params == sum(p.numel() for p in model.parameters()) == 224 + 32 + 16
    assert crosscheck(model, input_shape=(3, 16, 16)).ok


def test_a_subclass_calling_the_functional_forms_imports_by_what_it_computes():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), InstanceNormRelu(4, affine=True, track_running_stats=True))
    network = from_module(model, (3, 5, 5))
    assert [(op.kind.type_name, op.kind.args()) for op in network.ops] == [
        ("conv2d", {"out_channels": 4, "kernel_size": 1}),
        ("instancenorm2d", {"affine": True, "track_running_stats": True}), ("relu", {})]
    assert cnnsize.analyze(network).totals.buffers == 2 * 4 + 1
    assert crosscheck(model, input_shape=(3, 5, 5)).ok


def test_instance_norm_picks_its_kind_by_rank():
    class Net(nn.Module):
        def __init__(self, conv):
            super().__init__()
            self.conv = conv(2, 2, 1)

        def forward(self, x):
            return F.instance_norm(self.conv(x))

    for conv, kind, shape in ((nn.Conv1d, "instancenorm1d", (2, 3)),
                              (nn.Conv2d, "instancenorm2d", (2, 3, 3)),
                              (nn.Conv3d, "instancenorm3d", (2, 3, 3, 3))):
        network = from_module(Net(conv), shape)
        assert network.ops[-1].kind.type_name == kind
    assert FUNCTIONS["instance_norm"] == "instancenorm1d"  # registered once, for every rank


@pytest.mark.parametrize(("call", "message"), [
    (lambda x, w: F.layer_norm(x, (4,), None, w), "layer_norm with a bias but no weight"),
    (lambda x, w: F.group_norm(x, 2, w), "group_norm with a weight but no bias"),
    (lambda x, w: F.instance_norm(x, torch.zeros(4), torch.ones(4)),
     r"normalises by the input's \(use_input_stats=True\)"),
])
def test_functional_forms_cnnsize_cannot_express_are_named(call, message):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.w = nn.Parameter(torch.ones(4))

        def forward(self, x):
            return call(self.conv(x), self.w)

    with pytest.raises(CnnsizeError, match=message):
        from_module(Net(), (3, 4, 4))


def test_built_layernorm2d_round_trips():
    spec = {"input": [3, 8, 8], "layers": [
        {"name": "stem", "type": "conv2d", "out_channels": 16, "kernel_size": 4, "stride": 4},
        {"name": "norm", "type": "layernorm2d", "eps": 1e-6},
        {"name": "gn", "type": "groupnorm", "num_groups": 8, "affine": False},
        {"name": "inorm", "type": "instancenorm2d", "affine": True}]}
    model = build(spec)
    imported = cnnsize.analyze(from_module(model, (3, 8, 8)))
    report = cnnsize.analyze(spec)
    assert imported.totals.to_dict() == report.totals.to_dict()
    assert [(r.name, r.type) for r in imported.layers] == [(r.name, r.type) for r in report.layers]
    # the built module against the hand-written channels-first LayerNorm: same numbers
    reference = ChannelsFirstLayerNorm(16, eps=1e-6)
    reference.load_state_dict({f"norm.{k}": v for k, v in model.norm.state_dict().items()})
    x = torch.randn(2, 16, 2, 2)
    with torch.no_grad():
        assert torch.allclose(model.norm(x), reference(x))
    assert crosscheck(spec).ok


class TorchvisionLayerNorm2d(nn.LayerNorm):
    """torchvision.models.convnext.LayerNorm2d, as torchvision writes it."""

    def forward(self, x):
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


@pytest.mark.skipif("permute" not in FUNCTIONS, reason="needs a permute kind (shape ops)")
@pytest.mark.parametrize("norm", [lambda: ChannelsFirstLayerNorm(8, eps=1e-6),
                                  lambda: TorchvisionLayerNorm2d(8, eps=1e-6)],
                         ids=["nn.LayerNorm-between-permutes", "torchvision-LayerNorm2d"])
def test_permute_layernorm_permute_imports_as_its_traced_ops(norm):
    """A channels-first LayerNorm written as permute, LayerNorm (module or F.layer_norm),
    permute imports op by op, exact, and costs what one layernorm2d row costs."""
    model = nn.Sequential(nn.Conv2d(3, 8, 1), norm())
    network = from_module(model, (3, 4, 4))
    assert [op.kind.type_name for op in network.ops] == ["conv2d", "permute", "layernorm", "permute"]
    spec = {"input": [3, 4, 4], "layers": [{"type": "conv2d", "out_channels": 8, "kernel_size": 1},
                                           {"type": "layernorm2d", "eps": 1e-6}]}
    a, b = cnnsize.analyze(network).totals, cnnsize.analyze(spec).totals
    assert (a.params, a.flops, a.saved_bytes, a.activation_bytes, a.peak_bytes) == \
        (b.params, b.flops, b.saved_bytes, b.activation_bytes, b.peak_bytes)
    assert crosscheck(model, input_shape=(3, 4, 4)).ok


def test_import_and_crosscheck_commands(tmp_path):
    source = tmp_path / "normnets.py"
    source.write_text(textwrap.dedent("""
        import torch
        from torch import nn
        from torch.nn import functional as F

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = nn.Conv2d(3, 8, 3)
                self.gn = nn.GroupNorm(2, 8)
                self.w = nn.Parameter(torch.ones(6))

            def forward(self, x):
                x = F.instance_norm(self.gn(self.conv(x)))
                return F.layer_norm(x, (6,), self.w, None)

        def build():
            return Net()
    """), encoding="utf-8")
    out = tmp_path / "net.yaml"
    proc = subprocess.run([sys.executable, "-m", "cnnsize", "import", f"{source}:build",
                           "--input", "3,8,8", "-o", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    text = out.read_text(encoding="utf-8")
    assert "type: groupnorm" in text and "type: instancenorm2d" in text and "type: layernorm" in text
    assert cnnsize.analyze(out).totals.params == 8 * 3 * 9 + 8 + 16 + 6
    check = subprocess.run([sys.executable, "-m", "cnnsize", "crosscheck", str(out)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "all match" in check.stdout


class L2Norm(nn.Module):
    """SSD's L2Norm written out as torchvision's SSDFeatureExtractorVGG does it: a learned
    scale per channel times F.normalize over the channels."""

    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3, padding=1)
        self.scale_weight = nn.Parameter(torch.ones(c) * 20)

    def forward(self, x):
        x = self.conv(x)
        return self.scale_weight.view(1, -1, 1, 1) * F.normalize(x)


def test_normalize_counts_and_imports_as_l2norm():
    """F.normalize is `normalize`: no params, 3 FLOPs per element for p = 2, 0 MACs, as
    flop_counter's 0; SSD's L2Norm imports as conv, normalize and a scale, and crosschecks."""
    r = row("normalize", {}, (8, 5, 5), batch=2)
    assert (r.params, r.macs) == (0, 0)
    assert r.flops == 3 * 2 * 8 * 5 * 5  # 3 · batch · units = 1,200
    assert row("normalize", {"p": 3.0, "dim": -1}, (8, 5, 5)).flops == 4 * 200
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        F.normalize(torch.randn(2, 8, 5, 5))
    assert counter.get_total_flops() == 0
    model = L2Norm(6)
    network = from_module(model, (3, 8, 8))
    spec = network.meta["spec"]["layers"]
    assert [(item["name"], item["type"]) for item in spec] == [
        ("conv", "conv2d"), ("normalize", "normalize"), ("scale_weight", "scale")]
    report = cnnsize.analyze(network)
    assert report.totals.params == sum(p.numel() for p in model.parameters()) == 168 + 6
    checked = crosscheck(model, input_shape=(3, 8, 8), batch=2)
    assert checked.ok, checked.render()
    assert crosscheck(network.meta["spec"]).ok


@pytest.mark.parametrize(("args", "message"), [
    ({"dim": 0}, "dim 0 is the batch dim"), ({"p": 0.0}, "p must be > 0"),
    ({"dim": 4}, "out of range")])
def test_normalize_refuses_what_it_cannot_be(args, message):
    with pytest.raises(CnnsizeError, match=message):
        cnnsize.analyze(one("normalize", args, (6, 4, 4)))
