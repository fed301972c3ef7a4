"""Pooled attention (MViT): what torchvision's `mvit_v1_b` and `mvit_v2_s` do, written here with
plain torch calls so that each mechanism is tested without torchvision
(cnnsize/verify/importer.py, docs/conventions.md "Windows in the batch dim"):

- each attention head pooled by one depthwise conv, the heads folded into the batch
  (x.reshape(B·heads, C, H, W)): a `windows: true` conv, its weights once, its MACs per head;
- the class token split off (torch.tensor_split) and joined back;
- a position embedding that forward computes from three parameters in each pass
  (repeat_interleave, add_, cat) and adds in place: a `shift` with `computed_from`;
- a relative position table gathered by an index that forward makes from torch.arange,
  multiplied with q by torch.einsum and torch.matmul: `contract` rows, and over time through
  r_q.permute(2, 0, 1, 3, 4).reshape(T, B·heads·W, C): the batch in dim 1 (fold_at);
- attn[:, :, 1:, 1:] += rel_pos (Python's x[idx] += y): a `sliceadd` row.

The oracles are built independently: parameters from the modules, 2·MACs from
torch.utils.flop_counter on the original, shapes from the original's forward.
"""

from __future__ import annotations

import pytest

import cnnsize
from cnnsize.errors import CnnsizeError

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from cnnsize.verify.crosscheck import crosscheck  # noqa: E402
from cnnsize.verify.importer import from_module  # noqa: E402

from .test_import_windows import flop_counter  # noqa: E402


class PooledAttention(nn.Module):
    """An MViT block on (B, 1 + T·W, C) tokens over a T×W grid (1-d space: small and exact)."""

    def __init__(self, dim: int = 8, heads: int = 2, grid: tuple[int, int] = (2, 4),
                 rel_pos: bool = False) -> None:
        super().__init__()
        self.heads, self.head_dim, self.grid = heads, dim // heads, grid
        self.qkv = nn.Linear(dim, 3 * dim)
        self.pool_k = nn.Conv2d(self.head_dim, self.head_dim, 3, stride=(1, 2), padding=1,
                                groups=self.head_dim, bias=False)
        self.norm_k = nn.LayerNorm(self.head_dim)
        self.proj = nn.Linear(dim, dim)
        t, w = grid
        self.rel_pos_w = nn.Parameter(torch.randn(2 * w - 1, self.head_dim)) if rel_pos else None
        self.rel_pos_t = nn.Parameter(torch.randn(2 * t - 1, self.head_dim)) if rel_pos else None

    def pool(self, x):
        """(B, heads, 1 + T·W, C) → the heads pooled by one conv, the class token kept."""
        cls, x = torch.tensor_split(x, indices=(1,), dim=2)
        b, n, _, c = x.shape
        x = x.transpose(2, 3).reshape((b * n, c, *self.grid))
        x = self.pool_k(x)
        t, w = x.shape[2:]
        x = x.reshape(b, n, c, -1).transpose(2, 3)
        return self.norm_k(torch.cat((cls, x), dim=2)), (t, w)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).transpose(1, 3) \
            .unbind(dim=2)
        k, k_grid = self.pool(k)
        v, _ = self.pool(v)
        attn = torch.matmul(self.head_dim ** -0.5 * q, k.transpose(2, 3))
        if self.rel_pos_w is not None:
            attn = self.add_rel_pos(attn, q, k_grid)
        x = torch.matmul(attn.softmax(dim=-1), v)
        x[:, :, 1:, :] += q[:, :, 1:, :]  # residual pooling, past the class token
        return self.proj(x.transpose(1, 2).reshape(b, -1, c))

    def add_rel_pos(self, attn, q, k_grid):
        (q_t, q_w), (k_t, k_w) = self.grid, k_grid
        dist_w = torch.arange(q_w)[:, None] * max(k_w / q_w, 1.0) - (
            torch.arange(k_w)[None, :] + (1.0 - k_w)) * max(q_w / k_w, 1.0)
        dist_t = torch.arange(q_t)[:, None] - (torch.arange(k_t)[None, :] + (1.0 - k_t))
        rw = self.rel_pos_w[dist_w.long()]
        rt = self.rel_pos_t[dist_t.long()]
        b, n, _, dim = q.shape
        r_q = q[:, :, 1:].reshape(b, n, q_t, q_w, dim)
        rel_w = torch.einsum("bytwc,wkc->bytwk", r_q, rw)
        r_q = r_q.permute(2, 0, 1, 3, 4).reshape(q_t, b * n * q_w, dim)
        rel_t = torch.matmul(r_q, rt.transpose(1, 2)).transpose(0, 1)
        rel_t = rel_t.view(b, n, q_w, q_t, k_t).permute(0, 1, 3, 2, 4)
        rel = (rel_w[:, :, :, :, None, :] + rel_t[:, :, :, :, :, None]).reshape(
            b, n, q_t * q_w, k_t * k_w)
        attn[:, :, 1:, 1:] += rel
        return attn


class Encoded(nn.Module):
    """MViT v1's position embedding: computed from three parameters in each pass."""

    def __init__(self, dim: int = 8, grid: tuple[int, int] = (2, 4)) -> None:
        super().__init__()
        self.grid = grid
        self.class_token = nn.Parameter(torch.randn(dim))
        self.spatial_pos = nn.Parameter(torch.randn(grid[1], dim))
        self.temporal_pos = nn.Parameter(torch.randn(grid[0], dim))
        self.class_pos = nn.Parameter(torch.randn(dim))
        self.block = PooledAttention(dim, grid=grid)

    def forward(self, x):
        x = torch.cat((self.class_token.expand(x.size(0), -1).unsqueeze(1), x), dim=1)
        w, dim = self.spatial_pos.shape
        pos = torch.repeat_interleave(self.temporal_pos, w, dim=0)
        pos.add_(self.spatial_pos.unsqueeze(0).expand(self.grid[0], -1, -1).reshape(-1, dim))
        pos = torch.cat((self.class_pos.unsqueeze(0), pos), dim=0).unsqueeze(0)
        x.add_(pos)
        return self.block(x)


