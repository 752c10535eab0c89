"""Issue 14's engines: BLAS on one thread inside the core's threads, box filters by
doubling, dense kernels by BLAS columns, medians by shared min/max networks.

Every engine is checked against the existing direct path (or SciPy's median) on random
inputs of every dtype convcli reads, every border mode and odd and even sizes, and for
strips of 1 to 7 rows against the whole image, bit for bit (``convcli apply`` filters big
images in strips and promises the whole image's pixels). ``auto`` is checked on the
cost model's choices, not on timings.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy import ndimage

from convcli import _threads
from convcli.core import _engines as engines
from convcli.core import _median, choose_algorithm, conv2d, median_filter2d
from convcli.core._engines import rows_independent
from convcli.core._median import compile_median
from convcli.core.padding import PADDING_MODES
from convcli.core.pool import choose_median, median_dtype

RNG = np.random.default_rng(14)
DTYPES = [np.uint8, np.uint16, np.float32, np.float64]  # what imageio and .npy give
SCIPY_MODES = {
    "zeros": "constant",
    "reflect": "mirror",
    "replicate": "nearest",
    "circular": "wrap",
    "symmetric": "reflect",
}


def random_image(shape, dtype, high=None):
    if np.dtype(dtype).kind == "u":
        top = np.iinfo(dtype).max if high is None else high
        return RNG.integers(0, top, shape, endpoint=True).astype(dtype)
    return (RNG.normal(size=shape) * (high or 1)).astype(dtype)


def strips_of(function, x, rows, top, bottom):
    """``function(strip, pad_top, pad_bottom, first)`` over strips of ``rows`` output rows,
    each read with its halo and padded only at the image's own edges, as the pipeline
    runs them (widened to the kernel's height near the edges); ``first`` is the strip's
    first row in the image (the core's ``rows_from``); the rows stacked."""
    height = x.shape[-2]
    parts = []
    for start in range(0, height, rows):
        stop = min(start + rows, height)
        first, last = max(0, start - top), min(height, stop + bottom)
        while (last - first) + (top if first == 0 else 0) + (bottom if last == height else 0) < (
            top + bottom + 1
        ) or last - first <= max(top, bottom):  # reflect: pads smaller than the strip
            first, last = max(0, first - 1), min(height, last + 1)
        pad_top, pad_bottom = (top if first == 0 else 0), (bottom if last == height else 0)
        out = function(x[..., first:last, :], pad_top, pad_bottom, first)
        offset = first + top - pad_top  # the image row of the strip's first output row
        parts.append(out[..., start - offset : stop - offset, :])
    return np.concatenate(parts, axis=-2)


# ------------------------------------------------------------------ BLAS threads


@pytest.fixture
def fake_blas(monkeypatch):
    """A stand-in for OpenBLAS's thread setting: the logic, whatever BLAS is installed."""
    state = {"threads": 4, "calls": 0}

    def setter(count):
        state["threads"] = count
        state["calls"] += 1

    monkeypatch.setattr(_threads, "_blas_controls", [(setter, lambda: state["threads"])])
    monkeypatch.setattr(_threads, "_blas_limits", [])
    monkeypatch.setattr(_threads, "_blas_saved", [])
    return state


def test_blas_limits_nest_and_restore(fake_blas):
    with _threads.blas_threads(2):
        assert fake_blas["threads"] == 2
        with _threads.blas_threads(1):
            assert fake_blas["threads"] == 1
            with _threads.blas_threads(3):  # never raised above an open limit
                assert fake_blas["threads"] == 1
        assert fake_blas["threads"] == 2
    assert fake_blas["threads"] == 4  # its own setting back
    calls = fake_blas["calls"]
    with _threads.blas_threads(8):  # above BLAS's own setting: nothing to change
        assert fake_blas["threads"] == 4
    assert fake_blas["calls"] == calls


def test_blas_limit_is_restored_after_an_error(fake_blas):
    with pytest.raises(RuntimeError), _threads.blas_threads(1):
        raise RuntimeError("boom")
    assert fake_blas["threads"] == 4 and not _threads._blas_limits


def test_blas_limits_from_two_threads_are_counted(fake_blas):
    inside, release = threading.Event(), threading.Event()

    def hold():
        with _threads.blas_threads(1):
            inside.set()
            release.wait(5)

    worker = threading.Thread(target=hold)
    worker.start()
    inside.wait(5)
    with _threads.blas_threads(2):
        assert fake_blas["threads"] == 1  # the other thread's limit still holds
    release.set()
    worker.join()
    assert fake_blas["threads"] == 4


def test_core_band_threads_hold_blas_to_one_thread(fake_blas, monkeypatch):
    seen = []
    real = engines.Separable.run

    def spy(self, *args):
        seen.append((threading.get_ident(), fake_blas["threads"]))
        return real(self, *args)

    monkeypatch.setattr(engines.Separable, "run", spy)
    monkeypatch.setattr(_threads.os, "sched_getaffinity", lambda _: {0, 1})
    x = RNG.normal(size=(3, 1000, 700)).astype(np.float32)  # 6 bands, two threads
    gauss = np.broadcast_to(np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256, (3, 1, 5, 5))
    conv2d(x, gauss, padding="same", groups=3, algorithm="separable")
    assert len({ident for ident, _ in seen}) == 2
    assert {threads for _, threads in seen} == {1}
    assert fake_blas["threads"] == 4
    seen.clear()
    conv2d(x[:, :20, :20], gauss, groups=3, algorithm="separable")  # small: one thread
    assert {threads for _, threads in seen} == {2}  # BLAS may use the cores, no more


def test_the_real_blas_is_found_and_capped():
    # NumPy's wheels ship OpenBLAS: not finding it would silently leave BLAS uncapped.
    assert _threads.blas_controls(), "no OpenBLAS found in this process"
    before = _threads.blas_thread_count()
    with _threads.blas_threads(1):
        assert _threads.blas_thread_count() == 1
    assert _threads.blas_thread_count() == before


# ---------------------------------------------------------------- box by doubling


@pytest.mark.parametrize("size", [3, 5, 9, 16, 31, 63])
@pytest.mark.parametrize("mode", PADDING_MODES)
def test_box_filters_agree_with_direct(size, mode):
    x = random_image((2, 70, 90), np.float32)
    weight = np.full((2, 1, size, size), 1 / size**2, np.float32)
    got = conv2d(x, weight, padding="same", groups=2, padding_mode=mode, algorithm="separable")
    expected = conv2d(x, weight, padding="same", groups=2, padding_mode=mode, algorithm="direct")
    # direct sums up to 3969 float32 taps one by one: 1e-5 of the largest output for 63x63
    np.testing.assert_allclose(got, expected, rtol=0, atol=5e-5 * np.abs(expected).max())


def test_tall_box_vertical_pass_is_summed_by_blocks_not_blas(monkeypatch):
    monkeypatch.setattr(engines, "BLOCK_COLUMN_BYTES", 0)  # a narrow image stands for a wide one
    x = random_image((1, 80, 50), np.float32)
    weight = np.full((1, 1, 31, 31), 1 / 961, np.float32)
    expected = conv2d(x, weight, padding="same", algorithm="direct")
    monkeypatch.setattr(np, "matmul", None)  # any BLAS call would fail
    got = conv2d(x, weight, padding="same", algorithm="separable")
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * np.abs(expected).max())


# ------------------------------------------------------------------ dense columns


@pytest.mark.parametrize("size", [(3, 3), (5, 5), (7, 7), (11, 11), (4, 6), (1, 5), (5, 1)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_columns_agree_with_direct(size, dtype):
    x = random_image((3, 29, 41), dtype, high=255 if dtype == np.uint16 else None)
    weight = RNG.normal(size=(3, 1, *size)).astype(np.float32)
    agrees_with_direct_in_every_border(x, weight, "columns", 1e-5)


def agrees_with_direct_in_every_border(x, weight, algorithm, tolerance):
    """``algorithm`` gives ``direct``'s values within ``tolerance`` of the largest output,
    depthwise ('same' size), in every border mode."""
    for mode in PADDING_MODES:
        options = dict(padding="same", groups=x.shape[0], padding_mode=mode)
        got = conv2d(x, weight, algorithm=algorithm, **options)
        expected = conv2d(x, weight, algorithm="direct", **options)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=0, atol=tolerance * scale, err_msg=mode)


# Column stride 1: the shifted rows summed by a product with ones (skewed strides, dilated
# 1 and 2 apart); else by NumPy adds.
@pytest.mark.parametrize(("stride", "dilation"), [((2, 3), (2, 1)), ((2, 1), (2, 1)), (1, (1, 2))])
def test_columns_with_stride_dilation_multiplier_bias_and_strided_input(stride, dilation):
    base = RNG.normal(size=(2, 60, 90)).astype(np.float32)
    x = base[:, ::2, 1::3]  # not readable by BLAS in place: copied per band
    weight = RNG.normal(size=(6, 1, 3, 5)).astype(np.float32)  # depth multiplier 3
    bias = RNG.normal(size=6)
    options = dict(bias=bias, stride=stride, padding=(1, 2, 3, 0), dilation=dilation, groups=2)
    got = conv2d(x, weight, algorithm="columns", **options)
    expected = conv2d(x, weight, algorithm="direct", **options)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize(("stride", "products"), [(1, 1), (2, 0)])  # one band
def test_columns_sums_shifted_rows_by_a_product_at_column_stride_1(stride, products, monkeypatch):
    calls = []
    real = engines.Columns._skewed_sums
    monkeypatch.setattr(
        engines.Columns, "_skewed_sums", lambda self, *a: calls.append(1) or real(self, *a)
    )
    x = random_image((1, 30, 40), np.float32)
    weight = RNG.normal(size=(1, 1, 5, 5)).astype(np.float32)
    conv2d(x, weight, stride=stride, algorithm="columns")
    assert len(calls) == products


def test_columns_needs_one_input_channel_per_group():
    with pytest.raises(ValueError, match="algorithm='columns' needs one input channel"):
        conv2d(np.ones((2, 8, 8)), np.ones((1, 2, 3, 3)), algorithm="columns")
    assert "columns" not in _costs((2, 8, 8), np.ones((1, 2, 3, 3)))


def test_columns_runs_on_two_threads_and_agrees():
    x = random_image((3, 300, 400), np.float32)
    weight = RNG.normal(size=(3, 1, 7, 7)).astype(np.float32)
    options = dict(padding="same", groups=3, padding_mode="reflect")
    got = conv2d(x, weight, algorithm="columns", **options)
    expected = conv2d(x, weight, algorithm="direct", **options)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


# ------------------------------------------------- horizontal banded products


def gaussian(size, sigma=None):
    taps = np.arange(size) - size // 2
    factor = np.exp(-0.5 * (taps / (sigma or size / 6)) ** 2)
    return factor / factor.sum()


@pytest.fixture
def banded_calls(monkeypatch):
    """Counts the banded products run (the engine's other paths would agree too)."""
    calls = []
    real = engines.banded_product

    def spy(source, matrices, target, copies):
        calls.append(target.shape)
        return real(source, matrices, target, copies)

    monkeypatch.setattr(engines, "banded_product", spy)
    return calls


def test_banded_matrix_holds_the_factor_down_each_column():
    matrix = engines.banded_matrix(np.array([1.0, 2.0, 3.0]), 2, 3, np.dtype(np.float32))
    assert matrix.dtype == np.float32
    assert matrix.T.tolist() == [
        [1, 0, 2, 0, 3, 0, 0],
        [0, 1, 0, 2, 0, 3, 0],
        [0, 0, 1, 0, 2, 0, 3],
    ]


@pytest.mark.parametrize(
    ("factor", "stride", "spacing", "expected"),
    [
        (gaussian(13), 1, 1, True),  # 19 passes: 3.5 x 19 > 32 + 12 columns
        (gaussian(9), 1, 1, True),  # 13 passes: 45.5 > 40
        (gaussian(7), 1, 1, False),  # 10 passes: 35 < 38
        (gaussian(25), 1, 2, True),
        (gaussian(5), 1, 1, False),  # 7 passes
        (np.array([1.0, 2.0, 1.0]), 1, 1, False),  # Sobel's smoothing: 3 passes
        (np.full(15, 1 / 15), 1, 1, False),  # a box: summed by doubling
        (gaussian(13), 2, 1, False),  # strided: the passes skip the columns
    ],
)
def test_horizontal_by_product_where_passes_cost_more(factor, stride, spacing, expected):
    assert engines.horizontal_by_product(factor, stride, spacing) is expected


# Widths: one block and a tail; a chunk of 64 blocks, a block and a tail; one chunk exactly;
# whole blocks; dilated 2 apart; a tail alone.
@pytest.mark.parametrize(
    ("width", "size", "dilation"),
    [(37, 13, 1), (2100, 9, 1), (2048, 13, 1), (64, 25, 1), (70, 13, 2), (20, 11, 1)],
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_banded_products_agree_with_direct(width, size, dilation, dtype, banded_calls):
    x = random_image((3, 9, width), dtype, high=255 if dtype == np.uint16 else None)
    weight = np.broadcast_to(np.outer(gaussian(size), gaussian(size)), (3, 1, size, size))
    for mode in PADDING_MODES:
        options = dict(padding="same", dilation=dilation, groups=3, padding_mode=mode)
        got = conv2d(x, weight, algorithm="separable", **options)
        expected = conv2d(x.astype(np.float64), weight, algorithm="direct", **options)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * scale, err_msg=mode)
    assert banded_calls and all(shape[1] == width for shape in banded_calls)


def test_banded_products_add_up_the_input_channels(banded_calls):
    # Rank-1 kernels over 3 input channels: the second and third are added to the first.
    x = random_image((3, 30, 90), np.float32)
    weight = np.stack([np.outer(gaussian(11), gaussian(11)) * (c + 1) for c in range(3)])
    weight = np.stack([weight, -weight])
    got = conv2d(x, weight, padding=5, algorithm="separable")
    expected = conv2d(x.astype(np.float64), weight, padding=5, algorithm="direct")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5 * np.abs(expected).max())
    assert len(banded_calls) == 6  # one per channel pair


def test_rows_with_nan_or_inf_spread_as_in_the_direct_sum_and_warn_nothing(banded_calls):
    import warnings

    x = random_image((1, 40, 300), np.float32)
    x[0, 5, 100], x[0, 20, 7], x[0, 20, 250], x[0, 33, 299] = np.nan, np.inf, -np.inf, np.inf
    weight = np.outer(gaussian(13), gaussian(13))[None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = conv2d(x, weight, padding=6, algorithm="separable")
        expected = conv2d(x, weight, padding=6, algorithm="direct")
    assert banded_calls
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    assert np.array_equal(np.isposinf(got), np.isposinf(expected))
    assert np.array_equal(np.isneginf(got), np.isneginf(expected))
    finite = np.isfinite(expected)
    assert np.isfinite(got).sum() > 0.5 * got.size  # 13-row bands of NaN/inf, not the whole
    np.testing.assert_allclose(got[finite], expected[finite], rtol=0, atol=1e-6)


def test_auto_estimates_the_banded_horizontal_pass():
    # A 13-tap Gaussian at 4K: 44 banded columns per output, not 19 passes.
    weight = np.broadcast_to(np.outer(gaussian(13, 2), gaussian(13, 2)), (3, 1, 13, 13))
    costs = _costs((3, 2160, 3840), weight, padding="same", groups=3)
    outputs = 3 * 2160 * 3840
    per_output = engines.BANDED_BLOCK + 12
    from convcli.core import _choice

    banded = outputs * per_output * _choice.NS_PASS / engines.BANDED_COLUMNS_PER_PASS
    passes = outputs * 19 * _choice.NS_PASS
    assert banded < costs["separable"] < banded + 0.8 * passes


# -------------------------------------------------------- strips: the whole's bits


@pytest.mark.parametrize(
    ("algorithm", "kernel"),
    [
        ("columns", RNG.normal(size=(5, 5))),
        ("columns", RNG.normal(size=(4, 3))),  # even: pads 1 above, 2 below
        ("separable", np.full((9, 9), 1 / 81)),  # box: BLAS down, doubling across (tall boxes:
        # blocks anchored to the image, tests/test_box_sums.py)
        ("separable", np.full((7, 5), 1.0)),
        ("separable", np.outer(gaussian(9), gaussian(13))),  # banded products across
        ("direct", RNG.normal(size=(3, 3))),
    ],
)
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "symmetric"])
def test_strips_of_1_to_7_rows_give_the_whole_images_bits(algorithm, kernel, mode):
    assert rows_independent(algorithm, (3, 1, *kernel.shape), 3)
    x = random_image((3, 23, 37), np.float32)
    weight = np.broadcast_to(kernel.astype(np.float32), (3, 1, *kernel.shape))
    kh, kw = kernel.shape
    top, bottom = (kh - 1) // 2, kh // 2
    left, right = (kw - 1) // 2, kw // 2

    def run(strip, pad_top, pad_bottom, first):
        pads = (pad_top, pad_bottom, left, right)
        return conv2d(strip, weight, padding=pads, groups=3, padding_mode=mode,
                      algorithm=algorithm, rows_from=first)  # fmt: skip

    whole = run(x, top, bottom, 0)
    for rows in range(1, 8):
        assert np.array_equal(strips_of(run, x, rows, top, bottom), whole), rows


