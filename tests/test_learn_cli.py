"""``convcli learn`` end to end: targets made by the real ``convcli apply``, then recovered."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.kernels import parse_step

SAMPLES = Path(__file__).parent.parent / "samples"

SEED_INPUT = "; ".join(["1 1 0 0 0 0 1 1"] * 6)
SEED_TARGET = "; ".join(["0 1 0 0 0 -1 0"] * 6)


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    """A 96x96 RGB crop of a real photograph (Chelsea the cat), small enough to be fast."""
    folder = tmp_path_factory.mktemp("learn")
    path = folder / "cat.png"
    with Image.open(SAMPLES / "chelsea.png") as image:
        image.convert("RGB").crop((150, 100, 246, 196)).save(path)
    return path


@pytest.fixture
def seed_files(tmp_path) -> tuple[Path, Path]:
    x = np.ones((6, 8))
    x[:, 2:6] = 0
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "y.npy", x[:, :-1] - x[:, 1:])
    return tmp_path / "x.npy", tmp_path / "y.npy"


def learn_json(cli, *args) -> dict:
    result = cli("learn", *args, "--format", "json")
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def make_target(cli, photo: Path, step: str, output: Path, *options: str) -> Path:
    result = cli("apply", photo, "-k", step, "-o", output, *options)
    assert result.exit_code == 0, result.stderr
    return output


# ------------------------------------------------------------------ the seed's example


def test_seed_example_least_squares(cli, seed_files):
    report = learn_json(cli, *seed_files, "--size", "1x2")
    np.testing.assert_allclose(report["kernel_full"], [[1, -1]], atol=1e-6)
    assert report["kernel"] == [[1.0, -1.0]]
    assert report["padding"] == [0, 0, 0, 0]
    assert report["fits"] is True and report["bias"] is None
    assert report["conditioning"]["rank"] == 2
    assert report["conditioning"]["verdict"] == "well-conditioned"
    assert report["pixels"] == {"fitted": 42, "excluded": 0, "excluded_reason": None}


def test_seed_example_inline_matrices_and_size_search(cli):
    result = cli("learn", SEED_INPUT, SEED_TARGET, "--format", "plain")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    # The kernel rows (right-aligned) close the plain report: it is a kernel file.
    assert lines[-1] == " 1 -1"
    assert "# kernel: 1x2, cross-correlation orientation" in lines
    assert "# padding: 0,0,0,0 (valid)" in lines
    assert "# size search: 1x1 sizes do not match, 1x2 fits" in lines
    assert "# conditioning: condition number 2.236 (well-conditioned), rank 2 of 2" in lines


def test_seed_example_gradient_descent(cli, seed_files):
    result = cli(
        "learn", *seed_files, "--size", "1x2", "--method", "gd",
        "--epochs", "10", "--lr", "0.03", "--seed", "0", "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    losses = [item["loss"] for item in report["losses"]]
    assert [item["epoch"] for item in report["losses"]] == list(range(11))
    assert losses[-1] < losses[0]
    np.testing.assert_allclose(report["kernel_full"], [[1, -1]], atol=0.03)
    assert report["method"] == "gd" and report["standard_error"] is None
    # Loss lines on stderr: the start, every 2 epochs of 10, as the seed prints them.
    *loss_lines, stopped = result.stderr.splitlines()
    assert stopped.startswith("note: gradient descent stopped above the tolerance")
    assert [line.split(",")[0] for line in loss_lines] == [
        f"epoch {epoch:>2}/10" for epoch in (0, 2, 4, 6, 8, 10)
    ]
    assert loss_lines[0] == f"epoch  0/10, loss {losses[0]:.6g}"
    quiet = cli(
        "learn", *seed_files, "-k", "1x2", "--method", "gd", "-q", "--format", "json"
    )  # fmt: skip
    assert quiet.stderr == "" and json.loads(quiet.stdout)["losses"] == report["losses"]


def test_gradient_descent_plain_report_says_it_did_not_converge(cli, seed_files):
    result = cli("learn", *seed_files, "--size", "1x2", "--method", "gd", "-q")
    assert result.exit_code == 0
    assert "(not converged: more epochs, or --method lstsq)" in result.stdout
    assert "# method: gradient descent, 10 epochs: loss (mean squared error) " in result.stdout


# ------------------------------------------------------------------ a real photograph


@pytest.mark.parametrize("step", ["sobel-x", "gaussian:1", "sharpen"])
def test_photo_float_targets_recovered_within_1e_3(cli, photo, tmp_path, step):
    target = make_target(cli, photo, step, tmp_path / "target.npy")
    report = learn_json(cli, photo, target)  # size searched, padding inferred ('same')
    truth = parse_step(step).weight
    assert report["kernel_size"] == list(truth.shape)
    assert np.abs(np.array(report["kernel_full"]) - truth).max() < 1e-3
    assert report["border"] == "reflect" and report["fits"] is True
    assert report["residual"]["units"] == "TARGET's units"


@pytest.mark.parametrize(
    ("step", "mapping", "size"),
    [("gaussian:1", "clip", "7"), ("sharpen", "clip", "3"), ("sobel-x", "offset", "3")],
)
def test_photo_8bit_targets_recovered_within_small_tolerance(
    cli, photo, tmp_path, step, mapping, size
):
    target = make_target(cli, photo, step, tmp_path / "target.png", "--map", mapping)
    result = cli("learn", photo, target, "--size", size, "--map", mapping, "--format", "json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    truth = parse_step(step).weight
    assert np.abs(np.array(report["kernel_full"]) - truth).max() < 0.01
    residual = report["residual"]
    assert residual["units"] == "8-bit levels" and residual["tolerance"] == 1.0
    assert residual["rmse"] <= 0.5 and residual["max_error"] < 1.0  # rounding to levels
    assert report["map"] == mapping
    assert report["pixels"]["excluded_reason"] in (None, "saturated at 0 or 255")
    plain = cli("learn", photo, target, "--size", size, "--map", mapping, "--format", "plain")
    assert f"# residual: RMSE {residual['rmse']:.4g}, max error " in plain.stdout


def test_offset_target_without_map_offset_needs_a_bias(cli, photo, tmp_path):
    target = make_target(cli, photo, "sobel-x", tmp_path / "gx.png", "--map", "offset")
    report = learn_json(cli, photo, target, "--size", "3", "--bias")
    # apply adds 127.5 and rounds: integer responses land on half levels, which float32
    # noise tips one way or the other, so the bias seen is 127.5 give or take half a level.
    assert report["bias"] == pytest.approx(127.5, abs=0.51)
    truth = parse_step("sobel-x").weight
    assert np.abs(np.array(report["kernel_full"]) - truth).max() < 0.01


def test_abs_mapped_edges_are_refused_with_a_hint(cli, photo, tmp_path):
    target = make_target(cli, photo, "sobel-x", tmp_path / "gx.png")  # auto: abs
    result = cli("learn", photo, target, "--size", "3")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: no linear 3x3 kernel fits: the best leaves RMSE ")
    assert result.stderr.rstrip().endswith(
        "if TARGET came from `apply` with --map abs (its default for edge kernels such as "
        "sobel-x) the sign is lost: write .npy, or use --map offset in apply and here"
    )


def test_median_target_is_no_linear_kernel(cli, photo, tmp_path):
    target = make_target(cli, photo, "median:3", tmp_path / "median.npy")
    result = cli("learn", photo, target, "--size", "3")
    assert result.exit_code == 1 and result.stdout == ""
    message = result.stderr
    assert message.startswith("Error: no linear 3x3 kernel fits: the best leaves RMSE ")
    assert "over 27,648 pixels; TARGET is not a linear filter of INPUT" in message
    rmse = float(message.split("RMSE ")[1].split(" ")[0])
    assert rmse > 1  # far from a fit, and said with the number
    shown = cli("learn", photo, target, "--size", "3", "--allow-misfit", "--format", "json")
    assert shown.exit_code == 0
    report = json.loads(shown.stdout)
    assert report["fits"] is False and report["residual"]["rmse"] == pytest.approx(rmse, 1e-3)


def test_border_mode_is_inferred(cli, photo, tmp_path):
    target = make_target(
        cli, photo, "sharpen", tmp_path / "t.npy", "--border", "replicate"
    )  # fmt: skip
    report = learn_json(cli, photo, target, "--size", "3")
    assert report["border"] == "replicate" and report["fits"] is True
    forced = cli("learn", photo, target, "--size", "3", "--border", "reflect")
    assert forced.exit_code == 1
    assert "no linear 3x3 kernel fits" in forced.stderr


def test_bias_and_gray(cli, photo, tmp_path):
    target = make_target(
        cli, photo, "sharpen", tmp_path / "t.npy", "--gray", "--bias", "10"
    )  # fmt: skip
    mismatch = cli("learn", photo, target)
    assert mismatch.exit_code == 1
    assert mismatch.stderr == (
        "Error: INPUT has 3 channel(s) but TARGET has 1: learn fits kernels that map each "
        "channel to the same channel\n"
    )
    report = learn_json(cli, photo, target, "--gray", "--bias", "--size", "3")
    assert report["bias"] == pytest.approx(10, abs=1e-3)
    assert np.abs(np.array(report["kernel_full"]) - parse_step("sharpen").weight).max() < 1e-3


# ------------------------------------------------------------------ saving


def test_saved_kernel_is_read_back_by_apply(cli, photo, tmp_path):
    target = make_target(cli, photo, "gaussian:1", tmp_path / "t.npy")
    saved = tmp_path / "kernel.txt"
    result = cli("learn", photo, target, "--save", saved)
    assert result.exit_code == 0, result.stderr
    text = saved.read_text()
    assert text.startswith("# recovered by convcli learn\n# kernel: 7x7, one shared by 3 ")
    assert f"# saved: {saved} (use: convcli apply -k @{saved})" in result.stdout
    again = make_target(cli, photo, f"@{saved}", tmp_path / "again.npy")
    np.testing.assert_allclose(np.load(again), np.load(target), atol=1e-3)
    refused = cli("learn", photo, target, "--save", saved)
    assert refused.exit_code == 1
    assert refused.stderr == f"Error: output '{saved}' exists; use --force to overwrite it\n"
    assert cli("learn", photo, target, "--save", saved, "--force").exit_code == 0


def test_per_channel_kernels_saved_as_a_layer(cli, photo, tmp_path):
    truth = np.stack([parse_step(s).weight for s in ("sobel-x", "sobel-y", "sharpen")])
    layer = np.zeros((3, 3, 3, 3))
    layer[np.arange(3), np.arange(3)] = truth
    np.save(tmp_path / "layer.npy", layer)
    target = make_target(cli, photo, str(tmp_path / "layer.npy"), tmp_path / "t.npy")
    shared = cli("learn", photo, target, "--size", "3")
    assert shared.exit_code == 1 and "no linear 3x3 kernel fits" in shared.stderr
    refused = cli("learn", photo, target, "--per-channel", "--save", tmp_path / "k.csv")
    assert (refused.exit_code, refused.stderr) == (
        2,
        f"Error: --save '{tmp_path / 'k.csv'}': a per-channel kernel set is a (C,C,kh,kw) "
        "layer, which .txt (filters closed by ||) or .npy holds; CSV holds one 2-D kernel\n",
    )
    report = learn_json(
        cli, photo, target, "--per-channel", "--size", "3", "--save", tmp_path / "k.npy"
    )
    assert report["per_channel"] is True
    np.testing.assert_allclose(report["kernel_full"], truth, atol=1e-3)
    np.testing.assert_allclose(np.load(tmp_path / "k.npy"), layer, atol=1e-6)
    # As text too: the layer's filters closed by ||, which apply reads back as this layer
    # (blocks alone would be one kernel summing the channels).
    saved = cli(
        "learn", photo, target, "--per-channel", "--size", "3", "--save", tmp_path / "k.txt"
    )
    assert saved.exit_code == 0
    text = (tmp_path / "k.txt").read_text()
    assert "# one kernel per channel, as a layer: filter c reads channel c alone" in text
    assert text.count("||") == 3
    again = make_target(cli, photo, f"@{tmp_path / 'k.txt'}", tmp_path / "again.npy")
    np.testing.assert_array_equal(np.load(again), np.load(target))


# ------------------------------------------------------------------ errors


def test_sizes_no_padding_explains(cli, seed_files, tmp_path):
    np.save(tmp_path / "small.npy", np.zeros((6, 5)))
    result = cli("learn", seed_files[0], tmp_path / "small.npy", "--size", "1x2")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: TARGET 6x5 cannot come from INPUT 6x8 with a 1x2 kernel and any padding: that "
        "kernel gives heights 6, widths 7..9 (6x7 with no padding, 6x8 'same', 6x9 'full'); "
        "a 1x4 kernel fits these sizes with no padding\n"
    )


def test_flat_image_is_singular(cli, tmp_path):
    Image.new("RGB", (40, 30), (120, 50, 200)).save(tmp_path / "flat.png")
    result = cli("learn", tmp_path / "flat.png", tmp_path / "flat.png", "--size", "3")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: the system is singular (rank 1 of 9 unknowns): INPUT has too little structure "
        "to determine a 3x3 kernel (a flat image is explained by any kernel with the same "
        "sum)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--size", "3x"), "--size must be K or KHxKW (e.g. 3, 3x5, 1x2), got '3x'"),
        (("--method", "gd"), "--method gd needs --size: the size search uses least squares"),
        (("--padding", "a"), "-p/--padding: padding must be N, HxW, top,bottom,left,right, "),
        (("--save", "k.png"), "--save writes .txt, .csv or .npy, got 'k.png'"),
        (("--map", "clip"), "--map clip describes an image target's pixel range; TARGET "),
    ],
)  # fmt: skip
def test_usage_errors_exit_2(cli, seed_files, args, message):
    result = cli("learn", *seed_files, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {message}")
    assert result.stderr.count("\n") == 1


def test_missing_file_and_bad_inline_matrix(cli, seed_files):
    result = cli("learn", seed_files[0], "nope.png")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: TARGET 'nope.png': no such file (nor an inline matrix like \"0 1; 2 3\")\n"
    )
    ragged = cli("learn", "1 2; 3", "1 2; 3 4")
    assert ragged.exit_code == 1
    assert ragged.stderr.startswith("Error: INPUT '1 2; 3': not a file, and not a matrix (")


def test_stdin_input(cli, seed_files):
    data = seed_files[0].read_bytes()
    result = cli("learn", "-", seed_files[1], "--format", "json", input=data)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["kernel"] == [[1.0, -1.0]]
    both = cli("learn", "-", "-", input=data)
    assert both.exit_code == 2
    assert both.stderr == "Error: INPUT and TARGET cannot both be '-' (stdin holds one file)\n"


def test_table_format(cli, seed_files):
    result = cli("learn", *seed_files, "--format", "table")
    assert result.exit_code == 0
    assert "Recovered 1x2 kernel (least squares)" in result.stdout
    assert "condition number 2.236 (well-conditioned), rank 2 of 2" in result.stdout


def test_csv_format(cli, seed_files):
    result = cli("learn", *seed_files, "--format", "csv")
    header, row = result.stdout.splitlines()
    assert header.startswith("kernel_size,kernel,bias,padding,border,method,rmse,")
    assert row.startswith('1x2,"1,-1",,"0,0,0,0",zeros,lstsq,')


def test_help_has_an_example_and_the_command_imports_no_numpy(cli):
    result = cli("learn", "--help")
    assert result.exit_code == 0
    assert "convcli learn" in result.stdout and "--method gd" in result.stdout
    code = (
        "import sys, convcli.commands.learn, convcli.render.learn; "
        "print('numpy' in sys.modules, 'PIL' in sys.modules)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.split() == ["False", "False"]


# ------------------------------------------------------------------ issue 13: misfit advice


def test_misfit_error_names_tol(cli, photo, tmp_path):
    target = make_target(cli, photo, "median:3", tmp_path / "median.npy")
    result = cli("learn", photo, target, "--size", "3")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert (
        "(--tol sets the tolerance, --allow-misfit shows the best kernel anyway)" in result.stderr
    )


def test_misfit_on_a_jpeg_target_says_it_is_lossy(cli, photo, tmp_path):
    target = make_target(cli, photo, "box:3", tmp_path / "blur.jpg", "--quality", "75")
    result = cli("learn", photo, target, "--size", "3")
    assert result.exit_code == 1 and result.stdout == ""
    message = result.stderr
    assert message.startswith("Error: no linear 3x3 kernel fits: the best leaves RMSE ")
    assert message.rstrip().endswith(
        "TARGET is a JPEG file, whose lossy compression moved its pixels by more than "
        "rounding: raise --tol to the error you accept (the max error above), or use a "
        "lossless TARGET (PNG, TIFF, .npy)"
    )
    max_error = float(message.split("max error ")[1].split(" ")[0])
    allowed = learn_json(cli, photo, target, "--size", "3", "--tol", f"{max_error + 0.01}")
    assert allowed["fits"] is True
    np.testing.assert_allclose(allowed["kernel_full"], np.full((3, 3), 1 / 9), atol=0.02)
    lossless = make_target(cli, photo, "box:3", tmp_path / "blur.png")
    assert learn_json(cli, photo, lossless, "--size", "3")["fits"] is True


# ------------------------------------------------------------------ issue 17: callable from Python


def test_learn_is_callable_from_python_as_the_command_runs_it(cli, photo, tmp_path):
    from convcli import imageio
    from convcli.learn import LearnRequest, prepare, solve

    target = make_target(cli, photo, "sobel-x", tmp_path / "gx.png", "--map", "offset")
    source, read_target = imageio.read_operand_pair(str(photo), str(target))
    assert (source.kind, source.values.shape, read_target.full_scale) == ("image", (3, 96, 96), 255)
    request = LearnRequest(kernel_size=(3, 3), map_mode="offset")
    prepared = prepare(source, read_target, request)
    assert prepared.borders[0] == "reflect" and prepared.report().units == "8-bit levels"
    fit = solve(prepared, request)
    assert fit.fits
    np.testing.assert_allclose(fit.kernel, parse_step("sobel-x").weight, atol=0.01)
    command = learn_json(cli, photo, target, "--size", "3", "--map", "offset")
    np.testing.assert_allclose(command["kernel_full"], fit.kernel, atol=1e-12)


def test_an_image_layout_npy_operand_is_read_as_hwc(cli, photo, tmp_path):
    target = make_target(cli, photo, "sharpen", tmp_path / "sharp.npy")  # 96x96x3
    values = np.load(target)
    np.save(tmp_path / "alone.npy", values)  # no image beside it: the shape rule decides
    np.save(tmp_path / "input.npy", np.asarray(Image.open(photo), dtype=np.float64))
    report = learn_json(cli, tmp_path / "input.npy", tmp_path / "alone.npy", "--size", "3",
                        "--border", "reflect")  # fmt: skip
    assert report["fits"] is True
    np.testing.assert_allclose(report["kernel_full"], parse_step("sharpen").weight, atol=1e-4)


def test_descent_options_without_descent_are_refused(cli, seed_files):
    result = cli("learn", *seed_files, "--size", "1x2", "--epochs", "50")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --epochs, --lr, --seed and --batch-size are for --method gd; least squares "
        "would ignore them\n",
    )


def test_an_empty_save_name_is_refused_in_words(cli, seed_files):
    result = cli("learn", *seed_files, "--size", "1x2", "--save", "")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --save needs a file name (.txt, .csv or .npy), got ''\n",
    )


def test_json_follows_the_one_number_policy(cli, seed_files):
    """Whole numbers as integers, as every other JSON of convcli writes them (it wrote
    ``[[1.0, -1.0]]`` and ``"rmse": 0.0``); the full-precision fields keep float64."""
    result = cli("learn", *seed_files, "--size", "1x2", "--format", "json")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    assert '"kernel": [\n    [\n      1,\n      -1\n    ]\n  ]' in text
    data = json.loads(text)
    assert data["residual"]["rmse"] == 0 and isinstance(data["residual"]["rmse"], int)
    assert data["conditioning"]["condition_number"] == pytest.approx(5**0.5, rel=1e-15)
