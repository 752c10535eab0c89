"""convcli.compare: one layer in its standard and separable forms, and whole networks.

Every network figure here is computed from the preset's layer words; the published
figures are checked to the paper's printed precision, and the exact values against the
torch-counted fixture (tests/data/presets_reference.json, made by
tests/data/make_presets_fixture.py).
"""

from __future__ import annotations

import json

import pytest

from convcli.compare import compare_layer, compare_network, describe_kernel, layer_kind
from convcli.errors import ConvcliError, SpecError
from convcli.geometry import Layer, Shape, analyze
from convcli.layers import parse_layer, parse_size
from convcli.presets import preset_layers, preset_shape, preset_words
from tests.conftest import DATA

REFERENCE = json.loads((DATA / "presets_reference.json").read_text())


# ---- one layer -----------------------------------------------------------------------------------


def test_seed_example_multiplications():
    # "A Basic Introduction to Separable Convolutions": 12x12x3, 256 kernels 5x5x3
    result = compare_layer(Shape(3, 12, 12), (5, 5), 256, bias=False)
    assert result.standard.macs == 1_228_800
    assert result.depthwise.macs == 4_800
    assert result.pointwise.macs == 49_152
    assert result.separable.macs == 53_952
    assert result.standard.output == Shape(256, 8, 8)
    assert result.depthwise.output == Shape(3, 8, 8)


def test_seed_example_channels_last_is_the_same_layer():
    assert parse_size("12x12x3", channels_last=True) == parse_size("3x12x12")


def test_mobilenet_table_3_layer():
    result = compare_layer(Shape(512, 14, 14), (3, 3), 512, padding=(1, 1, 1, 1), bias=False)
    assert (result.standard.macs, result.standard.params) == (462_422_016, 2_359_296)
    assert (result.separable.macs, result.separable.params) == (52_283_392, 266_752)


def test_mac_ratio_equals_closed_form():
    for channels, kernel, multiplier in [(256, 5, 1), (512, 3, 1), (32, 3, 2), (7, 4, 3)]:
        result = compare_layer(
            Shape(8, 20, 20), (kernel, kernel), channels, depth_multiplier=multiplier, bias=False
        )
        assert result.macs_ratio == pytest.approx(
            multiplier * (1 / channels + 1 / kernel**2), rel=1e-12
        )
        assert result.closed_form == pytest.approx(result.macs_ratio, rel=1e-12)


def test_bias_is_on_the_pointwise_part_only():
    result = compare_layer(Shape(3, 12, 12), (5, 5), 256)
    assert result.standard.params == 19_200 + 256
    assert result.depthwise.params == 75
    assert result.pointwise.params == 768 + 256


def test_depth_multiplier_widens_the_middle():
    result = compare_layer(Shape(3, 12, 12), (5, 5), 256, depth_multiplier=2, bias=False)
    assert result.depthwise.output == Shape(6, 8, 8)
    assert result.pointwise.params == 256 * 6


def test_stride_padding_dilation_carry_to_every_form():
    result = compare_layer(
        Shape(16, 33, 33), (3, 3), 32, stride=(2, 2), padding="same", dilation=(2, 2)
    )
    outputs = {cost.output for cost in (result.standard, result.separable, result.spatial)}
    assert outputs == {Shape(32, 17, 17)}
    assert result.pads == (2, 2, 2, 2)


def test_spatial_form_is_column_then_row():
    result = compare_layer(Shape(3, 12, 12), (5, 5), 256, bias=False)
    assert result.spatial.layers == (
        "dwconv:k=5x1,dm=256,bias=false",
        "conv:256,k=1x5,g=256,bias=false",
    )
    # one column and one row per kernel: 3*256*(5+5) instead of 3*256*25
    assert result.spatial.params == 3 * 256 * 10
    # the column pass runs over all 12 input columns, the row pass over 8 outputs
    assert result.spatial.macs == 3 * 256 * 8 * 12 * 5 + 256 * 8 * 8 * 3 * 5


