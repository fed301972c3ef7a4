"""The zoo's paper networks against the figures printed in their papers, or worked by hand.

LeNet-5: LeCun et al. 1998, "Gradient-based learning applied to document recognition", Sec. II-B.
AlexNet: Krizhevsky et al. 2012, "ImageNet Classification with Deep CNNs", Sec. 3 and Fig. 2.
ZFNet: Zeiler & Fergus 2013, "Visualizing and Understanding Convolutional Networks", Fig. 3.
DeepBind: Alipanahi et al. 2015, Nature Biotechnology 33:831, Fig. 1 and Methods.
"""

from __future__ import annotations

import pytest

import cnnsize

LECUN = cnnsize.Conventions(bias_connections=True)  # the paper counts each bias input

# ---------------------------------------------------------------------------------------------
# LeNet-5 (1998)

# Table I as printed: row i = S2 map i, column j = C3 map j, X = connected.
TABLE_I = (
    "X   XXX  XXXX XX",
    "XX   XXX  XXXX X",
    "XXX   XXX  X XXX",
    " XXX  XXXX  X XX",
    "  XXX  XXXX XX X",
    "   XXX  XXXX XXX",
)

# Sec. II-B: (trainable params, connections with bias inputs) per layer.
LENET_1998 = {
    "C1": (156, 122_304),      # 6·(5·5 + 1); 6·28·28·(5·5 + 1)
    "S2": (12, 5_880),         # 6·(1 + 1); 6·14·14·(2·2 + 1)
    "C3": (1_516, 151_600),    # 60·25 + 16; 10·10·1,516
    "S4": (32, 2_000),         # 16·(1 + 1); 16·5·5·(2·2 + 1)
    "C5": (48_120, 48_120),    # 120·(16·25 + 1); 1·1·48,120
    "F6": (10_164, 10_164),    # 84·(120 + 1)
}


def test_lenet5_1998_c3_is_table_i():
    columns = [tuple(i for i, row in enumerate(TABLE_I) if row[j] == "X") for j in range(16)]
    c3 = cnnsize.load("lenet5_1998").op("C3").kind
    assert c3.connections == tuple(columns)
    assert [len(c) for c in columns] == [3] * 6 + [4] * 9 + [6]
    assert sum(len(c) for c in columns) == 60  # 6·3 + 9·4 + 6
    assert all(row.count("X") == 10 for row in TABLE_I)  # each S2 map feeds 10 C3 maps


def test_lenet5_1998_reproduces_section_ii_b():
    report = cnnsize.analyze("lenet5_1998", conventions=LECUN)
    for name, (params, connections) in LENET_1998.items():
        assert (report[name].params, report[name].connections) == (params, connections), name
    shapes = {"C1": (6, 28, 28), "S2": (6, 14, 14), "C3": (16, 10, 10), "S4": (16, 5, 5),
              "C5": (120, 1, 1), "F6": (84,), "output": (10,)}
    assert {name: report[name].output_shape for name in shapes} == shapes


def test_lenet5_1998_totals():
    report = cnnsize.analyze("lenet5_1998", conventions=LECUN)
    # "60,000 trainable free parameters": 156 + 12 + 1,516 + 32 + 48,120 + 10,164.
    assert report.totals.params == sum(p for p, _ in LENET_1998.values()) == 60_000
    # The RBF centres are fixed: 84·10 = 840 buffers, no trainable parameters.
    assert (report["output"].params, report["output"].buffers) == (0, 840)
    assert report.totals.buffers == 840
    # The paper's 340,908 connections include the RBF layer's 84·10 = 840: C1..F6 sum to
    # 340,068 only.
    assert report["output"].connections == 840
    assert sum(c for _, c in LENET_1998.values()) == 340_068
    assert report.totals.connections == 340_068 + 840 == 340_908


# ---------------------------------------------------------------------------------------------
# AlexNet (2012)

ALEXNET_2012_PARAMS = {
    "conv1": 96 * 3 * 11 * 11 + 96,       # 34,944
    "conv2": 256 * 48 * 5 * 5 + 256,      # 307,456: groups 2, kernels 5x5x48
    "conv3": 384 * 256 * 3 * 3 + 384,     # 885,120: across GPUs, kernels 3x3x256
    "conv4": 384 * 192 * 3 * 3 + 384,     # 663,936: groups 2, kernels 3x3x192
    "conv5": 256 * 192 * 3 * 3 + 256,     # 442,624: groups 2, kernels 3x3x192
    "fc6": 256 * 6 * 6 * 4096 + 4096,     # 37,752,832
    "fc7": 4096 * 4096 + 4096,            # 16,781,312
    "fc8": 4096 * 1000 + 1000,            # 4,097,000
}


def test_alexnet_2012_params():
    report = cnnsize.analyze("alexnet_2012")
    assert {name: report[name].params for name in ALEXNET_2012_PARAMS} == ALEXNET_2012_PARAMS
    assert report.totals.params == sum(ALEXNET_2012_PARAMS.values()) == 60_965_224