SHAPE = (9, 8)  # a class token and 2·4 tokens of 8 channels, per example


@pytest.mark.parametrize("model", [PooledAttention(), PooledAttention(rel_pos=True), Encoded()],
                         ids=["pooled", "relative-position", "position-from-parameters"])
def test_pooled_attention_imports_exact(model):
    model.eval()
    shape = SHAPE if not isinstance(model, Encoded) else (8, 8)  # (it adds the class token)
    report = cnnsize.analyze(from_module(model, shape))
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    assert 2 * report.totals.macs == flop_counter(model, shape)
    with torch.no_grad():
        out = model(torch.randn(1, *shape))
    assert report.layers[-1].output_shape == tuple(out.shape[1:])
    checked = crosscheck(model, input_shape=shape, batch=2)
    wrong = [(layer.name, c) for layer in checked.layers for c in layer.checks
             if c.status == "mismatch"] + [c for c in checked.totals if c.status == "mismatch"]
    if isinstance(model, PooledAttention) and model.rel_pos_w is not None:
        # what forward's work on the parameters saves for backward is not counted: the int64
        # indices of rel_pos_w[dist_w] and rel_pos_t[dist_t], 8 B · (4·2 + 2·2) = 96 B; and the
        # per-example row of r_q @ Rtᵀ (the batch in dim 1) saves Rtᵀ (2×4×2) expanded per
        # example, as its spec's module does, where the model's bmm over T saves it once:
        # 4 B · 16 · (2 − 1) = 64 B more than autograd
        saved, = wrong
        assert saved.quantity == "saved_bytes" and saved.measured - saved.predicted == 96 - 64
    else:
        assert checked.ok, wrong


def test_the_heads_pooled_by_one_conv_are_one_row_per_example():
    report = cnnsize.analyze(from_module(PooledAttention().eval(), SHAPE))
    conv = report["pool_k"]
    # per example 2 heads of 4×2×4 → 4×2×2; a depthwise 3×3 conv: 4·9 weights, once
    assert conv.args[-1] == ("windows", True) and conv.output_shape == (2, 4, 2, 2)
    assert (conv.params, conv.macs) == (4 * 9, 2 * 4 * 2 * 2 * 9)    # heads·C·T·W·F·F
    assert report["tensor_split_2"].type == "tensorsplit"
    assert report["add"].type == "sliceadd"


def test_the_relative_position_tables_are_counted_once_where_they_are_used():
    report = cnnsize.analyze(from_module(PooledAttention(rel_pos=True).eval(), SHAPE))
    rows = {r.type: r for r in report.layers if r.type == "contract"}
    einsum, = [r for r in report.layers if r.type == "contract" and dict(r.args).get("equation")]
    matmul, = [r for r in report.layers if r.type == "contract" and not dict(r.args).get(
        "equation")]
    assert rows and einsum.params == 7 * 4 and matmul.params == 3 * 4     # (2W − 1)·C, (2T − 1)·C
    # rel_w: per example heads·T·W·C·k_w = 2·2·4·4·2; rel_t: T·(heads·W)·C·k_t = 2·8·4·2
    assert (einsum.macs, matmul.macs) == (2 * 2 * 4 * 4 * 2, 2 * 8 * 4 * 2)
    assert matmul.output_shape == (2, 8, 2)          # the batch in dim 1: heads·W windows there


def test_the_position_embedding_from_parameters_is_one_shift():
    report = cnnsize.analyze(from_module(Encoded().eval(), (8, 8)))
    shift, = [r for r in report.layers if r.type == "shift"]
    # by name: class_pos, spatial_pos, temporal_pos
    assert dict(shift.args)["computed_from"] == [[8], [4, 8], [2, 8]]
    assert shift.params == 2 * 8 + 4 * 8 + 8 and shift.output_shape == (9, 8)


class MergesTheBatchInside(nn.Module):
    def forward(self, x):  # (B, T, W, C) → the batch merged after T: not outermost
        return x.permute(1, 0, 2, 3).reshape(x.shape[1] * x.shape[0] * x.shape[2], -1) \
            .transpose(0, 1).sum(dim=1)


class MulIntoASlice(nn.Module):
    def forward(self, x):
        y = x * 2
        y[:, 1:] *= x[:, 1:]
        return y


class UsesTheTableTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.randn(5, 4))

    def forward(self, x):
        index = torch.arange(3)[:, None] - torch.arange(3)[None, :] + 2
        table = self.table[index]
        return torch.einsum("bhc,hkc->bhk", x, table) + table.sum(dim=-1)


@pytest.mark.parametrize(("model", "shape", "message"), [
    (MergesTheBatchInside(), (2, 3, 4), r"merges the batch into other dims, not as the outermost"),
    (MulIntoASlice(), (3, 4), r"mul in the model \(MulIntoASlice\): cnnsize has no kind|writes "
                              r"into a tensor"),
    (UsesTheTableTwice(), (3, 4), r"uses the parameters table again, but not as einsum does"),
])
def test_what_pooled_attention_cannot_be_followed_through_is_refused_naming_it(model, shape,
                                                                               message):
    with pytest.raises(CnnsizeError, match=message):
        from_module(model, shape)
