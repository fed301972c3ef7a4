"""Windows folded into the batch dim (Swin): a tensor whose traced dim 0 is the batch times k
windows is, per example, a tensor with the windows at dim 1 (cnnsize/verify/importer.py).

The small models here are written with plain torch calls, as torchvision's
`shifted_window_attention` is (view, permute, reshape to (B·nW, ws·ws, C), F.linear with the
module's weight, permute(2, 0, 3, 1, 4), q @ kᵀ, an attention mask that forward builds from
x.new_zeros and slice assignments, torch.roll), so that the mechanism is tested without
torchvision. The oracles are built independently: parameters from the modules, 2·MACs from
torch.utils.flop_counter on the original, shapes from the original's forward.
torchvision's Swin models are the final oracle where torchvision is installed.
"""

from __future__ import annotations

import pytest

import cnnsize
from cnnsize.errors import CnnsizeError

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from cnnsize.verify.crosscheck import crosscheck  # noqa: E402
from cnnsize.verify.importer import from_module  # noqa: E402


def flop_counter(model, shape):
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.randn(1, *shape))
    return counter.get_total_flops()


class WindowAttention(nn.Module):
    """Window attention on an N×H×W×C map, written as torchvision's shifted_window_attention:
    windows of ws×ws folded into the batch, heads, a shifted variant with its mask."""

    def __init__(self, dim=8, heads=2, ws=2, shift=0, module_qkv=False):
        super().__init__()
        self.ws, self.heads, self.shift, self.module_qkv = ws, heads, shift, module_qkv
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, h, w, c = x.shape
        ws, s = self.ws, self.shift
        if s:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
        nw = (h // ws) * (w // ws)
        x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(b * nw, ws * ws, c)  # the windows fold into the batch
        qkv = self.qkv(x) if self.module_qkv else F.linear(x, self.qkv.weight, self.qkv.bias)
        qkv = qkv.reshape(x.size(0), x.size(1), 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * (c // self.heads) ** -0.5).matmul(k.transpose(-2, -1))
        if s:
            mask = x.new_zeros((h, w))  # made from shapes alone: a constant
            count = 0
            for hs in ((0, -ws), (-ws, -s), (-s, None)):
                for vs in ((0, -ws), (-ws, -s), (-s, None)):
                    mask[hs[0]:hs[1], vs[0]:vs[1]] = count
                    count += 1
            mask = mask.view(h // ws, ws, w // ws, ws).permute(0, 2, 1, 3).reshape(nw, ws * ws)
            mask = mask.unsqueeze(1) - mask.unsqueeze(2)
            mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
            attn = attn.view(x.size(0) // nw, nw, self.heads, x.size(1), x.size(1))  # unfolds
            attn = attn + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, x.size(1), x.size(1))  # folds again
        attn = F.softmax(attn, dim=-1)
        x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), c)
        x = self.proj(x)
        x = x.view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        if s:
            x = torch.roll(x, shifts=(s, s), dims=(1, 2))
        return x


class Windowed(nn.Module):
    """A conv stem, two window attentions (plain and shifted) with residuals, a head."""

    def __init__(self, module_qkv=False):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 2, stride=2)
        self.attn1 = WindowAttention(module_qkv=module_qkv)
        self.attn2 = WindowAttention(shift=1, module_qkv=module_qkv)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x).permute(0, 2, 3, 1)
        x = x + self.attn1(x)
        x = x + self.attn2(self.norm(x))
        return self.head(x.mean(dim=(1, 2)))


@pytest.mark.parametrize("module_qkv", [False, True])
def test_windows_folded_into_the_batch_import_exactly(module_qkv):
    model = Windowed(module_qkv).eval()
    shape = (3, 8, 8)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    graph = from_module(model, shape)
    report = cnnsize.analyze(graph)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert 2 * report.totals.macs == flop_counter(model, shape)
    assert report.layers[-1].output_shape == (5,)
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    # the partition: 4×4 tokens in 2×2 windows → per example 4 windows of 4 tokens
    fold = report["attn1.reshape"]
    assert (fold.type, fold.output_shape) == ("reshape", (4, 4, 8))
    # q·kᵀ per example: 4 windows · 2 heads · 4·4·4 = 512 MACs
    assert report["attn1.matmul"].macs == 4 * 2 * 4 * 4 * 4 == 512
    # the mask is a constant of (1, 4, 1, 4, 4) added to the unfolded attention
    masked = report["attn2.add"]
    assert masked.type == "add" and masked.output_shape == (4, 2, 4, 4)
    assert any("windows into the batch dim" in n for n in graph.meta["import_notes"])
    for batch in (1, 2):
        result = crosscheck(model, input_shape=shape, batch=batch)
        assert result.ok, result.summary()


