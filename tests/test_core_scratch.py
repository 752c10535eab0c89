"""Scratch kept between calls of the core (convcli.core._scratch): lent again, never
trusted to hold anything (issue 14: small images paid page faults on every call)."""

from __future__ import annotations

import numpy as np
import pytest

from convcli.core import _scratch, conv2d


@pytest.fixture(autouse=True)
def empty_pool(monkeypatch):
    monkeypatch.setattr(_scratch, "_kept", [])


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
    for size in (10, 100, 1_000, 3_000, 10_000, 30_000, 100_000):
        for _ in range(3):
            _scratch.give(np.full(size, np.nan, np.float32))
    assert np.array_equal(run(), clean)
    assert not np.isnan(clean).any()


def test_repeated_calls_are_not_faulted_in_again():
    # On one thread: with two, glibc now and then gives a call's 3 MB output fresh pages
    # (768 faults, first touched by the bands' writes), more often since the threads set
    # NumPy's ufunc buffer (3fdad41); scratch is lent alike to every thread.
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