# -------------------------------------------------------------- median networks


def scipy_median(x, kernel, mode):
    kh, kw = kernel
    origin = (0, (kh - 1) // 2 - kh // 2, (kw - 1) // 2 - kw // 2)  # our 'same': extra after
    return ndimage.median_filter(x, size=(1, kh, kw), mode=SCIPY_MODES[mode], origin=origin)


@pytest.mark.parametrize("kernel", [(5, 5), (7, 7), (9, 9), (4, 4), (3, 5), (2, 3), (11, 11)])
@pytest.mark.parametrize("dtype", [*DTYPES, np.int16, bool])
def test_median_network_equals_scipy(kernel, dtype):
    x = random_image((2, 19, 27), dtype) if dtype is not bool else RNG.random((2, 19, 27)) > 0.5
    for mode in PADDING_MODES:
        got = median_filter2d(x, kernel, padding_mode=mode, algorithm="network")
        expected = scipy_median(np.asarray(x).astype(got.dtype), kernel, mode)
        assert got.dtype == (np.float64 if dtype == np.float64 else np.float32)
        assert np.array_equal(got, expected), mode


@pytest.mark.parametrize("kernel", [(5, 5), (7, 7), (9, 9)])
def test_median_network_on_8_bit_images_with_ties(kernel):
    for high in (1, 3, 255):  # many equal values in every window
        x = random_image((3, 33, 45), np.uint8, high=high)
        for source in (x, x.astype(np.float32)):  # uint8, and an image read as float32
            for mode in PADDING_MODES:
                got = median_filter2d(source, kernel, padding_mode=mode)
                assert np.array_equal(got, scipy_median(x.astype(np.float32), kernel, mode))


def test_median_network_runs_in_tiles_on_two_threads():
    x = random_image((3, 300, 1500), np.uint8)  # tiles of rows and of columns
    for kernel in ((5, 5), (7, 3)):
        got = median_filter2d(x, kernel, padding_mode="replicate")
        assert np.array_equal(got, scipy_median(x.astype(np.float32), kernel, "replicate"))


def test_median_scratch_stays_bounded_for_networks_of_many_arrays(monkeypatch):
    # 15x15 keeps 332 arrays: with full-size tiles a thread held ~190 MB of them.
    scratch = []
    tile_calls = _median._tile_calls

    def measured(*args):
        source, calls, results = tile_calls(*args)
        buffers = {id(target.base): target.base.nbytes for *_, target in calls}
        scratch.append(sum(buffers.values()))
        return source, calls, results

    monkeypatch.setattr(_median, "_tile_calls", measured)
    x = random_image((1, 200, 4000), np.float32)
    median_filter2d(x, 15, algorithm="network")
    assert scratch and max(scratch) <= _median.SCRATCH_BYTES
    assert max(scratch) > _median.SCRATCH_BYTES // 2  # the tiles are not needlessly small


def test_median_with_nan_gives_nan_in_those_windows():
    x = RNG.random((1, 12, 12)).astype(np.float32)
    x[0, 6, 6] = np.nan
    got = median_filter2d(x, 5, algorithm="network")
    assert np.isnan(got[0, 4:9, 4:9]).all()
    assert not np.isnan(got[0, :2]).any()


@pytest.mark.parametrize("kernel", [(5, 5), (9, 9), (4, 6)])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "symmetric"])
def test_median_strips_of_1_to_7_rows_give_the_whole_images_bits(kernel, mode):
    x = random_image((2, 23, 30), np.float32)
    kh, kw = kernel
    top, bottom = (kh - 1) // 2, kh // 2
    left, right = (kw - 1) // 2, kw // 2

    def run(strip, pad_top, pad_bottom, first=0):  # a median's bits need no first row
        return median_filter2d(strip, kernel, padding=(pad_top, pad_bottom, left, right),
                               padding_mode=mode)  # fmt: skip

    whole = run(x, top, bottom)
    for rows in range(1, 8):
        assert np.array_equal(strips_of(run, x, rows, top, bottom), whole), rows


