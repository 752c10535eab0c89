"""Property tests: whatever a user types to ``shape`` (and to ``compare`` and ``draw``,
which read the same sizes and layer options), the answer is a report or one ``Error:``
line (exit 1 or 2), quickly; never a traceback, a hang or a large allocation.

The strategies mix valid words with unicode, huge and tiny numbers, nan/inf, deep nesting
and empty strings; examples are few enough to keep the suite fast on 2 cores.
"""

from __future__ import annotations

import time
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcli.geometry import KINDS
from tests.conftest import Hung, deadline, fuzz_examples, invoke

NUMBERS = st.one_of(
    st.integers(-3, 40).map(str),
    st.sampled_from(["0", "1", "999999999", "1" + "0" * 400, "nan", "inf", "-1", "1e308", ""]),
)
KEYS = st.sampled_from(["k", "s", "p", "d", "g", "bias", "ceil", "op", "dm", "act", "mode", "bn"])
WORD_HEADS = st.sampled_from(
    [*KINDS, "conv3d", "conv1d", "maxpool3d", "tag", "from", "out", "repeat", "def", "use",
     "end", "input", "bogus", "CONV", "ü"]
)  # fmt: skip
VALUES = st.one_of(NUMBERS, st.text(max_size=6), st.sampled_from(["3x3", "1x2x3", "same", "x"]))
ARGUMENT = st.one_of(NUMBERS, st.builds(lambda k, v: f"{k}={v}", KEYS, VALUES))
WORD = st.builds(
    lambda head, args: head + (":" + ",".join(args) if args else ""),
    WORD_HEADS,
    st.lists(ARGUMENT, max_size=4),
)
SIZE = st.one_of(
    st.lists(st.integers(1, 64), min_size=1, max_size=5).map(lambda d: "x".join(map(str, d))),
    st.sampled_from(["768f", "197x64t", "3x224x224x", "0", "x", "", "9" * 30, "8x8f", "[[[1]]]"]),
    st.text(max_size=8),
)

FAST = settings(
    max_examples=fuzz_examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def check(*args: str, command: str = "shape") -> None:
    tracemalloc.start()
    start = time.perf_counter()
    with deadline(60, args):
        result = invoke(command, *args)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 5, f"{args}: {elapsed:.1f} s"
    assert peak < 200 * 2**20, f"{args}: {peak / 2**20:.0f} MiB"
    assert "Traceback" not in result.stderr
    if result.exit_code == 0:  # a report, or a picture written (draw -o)
        assert result.stdout or result.stderr.startswith("wrote "), (args, result.stderr)
        return
    assert result.exit_code in (1, 2), (args, result.exit_code, result.stderr)
    lines = result.stderr.splitlines()
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], (args, result.stderr)
    assert all(line.startswith(("Error: ", "warning: ", "note: ")) for line in lines)


@FAST
@given(SIZE, st.lists(WORD, min_size=1, max_size=6))
def test_any_words_give_a_report_or_one_error_line(size, words):
    check(size, *words, "--format", "json")


@FAST
@given(SIZE, st.sampled_from(["conv", "deconv", "maxpool", "avgpool", "dwconv", "pwconv"]),
       NUMBERS, NUMBERS, NUMBERS, NUMBERS)  # fmt: skip
def test_any_single_layer_options_and_targets(size, op, kernel, stride, padding, dilation):
    args = [size, "--op", op, "-k", kernel, "-s", stride, "-d", dilation]
    check(*args, "-p", padding, "--format", "plain")
    check(*args, "--target", padding or "1", "--format", "plain")


@FAST
@given(st.lists(st.one_of(WORD, SIZE, st.sampled_from(["\ufeff", "\r", "#", "end", "repeat:3"])),
                max_size=12))  # fmt: skip
def test_any_net_file_gives_a_report_or_one_error_line(tmp_path_factory, tokens):
    path = tmp_path_factory.mktemp("nets") / "fuzz.net"
    path.write_text(" ".join(tokens).replace(" end ", "\nend\n"), encoding="utf-8")
    check("--net", str(path), "--format", "csv")


