"""Spec format: loading, naming, containers, blocks, repeat, if, inline, expressions."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml

import cnnsize
from cnnsize.expr import evaluate

EXAMPLES = Path(__file__).parent.parent / "docs" / "examples"


def test_dict_yaml_json_and_zoo_load_the_same_network(tmp_path):
    data = yaml.safe_load((Path(cnnsize.__file__).parent / "zoo" / "lenet5.yaml").read_text())
    (tmp_path / "n.json").write_text(json.dumps(data))
    (tmp_path / "n.yml").write_text(yaml.safe_dump(data))
    reports = [cnnsize.analyze(s) for s in (data, tmp_path / "n.json", str(tmp_path / "n.yml"),
                                            "lenet5")]
    assert len({json.dumps(r.to_dict()["layers"]) for r in reports}) == 1


def test_auto_names_follow_torchvision_positions():
    names = [r.name for r in cnnsize.analyze("vgg16").layers]
    assert names[:5] == ["features.0", "features.1", "features.2", "features.3", "features.4"]
    assert names[-1] == "classifier.6" and "avgpool" in names


def test_in_channels_is_inferred_and_checked():
    spec = {"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3,
                                            "in_channels": 3}]}
    assert cnnsize.analyze(spec).layers[0].weights == 3 * 9 * 4
    spec["layers"][0]["in_channels"] = 5
    with pytest.raises(cnnsize.ShapeError, match="in_channels"):
        cnnsize.analyze(spec)


def test_resnet_blocks_reproduce_torchvision():
    # torchvision.models.ResNet50_Weights.IMAGENET1K_V1.meta: 25,557,032 params, 4.09 GFLOPS;
    # fvcore's conv + linear count for the same model: 4,089,184,256 multiply-adds (its total()
    # also counts batch norm and the adaptive pool: 4,111,512,576).
    report = cnnsize.analyze(EXAMPLES / "resnet50.yaml")
    assert report.totals.params == 25_557_032
    assert report.totals.macs == 4_089_184_256
    assert report["layer1.0.downsample.0"].weights == 64 * 256      # projection on block 0 only
    assert "layer1.1.downsample.0" not in [r.name for r in report.layers]
    assert report["layer2.0.conv2"].output_shape == (128, 28, 28)    # v1.5: stride on the 3x3
    assert report["fc"].output_shape == (1000,)


def test_resnet152_is_four_numbers_away():
    data = yaml.safe_load((EXAMPLES / "resnet50.yaml").read_text())
    counts = {"layer1": 3, "layer2": 8, "layer3": 36, "layer4": 3}
    for layer in data["layers"]:
        if layer.get("name") in counts:
            layer["blocks"] = counts[layer["name"]]
    # torchvision.models.ResNet152_Weights.IMAGENET1K_V1.meta: 60,192,808 params, 11.51 GFLOPS.
    report = cnnsize.analyze(data)
    assert report.totals.params == 60_192_808
    assert round(report.totals.macs / 1e9, 2) == 11.51


def test_repeat_names_and_variable_i():
    spec = {"input": [1, 16], "layers": [
        {"type": "linear", "out_features": "${16 + i}", "repeat": 3, "name": "fc${i}"},
        {"type": "relu", "repeat": 2, "name": "act"},
        {"type": "relu", "repeat": 0},
    ]}
    rows = cnnsize.analyze(spec).layers
    assert [r.name for r in rows] == ["fc0", "fc1", "fc2", "act_1", "act_2"]
    assert [r.output_shape for r in rows[:3]] == [(1, 16), (1, 17), (1, 18)]


def test_inline_block_joins_the_enclosing_list():
    spec = {"input": [3, 8, 8],
            "blocks": {"cbr": {"params": {"c": None},
                               "layers": [{"type": "conv2d", "out_channels": "$c", "kernel_size": 3,
                                           "padding": 1}, {"type": "relu"}]}},
            "layers": [{"type": "sequential", "name": "f", "layers": [
                {"type": "cbr", "c": 4, "inline": True, "repeat": 2},
                {"type": "cbr", "c": 8, "name": "nested"}]}]}
    names = [r.name for r in cnnsize.analyze(spec).layers]
    assert names == ["f.0", "f.1", "f.2", "f.3", "f.nested.0", "f.nested.1"]


def test_concat_sums_channels_with_named_branches():
    spec = {"input": [8, 10, 10], "layers": [{"type": "concat", "name": "mix", "branches": [
        {"name": "branch1", "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 1}]},
        [{"type": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}],
        [],   # an empty branch is the identity (DenseNet)
    ]}]}
    report = cnnsize.analyze(spec)
    assert report["mix"].output_shape == (4 + 6 + 8, 10, 10)
    assert [r.name for r in report.layers] == ["mix.branch1.0", "mix.1.0", "mix"]


def test_expressions_are_whitelisted():
    env = {"planes": 64, "i": 0}
    assert evaluate("planes * 4 if i == 0 else planes", env) == 256
    assert evaluate("max(planes // 2, 8)", env) == 32
    for bad in ("__import__('os')", "planes.__class__", "[x for x in (1,)]", "lambda: 1", "open"):
        with pytest.raises(cnnsize.SpecError):
            evaluate(bad, env)


def test_network_is_immutable_and_reusable():
    net = cnnsize.load("resnet18")  # its adaptive pool takes other inputs (lenet5's F5 does not)
    a = cnnsize.analyze(net, batch=2)
    b = cnnsize.analyze(net, input_shape=(3, 256, 256))
    assert a.layers[0].output_shape == (64, 112, 112) and b.layers[0].output_shape == (64, 128, 128)
    with pytest.raises(AttributeError):
        net.name = "x"  # type: ignore[misc]


def test_a_dict_spec_is_not_mutated():
    spec = yaml.safe_load((EXAMPLES / "resnet50.yaml").read_text())
    before = copy.deepcopy(spec)
    cnnsize.analyze(spec)
    assert spec == before


def test_the_c_yaml_loader_reads_every_zoo_spec_as_the_python_one():
    """cnnsize reads YAML with libyaml's parser where PyYAML has it; the data must not change."""
    from importlib import resources

    import yaml

    if not getattr(yaml, "__with_libyaml__", False):
        pytest.skip("PyYAML without libyaml")
    for name in cnnsize.zoo_names():
        text = (resources.files("cnnsize") / "zoo" / f"{name}.yaml").read_text(encoding="utf-8")
        assert yaml.load(text, Loader=yaml.CSafeLoader) == yaml.load(text, Loader=yaml.SafeLoader), name