def test_median_dtype_narrows_only_whole_numbers_that_fit():
    assert median_dtype(np.array([[0.0, 255.0]], np.float32)) == np.uint8
    assert median_dtype(np.array([[0.0, 256.0]], np.float32)) == np.uint16
    assert median_dtype(np.array([[0.0, 0.5]], np.float32)) == np.float32
    assert median_dtype(np.array([[-1.0, 2.0]], np.float32)) == np.float32
    assert median_dtype(np.array([[np.nan, 2.0]], np.float32)) == np.float32
    assert median_dtype(np.array([[1e6, 2.0]])) == np.float64


@pytest.mark.parametrize(("value", "expected"), [(7.0, np.uint8), (7.5, np.float32)])
def test_median_dtype_checks_every_chunk_not_only_the_sample(value, expected):
    from convcli.core.pool import HOLDS_CHUNK

    flat = np.arange(3 * HOLDS_CHUNK + 5, dtype=np.float32) % 200
    flat[-1] = value  # past the sample's stride and in the last, short chunk
    assert median_dtype(flat.reshape(1, 1, -1)) == expected


def test_the_network_casts_tiles_in_and_out():
    # float32 planes of 8-bit values, run in uint8, stored as float32: the values of the
    # uint8 median, with no conversion of the whole image on either side.
    from convcli.core._median import median_by_network

    rng = np.random.default_rng(8)
    eight = rng.integers(0, 256, (2, 70, 90)).astype(np.uint8)
    expected = np.empty((2, 70, 90), np.uint8)
    median_by_network(eight, (5, 5), (2, 2, 2, 2), "reflect", expected)
    got = np.empty((2, 70, 90), np.float32)
    median_by_network(eight.astype(np.float32), (5, 5), (2, 2, 2, 2), "reflect", got, np.uint8)
    np.testing.assert_array_equal(got, expected.astype(np.float32))
    assert np.array_equal(
        got[0], ndimage.median_filter(eight[0].astype(np.float32), 5, mode="mirror")
    )


