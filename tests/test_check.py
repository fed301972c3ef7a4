"""cnnsize check: claimed values, diagnoses, the lecture examples of docs/examples, the CLI.

The examples are transcribed from lecture slides (docs/tutorial-check.md names each one); their
expected ✓/✗ patterns below are what the slides get right and wrong, worked out by hand.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from cnnsize.claims import CheckResult, check, parse_claim
from cnnsize.errors import SpecError

ROOT = Path(__file__).parent.parent
EXAMPLES = ROOT / "docs" / "examples"
TUTORIAL = ROOT / "docs" / "tutorial-check.md"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cnnsize", "check", *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def wrong(result: CheckResult) -> set[tuple[str, str]]:
    return {(v.layer, v.quantity) for v in result.verdicts if not v.ok}


def verdict(result: CheckResult, layer: str, quantity: str):
    (found,) = [v for v in result.verdicts if (v.layer, v.quantity) == (layer, quantity)]
    return found


# ---------------------------------------------------------------- parse_claim


def test_exact_values():
    claim = parse_claim(117600, "connections")
    assert claim.low == claim.high == 117_600 and not claim.approximate
    claim = parse_claim("117,600", "connections")
    assert claim.low == claim.high == 117_600 and not claim.approximate
    assert parse_claim("117_600", "connections").low == 117_600


def test_a_rounded_figure_stands_for_everything_that_rounds_to_it():
    claim = parse_claim("35K", "params")       # CS231n: (11*11*3)*96 = 35K
    assert (claim.low, claim.high) == (34_500, 35_500) and claim.approximate and claim.unit == "K"
    assert claim.holds(34_848)                 # 11 * 11 * 3 * 96 = 34,848
    assert claim.holds(34_944)                 # + 96 biases
    assert not claim.holds(35_501)
    assert (parse_claim("3.2M", "units").low, parse_claim("3.2M", "units").high) == (3_150_000, 3_250_000)
    # "800K": the last nonzero digit is the precision, 100K
    assert (parse_claim("800K", "units").low, parse_claim("800K", "units").high) == (750_000, 850_000)


def test_approximate_and_tolerance():
    claim = parse_claim("~60M", "params")
    assert (claim.low, claim.high) == (55_000_000, 65_000_000) and claim.approximate
    claim = parse_claim("60M ± 5%", "params")  # 60M · 5% = 3M
    assert (claim.low, claim.high) == (57_000_000, 63_000_000)
    claim = parse_claim("117600 +/- 100", "connections")
    assert (claim.low, claim.high) == (117_500, 117_700)
    claim = parse_claim("~5000", "units")
    assert (claim.low, claim.high) == (4_500, 5_500)


def test_products_and_sums():
    assert parse_claim("4096 × 1024", "weights").low == 4_194_304            # 4096 * 1024
    assert parse_claim("(11*11*3)*96", "weights").low == 34_848              # 11 * 11 * 3 * 96
    # CS7015: (512 × 7 × 7 × 4096) + (4096 × 4096) + (4096 × 1024)
    #       = 102,760,448 + 16,777,216 + 4,194,304 = 123,731,968
    assert parse_claim("(512 × 7 × 7 × 4096) + (4096 × 4096) + (4096 × 1024)",
                       "weights").low == 123_731_968


def test_bytes_si_and_binary():
    mb = parse_claim("96MB", "activation_bytes")
    assert (mb.low, mb.high) == (95_500_000, 96_500_000)
    mib = parse_claim("96MiB", "activation_bytes")
    assert (mib.low, mib.high) == (Fraction(191, 2) * 2**20, Fraction(193, 2) * 2**20)
    assert mb.holds(96_000_000) and not mib.holds(96_000_000)
    assert mib.holds(96 * 2**20) and not mb.holds(96 * 2**20)    # 100,663,296 B
    ki = parse_claim("2Ki", "params")
    assert (ki.low, ki.high) == (1_536, 2_560)                   # 2·1024 ± 512
    with pytest.raises(SpecError, match="'96MB' is in bytes, but the claim is about params"):
        parse_claim("96MB", "params")                            # bytes are for memory only


def test_shapes():
    assert parse_claim([6, 28, 28], "output_shape").low == (6, 28, 28)
    assert parse_claim("6x28x28", "output_shape").low == (6, 28, 28)
    assert parse_claim("6 × 28 × 28", "output_shape").low == (6, 28, 28)
    assert parse_claim("55x55x96", "output_shape").low == (55, 55, 96)   # as written; checked later
    assert parse_claim(120, "output_shape").low == (120,)
    assert parse_claim("14x14", "receptive_field").low == (14, 14)


@pytest.mark.parametrize("value", ["lots", "12 parsecs", True, None, "1.2.3", "35K ± lots"])
def test_unreadable_values(value):
    with pytest.raises(SpecError):
        parse_claim(value, "weights")


def test_tilde_operator_reads_as_approximate():
    claim = parse_claim("∼ 122M", "params")
    assert (claim.low, claim.high) == (121_500_000, 122_500_000)


# ---------------------------------------------------------------- diagnoses


def test_bias_left_out_or_added():
    result = check({"spec": "lenet5", "conventions": {"bias": True}, "layers": {"C1": {"params": 150}}})
    v = verdict(result, "C1", "params")
    assert not v.ok and v.computed == 156                        # 5 * 5 * 1 * 6 + 6 = 156
    assert "without biases (150)" in v.diagnosis
    result = check({"spec": "lenet5", "conventions": {"bias": False}, "layers": {"C1": {"params": 156}}})
    assert "with biases (156)" in verdict(result, "C1", "params").diagnosis


def test_a_bias_convention_the_family_does_not_share_is_a_mistake():
    # C3 counted with biases (5 * 5 * 6 * 16 + 16 = 2,416), C1 without: no single convention.
    result = check({"spec": "lenet5", "layers": {"C1": {"params": 150}, "C3": {"params": 2416}}})
    assert wrong(result) == {("C1", "params")}
    assert "biases left out" in verdict(result, "C1", "params").diagnosis
    assert not any("one convention" in line for line in result.conventions)


def test_lecun_bias_inputs_as_connections_are_inferred():
    # LeCun et al. 1998 count each unit's bias input: 4,704 * (5 * 5 * 1 + 1) = 122,304
    result = check({"spec": "lenet5", "layers": {"C1": {"connections": "122,304"},
                                                 "C3": {"connections": "241,600"}}})  # 1,600 * 151
    assert result.ok
    assert any("bias input counted as a connection" in line for line in result.conventions)


def test_macs_vs_flops():
    result = check({"spec": "lenet5", "layers": {"C1": {"macs": "235,200", "flops": "117,600"}}})
    # MACs = 4,704 * 5 * 5 * 1 = 117,600; 2 * 117,600 = 235,200
    assert "2·MACs = FLOPs (235,200)" in verdict(result, "C1", "macs").diagnosis
    assert "the MAC count (117,600)" in verdict(result, "C1", "flops").diagnosis


def test_input_channels_forgotten():
    # C3: 5 * 5 * 16 = 400 instead of 5 * 5 * 6 * 16 = 2,400; 1,600 * 5 * 5 = 40,000 instead of 240,000
    result = check({"spec": "lenet5", "layers": {"C3": {"weights": 400, "connections": "40,000",
                                                        "macs": "40,000"}}})
    assert wrong(result) == {("C3", "weights"), ("C3", "connections"), ("C3", "macs")}
    for v in result.verdicts:
        assert "input channels were left out" in v.diagnosis and "C_in = 6" in v.diagnosis


def test_224_vs_227():
    # (227 - 11)/4 + 1 = 55;  (224 - 11)/4 + 1 = 54.25 -> 54
    at_224 = check({"spec": "alexnet_2012", "input": [3, 224, 224],
                    "layers": {"conv1": {"output": "55x55x96"}}})
    assert "value for a 227×227 input" in verdict(at_224, "conv1", "output_shape").diagnosis
    at_227 = check({"spec": "alexnet_2012", "layers": {"conv1": {"output": [96, 54, 54]}}})
    assert "value for a 224×224 input" in verdict(at_227, "conv1", "output_shape").diagnosis
    # totals too: alexnet_2012 at 227 has 724,406,816 MACs (`cnnsize zoo`: 724.4 M)
    total = check({"spec": "alexnet_2012", "input": [3, 224, 224], "totals": {"macs": "724.4M"}})
    assert "value for a 227×227 input (724,406,816)" in verdict(total, "total", "macs").diagnosis


def test_stride_padding_and_off_by_one():
    # stride forgotten: 227 - 11 + 1 = 217
    result = check({"spec": "alexnet_2012", "layers": {"conv1": {"output": "217x217x96"}}})
    assert "stride was not applied" in verdict(result, "conv1", "output_shape").diagnosis
    # padding forgotten: 224 - 3 + 1 = 222 instead of 224 - 3 + 2 * 1 + 1 = 224
    result = check({"spec": "vgg16", "layers": {"features.0": {"output": "222x222x64"}}})
    assert "padding was left out" in verdict(result, "features.0", "output_shape").diagnosis
    # the + 1 forgotten: 32 - 5 = 27 instead of 28; 14 - 5 + 2 = 11 instead of 10
    result = check({"spec": "lenet5", "layers": {"C1": {"output": [6, 27, 27]},
                                                 "C3": {"output": "11x11x16"}}})
    assert wrong(result) == {("C1", "output_shape"), ("C3", "output_shape")}
    assert all("off by one" in v.diagnosis for v in result.verdicts)


def test_1024_vs_1000():
    # VGG-16 has 138,357,544 params = 131.95 Mi
    result = check({"spec": "vgg16", "totals": {"params": "138Mi", "activation_bytes": "61MiB"}})
    assert "138Mi fits if its Mi meant M" in verdict(result, "total", "params").diagnosis
    # 61,050,784 B = 61.05 MB = 58.22 MiB
    assert "(61,050,784 = 61.05 MB)" in verdict(result, "total", "activation_bytes").diagnosis
    # 1024 classes for 1000: 4096 * 1024 = 4,194,304 = 1.024 * 4,096,000
    result = check({"spec": "vgg16", "layers": {"classifier.6": {"weights": "4096 × 1024"}}})
    assert "1024 appears where 1000 belongs" in verdict(result, "classifier.6", "weights").diagnosis


def test_1024_diagnosis_names_mebibytes():
    result = check({"spec": "vgg16", "totals": {"activation_bytes": "58.22MB"}})
    assert "(61,050,784 = 58.22 MiB)" in verdict(result, "total", "activation_bytes").diagnosis


def test_no_1024_cube_diagnosis_for_a_kilo_figure():
    # 61,706 * 1.024**3 = 66,256, inside ~70K = 65K..75K; no K-vs-Ki slip makes 70K of 61,706
    result = check({"spec": "lenet5", "totals": {"params": "~70K"}})
    assert "1024" not in verdict(result, "total", "params").diagnosis


def test_neighbours_value():
    result = check({"spec": "lenet5", "layers": {"S2": {"units": 4704}, "F6": {"weights": "48,000"}}})
    assert "neighbouring layer C1 (4,704)" in verdict(result, "S2", "units").diagnosis
    assert "neighbouring layer F5 (48,000)" in verdict(result, "F6", "weights").diagnosis


def test_channels_last_shapes_hold_with_a_note():
    result = check({"spec": "alexnet_2012", "layers": {"conv1": {"output": "55x55x96"}}})
    assert result.ok and "channels last" in result.verdicts[0].note


def test_joined_layers_are_summed():
    # 102,760,448 + 16,777,216 + 4,096,000 = 123,633,664
    result = check({"spec": "vgg16", "layers": {"classifier.0 + classifier.3 + classifier.6":
                                                {"weights": "123,633,664", "params": "~123.6M"}}})
    assert result.ok
    assert verdict(result, "classifier.0 + classifier.3 + classifier.6", "params").computed == 123_642_856


def test_total_units_formula_lists_the_rows_it_sums():
    result = check({"spec": "lenet5", "totals": {"units": 9000}})
    # 4,704 + 1,176 + 1,600 + 400 + 120 + 84 + 10 = 8,094
    v = verdict(result, "total", "units")
    assert v.computed == 8_094
    assert "sum over 7 layers = 4,704 + 1,176 + 1,600" in v.formula[0]


def test_the_input_row_can_be_claimed():
    result = check({"spec": "vgg16", "layers": {"input": {"units": "150K"}}})
    assert result.ok                                          # 224 * 224 * 3 = 150,528


# ---------------------------------------------------------------- wrong verdicts (issue 13)


def test_lecuns_total_is_counted_in_the_convention_of_his_rows():
    # A student copies C1 from the paper and sums the network as LeCun et al. 1998 count it:
    # C1 4,704 * (5 * 5 + 1) = 122,304; S2 1,176 * (4 + 1) = 5,880; C3 151,600; S4 400 * 5 = 2,000;
    # C5 120 * 401 = 48,120; F6 84 * 121 = 10,164; output 840  ->  340,908
    result = check({"spec": "lenet5_1998", "layers": {"C1": {"connections": 122_304}},
                    "totals": {"connections": "340,908"}})
    assert result.ok                                  # was ✗ against a hybrid 339,248
    total = verdict(result, "total", "connections")
    assert total.computed == 122_304 + 5_880 + 151_600 + 2_000 + 48_120 + 10_164 + 840 == 340_908
    assert any("connections: each unit's bias input counted as a connection" in line
               for line in result.conventions)


def test_a_wrong_total_shows_the_sum_in_the_inferred_convention():
    # C1 as LeCun counts it, a total with F6's bias input forgotten: 340,908 - 84 = 340,824
    result = check({"spec": "lenet5_1998", "layers": {"C1": {"connections": 122_304}},
                    "totals": {"connections": "340,824"}})
    total = verdict(result, "total", "connections")
    assert not total.ok and total.computed == 340_908
    assert total.formula[0].startswith("total connections = sum over 7 layers = 122,304 + 5,880 + "
                                       "151,600 + 2,000 + 48,120 + 10,164 + … = 340,908")


def test_conventions_are_inferred_per_quantity():
    # The CS7015 params column (no biases: 5 * 5 * 1 * 6 = 150) next to LeCun's connections
    # (122,304): two conventions, one per quantity; before, one of the two was marked wrong.
    result = check({"spec": "lenet5_1998", "layers": {"C1": {"params": 150, "connections": 122_304},
                                                      "C3": {"params": 1_500}}})
    assert result.ok
    (note,) = [line for line in result.conventions if "one convention for each" in line]
    assert "params: biases not counted" in note
    assert "connections: each unit's bias input counted as a connection" in note


def test_a_mixed_convention_applies_to_the_total():
    # lenet_params.yaml's convention (conv without, FC with biases) and its total:
    # 150 + 2,400 + 48,120 + 10,164 + 850 = 61,684 (with every bias: 61,706)
    result = check({"spec": "lenet5", "layers": {"C1": {"params": 150}, "F5": {"params": 48_120}},
                    "totals": {"params": "61,684"}})
    assert result.ok and verdict(result, "total", "params").computed == 61_684


def test_a_total_alone_infers_no_convention():
    # LeNet-5 without any bias: 61,470 weights. One number matches some convention by chance
    # (ResNet-152's 60.1M is its no-bias count, and 60,192,808 truncated): no inference.
    result = check({"spec": "lenet5", "totals": {"params": "61,470"}})
    v = verdict(result, "total", "params")
    assert not v.ok and v.computed == 61_706 and "biases left out" in v.diagnosis


def test_a_claimed_zero_bias_is_no_convention():
    # C1 has 6 biases; a 0 alone is a mistake. With the no-bias params next to it, it is the
    # same convention (biases not counted) and holds.
    result = check({"spec": "lenet5", "layers": {"C1": {"biases": 0}}})
    assert not result.ok and "biases left out" in verdict(result, "C1", "biases").diagnosis
    assert check({"spec": "lenet5", "layers": {"C1": {"biases": 0, "params": 150}}}).ok


def test_own_rows_add_up_only_when_they_cover_the_total():
    # 2 of LeNet-5's 7 rows with connections: S2 4,704 + S4 1,176 = 5,880 says nothing about
    # a total of 420,000 (the other five rows are not claimed)
    result = check({"spec": "lenet5", "layers": {"S2": {"connections": 4_704},
                                                 "S4": {"connections": 1_176}},
                    "totals": {"connections": 420_000}})
    assert "add up" not in verdict(result, "total", "connections").diagnosis
    # all seven rows, right, and a total that is not their sum:
    # 117,600 + 4,704 + 240,000 + 1,600 + 48,000 + 10,080 + 840 = 422,824
    rows = {"C1": 117_600, "S2": 4_704, "C3": 240_000, "S4": 1_600, "F5": 48_000, "F6": 10_080,
            "output": 840}
    result = check({"spec": "lenet5", "layers": {k: {"connections": v} for k, v in rows.items()},
                    "totals": {"connections": 420_000}})
    assert verdict(result, "total", "connections").diagnosis == (
        "your own rows for connections add up to 422,824, not to this total")
    # ... and a total that is their sum, with one row wrong: the row is the mistake, not the sum
    wrong_row = {**rows, "C3": 40_000}               # input channels forgotten: 1,600 * 5 * 5
    result = check({"spec": "lenet5", "layers": {k: {"connections": v} for k, v in wrong_row.items()},
                    "totals": {"connections": sum(wrong_row.values())}})
    assert wrong(result) == {("C3", "connections"), ("total", "connections")}
    assert "add up" not in verdict(result, "total", "connections").diagnosis


@pytest.mark.parametrize(("text", "fragment"), [
    # a layer listed twice in a 'layers' list: before, the first entry was dropped silently
    ("spec: lenet5\nlayers:\n  - {layer: C1, units: 4704, weights: 150}\n  - {layer: S2, units: 1176}\n"
     "  - {layer: C1, units: 4704}\n",
     "C1's units is claimed twice, in layers entries 1 and 3"),
    # the same row in two spellings
    ("spec: lenet5\nlayers:\n  C1: {units: 4704}\n  c1: {units: 1}\n",
     "c1's units is claimed twice, at layers.C1.units and at layers.c1.units"),
    # one quantity under two names
    ("spec: lenet5\nlayers:\n  C1: {params: 156, parameters: 150}\n",
     "C1's params is claimed twice, at layers.C1.params and at layers.C1.parameters"),
    ("spec: lenet5\ntotals: {params: 61706, parameters: 61470}\n",
     "the total params is claimed twice, at totals.params and at totals.parameters"),
    # a sum named in another order
    ("spec: vgg16\nlayers:\n  classifier.0 + classifier.3: {weights: 1}\n"
     "  classifier.3 + classifier.0: {weights: 2}\n", "is claimed twice"),
    # YAML's own duplicate key (PyYAML keeps the last value): refused by the loader
    ("spec: lenet5\ntotals:\n  params: 61706\n  params: 1\n", "the key 'params' is given twice"),
])
def test_a_claim_written_twice_is_refused(tmp_path, text, fragment):
    claims = tmp_path / "twice.yaml"
    claims.write_text(text, encoding="utf-8")
    proc = run(str(claims))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert fragment in proc.stderr
    assert "twice.yaml" in proc.stderr


@pytest.mark.parametrize(("name", "text", "fragment"), [
    ("t.csv", "layer,units\nC1,1\nC1,4704\n", "C1's units is claimed twice, in rows 2 and 3"),
    ("t.csv", "layer,units\nC1,1\nc1,4704\n", "c1's units is claimed twice, in rows 2 and 3"),
    ("t.md", "| layer | units |\n|---|---|\n| C1 | 1 |\n| C1 | 4704 |\n", "claimed twice, in rows 2 and 3"),
    ("t.csv", "layer,params,# params\nC1,156,150\n", "the columns 'params' and '# params' both hold params"),
    ("t.csv", "layer,params\ntotal,61706\nTotal,61470\n", "the total params is claimed twice, in rows 2 and 3"),
])
def test_a_table_row_written_twice_is_refused(tmp_path, name, text, fragment):
    table = tmp_path / name
    table.write_text(text, encoding="utf-8")
    proc = run(str(table), "--spec", "lenet5")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert fragment in proc.stderr


def test_the_flops_hint_names_a_convention_check_accepts():
    # A student writes FLOPs = 2 * MACs for LeNet-5: 2 * 416,520 = 833,040
    result = check({"spec": "lenet5", "totals": {"flops": "833,040"}})
    diagnosis = verdict(result, "total", "flops").diagnosis
    assert "--no-elementwise-flops" not in diagnosis        # check has no such flag
    assert "conventions: {elementwise_flops: false}" in diagnosis
    # ... and doing what it says makes the claim hold
    assert check({"spec": "lenet5", "conventions": yaml.safe_load("{elementwise_flops: false}"),
                  "totals": {"flops": "833,040"}}).ok


def test_a_figure_cut_off_instead_of_rounded_says_the_rule():
    # CS7015's "~102M" for the first FC layer: 25,088 * 4,096 + 4,096 = 102,764,544, which
    # rounds to 103M; "~102M" stands for 101.5M to 102.5M
    result = check({"spec": "vgg16", "layers": {"classifier.0": {"params": "~102M"}}})
    v = verdict(result, "classifier.0", "params")
    assert not v.ok
    assert v.diagnosis == ("102,764,544 rounds to 103M, not 102M: a rounded figure stands for "
                           "what rounds to it (101.5M to 102.5M); write 102.8M, or 102M ± 1%")
    for suggestion in ("102.8M", "102M ± 1%"):               # 0.75% off: 1% is enough
        assert parse_claim(suggestion, "params").holds(102_764_544)
    # far off is not a rounding slip: 123,642,856 for ~122M (123.6M)
    result = check({"spec": "vgg16", "layers": {"classifier.0 + classifier.3 + classifier.6":
                                                {"params": "~122M"}}})
    assert "rounds to" not in result.verdicts[0].diagnosis


# ---------------------------------------------------------------- claims grammar (issue 13)


def test_flops_and_macs_units():
    claim = parse_claim("15.5 GFLOPs", "flops")            # VGG-16's often-quoted figure
    assert (claim.low, claim.high) == (15_450_000_000, 15_550_000_000) and claim.unit == "G"
    assert parse_claim("15.5 GMACs", "macs").holds(15_470_264_320)
    assert parse_claim("850.8 KFLOPs", "flops").holds(850_794)      # LeNet-5
    assert parse_claim("416.5K MACs", "macs").holds(416_520)
    assert parse_claim("0.85 MFLOPs", "flops").holds(850_794)
    assert parse_claim("850794 FLOPs", "flops").low == 850_794       # no multiplier: exact
    assert parse_claim("138M params", "params").holds(138_357_544)
    # VGG-16 has 15,470,264,320 MACs, so 15.5G is its MAC count: as FLOPs it is diagnosed
    result = check({"spec": "vgg16", "totals": {"flops": "15.5 GFLOPs", "macs": "15.5 GMACs"}})
    assert wrong(result) == {("total", "flops")}
    assert "the MAC count (15,470,264,320)" in verdict(result, "total", "flops").diagnosis


def test_a_unit_that_names_another_quantity_is_refused():
    with pytest.raises(SpecError, match=re.escape("'15.5 GMACs' counts MACs, but the claim is about flops")):
        parse_claim("15.5 GMACs", "flops")
    with pytest.raises(SpecError, match="counts bytes, but the claim is about units"):
        parse_claim("3.2M bytes", "units")


def test_products_with_units():
    # CS231n: "TOTAL memory: 24M * 4 bytes ~= 96MB / image"; 24M is rounded: 23.5M..24.5M
    claim = parse_claim("24M * 4 bytes", "activation_bytes")
    assert (claim.low, claim.high) == (94_000_000, 98_000_000) and claim.approximate
    assert parse_claim("24M × 4 B", "activation_bytes").low == 94_000_000
    assert parse_claim("150528 * 4 bytes", "activation_bytes").low == 602_112  # 224 * 224 * 3 * 4
    claim = parse_claim("3.2M + 3.2M", "units")                                 # 6.3M..6.5M
    assert claim.holds(2 * 3_211_264)
    with pytest.raises(SpecError, match="multiplies bytes by bytes"):
        parse_claim("24MB * 4 bytes", "activation_bytes")
    with pytest.raises(SpecError, match="cannot read"):
        parse_claim("24M *", "activation_bytes")


def test_a_plain_unit_is_not_a_rounded_figure():
    # "800 B" is 800 bytes, as "800" is; "800K" is 750K..850K (the last nonzero digit)
    assert parse_claim("800 B", "activation_bytes").low == parse_claim("800 B", "activation_bytes").high


@pytest.mark.parametrize(("name", "text"), [
    ("t.csv", "layer,units,weights\nC1,4704,150\nC3,1600,2400\ntotal,8094,61470\n"),
    ("t.md", "| layer | units | weights |\n|---|---|---|\n| C1 | 4704 | 150 |\n"
             "| **total** | 8094 | 61470 |\n".replace("**total**", "Total")),
])
def test_a_total_row_in_a_table_holds_the_totals(tmp_path, name, text):
    table = tmp_path / name
    table.write_text(text, encoding="utf-8")
    result = check(table, spec="lenet5")
    # LeNet-5: 4,704 + 1,176 + 1,600 + 400 + 120 + 84 + 10 = 8,094 units;
    # 150 + 2,400 + 48,000 + 10,080 + 840 = 61,470 weights
    assert ("total", "units") in {(v.layer, v.quantity) for v in result.verdicts}
    assert result.ok and verdict(result, "total", "weights").computed == 61_470


def test_every_unreadable_cell_is_reported_at_once(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("layer,units,weights\nC1,lots,150\nC3,1600,12 parsecs\nC7,1,1\nS2,1176,\n")
    proc = run(str(table), "--spec", "lenet5")
    assert proc.returncode == 2 and proc.stdout == "" and "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert lines[0] == "cnnsize: error: " + str(table) + ": 3 problems in the claims; nothing was checked"
    assert "  row 2 (C1): units: cannot read 'lots' as a number" in lines
    assert "  row 3 (C3): weights: unknown unit 'parsecs' in '12 parsecs'" in lines
    assert "  row 4 (C7): LeNet-5 has no layer 'C7'" in lines
    # a YAML file says where too
    claims = tmp_path / "c.yaml"
    claims.write_text("spec: lenet5\nlayers:\n  C1: {units: lots, weigths: 150}\ntotals: {flops: 2 GMACs}\n")
    proc = run(str(claims))
    assert proc.returncode == 2
    assert "layers.C1: units: cannot read 'lots' as a number" in proc.stderr
    assert "layers.C1: weigths: unknown quantity 'weigths'" in proc.stderr
    assert "totals: flops: '2 GMACs' counts MACs, but the claim is about flops" in proc.stderr


def test_byte_claims_show_the_unit_of_the_computed_value():
    result = check({"spec": "vgg16", "totals": {"activation_bytes": "24M * 4 bytes"}})
    text = result.render()
    assert "61,050,784 B " in text and "the right value is 61,050,784 B\n" in text
    assert verdict(result, "total", "activation_bytes").computed == 61_050_784  # JSON: a number


# ---------------------------------------------------------------- the lecture examples


# claims file → (number of claims, the claims that are wrong)
EXPECTED = {
    # CSC421/2516 Lecture 10: every cell of the LeNet table is right.
    "lenet_table.yaml": (19, set()),
    # CS7015 Lecture 11: right, under a mixed convention (conv without, FC with biases).
    "lenet_params.yaml": (14, set()),
    # CS231n Lecture 9: every row right; 24M is not the column's sum, nor 24M * 4 bytes its memory.
    "vgg16_memory.yaml": (45, {("total", "units"), ("total", "activation_bytes")}),
    # LeCun et al. 1998: bias inputs counted as connections, the total too.
    "lenet5_lecun.yaml": (12, set()),
    # CS7015 Lecture 11: 1024 classes; ~122M and ~102M wrong.
    "vgg16_fc.yaml": (6, {("classifier.0 + classifier.3 + classifier.6", "weights"),
                          ("classifier.0 + classifier.3 + classifier.6", "params"),
                          ("classifier.0", "params"), ("classifier.6", "weights")}),
    # CS7015 Lecture 11: every size right, 27.55M wrong.
    "alexnet_27_55M.yaml": (10, {("total", "params")}),
    # CS231n Lecture 9: 55 and 27 are the sizes for 227, not 224.
    "alexnet_227_vs_224.yaml": (5, {("conv1", "output_shape"), ("pool1", "output_shape")}),
    "alexnet_227.yaml": (5, set()),
    # The common mistakes (tutorial-check.md): each claim a slip, each diagnosed.
    "mistakes_lenet5.yaml": (8, {("C1", "weights"), ("C1", "params"), ("C1", "macs"),
                                 ("S2", "weights"), ("C3", "connections"), ("C3", "biases"),
                                 ("C3", "receptive_field"), ("F5", "macs")}),
    # CS231n Lecture 9: its memory column counts elements, not bytes.
    "vgg16_memory_bytes.yaml": (4, {("input", "activation_bytes"),
                                    ("features.0", "activation_bytes"),
                                    ("features.2", "activation_bytes")}),
    # CS231n Lecture 9's AlexNet carried on to pool2 with the + 1 forgotten.
    "alexnet_pool2.yaml": (4, {("pool2", "output_shape")}),
    # ResNet-18's head: 512 for 512×1×1 and 1000x1x1 for 1000 are the same values.
    "resnet18_head.yaml": (5, set()),
}


def test_every_claims_file_in_docs_examples_has_an_expectation():
    claims_files = {p.name for p in EXAMPLES.glob("*.yaml")
                    if "spec" in (yaml.safe_load(p.read_text(encoding="utf-8")) or {})}
    assert claims_files == set(EXPECTED)
    for name in EXPECTED:
        assert (EXAMPLES / name).read_text(encoding="utf-8").startswith("# "), name  # names its slide


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_pattern(name):
    count, expected_wrong = EXPECTED[name]
    result = check(EXAMPLES / name)
    assert len(result.verdicts) == count
    assert wrong(result) == expected_wrong


def test_lenet_params_states_the_mixed_convention_once():
    result = check(EXAMPLES / "lenet_params.yaml")
    # C1: 5 * 5 * 1 * 6 = 150 (no bias), F5: 400 * 120 + 120 = 48,120 (bias)
    assert verdict(result, "C1", "params").computed == 150
    assert verdict(result, "F5", "params").computed == 48_120
    text = result.render()
    assert text.count("your numbers follow one convention for each quantity") == 1
    assert ("params: biases not counted in convolution layers, biases counted in fully "
            "connected layers" in text)


def test_vgg16_memory_numbers():
    result = check(EXAMPLES / "vgg16_memory.yaml")
    units = verdict(result, "total", "units")
    # 64·224²·2 + 64·112² + 128·112²·2 + 128·56² + 256·56²·3 + 256·28² + 512·28²·3
    # + 512·14² + 512·14²·3 + 512·7² (pool) + 512·7² (avgpool) + 4096 + 4096 + 1000
    # = 15,112,168
    assert units.computed == 15_112_168
    # every row is claimed but torchvision's avgpool (512 * 7 * 7 = 25,088), named and filled in
    assert units.diagnosis == ("your own rows for units add up to 15,034,192; with avgpool "
                               "(25,088), which you did not claim, 15,059,280 — not this total")
    # (15,112,168 + 3 * 224 * 224) * 4 B = 61,050,784 B, not 24M * 4 bytes (94M to 98M)
    assert verdict(result, "total", "activation_bytes").computed == (15_112_168 + 3 * 224 * 224) * 4
    # the params column has no biases, so the total is checked without them: 138,344,128
    assert verdict(result, "total", "params").computed == 138_344_128
    assert any("params: biases not counted" in line for line in result.conventions)


def test_vgg16_fc_numbers():
    result = check(EXAMPLES / "vgg16_fc.yaml")
    joined = "classifier.0 + classifier.3 + classifier.6"
    assert verdict(result, joined, "weights").computed == 102_760_448 + 16_777_216 + 4_096_000
    # with biases: 123,633,664 + 4,096 + 4,096 + 1,000 = 123,642,856
    assert verdict(result, joined, "params").computed == 123_642_856
    # 25,088 * 4,096 + 4,096 = 102,764,544, which rounds to 103M, not 102M
    assert verdict(result, "classifier.0", "params").computed == 102_764_544
    assert "1024 appears where 1000 belongs" in verdict(result, "classifier.6", "weights").diagnosis


def test_alexnet_27_55M_numbers():
    result = check(EXAMPLES / "alexnet_27_55M.yaml")
    # weights: 11·11·3·96 + 5·5·96·256 + 3·3·256·384 + 3·3·384·384 + 3·3·384·256
    #        = 34,848 + 614,400 + 884,736 + 1,327,104 + 884,736 = 3,745,824
    #        + 1,024·4,096 + 4,096·4,096 + 4,096·1,000 = 25,067,520  ->  28,813,344
    # biases: 96 + 256 + 384 + 384 + 256 + 4,096 + 4,096 + 1,000 = 10,568
    assert verdict(result, "total", "params").computed == 28_813_344 + 10_568 == 28_823_912
    assert verdict(result, "flatten", "units").computed == 1_024          # 2 * 2 * 256


def test_alexnet_227_vs_224_diagnosis():
    result = check(EXAMPLES / "alexnet_227_vs_224.yaml")
    conv1 = verdict(result, "conv1", "output_shape")
    assert conv1.computed == (96, 54, 54)                   # floor((224 - 11)/4) + 1 = 54
    assert "value for a 227×227 input" in conv1.diagnosis
    assert verdict(result, "pool1", "output_shape").computed == (96, 26, 26)  # floor((54 - 3)/2) + 1


def test_csv_and_markdown_tables_read_like_the_yaml():
    def rows(result: CheckResult) -> list[tuple[object, ...]]:
        return sorted((v.layer, v.quantity, v.computed, v.ok) for v in result.verdicts)

    from_yaml = rows(check(EXAMPLES / "lenet_table.yaml"))
    assert rows(check(EXAMPLES / "lenet_table.csv", spec="lenet5")) == from_yaml
    assert rows(check(EXAMPLES / "lenet_table.md", spec="lenet5")) == from_yaml
    assert ("C1", "connections", 117_600, True) in from_yaml   # 4,704 * 5 * 5 * 1 = 117,600


def test_table_columns_and_empty_cells(tmp_path):
    table = tmp_path / "t.md"
    table.write_text("| Layer | Kind | # Params | output size |\n|---|---|---|---|\n"
                     "| C1 | conv | 156 | 6x28x28 |\n| S2 | pool | - | 14x14x6 |\n")
    result = check(table, spec="lenet5")
    assert [(v.layer, v.quantity) for v in result.verdicts] == [
        ("C1", "params"), ("C1", "output_shape"), ("S2", "output_shape")]
    assert result.ok


def test_csv_may_start_with_a_comment(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("# CSC421/2516 Lecture 10\nlayer,# units\nC1,4704\n")
    assert check(table, spec="lenet5").ok


# ---------------------------------------------------------------- the console script


def test_exit_statuses(tmp_path):
    assert run("docs/examples/lenet_table.yaml").returncode == 0
    assert run("docs/examples/lenet_table.csv", "--spec", "lenet5").returncode == 0
    assert run("docs/examples/vgg16_fc.yaml").returncode == 1
    bad = tmp_path / "bad.yaml"
    bad.write_text("spec: lenet5\nlayers:\n  C1: {weigths: 150}\n")
    assert run(str(bad)).returncode == 2


def test_formats_and_output_file(tmp_path):
    proc = run("docs/examples/alexnet_227_vs_224.yaml", "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["ok"] is False and data["summary"].endswith("3 ✓, 2 ✗")
    conv1 = next(c for c in data["claims"] if c["layer"] == "conv1" and c["quantity"] == "output_shape")
    assert conv1["computed"] == [96, 54, 54] and "227×227" in conv1["diagnosis"]
    proc = run("docs/examples/alexnet_227_vs_224.yaml", "--format", "markdown")
    assert proc.stdout.startswith("### AlexNet (2012): checking") and "| conv1 " in proc.stdout
    out = tmp_path / "out.txt"
    proc = run("docs/examples/lenet_table.yaml", "-o", str(out))
    assert proc.returncode == 0 and proc.stdout == ""
    assert out.read_text(encoding="utf-8").endswith("19 claims about LeNet-5: 19 ✓, 0 ✗\n")


BAD_INPUT = {
    "unknown quantity": ("spec: lenet5\nlayers:\n  C1: {weigths: 150}\n",
                         ["unknown quantity 'weigths'", "did you mean 'weights'?"]),
    "unknown layer": ("spec: lenet5\nlayers:\n  C7: {weights: 150}\n",
                      ["LeNet-5 has no layer 'C7'", "its layers:"]),
    "unreadable value": ("spec: lenet5\nlayers:\n  C1: {weights: lots}\n",
                         ["cannot read 'lots' as a number", "hint: write 117600"]),
    "unknown unit": ("spec: lenet5\nlayers:\n  C1: {weights: 12 parsecs}\n", ["unknown unit 'parsecs'"]),
    "missing spec": ("layers:\n  C1: {weights: 150}\n", ["the claims name no network"]),
    "unknown network": ("spec: lenet6\nlayers:\n  C1: {weights: 150}\n", ["'lenet6'", "lenet5"]),
    "unknown key": ("spec: lenet5\nlayer:\n  C1: {weights: 150}\n",
                    ["unknown key 'layer'", "did you mean 'layers'?"]),
    "nothing to check": ("spec: lenet5\n", ["there is nothing to check"]),
    "invalid YAML": ("spec: lenet5\nlayers: {C1: [\n", ["invalid YAML"]),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_exits_2_with_one_message(case, tmp_path):
    text, fragments = BAD_INPUT[case]
    claims = tmp_path / "claims.yaml"
    claims.write_text(text, encoding="utf-8")
    proc = run(str(claims))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("cnnsize: error: ") and "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr


def test_bad_tables_and_missing_files_exit_2(tmp_path):
    proc = run("docs/examples/lenet_table.md")                  # no --spec
    assert proc.returncode == 2 and "the claims name no network" in proc.stderr
    table = tmp_path / "t.csv"
    table.write_text("layer,wieghts\nC1,150\n")
    proc = run(str(table), "--spec", "lenet5")
    assert proc.returncode == 2 and "did you mean 'weights'" in proc.stderr
    table.write_text("name,weights\nC1,150\n")
    proc = run(str(table), "--spec", "lenet5")
    assert proc.returncode == 2 and "needs a 'layer' column" in proc.stderr
    proc = run(str(tmp_path / "nowhere.yaml"))
    assert proc.returncode == 2 and "no such claims file" in proc.stderr
    for proc in (run("docs/examples/lenet_table.md"), run(str(tmp_path / "nowhere.yaml"))):
        assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------- the tutorial


def tutorial_runs() -> list[tuple[str, str]]:
    """(command, pasted output) of every ```text block that starts with `$ cnnsize check`."""
    text = TUTORIAL.read_text(encoding="utf-8")
    blocks = re.findall(r"^```text\n\$ (cnnsize check [^\n]*)\n(.*?)^```$", text, re.M | re.S)
    return [(command, output) for command, output in blocks]


def test_the_tutorial_shows_every_example():
    commands = " ".join(command for command, _ in tutorial_runs())
    for name in [*EXPECTED, "lenet_table.csv"]:
        assert f"docs/examples/{name}" in commands


@pytest.mark.parametrize(("command", "pasted"), tutorial_runs(),
                         ids=[command.split()[2] for command, _ in tutorial_runs()])
def test_tutorial_output_is_a_real_run(command, pasted):
    proc = run(*shlex.split(command)[2:])
    assert proc.returncode in (0, 1), proc.stderr
    assert proc.stdout == pasted


def test_the_tutorials_unreadable_table_is_a_real_run(tmp_path):
    text = TUTORIAL.read_text(encoding="utf-8")
    table, shown = re.search(r"For this `homework.csv`\n\n```csv\n(.*?)```\n\n"
                             r"`cnnsize check homework.csv --spec lenet5` prints\n\n```text\n(.*?)```",
                             text, re.S).groups()
    (tmp_path / "homework.csv").write_text(table, encoding="utf-8")
    proc = run("homework.csv", "--spec", "lenet5", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr == shown


def test_the_tutorial_claims_snippets_hold():
    text = TUTORIAL.read_text(encoding="utf-8")
    snippets = [yaml.safe_load(block) for block in re.findall(r"^```yaml\n(.*?)^```$", text, re.M | re.S)]
    with_spec = [s for s in snippets if "spec" in s]
    assert with_spec
    for snippet in with_spec:
        assert check(snippet).ok, snippet
    joined = next(s for s in snippets if "spec" not in s)      # the '+' example, about vgg16
    assert check({"spec": "vgg16", **joined}).ok


# ---------------------------------------------------------------- fixed conventions (issue 13)


NO_BIAS_TABLE = ("layer,params\nC1,150\nS2,0\nC3,2400\nS4,0\nF5,48000\nF6,10080\noutput,840\n")


def test_a_fixed_convention_fails_a_table_without_biases(tmp_path):
    # A student leaves out every bias: 5·5·1·6 = 150, ..., 84·10 = 840. By inference that is a
    # convention ("params: biases not counted") and all 7 hold; an instructor's --convention
    # pytorch counts them: 156, 2,416, 48,120, 10,164, 850.
    table = tmp_path / "student.csv"
    table.write_text(NO_BIAS_TABLE, encoding="utf-8")
    assert check(table, spec="lenet5").ok
    result = check(table, spec="lenet5", conventions="pytorch")
    assert wrong(result) == {("C1", "params"), ("C3", "params"), ("F5", "params"),
                             ("F6", "params"), ("output", "params")}
    assert {v.mistake.value for v in result.verdicts if not v.ok} == {"biases missing"}
    assert verdict(result, "F5", "params").computed == 48_120        # 400 * 120 + 120
    assert not any("one convention for each quantity" in line for line in result.conventions)
    proc = run(str(table), "--spec", "lenet5", "--convention", "pytorch")
    assert proc.returncode == 1
    assert ("biases missing: 5 of your claims hold without biases; the conventions here "
            "(pytorch) count them") in proc.stdout
    assert ("conventions (pytorch, fixed: nothing inferred): biases counted; connections "
            "exclude bias inputs") in proc.stdout
    assert proc.stdout.rstrip().endswith("7 claims about LeNet-5: 2 ✓, 5 ✗")


def test_named_conventions():
    # LeCun et al. 1998: C1 has 4,704 * (5 * 5 + 1) = 122,304 connections, 156 parameters
    lecun = {"spec": "lenet5", "layers": {"C1": {"connections": "122,304", "params": 156}}}
    assert check(lecun, conventions="lecun1998").ok
    assert not check(lecun, conventions="pytorch").ok
    assert check({**lecun, "conventions": "lecun1998"}).ok           # named in the file
    # CS231n's VGG-16 table: (3 * 3 * 3) * 64 = 1,728 params for the first convolution
    assert check({"spec": "vgg16", "layers": {"features.0": {"params": 1728}}},
                 conventions="cs231n").ok
    # fvcore: FLOPs = MACs = 416,520 for LeNet-5; torch.utils.flop_counter: 2 * 416,520
    assert check({"spec": "lenet5", "totals": {"flops": "416,520"}}, conventions="fvcore").ok
    assert check({"spec": "lenet5", "totals": {"flops": "833,040"}}, conventions="flop_counter").ok


def test_a_conventions_file(tmp_path):
    conventions = tmp_path / "course.yaml"
    conventions.write_text("bias: false\nflops_per_mac: 1\n", encoding="utf-8")
    result = check({"spec": "lenet5", "layers": {"C1": {"params": 150, "flops": "117,600"}}},
                   conventions=str(conventions))
    # C1: 5 * 5 * 1 * 6 = 150 params without biases; FLOPs = 1 * 117,600 MACs + 0 bias adds
    # (the ReLU's 4,704 FLOPs are its own row's)
    assert result.ok, result.render()
    assert result.fixed == str(conventions)
    bad = tmp_path / "bad.yaml"
    bad.write_text("bias: nope\n", encoding="utf-8")
    proc = run("docs/examples/lenet_table.yaml", "--convention", str(bad))
    assert proc.returncode == 2 and "bias must be true or false" in proc.stderr
    assert str(bad) in proc.stderr


def test_an_unknown_convention_is_refused():
    proc = run("docs/examples/lenet_table.yaml", "--convention", "pytroch")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "--convention: unknown convention 'pytroch'" in proc.stderr
    assert "did you mean 'pytorch'?" in proc.stderr and "a YAML file of convention fields" in proc.stderr
    proc = run("docs/examples/lenet_table.yaml", "--convention", "nowhere.yaml")
    assert proc.returncode == 2 and "no such conventions file: nowhere.yaml" in proc.stderr


def test_the_files_conventions_are_replaced_and_said_so():
    result = check({"spec": "lenet5", "conventions": {"bias": False},
                    "layers": {"C1": {"params": 150}}}, conventions="pytorch")
    assert not result.ok and result.overridden == ("conventions",)
    assert "the file's own conventions are replaced by pytorch" in result.conventions


def test_weights_written_as_connections():
    # C1's 150 weights written as its connections (4,704 * 25 = 117,600), and C3's 240,000
    # connections written as its weights (5 * 5 * 6 * 16 = 2,400)
    result = check({"spec": "lenet5", "layers": {"C1": {"connections": 150},
                                                 "C3": {"weights": "240,000"}}})
    c1, c3 = verdict(result, "C1", "connections"), verdict(result, "C3", "weights")
    assert c1.mistake.value == "weights written as connections"
    assert c1.diagnosis.startswith("this is the number of weights (150), not of connections")
    assert c3.mistake.value == "connections written as weights"
    assert "this is the number of connections (240,000), not of weights" in c3.diagnosis


def test_every_diagnosis_has_a_short_name_in_json():
    proc = run("docs/examples/vgg16_fc.yaml", "--format", "json")
    claims = {(c["layer"], c["quantity"]): c for c in json.loads(proc.stdout)["claims"]}
    # ~102M for 102,764,544; 4096 × 1024 for 4096 × 1000; the two sums: no diagnosis
    assert claims["classifier.0", "params"]["mistake"] == "cut off, not rounded"
    assert claims["classifier.6", "weights"]["mistake"] == "1024 for 1000"
    assert claims["classifier.0 + classifier.3 + classifier.6", "params"]["mistake"] is None
    assert claims["classifier.3", "weights"]["ok"] and claims["classifier.3", "weights"]["mistake"] is None


def test_blank_cells_are_listed_not_checked(tmp_path):
    claims = tmp_path / "half.yaml"
    claims.write_text("spec: lenet5\nlayers:\n  C1:\n    units: 4704\n    weights:\n"
                      "  S2: {units: '?'}\n", encoding="utf-8")
    result = check(claims)
    assert [(v.layer, v.quantity) for v in result.blanks] == [("C1", "weights"), ("S2", "units")]
    assert not result.ok and result.summary() == "1 claim about LeNet-5: 1 ✓, 0 ✗; 2 cells left blank"
    proc = run(str(claims))
    assert proc.returncode == 1 and "left blank (2): C1 weights, S2 units" in proc.stdout
    assert "1,176" not in proc.stdout                          # S2's units are not given away
    data = json.loads(run(str(claims), "--format", "json").stdout)
    assert data["blank"] == [{"layer": "C1", "quantity": "weights"},
                             {"layer": "S2", "quantity": "units"}]
    # a table: '?' is a blank, an empty cell no claim (as lecture tables leave pool weights)
    table = tmp_path / "t.csv"
    table.write_text("layer,units,weights\nC1,?,150\nS2,1176,\n", encoding="utf-8")
    result = check(table, spec="lenet5")
    assert [(v.layer, v.quantity) for v in result.blanks] == [("C1", "units")]
    assert len(result.claims) == 2
