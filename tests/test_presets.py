"""Network presets: the layer tables as words, their errors, and the sample net files."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from convcli.errors import SpecError
from convcli.geometry import Shape, analyze
from convcli.network import read_network, resolve_inputs
from convcli.presets import (
    get_preset,
    mobilenet_channels,
    net_file_text,
    preset_input,
    preset_layers,
    preset_names,
    preset_shape,
    preset_words,
)
from tests.conftest import DATA, SAMPLES

# Counted by torch on hand-built torchvision/paper architectures (make_presets_fixture.py).
REFERENCE = json.loads((DATA / "presets_reference.json").read_text())


def test_known_presets():
    assert preset_names() == [
        "alexnet", "densenet121", "efficientnet_b0", "lenet5", "mobilenet_v1", "mobilenet_v2",
        "r3d_18", "resnet18", "resnet50", "unet", "vgg16", "vgg16_bn", "vit_b_16",
    ]  # fmt: skip


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(SpecError) as caught:
        get_preset("resnet51")
    assert str(caught.value) == (
        "unknown preset 'resnet51'; known presets: alexnet, densenet121, efficientnet_b0, "
        "lenet5, mobilenet_v1, mobilenet_v2, r3d_18, resnet18, resnet50, unet, vgg16, "
        "vgg16_bn, vit_b_16"
    )


def test_preset_names_forgive_case_and_dashes():
    assert get_preset("MobileNet-V1").name == "mobilenet_v1"


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg16", "mobilenet_v1"])
def test_sample_net_file_is_the_preset(name):
    # samples/ shows users the format; it must never drift from the preset
    assert (SAMPLES / f"{name}.net").read_text() == net_file_text(name)


def test_mobilenet_table_1_rows():
    words = preset_words("mobilenet_v1")
    # 1 full conv + 13 (depthwise, pointwise) pairs + gap, flatten, fc = 30 words
    assert len(words) == 30
    assert words[0] == "conv:32,k=3,s=2,p=1,bias=false"
    assert words[1:3] == ["dwconv:k=3,s=1,p=1,bias=false", "pwconv:64,bias=false"]
    # the paper prints the last depthwise layer as s2; its input and output are 7x7
    assert words[-5:] == [
        "dwconv:k=3,s=1,p=1,bias=false",
        "pwconv:1024,bias=false",
        "gap",
        "flatten",
        "fc:1000",
    ]
    strides = [word.split("s=")[1][0] for word in words if word.startswith("dwconv")]
    assert "".join(strides) == "1212121111121"


def test_width_multiplier_thins_every_layer_but_the_classes():
    words = preset_words("mobilenet_v1", width_mult=0.25)
    assert words[0] == "conv:8,k=3,s=2,p=1,bias=false"
    assert words[-4] == "pwconv:256,bias=false"
    assert words[-1] == "fc:1000"


@pytest.mark.parametrize(
    ("channels", "alpha", "expected"),
    [(1024, 0.75, 768), (32, 0.25, 8), (32, 0.1, 8), (64, 0.35, 22), (1024, 1.4, 1433)],
)
def test_mobilenet_channel_rounding_truncates_with_floor_of_8(channels, alpha, expected):
    assert mobilenet_channels(channels, alpha) == expected


def test_width_multiplier_errors():
    with pytest.raises(SpecError, match=r"^--width-mult applies only to mobilenet_v1, not to "):
        preset_words("vgg16", width_mult=0.5)
    with pytest.raises(SpecError, match=r"^--width-mult must be a finite number > 0, got 0$"):
        preset_words("mobilenet_v1", width_mult=0)


def test_preset_input_and_resolution():
    assert preset_input("lenet5") == "1x32x32"
    assert preset_input("mobilenet_v1", resolution=128) == "3x128x128"
    with pytest.raises(SpecError, match=r"^--resolution must be >= 1, got 0$"):
        preset_input("mobilenet_v1", resolution=0)


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg16", "mobilenet_v1"])
def test_sample_net_file_parses_to_the_preset(name):
    net = read_network(SAMPLES / f"{name}.net")
    assert resolve_inputs(net)[0] == {"input": preset_shape(name)}
    plain = [replace(layer, source="") for layer in net.layers]
    assert plain == [replace(layer, source="") for layer in preset_layers(name)]


@pytest.mark.parametrize("name", ["lenet5", "alexnet", "vgg16"])
def test_preset_costs_match_torch(name):
    chain = analyze(preset_shape(name), preset_layers(name))
    expected = REFERENCE[name]
    assert (chain.total.params, chain.total.macs) == (expected["params"], expected["macs"])
    assert chain.output.dims() == expected["output"]


def test_torchvision_parameter_counts():
    # torchvision.models.vgg16() and alexnet(): 138,357,544 and 61,100,840 parameters
    assert analyze(preset_shape("vgg16"), preset_layers("vgg16")).total.params == 138_357_544
    assert analyze(preset_shape("alexnet"), preset_layers("alexnet")).total.params == 61_100_840


def test_lenet5_sizes_follow_the_paper():
    chain = analyze(preset_shape("lenet5"), preset_layers("lenet5"))
    outputs = [str(report.output) for report in chain.layers]
    assert outputs == ["6x28x28", "6x14x14", "16x10x10", "16x5x5", "400", "120", "84", "10"]
    assert chain.total.params == 61_706


def test_mobilenet_sizes_follow_table_1():
    chain = analyze(Shape(3, 224, 224), preset_layers("mobilenet_v1"))
    sides = [report.output.height for report in chain.layers if report.kind == "pwconv"]
    assert sides == [112, 56, 56, 28, 28, 14, 14, 14, 14, 14, 14, 7, 7]
    assert str(chain.layers[-4].output) == "1024x7x7"


# ---- convcli shape --preset ----------------------------------------------------------------------


def _shape_totals(cli, *args):
    result = cli("shape", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["total"]


def test_shape_preset_mobilenet_reproduces_the_paper(cli):
    total = _shape_totals(cli, "3x224x224", "--preset", "mobilenet_v1")
    assert (total["macs"], total["params"]) == (568_740_352, 4_210_088)
    assert round(total["macs"] / 1e6) == 569 and round(total["params"] / 1e6, 1) == 4.2


@pytest.mark.parametrize(
    ("options", "key"),
    [
        (("--width-mult", "0.75"), "alpha=0.75,resolution=224"),
        (("--width-mult", "0.25", "--resolution", "128"), "alpha=0.25,resolution=128"),
        (("--resolution", "192"), "alpha=1.0,resolution=192"),
    ],
)
def test_shape_preset_width_and_resolution(cli, options, key):
    total = _shape_totals(cli, "--preset", "mobilenet_v1", *options)
    expected = REFERENCE["mobilenet_v1"][key]
    assert (total["macs"], total["params"]) == (expected["macs"], expected["params"])


@pytest.mark.parametrize(("name", "params"), [("vgg16", 138_357_544), ("alexnet", 61_100_840)])
def test_shape_preset_torchvision_counts(cli, name, params):
    assert _shape_totals(cli, "--preset", name)["params"] == params


def test_shape_resolution_applies_to_a_net_file(cli):
    total = _shape_totals(cli, "--net", SAMPLES / "mobilenet_v1.net", "--resolution", "160")
    assert total["macs"] == REFERENCE["mobilenet_v1"]["alpha=1.0,resolution=160"]["macs"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--preset", "resnet51"),
            "unknown preset 'resnet51'; known presets: alexnet, densenet121, efficientnet_b0, "
            "lenet5, mobilenet_v1, mobilenet_v2, r3d_18, resnet18, resnet50, unet, vgg16, "
            "vgg16_bn, vit_b_16",
        ),
        (("--preset", "vgg16", "--width-mult", "0.5"), "--width-mult applies only to mobilenet_v1"),
        (("3x8x8", "conv:4,k=3", "--width-mult", "0.5"), "--width-mult needs --preset"),
        (("--preset", "lenet5", "--net", str(SAMPLES / "lenet5.net")), "give --preset or --net"),
        (
            ("--preset", "mobilenet_v1", "--width-mult", "0"),
            "--width-mult must be a finite number > 0, got 0",
        ),
        (("--preset", "mobilenet_v1", "--resolution", "0"), "--resolution must be >= 1, got 0"),
    ],
)
def test_shape_preset_errors(cli, args, message):
    result = cli("shape", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message}")
    assert result.stdout == ""
