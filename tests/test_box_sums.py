"""Box filters in constant work per pixel (issue 14): box columns summed by blocks
anchored to the image's rows (van Herk / Gil-Werman), box rows by factored doubling.

Every path is checked against the ``direct`` engine (or a float64 sum) on every dtype
convcli reads, every border mode, odd and even sizes and dilations; strips of 1 to 7 rows
must give the whole image's bits when they say where they start (``rows_from``), and the
tests show that they would not if the blocks were anchored to the strip instead; NaN and
infinities spread as in the direct sum. ``auto`` is checked on the cost model's choices.
"""

from __future__ import annotations

import numpy as np
import pytest

from convcli.core import _choice, conv2d
from convcli.core import _engines as engines
from convcli.core._engines import (
    block_sums,
    spaced_block_sums,
    vertical_by_blocks,
    window_factors,
    window_passes,
    window_sum,
)
from convcli.core.conv import prepare_conv
from tests.test_core_fast_paths import agrees_with_direct_in_every_border, strips_of

RNG = np.random.default_rng(1414)
DTYPES = [np.uint8, np.uint16, np.float32, np.float64]  # what imageio and .npy give


@pytest.fixture(autouse=True)
def blocks_on_small_images(monkeypatch):
    """Box columns of 11 taps or more by blocks whatever the width: the engine keeps
    BLAS for images whose rows are narrow (BLOCK_COLUMN_BYTES), the tests' are."""
    monkeypatch.setattr(engines, "BLOCK_COLUMN_BYTES", 0)


def random_image(shape, dtype):
    if np.dtype(dtype).kind == "u":
        return RNG.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    return RNG.normal(size=shape).astype(dtype)


def sliding_sums(x, count, spacing, rows):
    """The float64 reference: ``sum_i x[y + i * spacing]`` for ``rows`` outputs."""
    wide = x.astype(np.float64)
    return sum(wide[i * spacing : i * spacing + rows] for i in range(count))


def garbage(shape):
    """Scratch as a lent buffer may hold it: NaN everywhere."""
    return np.full(shape, np.nan, np.float32)


# ------------------------------------------------------------------- block sums


@pytest.mark.parametrize("count", [1, 2, 3, 5, 11, 16, 31, 63])
@pytest.mark.parametrize("spacing", [1, 2, 3])
def test_block_sums_are_window_sums_for_every_phase_and_length(count, spacing):
    span = (count - 1) * spacing
    for rows in (1, 2, count, 2 * count + 3):
        x = RNG.random((rows + span, 5), dtype=np.float32)
        expected = sliding_sums(x, count, spacing, rows)
        for phase in (-7, 0, 1, count - 1, 40):
            target = np.empty((rows, 5), np.float32)
            buffers = (garbage(x.shape), garbage(x.shape))
            spaced_block_sums(x, count, spacing, phase, target, buffers)
            np.testing.assert_allclose(target, expected, rtol=2e-6 * count, atol=0)


@pytest.mark.parametrize("count", [3, 5, 15, 31])  # (two taps sum alike both ways)
@pytest.mark.parametrize("spacing", [1, 2])
def test_block_sums_of_any_piece_are_the_whole_columns_bits(count, spacing):
    """A piece of the rows, told its first row, gets the whole's bits; anchored to the
    piece instead (phase 0), some piece does not (the blocks round differently)."""
    span = (count - 1) * spacing
    x = RNG.normal(size=(90 + span, 7)).astype(np.float32)
    whole = np.empty((90, 7), np.float32)
    buffers = (garbage(x.shape), garbage(x.shape))
    spaced_block_sums(x, count, spacing, 3, whole, buffers)
    unanchored_differs = False
    for first in range(1, 40):
        rows = 90 - first - (first % 11)
        piece = np.empty((rows, 7), np.float32)
        spaced_block_sums(x[first:], count, spacing, 3 + first, piece, buffers)
        assert np.array_equal(piece, whole[first : first + rows]), first
        spaced_block_sums(x[first:], count, spacing, 0, piece, buffers)
        unanchored_differs |= not np.array_equal(piece, whole[first : first + rows])
    assert unanchored_differs


def test_block_sums_spread_nan_and_infinities_only_to_their_windows():
    x = RNG.random((60, 4), dtype=np.float32)
    x[10, 0], x[30, 1], x[31, 1], x[45, 2] = np.nan, np.inf, -np.inf, np.inf
    target = np.empty((50, 4), np.float32)
    with np.errstate(invalid="ignore"):  # inf - inf in the windows holding both
        block_sums(x, 11, 5, target, (garbage(x.shape), garbage(x.shape)))
        expected = sliding_sums(x, 11, 1, 50)
    assert np.array_equal(np.isnan(target), np.isnan(expected))
    assert np.array_equal(np.isposinf(target), np.isposinf(expected))
    finite = np.isfinite(expected)
    np.testing.assert_allclose(target[finite], expected[finite], rtol=2e-5)


