"""``convcli shape`` as a user runs it: the seed examples, formats, checks and errors."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest
from rich.console import Console

from convcli.geometry import COUNTING_CONVENTION, KINDS
from tests.conftest import SAMPLES

#: The end of the unknown-type message: every word after avgpool.
KINDS_TAIL = (
    ", ".join(KINDS[KINDS.index("gap") :]) + " (conv1d, conv3d, ... for the 1-D and 3-D forms)"
)


def plain(cli, *args: str) -> str:
    result = cli("shape", *args, "--format", "plain")
    assert result.exit_code == 0, result.stderr
    return result.stdout.strip()


def as_json(cli, *args: str) -> dict:
    result = cli("shape", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


# ---- the seed examples ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("8x8", "-k", "3", "-p", "1"), "8x8"),
        (("8x8", "-k", "5x3", "-p", "2x1"), "8x8"),
        (("8x8", "-k", "3", "-p", "1", "-s", "2"), "4x4"),
        (("4x4", "--op", "maxpool", "-k", "3", "-p", "1", "-s", "2"), "2x2"),
        (("3x12x12", "-k", "5", "-c", "256"), "256x8x8"),
        (("5", "--op", "maxpool", "-k", "2", "-s", "2", "-p", "1", "--ceil-mode"), "3"),
        (("64x16x16", "deconv:32,k=4,s=2,p=1"), "32x32x32"),
        (("224x224x3", "--channels-last", "-k", "7", "-s", "2", "-p", "3", "-c", "8"), "112x112x8"),
        (("8x3x224x224", "conv:64,k=7,s=2,p=3", "maxpool:k=3,s=2,p=1"), "8x64x56x56"),
        (("3x32x32", "conv:8,k=3", "flatten", "fc:10"), "10"),
    ],
)  # fmt: skip
def test_plain_prints_the_final_shape(cli, args, expected):
    assert plain(cli, *args) == expected


def test_seed_parameter_count_in_the_table(cli):
    result = cli("shape", "3x12x12", "-k", "5", "-c", "256")
    assert result.exit_code == 0
    row = next(line for line in result.stdout.splitlines() if line.lstrip().startswith("1 "))
    assert row.split() == [
        "1", "conv:256,k=5", "256x8x8", "19,456", "1,228,800", "2,457,600", "0,0,0,0",
        "5", "1", "0", "64", "KiB",
    ]  # fmt: skip
    total = next(line for line in result.stdout.splitlines() if "total" in line)
    assert total.split()[:5] == ["total", "256x8x8", "19,456", "1,228,800", "2,457,600"]
    assert " ".join(result.stdout.split()).endswith(COUNTING_CONVENTION)


def test_deconv_macs_counted_from_the_input_side(cli):
    data = as_json(cli, "64x16x16", "deconv:32,k=4,s=2,p=1")
    assert data["output"] == [32, 32, 32]
    assert data["total"]["macs"] == 8_388_608
    assert data["total"]["flops"] == 16_777_216
    assert "8,388,608" in cli("shape", "64x16x16", "deconv:32,k=4,s=2,p=1").stdout


@pytest.mark.parametrize(
    ("kernel", "pads"),
    [("3", [0, 1, 0, 1]), ("7", [2, 3, 2, 3])],
)
def test_tf_same_pads(cli, kernel, pads):
    data = as_json(cli, "224", "-k", kernel, "-s", "2", "-p", "same")
    assert data["output"] == [112, 112]
    assert data["layers"][0]["padding"] == pads
    table = cli("shape", "224", "-k", kernel, "-s", "2", "-p", "same").stdout
    assert ",".join(map(str, pads)) in table


def test_dilated_receptive_fields(cli):
    words = [f"conv:16,k=3,p={d},d={d}" for d in (1, 2, 4, 8)]
    data = as_json(cli, "16x64x64", *words)
    assert [layer["rf"] for layer in data["layers"]] == [[3, 3], [7, 7], [15, 15], [31, 31]]
    assert [layer["output"] for layer in data["layers"]] == [[16, 64, 64]] * 4


def test_deconv_same_is_keras_output_times_stride(cli):
    data = as_json(cli, "3x8x8", "--op", "deconv", "-k", "3", "-s", "2", "-p", "same")
    assert data["output"] == [3, 16, 16]
    assert data["layers"][0]["padding"] == [0, 1, 0, 1]  # rows cropped from the output
    assert plain(cli, "3x8x8", "deconv:k=1,s=3,p=same,op=2") == "3x24x24"


def test_floor_division_warning(cli):
    result = cli("shape", "3x224x224", "-k", "7", "-s", "2", "-c", "8")
    assert result.exit_code == 0
    # Warnings go to stderr in every format, so stdout stays data.
    assert result.stderr == (
        "warning: layer 1 'conv:8,k=7,s=2': floor division drops 1 input row at the bottom\n"
        "warning: layer 1 'conv:8,k=7,s=2': floor division drops 1 input column at the right\n"
    )
    assert "warning" not in result.stdout
    plain_run = cli("shape", "3x224x224", "-k", "7", "-s", "2", "-c", "8", "--format", "plain")
    assert (plain_run.stdout, plain_run.stderr) == ("8x109x109\n", result.stderr)
    strict = cli("shape", "3x224x224", "-k", "7", "-s", "2", "-c", "8", "--strict")
    assert strict.exit_code == 1
    assert strict.stderr.splitlines()[-1] == "Error: --strict: 2 warning(s) or note(s) above"
    data = as_json(cli, "3x224x224", "-k", "7", "-s", "2", "-c", "8")
    assert data["layers"][0]["warnings"] == [
        "floor division drops 1 input row at the bottom",
        "floor division drops 1 input column at the right",
    ]


# ---- formats ----------------------------------------------------------------------------------


def test_json_schema(cli):
    data = as_json(cli, "2x3x32x32", "conv:8,k=3,s=2,p=1", "maxpool:k=2", "sepconv:16,k=3,p=1")
    assert data["input"] == [2, 3, 32, 32]
    assert data["output"] == [2, 16, 8, 8]
    assert set(data) >= {"input", "output", "layers", "total"}
    conv, pool, sep = data["layers"]
    for layer in data["layers"]:
        assert set(layer) >= {
            "type", "spec", "output", "params", "macs", "flops", "padding", "rf", "jump",
            "rf_padding", "memory_bytes", "warnings",
        }  # fmt: skip
    assert conv == {
        "position": 1,
        "type": "conv",
        "spec": "conv:8,k=3,s=2,p=1",
        "input": [2, 3, 32, 32],
        "output": [2, 8, 16, 16],
        "params": 8 * 3 * 9 + 8,
        "macs": 2 * 8 * 16 * 16 * 3 * 9,
        "flops": 2 * 2 * 8 * 16 * 16 * 3 * 9,
        "window_ops": 0,
        "padding": [1, 1, 1, 1],
        "rf": [3, 3],
        "jump": [2, 2],
        "rf_padding": [1, 1],
        "memory_bytes": 2 * 8 * 16 * 16 * 4,
        "warnings": [],
        "buffers": 0,
        "elementwise_ops": 0,
        "inputs": ["input"],
        "block": [],
    }
    assert (pool["macs"], pool["window_ops"]) == (0, 2 * 8 * 8 * 8 * 4)
    assert [part["type"] for part in sep["parts"]] == ["dwconv", "pwconv"]
    assert data["total"] == {
        "params": conv["params"] + sep["params"],
        "macs": conv["macs"] + sep["macs"],
        "flops": 2 * (conv["macs"] + sep["macs"]),
        "window_ops": pool["window_ops"],
        "memory_bytes": conv["memory_bytes"] + pool["memory_bytes"] + sep["memory_bytes"],
        "buffers": 0,
        "elementwise_ops": 0,
    }


def test_csv(cli):
    result = cli("shape", "3x32x32", "conv:8,k=3", "maxpool:k=2", "--format", "csv")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("position,type,spec,input,output,params,macs,flops,window_ops,")
    assert lines[1].startswith('1,conv,"conv:8,k=3",3x32x32,8x30x30,224,194400,388800,0,0,0,0,0,')
    assert lines[2].startswith("2,maxpool,maxpool:k=2,8x30x30,8x15x15,0,0,0,7200,")
    assert lines[3].startswith("total,,,3x32x32,8x15x15,224,194400,388800,7200,")
    assert len(lines) == 4


def csv_records(cli, *args: str) -> list[dict[str, str]]:
    """The CSV report as one dict per row, read by the csv module as a spreadsheet would."""
    result = cli("shape", *args, "--format", "csv")
    assert result.exit_code == 0, result.stderr
    return list(csv.DictReader(io.StringIO(result.stdout)))


#: The per-axis columns of one layer: pads, receptive field size, jump and padding.
PER_AXIS = ("pad_", "rf_", "jump_")


def per_axis_cells(record: dict[str, str]) -> dict[str, str]:
    return {key: value for key, value in record.items() if key.startswith(PER_AXIS)}


def test_csv_has_one_value_per_cell_for_3d_layers(cli):
    """A 3-D report adds the depth axis in front, as JSON's lists have it (D, H, W); each
    cell holds one number (the front/back pads and D x H used to share a cell: ``1/3``)."""
    rows = csv_records(
        cli, "3x16x32x32", "conv3d:8,k=3x5x7,s=1x2x2,p=1x2x3", "gap", "flatten", "fc:10"
    )
    assert per_axis_cells(rows[0]) == {
        "pad_front": "1", "pad_back": "1", "pad_top": "2", "pad_bottom": "2",
        "pad_left": "3", "pad_right": "3", "rf_d": "3", "rf_h": "5", "rf_w": "7",
        "jump_d": "1", "jump_h": "2", "jump_w": "2",
        "rf_padding_d": "1", "rf_padding_h": "2", "rf_padding_w": "3",
    }  # fmt: skip
    assert list(rows[0])[9:15] == ["pad_front", "pad_back", "pad_top", "pad_bottom",
                                   "pad_left", "pad_right"]  # fmt: skip
    # fc after flatten has 2-D pads (as in JSON: [0, 0, 0, 0]): its depth cells stay empty
    assert rows[3]["type"] == "fc" and (rows[3]["pad_front"], rows[3]["pad_top"]) == ("", "0")
    assert [rows[3][f"rf_{axis}"] for axis in "dhw"] == ["18", "35", "37"]
    assert rows[-1]["position"] == "total" and set(per_axis_cells(rows[-1]).values()) == {""}
    layer = as_json(cli, "3x16x32x32", "conv3d:8,k=3x5x7,s=1x2x2,p=1x2x3")["layers"][0]
    assert [rows[0][f"rf_{axis}"] for axis in "dhw"] == [str(v) for v in layer["rf"]]


def test_csv_of_1d_and_2d_layers_keeps_the_2d_columns(cli):
    """A 1-D layer's one axis fills the W columns (the last axis, as in JSON's lists)."""
    one_d = csv_records(cli, "4x100", "conv1d:8,k=3,s=2,p=1")
    assert per_axis_cells(one_d[0]) == {
        "pad_top": "", "pad_bottom": "", "pad_left": "1", "pad_right": "1", "rf_h": "",
        "rf_w": "3", "jump_h": "", "jump_w": "2", "rf_padding_h": "", "rf_padding_w": "1",
    }  # fmt: skip
    two_d = csv_records(cli, "3x32x32", "conv:8,k=3x5,p=1x2")
    assert "pad_front" not in two_d[0]
    assert [two_d[0][key] for key in ("pad_top", "pad_left", "rf_h", "rf_w")] == [
        "1",
        "2",
        "3",
        "5",
    ]


def test_csv_of_the_r3d_18_preset_reads_as_numbers(cli):
    rows = csv_records(cli, "--preset", "r3d_18")
    assert rows[0]["pad_front"] == "1" and rows[0]["rf_h"] == "7"
    for row in rows:
        for key, value in per_axis_cells(row).items():
            assert value in ("", "global") or value.isdigit(), (row["position"], key, value)


def test_absurd_sizes_print_in_scientific_notation_in_both_tables(monkeypatch, cli):
    """Channels doubled 100 times: counts past a thousand T (and memory past a thousand
    TiB) print as 3.09e+62, never with a unit as well (``2.74e+20T``), the same in the
    piped table and in Rich's; JSON keeps the exact integers."""
    words = ("3x8x8", "repeat:100", "conv:k=1", "tag:x", "cat:x", "end")
    exact_macs = 192 * (4**100 - 1)  # conv:k=1 on 3 * 2**i channels of 8x8, i < 100
    expected = ["total", f"{3 * 2**100}x8x8", "4.82e+60", "3.09e+62", "6.17e+62", "2.92e+33", "B"]

    def total_line(text: str) -> list[str]:
        return next(cells for line in text.splitlines() if (cells := line.split())[:1] == ["total"])

    piped = cli("shape", *words)
    assert piped.exit_code == 0, piped.stderr
    assert total_line(piped.stdout) == expected
    buffer = io.StringIO()
    monkeypatch.setattr(
        "convcli.render.shape.stdout_console",
        lambda: Console(file=buffer, width=200, color_system=None),
    )
    monkeypatch.setattr("convcli.render.shape.stdout_is_plain", lambda: False)  # a terminal
    assert cli("shape", *words).exit_code == 0
    assert total_line(buffer.getvalue()) == expected
    total = as_json(cli, *words)["total"]
    assert total["macs"] == exact_macs and total["flops"] == 2 * exact_macs


