"""Pooling and the median filter: the issue's examples, PyTorch's values, every algorithm."""

from __future__ import annotations

import json
from unittest import mock

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convcli.core import pool
from convcli.core.padding import check_pads_fit
from convcli.core.pool import (
    AxisWindows,
    avg_pool2d,
    choose_median,
    choose_median_for,
    max_pool2d,
    median_filter2d,
    min_pool2d,
    pool_output_size,
)
from tests.conftest import DATA, fuzz_examples

FUNCTIONS = {"max": max_pool2d, "min": min_pool2d, "avg": avg_pool2d}
ARANGE9 = np.arange(9).reshape(3, 3)
ARANGE16 = np.arange(16).reshape(4, 4)


# ------------------------------------------------------------------ the cases


def test_two_by_two_stride_one_on_arange9():
    assert max_pool2d(ARANGE9, 2, stride=1).tolist() == [[4, 5], [7, 8]]
    assert avg_pool2d(ARANGE9, 2, stride=1).tolist() == [[2, 3], [5, 6]]
    assert min_pool2d(ARANGE9, 2, stride=1).tolist() == [[0, 1], [3, 4]]


def test_max_pool_on_arange16():
    assert max_pool2d(ARANGE16, 3).tolist() == [[10]]
    assert max_pool2d(ARANGE16, 3, stride=2, padding=1).tolist() == [[5, 7], [13, 15]]
    assert max_pool2d(ARANGE16, (2, 3), stride=(2, 3), padding=(0, 1)).tolist() == [
        [5, 7],
        [13, 15],
    ]


def test_two_channels_stay_two_channels():
    two = np.stack([ARANGE16, -ARANGE16])
    out = max_pool2d(two, 2)
    assert out.shape == (2, 2, 2)
    assert out.tolist() == [[[5, 7], [13, 15]], [[0, -2], [-8, -10]]]
    assert avg_pool2d(two[None], 2).shape == (1, 2, 2, 2)


def test_ceil_mode_never_starts_a_window_in_the_right_padding():
    assert pool_output_size(5, 2, 2, 1, 1, ceil_mode=True) == 3
    x = np.arange(25).reshape(5, 5)
    out = max_pool2d(x, 2, stride=2, padding=1, ceil_mode=True)
    assert out.tolist() == [[0, 2, 4], [10, 12, 14], [20, 22, 24]]


def test_count_include_pad_counts_padding_but_not_the_overhang():
    x = np.ones((5, 5))
    # Windows of 3 rows starting at -1, 1, 3, 5->dropped; the last (3..5) overhangs by one
    # past the padding... here padding 1 reaches 5, so it holds 3 counted rows.
    counted = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
    assert counted.tolist() == [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9], [4 / 9, 6 / 9, 4 / 9]]
    # 6 wide, stride 4, no padding, ceil: the second window 4..6 overhangs 6 and counts 2.
    assert avg_pool2d(np.ones((1, 6)), (1, 3), stride=(1, 4), ceil_mode=True).tolist() == [
        [1.0, 1.0]
    ]
    real_only = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    assert np.allclose(real_only, 1.0)


def test_divisor_override_replaces_the_divisor():
    assert avg_pool2d(ARANGE16, 2, divisor_override=1).tolist() == [[10, 18], [42, 50]]
    assert avg_pool2d(ARANGE16, 2, padding=1, divisor_override=-2).tolist() == [
        [0, -1.5, -1.5],
        [-6, -15, -9],
        [-6, -13.5, -7.5],
    ]


# ---------------------------------------------------------------- against PyTorch


def _load_fixture():
    with np.load(DATA / "core_pool_torch.npz", allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}  # NpzFile re-reads on each access
    return json.loads(str(arrays.pop("cases"))), arrays


CASES, FIXTURE = _load_fixture()
ACCEPTED = [case for case in CASES if "shape" in case]
REJECTED = [case for case in CASES if "error" in case]
PARAMETERS = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "count_include_pad",
              "divisor_override")  # fmt: skip


