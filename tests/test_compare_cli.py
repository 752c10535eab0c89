"""``convcli compare`` as users run it: numbers, formats and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import SAMPLES


def _json(cli, *args):
    result = cli("compare", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("size", [("3x12x12",), ("12x12x3", "--channels-last")], ids=["CHW", "HWC"])
def test_seed_example(cli, size):
    data = _json(cli, *size, "-k", "5", "-c", "256", "--no-bias")
    assert data["standard"]["macs"] == 1_228_800
    assert data["depthwise"]["macs"] == 4_800
    assert data["pointwise"]["macs"] == 49_152
    assert data["separable"]["macs"] == 53_952
    assert data["separable"]["flops"] == 107_904
    assert data["standard"]["output"] == [256, 8, 8]
    assert data["ratio"]["macs"] == pytest.approx(53_952 / 1_228_800)
    assert data["ratio"]["closed_form"] == pytest.approx(1 / 256 + 1 / 25)


def test_seed_example_table(cli):
    result = cli("compare", "3x12x12", "-k", "5", "-c", "256", "--no-bias")
    assert result.exit_code == 0
    for text in ("1,228,800", "4,800", "49,152", "53,952", "256 x 5x5x3", "3 x 5x5x1"):
        assert text in result.stdout
    assert "closed form 1/C_out + 1/k^2 = 1/256 + 1/25 = 0.04391" in result.stdout
    assert "Parameters include bias." in result.stdout


def test_mobilenet_table_3_layer(cli):
    data = _json(cli, "512x14x14", "-k", "3", "-c", "512", "-p", "1", "--no-bias")
    assert (data["standard"]["macs"], data["standard"]["params"]) == (462_422_016, 2_359_296)
    assert (data["separable"]["macs"], data["separable"]["params"]) == (52_283_392, 266_752)


def test_plain_and_csv(cli):
    plain = cli("compare", "3x12x12", "-k", "5", "-c", "256", "--no-bias", "--format", "plain")
    assert plain.stdout.splitlines()[3].startswith("separable  params            843  MACs")
    csv = cli("compare", "3x12x12", "-k", "5", "-c", "256", "--no-bias", "--format", "csv")
    lines = csv.stdout.splitlines()
    assert lines[0] == "form,params,macs,flops,output,params_ratio,macs_ratio"
    assert lines[4] == "separable,843,53952,107904,256x8x8,0.04390625,0.04390625"


def test_channels_last_prints_shapes_channels_last(cli):
    args = ("12x12x3", "--channels-last", "-k", "5", "-c", "256", "--no-bias")
    csv = cli("compare", *args, "--format", "csv").stdout.splitlines()
    assert csv[2] == "depthwise,75,4800,9600,8x8x3,0.00390625,0.00390625"
    # JSON keeps PyTorch's order, as `convcli shape` does
    assert _json(cli, *args)["depthwise"]["output"] == [3, 8, 8]


def test_kernel_matrix_sobel(cli):
    data = _json(cli, "3x64x64", "-c", "32", "--kernel-matrix", "sobel-x")
    (kernel,) = data["kernel"]
    assert kernel["rank"] == 1
    assert kernel["factors"] == {"column": [1, 2, 1], "row": [-1, 0, 1]}
    assert kernel["ratio"]["params"] == pytest.approx(6 / 9)
    assert data["standard"]["params"] == 32 * 27 + 32  # -k taken from the matrix


def test_kernel_matrix_alone_and_not_separable(cli):
    result = cli("compare", "1x8x8", "--kernel-matrix", "laplacian", "--format", "plain")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].startswith("kernel laplacian: 3x3, SVD rank 2")
    data = _json(cli, "1x8x8", "-c", "4", "--kernel-matrix", "laplacian")
    assert data["spatial"] is None


def test_bench_reports_timings(cli):
    data = _json(cli, "4x10x10", "-k", "3", "-c", "8", "--bench", "--repeat", "1")
    bench = data["bench"]
    assert (bench["repeat"], bench["algorithm"]) == (1, "auto")
    assert bench["standard_seconds"] > 0 and bench["separable_seconds"] > 0
    assert bench["theoretical_speedup"] == pytest.approx(
        data["standard"]["macs"] / data["separable"]["macs"]
    )


def test_bench_with_a_chosen_engine(cli):
    args = ("2x9x9", "-k", "3", "-c", "4", "-s", "2", "-p", "same", "--bench", "--repeat", "2")
    data = _json(cli, *args, "--algorithm", "gemm")
    assert data["bench"]["algorithm"] == "gemm"
    plain = cli("compare", *args, "--format", "plain").stdout
    assert "bench (NumPy core, algorithm auto, float32, median of 2 after a warm-up)" in plain


def test_preset_mobilenet(cli):
    data = _json(cli, "--preset", "mobilenet_v1")
    assert data["input"] == [3, 224, 224]
    assert (data["separable"]["macs"], data["separable"]["params"]) == (568_740_352, 4_210_088)
    assert (data["standard"]["macs"], data["standard"]["params"]) == (4_867_293_184, 29_282_120)
    assert {"standard", "separable", "ratio", "layers", "by_kind"} <= set(data)
    kinds = {entry["kind"]: entry for entry in data["by_kind"]}
    assert round(100 * kinds["conv_1x1"]["macs_share"], 2) == 94.86


def test_preset_mobilenet_table_and_bars(cli):
    result = cli("compare", "--preset", "mobilenet_v1")
    assert result.exit_code == 0
    assert "4,867,293,184" in result.stdout and "568,740,352" in result.stdout
    assert "conv:1024,k=3,s=1,p=1,bias=false" in result.stdout
    assert "94.86%" in result.stdout and "█" in result.stdout


def test_net_file_is_the_preset(cli):
    from_file = _json(cli, "--net", SAMPLES / "mobilenet_v1.net")
    from_preset = _json(cli, "--preset", "mobilenet_v1")
    assert from_file["standard"] == from_preset["standard"]
    assert from_file["separable"] == from_preset["separable"]
    assert from_file["layers"] == from_preset["layers"]


@pytest.mark.parametrize(
    ("options", "macs", "params"),
    [
        (("--width-mult", "0.75"), 325_400_448, 2_569_144),
        (("--width-mult", "0.5"), 149_497_088, 1_320_648),
        (("--width-mult", "0.25"), 41_030_272, 464_600),
        (("--resolution", "192"), 418_121_728, 4_210_088),
        (("--resolution", "160"), 290_675_200, 4_210_088),
        (("--resolution", "128"), 186_400_768, 4_210_088),
    ],
)
def test_width_and_resolution(cli, options, macs, params):
    data = _json(cli, "--preset", "mobilenet_v1", *options)
    assert (data["separable"]["macs"], data["separable"]["params"]) == (macs, params)


def test_input_overrides_the_preset_input(cli):
    data = _json(cli, "3x160x160", "--preset", "mobilenet_v1")
    assert data["separable"]["macs"] == 290_675_200


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ("3x12x12", "-k", "3x3x3", "-c", "4"),
            "-k/--kernel must be N or HxW, got '3x3x3'",
            2,
        ),
        (
            ("3x12x12", "-c", "4", "--kernel-matrix", "1 2; 3 4 | 5 6; 7 8"),
            "--kernel-matrix needs a 2-D kernel (kh x kw), got '1 2; 3 4 | 5 6; 7 8' of shape "
            "2x2x2",
            2,
        ),
        (
            ("3x12x12", "-k", "3", "-c", "4", "--depth-multiplier", "0"),
            "--depth-multiplier must be >= 1, got 0",
            2,
        ),
        (
            ("--preset", "resnet51"),
            "unknown preset 'resnet51'; known presets: alexnet, densenet121, efficientnet_b0, "
            "lenet5, mobilenet_v1, mobilenet_v2, r3d_18, resnet18, resnet50, unet, vgg16, "
            "vgg16_bn, vit_b_16",
            2,
        ),
        (
            ("3x12x12", "-k", "5", "-c", "4", "--kernel-matrix", "sobel-x"),
            "-k/--kernel 5x5 disagrees with the --kernel-matrix shape 3x3",
            2,
        ),
        (("3x12x12", "-k", "3"), "missing -c/--out-channels (C_out of the layer to compare)", 2),
        (("-k", "3", "-c", "4"), "missing INPUT (e.g. 3x224x224), or give --preset/--net", 2),
        (
            ("--preset", "vgg16", "--width-mult", "0.5"),
            "--width-mult applies only to mobilenet_v1, not to preset 'vgg16'",
            2,
        ),
        (
            ("--preset", "vgg16", "-c", "8"),
            "-c/--out-channels describes one layer; it cannot be used with --preset/--net",
            2,
        ),
        (("3x4x4", "-k", "7", "-c", "8"), "layer 1 'conv:8,k=7': output size must be >= 1", 1),
    ],
)
def test_errors(cli, args, message, code):
    result = cli("compare", *args)
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {message}")
    assert result.stderr.count("\n") == 1


def test_channels_that_do_not_divide(cli, tmp_path):
    net = tmp_path / "bad.net"
    net.write_text("input 64x8x8\ndwconv:100,k=3\n")
    result = cli("compare", "--net", net)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: layer 1 'dwconv:100,k=3' (bad.net:2): dwconv out channels must be a multiple "
        "of the input's 64, got 100\n"
    )


def test_net_file_without_input_needs_one(cli, tmp_path):
    net = tmp_path / "plain.net"
    net.write_text("conv:8,k=3\n")
    result = cli("compare", "--net", net)
    assert result.exit_code == 2
    assert result.stderr == f"Error: missing INPUT: the net file {net} has no 'input SIZE' line\n"
    assert _json(cli, "3x8x8", "--net", net)["separable"]["params"] == 8 * 27 + 8


def test_help_has_examples(cli):
    result = cli("compare", "--help")
    assert result.exit_code == 0
    assert "convcli compare 3x12x12 -k 5 -c 256 --no-bias" in result.stdout


def test_arithmetic_and_help_do_not_import_numpy():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from convcli.cli import app\n"
        "runner = CliRunner()\n"
        "for args in (['compare', '--help'], ['compare', '--preset', 'mobilenet_v1'],\n"
        "             ['compare', '3x12x12', '-k', '5', '-c', '256', '--format', 'json']):\n"
        "    assert runner.invoke(app, args).exit_code == 0, args\n"
        "heavy = [m for m in ('numpy', 'scipy', 'PIL') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bench_too_large_is_refused_from_its_sizes_before_allocating(cli):
    result = cli("compare", "3x100000x100000", "-k", "3", "-c", "8", "--bench")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "Error: --bench on 3x100000x100000: about 1043.0 GiB of arrays, more than --bench's "
        "5.3 GiB: time a smaller INPUT\n"
    )


def timed_runs(monkeypatch) -> list[int]:
    """The --repeat counts --bench times with (nothing is timed: the median is 1 s)."""
    counts: list[int] = []
    monkeypatch.setattr("convcli.compare._median_seconds", lambda run, n: counts.append(n) or 1.0)
    return counts


@pytest.mark.parametrize("repeat", ["0", "1001", "1000000000"])
def test_bench_repeat_out_of_range_is_refused_before_any_run(cli, monkeypatch, repeat):
    """Found: --repeat had no upper bound, so a huge count timed the layer for ever."""
    counts = timed_runs(monkeypatch)
    result = cli("compare", "4x10x10", "-k", "3", "-c", "8", "--bench", "--repeat", repeat)
    assert (result.exit_code, result.stdout, counts) == (2, "", [])
    assert result.stderr == f"Error: --repeat must be from 1 to 1000, got {repeat}\n"


def test_bench_repeat_at_its_bound_is_taken(cli, monkeypatch):
    counts = timed_runs(monkeypatch)
    data = _json(cli, "4x10x10", "-k", "3", "-c", "8", "--bench", "--repeat", "1000")
    assert (data["bench"]["repeat"], counts) == (1000, [1000, 1000])


def test_bench_options_without_bench_are_refused(cli):
    result = cli("compare", "8x64x64", "-k", "3", "-c", "8", "--repeat", "9")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --repeat is for --bench (it would be ignored without it)\n",
    )


def test_a_one_dimensional_kernel_is_not_split_at_double_the_cost(cli):
    result = cli("compare", "3x8x8", "--kernel-matrix", "1 2 1")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "kernel 1 2 1: 1x3, SVD rank 1 (singular values 2.449)",
        "  already one-dimensional (1x3): nothing to split; direct 432 MACs (output 3x8x6)",
    ]


def test_the_spatial_form_counts_its_kernels_with_thousands_separators(cli):
    result = cli("compare", "512x14x14", "-k", "3", "-c", "512", "--kernel-matrix", "sobel-x")
    assert result.exit_code == 0, result.stderr
    assert "262,144 x (3x1 + 1x3)" in result.stdout