def test_a_network_that_grows_past_a_googol_is_refused_by_layer(cli):
    """Channels doubled 15,000 times have 4,500 digits, past what Python prints (the JSON
    failed with "Exceeds the limit (4300 digits)"): the first layer past 1e100 elements is
    named instead, and nothing is printed."""
    result = cli("shape", "3x8x8", "repeat:15000", "tag:x", "cat:x", "end", "--format", "json")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        "Error: layer 325 'cat:x': its output would have 1.31e+100 elements "
        "(at most 1e+100: does the network grow without bound?)\n"
    )


def test_table_fits_80_columns_for_one_layer(monkeypatch, cli):
    buffer = io.StringIO()
    monkeypatch.setattr(
        "convcli.render.shape.stdout_console",
        lambda: Console(file=buffer, width=80, color_system=None),
    )
    monkeypatch.setattr("convcli.render.shape.stdout_is_plain", lambda: False)  # a terminal
    result = cli("shape", "3x224x224", "-k", "3", "-s", "2", "-p", "1", "-c", "64")
    assert result.exit_code == 0
    lines = buffer.getvalue().splitlines()
    assert max(len(line.rstrip()) for line in lines) <= 80
    row = next(line for line in lines if line.startswith("conv:"))
    assert row.split() == [
        "conv:64,k=3,s=2,p=1", "64x112x112", "1,792", "21.7M", "43.4M", "1,1,1,1", "3/2/1",
        "3.06", "MiB",
    ]  # fmt: skip