# ------------------------------------------------------------- factored doubling


@pytest.mark.parametrize("count", [*range(1, 34), 45, 47, 60, 63, 64, 127])
@pytest.mark.parametrize("spacing", [1, 3])
def test_window_sum_by_factored_doubling_is_the_window_sum(count, spacing):
    rows = 9
    x = RNG.random((rows + (count - 1) * spacing + 2, 3), dtype=np.float32)
    target = np.empty((rows, 3), np.float32)
    window_sum(x, count, spacing, target, [garbage(x.shape) for _ in range(3)])
    np.testing.assert_allclose(target, sliding_sums(x, count, spacing, rows), rtol=1e-6, atol=0)


def test_window_factors_cost_fewer_passes_than_the_binary_expansion():
    assert window_factors(63) == (3, 21) and window_passes(63, 1.0) == 8  # binary: 10
    assert window_factors(15) == (3, 5) and window_passes(15, 1.0) == 5  # binary: 6
    assert window_factors(31) == (31,) and window_passes(31, 1.0) == 8
    for count in range(2, 200):
        factors = window_factors(count)
        assert np.prod(factors) == count
        binary = count.bit_length() - 1 + bin(count).count("1") - 1
        assert window_passes(count, 1.0) <= binary
    assert window_passes(15, 0.5, first=False) == 5 + 2  # a multiply and an add


# ------------------------------------------------------ the engine against direct


def box(size, channels=2, spacing=1):
    del spacing
    return np.full((channels, 1, *size), 1 / (size[0] * size[1]), np.float32)


@pytest.mark.parametrize("size", [3, 4, 7, 11, 12, 15, 24, 25, 31, 33, 47, 63])
@pytest.mark.parametrize("dtype", DTYPES)
def test_box_filters_agree_with_direct_for_every_dtype_and_border(size, dtype):
    x = random_image((2, 75, 80), dtype)
    # direct sums up to 3969 float32 taps one by one: 1e-5 of the largest output
    agrees_with_direct_in_every_border(x, box((size, size)), "separable", 5e-5)


@pytest.mark.parametrize(("size", "dilation"), [((11, 13), 2), ((15, 5), 3), ((31, 31), 2)])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "symmetric"])
def test_dilated_boxes_agree_with_direct(size, dilation, mode):
    x = random_image((1, 90, 70), np.float32)
    weight = np.full((1, 1, *size), 2.0, np.float32)  # a weight that is not 1 / taps
    options = dict(padding="same", dilation=dilation, padding_mode=mode)
    got = conv2d(x, weight, algorithm="separable", **options)
    expected = conv2d(x, weight, algorithm="direct", **options)
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-5 * np.abs(expected).max())


def test_boxes_sum_blocks_of_the_image_whatever_the_bands(monkeypatch):
    """Bands of any height (here 1 to 5 halos, so every band starts on another phase of
    the blocks) give the same bits."""
    x = random_image((3, 150, 64), np.float32)
    weight = box((15, 15), channels=3)
    options = dict(padding="same", groups=3, padding_mode="reflect", algorithm="separable")
    whole = conv2d(x, weight, **options)
    for band_bytes in (1, 2000, 5000, 10_000):
        monkeypatch.setattr(engines, "BAND_BYTES", band_bytes)
        assert np.array_equal(conv2d(x, weight, **options), whole), band_bytes


def test_box_rows_in_chunks_of_rows_give_the_same_bits(monkeypatch):
    """Wide images sum their box rows a few rows at a time (ROWS_CHUNK_BYTES): each row is
    summed on its own, so chunks of any size give the band's bits."""
    x = random_image((2, 150, 64), np.float32)
    weight = box((31, 9))
    options = dict(padding="same", groups=2, padding_mode="reflect", algorithm="separable")
    whole = conv2d(x, weight, **options)
    passes = []
    real = engines.Separable._pass
    monkeypatch.setattr(engines.Separable, "_pass", lambda *a: passes.append(1) or real(*a))
    for chunk_bytes in (1, 300, 5000):
        monkeypatch.setattr(engines, "ROWS_CHUNK_BYTES", chunk_bytes)
        passes.clear()
        assert np.array_equal(conv2d(x, weight, **options), whole), chunk_bytes
        assert len(passes) > 2  # two channels, more than one chunk each
    expected = conv2d(x, weight, **{**options, "algorithm": "direct"})
    np.testing.assert_allclose(whole, expected, rtol=0, atol=5e-5 * np.abs(expected).max())


