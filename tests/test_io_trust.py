"""Issue 13, image and matrix I/O: files convcli writes read back as written, 16-bit and
float colour kept bit for bit, CMYK said."""

from __future__ import annotations

import numpy as np
import pytest

from convcli import imageio
from tests.conftest import SAMPLES

# ------------------------------------------------------------------ .npy layout round trip


def test_two_step_pipeline_through_npy_equals_the_one_step_run(cli, tmp_path):
    photo = SAMPLES / "chelsea.png"  # 300x451 RGB
    one = cli("apply", photo, "-k", "gaussian:1", "-k", "sobel-x", "-o", tmp_path / "one.npy")
    assert one.exit_code == 0, one.stderr
    first = cli("apply", photo, "-k", "gaussian:1", "-o", tmp_path / "blur.npy")
    assert first.exit_code == 0, first.stderr
    assert np.load(tmp_path / "blur.npy").shape == (300, 451, 3)
    # The image defaults (same size, reflect) asked for explicitly: matrices follow PyTorch.
    second = cli(
        "apply", tmp_path / "blur.npy", "-k", "sobel-x", "-p", "same", "--border", "reflect",
        "-o", tmp_path / "two.npy",
    )  # fmt: skip
    assert second.exit_code == 0, second.stderr
    assert second.stderr == ""  # an image's layout is not ambiguous: no note
    two, expected = np.load(tmp_path / "two.npy"), np.load(tmp_path / "one.npy")
    assert two.shape == expected.shape == (300, 451, 3)  # written back as it was read
    assert np.array_equal(two, expected)


def test_image_layout_npy_is_read_as_hwc_and_pytorch_layout_as_chw(cli, tmp_path):
    hwc = np.arange(5 * 6 * 2, dtype=np.float32).reshape(5, 6, 2)
    np.save(tmp_path / "hwc.npy", hwc)
    np.save(tmp_path / "chw.npy", np.ascontiguousarray(np.moveaxis(hwc, -1, 0)))
    for name, expected in (("hwc.npy", hwc), ("chw.npy", np.moveaxis(hwc, -1, 0))):
        result = cli("apply", tmp_path / name, "-k", "identity", "-o", tmp_path / f"o-{name}")
        assert (result.exit_code, result.stderr) == (0, "")
        assert np.array_equal(np.load(tmp_path / f"o-{name}"), expected)


def test_an_ambiguous_array_gets_a_note_naming_channels_last(cli, tmp_path):
    values = np.arange(27, dtype=np.float32).reshape(3, 3, 3)
    np.save(tmp_path / "cube.npy", values)
    result = cli("apply", tmp_path / "cube.npy", "-k", "identity", "--format", "json")
    assert result.exit_code == 0
    assert result.stderr == (
        f"note: {tmp_path / 'cube.npy'}: shape 3x3x3 is read as CxHxW (PyTorch order); "
        "if it is HxWxC, give --channels-last\n"
    )
    told = cli("apply", tmp_path / "cube.npy", "-k", "identity", "--channels-last",
               "-o", tmp_path / "hwc.npy")  # fmt: skip
    assert (told.exit_code, told.stderr) == (0, "")
    assert np.array_equal(np.load(tmp_path / "hwc.npy"), values)


@pytest.mark.parametrize(
    ("shape", "channels_last", "noted"),
    [
        ((360, 640, 3), True, False),
        ((1, 360, 640, 4), True, False),
        ((3, 360, 640), False, False),
        ((64, 56, 56), False, False),
        ((3, 640, 3), False, True),
        ((16, 3, 3), False, True),
        ((2, 2, 2), False, True),
    ],
)
def test_matrix_layout_rule(shape, channels_last, noted):
    got, notes = imageio.matrix_layout(shape, "m.npy", False)
    assert got is channels_last
    assert bool(notes) is noted
    assert imageio.matrix_layout(shape, "m.npy", True) == (True, [])


def test_probe_shape_follows_the_same_rule(tmp_path):
    np.save(tmp_path / "hwc.npy", np.zeros((7, 9, 3), np.float32))
    assert imageio.probe_shape(tmp_path / "hwc.npy") == ((3, 7, 9), False)