def test_channels_last_reads_and_prints_hwc(cli):
    result = cli(
        "shape", "224x224x3", "--channels-last", "-k", "3", "-s", "2", "-p", "1", "-c", "8"
    )
    assert "112x112x8" in result.stdout
    data = as_json(cli, "224x224x3", "--channels-last", "-k", "3", "-s", "2", "-p", "1", "-c", "8")
    assert data["output"] == [8, 112, 112]  # JSON is always C,H,W


def test_net_file_and_its_input_line(cli, tmp_path):
    data = as_json(cli, "--net", str(SAMPLES / "dilated.net"))
    assert data["input"] == [21, 64, 64]
    assert [layer["rf"][0] for layer in data["layers"]] == [3, 5, 9, 17, 33, 65, 67, 67]
    stem = as_json(cli, "--net", str(SAMPLES / "resnet_stem.net"))
    assert stem["output"] == [256, 56, 56]
    assert stem["layers"][0]["params"] == 9408
    # INPUT on the command line wins over the file's line; LAYER words follow the file.
    assert plain(cli, "3x112x112", "--net", str(SAMPLES / "resnet_stem.net"), "gap") == "256x1x1"
    bad = tmp_path / "bad.net"
    bad.write_text("conv:8,k=3\n\nconv:8,k=3,x=1\n")
    result = cli("shape", "3x32x32", "--net", str(bad))
    assert result.exit_code == 1  # a file's content: failed input, as kernel files
    assert result.stderr == (
        "Error: layer 2 'conv:8,k=3,x=1' (bad.net:3): unknown key 'x' for conv "
        "(accepts k, s, p, d, g, bias, bn, act)\n"
    )