def _arguments(case: dict) -> dict:
    return {
        name: tuple(value) if isinstance(value, list) else value
        for name, value in case.items()
        if name in PARAMETERS
    }


def test_fixture_is_broad():
    ops = {case["op"] for case in ACCEPTED}
    assert ops == {"max", "min", "avg"}
    assert len(ACCEPTED) > 4000
    assert {str(case["kernel_size"]) for case in ACCEPTED} >= {str(k) for k in range(1, 8)}
    assert any(case.get("ceil_mode") and case.get("padding") for case in ACCEPTED)
    assert any(case.get("count_include_pad") is False for case in ACCEPTED)
    assert any(case.get("divisor_override") for case in ACCEPTED)
    assert any(case.get("dilation") not in (None, 1) for case in ACCEPTED)


@pytest.mark.parametrize("algorithm", ["auto", "direct", "separable"])
def test_values_agree_with_torch(algorithm):
    mismatches = []
    for case in ACCEPTED:
        x = FIXTURE[case["input"]]
        expected = FIXTURE["values"][case["offset"] : case["offset"] + int(np.prod(case["shape"]))]
        expected = expected.reshape(case["shape"])
        got = FUNCTIONS[case["op"]](x, **_arguments(case), algorithm=algorithm)
        scale = max(1.0, float(np.abs(expected[np.isfinite(expected)]).max(initial=0)))
        if (
            got.dtype != np.float32
            or got.shape != expected.shape
            or not np.allclose(got, expected, rtol=0, atol=1e-5 * scale)
        ):
            mismatches.append(case)
    assert mismatches == []


def test_reshape_algorithm_agrees_with_torch_where_it_applies():
    checked = 0
    for case in ACCEPTED:
        x = FIXTURE[case["input"]]
        args = _arguments(case)
        try:
            got = FUNCTIONS[case["op"]](x, **args, algorithm="reshape")
        except ValueError as error:
            assert "algorithm='reshape' needs non-overlapping windows" in str(error)
            continue
        expected = FIXTURE["values"][case["offset"] : case["offset"] + got.size]
        assert np.allclose(got.ravel(), expected, rtol=0, atol=1e-5 * 4), case
        checked += 1
    assert checked > 50


def test_float64_stays_float64_and_agrees():
    for case in ACCEPTED[::25]:
        x = FIXTURE[case["input"]].astype(np.float64)
        expected = FIXTURE["values"][case["offset"] : case["offset"] + int(np.prod(case["shape"]))]
        got = FUNCTIONS[case["op"]](x, **_arguments(case))
        assert got.dtype == np.float64
        assert np.allclose(got.ravel(), expected, rtol=0, atol=1e-5 * 4), case


@pytest.mark.parametrize("case", REJECTED, ids=lambda c: f"{c['op']}-{c['torch_error'][:40]}")
def test_rejected_like_torch(case):
    x = FIXTURE[case["input"]]
    with pytest.raises(ValueError, match=case["error"]):
        FUNCTIONS[case["op"]](x, **_arguments(case))


