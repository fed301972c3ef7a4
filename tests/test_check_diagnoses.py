"""cnnsize check (issue 13): the worked formula under every ✗ is the row's own
`cnnsize report --explain` lines for that quantity (one source of truth), and each diagnosis
added for a realistic student mistake names it, with the numbers.

The student's numbers below are worked out by hand next to each claim.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cnnsize.claims import CheckResult, Mistake, Verdict, check, parse_claim
from cnnsize.errors import SpecError

ROOT = Path(__file__).parent.parent


def cnnsize(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cnnsize", *args], capture_output=True,
                          text=True, timeout=300, cwd=ROOT)


def verdict(result: CheckResult, layer: str, quantity: str) -> Verdict:
    (found,) = [v for v in result.verdicts if (v.layer, v.quantity) == (layer, quantity)]
    return found


# ---------------------------------------------------------------- one source of truth


def explain_sections(spec: str, *flags: str) -> dict[str, list[str]]:
    """Row name → its lines under `Formulas:` in `cnnsize report SPEC --explain FLAGS`."""
    proc = cnnsize("report", spec, "--explain", *flags)
    assert proc.returncode == 0, proc.stderr
    body = proc.stdout.split("\nFormulas:\n", 1)[1].split("\n\n", 1)[0]
    sections: dict[str, list[str]] = {}
    name = ""
    for line in body.splitlines():
        if line.startswith("  "):
            sections[name].append(line[2:])
        else:
            name = line.split(" (", 1)[0]
            sections[name] = []
    return sections


# The explain line that states each quantity's value, as the test reads `--explain` (its own
# prefixes, not cnnsize's): the last line that starts so is the table's number.
STATES = {"units": ("units =",), "weights": ("weights =",), "biases": ("biases =",),
          "params": ("params =",), "connections": ("connections =",),
          "macs": ("MACs =", "connections = MACs ="), "flops": ("FLOPs =",),
          "activation_bytes": ("memory =",), "receptive_field": ("receptive field",),
          "output_shape": ("H2 =", "W2 =", "output =")}
WRONG = {"output_shape": "7x7x7", "receptive_field": 7}  # other quantities: 7


def every_claim_wrong(spec: str, rows: list[str]) -> dict[str, Any]:
    return {"spec": spec, "layers": {row: {q: WRONG.get(q, 7) for q in STATES} for row in rows}}


def assert_formulas_are_explain_lines(result: CheckResult, sections: dict[str, list[str]]) -> int:
    checked = 0
    for v in result.claims:
        if v.ok or v.layer == "total":
            continue
        own = sections[v.layer]
        stated = [line for line in own if line.startswith(STATES[v.quantity])]
        for line in v.formula:
            if line in own:
                continue
            if not stated and re.fullmatch(r"\S+ = 0 \(a \S+ has none\)", line):
                continue  # nothing to work out: a pool's weights, an activation's MACs
            if line.startswith("(") and line.endswith("not shown: cnnsize report --explain "
                                                      "lists them)"):
                continue
            name, _, rest = line.partition(": ")  # an earlier layer on the field's path
            assert rest in sections.get(name, []), (v.layer, v.quantity, line, own)
        if stated:
            assert stated[-1] in v.formula, (v.layer, v.quantity, v.formula, stated[-1])
        checked += len(v.formula)
    return checked


@pytest.mark.parametrize(("spec", "rows", "convention", "flags"), [
    ("lenet5", ["C1", "1", "S2", "C3", "S4", "6", "F5", "F6", "output"], None, ()),
    ("lenet5", ["C1", "S2", "F5"], "cs231n", ("--no-bias",)),
    ("lenet5_1998", ["C1", "S2", "C3", "C5", "F6", "output"], "lecun1998",
     ("--bias-connections",)),
    ("lenet5", ["C1", "S2", "F5"], "fvcore", ("--flops-per-mac", "1", "--no-elementwise-flops")),
    ("resnet18", ["conv1", "bn1", "relu", "maxpool", "layer1.0", "layer2.0.downsample.0",
                  "layer4.1.conv2", "avgpool", "flatten", "fc"], None, ()),
    ("alexnet_2012", ["conv1", "pool1", "conv2", "pool2", "fc6", "fc8"], None, ()),
])
def test_every_cross_shows_the_rows_explain_lines(spec, rows, convention, flags):
    result = check(every_claim_wrong(spec, rows), conventions=convention)
    sections = explain_sections(spec, *flags)
    assert assert_formulas_are_explain_lines(result, sections) >= 3 * len(rows)


def test_the_receptive_field_formula_has_its_numbers_and_its_path():
    # LeNet-5's C3: r = 1 + (5 − 1)·1 = 5 (C1), 5 + (2 − 1)·1 = 6, jump 2 (S2), 6 + (5 − 1)·2 = 14
    result = check({"spec": "lenet5", "layers": {"C3": {"rf": 12}}})
    assert verdict(result, "C3", "receptive_field").formula == (
        "C1: receptive field = r_in + (F − 1)·j_in = 1 + (5 − 1)·1 = 5",
        "C1: jump = j_in·S = 1·1 = 1",
        "S2: receptive field = r_in + (F − 1)·j_in = 5 + (2 − 1)·1 = 6",
        "S2: jump = j_in·S = 1·2 = 2",
        "receptive field = r_in + (F − 1)·j_in = 6 + (5 − 1)·2 = 14",
        "jump = j_in·S = 2·1 = 2")
    # VGG-16's last pool: 14 layers set the field before the three shown
    formula = verdict(check({"spec": "vgg16", "layers": {"features.30": {"rf": 100}}}),
                      "features.30", "receptive_field").formula
    assert formula[0].startswith("(14 earlier layers") and len(formula) == 1 + 3 * 2 + 2
    assert formula[-2] == "receptive field = r_in + (F − 1)·j_in = 196 + (2 − 1)·16 = 212"


def test_flops_and_memory_formulas_are_expanded():
    result = check({"spec": "lenet5", "layers": {"C1": {"flops": 7, "memory": 7}}})
    # FLOPs = 2·117,600 + 4,704 = 239,904, MACs = connections = 4,704·5·5·1 = 117,600
    assert verdict(result, "C1", "flops").formula == (
        "connections = units·FH·FW·C_in = 4,704·5·5·1 = 117,600",
        "MACs = connections = 117,600",
        "FLOPs = 2·MACs + bias adds = 2·117,600 + 4,704 = 239,904")
    # memory = 4,704·4·1 = 18,816 B
    assert verdict(result, "C1", "activation_bytes").formula == (
        "memory = units·bytes/element·batch = 4,704·4·1 = 18,816 B",)


def test_a_sum_of_rows_names_each_and_adds_them_up():
    result = check({"spec": "lenet5", "layers": {"F5 + F6": {"params": 7}}})
    # 48,000 + 120 = 48,120; 10,080 + 84 = 10,164; 48,120 + 10,164 = 58,284
    assert verdict(result, "F5 + F6", "params").formula == (
        "F5: weights = N_in·N_out = 400·120 = 48,000", "F5: biases = N_out = 120",
        "F5: params = weights + biases = 48,000 + 120 = 48,120",
        "F6: weights = N_in·N_out = 120·84 = 10,080", "F6: biases = N_out = 84",
        "F6: params = weights + biases = 10,080 + 84 = 10,164",
        "sum = 48,120 + 10,164 = 58,284")


# ---------------------------------------------------------------- elements and bytes


def test_an_element_count_claimed_as_memory():
    # CS231n's VGG-16 table: "CONV3-64: [224x224x64] memory: 224*224*64=3.2M", as a memory
    # claim; 224·224·64 = 3,211,264 elements, ×4 B = 12,845,056 B
    result = check({"spec": "vgg16", "layers": {"features.0": {"memory": "224*224*64"},
                                                "features.2": {"memory": "3.2M"}}})
    for layer in ("features.0", "features.2"):
        v = verdict(result, layer, "activation_bytes")
        assert v.mistake is Mistake.ELEMENTS_FOR_BYTES and v.computed == 12_845_056
        assert v.diagnosis == ("this is the element count (3,211,264); memory is in bytes: ×4 B "
                               "per float32 = 12,845,056 B (12.85 MB)")
    # the slide's total, 24M, is no element count of VGG-16; its 15.2M would be, the input
    # left out: total units 15,112,168
    total = verdict(check({"spec": "vgg16", "totals": {"memory": "15.1M"}}), "total",
                    "activation_bytes")
    assert total.mistake is Mistake.ELEMENTS_FOR_BYTES
    assert "the layers' element count (15,112,168 units, without the input)" in total.diagnosis


def test_bytes_claimed_as_an_element_count():
    # 3,211,264 units · 4 B = 12,845,056: the memory written in the units column
    v = verdict(check({"spec": "vgg16", "layers": {"features.0": {"units": "12,845,056"}}}),
                "features.0", "units")
    assert v.mistake is Mistake.BYTES_FOR_ELEMENTS
    assert v.diagnosis == ("this is the memory in bytes (3,211,264·4 B per float32 = "
                           "12,845,056 B); units counts the output's elements: 3,211,264")
    # ... and LeNet's S2 units written as 4,704 is C1's units (a 2×2 pool quarters them), not
    # S2's 1,176·4 bytes: the neighbour is said
    v = verdict(check({"spec": "lenet5", "layers": {"S2": {"units": 4704}}}), "S2", "units")
    assert v.mistake is Mistake.NEIGHBOUR


def test_memory_in_another_dtype():
    # 3,211,264 elements · 2 B (float16) = 6,422,528 B
    v = verdict(check({"spec": "vgg16", "layers": {"features.0": {"memory": "6,422,528"}}}),
                "features.0", "activation_bytes")
    assert v.mistake is Mistake.OTHER_DTYPE and "2 B per element (float16" in v.diagnosis


def test_a_byte_unit_on_a_count_is_refused_with_what_to_write():
    with pytest.raises(SpecError, match=r"'12\.8MB' is in bytes, but the claim is about units") as e:
        parse_claim("12.8MB", "units")
    assert e.value.hint and "written without the B: 12.8M" in e.value.hint


# ---------------------------------------------------------------- biases


def test_the_bias_folded_into_the_weights():
    # LeNet-5's C1: 5·5·1·6 = 150 weights and 6 biases; 156 is the params
    v = verdict(check({"spec": "lenet5", "layers": {"C1": {"weights": 156}}}), "C1", "weights")
    assert v.mistake is Mistake.BIASES_IN_WEIGHTS
    assert v.diagnosis.startswith("this is weights + biases (150 + 6 = 156), the params")


def test_one_bias_for_the_whole_layer():
    # C1: 150 + 1 = 151 (there are 6 biases: 156); F5: 48,000 + 1 (120 biases)
    result = check({"spec": "lenet5", "conventions": "pytorch",
                    "layers": {"C1": {"params": 151}, "F5": {"params": "48,001"},
                               "C3": {"biases": 1}}})
    c1, f5, c3 = (verdict(result, r, q) for r, q in
                  (("C1", "params"), ("F5", "params"), ("C3", "biases")))
    assert {c1.mistake, f5.mistake, c3.mistake} == {Mistake.ONE_BIAS}
    assert c1.diagnosis == ("this counts one bias for the whole layer (150 + 1 = 151); there is "
                            "one per output channel: 6 biases")
    assert "one per output unit: 120 biases" in f5.diagnosis
    assert c3.diagnosis == ("this counts one bias for the whole layer; there is one per output "
                            "channel: 16 biases")
    # the network: 61,470 weights + one bias for each of its 5 layers = 61,475 (236 biases)
    total = verdict(check({"spec": "lenet5", "totals": {"params": "61,475"}}), "total", "params")
    assert total.mistake is Mistake.ONE_BIAS and "one bias for each layer" in total.diagnosis


def test_a_bias_per_unit():
    # C1's 4,704 outputs each with its own bias: 150 + 4,704 = 4,854 (shared: 6)
    v = verdict(check({"spec": "lenet5", "layers": {"C1": {"params": "4,854"}}}), "C1", "params")
    assert v.mistake is Mistake.BIAS_PER_UNIT and "6 biases" in v.diagnosis


def test_bias_counted_in_the_macs():
    # C1: 117,600 MACs + 4,704 bias adds = 122,304; C3: 240,000 + its 16 biases; F5: 48,000 +
    # 120 = 48,120, its params (not "weights written as MACs": a linear layer shares nothing)
    result = check({"spec": "lenet5", "layers": {"C1": {"macs": "122,304"},
                                                 "C3": {"macs": "240,016"},
                                                 "F5": {"macs": "48,120"}}})
    c1, c3, f5 = (verdict(result, r, "macs") for r in ("C1", "C3", "F5"))
    assert {c1.mistake, c3.mistake, f5.mistake} == {Mistake.BIAS_IN_MACS}
    assert c1.diagnosis.startswith("this counts each output's bias add as a MAC (117,600 + "
                                   "4,704 = 122,304)")
    assert c3.diagnosis.startswith("this adds the 16 biases to the MACs (240,000 + 16 = 240,016)")
    assert "shared" not in f5.diagnosis
    # FLOPs: the bias add as a MAC is 2 FLOPs: 2·(240,000 + 1,600) = 483,200 (right: 481,600)
    v = verdict(check({"spec": "lenet5", "layers": {"C3": {"flops": "483,200"}}}), "C3", "flops")
    assert v.mistake is Mistake.BIAS_IN_MACS and v.computed == 481_600


# ---------------------------------------------------------------- weights and connections


def test_weights_and_connections_of_the_whole_network():
    # the grading helper diagnoses a row (C3's 2,400 weights as its 240,000 connections); a total
    # too: LeNet-5's 61,470 weights as its 422,824 connections
    v = verdict(check({"spec": "lenet5", "totals": {"connections": "61,470"}}), "total",
                "connections")
    assert v.mistake is Mistake.WEIGHTS_FOR_CONNECTIONS
    assert v.diagnosis.startswith("this is the number of weights (61,470), not of connections")


def test_a_pools_connections_as_its_weights():
    # S2 has no weights; 1,176·2·2 = 4,704 are its window's inputs
    v = verdict(check({"spec": "lenet5", "layers": {"S2": {"weights": 4704}}}), "S2", "weights")
    assert v.mistake is Mistake.CONNECTIONS_FOR_WEIGHTS
    assert "S2 has no weights" in v.diagnosis and "shared" not in v.diagnosis


def test_a_module_called_again_is_counted_once():
    # b calls a's conv2d(3, 3, 3) again: 3·3·3·3 + 3 = 84 params, all counted at a
    spec = {"input": [3, 16, 16], "layers": [
        {"name": "a", "type": "conv2d", "out_channels": 3, "kernel_size": 3, "padding": 1},
        {"name": "b", "shares": "a"}]}
    v = verdict(check({"spec": spec, "layers": {"b": {"params": 84}}}), "b", "params")
    assert v.mistake is Mistake.SHARED_TWICE and v.computed == 0
    assert v.diagnosis == "b calls the module of a again: its 84 params are a's, counted there once"


# ---------------------------------------------------------------- shapes and fields


@pytest.mark.parametrize(("spec", "layer", "claimed", "fragment"), [
    ("resnet18", "avgpool", "512", "the same 512 values as 512×1×1, written without its ×1×1"),
    ("resnet18", "avgpool", "512x1", "written without its ×1"),
    ("resnet18", "avgpool", "1x1x512", "channels last"),
    ("lenet5_1998", "C5", "120", "as 120×1×1, written without"),  # LeCun's C5: 120 maps of 1×1
    ("resnet18", "fc", "1000x1x1", "the same 1,000 values as 1000, written with ×1×1 more"),
])
def test_a_global_pools_shape_with_or_without_its_ones(spec, layer, claimed, fragment):
    result = check({"spec": spec, "layers": {layer: {"output": claimed}}})
    v = verdict(result, layer, "output_shape")
    assert v.ok and fragment in v.note
    # ones elsewhere are a mistake: 512×1×1 is not 1×512×1
    assert not check({"spec": "resnet18", "layers": {"avgpool": {"output": "1x512x1"}}}).ok


def test_a_receptive_field_without_the_strides():
    # C3 through C1 (5), S2 (2, stride 2), C3 (5): 1 + 4 + 1 + 4 = 10, where the strides make
    # it 6 + (5 − 1)·2 = 14
    v = verdict(check({"spec": "lenet5", "layers": {"C3": {"rf": 10}}}), "C3", "receptive_field")
    assert v.mistake is Mistake.NO_JUMP
    assert v.diagnosis.startswith("this adds up the kernels without the strides (1 + 4 + 1 + 4 "
                                  "= 10)")
    # its own kernel, 5, for a field of 14
    v = verdict(check({"spec": "lenet5", "layers": {"C3": {"rf": "5x5"}}}), "C3", "receptive_field")
    assert v.mistake is Mistake.OWN_KERNEL and "C3's own kernel (5×5)" in v.diagnosis


def test_a_global_field_can_be_claimed():
    # F5 reads every position of S4: its field is the whole 32×32 input (16 + (5 − 1)·4 = 32)
    result = check({"spec": "lenet5", "layers": {"F5": {"rf": "global"}, "F6": {"rf": 32},
                                                 "output": {"rf": 16}}})
    assert verdict(result, "F5", "receptive_field").ok
    f6 = verdict(result, "F6", "receptive_field")
    assert f6.ok and "the whole 32×32 input" in f6.note
    assert not verdict(result, "output", "receptive_field").ok       # 16 of 32 is not global
    assert "global" in result.render()
    assert not check({"spec": "lenet5", "layers": {"S4": {"rf": "global"}}}).ok  # 16×16
    with pytest.raises(SpecError, match="a receptive field like 14, 14x14 or global"):
        parse_claim("everything", "receptive_field")


# ---------------------------------------------------------------- two explanations


def test_a_forgotten_plus_one_and_another_input_are_both_said():
    # AlexNet at 227: pool2 = (27 − 3)/2 + 1 = 13; the + 1 forgotten gives 12, and so does a
    # 224 input (54 → 26 → 26 → (26 − 3)/2 + 1 = 12.5 → 12)
    only = verdict(check({"spec": "alexnet_2012", "layers": {"pool2": {"output": "12x12x256"}}}),
                   "pool2", "output_shape")
    assert only.mistake is Mistake.OTHER_INPUT
    assert only.diagnosis.startswith("two slips give this value: this is the value for a "
                                     "224×224 input (12×12×256)")
    assert "; or off by one" in only.diagnosis
    # with conv1 and pool1 right for 227, the input is ruled out: the + 1 first
    result = check({"spec": "alexnet_2012", "layers": {"conv1": {"output": "55x55x96"},
                                                       "pool1": {"output": "27x27x96"},
                                                       "pool2": {"output": "12x12x256"}}})
    v = verdict(result, "pool2", "output_shape")
    assert v.mistake is Mistake.OFF_BY_ONE
    assert v.diagnosis.startswith("off by one")
    assert v.diagnosis.endswith("or this is the value for a 224×224 input (12×12×256), but your "
                                "conv1 and pool1 output_shape are right for 227×227")
    # with conv1 and pool1 both claimed at their 224 values, the input it is (as before)
    result = check({"spec": "alexnet_2012", "input": [3, 224, 224],
                    "layers": {"conv1": {"output": "55x55x96"}, "pool1": {"output": "27x27x96"}}})
    assert {v.mistake for v in result.verdicts} == {Mistake.OTHER_INPUT}
    assert not any("two slips" in v.diagnosis for v in result.verdicts)


def test_every_mistake_name_is_in_the_tutorial():
    text = (ROOT / "docs" / "tutorial-check.md").read_text(encoding="utf-8")
    section = text[text.index("### Output"):text.index("## The lecture LeNet table")]
    missing = [m.value for m in Mistake if f"`{m.value}`" not in section.replace("\n", " ")]
    assert not missing


def test_the_tutorials_mistakes_are_each_diagnosed():
    result = check(ROOT / "docs" / "examples" / "mistakes_lenet5.yaml")
    assert result.claims and all(not v.ok and v.mistake is not None for v in result.claims)


def test_the_console_script_says_the_new_diagnoses(tmp_path):
    claims = tmp_path / "student.csv"
    claims.write_text("layer,weights,params,macs\nC1,156,151,\"122,304\"\n", encoding="utf-8")
    proc = cnnsize("check", str(claims), "--spec", "lenet5", "--format", "json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    mistakes = {c["quantity"]: c["mistake"] for c in json.loads(proc.stdout)["claims"]}
    assert mistakes == {"weights": "biases counted in weights",
                        "params": "one bias for the whole layer",
                        "macs": "biases counted in MACs"}
