"""Training memory: what cnnsize says autograd saves, against what autograd saves.

The oracle is torch.autograd.graph.saved_tensors_hooks on the real module in training mode:
every tensor it packs, counted once per storage, parameters and buffers left out. Each kind's
examples run behind a BatchNorm (so that its input needs a gradient, as inside a network),
in place and not.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

import cnnsize
from cnnsize.layers import REGISTRY

torch = pytest.importorskip("torch")
from cnnsize.verify.build import build  # noqa: E402
from cnnsize.verify.crosscheck import _saved_for_backward  # noqa: E402

NORM = {1: "batchnorm1d", 2: "batchnorm1d", 3: "batchnorm2d", 4: "batchnorm3d"}


def _cases():
    for name, cls in sorted(REGISTRY.items()):
        for args, shape in cls.examples:
            yield name, args, cls.example_inputs((args, shape))
            if "inplace" in {f.name for f in dataclasses.fields(cls)}:
                yield name, {**args, "inplace": True}, cls.example_inputs((args, shape))


CASES = list(_cases())


def behind_norms(kind_name, args, shapes):
    """A spec: each input through its own BatchNorm, then the kind (a source, state, alone:
    it reads no input)."""
    if not shapes:
        return {"input": [1], "layers": [{"name": "op", "type": kind_name, **args}]}
    names = [f"x{i}" for i in range(len(shapes))]
    layers = [{"name": f"norm{i}", "type": NORM[len(s)], "inputs": n}
              for i, (n, s) in enumerate(zip(names, shapes))]
    layers.append({"name": "op", "type": kind_name, **args,
                   "inputs": [f"norm{i}" for i in range(len(shapes))]})
    return {"input": {n: list(s) for n, s in zip(names, shapes)}, "layers": layers}


@pytest.mark.parametrize(("kind_name", "args", "shapes"), CASES,
                         ids=[f"{n}-{i}{'-inplace' if a.get('inplace') else ''}"
                              for i, (n, a, _) in enumerate(CASES)])
def test_saved_for_backward_matches_autograd(kind_name, args, shapes):
    spec = behind_norms(kind_name, args, shapes)
    conv = cnnsize.Conventions(batch=2, inplace_activations="spec", mask_bytes=4)  # CPU dropout
    predicted = cnnsize.analyze(spec, conventions=conv).totals.saved_bytes
    torch.manual_seed(0)
    model = build(spec)
    xs = tuple(torch.randn(2, *s) for s in shapes) or (torch.randn(2, 1),)
    assert predicted == _saved_for_backward(model, xs), spec


def test_lenet5_saved_by_hand():
    # LeNet-5 (zoo), batch 1, float32, ReLUs in place (--inplace all):
    # C1 saves the input 1·32·32·4 = 4,096; the ReLU after it saves its output, C1's storage,
    # 6·28·28·4 = 18,816; S2 saves that storage again (counted once) and its argmax, int64:
    # 6·14·14·8 = 9,408; C3 saves S2's output 4,704; its ReLU 16·10·10·4 = 6,400; S4's argmax
    # 16·5·5·8 = 3,200; F5 saves the flattened S4 output 400·4 = 1,600; the ReLUs after F5 and
    # F6 save 120·4 = 480 and 84·4 = 336; F6 and the output layer save those same tensors.
    report = cnnsize.analyze("lenet5")
    assert report.totals.saved_bytes == 4_096 + 18_816 + 9_408 + 4_704 + 6_400 + 3_200 + 1_600 + 480 + 336
    params = 61_706 * 4
    assert report.totals.training_bytes_sgd == report.totals.saved_bytes + 3 * params
    assert report.totals.training_bytes_adam == report.totals.saved_bytes + 4 * params


def _param_cases():
    for name, args, shapes in CASES:
        if name in ("add", "sub", "mul", "div", "cat", "stack", "matmul"):
            continue
        try:
            report = cnnsize.analyze(behind_norms(name, args, shapes))
        except cnnsize.CnnsizeError:
            continue
        if report["op"].params:
            yield name, args, shapes


PARAM_CASES = list(_param_cases())


@pytest.mark.parametrize("mode", ["frozen-behind-norms", "frozen-on-input", "trained-on-input"])
@pytest.mark.parametrize(("kind_name", "args", "shapes"), PARAM_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(PARAM_CASES)])
def test_frozen_layers_save_what_autograd_saves(kind_name, args, shapes, mode):
    """trainable: false, with and without a gradient flowing into the layer: autograd saves
    only what the gradients that are needed read (linear's input is kept for its weights)."""
    if mode == "frozen-behind-norms":
        spec = behind_norms(kind_name, args, shapes)
    else:  # the kind on the inputs themselves (several for attention's query, key, value)
        names = [f"x{i}" for i in range(len(shapes))]
        spec = {"input": {n: list(s) for n, s in zip(names, shapes)},
                "layers": [{"name": "op", "type": kind_name, **args, "inputs": names}]}
    if mode.startswith("frozen"):
        spec["layers"][-1]["trainable"] = False
    conv = cnnsize.Conventions(batch=2, inplace_activations="spec", mask_bytes=4)
    report = cnnsize.analyze(spec, conventions=conv)
    assert report.totals.trainable_params == (0 if mode.startswith("frozen") else
                                              report.totals.params) + (
        sum(r.params for r in report.layers if r.name != "op"))
    torch.manual_seed(0)
    model = build(spec)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == \
        report.totals.trainable_params
    xs = tuple(torch.randn(2, *s) for s in shapes)
    assert report.totals.saved_bytes == _saved_for_backward(model, xs), spec


def test_training_memory_counts_gradients_and_moments_of_trainable_params_only():
    spec = {"input": [10], "layers": [{"name": "a", "type": "linear", "out_features": 20,
                                       "trainable": False},
                                      {"name": "b", "type": "linear", "out_features": 5}]}
    t = cnnsize.analyze(spec).totals
    assert (t.params, t.trainable_params) == (220 + 105, 105)
    # SGD-momentum: every param stored, gradient and momentum for the trainable ones
    assert t.training_bytes_sgd == t.saved_bytes + 4 * (325 + 2 * 105)
    assert t.training_bytes_adam == t.saved_bytes + 4 * (325 + 3 * 105)
    # a's input needs no gradient and a is frozen: nothing saved there; b saves a's output
    assert t.saved_bytes == 20 * 4


def _freeze(items, names):
    for item in items:
        if item.get("name") in names:
            item["trainable"] = False


@pytest.mark.parametrize(("net", "frozen", "shape"), [
    ("resnet18", {"conv1", "bn1", "layer1", "layer2"}, [3, 64, 64]),  # a frozen backbone stem
    ("resnet18", {"layer2", "fc"}, [3, 64, 64]),                     # frozen in the middle
    ("mobilenet_v2", {"features"}, [3, 64, 64]),                     # linear probe
    ("lenet5_1998", {"C1", "S2"}, None),                              # LeCun's own kinds
    ("vgg11_bn", {"classifier"}, [3, 32, 32]),
])
def test_frozen_parts_of_zoo_networks_match_autograd(net, frozen, shape):
    """The whole chain: trainable: false on containers, inherited by their layers, built with
    requires_grad off; cnnsize's trainable params and saved bytes equal what torch reports."""
    from cnnsize.spec import ZOO, read_yaml
    from cnnsize.verify.crosscheck import crosscheck

    path = os.path.join(ZOO, f"{net}.yaml")
    with open(path, encoding="utf-8") as fh:
        spec = read_yaml(fh.read(), path)
    _freeze(spec["layers"], frozen)
    if shape:
        spec["input"] = shape
    report = cnnsize.analyze(spec)
    assert 0 < report.totals.trainable_params < report.totals.params
    result = crosscheck(spec)
    checks = {c.quantity: c for c in result.totals}
    assert checks["trainable_params"].measured == report.totals.trainable_params
    # crosscheck's conventions (in place only where the spec says so): its own prediction
    saved = checks["saved_bytes"]
    assert saved.predicted == saved.measured and saved.measured > 0
    assert result.ok


class _WindowAttention(torch.nn.Module):
    """MaxViT's attention, small: q, k, v are permuted views of one qkv tensor (heads before the
    tokens of each window), multiplied by torch.einsum."""

    def __init__(self, dim: int = 8, heads: int = 2) -> None:
        super().__init__()
        self.qkv, self.out, self.heads = torch.nn.Linear(dim, 3 * dim), torch.nn.Linear(dim, dim), heads

    def forward(self, x):
        b, g, p, d = x.shape
        q, k, v = (t.reshape(b, g, p, self.heads, d // self.heads).permute(0, 1, 3, 2, 4)
                   for t in self.qkv(x).chunk(3, dim=-1))
        attn = torch.einsum("bghid,bghjd->bghij", q, k * 0.5).softmax(-1)
        out = torch.einsum("bghij,bghjd->bghid", attn, v)
        return self.out(out.permute(0, 1, 3, 2, 4).reshape(b, g, p, d))


@pytest.mark.parametrize("windows", [1, 4])
def test_einsum_saves_the_copies_bmm_makes_of_permuted_operands(windows):
    """torch.einsum hands each operand to bmm permuted (batch-like letters, own, summed) and
    reshaped to three dims: a permuted head of the qkv tensor is copied, and autograd keeps the
    copy, not the qkv storage it is a view of (maxvit_t's saved bytes differed by 6,823,936 B)."""
    from cnnsize.verify.crosscheck import crosscheck

    result = crosscheck(_WindowAttention(), input_shape=(windows, 6, 8), batch=2)
    saved = {c.quantity: c for c in result.totals}["saved_bytes"]
    assert saved.predicted == saved.measured and saved.measured > 0
    assert result.ok