# ------------------------------------------------------------- messages and inputs


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: max_pool2d(ARANGE16, 0, stride=1), "kernel_size must be >= 1, got 0"),
        (lambda: max_pool2d(ARANGE16, 2, stride=(1, 0)), "stride must be >= 1, got (1, 0)"),
        (lambda: max_pool2d(ARANGE16, 2, dilation=0), "dilation must be >= 1, got 0"),
        (lambda: avg_pool2d(ARANGE16, 2, padding=-1), "padding must be >= 0, got -1"),
        (
            lambda: max_pool2d(ARANGE16, 2, padding=2),
            "padding must be at most half the kernel size (kernel_size // 2 = 1) on each "
            "side, got 2",
        ),
        (
            lambda: max_pool2d(ARANGE16, 5),
            "kernel_size 5 (dilation 1, padding 0) does not fit the input 4x4: "
            "the output would be 0x0",
        ),
        (
            lambda: avg_pool2d(ARANGE16, 2, divisor_override=0),
            "divisor_override must be non-zero, got 0",
        ),
        (
            lambda: avg_pool2d(ARANGE16, 2, divisor_override=2.5),
            "divisor_override must be a non-zero integer, got 2.5",
        ),
        (lambda: max_pool2d(ARANGE16, 2.0), "kernel_size must be an integer, got 2.0"),
        (lambda: max_pool2d(ARANGE16, (2, 2, 2)), "kernel_size must be an int or a pair"),
        (lambda: max_pool2d(ARANGE16, 2, algorithm="fft"), "algorithm must be one of"),
        (lambda: max_pool2d(np.zeros(4), 2), "x must have shape (H, W), (C, H, W) or (N, C, H, W)"),
        (lambda: max_pool2d(np.zeros((1, 0, 4, 4)), 2), "x must not have an empty axis"),
        (lambda: max_pool2d(np.zeros((4, 4), complex), 2), "x must hold real numbers"),
        (lambda: max_pool2d(ARANGE16, 3, stride=1, algorithm="reshape"), "algorithm='reshape'"),
    ],
)
def test_error_messages_name_the_parameter(call, message):
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_ranks_are_kept_and_agree():
    x = np.random.default_rng(0).normal(size=(2, 3, 7, 9)).astype(np.float32)
    batch = max_pool2d(x, 3, stride=2, padding=1)
    assert batch.shape == (2, 3, 4, 5)
    assert np.array_equal(max_pool2d(x[1], 3, stride=2, padding=1), batch[1])
    assert np.array_equal(max_pool2d(x[1, 2], 3, stride=2, padding=1), batch[1, 2])
    assert max_pool2d(np.zeros((0, 3, 4, 4)), 2).shape == (0, 3, 2, 2)


@pytest.mark.parametrize(
    ("dtype", "expected"),
    [
        (np.float32, np.float32),
        (np.float64, np.float64),
        (np.uint8, np.float32),
        (np.int64, np.float32),
        (np.float16, np.float32),
        (bool, np.float32),
    ],  # fmt: skip
)
def test_dtypes(dtype, expected):
    for function in FUNCTIONS.values():
        assert function(ARANGE16.astype(dtype), 2).dtype == expected
    assert median_filter2d(ARANGE16.astype(dtype), 3).dtype == expected


def test_integer_input_is_computed_in_float():
    assert avg_pool2d(np.array([[1, 2], [2, 2]], np.uint8), 2).tolist() == [[1.75]]


def test_padding_never_wins_and_all_padding_windows_give_infinity():
    negative = -1.0 - ARANGE16
    assert max_pool2d(negative, 3, stride=1, padding=1)[0, 0] == -1
    assert min_pool2d(ARANGE16 + 1, 3, stride=1, padding=1)[3, 3] == 11
    # torch: max_pool2d(arange(4), (1, 2), dilation=(1, 5), padding=(0, 1)) -> -inf
    row = np.arange(4.0).reshape(1, 4)
    for algorithm in ("auto", "direct", "separable"):
        assert max_pool2d(
            row, (1, 2), dilation=(1, 5), padding=(0, 1), algorithm=algorithm
        ).tolist() == [[-np.inf]]
        assert min_pool2d(
            row, (1, 2), dilation=(1, 5), padding=(0, 1), algorithm=algorithm
        ).tolist() == [[np.inf]]


def test_nan_propagates_like_torch():
    x = np.zeros((4, 4), np.float32)
    x[1, 1] = np.nan
    for function in (max_pool2d, min_pool2d, avg_pool2d):
        assert np.isnan(function(x, 2)).tolist() == [[True, False], [False, False]]


def test_same_and_four_value_padding_extensions():
    x = np.random.default_rng(1).normal(size=(3, 9, 8)).astype(np.float32)
    same = max_pool2d(x, 3, stride=1, padding="same")
    assert same.shape == x.shape
    assert np.array_equal(same, max_pool2d(x, 3, stride=1, padding=1))
    # Even kernel: TensorFlow's rule puts the odd pixel of padding after.
    even = min_pool2d(x, 2, stride=1, padding="same")
    assert np.array_equal(even, min_pool2d(x, 2, stride=1, padding=(0, 1, 0, 1)))
    assert np.array_equal(even[:, :-1, :-1], min_pool2d(x, 2, stride=1))
    assert max_pool2d(x, 3, padding="same").shape == (3, 3, 3)  # ceil(9/3), ceil(8/3)
    assert np.array_equal(max_pool2d(x, 2, padding="valid"), max_pool2d(x, 2))