def test_spatial_form_does_not_apply_to_a_1d_kernel():
    result = compare_layer(Shape(3, 12, 12), (1, 5), 8)
    assert result.spatial is None
    assert result.spatial_note == "a 1x5 kernel is already one-dimensional"
    assert result.to_dict()["spatial"] is None


def test_layer_json_keys():
    data = compare_layer(Shape(3, 12, 12), (5, 5), 256, bias=False).to_dict()
    for key in ("standard", "depthwise", "pointwise", "separable", "spatial"):
        assert set(data[key]) >= {"params", "macs", "flops", "output"}
    assert data["separable"]["flops"] == 2 * 53_952
    assert data["standard"]["output"] == [256, 8, 8]
    assert set(data["ratio"]) >= {"params", "macs", "closed_form"}
    assert data["ratio"]["closed_form"] == pytest.approx(1 / 256 + 1 / 25)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"depth_multiplier": 0}, "--depth-multiplier must be >= 1, got 0"),
        ({"out_channels": 0}, "out_channels must be >= 1, got 0"),
    ],
)
def test_layer_errors(kwargs, message):
    arguments = {"input_shape": Shape(3, 12, 12), "kernel": (3, 3), "out_channels": 8} | kwargs
    with pytest.raises(SpecError) as caught:
        compare_layer(**arguments)
    assert str(caught.value) == message


def test_layer_too_small_for_the_kernel():
    with pytest.raises(ConvcliError) as caught:
        compare_layer(Shape(3, 4, 4), (7, 7), 8)
    assert str(caught.value) == (
        "layer 1 'conv:8,k=7': output size must be >= 1, got -2x-2 (input 4x4, effective "
        "kernel 7x7, stride 1x1, padding 0,0,0,0)"
    )


# ---- a concrete kernel ---------------------------------------------------------------------------


def test_sobel_is_rank_one_with_its_factors():
    (sobel,) = describe_kernel("sobel-x", Shape(3, 64, 64))
    assert sobel.rank == 1
    assert sobel.factors == ([1.0, 2.0, 1.0], [-1.0, 0.0, 1.0])
    # each channel filtered on its own: 9 -> 3 + 3 multiply-adds per output
    assert sobel.direct.macs == 3 * 62 * 62 * 9
    assert sobel.separated.macs == 3 * 62 * 64 * 3 + 3 * 62 * 62 * 3
    assert sobel.separated.output == sobel.direct.output == Shape(3, 62, 62)


def test_laplacian_is_not_separable():
    (laplacian,) = describe_kernel("laplacian", Shape(1, 8, 8))
    assert laplacian.rank == 2
    assert laplacian.factors is None and laplacian.separated is None
    assert laplacian.to_dict()["ratio"] is None


def test_a_gradient_magnitude_gives_both_kernels():
    parts = describe_kernel("sobel", Shape(1, 8, 8))
    assert [part.rank for part in parts] == [1, 1]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "1 2; 3 4 | 5 6; 7 8",
            "--kernel-matrix needs a 2-D kernel (kh x kw), got '1 2; 3 4 | 5 6; 7 8' of shape "
            "2x2x2",
        ),
        ("maxpool:2", "--kernel-matrix needs a kernel, got the pooling step 'maxpool:2'"),
    ],
)
def test_kernel_matrix_errors(step, message):
    with pytest.raises(SpecError) as caught:
        describe_kernel(step, Shape(1, 8, 8))
    assert str(caught.value) == message


# ---- whole networks ------------------------------------------------------------------------------


def _mobilenet(width_mult=None, resolution=None):
    return compare_network(
        preset_shape("mobilenet_v1", resolution), preset_layers("mobilenet_v1", width_mult)
    )