def test_network_sizes_stay_as_measured():
    # The pass counts the cost model and the README quote: blocks of 2 rows from 3x3 to
    # 9x9 (one output at a time: 22, 88, 234, 394), 4 at 15x15.
    programs = [compile_median(k, k) for k in (3, 5, 7, 9, 15)]
    assert [program.passes for program in programs] == [17, 57, 154, 227, 891]
    assert [program.width for program in programs] == [2, 2, 2, 2, 4]


@pytest.mark.parametrize("kernel", [(5, 5), (3, 7), (11, 11)])
def test_median_blocks_of_rows_cut_by_tiles_and_the_image_edge(kernel, monkeypatch):
    # Tiles of a few rows: the last block of a tile, or of the image, ends past its rows.
    assert compile_median(*kernel).width > 1
    monkeypatch.setattr(_median, "TILE_BYTES", 100)  # tiles of one block: 2 rows (11x11: 4)
    for height in range(1, 12):
        x = random_image((1, height, 41), np.uint8)
        for mode in ("reflect", "zeros"):
            got = median_filter2d(x, kernel, padding_mode=mode, algorithm="network")
            assert np.array_equal(got, scipy_median(x.astype(np.float32), kernel, mode)), height


def test_auto_median_picks_the_network_where_it_is_cheaper():
    for kernel in (3, 5, 7, 9, 15, (3, 7)):
        name, reason = choose_median((3, 2160, 3840), kernel)
        assert name == "network", reason
        assert "estimated:" in reason
    assert choose_median((3, 2160, 3840), 5, itemsize=1)[0] == "network"
    assert choose_median((3, 2160, 3840), 21)[0] == "scipy"  # too large for a network
    assert choose_median((3, 2160, 3840), 5, stride=2)[0] == "scipy"
    with pytest.raises(ValueError, match="algorithm='network' needs stride 1"):
        median_filter2d(np.ones((9, 9)), 3, stride=2, algorithm="network")
    with pytest.raises(ValueError, match="algorithm must be one of"):
        median_filter2d(np.ones((9, 9)), 3, algorithm="fast")


