"""Training memory: what cnnsize says autograd saves, against what autograd saves.

The oracle is torch.autograd.graph.saved_tensors_hooks on the real module in training mode:
every tensor it packs, counted once per storage, parameters and buffers left out. Each kind's
examples run behind a BatchNorm (so that its input needs a gradient, as inside a network),
in place and not.
"""

from __future__ import annotations

import dataclasses

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
    """A spec: each input through its own BatchNorm, then the kind."""
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
    xs = tuple(torch.randn(2, *s) for s in shapes)
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