# Mostly valid values, so that more examples get past the option checks to the work.
OPTION = st.one_of(*[st.integers(1, 4).map(str)] * 3, NUMBERS)


def mostly(valid: list[str]) -> st.SearchStrategy[str]:
    """One of ``valid`` three times in four, else any SIZE."""
    return st.one_of(*[st.sampled_from(valid)] * 3, SIZE)


@FAST
@given(mostly(["3x16x16", "8x7x7", "1x1x1", "16x9x9"]), OPTION, OPTION, OPTION, OPTION,
       OPTION, st.booleans())  # fmt: skip
def test_compare_any_layer_options(size, kernel, channels, stride, padding, multiplier, matrix):
    args = [size, "-k", kernel, "-c", channels, "-s", stride, "-p", padding]
    args += ["--depth-multiplier", multiplier, "--format", "plain"]
    check(*args, *(["--kernel-matrix", f"{kernel} 1; 2 1"] if matrix else []), command="compare")


@FAST
@given(
    mostly(["4x4", "7", "5x6", "9x9"]),
    st.sampled_from(["conv", "deconv", "maxpool", "avgpool", "minpool", "median"]),
    OPTION, OPTION, OPTION, OPTION,
    st.sampled_from([".svg", ".png", "steps"]),
)  # fmt: skip
def test_draw_any_layer_options(
    tmp_path_factory, size, op, kernel, stride, padding, dilation, output
):
    if output == "steps" and op in ("conv", "deconv"):  # numbers need the kernel's values
        kernel = f"{kernel} 1; 1 {kernel}"
    args = ["--op", op, "-k", kernel, "-s", stride, "-p", padding, "-d", dilation]
    if output == "steps":  # the sums of a matrix, printed
        args += ["--matrix", "0 1 2; 3 4 5; 6 7 8", "--steps", "--format", "plain"]
    else:
        # One frame (--at; a .gif is every frame): an animation within draw's limits
        # (1,024 frames) takes seconds to encode (361 GIF frames: 4.8 s), a minute under
        # tracemalloc. tests/test_draw.py animates.
        args += [size, "-o", str(tmp_path_factory.mktemp("draw") / f"out{output}"), "--at", "0,0"]
    check(*args, command="draw")


def test_known_hangs_and_huge_numbers_are_quick():
    check("224", "-k", "32", "-d", "32", "--target", "32", "--format", "json")
    check("224", "--op", "deconv", "-k", "32", "-d", "32", "--target", "100000")
    check("61", "-k", "19", "-d", "34", "--target", "999999999")  # no stride: tried them all
    check("2", "--op", "deconv", "-k", "3", "--target", "999999999")
    check("1", "--op", "deconv", "-k", "2", "-d", "999999999", "--target", "999999999")
    check("61", "--op", "dwconv", "-k", "999999999", "-d", "23", "--target", "23")
    check("1", "-k", "32", "-d", "100", "--target", "1")  # 2.4 million paddings
    check("1", "--op", "maxpool", "-k", "330", "--ceil-mode", "--target", "1")  # every pair: 6.9 s
    check("61", "--op", "maxpool", "-k", "1400", "--ceil-mode", "--target", "999999")
    check("1", "--op", "dwconv", "-k", "99999999", "-s", "99999999", "--target", "1")
    check("3x8x8", "deconv:4,k=3,s=999999999", "--format", "plain")
    check("3x8x8", "gap:999999999", "--format", "plain")
    check("1x" + "9" * 400, "-k", "3")
    check("3x8x8", "repeat:999999999", "relu", "end")
    check("3x8x8", "def:a", "use:a", "end", "use:a")
    check("--preset", "mobilenet_v1", "--width-mult", "inf")
    check("--preset", "mobilenet_v1", "--width-mult", "nan")
    check("--net", "/dev/zero")


def test_a_call_past_its_deadline_fails_instead_of_hanging():
    with pytest.raises(Hung, match=r"^spin: still running after 1 s$"), deadline(1, "spin"):
        while True:
            pass
