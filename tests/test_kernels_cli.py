"""``convcli kernels``: the catalogue, one kernel in every format, and its errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convcli.kernels import catalogue

SAMPLES = Path(__file__).parent.parent / "samples"


def one_error_line(result, code: int) -> str:
    """The single ``Error:`` line of a failed run, after checking the exit code."""
    assert result.exit_code == code
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: ")
    return result.stderr.rstrip("\n")


# ---- the catalogue ---------------------------------------------------------------------------


def test_catalogue_table_lists_every_name(cli):
    result = cli("kernels")
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "Named kernels and pooling steps (-k STEP)" in result.stdout
    for info in catalogue():
        assert f" {info.name} " in result.stdout
    assert "Sobel x derivative, positive where brightness rises to the right" in result.stdout


def test_catalogue_plain(cli):
    result = cli("kernels", "--format", "plain")
    lines = result.stdout.splitlines()
    assert len(lines) == len(catalogue())
    assert lines[1].split()[:2] == ["sobel-x", "3x3"]
    assert lines[-1].split()[:2] == ["median", "KxK"]
    assert "\x1b" not in result.stdout


def test_catalogue_json_and_csv(cli):
    data = json.loads(cli("kernels", "--format", "json").stdout)
    assert data[0] == {
        "name": "sobel",
        "kind": "magnitude",
        "size": "3x3",
        "arguments": "s=, p=, d=, border=",
        "description": "Sobel gradient magnitude sqrt(gx^2 + gy^2)",
    }
    assert [row["name"] for row in data] == [info.name for info in catalogue()]
    rows = list(csv.reader(io.StringIO(cli("kernels", "--format", "csv").stdout)))
    assert rows[0] == ["name", "kind", "size", "arguments", "description"]
    assert rows[-1][:3] == ["median", "pool", "KxK"]


# ---- one kernel ------------------------------------------------------------------------------


def test_sobel_x_table(cli):
    result = cli("kernels", "sobel-x")
    assert result.exit_code == 0
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0].startswith("sobel-x  Sobel x derivative")
    assert "│ -1 │ 0 │ 1 │" in lines
    assert "│ -2 │ 0 │ 2 │" in lines
    assert "sum        0" in lines
    assert "separable  yes: [1,2,1]^T x [-1,0,1]" in lines
    assert "zero sum   yes (--map auto uses abs)" in lines


def test_sobel_x_plain_is_a_kernel_file(cli, tmp_path):
    result = cli("kernels", "sobel-x", "--format", "plain")
    assert result.stdout == (
        "# sobel-x: Sobel x derivative, positive where brightness rises to the right: "
        "[1,2,1]^T x [-1,0,1]\n"
        "# shape: 3x3\n"
        "# sum: 0\n"
        "# rank: 1\n"
        "# separable: yes: [1,2,1]^T x [-1,0,1]\n"
        "# zero sum: yes (--map auto uses abs)\n"
        "-1  0  1\n"
        "-2  0  2\n"
        "-1  0  1\n"
    )
    saved = tmp_path / "k.txt"
    saved.write_text(result.stdout)
    again = cli("kernels", f"@{saved}", "--format", "json")
    assert json.loads(again.stdout)["matrix"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]


def test_sobel_x_json(cli):
    data = json.loads(cli("kernels", "sobel-x", "--format", "json").stdout)
    assert data == {
        "step": "sobel-x",
        "kind": "kernel",
        "name": "sobel-x",
        "description": "Sobel x derivative, positive where brightness rises to the right: "
        "[1,2,1]^T x [-1,0,1]",
        "zero_sum": True,
        "stride": None,
        "padding": None,
        "dilation": None,
        "border": None,
        "shape": [3, 3],
        "matrix": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
        "sum": 0,
        "integer": True,
        "rank": 1,
        "separable": True,
        "factors": {"column": [1, 2, 1], "row": [-1, 0, 1]},
    }


def test_not_separable_and_float_kernel(cli):
    laplacian = cli("kernels", "laplacian", "--format", "plain").stdout
    assert "# separable: no\n" in laplacian
    assert "# rank: 2\n" in laplacian
    assert laplacian.endswith(" 0 -1  0\n-1  4 -1\n 0 -1  0\n")
    box = cli("kernels", "box:2", "--format", "plain").stdout
    assert "# separable: yes: [0.5,0.5]^T x [0.5,0.5]\n" in box
    assert box.endswith("0.25 0.25\n0.25 0.25\n")
    gaussian = json.loads(cli("kernels", "gaussian:1", "--format", "json").stdout)
    assert gaussian["shape"] == [7, 7]
    assert gaussian["integer"] is False
    assert gaussian["sum"] == pytest.approx(1.0)
    np.testing.assert_allclose(gaussian["factors"]["column"], gaussian["factors"]["row"])


def test_magnitude_json_and_plain(cli):
    data = json.loads(cli("kernels", "sobel", "--format", "json").stdout)
    assert data["kind"] == "magnitude"
    assert data["formula"] == "sqrt(corr(x, gx)^2 + corr(x, gy)^2)"
    assert [c["label"] for c in data["components"]] == ["gx", "gy"]
    assert data["components"][1]["matrix"] == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    assert data["components"][1]["factors"] == {"column": [-1, 0, 1], "row": [1, 2, 1]}
    assert "matrix" not in data
    table = cli("kernels", "roberts").stdout  # piped: the table, with both kernels
    assert "gx" in table and "gy" in table


def test_pool_step(cli):
    result = cli("kernels", "maxpool:3,s=1,p=1", "--format", "plain")
    assert result.stdout == (
        "# maxpool:3,s=1,p=1: Max pooling (PyTorch MaxPool2d)\n"
        "# op: max\n"
        "# window: 3x3\n"
        "# stride: 1x1\n"
        "# padding: 1x1\n"
        "# ceil mode: no\n"
    )
    data = json.loads(cli("kernels", "median:5", "--format", "json").stdout)
    assert data == {
        "step": "median:5",
        "kind": "pool",
        "name": "median",
        "description": "Median filter over a KxK window",
        "zero_sum": False,
        "op": "median",
        "kernel_size": [5, 5],
        "stride": [1, 1],
        "padding": [0, 0],
        "ceil_mode": False,
    }


def test_inline_and_file_steps(cli):
    result = cli("kernels", "3x3: -1,0,1 -2,0,2 -1,0,1", "--format", "json")
    assert json.loads(result.stdout)["factors"] == {"column": [1, 2, 1], "row": [-1, 0, 1]}
    assert json.loads(result.stdout)["description"] == "inline kernel"
    minus = cli("kernels", "--format", "plain", "--", "-1 0 1; -2 0 2; -1 0 1")
    assert minus.exit_code == 0
    assert minus.stdout.endswith("-1  0  1\n-2  0  2\n-1  0  1\n")
    three_d = cli("kernels", "0 1; 2 3 | 1 2; 3 4", "--format", "plain")
    assert three_d.stdout == (
        "# 0 1; 2 3 | 1 2; 3 4: inline kernel\n"
        "# shape: 2x2x2\n"
        "# sum: 16\n"
        "# separable: n/a (not a 2-D kernel)\n"
        "# zero sum: no\n"
        "# input channel 1\n"
        "0 1\n"
        "2 3\n"
        "\n"
        "# input channel 2\n"
        "1 2\n"
        "3 4\n"
    )
    sample = cli("kernels", f"@{SAMPLES / 'kernels' / 'sobel_x.txt'}", "--format", "json")
    assert json.loads(sample.stdout)["matrix"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    layer = cli("kernels", str(SAMPLES / "kernels" / "edges_rgb.npy"), "--format", "json")
    assert json.loads(layer.stdout)["shape"] == [2, 3, 3, 3]


def test_step_overrides_are_shown(cli):
    data = json.loads(cli("kernels", "sobel-x:s=2,p=same,border=zeros", "--format", "json").stdout)
    assert (data["stride"], data["padding"], data["border"]) == ([2, 2], "same", "zeros")
    plain = cli("kernels", "box:3,p=1,d=2", "--format", "plain").stdout
    assert "# padding: 1x1\n# dilation: 2x2\n" in plain
    uneven = cli("kernels", "diff-x:p=0,0,0,1", "--format", "plain").stdout
    assert "# padding: 0,0,0,1 (top,bottom,left,right)\n" in uneven
    assert json.loads(cli("kernels", "diff-x:p=0,0,0,1", "--format", "json").stdout)["padding"] == [
        0,
        0,
        0,
        1,
    ]


def test_convolve_and_normalize(cli):
    flipped = json.loads(cli("kernels", "sobel-x", "--convolve", "--format", "json").stdout)
    assert flipped["matrix"] == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]
    normalized = cli("kernels", "1 2 1", "--normalize", "--format", "plain").stdout
    assert normalized.endswith("0.25  0.5 0.25\n")


def test_csv_matrix(cli):
    assert cli("kernels", "diff-y", "--format", "csv").stdout == "1\n-1\n"
    assert cli("kernels", "box:2", "--format", "csv").stdout == "0.25,0.25\n0.25,0.25\n"


# ---- errors: one line each ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ["sobelx"],
            2,
            "unknown kernel 'sobelx' (did you mean 'sobel-x' or 'sobel' or 'sobel-y'?)",
        ),
        (["gausian:1"], 2, "unknown kernel 'gausian' (did you mean 'gaussian'?)"),
        (
            ["1 2 3; 4 5"],
            2,
            "kernel '1 2 3; 4 5': ragged matrix: row 2 has 2 values, row 1 has 3 values",
        ),
        (["1 x 3"], 2, "kernel '1 x 3': 'x' is not a number"),
        (
            ["1 2 || 3 4 | 5 6"],
            2,
            "kernel '1 2 || 3 4 | 5 6': output 2 is 2x1x2, output 1 is 1x1x2 (every filter "
            "must have the same shape)",
        ),
        (["1 2 |||| 3 4"], 2, "kernel '1 2 |||| 3 4': no values in output 2"),
        (
            ["1 2 | 3 4 || 5 6 | 7"],
            2,
            "kernel '1 2 | 3 4 || 5 6 | 7': output 2, channel 2 is 1x1, output 2, channel 1 "
            "is 1x2 (every channel must have the same shape)",
        ),
        (["1 2 || 3 x"], 2, "kernel '1 2 || 3 x': 'x' is not a number"),
        (["[[1, 2], [3]]"], 2, "kernel '[[1, 2], [3]]': ragged matrix (rows of different lengths)"),
        (["gaussian:-1"], 2, "kernel 'gaussian:-1': sigma must be > 0, got '-1'"),
        (["@missing.txt"], 1, "kernel file 'missing.txt': not found"),
        (
            ["sobel-x", "--normalize"],
            1,
            "--normalize: kernel 'sobel-x' sums to 0, cannot divide by it",
        ),
        (
            ["sobel", "--format", "csv"],
            2,
            "--format csv writes one 2-D matrix; 'sobel' is a magnitude of two kernels "
            "(use --format json)",
        ),
        (
            ["sobel", "--format", "plain"],
            2,
            "--format plain writes one kernel, as -k @FILE reads it back; 'sobel' is a "
            "magnitude of two kernels, which no kernel file holds (use --format json)",
        ),
        (
            ["kirsch", "--format", "plain"],
            2,
            "--format plain writes one kernel, as -k @FILE reads it back; 'kirsch' is the "
            "maximum of 8 kernels, which no kernel file holds (use --format json)",
        ),
        (
            ["unsharp:1,threshold=5", "--format", "plain"],
            2,
            "--format plain writes one kernel, as -k @FILE reads it back; "
            "'unsharp:1,threshold=5' is a kernel with a threshold= gate, which no kernel file "
            "holds (use --format json)",
        ),
        (
            ["unsharp:1,threshold=5", "--format", "csv"],
            2,
            "--format csv writes one 2-D matrix; 'unsharp:1,threshold=5' is a kernel with a "
            "threshold= gate (use --format json)",
        ),
        (
            ["maxpool:2", "--convolve"],
            2,
            "--convolve and --normalize apply to kernels; 'maxpool:2' is a pool",
        ),
        (["--normalize"], 2, "--convolve and --normalize need a STEP"),
    ],
)
def test_errors_are_one_line(cli, args, code, message):
    assert one_error_line(cli("kernels", *args), code) == f"Error: {message}"


def test_help_has_an_example_and_stays_light():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from convcli.cli import app\n"
        "result = CliRunner().invoke(app, ['kernels', '--help'])\n"
        "print('convcli kernels sobel-x' in result.stdout, 'numpy' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.split() == ["True", "False"], completed.stderr


@pytest.mark.parametrize("kernel", ["box:3", "log:1", "gaussian:1.3"])
def test_plain_kernels_read_back_as_the_same_taps(cli, tmp_path, kernel):
    from convcli.kernels import parse_step

    text = cli("kernels", kernel, "--format", "plain").stdout
    (tmp_path / "k.txt").write_text(text)
    np.testing.assert_array_equal(
        parse_step(f"@{tmp_path / 'k.txt'}").weight, parse_step(kernel).weight
    )


@pytest.mark.parametrize("shape", [(2, 3, 2, 2), (1, 3, 2, 2), (4, 1, 3, 3), (1, 1, 1, 2)])
def test_plain_text_of_a_4d_kernel_reads_back_4d(cli, tmp_path, shape):
    """Blank lines alone read 2x3x2x2 back as 6x2x2 (one filter summing 6 channels): a
    ``||`` line closes each output filter, the last too, so one filter stays 4-D."""
    from convcli.kernels import parse_step

    weight = np.random.default_rng(3).normal(size=shape)
    np.save(tmp_path / "k.npy", weight)
    text = cli("kernels", tmp_path / "k.npy", "--format", "plain").stdout
    assert text.count("||\n") == shape[0] and text.endswith("||\n")
    (tmp_path / "k.txt").write_text(text)
    np.testing.assert_array_equal(parse_step(f"@{tmp_path / 'k.txt'}").weight, weight)


def test_a_4d_kernel_from_plain_text_is_the_same_conv_layer(cli, tmp_path):
    weight = np.arange(2 * 3 * 2 * 2).reshape(2, 3, 2, 2) / 8 - 1
    np.save(tmp_path / "k.npy", weight)
    (tmp_path / "k.txt").write_text(cli("kernels", tmp_path / "k.npy", "--format", "plain").stdout)
    matrix = "0 1 2; 3 4 5; 6 7 8 | 1 0 1; 0 1 0; 1 0 1 | 2 2 2; 0 0 0; 1 1 1"
    runs = [
        cli("apply", "--matrix", matrix, "-k", kernel, "--bias", "0.5,-1", "--format", "json")
        for kernel in (str(tmp_path / "k.npy"), f"@{tmp_path / 'k.txt'}")
    ]
    assert [(run.exit_code, run.stderr) for run in runs] == [(0, ""), (0, "")]
    from_npy, from_text = (json.loads(run.stdout) for run in runs)
    assert from_text == from_npy
    assert from_text["shape"] == [2, 2, 2]  # two output channels, each with its bias


def test_output_filters_split_by_two_bars_inline_and_in_files(cli, tmp_path):
    from convcli.kernels import parse_step

    inline = parse_step("1 0; 0 1 | 2 0; 0 2 || 0 1; 1 0 | 0 2; 2 0").weight
    assert inline.shape == (2, 2, 2, 2)
    assert inline[1, 1].tolist() == [[0, 2], [2, 0]]
    assert parse_step("1 2; 3 4 ||").weight.shape == (1, 1, 2, 2)  # closed: one filter, 4-D
    assert parse_step("1 2; 3 4 | 5 6; 7 8").weight.shape == (2, 2, 2)  # no ||: 3-D as before
    (tmp_path / "k.txt").write_text("1 2\n3 4\n\n5 6\n7 8\n||\n\n0 1\n1 0\n\n1 1\n0 0\n||\n")
    assert parse_step(f"@{tmp_path / 'k.txt'}").weight.shape == (2, 2, 2, 2)
    matrix = cli("apply", "--matrix", "1 2 || 3 4", "-k", "1")  # an input has no filters
    assert (matrix.exit_code, matrix.stderr) == (
        2,
        "Error: --matrix: a matrix has 2 or 3 dimensions (C,H,W), got (2, 1, 1, 2)\n",
    )


def test_plain_text_that_would_read_back_as_another_filter_is_not_written(cli):
    """A magnitude's two kernels (or kirsch's eight) read back from plain text as one 3-D
    kernel summing channels, a note said so and the file was written: refused as CSV is."""
    magnitude = cli("kernels", "sobel", "--format", "plain")
    assert (magnitude.exit_code, magnitude.stdout) == (2, "")
    assert "'sobel' is a magnitude of two kernels, which no kernel file holds" in (magnitude.stderr)
    assert cli("kernels", "sobel").stderr == ""  # a table is not read back
    one = cli("kernels", "kirsch:n", "--format", "plain")  # one direction is one kernel
    assert (one.exit_code, one.stderr) == (0, "")
    assert one.stdout.endswith(" 5  5  5\n-3  0 -3\n-3 -3 -3\n")
    linear = cli("kernels", "unsharp:1", "--format", "plain")  # no gate: linear
    assert (linear.exit_code, linear.stderr) == (0, "")
    zero = cli("kernels", "log:0.01")
    assert zero.stderr == (
        "warning: step 1 'log:0.01': every tap of the kernel is 0: the output is constant\n"
    )