# ----------------------------------------------------------------- the cost model


def _costs(shape, weight, **options):
    from convcli.core._choice import estimate_costs
    from convcli.core.conv import prepare_conv

    x = np.broadcast_to(np.zeros((), np.float32), shape)
    return estimate_costs(prepare_conv(x, weight, **options))


def _auto(kernel):
    kernel = np.asarray(kernel, np.float32)
    weight = np.broadcast_to(kernel, (3, 1, *kernel.shape))
    return choose_algorithm(
        (3, 2160, 3840), weight, padding="same", groups=3, padding_mode="reflect"
    )


@pytest.mark.parametrize("size", [3, 5, 7, 9, 11])
def test_auto_runs_dense_kernels_by_columns(size):
    name, reason = _auto(RNG.normal(size=(size, size)))
    assert name == "columns", reason


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        (np.full((31, 31), 1 / 961), "separable"),  # box: blocks and doubling, no FFT
        (np.full((63, 63), 1 / 63**2), "separable"),
        (np.outer(*[np.exp(-0.5 * (np.arange(-6, 7) / 2) ** 2)] * 2), "separable"),
        ([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], "direct"),  # sparse +-1 taps
        (RNG.normal(size=(31, 31)), "fft"),
    ],
)
def test_auto_keeps_the_other_engines_where_they_are_cheaper(kernel, expected):
    name, reason = _auto(kernel)
    assert name == expected, reason