def test_a_fold_reads_dim_0_as_the_batch_times_the_windows_at_batch_2():
    model = Windowed().eval()
    x = torch.randn(2, 3, 8, 8)
    one = cnnsize.analyze(from_module(model, (3, 8, 8)))
    two = cnnsize.analyze(from_module(model, (3, 8, 8), example=[x]))
    assert [r.output_shape for r in one.layers] == [r.output_shape for r in two.layers]
    assert one.totals.macs == two.totals.macs


def test_the_spec_builds_into_a_module_of_the_same_shapes_and_counts():
    from cnnsize.verify.build import build

    model = Windowed().eval()
    graph = from_module(model, (3, 8, 8))
    built = build(graph)
    report = cnnsize.analyze(graph)
    out = built(torch.randn(1, 3, 8, 8))
    assert tuple(out.shape[1:]) == report.layers[-1].output_shape
    assert 2 * report.totals.macs == flop_counter(built, (3, 8, 8))
    assert sum(p.numel() for p in built.parameters()) == report.totals.params


class Mixed(nn.Module):
    def __init__(self, forward):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.lrn = nn.LocalResponseNorm(2)
        self.f = forward

    def forward(self, x):
        return self.f(self, x)


def _windows(x):
    """(1, C, 4, 4) → (4 windows, C, 2, 2) folded into the batch (channels first)."""
    b, c = x.shape[:2]
    return x.view(b, c, 2, 2, 2, 2).permute(0, 2, 4, 1, 3, 5).reshape(b * 4, c, 2, 2)


@pytest.mark.parametrize(("forward", "message"), [
    (lambda m, x: m.lrn(_windows(x)),
     r"localresponsenorm reads a tensor whose dim 0 holds the batch times 4 windows"),
    (lambda m, x: _windows(x).softmax(dim=0), r"works along dim 0, which holds the batch times "
                                              r"the windows"),
    (lambda m, x: _windows(x) + x[:, :, :2, :2], r"combines a tensor whose dim 0 holds the "
                                                 r"batch times 4 windows with one whose dim 0 "
                                                 r"is the batch"),
    (lambda m, x: x.view(-1), r"moves elements between the batch dim and the others"),
    (lambda m, x: torch.roll(x, 1), r"torch.roll without dims rolls the flattened tensor"),
])
def test_what_windows_cannot_be_followed_through_is_refused_naming_it(forward, message):
    with pytest.raises(CnnsizeError, match=message):
        from_module(Mixed(forward), (4, 4, 4))


def test_roll_and_an_add_of_a_constant_as_spec_kinds():
    report = cnnsize.analyze({"input": [4, 3, 9, 9], "layers": [
        {"type": "add", "constant": [4, 1, 9, 9]},
        {"type": "roll", "shifts": [-3, -3], "dims": [3, 4]}]})
    add, roll = report.layers
    # one add per output element: 4·3·9·9 = 972 FLOPs, no MACs, no weights
    assert (add.output_shape, add.flops, add.macs, add.params) == ((4, 3, 9, 9), 972, 0, 0)
    assert (roll.output_shape, roll.macs, roll.flops) == ((4, 3, 9, 9), 0, 0)
    with pytest.raises(CnnsizeError, match=r"roll takes one shift per dim: 1 shifts"):
        cnnsize.analyze({"input": [3, 5], "layers": [{"type": "roll", "shifts": 1,
                                                      "dims": [1, 2]}]})
    with pytest.raises(CnnsizeError, match=r"cannot add 3×5 and a constant of 4×5"):
        cnnsize.analyze({"input": [3, 5], "layers": [{"type": "add", "constant": [4, 5]}]})