def test_mobilenet_as_published():
    result = _mobilenet()
    # REFERENCE.md and TF-slim: 567,716,352 in the body + 1,024,000 in the classifier
    assert (result.separable.macs, result.separable.params) == (568_740_352, 4_210_088)
    assert round(result.separable.macs / 1e6) == 569  # the paper's Table 1/4: 569M
    assert round(result.separable.params / 1e6, 1) == 4.2


def test_mobilenet_table_4_all_standard_convolutions():
    result = _mobilenet()
    assert result.replaced == 13
    expected = REFERENCE["mobilenet_v1_standard_conv"]
    assert (result.standard.macs, result.standard.params) == (expected["macs"], expected["params"])
    assert round(result.standard.params / 1e6, 1) == 29.3
    # The paper prints 4866M; the layer table gives 4867.29M (4866.27M without the
    # classifier's 1.024M): one unit in the last printed digit.
    assert result.standard.macs == 4_867_293_184
    assert abs(result.standard.macs / 1e6 - 4866) < 1.5


# The paper's Table 6 (width multiplier at 224) and Table 7 (resolution at alpha 1):
# (million mult-adds, million parameters) as printed.
TABLE_6 = {1.0: (569, 4.2), 0.75: (325, 2.6), 0.5: (149, 1.3), 0.25: (41, 0.5)}
TABLE_7 = {224: (569, 4.2), 192: (418, 4.2), 160: (290, 4.2), 128: (186, 4.2)}


@pytest.mark.parametrize("alpha", TABLE_6)
def test_mobilenet_table_6_width_multipliers(alpha):
    result = _mobilenet(width_mult=alpha)
    expected = REFERENCE["mobilenet_v1"][f"alpha={alpha},resolution=224"]
    assert (result.separable.macs, result.separable.params) == (
        expected["macs"],
        expected["params"],
    )
    macs, params = TABLE_6[alpha]
    assert round(result.separable.macs / 1e6) == macs
    assert round(result.separable.params / 1e6, 1) == params


@pytest.mark.parametrize("resolution", TABLE_7)
def test_mobilenet_table_7_resolutions(resolution):
    result = _mobilenet(resolution=resolution)
    expected = REFERENCE["mobilenet_v1"][f"alpha=1.0,resolution={resolution}"]
    assert (result.separable.macs, result.separable.params) == (
        expected["macs"],
        expected["params"],
    )
    macs, params = TABLE_7[resolution]
    # 160 gives 290.68M, which the paper prints as 290; every other figure rounds.
    assert abs(result.separable.macs / 1e6 - macs) < 1
    assert round(result.separable.params / 1e6, 1) == params


def test_mobilenet_other_widths_and_resolutions_match_torch():
    for key, expected in REFERENCE["mobilenet_v1"].items():
        alpha, resolution = (part.split("=")[1] for part in key.split(","))
        result = _mobilenet(width_mult=float(alpha), resolution=int(resolution))
        assert (result.separable.macs, result.separable.params) == (
            expected["macs"],
            expected["params"],
        ), key


def test_mobilenet_table_2_split_by_kind():
    result = _mobilenet()
    shares = {share.kind: share for share in result.by_kind}
    assert list(shares) == ["conv_1x1", "depthwise", "full_conv", "fully_connected"]
    # The paper: 1x1 94.86% / 74.59%, depthwise 3.06% / 1.06%, conv 3x3 1.19% / 0.02%,
    # FC 0.18% / 24.33%. Its parameter shares leave out the FC bias (1,000 params): with
    # it they are 74.57% and 24.35%. Its 1.19% is 1.91% with two digits swapped (10.8M
    # of 569M; the printed column sums to 99.29%).
    assert round(100 * shares["conv_1x1"].macs_share, 2) == 94.86
    assert round(100 * shares["depthwise"].macs_share, 2) == 3.06
    assert round(100 * shares["full_conv"].macs_share, 2) == 1.91
    assert round(100 * shares["fully_connected"].macs_share, 2) == 0.18
    assert round(100 * shares["depthwise"].params_share, 2) == 1.06
    assert round(100 * shares["full_conv"].params_share, 2) == 0.02
    without_fc_bias = result.separable.params - 1000
    assert round(100 * shares["conv_1x1"].params / without_fc_bias, 2) == 74.59
    assert round(100 * 1_024_000 / without_fc_bias, 2) == 24.33
    assert sum(share.macs for share in result.by_kind) == result.separable.macs
    assert sum(share.params for share in result.by_kind) == result.separable.params