def test_autoencoder_sample_round_trips(cli):
    data = as_json(cli, "--net", str(SAMPLES / "autoencoder.net"))
    assert data["output"] == [1, 28, 28]
    assert data["layers"][-1]["jump"] == [1, 1]


# ---- --expect and --target --------------------------------------------------------------------


def test_expect(cli):
    ok = cli("shape", "3x224x224", "-k", "3", "-s", "2", "-p", "1", "-c", "64",
             "--expect", "64x112x112", "--format", "plain")  # fmt: skip
    assert (ok.exit_code, ok.stdout, ok.stderr) == (0, "64x112x112\n", "")
    bad = cli("shape", "3x224x224", "-k", "3", "-s", "2", "-c", "64",
              "--expect", "64x112x112", "--format", "plain")  # fmt: skip
    assert bad.exit_code == 1
    assert bad.stderr.splitlines() == [
        "warning: layer 1 'conv:64,k=3,s=2': floor division drops 1 input row at the bottom",
        "warning: layer 1 'conv:64,k=3,s=2': floor division drops 1 input column at the right",
        "Error: expected shape 64x112x112, got 64x111x111",
    ]
    assert cli("shape", "224", "-k", "3", "-p", "1", "--expect", "224").exit_code == 0
    batch = cli("shape", "8x3x32x32", "conv:8,k=3,p=1", "--expect", "8x32x32", "--format", "plain")
    assert batch.exit_code == 0