# ---------------------------------------------------------------- torchvision's Swin models


@pytest.fixture(scope="module")
def tv():
    return pytest.importorskip("torchvision.models")


def _exact(tv, name, shape, check=False):
    model = tv.get_model(name).eval()
    meta = tv.get_model_weights(name).DEFAULT.meta
    state = {k: v.clone() for k, v in model.state_dict().items()}
    got = cnnsize.analyze(from_module(model, shape))
    assert got.totals.params == sum(p.numel() for p in model.parameters()) == meta["num_params"]
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            out = model(torch.randn(1, *shape))
    assert 2 * got.totals.macs == counter.get_total_flops()
    assert round(got.totals.macs / 1e9, 3) == meta["_ops"]
    assert got.layers[-1].output_shape == tuple(out.shape[1:])
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    if check:
        result = crosscheck(model, input_shape=shape)
        assert result.ok, result.summary()
    return got


def test_torchvision_swin_t_is_exact(tv):
    got = _exact(tv, "swin_t", (3, 224, 224), check=True)
    # 56×56 tokens in 7×7 windows: 64 windows of 49 tokens, 3 heads
    assert got["features.1.0.attn.reshape"].output_shape == (64, 49, 96)
    assert got["features.1.0.attn.matmul"].macs == 64 * 3 * 49 * 49 * 32
    assert got.totals.params == 28_288_354


# Swin-S/B and Swin3D-T/S/B: tests/test_torchvision_models.py, as every torchvision model.


def test_torchvision_swin_v2_t_is_exact(tv):
    """Its continuous position bias MLP runs on a buffer once per forward pass (rows run once
    per pass); its cosine attention is `normalize`, its logit scale a `scale` (docs/conventions.md,
    "Once per forward pass")."""
    got = _exact(tv, "swin_v2_t", (3, 256, 256))
    table = got["features.1.0.attn.relative_coords_table"]
    assert (table.type, table.output_shape, table.per_pass) == ("state", (1, 15, 15, 2), True)
    mlp = got["features.1.0.attn.cpb_mlp.0"]
    assert mlp.per_pass and mlp.macs == 15 * 15 * 2 * 512  # once, at any batch
    assert got["features.1.0.attn.normalize"].type == "normalize"


# ---------------------------------------------------------------- once per forward pass (Swin V2)