def test_box_estimate_grows_like_log_of_the_size():
    # Tall box filters cost a few passes down (blocks) and about log2(k) across, never k
    # multiply-adds.
    estimates = [_costs((3, 2160, 3840), np.full((3, 1, k, k), 1 / k**2), padding="same",
                        groups=3)["separable"] for k in (31, 63)]  # fmt: skip
    assert estimates[1] < 1.4 * estimates[0]


def _passes_tap_by_tap(weights, first=True):
    """What accumulate does, weight group by weight group (the reference count)."""
    counts: dict[float, int] = {}
    for weight in weights:
        if weight != 0:
            counts[float(weight)] = counts.get(float(weight), 0) + 1
    passes = 0
    for weight, count in counts.items():
        if abs(weight) != 1:
            passes += count if first else count + 1
            first = False
    units = counts.get(1.0, 0) + counts.get(-1.0, 0)
    if units:
        passes += units - 1 if first and units > 1 else units
    return passes


def test_accumulate_passes_counts_like_accumulate():
    from convcli.core._engines import accumulate_passes

    rng = np.random.default_rng(1)
    for _ in range(500):
        weights = rng.choice([0, 1, -1, 2, -2, 0.5, 3], size=int(rng.integers(1, 12)))
        for first in (True, False):
            assert accumulate_passes(weights, first) == _passes_tap_by_tap(weights, first)
    box = np.full((63, 63), 1 / 3969)
    assert accumulate_passes(box) == 3969  # 3968 adds and one multiply