def test_a_tall_box_column_runs_no_blas_and_no_doubling(monkeypatch):
    x = random_image((1, 80, 50), np.float32)
    weight = np.full((1, 1, 31, 1), 1 / 31, np.float32)
    expected = conv2d(x, weight, padding="same", algorithm="direct")
    monkeypatch.setattr(np, "matmul", None)  # any BLAS call would fail
    monkeypatch.setattr(engines, "window_sum", None)  # and any doubling
    got = conv2d(x, weight, padding="same", algorithm="separable")
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6 * np.abs(expected).max())


def test_rows_with_nan_or_inf_spread_as_in_the_direct_sum():
    x = random_image((2, 60, 70), np.float32)
    x[0, 20, 30], x[0, 40, 5] = np.nan, np.inf
    x[1, 10, 10], x[1, 12, 12] = np.inf, -np.inf
    weight = box((15, 15))
    options = dict(padding="same", groups=2, padding_mode="reflect")
    with np.errstate(invalid="ignore", over="ignore"):
        got = conv2d(x, weight, algorithm="separable", **options)
        expected = conv2d(x, weight, algorithm="direct", **options)
    for test in (np.isnan, np.isposinf, np.isneginf):
        assert np.array_equal(test(got), test(expected)), test.__name__
    finite = np.isfinite(expected)
    assert finite.mean() > 0.5
    np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=1e-5)


# --------------------------------------------------------- strips: the whole's bits


@pytest.mark.parametrize(("size", "dilation"), [((11, 11), 1), ((16, 9), 1), ((31, 5), 1),
                                                ((13, 3), 2)])  # fmt: skip
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "symmetric"])
def test_strips_of_1_to_7_rows_give_the_whole_images_bits(size, dilation, mode):
    x = random_image((2, 47, 23), np.float32)
    weight = box(size)
    kh, kw = size
    eh = dilation * (kh - 1) + 1
    top, bottom = (eh - 1) // 2, eh // 2
    left, right = (kw - 1) // 2 * dilation, kw // 2 * dilation

    def run(strip, pad_top, pad_bottom, first):
        pads = (pad_top, pad_bottom, left, right)
        return conv2d(strip, weight, padding=pads, dilation=dilation, groups=2,
                      padding_mode=mode, algorithm="separable", rows_from=first)  # fmt: skip

    assert vertical_by_blocks(np.ones(kh), 1, x.shape[-1] * 4)
    whole = run(x, top, bottom, 0)
    for rows in range(1, 8):
        assert np.array_equal(strips_of(run, x, rows, top, bottom), whole), rows


def test_strips_need_their_first_row_to_give_the_whole_images_bits():
    """The test above can fail: the same strips without ``rows_from`` anchor their blocks
    to themselves, and some output rows round differently."""
    x = random_image((2, 47, 23), np.float32)
    weight = box((15, 15))

    def run(strip, pad_top, pad_bottom, first):
        return conv2d(strip, weight, padding=(pad_top, pad_bottom, 7, 7), groups=2,
                      padding_mode="reflect", algorithm="separable")  # fmt: skip

    whole = run(x, 7, 7, 0)
    assert not all(np.array_equal(strips_of(run, x, rows, 7, 7), whole) for rows in range(1, 8))


@pytest.mark.parametrize(
    "texts", [["box:31"], ["gaussian:1", "box:15"], ["box:12", "box:11,d=2", "sobel"]]
)
def test_apply_strips_of_a_chain_of_boxes_give_the_whole_images_bits(texts, monkeypatch):
    """Through the pipeline (what ``convcli apply`` runs): each step is told where its
    strip starts in its own input, after the halo the steps before consumed."""
    from convcli import pipeline
    from convcli.kernels import parse_step
    from convcli.pipeline import plan_strips, run_steps

    # Separable for every (rank-1) step: once scipy.fft is imported, the cost model
    # prices FFT lower on these small images, and FFT never runs in strips.
    monkeypatch.setattr(pipeline, "choose_algorithm", lambda *args: ("separable", "forced"))

    image = (RNG.random((2, 90, 41)) * 255).astype(np.float32) / np.float32(7)  # not whole
    steps = [parse_step(text) for text in texts]
    whole, _ = run_steps(image, steps, image=True)
    plan = plan_strips((2, 90, 41), steps)
    assert plan is not None
    for size in (1, 3, 7, 17):
        pieces = []
        for start in range(0, 90, size):
            stop = min(90, start + size)
            first, last = plan.rows_needed(start, stop)
            rows, first_row = plan.run(image[:, first:last], first)
            pieces.append(rows[:, start - first_row : stop - first_row])
        assert np.array_equal(np.concatenate(pieces, axis=1), whole), size