def test_target_lists_tf_same_and_pytorch_forms(cli):
    result = cli("shape", "224", "-k", "3", "-s", "2", "--target", "112")
    assert result.exit_code == 0
    lines = [line.split() for line in result.stdout.splitlines()]
    assert ["2", "0,1", "F.pad", "0", "before,", "1", "after,", "then", "padding=0",
            "padding='SAME'"] in lines  # fmt: skip
    assert ["2", "1,1", "padding=1", "tf.pad,", "then", "'VALID'"] in lines
    data = as_json(cli, "224", "-k", "7", "--target", "112")
    assert data["options"] == [
        {"axis": "h,w", "stride": 2, "padding": [2, 3], "output_padding": 0,
         "pytorch": "F.pad 2 before, 3 after, then padding=0", "tf_same": True},
        {"axis": "h,w", "stride": 2, "padding": [3, 3], "output_padding": 0,
         "pytorch": "padding=3", "tf_same": False},
    ]  # fmt: skip
    same = plain(cli, "8", "-k", "3", "-s", "1", "--target", "8")
    assert same == "stride 1 pad 1,1 (TF SAME)"
    deconv = as_json(cli, "16", "--op", "deconv", "-k", "3", "-s", "2", "--target", "32")
    assert [(o["padding"], o["output_padding"]) for o in deconv["options"]] == [([1, 1], 1)]
    rect = plain(cli, "224x160", "-k", "3", "-s", "2", "--target", "112x81")
    assert rect.splitlines()[0] == "h stride 2 pad 0,1 (TF SAME)"
    assert "w stride 2 pad 2,2" in rect


