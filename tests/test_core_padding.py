"""convcli.core.padding: spec resolution (pure Python) and border modes (vs NumPy's pad)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from convcli.core._strips import PaddedRows, axis_source
from convcli.core.padding import (
    PADDING_MODES,
    pad2d,
    resolve_padding,
    same_pads,
    source_index,
    to_pair,
)

NUMPY_NAME = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "edge",
    "circular": "wrap",
    "symmetric": "symmetric",
}


def test_resolution_imports_no_numpy():
    code = (
        "import sys; from convcli.core.padding import resolve_padding; "
        "print(resolve_padding('same', (224, 224), (7, 7), 2)); print('numpy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[:2] == ["(2, 3, 2, 3)", "False"]


@pytest.mark.parametrize(
    ("spec", "pads"),
    [
        (0, (0, 0, 0, 0)),
        (2, (2, 2, 2, 2)),
        ((1, 3), (1, 1, 3, 3)),
        ([1, 3], (1, 1, 3, 3)),
        ((1, 2, 3, 4), (1, 2, 3, 4)),
        (np.int64(1), (1, 1, 1, 1)),
        ("valid", (0, 0, 0, 0)),
    ],
)
def test_resolve_numeric_specs(spec, pads):
    assert resolve_padding(spec) == pads


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "dilation", "pads"),
    [
        (224, 3, 2, 1, (0, 1)),  # REFERENCE.md: TF SAME examples
        (224, 7, 2, 1, (2, 3)),
        (225, 3, 2, 1, (1, 1)),
        (8, 2, 1, 1, (0, 1)),  # even kernel: the extra pixel after (PyTorch)
        (8, 3, 1, 2, (2, 2)),
        (5, 1, 1, 1, (0, 0)),
        (3, 1, 5, 1, (0, 0)),  # never negative
    ],
)
def test_same_pads(size, kernel, stride, dilation, pads):
    assert same_pads(size, kernel, stride, dilation) == pads


def test_resolve_same_per_axis():
    assert resolve_padding("same", (8, 224), (2, 7), stride=(1, 2)) == (0, 1, 2, 3)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (-1, "padding must be >= 0, got -1"),
        ((1, -2), "padding must be >= 0, got (1, 1, -2, -2)"),
        ((1, 2, 3), "padding must have 1 value, 2 (h, w) or 4 (top, bottom, left, right), got 3"),
        ("SAME", "padding must be an int, (h, w), (top, bottom, left, right), 'valid' or 'same'"),
        (1.5, "padding must be an integer, got 1.5"),
        (True, "padding must be an integer, got True"),
    ],
)
def test_resolve_rejects(spec, message):
    with pytest.raises(ValueError) as error:
        resolve_padding(spec)
    assert str(error.value).startswith(message)


def test_same_needs_sizes():
    with pytest.raises(ValueError, match="padding='same' needs the input size"):
        resolve_padding("same")


def test_to_pair():
    assert to_pair(3, "stride") == (3, 3)
    assert to_pair((1, 2), "dilation") == (1, 2)
    with pytest.raises(ValueError, match=r"^stride must be >= 1, got 0$"):
        to_pair(0, "stride")
    with pytest.raises(ValueError, match=r"^dilation must be >= 1, got \(1, 0\)$"):
        to_pair((1, 0), "dilation")
    with pytest.raises(ValueError, match=r"^stride must be an int or a pair"):
        to_pair((1, 2, 3), "stride")


def test_border_mode_names_on_the_reference_row():
    row = [[1, 2, 3, 4, 5]]
    expected = {
        "zeros": [0, 0, 0, 1, 2, 3, 4, 5, 0, 0, 0],
        "reflect": [4, 3, 2, 1, 2, 3, 4, 5, 4, 3, 2],
        "replicate": [1, 1, 1, 1, 2, 3, 4, 5, 5, 5, 5],
        "circular": [3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3],
        "symmetric": [3, 2, 1, 1, 2, 3, 4, 5, 5, 4, 3],
    }
    for mode in PADDING_MODES:
        assert pad2d(row, (0, 0, 3, 3), mode).tolist() == [expected[mode]]


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_pad2d_matches_numpy_with_corners(mode):
    rng = np.random.default_rng(7)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(1, 6, 2))
        limit_h = height - 1 if mode == "reflect" else height
        limit_w = width - 1 if mode == "reflect" else width
        if mode in ("zeros", "replicate"):
            limit_h = limit_w = 7
        pads = tuple(
            int(rng.integers(0, limit + 1)) for limit in (limit_h, limit_h, limit_w, limit_w)
        )
        x = rng.standard_normal((2, 3, height, width)).astype(np.float32)
        top, bottom, left, right = pads
        expected = np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), mode=NUMPY_NAME[mode])
        got = pad2d(x, pads, mode)
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, expected)


def test_pad2d_out_buffer_is_used():
    x = np.arange(6.0).reshape(2, 3)
    buffer = np.full((4, 5), np.nan)
    assert pad2d(x, (1, 1, 1, 1), "replicate", out=buffer) is buffer
    assert buffer[0].tolist() == [0, 0, 1, 2, 2]
    with pytest.raises(ValueError, match=r"out must have shape \(4, 5\), got \(3, 3\)"):
        pad2d(x, (1, 1, 1, 1), out=np.empty((3, 3)))


@pytest.mark.parametrize(
    ("mode", "shape", "pads", "message"),
    [
        (
            "mirror",
            (3, 4),
            (1, 1, 1, 1),
            "padding_mode must be one of zeros, reflect, replicate, "
            "circular, symmetric, got 'mirror'",
        ),
        ("reflect", (0, 4), (1, 0, 0, 0), "padding_mode='reflect' cannot pad an input of height 0"),
        (
            "replicate",
            (3, 0),
            (0, 0, 0, 2),
            "padding_mode='replicate' cannot pad an input of width 0",
        ),
    ],
)
def test_pad2d_rejects_what_the_mode_cannot_do(mode, shape, pads, message):
    with pytest.raises(ValueError) as error:
        pad2d(np.ones(shape), pads, mode)
    assert str(error.value) == message


BORDERS_CV2 = json.loads((Path(__file__).parent / "data" / "borders_cv2.json").read_text())


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_pads_larger_than_the_input_fold_back_as_in_opencv(mode):
    """1-4 px images, pads up to 10: cv2.copyMakeBorder's values (made by
    tests/data/make_border_fixture.py), where PyTorch refuses reflect pads >= size."""
    cases = [case for case in BORDERS_CV2["cases"] if case["mode"] == mode]
    assert len(cases) == 80
    for case in cases:
        image = np.array(case["image"], dtype=np.float32)
        got = pad2d(image, tuple(case["pads"]), mode)
        assert got.tolist() == case["padded"], (case["image"], case["pads"])


def test_one_pixel_reflects_to_itself():
    assert pad2d([[7.0]], (2, 1, 3, 0), "reflect").tolist() == [[7.0] * 4] * 4
    assert source_index(1, 3, 3, "reflect") == [0] * 7


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_strips_and_pad2d_share_one_border_rule(mode):
    """The strips' gatherer gives pad2d's values, big pads included."""
    x = np.arange(15.0).reshape(1, 3, 5)
    pads = (7, 4, 9, 6)
    rows = PaddedRows(x, pads, mode)
    buffer = np.empty(10_000)
    padded = pad2d(x, pads, mode)
    for start, stop in ((0, 14), (2, 9), (10, 14)):
        got = rows.block(start, stop, 0, 20, buffer)
        np.testing.assert_array_equal(got, padded[:, start:stop])
    assert axis_source(5, 9, 6, mode).tolist() == source_index(5, 9, 6, mode)


def test_pad2d_limits_that_are_allowed():
    x = np.arange(3.0)[None]
    assert pad2d(x, (0, 0, 2, 2), "reflect").tolist() == [[2, 1, 0, 1, 2, 1, 0]]
    assert pad2d(x, (0, 0, 3, 3), "circular").tolist() == [[0, 1, 2, 0, 1, 2, 0, 1, 2]]
    assert pad2d(x, (0, 0, 9, 0), "replicate").tolist() == [[0.0] * 10 + [1, 2]]


@pytest.mark.parametrize("mode", PADDING_MODES)
def test_gathered_blocks_match_pad2d_everywhere(mode):
    """Every row and column range of the strips' gatherer (edges, interior, whole, pads
    only) gives pad2d's values: the runs that skip scanning the inside are right."""
    x = np.arange(42.0).reshape(1, 6, 7)
    pads = (3, 2, 4, 1)
    padded = pad2d(x, pads, mode)
    rows = PaddedRows(x, pads, mode)
    buffer = np.empty(1000)
    height, width = padded.shape[1:]
    for row_start in range(height):
        for row_stop in range(row_start + 1, height + 1):
            for col_start, col_stop in ((0, width), (0, 3), (2, 9), (5, width), (4, 11)):
                got = rows.block(row_start, row_stop, col_start, col_stop, buffer)
                expected = padded[:, row_start:row_stop, col_start:col_stop]
                np.testing.assert_array_equal(got, expected)