def test_network_totals_follow_the_words_not_a_table_of_totals():
    # Change one layer of the preset: the total moves by exactly that layer's cost.
    words = preset_words("mobilenet_v1")
    assert words[-1] == "fc:1000"
    edited = [parse_layer(word) for word in [*words[:-1], "fc:10"]]
    result = compare_network(Shape(3, 224, 224), edited)
    assert result.separable.params == 4_210_088 - 990 * (1024 + 1)
    assert result.separable.macs == 568_740_352 - 990 * 1024
    assert result.standard.params == 29_282_120 - 990 * (1024 + 1)


def test_sepconv_words_are_blocks_too():
    separate = compare_network(
        Shape(32, 16, 16), [parse_layer("dwconv:k=3,s=2,p=1"), parse_layer("pwconv:64")]
    )
    fused = compare_network(Shape(32, 16, 16), [parse_layer("sepconv:64,k=3,s=2,p=1")])
    assert separate.replaced == fused.replaced == 1
    assert separate.standard == fused.standard
    assert separate.standard.layers == ()
    assert fused.blocks[0].standard.layers == ("conv:64,k=3,s=2,p=1",)


def test_a_lone_depthwise_layer_is_not_a_block():
    result = compare_network(Shape(32, 16, 16), [parse_layer("dwconv:k=3"), parse_layer("gap")])
    assert result.replaced == 0
    assert result.standard == result.separable


def test_network_without_separable_blocks_is_unchanged():
    result = compare_network(preset_shape("vgg16"), preset_layers("vgg16"))
    assert result.replaced == 0
    assert result.separable.params == result.standard.params == 138_357_544
    assert result.params_ratio == 1


def test_network_json_has_the_layer_keys_plus_layers():
    data = _mobilenet().to_dict()
    assert {"standard", "separable", "ratio", "layers"} <= set(data)
    assert data["separable"]["macs"] == 568_740_352
    assert data["standard"]["params"] == 29_282_120
    assert data["ratio"]["macs"] == pytest.approx(568_740_352 / 4_867_293_184)
    assert len(data["layers"]) == 1 + 13 + 3
    block = data["layers"][1]
    assert block["replaced"] is True
    assert block["separable"]["layers"] == [
        "dwconv:k=3,s=1,p=1,bias=false",
        "pwconv:64,bias=false",
    ]
    assert block["standard"]["layers"] == ["conv:64,k=3,s=1,p=1,bias=false"]


def test_channels_that_do_not_divide():
    with pytest.raises(ConvcliError) as caught:
        compare_network(Shape(64, 8, 8), [parse_layer("dwconv:100,k=3")])
    assert str(caught.value) == (
        "layer 1 'dwconv:100,k=3': dwconv out channels must be a multiple of the input's 64, "
        "got 100"
    )


def test_layer_kinds():
    chain = analyze(
        Shape(8, 8, 8),
        [
            Layer("conv", out_channels=8, kernel=(3, 3), groups=8),
            Layer("conv", out_channels=16, kernel=(1, 1)),
            Layer("conv", out_channels=16, kernel=(3, 3), groups=2),
            Layer("deconv", out_channels=4, kernel=(2, 2), stride=(2, 2)),
            Layer("maxpool", kernel=(2, 2)),
            Layer("fc", out_channels=3),
        ],
    )
    kinds = [layer_kind(report) for report in chain.layers]
    assert kinds == [
        "depthwise",
        "conv_1x1",
        "full_conv",
        "transposed_conv",
        None,
        "fully_connected",
    ]