# ---------------------------------------------------------------- what is made once and reused


def _conv(**args):
    return {"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3,
                                            **args}]}


@pytest.mark.parametrize(("good", "bad", "message"), [
    ({"bias": True}, {"bias": 1}, "expected true or false, got 1"),
    ({"bias": False}, {"bias": 0}, "expected true or false, got 0"),
    ({"kernel_size": 3}, {"kernel_size": 3.0}, "got 3.0"),
    ({"padding": [1, 1]}, {"padding": [1.0, 1]}, "padding"),
])
def test_a_kind_made_once_is_not_reused_for_arguments_that_only_compare_equal(good, bad, message):
    """Kinds are made once per distinct arguments; True == 1 and 3 == 3.0 in Python, but a spec
    that says 1 or 3.0 must still be refused after one that said true or 3 was accepted."""
    cnnsize.analyze(_conv(**good))
    with pytest.raises(cnnsize.SpecError, match=message):
        cnnsize.analyze(_conv(**bad))


def test_the_same_layer_gives_the_same_counts_at_every_input_shape():
    """Costs are computed once per (kind, input shapes): the same conv on other shapes is
    computed again, not taken from the first."""
    small = cnnsize.analyze(_conv(padding=1), input_shape=(3, 8, 8))
    big = cnnsize.analyze(_conv(padding=1), input_shape=(3, 16, 16))
    assert small.layers[0].output_shape == (4, 8, 8) and big.layers[0].output_shape == (4, 16, 16)
    assert big.totals.macs == 4 * small.totals.macs == 4 * 4 * 8 * 8 * 27


def test_a_zoo_network_read_once_is_the_callers_to_change():
    """Zoo specs are parsed once per process; the meta of what load() returns is a copy."""
    first = cnnsize.load("alexnet_2012")
    first.meta["year"] = 1900
    again = cnnsize.load("alexnet_2012")
    assert again.meta["year"] == 2012
    assert again.ops == first.ops


def test_the_layer_limit_counts_layers_not_the_containers_around_them(monkeypatch):
    """MAX_LAYERS bounds layers; block uses and containers are bounded by MAX_STEPS."""
    from cnnsize import spec as spec_module

    monkeypatch.setattr(spec_module, "MAX_LAYERS", 10)

    def pairs(n):
        return {"input": [2, 4, 4], "blocks": {"pair": {"layers": [{"type": "relu"}, {"type": "relu"}]}},
                "layers": [{"type": "pair", "repeat": n}]}

    assert len(cnnsize.load(pairs(5)).ops) == 10  # 10 layers in 5 block uses: within the limit
    with pytest.raises(cnnsize.SpecError, match="more than 10 layers"):
        cnnsize.load(pairs(6))


def test_the_garbage_collector_is_back_on_after_a_call_and_after_an_error():
    """Big specs are read and analysed with the cyclic collector paused (cnnsize/pause.py)."""
    import gc

    assert gc.isenabled()
    cnnsize.analyze("resnet18")
    assert gc.isenabled()
    with pytest.raises(cnnsize.ShapeError):
        cnnsize.analyze({"input": [3, 8, 8], "layers": [{"type": "conv2d", "out_channels": 4,
                                                         "kernel_size": 9}]})
    assert gc.isenabled()
    gc.disable()
    try:
        cnnsize.analyze("lenet5")
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_a_float_argument_keeps_its_sign_through_the_kind_cache():
    from cnnsize.layers.activation import LeakyReLU

    assert str(LeakyReLU.from_args({"negative_slope": -0.0}).negative_slope) == "-0.0"
    assert str(LeakyReLU.from_args({"negative_slope": 0.0}).negative_slope) == "0.0"


def test_a_kind_is_a_frozen_dataclass_that_frozen_dataclasses_can_extend():
    import dataclasses

    from cnnsize.layers.activation import ReLU
    from cnnsize.layers.base import kind_class

    @dataclasses.dataclass(frozen=True)
    class Subclass(ReLU):
        pass

    import inspect

    relu = ReLU(inplace=True)
    assert str(inspect.signature(ReLU)) == "(inplace=False)"
    assert [f.name for f in dataclasses.fields(Subclass)] == ["inplace"]
    assert dataclasses.replace(relu, inplace=False) == ReLU() != Subclass()
    with pytest.raises(dataclasses.FrozenInstanceError):
        relu.inplace = False  # type: ignore[misc]
    with pytest.raises(TypeError, match="every argument of a kind has a default"):
        @kind_class(frozen=True)
        class NoDefault(ReLU):
            size: int


def test_a_zoo_name_in_other_letters_is_not_the_zoo_network():
    """Case-insensitive file systems find VGG16.yaml for vgg16.yaml: the name is checked first."""
    with pytest.raises(cnnsize.SpecError, match="did you mean 'vgg16'"):
        cnnsize.load("VGG16")
