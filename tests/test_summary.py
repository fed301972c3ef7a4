"""cnnsize.summary(): torchinfo's call, answered by cnnsize's Report; torchinfo is the oracle
for what both count the same way (params, trainable params, per-module params, conv/linear
mult-adds), and the tests pin down where they differ (docs/coming-from.md)."""

from __future__ import annotations

import math

import pytest

import cnnsize
from cnnsize.errors import CnnsizeError, SpecTypeError

torch = pytest.importorskip("torch")
torchinfo = pytest.importorskip("torchinfo")

from .models_for_import import SmallNet, small_net  # noqa: E402


def _torchinfo(model, size):
    stats = torchinfo.summary(model, input_size=size, verbose=0, depth=20)
    paths = {id(module): path for path, module in model.named_modules()}
    return stats, [(paths[id(info.module)], info) for info in stats.summary_list
                   if not info.is_recursive]


def _frozen_net():
    model = small_net()
    model.stem.requires_grad_(False)
    model.layer1.requires_grad_(False)
    return model


@pytest.mark.parametrize("factory", [small_net, _frozen_net], ids=["trained", "backbone-frozen"])
def test_params_and_trainable_params_equal_torchinfos_row_by_row(factory):
    model = factory()
    stats, rows = _torchinfo(model, (2, 3, 32, 32))
    report = cnnsize.summary(model, (2, 3, 32, 32), verbose=0)
    assert report.totals.params == stats.total_params
    assert report.totals.trainable_params == stats.trainable_params
    ours = {row.name: row for row in report.layers} | {c.name: c for c in report.containers}
    compared = 0
    for path, info in rows:
        if path in ours:  # a module (leaf or container) that cnnsize also has as a row
            assert (ours[path].params, ours[path].trainable_params) == \
                (info.num_params, info.trainable_params), path
            compared += 1
    assert compared >= 20
    assert {c.name for c in report.containers} >= {"layer1", "layer1.0", "layer1.1", "se", "mixed"}


def test_conv_and_linear_mult_adds_are_torchinfos_less_the_bias_adds():
    """torchinfo counts a conv's or linear's mult-adds as (weights + biases) × output
    positions; cnnsize's MACs leave the bias additions out (they are in FLOPs)."""
    model = small_net()
    _, rows = _torchinfo(model, (2, 3, 32, 32))
    report = cnnsize.summary(model, (2, 3, 32, 32), verbose=0)
    by_name = {row.name: row for row in report.layers}
    checked = 0
    for path, info in rows:
        row = by_name.get(path)
        if row is None or row.type not in ("conv2d", "linear"):
            continue
        positions = row.units // row.output_shape[0] * report.batch
        assert info.macs == row.macs + row.biases * positions, path
        checked += 1
    assert checked == 13


def test_input_size_takes_the_batch_first_or_batch_dim():
    model = SmallNet()
    one = cnnsize.summary(model, (1, 3, 32, 32), verbose=0)
    four = cnnsize.summary(model, (4, 3, 32, 32), verbose=0)
    assert four.batch == 4 and four.totals.macs == 4 * one.totals.macs
    same = cnnsize.summary(model, (3, 32, 32), batch_dim=0, verbose=0)
    assert same.to_dict() == one.to_dict()
    with pytest.raises(SpecTypeError, match=r"has no batch dim: give \(1, 3\)"):
        cnnsize.summary(model, (3,), verbose=0)
    with pytest.raises(SpecTypeError, match="batch_dim must be 0 or None"):
        cnnsize.summary(model, (3, 32, 32), batch_dim=1, verbose=0)


def test_the_printed_summary_has_the_split_and_the_size_block(capsys):
    model = _frozen_net()
    report = cnnsize.summary(model, (1, 3, 32, 32), depth=1)
    out = capsys.readouterr().out
    t = report.totals
    assert f"trainable params: {t.trainable_params:,}" in out
    assert f"non-trainable params: {t.params - t.trainable_params:,}" in out
    assert f"params size: {t.param_bytes:,} B" in out
    assert f"forward/backward pass, saved for backward: {t.saved_bytes:,} B" in out
    # depth=1: the top-level modules only, layer1 rolled up into one row
    names = [line.split()[0] for line in out.splitlines()[4:] if line.strip()]
    assert "layer1" in names and "conv1" not in names and "0" not in names
    assert str(report) == out.rstrip("\n") + "\n"  # print(report) shows the same summary


def test_col_names_take_torchinfos_names():
    report = cnnsize.summary("resnet18", depth=1, verbose=0,
                             col_names=("input_size", "output_size", "num_params",
                                        "params_percent", "kernel_size", "mult_adds",
                                        "trainable"))
    header = str(report).splitlines()[2].split()
    assert header == ["layer", "input", "output", "params", "params%", "kernel", "MACs",
                      "trainable"]
    with pytest.raises(CnnsizeError, match="unknown column 'flops_percent'"):
        cnnsize.summary("resnet18", col_names=["flops_percent"], verbose=0)


def test_verbose_2_shows_every_row_and_0_prints_nothing(capsys):
    report = cnnsize.summary("resnet18", verbose=2)
    out = capsys.readouterr().out
    assert out and len(out.splitlines()) > len(report.layers)
    cnnsize.summary("resnet18", verbose=0)
    assert capsys.readouterr().out == ""


def test_analyze_takes_a_module_with_its_input_shape_or_says_what_to_call():
    model = SmallNet()
    report = cnnsize.analyze(model, input_shape=(3, 32, 32))
    assert report.totals.params == sum(p.numel() for p in model.parameters())
    with pytest.raises(SpecTypeError, match=r"summary\(model, input_size=\(1, 3, 224, 224\)\)"):
        cnnsize.analyze(model)


def test_dtypes_set_the_element_size_and_must_agree():
    half = cnnsize.summary("lenet5", dtypes=[torch.float16], verbose=0)
    full = cnnsize.summary("lenet5", verbose=0)
    assert half.totals.param_bytes * 2 == full.totals.param_bytes
    assert half.dtype == "float16"
    with pytest.raises(SpecTypeError, match="one element type"):
        cnnsize.summary("lenet5", dtypes=[torch.float16, torch.float32], verbose=0)


def test_a_spec_keeps_its_own_input_unless_given_one():
    report = cnnsize.summary("lenet5", verbose=0)
    assert report.input_shape == (1, 32, 32) and report.batch == 1
    wider = cnnsize.summary("resnet18", (8, 3, 64, 64), verbose=0)
    assert wider.input_shape == (3, 64, 64) and wider.batch == 8
    assert wider.totals.input_bytes == 8 * 3 * 64 * 64 * 4 == math.prod((8, 3, 64, 64)) * 4