def test_alexnet_2012_shapes():
    report = cnnsize.analyze("alexnet_2012", strict=True)  # 227 makes every layer exact
    sizes = {"conv1": 55, "pool1": 27, "conv2": 27, "pool2": 13, "conv3": 13, "conv4": 13,
             "conv5": 13, "pool5": 6}   # (227 − 11)/4 + 1 = 55; (55 − 3)/2 + 1 = 27; ...
    assert {name: report[name].output_shape[1:] for name in sizes} == {
        name: (s, s) for name, s in sizes.items()}
    # The paper's 224 does not give its 55: (224 − 11)/4 + 1 = 54.25.
    at_224 = cnnsize.analyze("alexnet_2012", input_shape=(3, 224, 224))
    assert at_224["conv1"].output_shape == (96, 54, 54)


def test_alexnet_2012_neurons_per_layer():
    report = cnnsize.analyze("alexnet_2012")
    neurons = [report[name].units for name in
               ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")]
    # Sec. 3.5 prints 253,440 for the first layer; 55·55·96 = 290,400 (253,440 = 55·48·96).
    assert neurons == [290_400, 186_624, 64_896, 64_896, 43_264, 4096, 4096, 1000]
    assert neurons[0] == 55 * 55 * 96
    assert neurons[1:5] == [27 * 27 * 256, 13 * 13 * 384, 13 * 13 * 384, 13 * 13 * 256]
    # "650,000 neurons" fits the corrected sum (659,272), not the printed one (622,312).
    assert sum(neurons) == 659_272
    assert sum(neurons) - 290_400 + 253_440 == 622_312


# ---------------------------------------------------------------------------------------------
# ZFNet (2013)

ZFNET_PARAMS = {
    "conv1": 96 * 3 * 7 * 7 + 96,         # 14,208
    "conv2": 256 * 96 * 5 * 5 + 256,      # 614,656
    "conv3": 384 * 256 * 3 * 3 + 384,     # 885,120
    "conv4": 384 * 384 * 3 * 3 + 384,     # 1,327,488: dense, unlike AlexNet's groups
    "conv5": 256 * 384 * 3 * 3 + 256,     # 884,992
    "fc6": 6 * 6 * 256 * 4096 + 4096,     # 37,752,832 (Fig. 3: 6·6·256 = 9216 inputs)
    "fc7": 4096 * 4096 + 4096,            # 16,781,312
    "fc8": 4096 * 1000 + 1000,            # 4,097,000
}


def test_zfnet_map_sizes_are_figure_3():
    report = cnnsize.analyze("zfnet")
    sizes = {"conv1": (96, 110), "pool1": (96, 55), "norm1": (96, 55), "conv2": (256, 26),
             "pool2": (256, 13), "conv3": (384, 13), "conv4": (384, 13), "conv5": (256, 13),
             "pool5": (256, 6)}
    assert {name: report[name].output_shape for name in sizes} == {
        name: (c, s, s) for name, (c, s) in sizes.items()}
    assert report["flatten"].output_shape == (9216,)
    # 110, 55 and 13 need rounding: (224 + 2 − 7)/2 + 1 = 110.5 floored; pools 54.5, 12.5 ceiled.
    assert [r.name for r in report.layers if r.notes] == ["conv1", "pool1", "pool2"]


def test_zfnet_params():
    report = cnnsize.analyze("zfnet")
    assert {name: report[name].params for name in ZFNET_PARAMS} == ZFNET_PARAMS
    assert report.totals.params == sum(ZFNET_PARAMS.values()) == 62_357_608


# ---------------------------------------------------------------------------------------------
# DeepBind (2015)


def test_deepbind_shapes_and_params():
    report = cnnsize.analyze("deepbind")
    assert report.input_shape == (4, 101)
    shapes = {
        "conv": (16, 124),     # 101 + 2·23 − 24 + 1 = n + m − 1 = 124 detector positions
        "pool": (16, 1),       # the max over all 124
        "flatten": (16,),
        "fc1": (32,),
        "fc2": (1,),
    }
    assert {name: report[name].output_shape for name in shapes} == shapes
    params = {
        "conv": 16 * 4 * 24 + 16,  # 1,552
        "fc1": 16 * 32 + 32,       # 544
        "fc2": 32 * 1 + 1,         # 33
    }
    assert {name: report[name].params for name in params} == params
    assert report.totals.params == sum(params.values()) == 2_129
    # Each detector output reads 24 positions of 4 channels: 16·124·4·24 = 190,464 MACs.
    assert report["conv"].macs == 16 * 124 * 4 * 24 == 190_464


@pytest.mark.parametrize("name", ["lenet5_1998", "alexnet_2012", "zfnet", "deepbind"])
def test_paper_entries_name_their_source(name):
    assert cnnsize.load(name).meta["source"]