def test_target_without_answer(cli):
    result = cli("shape", "224", "-k", "3", "-s", "2", "--target", "150")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: no padding gives 150 from 224x224 with kernel 3, stride 2 (axis h,w)\n"
    )


# ---- errors: one line, the layer, the parameter, the value; exit 2 syntax, 1 geometry ----------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["3x8x8", "conv:4,k=3", "conv:8,k=9"],
            1,
            "layer 2 'conv:8,k=9': output size must be >= 1, got -2x-2 (input 6x6, effective "
            "kernel 9x9, stride 1x1, padding 0,0,0,0)",
        ),
        (
            ["3x8x8", "conv:4,k=3,g=2"],
            1,
            "layer 1 'conv:4,k=3,g=2': input channels 3 must be divisible by groups 2",
        ),
        (
            ["3x8x8", "-k", "3", "-c", "4", "-g", "3"],
            1,
            "layer 1 'conv:4,k=3,g=3': out channels 4 must be divisible by groups 3",
        ),
        (
            ["3x8x8", "maxpool:k=2,d=3,p=2"],
            1,
            "layer 1 'maxpool:k=2,d=3,p=2': padding must be at most kernel // 2 = 1 (PyTorch's "
            "rule, on the undilated kernel 2), got 2",
        ),
        (
            ["3x8x8", "deconv:4,k=3,s=2,op=2"],
            1,
            "layer 1 'deconv:4,k=3,s=2,op=2': output_padding must be smaller than max(stride, "
            "dilation) = 2, got 2",
        ),
        (
            ["3x8x8", "maxpool:k=2,s=1,d=3,p=same"],
            1,
            "layer 1 'maxpool:k=2,s=1,d=3,p=same': padding 'same' cannot be honoured: it needs 2 "
            "on one side, more than kernel // 2 = 1 (PyTorch's pooling rule)",
        ),
        (
            ["3x8x8", "deconv:k=1,s=3,p=same"],
            1,
            "layer 1 'deconv:k=1,s=3,p=same': padding 'same' cannot be honoured: an output of "
            "8 x 3 = 24 needs output_padding 2, got 0",
        ),
        (
            ["3x8x8", "conv:4,k=3,zz=1"],
            2,
            "layer 1 'conv:4,k=3,zz=1': unknown key 'zz' for conv "
            "(accepts k, s, p, d, g, bias, bn, act)",
        ),
        (
            ["3y8", "-k", "3"],
            2,
            "malformed size '3y8': expected H, HxW, CxHxW or NxCxHxW (e.g. 3x224x224)",
        ),
        (
            ["3x8x8", "conv:4,k=3", "conv:8,k=3,s=0"],
            2,
            "layer 2 'conv:8,k=3,s=0': stride must be >= 1, got 0",
        ),
        (
            ["3x8x8", "conv:4,k=3x"],
            2,
            "layer 1 'conv:4,k=3x': kernel must be N or HxW, got '3x'",
        ),
        (
            ["3x8x8", "pool2d:k=2"],
            2,
            "layer 1 'pool2d:k=2': unknown layer type 'pool2d'; expected one of conv, dwconv, "
            "pwconv, sepconv, deconv, maxpool, avgpool, " + KINDS_TAIL,
        ),
        (["3x8x8", "-k", "3", "-p", "1,2"], 2,
         "-p/--padding: padding must be N, HxW, top,bottom,left,right, valid or same, got '1,2'"),
        (["3x8x8", "-k", "3", "--ceil-mode"], 2, "--ceil-mode does not apply to --op conv"),
        (["3x8x8", "--op", "maxpool", "-k", "2", "-g", "2"], 2,
         "-g/--groups does not apply to --op maxpool"),
        (["3x8x8", "--op", "avgpool", "-k", "2", "-d", "2"], 2,
         "-d/--dilation does not apply to --op avgpool"),
        (["3x8x8", "-s", "2"], 2, "missing -k/--kernel: the kernel size of the conv (e.g. -k 3)"),
        (["3x8x8", "--op", "maxpool", "-k", "2", "-c", "64"], 2,
         "-c/--out-channels does not apply to --op maxpool: a pool keeps the input's channels"),
        (["3x8x8"], 2, "no layer: give -k K (with -s, -p, -c, ...), LAYER words such as "
         "conv:64,k=3,p=1, or --net FILE"),
        (["conv:8,k=3"], 2, "missing INPUT size (e.g. 3x224x224): give it first, or as 'input "
         "SIZE' in the net file"),
        (["3x8x8", "-k", "3", "conv:8,k=3"], 2, "give the layer either as options (-k, -s, -p, "
         "...) or as LAYER words / --net, not both"),
        (["3x8x8", "flatten", "conv:8,k=3"], 1, "layer 2 'conv:8,k=3': conv needs a spatial "
         "input (C x H x W), got 192 flat features"),
        (["3x8x8", "fc"], 2, "layer 1 'fc': fc needs its number of units (fc:UNITS)"),
        (["3x8x8", "--net", "/nonexistent/x.net"], 1, "net file not found: /nonexistent/x.net"),
        (["3x8x8", "-k", "3", "--target", "6x"], 2,
         "--target must be a size such as 112 or 112x56, got '6x'"),
        (["3x8x8", "-k", "3", "--expect", "6y6"], 2,
         "--expect must be a shape such as 64x56x56, got '6y6'"),
    ],
)  # fmt: skip
def test_errors(cli, args, code, message):
    result = cli("shape", *args)
    assert (result.exit_code, result.stderr) == (code, f"Error: {message}\n")
    if "--expect" not in args:
        assert result.stdout == ""