# --------------------------------------------- every algorithm agrees with the direct one


@st.composite
def pooling_problems(draw):
    height, width = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    kernel = (draw(st.integers(1, 9)), draw(st.integers(1, 9)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple(draw(st.integers(0, kernel[i // 2] // 2)) for i in range(4))
    ceil_mode = draw(st.booleans())
    seed = draw(st.integers(0, 2**32 - 1))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    x = np.random.default_rng(seed).normal(size=(2, height, width)).astype(dtype)
    return x, {"kernel_size": kernel, "stride": stride, "padding": padding,
               "ceil_mode": ceil_mode}, dilation  # fmt: skip


def _fits(x, args, dilation) -> bool:
    try:
        pool._pool_windows(x.shape[-2:], dilation=dilation, **args)
    except ValueError:
        return False
    return True


@settings(max_examples=fuzz_examples(300), deadline=None)
@given(
    problem=pooling_problems(),
    strip_bytes=st.sampled_from([1, 200, 1 << 20]),
    threads=st.booleans(),
)
def test_algorithms_agree_with_direct(problem, strip_bytes, threads):
    x, args, dilation = problem
    if not _fits(x, args, dilation):
        return
    parallel_from = 0 if threads else pool.MIN_PARALLEL_ELEMENTS
    with (
        mock.patch.object(pool, "_STRIP_BYTES", strip_bytes),
        mock.patch.object(pool, "MIN_PARALLEL_ELEMENTS", parallel_from),
    ):
        for function in (max_pool2d, min_pool2d):
            reference = function(x, **args, dilation=dilation, algorithm="direct")
            assert np.array_equal(function(x, **args, dilation=dilation), reference)
            assert function(x, **args, dilation=dilation).dtype == x.dtype
        if _fits(x, args, 1):
            for include in (True, False):
                reference = avg_pool2d(x, **args, count_include_pad=include, algorithm="direct")
                got = avg_pool2d(x, **args, count_include_pad=include, algorithm="separable")
                assert np.allclose(got, reference, rtol=1e-5, atol=1e-5)


@settings(max_examples=fuzz_examples(200), deadline=None)
@given(
    blocks=st.tuples(st.integers(1, 5), st.integers(1, 5)),
    kernel=st.tuples(st.integers(1, 4), st.integers(1, 4)),
    extra=st.tuples(st.integers(0, 3), st.integers(0, 3)),
    seed=st.integers(0, 2**32 - 1),
)
def test_reshape_agrees_with_direct(blocks, kernel, extra, seed):
    shape = (3, blocks[0] * kernel[0] + extra[0], blocks[1] * kernel[1] + extra[1])
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    for function in FUNCTIONS.values():
        reference = function(x, kernel, algorithm="direct")
        got = function(x, kernel, algorithm="reshape")
        assert np.allclose(got, reference, rtol=1e-6, atol=1e-6)


@settings(max_examples=fuzz_examples(300), deadline=None)
@given(
    size=st.integers(1, 30),
    kernel=st.integers(1, 12),
    stride=st.integers(1, 3),
    dilation=st.integers(1, 3),
    pads=st.tuples(st.integers(0, 6), st.integers(0, 6)),
    first=st.integers(0, 5),
    use_min=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_running_max_by_doubling_agrees_with_strided_taps(
    size, kernel, stride, dilation, pads, first, use_min, seed
):
    out_size = pool_output_size(size, kernel, stride, *pads, dilation)
    if out_size <= first:
        return
    windows = AxisWindows(size, kernel, stride, dilation, *pads, out_size)
    op = pool._MIN if use_min else pool._MAX
    source = np.random.default_rng(seed).normal(size=(2, size, 3))
    doubled = np.empty((2, out_size - first, 3))
    strided = np.empty_like(doubled)
    pool._doubling_pass(source, 1, windows, op, doubled, first)
    pool._strided_pass(source, 1, windows, op, strided, first)
    assert np.array_equal(doubled, strided)


def test_a_large_image_runs_in_parallel_bands_and_agrees():
    x = np.random.default_rng(6).normal(size=(3, 300, 400)).astype(np.float32)
    assert x.size >= pool.MIN_PARALLEL_ELEMENTS
    with (
        mock.patch.object(pool, "run_bands", wraps=pool.run_bands) as run_bands,
        mock.patch.object(pool, "_STRIP_BYTES", 1 << 16),  # bands of 13 rows
    ):
        filtered = max_pool2d(x, 3, stride=1, padding="same")
        averaged = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True)
    same_size, quarter = run_bands.call_args_list
    assert same_size.args[2] is True and len(same_size.args[0]) > 1  # several bands, 2 threads
    assert quarter.args[2] is False  # 90,000 outputs: threads would cost more than they save
    direct = max_pool2d(x, 3, stride=1, padding="same", algorithm="direct")
    assert np.array_equal(filtered, direct)
    direct = avg_pool2d(x, 3, stride=2, padding=1, ceil_mode=True, algorithm="direct")
    assert np.allclose(averaged, direct, rtol=1e-5, atol=1e-6)


def test_a_long_stride_one_max_filter_uses_doubling_and_agrees():
    x = np.random.default_rng(3).normal(size=(2, 40, 50)).astype(np.float32)
    with mock.patch.object(pool, "_doubling_pass", wraps=pool._doubling_pass) as doubling:
        fast = max_pool2d(x, 9, stride=1, padding=4)
    assert doubling.called
    assert np.array_equal(fast, max_pool2d(x, 9, stride=1, padding=4, algorithm="direct"))


def test_the_doubling_pass_borrows_its_levels_and_gives_them_back(monkeypatch):
    # Fresh per band, its two levels were ~19,000 page faults a 4K 15x15 max.
    from convcli.core import _scratch

    taken: list[int] = []
    given: list[int] = []
    take, give = _scratch.take, _scratch.give
    monkeypatch.setattr(_scratch, "take", lambda *a: taken.append(id(b := take(*a))) or b)
    monkeypatch.setattr(_scratch, "give", lambda *b: given.extend(map(id, b)) or give(*b))
    x = np.random.default_rng(4).normal(size=(2, 30, 40)).astype(np.float32)
    got = max_pool2d(x, 15, stride=1, padding=7)
    assert len(taken) >= 5 and sorted(taken) == sorted(given)  # strip, 2 levels per pass
    assert np.array_equal(got, max_pool2d(x, 15, stride=1, padding=7, algorithm="direct"))


# ----------------------------------------------------------------- the median filter


def test_median_filter_examples():
    x = [[1, 9, 2], [8, 3, 7], [4, 6, 5]]
    assert median_filter2d(x, 3, padding=0).tolist() == [[5]]
    assert median_filter2d(x, 3, padding="valid").tolist() == [[5]]
    # Same size by default, reflect border (4 3 2 | 1 2 3 4 5): the corner window is
    # 3 8 3 / 9 1 9 / 3 8 3 -> median 3.
    same = median_filter2d(x, 3)
    assert same.shape == (3, 3)
    assert same[0, 0] == 3
    assert median_filter2d(x, 3, padding_mode="zeros")[0, 0] == 0
    assert median_filter2d(x, 2, padding=0).tolist() == [[8, 7], [6, 6]]  # upper middle


@pytest.mark.parametrize(
    ("mode", "scipy_mode"),
    [
        ("zeros", "constant"),
        ("reflect", "mirror"),
        ("replicate", "nearest"),
        ("circular", "wrap"),
        ("symmetric", "reflect"),
    ],  # fmt: skip
)
def test_median_filter_matches_scipy_per_channel(mode, scipy_mode):
    from scipy import ndimage

    x = np.random.default_rng(4).normal(size=(2, 3, 9, 11)).astype(np.float32)
    got = median_filter2d(x, (3, 5), padding_mode=mode)
    expected = ndimage.median_filter(x, size=(1, 1, 3, 5), mode=scipy_mode)
    assert got.dtype == np.float32
    assert np.array_equal(got, expected)


@settings(max_examples=fuzz_examples(150), deadline=None)
@given(
    shape=st.tuples(st.integers(1, 9), st.integers(1, 9)),
    kernel=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    before=st.tuples(st.integers(0, 5), st.integers(0, 5)),
    mode=st.sampled_from(["zeros", "reflect", "replicate", "circular", "symmetric"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_median_by_scipy_border_agrees_with_explicit_padding(shape, kernel, before, mode, seed):
    top, left = min(before[0], kernel[0] - 1), min(before[1], kernel[1] - 1)
    pads = (top, kernel[0] - 1 - top, left, kernel[1] - 1 - left)
    try:
        check_pads_fit(pads, shape, mode)
    except ValueError:
        return
    x = np.random.default_rng(seed).normal(size=(2, *shape)).astype(np.float32)
    by_border = pool._median_by_scipy_border(x, kernel, (1, 1), pads, mode)
    padded = pool._median_of_padded(x, kernel, (1, 1), pads, mode)
    assert np.array_equal(by_border, padded)
    assert np.array_equal(median_filter2d(x, kernel, padding=pads, padding_mode=mode), padded)


def test_median_filter_stride_and_padding():
    x = np.random.default_rng(5).normal(size=(10, 9))
    full = median_filter2d(x, 3, padding=1, padding_mode="zeros")
    assert np.array_equal(
        median_filter2d(x, 3, stride=2, padding=1, padding_mode="zeros"), full[::2, ::2]
    )
    assert median_filter2d(x, 3, stride=2).shape == (5, 5)  # 'same' at stride 2: ceil(in / 2)
    assert median_filter2d(x, (3, 1), padding=(2, 0)).shape == (12, 9)
    assert median_filter2d(x[None], 3).shape == (1, 10, 9)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: median_filter2d(ARANGE16, 0), "kernel_size must be >= 1, got 0"),
        (lambda: median_filter2d(ARANGE16, 3, stride=0), "stride must be >= 1, got 0"),
        (lambda: median_filter2d(ARANGE16, 3, padding="full"), "padding must be an int"),
        (lambda: median_filter2d(ARANGE16, 3, padding_mode="wrap"), "padding_mode must be one of"),
        (lambda: median_filter2d(ARANGE16, 5, padding=0), "kernel_size 5 (padding 0) does not fit"),
    ],
)
def test_median_filter_errors(call, message):
    with pytest.raises(ValueError) as caught:
        call()
    assert str(caught.value).startswith(message)


def test_public_api_is_lazy_and_complete():
    import convcli

    assert convcli.max_pool2d is max_pool2d
    assert convcli.avg_pool2d is avg_pool2d
    assert convcli.min_pool2d is min_pool2d
    assert convcli.median_filter2d is median_filter2d


# ------------------------------------------------ 3x3 median: the sorted-columns network


@settings(max_examples=fuzz_examples(60), deadline=None)
@given(
    height=st.integers(1, 12),
    width=st.integers(1, 12),
    pads=st.tuples(*[st.integers(0, 1)] * 4),
    mode=st.sampled_from(["zeros", "reflect", "replicate", "circular", "symmetric"]),
    levels=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_median3x3_network_equals_scipy(height, width, pads, mode, levels, seed):
    top, bottom, left, right = pads
    assume(height + top + bottom >= 3 and width + left + right >= 3)
    assume(mode != "reflect" or (max(top, bottom) < height and max(left, right) < width))
    # Few distinct levels, so windows are full of ties.
    x = np.random.default_rng(seed).integers(0, levels, size=(2, height, width))
    x = x.astype(np.float32)
    got = median_filter2d(x, 3, padding=pads, padding_mode=mode)
    expected = pool._median_of_padded(x, (3, 3), (1, 1), pads, mode)
    np.testing.assert_array_equal(got, expected)


def test_median3x3_in_tiles_on_two_threads(monkeypatch):
    from convcli.core import _median

    monkeypatch.setattr(_median, "TILE_BYTES", 4 * 17 * 8)  # tiles of 4 rows of float64
    monkeypatch.setattr(_median, "MIN_PARALLEL_ELEMENTS", 1)
    x = np.random.default_rng(3).normal(size=(3, 40, 17))
    got = median_filter2d(x, 3, padding_mode="symmetric")
    expected = pool._median_by_scipy_border(x, (3, 3), (1, 1), (1, 1, 1, 1), "symmetric")
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("algorithm", ["network", "scipy"])
@pytest.mark.parametrize("mode", ["reflect", "symmetric", "replicate", "circular", "zeros"])
def test_median_window_larger_than_the_image(algorithm, mode):
    """9x9 on a 4x4 image and 5x5 on a 1-px one: the border folds back as OpenCV's does,
    the same values by either algorithm as the median of the explicitly padded input."""
    from convcli.core.padding import pad2d

    for x, k in ((ARANGE16.astype(np.float32), 9), (np.array([[3.0]]), 5)):
        got = median_filter2d(x, k, padding_mode=mode, algorithm=algorithm)
        padded = pad2d(x, (k // 2,) * 4, mode)
        expected = median_filter2d(padded, k, padding=0, algorithm="scipy")
        assert got.shape == x.shape
        assert np.array_equal(got, expected)


def test_choose_median_for_sees_eight_bit_values():
    """Whole numbers 0..255 run in uint8, which the estimate prices 4x cheaper per pass."""
    shape = (3, 2160, 3840)
    eight_bit = np.full((3, 8, 8), 7.0, np.float32)
    floats = eight_bit + 0.5
    name8, reason8 = choose_median_for(eight_bit, 5, shape=shape)
    name32, reason32 = choose_median_for(floats, 5, shape=shape)
    assert (name8, name32) == ("network", "network")
    assert reason8 == choose_median(shape, 5, itemsize=1)[1]
    assert reason32 == choose_median(shape, 5, itemsize=4)[1]
    assert reason8 != reason32
    assert choose_median_for(eight_bit, 21)[0] == "scipy"
    assert choose_median_for(eight_bit, 3, stride=2)[0] == "scipy"


def test_apply_explain_shows_the_median_choice(cli, tmp_path):
    """--explain prints the median's algorithm and estimate, as for a kernel step."""
    from PIL import Image

    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(tmp_path / "in.png")
    result = cli(
        "apply", tmp_path / "in.png", "-k", "median:5", "-o", tmp_path / "o.png", "--explain"
    )
    lines = result.stderr.splitlines()
    assert lines[1].startswith("step 1 'median:5': median filter 5; 1x8x8 -> 1x8x8")
    expected = choose_median((1, 8, 8), 5, itemsize=1)
    assert lines[2] == f"  algorithm {expected[0]}: {expected[1]}"
    assert "estimated: network ~" in lines[2]
    assert "network shared between windows (57 passes a pixel)" in lines[2]


@pytest.mark.parametrize("stride", [1, 2])
def test_scipys_median_gives_nan_where_a_window_holds_one(stride):
    """SciPy's selection keeps or drops a NaN by where it falls in the window; every
    engine gives NaN wherever a window holds one (as the network does), and the same
    values elsewhere."""
    x = np.arange(64, dtype=np.float32).reshape(8, 8)
    x[2, 3] = np.nan
    network = median_filter2d(x, 3, padding=1, algorithm="network")
    scipy = median_filter2d(x, 3, stride=stride, padding=1, algorithm="scipy")
    np.testing.assert_array_equal(scipy, network[::stride, ::stride])
    assert np.isnan(scipy).sum() == (9 if stride == 1 else 2)


def test_pad2d_names_its_pads():
    from convcli.core.padding import pad2d

    with pytest.raises(ValueError, match=r"^pads must be >= 0, got \(0, 0, -1, 0\)$"):
        pad2d(np.ones((4, 4)), (0, 0, -1, 0))
