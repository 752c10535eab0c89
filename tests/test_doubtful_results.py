"""A result that might be wrong is never silent: a note or warning on stderr, and
``--strict`` turns it into exit 1. Each case once wrote its doubtful result with exit 0
and nothing said."""

from __future__ import annotations

import numpy as np
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


def test_a_global_stride_a_pool_does_not_take_is_said(cli):
    result = cli("apply", "--matrix", MATRIX, "-k", "maxpool:2", "-s", "1")
    assert (result.exit_code, result.stdout) == (0, "4 6\n6 8\n")
    assert result.stderr == (
        "warning: step 1 'maxpool:2': -s/--stride 1 is for kernel steps; this step keeps "
        "stride 2 (give it its own: s=)\n"
    )
    same = cli("apply", "--matrix", MATRIX, "-k", "maxpool:2", "-s", "2")
    assert (same.exit_code, same.stderr) == (0, "")  # the pool's own stride: nothing to say
    assert cli("apply", "--matrix", MATRIX, "-k", "maxpool:2", "-s", "1", "--strict").exit_code == 1


def test_a_global_dilation_or_border_a_pool_does_not_take_is_said(cli):
    dilated = cli("apply", "--matrix", MATRIX, "-k", "maxpool:2", "-d", "2")
    assert dilated.stderr == (
        "warning: step 1 'maxpool:2': -d/--dilation is for kernel steps; pools and medians "
        "take none\n"
    )
    border = cli("apply", "--matrix", MATRIX, "-k", "avgpool:3,p=1", "--border", "replicate")
    assert border.stderr == (
        "warning: step 1 'avgpool:3,p=1': --border is for kernel and median steps; a pool's "
        "padding is zeros, as in PyTorch\n"
    )
    median = cli("apply", "--matrix", MATRIX, "-k", "median:3", "--border", "replicate")
    assert (median.exit_code, median.stderr) == (0, "")  # a median takes --border


def test_what_gif_cannot_hold_is_said(cli, tmp_path):
    Image.new("RGBA", (8, 8), (10, 200, 30, 97)).save(tmp_path / "rgba.png")
    Image.new("L", (8, 8), 50).save(tmp_path / "grey.png")
    out = tmp_path / "rgba.gif"
    result = cli("apply", tmp_path / "rgba.png", "-k", "box:3", "-o", out)
    assert result.exit_code == 0
    assert result.stderr == (
        f"note: output '{out}': GIF: it holds 256 colours: the result is reduced to a palette; "
        "it has no partial transparency: the alpha channel is dropped; write PNG to keep it\n"
    )
    grey = cli("apply", tmp_path / "grey.png", "-k", "box:3", "-o", tmp_path / "grey.gif")
    assert (grey.exit_code, grey.stderr) == (0, "")  # 256 greys: nothing lost
    assert np.asarray(Image.open(tmp_path / "grey.gif").convert("L")).tolist() == [[50] * 8] * 8


def test_kernel_taps_float32_changes_are_warned_of_as_a_matrix_is(cli):
    whole = cli("apply", "--matrix", "1 2; 3 4", "-k", "16777217")
    assert (whole.exit_code, whole.stdout) == (0, "16777216 33554432\n50331648 67108864\n")
    assert whole.stderr == (
        "warning: step 1 '16777217': 1 whole number past 2^24 (16,777,216) changed in float32, "
        "which convcli computes in (e.g. 16777217 -> 16777216)\n"
    )
    tiny = cli("apply", "--matrix", "1 2; 3 4", "-k", "1e-46 1e-47")
    assert tiny.stderr == (
        "warning: step 1 '1e-46 1e-47': every value is below float32's normal range (1.2e-38): "
        "1e-46 becomes 0\n"
    )
    fine = cli("apply", "--matrix", "1 2 3; 4 5 6; 7 8 9", "-k", "gaussian:0.2,size=3")
    assert (fine.exit_code, fine.stderr) == (0, "")  # tails far below float32: rounding, no note