class CosineWindowAttention(nn.Module):
    """Swin V2's window attention written with plain torch calls: a position bias that an MLP
    computes from a buffer of coordinates (once per forward, whatever the batch), gathered by
    an index buffer, 16·sigmoid; cosine attention (F.normalize) times a clamped, exponentiated
    logit scale; the qkv bias cloned with its key third zeroed."""

    def __init__(self, dim=8, heads=2, ws=2):
        super().__init__()
        self.ws, self.heads = ws, heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(nn.Linear(2, 16), nn.ReLU(inplace=True),
                                     nn.Linear(16, heads, bias=False))
        span = torch.arange(-(ws - 1), ws, dtype=torch.float32)
        table = torch.stack(torch.meshgrid([span, span], indexing="ij")).permute(1, 2, 0)
        self.register_buffer("coords", table.contiguous().unsqueeze(0))  # 1×3×3×2
        self.register_buffer("index", torch.randint(len(span) ** 2, (ws ** 4,)))

    def forward(self, x):
        b, h, w, c = x.shape
        ws, n = self.ws, self.ws * self.ws
        bias = self.cpb_mlp(self.coords).view(-1, self.heads)[self.index]
        bias = 16 * torch.sigmoid(bias.view(n, n, -1).permute(2, 0, 1).contiguous().unsqueeze(0))
        nw = (h // ws) * (w // ws)
        x = x.view(b, h // ws, ws, w // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nw, n, c)
        qkv_bias = self.qkv.bias.clone()
        qkv_bias[c:2 * c].zero_()
        qkv = F.linear(x, self.qkv.weight, qkv_bias).reshape(b * nw, n, 3, self.heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(self.logit_scale, max=4.6).exp() + bias
        x = F.softmax(attn, dim=-1).matmul(v).transpose(1, 2).reshape(b * nw, n, c)
        x = self.proj(x)
        return x.view(b, h // ws, w // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


class ChannelsLast(nn.Module):
    def forward(self, x):
        return x.permute(0, 2, 3, 1)


class Cosine(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 2, stride=2), ChannelsLast())
        self.attn = CosineWindowAttention()
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.attn(x)
        return self.head(x.mean(dim=(1, 2)))


def test_a_position_bias_computed_from_a_buffer_counts_once_per_pass():
    model = Cosine().eval()
    shape = (3, 8, 8)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    graph = from_module(model, shape)
    spec = graph.meta["spec"]
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())
    mlp = [r for r in cnnsize.analyze(graph).layers if r.per_pass]
    assert [(r.name, r.type) for r in mlp] == [
        ("attn.coords", "state"), ("attn.cpb_mlp.0", "linear"), ("attn.cpb_mlp.1", "relu"),
        ("attn.cpb_mlp.2", "linear"), ("attn.view", "reshape"), ("attn.getitem", "indexselect"),
        ("attn.view_2", "reshape"), ("attn.permute", "permute"), ("attn.contiguous", "contiguous"),
        ("attn.unsqueeze", "unsqueeze"), ("attn.sigmoid", "sigmoid"), ("attn.mul", "mul")]
    for batch in (1, 2, 3):
        report = cnnsize.analyze(graph, batch=batch)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            model(torch.randn(batch, *shape))
        # the MLP once: 3·3 positions · (2·16 + 16·2) = 576 MACs, whatever the batch
        assert sum(r.macs for r in report.layers if r.per_pass) == 9 * (2 * 16 + 16 * 2) == 576
        assert 2 * report.totals.macs == counter.get_total_flops()
    # every parameter and buffer counted once: the table (18) and the index (16, int64)
    report = cnnsize.analyze(graph)
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert report["attn.coords"].buffers == 18 and report["attn.getitem"].buffers == 16
    assert report["attn.logit_scale"].type == "scale"
    assert any("once per forward pass" in n for n in graph.meta["import_notes"])
    for batch in (1, 2):
        result = crosscheck(model, input_shape=shape, batch=batch)
        assert result.ok, result.render()
    built = crosscheck(spec, batch=2)  # the spec built as a module: the same counts
    assert built.ok, built.render()


def test_rows_once_per_pass_are_counted_once_at_every_batch():
    """A spec: a buffer (state), a linear on it and a gather by an index buffer, once per
    pass; a linear on the input per example; their sum. MACs(N) = N·per example + per pass."""
    spec = {"input": [4, 3], "layers": [
        {"name": "table", "type": "state", "shape": [5, 2]},
        {"name": "mlp", "type": "linear", "out_features": 3},      # 5·2·3 = 30 MACs, once
        {"name": "pick", "type": "indexselect", "dim": 1, "size": 4},  # rows 4 of 5: 4×3
        {"name": "x", "type": "linear", "out_features": 3, "inputs": "input"},  # 4·3·3 = 36
        {"name": "sum", "type": "add", "inputs": ["x", "pick"]}]}
    for batch in (1, 3):
        report = cnnsize.analyze(spec, batch=batch)
        assert [r.per_pass for r in report.layers] == [True, True, True, False, False]
        assert report.totals.macs == 36 * batch + 30
        assert report["mlp"].activation_bytes == 5 * 3 * 4  # once, float32
        assert report["sum"].receptive_field == report["x"].receptive_field
    assert report.totals.buffers == 10 + 4
    assert "once per forward pass: 3 rows" in report.render("text")
    result = crosscheck(spec, batch=3)  # built: the buffer as a batch of one
    assert result.ok, result.render()


class ConvOnBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)
        self.register_buffer("grid", torch.randn(1, 2, 4, 4))

    def forward(self, x):
        return x + self.conv(self.grid)


def test_a_conv_on_a_tensor_computed_once_per_pass_is_refused_naming_it():
    with pytest.raises(CnnsizeError, match=r"conv \(Conv2d\): cnnsize's conv2d on a tensor "
                                           r"computed from the model's buffers alone"):
        from_module(ConvOnBuffer(), (2, 4, 4))
