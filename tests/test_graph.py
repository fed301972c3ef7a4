"""The graph core: specs that a tree cannot say, lowering, memory from lifetimes, fields on DAGs.

The networks of docs/examples/{unet,fpn,two_inputs,siamese}.yaml are written a second time in
PyTorch in tests/models_for_import.py; the oracles are those modules (parameters counted by
torch, FLOPs by torch.utils.flop_counter), never cnnsize's own build.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

import cnnsize
from cnnsize.analyze import _apply_rf
from cnnsize.errors import CnnsizeError, SpecError

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "docs" / "examples"


def flops_of(module, *shapes):
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = module.eval()(*(torch.randn(1, *s) for s in shapes))
    return counter.get_total_flops(), out


PURE = cnnsize.Conventions(elementwise_flops=False)


@pytest.mark.parametrize(("example", "model", "shapes"), [
    ("unet", "TinyUNet", [(3, 16, 16)]),
    ("fpn", "TinyFPN", [(3, 32, 32)]),
    ("two_inputs", "TwoInputs", [(3, 8, 8), (1, 8, 8)]),
])
def test_example_specs_equal_their_pytorch_modules(example, model, shapes):
    pytest.importorskip("torch")
    from . import models_for_import

    module = getattr(models_for_import, model)()
    report = cnnsize.analyze(EXAMPLES / f"{example}.yaml", conventions=PURE)
    flops, out = flops_of(module, *shapes)
    outs = out if isinstance(out, tuple) else (out,)
    assert report.totals.params == sum(p.numel() for p in module.parameters())
    assert report.totals.flops == 2 * report.totals.macs == flops
    assert [report[name].output_shape for name in report.outputs] == [tuple(o.shape[1:]) for o in outs]


def test_unet_rows_read_across_levels():
    report = cnnsize.analyze(EXAMPLES / "unet.yaml")
    assert report["skip2"].inputs == ("up2", "enc2.2")            # a sequential stands for its last row
    assert report["skip1"].inputs == ("up1", "enc1.1", "input")   # and the network input by name
    assert report["skip1"].output_shape == (8 + 8 + 3, 16, 16)
    assert report.totals.params == 14_634


def test_fpn_has_three_outputs():
    report = cnnsize.analyze(EXAMPLES / "fpn.yaml")
    assert report.outputs == ("out2", "out3", "out4")
    assert [report[n].output_shape for n in report.outputs] == [(8, 16, 16), (8, 8, 8), (8, 4, 4)]
    assert report["p3"].inputs == ("lat3", "up4") and report["p3"].type == "add"


def test_two_inputs_and_json_contract():
    report = cnnsize.analyze(EXAMPLES / "two_inputs.yaml")
    assert report.inputs == (("image", (3, 8, 8)), ("mask", (1, 8, 8)))
    assert report["image_stem"].inputs == ("image",) and report["mask_stem"].inputs == ("mask",)
    data = report.to_dict()
    assert data["format_version"] == 2
    assert data["inputs"] == {"image": [3, 8, 8], "mask": [1, 8, 8]} and data["outputs"] == ["fc"]
    fuse = next(row for row in data["layers"] if row["name"] == "fuse")
    assert fuse["inputs"] == ["image_stem", "mask_stem"] and fuse["input_shapes"] == [[8, 8, 8]] * 2
    # input bytes of both inputs: (3 + 1)·8·8·4 = 1,024
    assert report.totals.input_bytes == 1_024


def test_a_shared_module_counts_its_weights_once_and_its_macs_every_time():
    report = cnnsize.analyze(EXAMPLES / "siamese.yaml")
    embed, again = report["embed"], report["embed_right"]
    assert embed.params == 8 * 9 + 8 and again.params == 0      # 1·8·3·3 + 8 = 80, counted once
    assert again.macs == embed.macs == 8 * 26 * 26 * 9           # 48,672 each call
    assert again.shares == "embed" and "counted there" in again.notes[0]
    assert report.totals.params == 80 + 8 + 1                     # + score's 8 weights + 1 bias


def test_shared_module_spec_equals_pytorch():
    torch = pytest.importorskip("torch")
    from .models_for_import import SharedConv

    spec = {"input": [4, 6, 6], "layers": [
        {"name": "conv", "type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
        {"name": "relu", "type": "relu"},
        {"name": "conv_2", "shares": "conv"}]}
    module = SharedConv()
    report = cnnsize.analyze(spec, conventions=PURE)
    flops, _ = flops_of(module, (4, 6, 6))
    assert report.totals.params == sum(p.numel() for p in module.parameters()) == 148
    assert report.totals.flops == flops == 2 * 2 * (4 * 36 * 4 * 9)   # two calls of 5,184 MACs
    del torch


@pytest.mark.parametrize(("layers", "message"), [
    ([{"name": "a", "type": "relu", "inputs": "b"}, {"name": "b", "type": "relu"}],
     "'b' is not defined before this point"),
    ([{"name": "a", "type": "relu"}, {"name": "s", "type": "add", "inputs": ["a", "nope"]}],
     "'nope' is not defined"),
    ([{"name": "a", "type": "relu"}, {"name": "b", "type": "add", "inputs": "a"}],
     "add takes 2 or more inputs, got 1"),
    ([{"name": "a", "type": "relu", "inputs": ["input", "input"]}], "relu takes 1 input, got 2"),
    ([{"name": "b", "shares": "nothing"}], "'nothing' is not defined"),
    ([{"name": "a", "type": "relu"}, {"name": "b", "shares": "a", "type": "relu"}],
     "an item with 'shares' calls that layer's module again: it takes no 'type'"),
    ([{"name": "a", "type": "conv2d", "out_channels": 2, "kernel_size": 1},
      {"name": "b", "type": "sequential", "inputs": ["a", "input"], "layers": []}],
     "a sequential takes one input, got 2"),
])
def test_bad_graphs_name_what_is_wrong(layers, message):
    with pytest.raises(CnnsizeError, match=message):
        cnnsize.analyze({"input": [3, 8, 8], "layers": layers})


def test_unknown_output_and_duplicate_output():
    base = {"input": [3, 8, 8], "layers": [{"name": "a", "type": "relu"}]}
    with pytest.raises(SpecError, match="'b' is not defined"):
        cnnsize.analyze({**base, "outputs": ["b"]})
    with pytest.raises(SpecError, match="listed twice"):
        cnnsize.analyze({**base, "outputs": ["a", "a"]})


def test_names_resolve_in_the_enclosing_containers_first():
    spec = {"input": [2, 8, 8], "layers": [
        {"name": "x", "type": "relu"},
        {"name": "block", "type": "sequential", "layers": [
            {"name": "x", "type": "conv2d", "out_channels": 2, "kernel_size": 1},
            {"name": "sum", "type": "add", "inputs": ["x", "input"]}]},   # block.x, not x
        {"name": "outer", "type": "add", "inputs": ["x", "block.x"]}]}
    report = cnnsize.analyze(spec)
    assert report["block.sum"].inputs == ("block.x", "input")
    assert report["outer"].inputs == ("x", "block.x")


def test_dotted_names_are_paths():
    spec = {"input": [2, 8, 8], "layers": [{"name": "features.0", "type": "relu"},
                                           {"name": "features.1", "type": "relu"}]}
    assert [r.name for r in cnnsize.analyze(spec).layers] == ["features.0", "features.1"]
    with pytest.raises(SpecError, match="must not start or end with"):
        cnnsize.analyze({"input": [2, 8, 8], "layers": [{"name": "a..b", "type": "relu"}]})


def test_containers_lower_to_merge_ops():
    net = cnnsize.load("resnet18")
    merges = [op for op in net.ops if op.kind.type_name == "add"]
    first = merges[0]
    assert first.name == "layer1.0" and first.inputs == ("layer1.0.bn2", "maxpool")  # identity
    projected = next(op for op in merges if op.name == "layer2.0")
    assert projected.inputs == ("layer2.0.bn2", "layer2.0.downsample.1")
    assert next(op for op in net.ops if op.name == "layer1.0.relu").inputs == ("layer1.0",)


# ---------------------------------------------------------------- memory from lifetimes

SKIP = {"input": [1, 4, 4], "layers": [
    {"name": "a", "type": "conv2d", "out_channels": 8, "kernel_size": 1},
    {"name": "b", "type": "relu"},
    {"name": "c", "type": "conv2d", "out_channels": 8, "kernel_size": 1},
    {"name": "d", "type": "add", "inputs": ["c", "b"]},
    {"name": "e", "type": "conv2d", "out_channels": 1, "kernel_size": 1}]}


def test_inference_peak_by_hand():
    # float32, batch 1: input 1·4·4·4 = 64 B (held by the caller throughout); a, c, d 8·4·4·4 =
    # 512 B each; b runs in place on a (--inplace all), so a lives until d reads b.
    # a: 64 + 512 = 576; c: 1,088; d: 1,600 (input, a, c, d alive); then a and c are freed:
    # 576; e: 640. Peak 1,600 B while d runs.
    report = cnnsize.analyze(SKIP)
    t = report.totals
    assert t.peak_bytes == 1_600 and t.peak_at == "d"
    assert t.peak_live == (("input", 64), ("a", 512), ("c", 512), ("d", 512))
    assert [r.live_bytes for r in report.layers] == [576, 576, 1_088, 1_600, 640]
    assert t.activation_bytes == 64 + 512 + 0 + 512 + 512 + 64   # every output, b in place
    # every ReLU stored (--inplace none): b is its own 512 B, and a is freed after b reads it:
    # a 576; b 1,088, then 576; c 1,088; d 1,600 (input, b, c, d); e 640.
    stored = cnnsize.analyze(SKIP, conventions=cnnsize.Conventions(inplace_activations="none"))
    assert [r.live_bytes for r in stored.layers] == [576, 1_088, 1_088, 1_600, 640]


def test_inference_peak_matches_live_tensors_of_the_built_model():
    pytest.importorskip("torch")
    for spec in (SKIP, EXAMPLES / "unet.yaml", EXAMPLES / "fpn.yaml", "resnet18", "densenet121",
                 "googlenet"):
        result = cnnsize.crosscheck(spec, batch=2)
        peak = next(c for c in result.totals if c.quantity == "peak_bytes")
        assert peak.status == "match", (spec, peak)


def test_training_memory_adds_saved_tensors_to_the_model_state():
    t = cnnsize.analyze("resnet50").totals
    assert t.training_bytes_sgd == t.saved_bytes + t.buffer_bytes + 3 * t.param_bytes
    # ResNet-50 at batch 1 keeps about 82 MiB for backward, far more than its inference peak
    assert t.saved_bytes > 8 * t.peak_bytes


# ---------------------------------------------------------------- receptive fields on a DAG

def test_receptive_field_is_the_largest_over_all_paths():
    spec = {"input": [1, 16, 16], "layers": [
        {"name": "a", "type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},   # 3
        {"name": "b", "type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1},   # 5
        {"name": "c", "type": "conv2d", "out_channels": 2, "kernel_size": 1, "inputs": "input"},  # 1
        {"name": "d", "type": "add", "inputs": ["c", "b"]},                                   # max 5
        {"name": "e", "type": "conv2d", "out_channels": 2, "kernel_size": 3, "padding": 1}]}  # 7
    report = cnnsize.analyze(spec)
    assert [report[n].receptive_field for n in "abcde"] == [(3, 3), (5, 5), (1, 1), (5, 5), (7, 7)]


def test_paths_with_different_jumps_keep_every_candidate():
    from cnnsize.analyze import _standard
    from cnnsize.layers.base import Cost, Window

    one, two = Fraction(1), Fraction(2)
    coarse = (((Fraction(5),), (two,)),)     # r 5, jump 2
    fine = (((Fraction(7),), (one,)),)       # r 7, jump 1
    shape = (4, 10)
    flat = _standard(2, 1)

    def apply(cost, fields):
        merged, _, note = _apply_rf(cost, fields, [flat] * len(fields), (shape,) * len(fields), {})
        return merged, note

    merge = Cost(output_shape=shape)
    merged, note = apply(merge, [coarse, fine])
    assert merged is not None and set(merged) == {coarse[0], fine[0]}   # neither beats the other
    assert "different jumps" in (note or "")
    # a 5-wide window after the merge: 5 + 4·2 = 13 on the coarse path, 7 + 4·1 = 11 on the
    # fine one: the path with the smaller field before the merge has the larger one after it
    after, _ = apply(Cost(output_shape=shape, rf=(Window(5, one),)), [merged])
    assert after is not None and max(r[0] for r, _ in after) == 5 + 4 * 2   # the coarse path wins
    dominated, note = apply(merge, [coarse, (((Fraction(3),), (one,)),)])
    assert dominated == coarse and note is None


def test_a_gate_from_global_statistics_keeps_the_feature_field():
    report = cnnsize.analyze("efficientnet_b0")
    assert report["features.1.0.block.1"].type == "mul"
    assert report["features.1.0.block.1"].receptive_field == (7, 7)


# ---------------------------------------------------------------- regressions from review


def test_a_residual_with_post_stands_for_its_output():
    spec = {"input": [4, 8, 8], "layers": [
        {"name": "block", "type": "residual",
         "body": [{"type": "conv2d", "out_channels": 4, "kernel_size": 1}],
         "post": [{"name": "expand", "type": "conv2d", "out_channels": 16, "kernel_size": 1}]},
        {"name": "other", "type": "relu", "inputs": "input"},
        {"name": "head", "type": "conv2d", "out_channels": 2, "kernel_size": 1, "inputs": "block"}]}
    report = cnnsize.analyze(spec)
    assert report["head"].inputs == ("block.expand",) and report["head"].input_shapes == ((16, 8, 8),)
    assert report["block"].type == "add" and report["block.expand"].inputs == ("block",)


@pytest.mark.parametrize(("spec", "message"), [
    ({"input": [3, 8, 8], "layers": [
        {"name": "enc", "type": "sequential", "layers": [
            {"type": "conv2d", "out_channels": 4, "kernel_size": 1}, {"type": "relu"}]},
        {"name": "again", "shares": "enc"}]},
     "'enc' is a container or an input, not a layer"),
    ({"input": {"a": [3, 8, 8], "b": [8, 8, 8]}, "layers": [
        {"name": "c", "type": "conv2d", "out_channels": 4, "kernel_size": 3, "inputs": "a"},
        {"name": "d", "shares": "c", "inputs": "b"}]},
     "calls the module of c again on a 8×8×8 input, but that module was made for 3×8×8"),
    ({"input": {"image": [3, 8, 8], "mask": [1, 8, 8]}, "layers": [
        {"name": "mask", "type": "sequential", "layers": [
            {"type": "conv2d", "out_channels": 16, "kernel_size": 1}]}]},
     "two layers, containers or inputs have this name"),
    ({"input": [3, 8, 8], "layers": [{"name": "a", "type": "relu"},
                                     {"name": "s", "type": "add", "input": ["a", "input"]}]},
     "did you mean 'inputs'"),
    ({"input": [3, 8, 8], "layers": [{"name": "a", "type": "relu"},
                                     {"name": "s", "type": "add", "inputs": ["a", "input"], "inplace": True},
                                     {"name": "t", "type": "add", "inputs": [{"x": 1}, "a"]}]},
     "must be a name or a list of names"),
    ({"input": [4, 8, 8], "layers": [{"name": "g", "type": "adaptiveavgpool2d", "output_size": 1},
                                     {"name": "s", "type": "add", "inputs": ["g", "input"], "inplace": True}]},
     r"in place, the first input \(4×1×1\) must have the output's shape \(4×8×8\)"),
])
def test_misused_graph_features_are_errors(spec, message):
    with pytest.raises(CnnsizeError, match=message):
        cnnsize.analyze(spec)


def test_saved_tensors_of_a_dead_end_are_freed():
    spec = {"input": [3, 8, 8], "layers": [
        {"name": "c", "type": "conv2d", "out_channels": 4, "kernel_size": 3},
        {"name": "dead", "type": "conv2d", "out_channels": 4, "kernel_size": 1},   # read by nothing
        {"name": "out", "type": "relu", "inputs": "c"}]}
    report = cnnsize.analyze(spec)
    # c saves the input, 3·8·8·4 = 768 B; out saves its output, c's storage, 4·6·6·4 = 576 B
    assert [(r.name, r.saved_bytes) for r in report.layers] == [("c", 768), ("dead", 0), ("out", 576)]
    pytest.importorskip("torch")
    saved = next(c for c in cnnsize.crosscheck(spec, batch=2).totals if c.quantity == "saved_bytes")
    assert saved.status == "match"


def test_an_add_in_place_stores_nothing_and_matches_torch():
    spec = {"input": [4, 8, 8], "layers": [
        {"name": "c", "type": "conv2d", "out_channels": 4, "kernel_size": 1},
        {"name": "s", "type": "add", "inputs": ["c", "input"], "inplace": True},
        {"name": "r", "type": "relu", "inplace": True}]}
    report = cnnsize.analyze(spec, conventions=cnnsize.Conventions(inplace_activations="spec"))
    assert report["s"].activation_bytes == 0
    # input 4·8·8·4 = 1,024 B, c 1,024 B (s and r write into it): the peak is 2,048 B
    assert report.totals.peak_bytes == 2_048
    pytest.importorskip("torch")
    assert cnnsize.crosscheck(spec, batch=2).ok


def test_layer_names_python_cannot_call_are_refused_by_build():
    pytest.importorskip("torch")
    spec = {"input": [3, 8, 8], "layers": [{"name": "if", "type": "relu"}]}
    cnnsize.analyze(spec)  # a fine name for a report
    with pytest.raises(CnnsizeError, match="'if' is a Python keyword"):
        cnnsize.build(spec)


@pytest.mark.parametrize("name", ["inception_v3", "googlenet", "squeezenet1_0", "densenet121",
                                  "resnet18"])
def test_a_container_stands_for_the_tensor_it_returns(name):
    """A concat whose branches are written inline stood for its first branch's output (Inception-v3's
    Mixed_5b as 64×35×35 instead of 256×35×35): every container of the zoo's networks returns
    the tensor of its last row (the merge, or the residual's post)."""
    report = cnnsize.analyze(name)
    for c in report.containers:
        last = report.layers[c.last]
        assert (c.name, c.output_shape, c.receptive_field) == \
            (c.name, last.output_shape, last.receptive_field)


def test_a_residual_adds_in_place_when_told_and_matches_torch():
    block = {"name": "block", "type": "residual", "inplace": True,
             "body": [{"type": "conv2d", "out_channels": 4, "kernel_size": 1}],
             "post": [{"type": "relu", "inplace": True}]}
    spec = {"input": [4, 8, 8], "layers": [block]}
    report = cnnsize.analyze(spec, conventions=cnnsize.Conventions(inplace_activations="spec"))
    assert report["block"].type == "add" and report["block"].kind.inplace
    assert report["block"].activation_bytes == 0
    assert report.totals.peak_bytes == 2_048   # the input and the conv's output, as above
    assert cnnsize.analyze({"input": [4, 8, 8], "layers": [{**block, "inplace": False}]}
                           )["block"].activation_bytes == 1_024
    for wrong, message in ((dict(block, merge="mul"), "an in-place merge is an add"),
                           (dict(block, inplace="yes"), "must be true or false")):
        with pytest.raises(CnnsizeError, match=message):
            cnnsize.analyze({"input": [4, 8, 8], "layers": [wrong]})
    pytest.importorskip("torch")
    assert cnnsize.crosscheck(spec, batch=2).ok
