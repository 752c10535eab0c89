"""Scratch kept between calls of the core (convcli.core._scratch): lent again, never
trusted to hold anything (issue 14: small images paid page faults on every call)."""

from __future__ import annotations

import numpy as np
import pytest

from convcli.core import _scratch, conv2d, conv_transpose2d


@pytest.fixture(autouse=True)
def empty_pool(monkeypatch):
    monkeypatch.setattr(_scratch, "_kept", [])


def test_lent_buffers_come_back_however_the_block_ends():
    with pytest.raises(RuntimeError), _scratch.lent(np.float32, 500, 300) as buffers:
        raise RuntimeError("the work failed")
    assert sorted(kept.size for kept in _scratch._kept) == [300, 500]
    assert all(any(kept is buffer for kept in _scratch._kept) for buffer in buffers)


def test_a_buffer_given_back_is_lent_again():
    first = _scratch.take(1000, np.float32)
    _scratch.give(first)
    assert _scratch.take(900, np.float32) is first
    assert _scratch._kept == []


def test_only_a_close_fit_of_the_same_dtype_is_lent():
    kept = _scratch.take(1000, np.float32)
    _scratch.give(kept)
    assert _scratch.take(1000, np.float64) is not kept  # another dtype
    assert _scratch.take(400, np.float32) is not kept  # more than twice the size asked
    assert _scratch.take(1001, np.float32) is not kept  # too small
    assert _scratch.take(600, np.float32) is kept


def test_the_pool_keeps_at_most_its_limit(monkeypatch):
    monkeypatch.setattr(_scratch, "MAX_KEPT_BYTES", 10_000)
    _scratch.give(*(np.empty(n, np.uint8) for n in (4_000, 3_000, 5_000, 1_000)))
    assert sorted(kept.size for kept in _scratch._kept) == [1_000, 3_000, 4_000]


@pytest.mark.parametrize("algorithm", ["direct", "separable", "columns", "gemm", "fft"])
def test_results_do_not_depend_on_what_scratch_held(algorithm):
    # Buffers full of NaN lent to the engines give the same bits as fresh ones: every
    # engine writes its scratch before it reads it.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 61, 47)).astype(np.float32)
    weight = rng.standard_normal((3, 1, 5, 5)).astype(np.float32)
    if algorithm == "separable":
        column, row = rng.standard_normal(5), rng.standard_normal(5)
        weight = np.broadcast_to(np.outer(column, row), (3, 1, 5, 5)).astype(np.float32)

    def run() -> np.ndarray:
        return conv2d(x, weight, padding="same", groups=3, padding_mode="reflect",
                      algorithm=algorithm)  # fmt: skip

    clean = run()
    _scratch._kept.clear()  # else the clean run's own buffers are lent again
    for size in (10, 100, 1_000, 3_000, 10_000, 30_000, 100_000):
        for _ in range(3):
            _scratch.give(np.full(size, np.nan, np.float32))
    assert np.array_equal(run(), clean)
    assert not np.isnan(clean).any()


@pytest.mark.parametrize(
    ("stride", "padding", "output_padding", "dilation"),
    [(2, 1, 1, 1), (2, 0, 0, 2), (2, 1, 0, 3), (3, 2, 1, 1), (1, 1, 0, 1)],
)
def test_transposed_planes_do_not_depend_on_what_scratch_held(
    stride, padding, output_padding, dilation
):
    # A phase's first tap is copied into its plane and only the plane around it zeroed:
    # nothing of what the lent buffer held may show through.
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 4, 7, 9)).astype(np.float32)
    weight = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)

    def run() -> np.ndarray:
        return conv_transpose2d(x, weight, stride=stride, padding=padding,
                                output_padding=output_padding, dilation=dilation)  # fmt: skip

    clean = run()
    _scratch._kept.clear()  # else the clean run's own buffers are lent again
    for size in (int(10 * 1.5**k) for k in range(25)):  # one within 2x of any need
        for _ in range(3):
            _scratch.give(np.full(size, np.nan, np.float32))
    assert np.array_equal(run(), clean)
    assert not np.isnan(clean).any()


def test_zero_around_leaves_only_the_region():
    from convcli.core.conv import _zero_around

    planes = np.full((2, 3, 10, 12), np.nan, np.float32)
    _zero_around(planes, 1, 2, 7, 9)
    expected = np.zeros_like(planes)
    expected[..., 1:8, 2:11] = np.nan
    np.testing.assert_array_equal(planes, expected)  # NaN where NaN, zero elsewhere


def test_repeated_calls_are_not_faulted_in_again():
    # On one thread: with two, glibc now and then gives a call's 3 MB output fresh pages
    # (768 faults, first touched by the bands' writes), whatever the scratch does: 20
    # calls took 1,504-6,793 faults before the threads set NumPy's ufunc buffer too
    # (0-1,536 with keep_freed_memory), and no scratch was allocated again. Scratch is
    # lent alike to every thread.
    import subprocess
    import sys

    code = (
        "import resource, numpy as np\n"
        "from convcli.core import _engines, conv2d\n"
        "_engines.MIN_PARALLEL_ELEMENTS = 1 << 40\n"
        "x = np.random.default_rng(0).random((3, 512, 512), dtype=np.float32)\n"
        "w = np.ones((3, 1, 5, 5), np.float32) / 25\n"
        "call = lambda: conv2d(x, w, padding='same', groups=3, padding_mode='reflect')\n"
        "for _ in range(3): call()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(10): call()\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout) < 1_000  # 17,701 before: every call's scratch faulted in again
