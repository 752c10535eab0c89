"""``apply --steps`` and :mod:`convcli.steps`: the arithmetic shown, exactly, and always equal
to what the NumPy core computes."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convcli.core import avg_pool2d, conv2d, conv_transpose2d, max_pool2d, min_pool2d
from convcli.kernels import parse_step
from convcli.pipeline import StepOptions, run_steps
from convcli.render.steps import ASCII, element_lines
from convcli.steps import (
    chain_arithmetic,
    conv_arithmetic,
    conv_transpose_arithmetic,
    pool_arithmetic,
)
from tests.conftest import fuzz_examples

MATRIX = "0 1 2; 3 4 5; 6 7 8"


def steps(cli, *args: str) -> str:
    result = cli("apply", *args, "--steps")
    assert (result.exit_code, result.stderr) == (0, ""), result.stderr
    return result.stdout


def element_text(stdout: str) -> list[str]:
    """The element lines (and their continuation lines) of --steps text."""
    return [
        line
        for line in stdout.splitlines()
        if re.match(r"^(Y\[|\s{2,}(channel \d+: |total|gx|gy|sqrt))", line)
    ]


# ---------------------------------------------------------------------------- d2l examples


def test_d2l_cross_correlation_exact(cli):
    assert steps(cli, "--matrix", MATRIX, "-k", "0 1; 2 3") == (
        "step 1 '0 1; 2 3': 2x2 kernel: 3x3 -> 2x2\n"
        "input X:\n"
        "  0 1 2\n"
        "  3 4 5\n"
        "  6 7 8\n"
        "kernel K:\n"
        "  0 1\n"
        "  2 3\n"
        "Y[0,0] = 0×0 + 1×1 + 3×2 + 4×3 = 19\n"
        "Y[0,1] = 1×0 + 2×1 + 4×2 + 5×3 = 25\n"
        "Y[1,0] = 3×0 + 4×1 + 6×2 + 7×3 = 37\n"
        "Y[1,1] = 4×0 + 5×1 + 7×2 + 8×3 = 43\n"
        "output Y:\n"
        "  19 25\n"
        "  37 43\n"
    )


def test_plain_format_is_ascii(cli):
    out = steps(cli, "--matrix", MATRIX, "-k", "0 1; 2 3", "--format", "plain")
    assert "Y[0,0] = 0*0 + 1*1 + 3*2 + 4*3 = 19\n" in out
    assert out.isascii()


EDGE = "; ".join(["1 1 0 0 0 0 1 1"] * 6)


def test_d2l_edge_detector_6x8(cli):
    out = steps(cli, "--matrix", EDGE, "-k", "1,-1")
    lines = element_text(out)
    assert len(lines) == 42  # 6x7 outputs, all shown
    expected_row = ["1×1 + 1×(-1) = 0", "1×1 + 0×(-1) = 1", "0×1 + 0×(-1) = 0", "0×1 + 0×(-1) = 0",
                    "0×1 + 0×(-1) = 0", "0×1 + 1×(-1) = -1", "1×1 + 1×(-1) = 0"]  # fmt: skip
    for row in range(6):
        for col in range(7):
            assert lines[row * 7 + col] == f"Y[{row},{col}] = {expected_row[col]}"
    assert out.endswith("output Y:\n" + "   0  1  0  0  0 -1  0\n" * 6)


def test_padding_one_stride_two_on_3x3(cli):
    out = steps(
        cli, "--matrix", MATRIX, "-k", "0 1; 2 3", "-p", "1", "-s", "2", "--format", "plain"
    )
    assert out == (
        "step 1 '0 1; 2 3': 2x2 kernel, stride 2, padding 1 (zeros): 3x3 -> 2x2\n"
        "input X, padded (padding in [ ]):\n"
        "  [0] [0] [0] [0] [0]\n"
        "  [0]   0   1   2 [0]\n"
        "  [0]   3   4   5 [0]\n"
        "  [0]   6   7   8 [0]\n"
        "  [0] [0] [0] [0] [0]\n"
        "kernel K:\n"
        "  0 1\n"
        "  2 3\n"
        "stride 2: windows start at rows 0, 2 and columns 0, 2 of the padded input\n"
        "never read: the bottom row of padding\n"
        "never read: the right column of padding\n"
        "Y[0,0] = [0]*0 + [0]*1 + [0]*2 + 0*3 = 0\n"
        "Y[0,1] = [0]*0 + [0]*1 + 1*2 + 2*3 = 8\n"
        "Y[1,0] = [0]*0 + 3*1 + [0]*2 + 6*3 = 21\n"
        "Y[1,1] = 4*0 + 5*1 + 7*2 + 8*3 = 43\n"
        "output Y:\n"
        "   0  8\n"
        "  21 43\n"
    )


def test_two_channel_sum(cli):
    out = steps(cli, "--matrix", MATRIX + " | 1 2 3; 4 5 6; 7 8 9", "-k", "0 1; 2 3 | 1 2; 3 4")
    assert element_text(out) == [
        "Y[0,0]: channel 0: 0×0 + 1×1 + 3×2 + 4×3 = 19",
        "        channel 1: 1×1 + 2×2 + 4×3 + 5×4 = 37",
        "        total: 19 + 37 = 56",
        "Y[0,1]: channel 0: 1×0 + 2×1 + 4×2 + 5×3 = 25",
        "        channel 1: 2×1 + 3×2 + 5×3 + 6×4 = 47",
        "        total: 25 + 47 = 72",
        "Y[1,0]: channel 0: 3×0 + 4×1 + 6×2 + 7×3 = 37",
        "        channel 1: 4×1 + 5×2 + 7×3 + 8×4 = 67",
        "        total: 37 + 67 = 104",
        "Y[1,1]: channel 0: 4×0 + 5×1 + 7×2 + 8×3 = 43",
        "        channel 1: 5×1 + 6×2 + 8×3 + 9×4 = 77",
        "        total: 43 + 77 = 120",
    ]
    assert out.endswith("output Y:\n   56  72\n  104 120\n")


def test_two_channel_sum_with_bias(cli):
    out = steps(cli, "--matrix", MATRIX + " | 1 2 3; 4 5 6; 7 8 9", "-k", "0 1; 2 3 | 1 2; 3 4",
                "--bias", "0.5")  # fmt: skip
    assert "        total: 19 + 37 + 0.5 (bias) = 56.5\n" in out
    assert "bias: 0.5\n" in out


def test_one_by_one_conv_is_a_weighted_sum_of_channels(cli):
    channels = " | ".join("; ".join(" ".join(str(9 * c + 3 * r + k) for k in range(3))
                                    for r in range(3)) for c in range(3))  # fmt: skip
    out = steps(cli, "--matrix", channels, "-k", "1 | 2 | 3")
    assert "1x1 kernel: each output is a weighted sum of the 3 channels at the same pixel" in out
    lines = element_text(out)
    assert lines[0] == "Y[0,0] = 0×1 + 9×2 + 18×3 = 72"
    assert lines[8] == "Y[2,2] = 8×1 + 17×2 + 26×3 = 120"
    assert len(lines) == 9


def test_max_pool_2x2(cli):
    out = steps(cli, "--matrix", MATRIX, "-k", "maxpool:2,s=1")
    assert element_text(out) == [
        "Y[0,0] = max(0, 1, 3, 4) = 4",
        "Y[0,1] = max(1, 2, 4, 5) = 5",
        "Y[1,0] = max(3, 4, 6, 7) = 7",
        "Y[1,1] = max(4, 5, 7, 8) = 8",
    ]
    assert out.endswith("output Y:\n  4 5\n  7 8\n")


def test_avg_pool_counts_padding(cli):
    out = steps(cli, "--matrix", MATRIX, "-k", "avgpool:2,p=1")
    assert (
        "avg pool: the padding zeros count in the divisor (PyTorch's count_include_pad=True)" in out
    )
    assert element_text(out) == [
        "Y[0,0] = ([0] + [0] + [0] + 0) / 4 = 0",
        "Y[0,1] = ([0] + [0] + 1 + 2) / 4 = 0.75",
        "Y[1,0] = ([0] + 3 + [0] + 6) / 4 = 2.25",
        "Y[1,1] = (4 + 5 + 7 + 8) / 4 = 6",
    ]


def test_max_pool_padding_never_wins_and_ceil_mode_overhang(cli):
    out = steps(
        cli, "--matrix", "0 1 2 3 4; 5 6 7 8 9", "-k", "maxpool:2,ceil=yes", "--format", "plain"
    )
    assert "Y[0,2] = max(4, 9) = 9  (2 cells past the padded input: not in the window)" in out
    assert "no window starts in the right padding (PyTorch)" in out
    padded = steps(cli, "--matrix", "0 1; 2 3", "-k", "maxpool:2,p=1", "--format", "plain")
    assert "Y[0,0] = max([-inf], [-inf], [-inf], 0) = 0" in padded
    assert "max pool padding is -inf: it never wins (PyTorch)" in padded


def test_avg_pool_ceil_mode_divides_by_the_cells_inside(cli):
    out = steps(
        cli, "--matrix", "0 1 2 3 4; 5 6 7 8 9", "-k", "avgpool:2,ceil=yes", "--format", "plain"
    )
    assert "Y[0,2] = (4 + 9) / 2 = 6.5  (2 cells past the padded input: not in the window)" in out


def test_dilation_shows_the_holes_and_skips_them(cli):
    matrix = "; ".join(" ".join(str(5 * r + c) for c in range(5)) for r in range(5))
    out = steps(cli, "--matrix", matrix, "-k", "1 2; 3 4", "-d", "2")
    assert "kernel K, dilated (·: holes):\n  1 · 2\n  · · ·\n  3 · 4\n" in out
    assert "Y[0,0] = 0×1 + 2×2 + 10×3 + 12×4 = 82" in out


def test_stride_reports_input_rows_never_read(cli):
    matrix = "; ".join(" ".join(str(6 * r + c) for c in range(6)) for r in range(6))
    out = steps(cli, "--matrix", matrix, "-k", "1", "-s", "2", "--format", "plain")
    assert "input rows never read: 1, 3 (the stride skips them)" in out
    assert "input rows never read: 5 (floor division: no whole window reaches them)" in out
    floor = steps(cli, "--matrix", matrix, "-k", "1 1", "-s", "4", "--format", "plain")
    assert "input columns never read: 2, 3 (the stride skips them)" in floor


def test_gradient_magnitude_and_chain(cli):
    matrix = "; ".join(" ".join(str(4 * r + c) for c in range(4)) for r in range(4))
    out = steps(cli, "--matrix", matrix, "-k", "sobel", "-k", "maxpool:2")
    assert "Y[0,0]: gx: 0×(-1) + 1×0 + 2×1 + 4×(-2) + 5×0 + 6×2 + 8×(-1) + 9×0 + 10×1 = 8\n" in out
    assert "        sqrt(8² + 32²) = 32.984844\n" in out
    assert (
        "\nstep 2 'maxpool:2': 2x2 max pool, stride 2: 2x2 -> 1x1\ninput X: the output of step 1\n"
        in out
    )
    plain = cli("apply", "--matrix", matrix, "-k", "sobel", "-k", "maxpool:2").stdout
    assert out.endswith("output Y:\n  " + plain)


def test_transposed_convolution_scatters(cli):
    result = cli("draw", "--matrix", "0 1; 2 3", "-k", "0 1; 2 3", "--op", "deconv", "--steps")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "X[0,1] = 1: Y[0,1] += 1×0, Y[0,2] += 1×1, Y[1,1] += 1×2, Y[1,2] += 1×3" in lines
    assert "Y[1,1] = 0×3 + 1×2 + 2×1 + 3×0 = 4" in lines
    assert result.stdout.endswith("output Y:\n   0  0  1\n   0  4  6\n   4 12  9\n")
    cropped = cli("draw", "--matrix", "0 1; 2 3", "-k", "0 1; 2 3", "--op", "deconv", "-s", "2",
                  "-p", "1", "--steps", "--format", "plain").stdout  # fmt: skip
    assert (
        "X[0,0] = 0: [Y[-1,-1] += 0*0], [Y[-1,0] += 0*1], [Y[0,-1] += 0*2], Y[0,0] += 0*3"
        in cropped
    )
    assert cropped.endswith("output Y:\n  0 2\n  2 0\n")


def test_large_input_shows_whole_first_rows_and_counts_the_rest(cli):
    matrix = "; ".join(" ".join(str((r * 20 + c) % 7) for c in range(20)) for r in range(20))
    out = steps(cli, "--matrix", matrix, "-k", "box:3", "--format", "plain")
    assert len(element_text(out)) == 36  # two whole rows of 18
    assert "... 288 more output elements not shown; --all-steps shows every one\n" in out
    assert "input X: 1x20x20, not shown" not in out  # 20x20 fits
    everything = cli("apply", "--matrix", matrix, "-k", "box:3", "--all-steps").stdout
    assert len(element_text(everything)) == 324
    assert "not shown" not in everything


def test_json_gives_the_terms(cli):
    result = cli("apply", "--matrix", MATRIX, "-k", "0 1; 2 3", "-k", "maxpool:2,s=1", "--steps",
                 "--format", "json")  # fmt: skip
    data = json.loads(result.stdout)
    first = data["steps"][0]["elements"][0]
    assert first["output"] == [0, 0, 0] and first["value"] == 19
    assert [(t["value"], t["weight"], t["product"]) for t in first["channels"][0]["terms"]] == [
        (0, 0, 0), (1, 1, 1), (3, 2, 6), (4, 3, 12)]  # fmt: skip
    pool = data["steps"][1]
    assert pool["op"] == "max" and pool["elements"][0]["chosen"] == [0, 1, 1]
    assert data["output"] == [[[43]]] and pool["total"] == pool["shown"] == 1
    avg = json.loads(cli("apply", "--matrix", MATRIX, "-k", "avgpool:2,p=1", "--steps",
                         "--format", "json").stdout)  # fmt: skip
    element = avg["steps"][0]["elements"][1]
    assert (element["sum"], element["divisor"], element["value"]) == (3, 4, 0.75)
    assert [t["padding"] for t in element["window"]] == [True, True, False, False]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("samples/camera.png", "-k", "sobel", "--steps"), "'samples/camera.png' is not one"),
        (
            ("--matrix", MATRIX, "-k", "sobel", "--steps", "-o", "x.txt"),
            "-o x.txt writes the result",
        ),
        (("--matrix", MATRIX, "-k", "sobel", "--steps", "--format", "csv"), "not csv"),
        (("--matrix", MATRIX, "-k", "sobel", "--steps", "--explain"), "--explain"),
    ],
)
def test_steps_refusals_are_one_line(cli, args, fragment):
    result = cli("apply", *args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert fragment in result.stderr


# ------------------------------------------------------------------ property: sums == core


def _evaluate(line: str) -> tuple[float, float]:
    """An element line ``Y[..] = EXPR = VALUE`` (or a continuation ``channel 0: EXPR = VALUE``)
    -> (EXPR evaluated in Python, VALUE)."""
    body = re.sub(r"^Y\[[^\]]*\](: | = )", "", line).strip()
    body = re.sub(r"^(channel \d+|total|gx|gy): ", "", body)
    if " = " not in body:  # "0  (no product lands here)"
        return float(body.split("  (")[0]), float(body.split("  (")[0])
    expression, value = body.rsplit(" = ", 1)
    python = expression.replace("[", "(").replace("]", ")").replace("^2", "**2")
    python = python.replace("(bias)", "")
    namespace = {
        "max": lambda *a: max(a),
        "min": lambda *a: min(a),
        "sqrt": math.sqrt,
        "inf": math.inf,
    }
    return eval(python, {"__builtins__": {}}, namespace), float(value.split("  (")[0])  # noqa: S307


def _check_layer(layer, reference: np.ndarray) -> None:
    assert layer.output.shape == reference.shape
    np.testing.assert_allclose(layer.output, reference, rtol=1e-5, atol=1e-4)
    for position in layer.positions():
        element = layer.element(*position)
        lines = element_lines(element, layer, ASCII)
        printed = float(lines[-1].rsplit(" = ", 1)[1].split("  (")[0])
        expected = float(reference[position])
        assert math.isclose(printed, expected, rel_tol=1e-5, abs_tol=1e-4), (lines, expected)
        for line in lines:
            if "median(" in line:
                continue
            computed, shown = _evaluate(line)
            assert math.isclose(computed, shown, rel_tol=1e-5, abs_tol=1e-4), line


small = st.integers(1, 3)
values = st.integers(-4, 4)


@st.composite
def conv_cases(draw):
    channels = draw(st.integers(1, 2))
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    kh, kw = draw(small), draw(small)
    stride = (draw(small), draw(small))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = draw(st.one_of(st.tuples(*[st.integers(0, 2)] * 4), st.just("same")))
    mode = draw(st.sampled_from(["zeros", "replicate", "circular", "reflect", "symmetric"]))
    out_channels = draw(st.integers(1, 2))
    groups = draw(st.sampled_from([1, channels]))
    out_channels = out_channels * groups
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    x = rng.integers(-4, 5, (channels, height, width)).astype(np.float32)
    weight = rng.integers(-3, 4, (out_channels, channels // groups, kh, kw)).astype(np.float32)
    bias = rng.integers(-2, 3, out_channels).astype(np.float32) if draw(st.booleans()) else None
    return x, weight, bias, stride, padding, dilation, groups, mode


@settings(
    max_examples=fuzz_examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much],
)
@given(conv_cases())
def test_every_printed_conv_sum_equals_the_core(case):
    x, weight, bias, stride, padding, dilation, groups, mode = case
    try:
        reference = conv2d(x, weight, bias, stride, padding, dilation, groups, mode)
    except ValueError:
        with pytest.raises(ValueError):
            conv_arithmetic(x, weight, bias, stride, padding, dilation, groups, mode)
        return
    _check_layer(
        conv_arithmetic(x, weight, bias, stride, padding, dilation, groups, mode), reference
    )


@settings(max_examples=fuzz_examples(60), deadline=None)
@given(
    st.sampled_from(["max", "avg", "min", "median"]), st.integers(1, 6), st.integers(1, 6),
    small, small, small, small, st.integers(0, 1), st.integers(0, 1), st.booleans(),
    st.booleans(), st.integers(1, 2), st.integers(0, 2**16),
)  # fmt: skip
def test_every_printed_pool_value_equals_the_core(
    op, height, width, kh, kw, sh, sw, ph, pw, ceil, count_pad, dilation, seed
):
    x = np.random.default_rng(seed).integers(-4, 5, (2, height, width)).astype(np.float32)
    d = 1 if op in ("avg", "median") else dilation
    ceil = ceil and op != "median"
    try:
        if op == "avg":
            reference = avg_pool2d(x, (kh, kw), (sh, sw), (ph, pw), ceil, count_pad)
        elif op == "median":
            from convcli.core import median_filter2d

            reference = median_filter2d(x, (kh, kw), (sh, sw), (ph, pw), "reflect")
        else:
            pool = max_pool2d if op == "max" else min_pool2d
            reference = pool(x, (kh, kw), (sh, sw), (ph, pw), d, ceil)
    except ValueError:
        with pytest.raises(ValueError):
            pool_arithmetic(x, op, (kh, kw), (sh, sw), (ph, pw), d, ceil, count_pad, "reflect")
        return
    layer = pool_arithmetic(x, op, (kh, kw), (sh, sw), (ph, pw), d, ceil, count_pad, "reflect")
    _check_layer(layer, reference)


@settings(max_examples=fuzz_examples(40), deadline=None)
@given(
    st.integers(1, 2), st.integers(1, 4), st.integers(1, 4), small, small, small, small,
    st.integers(0, 1), st.integers(0, 1), st.integers(0, 1), st.integers(1, 2),
    st.integers(0, 2**16),
)  # fmt: skip
def test_every_printed_transposed_sum_equals_the_core(
    channels, height, width, kh, kw, sh, sw, ph, pw, extra, dilation, seed
):
    rng = np.random.default_rng(seed)
    x = rng.integers(-4, 5, (channels, height, width)).astype(np.float32)
    weight = rng.integers(-3, 4, (channels, 2, kh, kw)).astype(np.float32)
    args = ((sh, sw), (ph, pw), (extra, extra), 1, dilation)
    try:
        reference = conv_transpose2d(x, weight, None, *args)
    except ValueError:
        with pytest.raises(ValueError):
            conv_transpose_arithmetic(x, weight, None, *args)
        return
    layer = conv_transpose_arithmetic(x, weight, None, *args)
    _check_layer(layer, reference)
    for scatter in layer.scatters():  # every product lands where the geometry says
        for target in scatter.targets:
            assert target.product == scatter.value * target.weight


STEP_WORDS = ["0 1; 2 3", "1,-1", "sobel-x", "sobel", "box:2", "maxpool:2", "avgpool:2,p=1",
              "minpool:2,s=1", "median:3", "maxpool:3,s=2,ceil=yes", "diff-y", "1 | 2"]  # fmt: skip


@settings(max_examples=fuzz_examples(30), deadline=None)
@given(
    st.lists(st.sampled_from(STEP_WORDS), min_size=1, max_size=3), st.integers(4, 7),
    st.sampled_from([None, (2, 2)]), st.sampled_from([None, (1, 1, 1, 1), "same"]),
    st.sampled_from([None, "replicate"]), st.booleans(), st.integers(0, 2**16),
)  # fmt: skip
def test_chains_equal_apply(words, size, stride, padding, border, convolve, seed):
    channels = 2 if any("|" in w for w in words) else 1
    x = np.random.default_rng(seed).integers(-4, 5, (channels, size, size)).astype(np.float32)
    parsed = [parse_step(w) for w in words]
    options = StepOptions(stride=stride, padding=padding, border=border, convolve=convolve)
    try:
        reference, _ = run_steps(x, [s.flipped() if convolve and hasattr(s, "flipped") else s
                                     for s in parsed], options)  # fmt: skip
    except ValueError:
        return
    layers = chain_arithmetic(x, parsed, options)
    np.testing.assert_allclose(layers[-1].output, reference, rtol=1e-5, atol=1e-4)
    for layer in layers:
        _check_layer(layer, layer.output)
