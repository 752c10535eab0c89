"""The cost model's wall times: one thread's work shared between the cores past its first
milliseconds, what ``--explain`` prints and what ``auto`` ranks by."""

from __future__ import annotations

import re

import numpy as np
import pytest

import convcli
from convcli import _threads
from convcli.core import _choice
from convcli.core.conv import prepare_conv
from convcli.core.pool import choose_median, median_costs

ONE = _choice.NS_ONE_THREAD


@pytest.fixture
def two_cores(monkeypatch):
    monkeypatch.setattr(_threads, "cpu_count", lambda: 2)


def test_wall_time_shares_only_the_work_past_the_first_milliseconds():
    assert _choice.wall_time(ONE / 2, threads=2) == ONE / 2
    assert _choice.wall_time(ONE, threads=2) == ONE
    assert _choice.wall_time(ONE + 8e6, threads=2) == ONE + 4e6
    assert _choice.wall_time(ONE + 8e6, threads=4) == ONE + 2e6
    assert _choice.wall_time(ONE + 8e6, threads=1) == ONE + 8e6


def test_wall_time_defaults_to_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(_threads, "cpu_count", lambda: 1)  # a batch worker's share
    assert _choice.wall_time(ONE + 8e6) == ONE + 8e6
    monkeypatch.setattr(_threads, "cpu_count", lambda: 2)
    assert _choice.wall_time(ONE + 8e6) == ONE + 4e6


def test_one_thread_algorithms_keep_their_whole_work(two_cores):
    times = _choice.wall_times({"a": ONE + 8e6, "b": ONE + 8e6}, one_thread=frozenset({"b"}))
    assert times == {"a": ONE + 4e6, "b": ONE + 8e6}


def _printed_ms(reason: str) -> dict[str, float]:
    return {name: float(ms) for name, ms in re.findall(r"(\w+) ~([\d.e+]+) ms", reason)}


def test_explain_prints_wall_times_and_auto_ranks_by_them(two_cores):
    # Sobel-x on a 4K RGB image: every engine's work is well past the first milliseconds.
    weight = np.tile(np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])[None, None], (3, 1, 1, 1))
    options = dict(padding="same", groups=3, padding_mode="reflect")
    name, reason = convcli.choose_algorithm((3, 2160, 3840), weight, **options)
    problem = prepare_conv(np.broadcast_to(np.float32(0), (1, 3, 2160, 3840)), weight, **options)
    work = _choice.estimate_costs(problem)
    printed = _printed_ms(reason)
    assert set(printed) == set(work)
    for algorithm, ns in work.items():
        assert ns > ONE
        assert printed[algorithm] == pytest.approx((ONE + (ns - ONE) / 2) / 1e6, rel=5e-3)
    assert name == min(work, key=work.__getitem__)  # the same pick as by work alone


def test_a_wide_depthwise_direct_pass_is_priced_on_one_thread(two_cores):
    weight = np.random.default_rng(0).normal(size=(64, 1, 3, 3))
    problem = prepare_conv(
        np.broadcast_to(np.float32(0), (1, 64, 224, 224)), weight, padding=1, groups=64
    )
    work = _choice.estimate_costs(problem)
    _, reason = convcli.choose_algorithm((1, 64, 224, 224), weight, padding=1, groups=64)
    printed = _printed_ms(reason)
    assert work["direct"] > 2 * ONE
    assert printed["direct"] == pytest.approx(work["direct"] / 1e6, rel=5e-3)


def test_a_median_by_scipy_is_priced_on_one_thread_the_network_on_all(two_cores):
    pixels = 3 * 2160 * 3840
    work = median_costs(pixels, (5, 5), (1, 1), 1)
    name, reason = choose_median((3, 2160, 3840), 5, itemsize=1)
    printed = _printed_ms(reason)
    assert name == "network" and work["network"] > 2 * ONE
    assert printed["scipy"] == pytest.approx(work["scipy"] / 1e6, rel=5e-3)
    assert printed["network"] == pytest.approx((ONE + (work["network"] - ONE) / 2) / 1e6, rel=5e-3)