# ---------------------------------------------------------------- the cost model


def _costs(size):
    weight = np.full((3, 1, size, size), 1 / size**2)
    x = np.broadcast_to(np.zeros((), np.float32), (3, 2160, 3840))
    problem = prepare_conv(x, weight, padding="same", groups=3, padding_mode="reflect")
    return _choice.estimate_costs(problem)


def test_box_columns_are_summed_by_blocks_when_tall_and_wide(monkeypatch):
    monkeypatch.undo()  # the engine's own rule
    row = 3840 * 4  # a 4K row of float32
    assert not vertical_by_blocks(np.ones(engines.MIN_BLOCK_ROWS - 1), 1, 10 * row)
    assert not vertical_by_blocks(np.ones(15), 1, row)  # 230 kB: BLAS reads them in L2
    assert not vertical_by_blocks(np.ones(17), 1, row)  # 261 kB: just under 256 KiB
    assert vertical_by_blocks(np.ones(18), 1, row)  # 276 kB
    assert vertical_by_blocks(np.ones(63), 1, row)
    assert not vertical_by_blocks(np.ones(63), 1, 1024 * 4)  # 258 kB: under 256 KiB
    assert vertical_by_blocks(np.ones(11), 1, 11314 * 4)  # 64 MP
    assert not vertical_by_blocks(np.ones(31), 2, row)  # strided: not a window
    assert not vertical_by_blocks(np.r_[np.ones(30), 2.0], 1, row)  # not a box


def test_narrow_images_keep_blas_for_their_box_columns(monkeypatch):
    monkeypatch.undo()
    calls = []
    real = engines.spaced_block_sums
    monkeypatch.setattr(engines, "spaced_block_sums", lambda *a: calls.append(1) or real(*a))
    x = random_image((1, 90, 100), np.float32)
    weight = np.full((1, 1, 31, 31), 1 / 961, np.float32)
    got = conv2d(x, weight, padding="same", algorithm="separable")
    assert not calls  # 31 rows of 400 bytes: one BLAS product per row
    monkeypatch.setattr(engines, "BLOCK_COLUMN_BYTES", 31 * 400)
    again = conv2d(x, weight, padding="same", algorithm="separable")
    assert calls
    np.testing.assert_allclose(again, got, rtol=0, atol=2e-5 * np.abs(got).max())


@pytest.mark.parametrize("size", [3, 5, 9, 11, 15, 21, 31, 47, 63])
def test_auto_runs_every_box_as_separable(size, monkeypatch):
    monkeypatch.undo()
    costs = _costs(size)
    assert min(costs, key=costs.__getitem__) == "separable", costs


def test_box_estimates_stay_nearly_flat_from_18_to_63_taps(monkeypatch):
    monkeypatch.undo()
    # From 18 taps a 4K box's columns go by blocks: the same passes whatever the height
    # (only their calls grow), and the rows' doubling grows with log2: a 63x63 box is
    # estimated within 1.5x of an 18x18.
    estimates = {size: _costs(size)["separable"] for size in (18, 31, 63)}
    assert estimates[18] < estimates[31] < estimates[63] < 1.5 * estimates[18]


def test_box_block_calls_are_counted_per_band_of_the_engine(monkeypatch):
    monkeypatch.undo()
    problem = prepare_conv(
        np.broadcast_to(np.zeros((), np.float32), (3, 2160, 3840)),
        np.full((3, 1, 63, 63), 1 / 63**2),
        padding="same",
        groups=3,
        padding_mode="reflect",
    )
    rows = engines.separable_band_rows(problem)
    assert rows == engines.BAND_BYTES // ((3840 + 62) * 4)  # 2 MB of input rows
    with_calls = _choice.estimate_costs(problem)["separable"]
    bands = -(-2160 // rows)
    calls = 3 * bands * (2 * 63 + 3 + 1)  # 3 channels: prefixes, suffixes, sums, scale
    assert with_calls > calls * _choice.NS_CALL


def test_infinities_in_different_windows_warn_nothing():
    import warnings

    x = random_image((1, 80, 60), np.float32)
    x[0, 10, 5], x[0, 50, 40] = np.inf, -np.inf  # never in one 11x11 window
    x[0, 30, 30] = np.float32(3e38)  # a block of big values: no overflow but the direct's
    weight = np.full((1, 1, 11, 11), 1.0, np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = conv2d(x, weight, padding="same", algorithm="separable")
        expected = conv2d(x, weight, padding="same", algorithm="direct")
    for test in (np.isnan, np.isposinf, np.isneginf):
        assert np.array_equal(test(got), test(expected)), test.__name__
