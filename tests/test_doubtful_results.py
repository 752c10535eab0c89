"""A result that might be wrong is never silent: a note or warning on stderr, and
``--strict`` turns it into exit 1. Each case once wrote its doubtful result with exit 0
and nothing said."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def test_an_all_zero_kernel_is_warned_of(cli):
    # log:1,size=2: both taps equal, and the zero-sum rule subtracts their mean.
    result = cli("apply", "--matrix", "1 2 3; 4 5 6; 7 8 9", "-k", "log:1,size=2")
    assert (result.exit_code, result.stdout) == (0, "0 0\n0 0\n")
    assert result.stderr == (
        "warning: step 1 'log:1,size=2': every tap of the kernel is 0: the output is constant\n"
    )
    strict = cli("apply", "--matrix", "1 2; 3 4", "-k", "0 0", "--bias", "2", "--strict")
    assert strict.exit_code == 1
    assert "every tap of the kernel is 0" in strict.stderr


def test_minmax_on_a_flat_result_says_it_wrote_zeros(cli, tmp_path):
    Image.new("RGB", (20, 10), (40, 40, 40)).save(tmp_path / "flat.png")
    result = cli("apply", tmp_path / "flat.png", "-k", "box:3", "--map", "minmax",
                 "-o", tmp_path / "out.png")  # fmt: skip
    assert result.exit_code == 0
    assert result.stderr == (
        "note: --map minmax: the result is flat (every value 40), written as 0\n"
    )
    assert not np.asarray(Image.open(tmp_path / "out.png")).any()
    ramp = cli("apply", tmp_path / "flat.png", "-k", "sobel-x", "--map", "minmax",
               "-p", "valid", "-o", tmp_path / "edges.png")  # fmt: skip
    assert "flat (every value 0)" in ramp.stderr


def _four_d_kernel(tmp_path, outputs: int):
    """A 1x1 kernel whose output channels copy input channels 0, 1, ... (mod 3)."""
    weight = np.zeros((outputs, 3, 1, 1), np.float32)
    for channel in range(outputs):
        weight[channel, channel % 3] = 1
    np.save(tmp_path / f"k{outputs}.npy", weight)
    return f"@{tmp_path / f'k{outputs}.npy'}"


def test_two_or_four_feature_maps_to_png_say_the_last_becomes_alpha(cli, tmp_path):
    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "in.png")
    for outputs, mode in ((2, "LA"), (4, "RGBA")):
        out = tmp_path / f"out{outputs}.png"
        result = cli("apply", tmp_path / "in.png", "-k", _four_d_kernel(tmp_path, outputs),
                     "-o", out)  # fmt: skip
        assert result.exit_code == 0
        assert result.stderr == (
            f"note: the result has {outputs} channels, not colour: PNG stores them as {mode}, "
            "the last as transparency; write .npy to keep them as planes\n"
        )
        assert Image.open(out).mode == mode
    planes = cli("apply", tmp_path / "in.png", "-k", _four_d_kernel(tmp_path, 2),
                 "-o", tmp_path / "planes.npy")  # fmt: skip
    assert (planes.exit_code, planes.stderr) == (0, "")
    assert np.load(tmp_path / "planes.npy").tolist()[0][0] == [10.0, 20.0]


def test_four_feature_maps_to_jpeg_are_refused_before_any_file(cli, tmp_path):
    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "in.png")
    result = cli("apply", tmp_path / "in.png", "-k", _four_d_kernel(tmp_path, 4),
                 "-o", tmp_path / "out.jpg")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: output '{tmp_path / 'out.jpg'}': JPEG has no alpha channel and the result is "
        "4 channels; write PNG, TIFF or WebP, or .npy\n"
    )
    assert not (tmp_path / "out.jpg").exists()


MATRIX = "1 2 3 4; 3 4 5 6; 5 6 7 8; 1 1 1 1"


def test_a_global_stride_no_step_takes_is_said(cli):
    result = cli("apply", "--matrix", MATRIX, "-k", "maxpool:2", "-s", "1")
    assert (result.exit_code, result.stdout) == (0, "4 6\n6 8\n")
    assert result.stderr == (
        "warning: -s/--stride 1 reaches no step: kernel steps take it; 'maxpool:2' keeps its "
        "stride 2 (give it its own: s=)\n"
    )
    assert cli("apply", "--matrix", MATRIX, "-k", "maxpool:2", "-s", "1", "--strict").exit_code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["-k", "maxpool:2", "-s", "2"],  # the pool's own stride anyway
        ["-k", "1 0; 0 1", "-k", "maxpool:3", "-s", "1"],  # the kernel takes it
        ["-k", "1 0; 0 1", "-k", "maxpool:2,s=1", "-s", "2"],  # the pool gave its own
        ["-k", "1 0; 0 1", "-k", "maxpool:2", "-d", "2"],  # the kernel takes it
        ["-k", "avgpool:2", "-p", "1", "--border", "zeros"],  # what avg pads with
        ["-k", "median:3", "--border", "replicate"],  # a median takes --border
        ["-k", "1 0; 0 1", "-k", "maxpool:2", "-p", "same", "--border", "replicate"],
    ],
)
def test_global_options_some_step_takes_are_not_warned_of(cli, args):
    result = cli("apply", "--matrix", MATRIX, *args, "--strict")
    assert (result.exit_code, result.stderr) == (0, "")


def test_a_global_dilation_or_border_no_step_takes_is_said(cli):
    dilated = cli("apply", "--matrix", MATRIX, "-k", "maxpool:2", "-d", "2")
    assert dilated.stderr == (
        "warning: -d/--dilation reaches no step: kernel steps take it; pools take none\n"
    )
    border = cli("apply", "--matrix", MATRIX, "-k", "avgpool:3,p=1", "--border", "replicate")
    assert border.stderr == (
        "warning: --border replicate reaches no step: kernel and median steps take it; a "
        "pool's padding never wins (max, min) or counts as zeros (avg), as in PyTorch\n"
    )


def test_chain_warnings_are_said_once_for_a_batch_and_fail_strict(cli, tmp_path):
    for name in ("a", "b", "c"):
        Image.new("L", (8, 8), 9).save(tmp_path / f"{name}.png")
    inputs = [tmp_path / f"{name}.png" for name in ("a", "b", "c")]
    result = cli("apply", *inputs, "-k", "maxpool:2", "-s", "1", "-O", tmp_path / "out",
                 "--strict", "-q")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.count("reaches no step") == 0  # -q hides it, --strict still counts it
    shown = cli("apply", tmp_path / "a.png", tmp_path / "b.png", "-k", "0", "-O",
                tmp_path / "out2")  # fmt: skip
    assert shown.stderr.count("every tap of the kernel is 0") == 1


def test_what_gif_cannot_hold_is_said_and_only_then(cli, tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 4), np.uint8)
    noise[..., 3] = 97  # partial transparency
    Image.fromarray(noise, "RGBA").save(tmp_path / "rgba.png")
    out = tmp_path / "rgba.gif"
    result = cli("apply", tmp_path / "rgba.png", "-k", "identity", "-o", out)
    assert result.exit_code == 0
    assert result.stderr == (
        f"note: output '{out}': GIF: more than 256 colours, reduced to a palette; partial "
        "transparency made on or off; write PNG to keep it\n"
    )
    Image.new("RGB", (8, 8), (10, 200, 30)).save(tmp_path / "flat.png")  # one colour
    Image.new("L", (8, 8), 50).save(tmp_path / "grey.png")
    for name in ("flat", "grey"):
        kept = cli("apply", tmp_path / f"{name}.png", "-k", "box:3", "-o", tmp_path / f"{name}.gif",
                   "--strict")  # fmt: skip
        assert (kept.exit_code, kept.stderr) == (0, "")
    assert np.asarray(Image.open(tmp_path / "grey.gif").convert("L")).tolist() == [[50] * 8] * 8


def test_kernel_taps_float32_changes_are_noted_as_a_matrix_is(cli):
    whole = cli("apply", "--matrix", "1 2; 3 4", "-k", "16777217")
    assert (whole.exit_code, whole.stdout) == (0, "16777216 33554432\n50331648 67108864\n")
    assert whole.stderr == (
        "note: step 1 '16777217': 1 whole number past 2^24 (16,777,216) changed in float32, "
        "which convcli computes in (e.g. 16777217 -> 16777216)\n"
    )
    tiny = cli("apply", "--matrix", "1 2; 3 4", "-k", "1e-46 1e-47")
    assert tiny.stderr == (
        "note: step 1 '1e-46 1e-47': every value is below float32's smallest (1.4e-45) and "
        "becomes 0\n"
    )
    for kernel in ("1e-39 1e-40", "gaussian:0.2,size=3"):  # digits kept, or far tails
        fine = cli("apply", "--matrix", "1 2 3; 4 5 6; 7 8 9", "-k", kernel)
        assert (fine.exit_code, fine.stderr) == (0, "")


def test_a_files_own_warnings_are_told_in_a_batch(cli, tmp_path):
    Image.new("L", (8, 7), 9).save(tmp_path / "odd.png")  # 7 rows: maxpool:2 drops one
    result = cli("apply", tmp_path / "odd.png", "-k", "maxpool:2", "-O", tmp_path / "out",
                 "--strict", "-j", "1")  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"note: {tmp_path / 'odd.png'}: step 1 'maxpool:2': floor division drops 1 input row "
        "at the bottom"
    )