def test_usage_errors_from_typer_are_one_line_exit_2(cli):
    result = cli("shape", "8x8", "-k", "3", "--op", "blur")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert "blur" in result.stderr


def test_help_has_worked_examples(cli):
    result = cli("shape", "--help")
    assert result.exit_code == 0
    assert "convcli shape 3x12x12 -k 5 -c 256" in result.stdout
    assert "--target" in result.stdout and "--channels-last" in result.stdout


# ---- start-up ---------------------------------------------------------------------------------


def test_shape_path_imports_no_numpy_scipy_or_pillow():
    code = (
        "import sys\n"
        "sys.argv = ['convcli', 'shape', '224', '-k', '3', '-s', '2', '-p', '1']\n"
        "from convcli.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write('HEAVY:' + ','.join(m for m in ('numpy', 'scipy', 'PIL') "
        "if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ)
    )
    assert "112x112" in done.stdout
    assert done.stderr.rsplit("HEAVY:", 1)[-1] == ""


@pytest.mark.parametrize(
    ("words", "header"),
    [
        (("4x100", "conv1d:8,k=3,p=1"), "pads l,r"),
        (("3x32x32", "conv:8,k=3,p=1"), "pads t,b,l,r"),
        (("3x16x32x32", "conv3d:8,k=3,p=1"), "pads front,back,t,b,l,r"),
    ],
)
def test_the_pads_column_names_the_sides_it_holds(cli, words, header):
    result = cli("shape", *words)
    assert result.exit_code == 0, result.stderr
    assert f"  {header}  " in result.stdout.splitlines()[1]
