"""LAYER words, sizes, paddings and net files (convcli.layers)."""

from __future__ import annotations

import pytest

from convcli.errors import ConvcliError, SpecError
from convcli.geometry import KINDS, Layer, Shape
from convcli.layers import (
    parse_bool,
    parse_layer,
    parse_padding,
    parse_pair,
    parse_size,
)
from convcli.network import parse_network, read_network, resolve_inputs

#: The end of the unknown-type message: every word after avgpool.
KINDS_TAIL = (
    ", ".join(KINDS[KINDS.index("gap") :]) + " (conv1d, conv3d, ... for the 1-D and 3-D forms)"
)


@pytest.mark.parametrize(
    ("text", "channels_last", "expected"),
    [
        ("224", False, Shape(None, 224, 224)),
        ("224x160", False, Shape(None, 224, 160)),
        ("3x224x224", False, Shape(3, 224, 224)),
        ("8x3x224x224", False, Shape(3, 224, 224, 8)),
        ("224x160x3", True, Shape(3, 224, 160)),
        ("8x224x160x3", True, Shape(3, 224, 160, 8)),
        ("224x160", True, Shape(None, 224, 160)),
        (" 3X32x32 ", False, Shape(3, 32, 32)),
    ],
)
def test_parse_size(text, channels_last, expected):
    assert parse_size(text, channels_last) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("22a", "malformed size '22a': expected H, HxW, CxHxW or NxCxHxW (e.g. 3x224x224)"),
        ("3x", "malformed size '3x': expected H, HxW, CxHxW or NxCxHxW (e.g. 3x224x224)"),
        ("1x2x3x4x5", "malformed size '1x2x3x4x5': at most 4 numbers (NxCxHxW), got 5"),
        ("3x0x4", "malformed size '3x0x4': every dimension must be >= 1, got 0"),
    ],
)
def test_parse_size_errors(text, message):
    with pytest.raises(SpecError) as caught:
        parse_size(text)
    assert str(caught.value) == message


def test_parse_pair_padding_bool():
    assert parse_pair("3", "kernel") == (3, 3)
    assert parse_pair("5x3", "kernel") == (5, 3)
    assert parse_padding("2") == (2, 2, 2, 2)
    assert parse_padding("2x1") == (2, 2, 1, 1)
    assert parse_padding("0,1,2,3") == (0, 1, 2, 3)
    assert parse_padding("Same") == "same"
    assert parse_padding("valid") == "valid"
    assert [parse_bool(t, "bias") for t in ("yes", "TRUE", "1", "no", "false", "0")] == [
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(SpecError, match=r"^kernel must be N or HxW, got '3y'$"):
        parse_pair("3y", "kernel")
    with pytest.raises(SpecError, match=r"^padding must be N, HxW, top,bottom,left,right"):
        parse_padding("1,2,3")
    with pytest.raises(SpecError, match=r"^bias must be true/false, yes/no or 1/0, got 'maybe'$"):
        parse_bool("maybe", "bias")


def test_parse_layer_full_word():
    layer = parse_layer("deconv:32,k=4x3,s=2,p=1,2,0,0,d=2,g=2,op=1,bias=no")
    assert layer == Layer(
        "deconv",
        out_channels=32,
        kernel=(4, 3),
        stride=(2, 2),
        padding=(1, 2, 0, 0),
        dilation=(2, 2),
        groups=2,
        bias=False,
        output_padding=(1, 1),
        word="deconv:32,k=4x3,s=2,p=1,2,0,0,d=2,g=2,op=1,bias=no",
    )


def test_parse_layer_kinds_and_defaults():
    assert parse_layer("pwconv:64").kernel == (1, 1)
    assert parse_layer("maxpool:k=3,ceil=yes").ceil_mode is True
    assert parse_layer("dwconv:k=3,dm=2").depth_multiplier == 2
    assert parse_layer("gap").kind == "gap"
    assert parse_layer("linear:10").kind == "fc"
    assert parse_layer("conv:64,kernel=3,stride=2").stride == (2, 2)


def test_to_word_round_trips():
    for word in (
        "conv:64,k=7,s=2,p=3",
        "conv:8,k=5x3,p=2x1,d=2,g=2,bias=false",
        "maxpool:k=2,s=2,p=1,ceil=true",
        "deconv:32,k=4,s=2,p=1,op=1",
        "conv:16,k=3,p=0,1,0,1",
        "conv:16,k=3,p=same",
        "sepconv:128,k=3,dm=2",
        "fc:10",
        "gap",
    ):
        assert parse_layer(word).to_word() == word


@pytest.mark.parametrize(
    ("word", "message"),
    [
        (
            "conv:64,q=3",
            "layer 3 'conv:64,q=3': unknown key 'q' for conv "
            "(accepts k, s, p, d, g, bias, bn, act)",
        ),
        (
            "maxpool:k=2,op=1",
            "layer 3 'maxpool:k=2,op=1': unknown key 'op' for maxpool (accepts k, s, p, d, ceil)",
        ),
        ("gap:k=3", "layer 3 'gap:k=3': unknown key 'k' for gap (accepts no keys)"),
        (
            "blur:3",
            "layer 3 'blur:3': unknown layer type 'blur'; expected one of conv, dwconv, pwconv, "
            "sepconv, deconv, maxpool, avgpool, " + KINDS_TAIL,
        ),
        ("conv:k=3x", "layer 3 'conv:k=3x': kernel must be N or HxW, got '3x'"),
        ("conv:sixty", "layer 3 'conv:sixty': out channels must be an integer, got 'sixty'"),
        (
            "conv:64,3",
            "layer 3 'conv:64,3': unexpected bare value '3'; only the first argument may be bare "
            "(out channels)",
        ),
        (
            "maxpool:3",
            "layer 3 'maxpool:3': unexpected bare value '3'; maxpool takes no count; use key=value",
        ),
        (
            "conv:64,bias=maybe",
            "layer 3 'conv:64,bias=maybe': bias must be true/false, yes/no or 1/0, got 'maybe'",
        ),
    ],
)
def test_parse_layer_errors(word, message):
    with pytest.raises(SpecError) as caught:
        parse_layer(word, position=3)
    assert str(caught.value) == message


def test_parse_net_comments_input_and_positions():
    text = "# a stem\ninput 3x224x224\nconv:64,k=7,s=2,p=3   # 7x7\n\nmaxpool:k=3,s=2,p=1 gap\n"
    net = parse_network(text, origin="stem.net")
    assert [(i.name, i.text) for i in net.inputs] == [("input", "3x224x224")]
    assert resolve_inputs(net)[0] == {"input": Shape(3, 224, 224)}
    assert [layer.kind for layer in net.layers] == ["conv", "maxpool", "gap"]
    assert [layer.source for layer in net.layers] == ["stem.net:3", "stem.net:5", "stem.net:5"]
    with pytest.raises(SpecError) as caught:
        parse_network("conv:8,k=3\nconv:8,z=1\n", origin="bad.net")
    assert str(caught.value) == (
        "layer 2 'conv:8,z=1' (bad.net:2): unknown key 'z' for conv "
        "(accepts k, s, p, d, g, bias, bn, act)"
    )


def test_read_net_errors(tmp_path):
    with pytest.raises(ConvcliError, match=r"^net file not found: .*missing\.net$"):
        read_network(tmp_path / "missing.net")
    empty = tmp_path / "empty.net"
    empty.write_text("# nothing\n")
    with pytest.raises(ConvcliError, match=r"^net file has no layers: .*empty\.net$"):
        read_network(empty)
