"""Attention: nn.MultiheadAttention, F.scaled_dot_product_attention, and torch.einsum
contractions (what attention blocks are written with, MaxViT's among them).

Scaled dot-product attention (Vaswani et al. 2017, eq. 1), per head of size d, over L queries
and S keys:  out = softmax(Q·Kᵀ·scale)·V,  scale = 1/√d unless given.
    MACs = L·S·d (Q·Kᵀ) + L·S·d_v (A·V) per head, as torch.utils.flop_counter's `sdpa_flop_count`
           counts the SDPA kernels (two bmm's; a causal mask changes nothing there);
    FLOPs (per element, our convention) = 4 per score: the scale 1, softmax 3 (exp, sum, divide),
           the same as `(q @ k.transpose(-2, -1)) * scale` then `softmax` written out; + 1 per
           score for a causal mask.
nn.MultiheadAttention with embedding E, H heads (d = E/H), key and value features kdim, vdim:
    weights = E·E + E·kdim + E·vdim (in-projection W_q, W_k, W_v) + E·E (out-projection);
    biases = 3E + E (bias=True), + 2E (add_bias_kv: the key and value tokens bias_k, bias_v);
    MACs = L·E·E + S·kdim·E + S·vdim·E (projections) + 2·L·S'·E (the two matmuls over all
           heads) + L·E·E (out-projection), S' = S + add_bias_kv + add_zero_attn;
    FLOPs = bias adds (L·E + 2·S·E + L·E) and 4·H·L·S' per element; need_weights with
           average_attn_weights averages the weights over the heads: H·L·S' more (a mean).
The receptive field of attention is global over the token axis: every output reads every key.

Saved for backward (CPU; tests/test_saved.py checks every example against autograd): the
fused kernel (`_scaled_dot_product_flash_attention_for_cpu`, 4-d inputs with equal head sizes
and no dropout; 3-d ones too from torch 2.14, the math kernel before) keeps q, k, v, the output
and a logsumexp per query row (float32 or wider);
otherwise the math kernel keeps q·√scale and k·√scale (new tensors), the softmax and v, and
with dropout its noise and the dropped weights. nn.MultiheadAttention keeps the inputs of its
projections (copies: with batch_first the transposed input is copied to multiply it), the
projected q, k, v as the kernel keeps them, and with need_weights its own explicit path: q·scale,
kᵀ, the softmax, v and the out-projection's input. CUDA's fused kernels (flash, efficient,
cuDNN) were not measured: their saved tensors may differ (docs/conventions.md, "Attention").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from ..errors import ShapeError, SpecError
from .base import (
    Cost,
    Kind,
    Mixes,
    RFEffect,
    Saved,
    Shape,
    arg,
    fmt_shape,
    kind_class,
    product_text,
    register,
    to_bool,
    to_float,
    to_int,
    to_optional,
)

TYPE_CHECKING = False  # typing is not imported at run time (see record.py)
if TYPE_CHECKING:
    from typing import Any


@register
@kind_class(frozen=True)
class MultiheadAttention(Kind):
    """nn.MultiheadAttention: one input is self-attention (query = key = value, as
    `attn(x, x, x)`), two are query and key = value, three query, key and value."""

    embed_dim: int = arg(convert=to_int(1))
    num_heads: int = arg(convert=to_int(1))
    dropout: float = arg(0.0, to_float)
    bias: bool = arg(True, to_bool)
    add_bias_kv: bool = arg(False, to_bool)
    add_zero_attn: bool = arg(False, to_bool)
    kdim: int | None = arg(None, to_optional(to_int(1)))
    vdim: int | None = arg(None, to_optional(to_int(1)))
    batch_first: bool = arg(True, to_bool)
    need_weights: bool = arg(True, to_bool)
    average_attn_weights: bool = arg(True, to_bool)

    type_name, torch_name, family = "multiheadattention", "MultiheadAttention", "attention"
    min_inputs, max_inputs = 1, 3
    spec_only = frozenset({"need_weights", "average_attn_weights"})
    forward_args = ("need_weights", "average_attn_weights")
    extra_outputs = "attention weights"
    parameter_flags = {"bias": "in_proj_bias", "add_bias_kv": "bias_k"}
    origin = "`nn.MultiheadAttention` (`batch_first` must be true: PyTorch's default is false)"
    examples = (({"embed_dim": 8, "num_heads": 2}, ((5, 8),)),
                ({"embed_dim": 8, "num_heads": 2, "need_weights": False}, ((5, 8),)),
                ({"embed_dim": 8, "num_heads": 2, "need_weights": False}, ((5, 8), (7, 8))),
                ({"embed_dim": 8, "num_heads": 4, "kdim": 3, "vdim": 6, "need_weights": False},
                 ((5, 8), (7, 3), (7, 6))),
                ({"embed_dim": 6, "num_heads": 3, "average_attn_weights": False},
                 ((4, 6), (5, 6), (5, 6))),
                ({"embed_dim": 8, "num_heads": 2, "add_bias_kv": True, "add_zero_attn": True,
                  "bias": False, "need_weights": False}, ((5, 8),)),
                ({"embed_dim": 8, "num_heads": 2, "add_bias_kv": True}, ((5, 8), (3, 8))),
                ({"embed_dim": 8, "num_heads": 2, "dropout": 0.25, "need_weights": False},
                 ((5, 8),)),
                ({"embed_dim": 8, "num_heads": 2, "dropout": 0.25}, ((5, 8),)))

    def validate(self) -> None:
        if self.embed_dim % self.num_heads:
            raise SpecError(f"embed_dim {self.embed_dim} does not split into {self.num_heads} "
                            "heads", field="num_heads",
                            hint="num_heads must divide embed_dim (each head has embed_dim / "
                                 "num_heads features), as PyTorch requires")
        if not 0 <= self.dropout <= 1:
            raise SpecError(f"must be between 0 and 1, got {self.dropout}", field="dropout")
        if not self.batch_first:
            raise SpecError("batch_first=False puts the batch at dim 1 (L, N, E), but cnnsize "
                            "counts one example at a time with the batch first",
                            field="batch_first",
                            hint="construct it with batch_first=True (torchvision's ViT does), "
                                 "or transpose around it")

    @classmethod
    def call_inputs(cls, tensors: Sequence[object]) -> int:
        """`attn(x, x, x)` is one input, `attn(q, kv, kv)` two: PyTorch projects a key that
        is the value (and a query that is the key) in one matrix product."""
        n = len(tensors)
        if n == 3 and tensors[2] is tensors[1]:
            n = 1 if tensors[1] is tensors[0] else 2
        return n

    @classmethod
    def from_module_call(cls, args: dict[str, Any], in_shapes: Sequence[Shape],
                         out_shape: Shape) -> dict[str, Any]:
        """kdim and vdim as PyTorch stores them: embed_dim where not given (then not shown)."""
        return {k: v for k, v in args.items()
                if not (k in ("kdim", "vdim") and v == args.get("embed_dim"))}

    def torch_kwargs(self, shape: Shape) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.arg_names()
                if name not in ("need_weights", "average_attn_weights")}

    def call_kwargs(self) -> dict[str, Any]:
        return {"need_weights": self.need_weights,
                "average_attn_weights": self.average_attn_weights}

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.MultiheadAttention(**self.torch_kwargs(shape))

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        q = inputs[0]
        k = inputs[1] if len(inputs) > 1 else q
        v = inputs[2] if len(inputs) > 2 else k
        for name, s in (("query", q), ("key", k), ("value", v)):
            if len(s) != 2:
                raise ShapeError(f"the {name} is {fmt_shape(s)} per example, but attention "
                                 "takes a sequence: L×E (tokens × features)", field="inputs",
                                 hint="flatten the spatial dims into tokens first (ViT: "
                                      "reshape to C×(H·W), then permute to (H·W)×C)")
        E, H = self.embed_dim, self.num_heads
        kdim, vdim = self.kdim or E, self.vdim or E
        (L, e), (S, kd), (S_v, vd) = q, k, v
        for name, have, want, arg_name in (("query", e, E, "embed_dim"), ("key", kd, kdim, "kdim"),
                                           ("value", vd, vdim, "vdim")):
            if have != want:
                raise ShapeError(f"the {name} has {have} features but {arg_name} is {want}",
                                 field=arg_name,
                                 hint=f"set {arg_name}: {have}, or fix the layer before"
                                 + ("" if arg_name == "embed_dim" else
                                    " (kdim and vdim default to embed_dim)"))
        if S_v != S:
            raise ShapeError(f"the key has {S} tokens but the value {S_v}", field="inputs",
                             hint="key and value come in pairs: the same sequence length")
        d = E // H
        S1 = S + self.add_bias_kv + self.add_zero_attn
        scores = H * L * S1
        projections = L * E * E + S * kdim * E + S * vdim * E
        core = 2 * L * S1 * E
        out_proj = L * E * E
        macs = projections + core + out_proj
        weights = E * E + E * kdim + E * vdim + E * E
        biases = (4 * E if self.bias else 0) + (2 * E if self.add_bias_kv else 0)
        bias_adds = (2 * L * E + 2 * S * E) if self.bias else 0
        averaged = scores if self.need_weights and self.average_attn_weights else 0
        flops = 4 * scores + averaged
        kinds = {1: "self-attention (query = key = value)", 2: "query, and key = value",
                 3: "query, key and value"}[len(inputs)]
        s_text = (f"S' = S + {self.add_bias_kv:d} + {self.add_zero_attn:d} = {S1:,} keys"
                  f" ({'bias_k' if self.add_bias_kv else ''}"
                  f"{', ' if self.add_bias_kv and self.add_zero_attn else ''}"
                  f"{'a zero key' if self.add_zero_attn else ''})"
                  if S1 != S else f"S = {S:,} keys")
        explain = (
            f"{kinds}: L = {L:,} queries, {s_text}; E = {E:,}, H = {H} heads of d = E/H = {d}",
            f"units = L·E = {L:,}·{E:,} = {L * E:,}",
            f"weights = E·E + E·kdim + E·vdim + E·E = {E:,}·{E:,} + {E:,}·{kdim:,} + "
            f"{E:,}·{vdim:,} + {E:,}·{E:,} = {weights:,} (W_q, W_k, W_v; out-projection)",
            (f"biases = 3E + E{' + 2E' if self.add_bias_kv else ''} = {biases:,}"
             f"{' (bias_k, bias_v: a learned key and value)' if self.add_bias_kv else ''}"
             if self.bias else f"biases = {biases:,} (bias=False"
             + ("; bias_k, bias_v: 2E" if self.add_bias_kv else "") + ")"),
            f"projections = L·E·E + S·kdim·E + S·vdim·E + L·E·E = {product_text([L, E, E])} + "
            f"{product_text([S, kdim, E])} + {product_text([S, vdim, E])} + "
            f"{product_text([L, E, E])} = {projections + out_proj:,}",
            f"attention = 2·L·S'·E (Q·Kᵀ and A·V, H heads of L·S'·d) = 2·{L:,}·{S1:,}·{E:,} = "
            f"{core:,}",
            f"connections = MACs = projections + attention = {projections + out_proj:,} + "
            f"{core:,} = {macs:,}",
            f"bias adds = L·E + 2·S·E + L·E = {bias_adds:,}" if self.bias else "bias adds = 0",
            "FLOPs = 4·H·L·S' (scale 1, softmax 3 per score)"
            + (" + H·L·S' (weights averaged over the heads)" if averaged else "")
            + f" = 4·{H}·{L:,}·{S1:,}" + (f" + {H}·{L:,}·{S1:,}" if averaged else "")
            + f" = {flops:,}",
        )
        rf: RFEffect = Mixes((0, 1)) if len(inputs) == 1 else "global"
        return Cost(output_shape=(L, E), weights=weights, biases=biases, connections=macs,
                    bias_connections=bias_adds, macs=macs, elementwise_flops=flops,
                    bias_adds=bias_adds, neurons=True, rf=rf,
                    saved=self._saved(len(inputs), L, S, S1, kdim, vdim, E, H),
                    explain=explain)

    def _saved(self, inputs: int, L: int, S: int, S1: int, kdim: int, vdim: int, E: int,
               H: int) -> tuple[Saved, ...]:
        """What autograd keeps, per example (docstring; measured in tests/test_saved.py)."""
        n = inputs
        if n == 2 and (kdim != E or vdim != E):
            n = 3  # W_k and W_v apart: key = value is projected twice, as two inputs are
        # the projections' inputs, kept for their weights: with the batch first, the query
        # transposed to L×N×E is copied to multiply it (a view where L = 1 or N = 1)
        copies = [(0, L, E)] + ([(1, S, kdim)] if n > 1 else []) + (
            [(inputs - 1, S, vdim)] if n > 2 else [])
        saved = [Saved("new", elements=rows * size, for_weights=True) if rows > 1 else
                 Saved("input", index=i, for_weights=True) for i, rows, size in copies]
        # storages of the projected q, k, v: one packed (self-attention), k and v packed, apart
        storages = {1: (3 * L * E,), 2: (L * E, 2 * S * E), 3: (L * E, S * E, S * E)}[n]
        q_store = 0
        k_store = 0 if n == 1 else 1
        v_store = 0 if n == 1 else 1 if n == 2 else 2
        grown = S1 != S  # bias_k, the zero key: k and v are new, longer tensors
        dropped = self.dropout > 0
        scores = H * L * S1
        noise = ([Saved("new", elements=scores, itemsize="mask"), Saved("new", elements=scores)]
                 if dropped else [])
        if not self.need_weights and not dropped:  # the fused kernel: q, k, v, out, logsumexp
            keep = {q_store} | (set() if grown else {k_store, v_store})
            saved += [Saved("new", elements=storages[i]) for i in sorted(keep)]
            if grown:
                saved += [Saved("new", elements=S1 * E), Saved("new", elements=S1 * E)]
            saved += [Saved("new", elements=L * E),
                      Saved("new", elements=H * L, itemsize="acc")]
            return tuple(saved)
        # the math kernel (need_weights=False with dropout) or MultiheadAttention's own path
        if self.need_weights:  # q·scale; kᵀ and v as they are
            saved.append(Saved("new", elements=L * E))
            keep = set() if grown else {k_store, v_store}
            saved += [Saved("new", elements=storages[i]) for i in sorted(keep)]
            if grown:
                saved += [Saved("new", elements=S1 * E), Saved("new", elements=S1 * E)]
        else:  # q·√scale, k·√scale; v as it is
            saved += [Saved("new", elements=L * E), Saved("new", elements=S1 * E)]
            saved.append(Saved("new", elements=S1 * E) if grown else
                         Saved("new", elements=storages[v_store]))
        saved.append(Saved("new", elements=scores))  # the softmax
        saved += noise
        saved.append(Saved("new", elements=L * E, for_weights=True))  # the out-projection's input
        return tuple(saved)


@register
@kind_class(frozen=True)
class ScaledDotProductAttention(Kind):
    """F.scaled_dot_product_attention(q, k, v): q (…, L, E), k (…, S, E), v (…, S, E_v) per
    example, the leading dims (heads) equal; enable_gqa: k and v with fewer heads (dim −3)."""

    dropout_p: float = arg(0.0, to_float)
    is_causal: bool = arg(False, to_bool)
    scale: float | None = arg(None, to_optional(to_float))
    enable_gqa: bool = arg(False, to_bool)

    type_name, torch_name, family = "scaleddotproductattention", "", "attention"
    window_dims = ()  # the last two dims, at every position of the others
    min_inputs, max_inputs = 3, 3
    functions = ("scaled_dot_product_attention",)
    function_args = ("attn_mask", "dropout_p", "is_causal")
    origin = "`F.scaled_dot_product_attention(query, key, value)` (no `attn_mask`)"
    examples = (({}, ((2, 5, 4), (2, 7, 4), (2, 7, 4))),
                ({"is_causal": True, "scale": 0.5}, ((2, 6, 4), (2, 6, 4), (2, 6, 4))),
                ({}, ((2, 5, 4), (2, 7, 4), (2, 7, 3))),
                ({}, ((5, 4), (7, 4), (7, 3))),
                ({"dropout_p": 0.25}, ((2, 5, 4), (2, 7, 4), (2, 7, 4))),
                ({"enable_gqa": True}, ((4, 5, 4), (2, 7, 4), (2, 7, 4))),
                ({"enable_gqa": True}, ((4, 5, 4), (2, 7, 4), (2, 7, 3))))

    def validate(self) -> None:
        if not 0 <= self.dropout_p <= 1:
            raise SpecError(f"must be between 0 and 1, got {self.dropout_p}", field="dropout_p")

    @classmethod
    def from_call(cls, positional: Sequence[Any], keywords: Mapping[str, Any],
                  in_shapes: Sequence[Shape], out_shape: Shape) -> dict[str, Any] | None:
        mask = keywords.get("attn_mask", positional[0] if positional else None)
        if mask is not None:
            raise SpecError("scaled_dot_product_attention with an attn_mask: cnnsize follows "
                            "is_causal, not a mask tensor")
        args = super().from_call(positional, keywords, in_shapes, out_shape)
        if args is not None:
            args.pop("attn_mask", None)
        return args

    def call_kwargs(self) -> dict[str, Any]:
        return {}

    def torch_module(self, shape: Shape) -> Any:
        import torch.nn.functional as F

        from ..verify import modules

        return modules.Function(self.type_name, F.scaled_dot_product_attention,
                                {name: getattr(self, name) for name in self.arg_names()})

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        q, k, v = inputs
        if len(q) < 2 or len({len(q), len(k), len(v)}) > 1:
            raise ShapeError("query, key and value must be (…, L, E), (…, S, E), (…, S, E_v) "
                             "per example, of one rank: got " + ", ".join(map(fmt_shape, inputs)),
                             field="inputs", hint="shapes exclude the batch dim: an N×H×L×d "
                                                  "query is H×L×d")
        lead, (L, E), (S, E_k), (S_v, E_v) = q[:-2], q[-2:], k[-2:], v[-2:]
        lead_k = k[:-2]
        grouped = self.enable_gqa and len(lead) >= 1 and lead[:-1] == lead_k[:-1] and \
            lead_k[-1] and lead[-1] % lead_k[-1] == 0
        if not (lead_k == v[:-2] and (lead_k == lead or grouped)):
            raise ShapeError("the leading dims (heads) of query, key and value must be equal"
                             + (" (enable_gqa: key and value heads dividing the query's)"
                                if self.enable_gqa else "") + ": got "
                             + ", ".join(map(fmt_shape, inputs)), field="inputs",
                             hint="cnnsize does not broadcast them: expand first")
        if E_k != E or S_v != S:
            raise ShapeError(f"cannot attend: the query has {E} features and the key {E_k}; "
                             f"the key has {S} positions and the value {S_v}", field="inputs",
                             formula="(…, L, E) · (…, S, E)ᵀ → (…, L, S); (…, L, S) · (…, S, E_v)",
                             hint="query and key need the same last dim; key and value the "
                                  "same length")
        B = math.prod(lead)
        scores = B * L * S
        macs = B * L * S * E + B * L * S * E_v
        masked = scores if self.is_causal else 0
        flops = 4 * scores + masked
        out = (*lead, L, E_v)
        scale = self.scale if self.scale is not None else 1 / math.sqrt(E)
        # the CPU fused kernel: 4-d inputs (3-d too from torch 2.14), equal head sizes, no dropout
        if len(q) in (2, 3) and E_v == E and self.dropout_p == 0:
            saved: tuple[Saved, ...] = (Saved("input", 0), Saved("input", 1), Saved("input", 2),
                                        Saved("output"),
                                        Saved("new", elements=B * L, itemsize="acc"))
        else:
            wide = grouped and lead_k != lead  # k and v repeated to the query's heads
            saved = (Saved("new", elements=B * L * E), Saved("new", elements=B * S * E),
                     Saved("new", elements=scores),
                     Saved("new", elements=B * S * E_v) if wide else Saved("input", 2))
            if self.dropout_p > 0:
                saved += (Saved("new", elements=scores, itemsize="mask"),
                          Saved("new", elements=scores))
        heads = f"{product_text(list(lead))} = {B:,}" if len(lead) > 1 else f"{B:,}"
        return Cost(output_shape=out, macs=macs, connections=macs, elementwise_flops=flops,
                    rf="global", saved=saved, explain=(
                        f"output = softmax(Q·Kᵀ·scale)·V = {fmt_shape(out)}",
                        "scale = " + (f"{scale:g}" if self.scale is not None else
                                      f"1/√E = 1/√{E} = {scale:.4g}"),
                        f"heads (leading dims) = {heads}; L = {L:,} queries, S = {S:,} keys",
                        f"connections = MACs = heads·L·S·E + heads·L·S·E_v = "
                        f"{product_text([B, L, S, E])} + {product_text([B, L, S, E_v])} = {macs:,}"
                        + (" (the masked half is counted too, as flop_counter counts)"
                           if self.is_causal else ""),
                        "FLOPs = 4·heads·L·S (scale 1, softmax 3 per score)"
                        + (" + heads·L·S (the causal mask)" if masked else "")
                        + f" = 4·{B:,}·{L:,}·{S:,}" + (f" + {B:,}·{L:,}·{S:,}" if masked else "")
                        + f" = {flops:,}"))


# ---------------------------------------------------------------- einsum

_TERM = re.compile(r"^(\.\.\.)?([A-Za-z]*)$")


def _terms(equation: str) -> tuple[list[tuple[bool, str]], tuple[bool, str]]:
    """'bij,bjk->bik' → ([(False, 'bij'), (False, 'bjk')], (False, 'bik')); True: it starts with
    '...'. A SpecError for anything else."""
    text = equation.replace(" ", "")
    if text.count("->") != 1:
        raise SpecError(f"expected an explicit einsum equation 'a,b->out', got {equation!r}",
                        field="equation", hint="write the output after '->', as in "
                                               "'bij,bjk->bik'")
    left, right = text.split("->")
    parsed = []
    for term in (*left.split(","), right):
        m = _TERM.match(term)
        if m is None:
            raise SpecError(f"cannot read the einsum term {term!r} of {equation!r}",
                            field="equation", hint="letters, with '...' only at the start")
        parsed.append((m.group(1) is not None, m.group(2)))
    return parsed[:-1], parsed[-1]


def to_equation(value: Any, cls: type[Kind], name: str) -> str:
    if not isinstance(value, str):
        raise SpecError(f"expected an einsum equation such as 'bij,bjk->bik', got {value!r}")
    inputs, output = _terms(value)
    if len(inputs) != 2:
        raise SpecError(f"{value!r} has {len(inputs)} operands: cnnsize's einsum takes two")
    if len({e for e, _ in (*inputs, output)}) > 1:
        raise SpecError(f"{value!r}: '...' must start every term or none")
    letters = [t for _, t in inputs]
    for t in (*letters, output[1]):
        if len(set(t)) != len(t):
            raise SpecError(f"{value!r}: a letter repeated within a term (a diagonal) is not "
                            "supported")
    a, b = letters
    for c in output[1]:
        if c not in a and c not in b:
            raise SpecError(f"{value!r}: output letter {c!r} is in neither operand")
    summed_once = [c for c in a + b if c not in output[1] and (c in a) != (c in b)]
    if summed_once:
        raise SpecError(f"{value!r}: {summed_once[0]!r} is summed within one operand (a "
                        "reduction before the product), which cnnsize's einsum does not count",
                        hint="every summed letter must be in both operands (a contraction)")
    if not output[0]:
        first = {t[:1] for t in (a, b, output[1])}
        if len(first) != 1 or "" in first:
            raise SpecError(f"{value!r}: every term must start with the batch letter (the "
                            "same one), or with '...'", hint="cnnsize counts one example at a "
                                                              "time: the batch stays dim 0")
    return value


@register
@kind_class(frozen=True)
class Einsum(Kind):
    """torch.einsum of two operands, a contraction: `bghid,bghjd->bghij` (MaxViT's Q·Kᵀ)."""

    equation: str = arg(convert=to_equation)

    type_name, torch_name, family = "einsum", "", "merge"
    min_inputs, max_inputs = 2, 2
    functions, function_args = ("einsum",), ("equation",)
    origin = "`torch.einsum(equation, a, b)` (a contraction of two operands)"
    examples = (({"equation": "bhid,bhjd->bhij"}, ((2, 5, 4), (2, 7, 4))),
                ({"equation": "b g h i j, b g h j d -> b g h i d"}, ((3, 2, 5, 7), (3, 2, 7, 4))),
                ({"equation": "...ij,...jk->...ik"}, ((2, 3, 4), (2, 4, 5))),
                ({"equation": "bi,bj->bij"}, ((3,), (4,))),
                # heads after the tokens: both operands are permuted for bmm, and copied
                ({"equation": "bihd,bjhd->bhij"}, ((5, 2, 4), (7, 2, 4))),
                ({"equation": "bhij,bjhd->bihd"}, ((2, 5, 7), (7, 2, 4))))

    def torch_module(self, shape: Shape) -> Any:
        from ..verify import modules

        return modules.Function(self.type_name, _einsum, {"equation": self.equation})

    def analyze(self, inputs: Sequence[Shape]) -> Cost:
        self.check_arity(inputs)
        (ellipsis, a), (_, b) = _terms(self.equation)[0]
        out_ellipsis, out = _terms(self.equation)[1]
        sizes: dict[str, int] = {}
        lead: Shape | None = None
        for term, shape in ((a, inputs[0]), (b, inputs[1])):
            if ellipsis:
                rest = shape[:len(shape) - len(term)]
                if len(shape) < len(term) or (lead is not None and rest != lead):
                    raise ShapeError(f"einsum {self.equation!r}: operands "
                                     f"{fmt_shape(inputs[0])} and {fmt_shape(inputs[1])} do not "
                                     "have the same leading ('...') dims", field="inputs")
                lead = rest
                letters = term
                dims = shape[len(rest):]
            else:
                letters = term[1:]  # the batch letter is not in the per-example shape
                dims = shape
                if len(dims) != len(letters):
                    raise ShapeError(f"einsum {self.equation!r}: {term!r} names "
                                     f"{len(term)} dims but the operand is N×{fmt_shape(shape)}",
                                     field="inputs")
            letter_sizes(self.equation, sizes, letters, dims, "inputs")
        lead = lead or ()
        letters_out = out if out_ellipsis else out[1:]
        shape = (*lead, *(sizes[c] for c in letters_out))
        every = sorted(sizes)
        macs = math.prod(lead) * math.prod(sizes[c] for c in every)
        summed = [c for c in every if c not in out]
        factors = [*lead, *(sizes[c] for c in every)]
        left, right = _bmm_operands(ellipsis, len(lead), a, b, out)
        saved = (Saved("input", index=1, when_grad=0, bmm=right),
                 Saved("input", index=0, when_grad=1, bmm=left))
        return Cost(output_shape=shape, macs=macs, connections=macs, rf="global", saved=saved,
                    explain=(f"output = {fmt_shape(shape)} ({self.equation.replace(' ', '')}; "
                             f"summed over {', '.join(summed) or 'nothing'})",
                             "connections = MACs = ∏ every letter's size"
                             + (" · ∏ '...'" if lead else "")
                             + f" = {product_text(factors)} = {macs:,}"))


def letter_sizes(equation: str, sizes: dict[str, int], letters: str, dims: Shape,
                 field: str) -> None:
    """Add each letter's size to `sizes`, a ShapeError where a letter already has another."""
    for c, s in zip(letters, dims):
        if sizes.setdefault(c, s) != s:
            raise ShapeError(f"einsum {equation!r}: {c!r} is {sizes[c]} in one place and {s} "
                             "in another", field=field,
                             hint="cnnsize does not broadcast einsum operands")


def _bmm_operands(ellipsis: bool, lead: int, a: str, b: str, out: str
                  ) -> tuple[tuple[tuple[int, ...], tuple[int, int, int]], ...]:
    """How torch.einsum hands its two operands to bmm (ATen's sumproduct_pair), as Saved.bmm:
    each operand's dims (the batch first) in einsum's order — the output's labels, '...' (the
    batch and the leading dims) at its place, then the summed letters alphabetically — grouped
    as (in both and the output, its own, summed) for the left one and (in both and the output,
    summed, its own) for the right one."""
    dots = [str(d) for d in range(1 + lead)] if ellipsis else []
    terms = [[*dots, *a], [*dots, *b]]
    kept = [*dots, *out]
    order = [*kept, *sorted(c for c in {*a, *b} if c not in out)]
    layouts = []
    for mine, other, left in ((terms[0], terms[1], True), (terms[1], terms[0], False)):
        both = [c for c in order if c in mine and c in other and c in kept]
        own = [c for c in order if c in mine and c not in other]
        summed = [c for c in order if c in mine and c in other and c not in kept]
        groups = (both, own, summed) if left else (both, summed, own)
        layouts.append((tuple(mine.index(c) for g in groups for c in g),
                        (len(groups[0]), len(groups[1]), len(groups[2]))))
    return layouts[0], layouts[1]


def _einsum(*xs: Any, equation: str) -> Any:
    import torch

    return torch.einsum(equation, *xs)


__all__ = ["Einsum", "MultiheadAttention", "ScaledDotProductAttention", "to_equation"]
