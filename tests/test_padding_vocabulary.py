"""One padding vocabulary (issue 17): one parsed ``PaddingSpec``, one loose ``PaddingLike``
normalised by one function, one same-padding rule, one ``-p/--padding`` message form."""

from __future__ import annotations

import numpy as np
import pytest

import convcli.core.padding as core_padding
from convcli import geometry
from convcli.core.conv import conv2d
from convcli.core.padding import as_padding_spec, resolve_padding, same_pads
from convcli.errors import SpecError
from convcli.layers import parse_padding, parse_padding_option
from convcli.steps import conv_geometry
from tests.conftest import invoke

FORMS = "padding must be N, HxW, top,bottom,left,right, valid or same, got"
KINDS = "padding must be an int, (h, w), (top, bottom, left, right), 'valid' or 'same', got"
COUNT = "padding must have 1 value, 2 (h, w) or 4 (top, bottom, left, right), got"


def test_one_padding_spec_and_a_loose_padding_like():
    assert not hasattr(core_padding, "PaddingSpec")
    assert "PaddingLike" in core_padding.__all__ and "PaddingSpec" not in core_padding.__all__
    assert geometry.PaddingSpec is not None
    # The same-padding rule exists once: the core's name is the geometry's function.
    assert same_pads is geometry.same_padding


@pytest.mark.parametrize(
    ("loose", "parsed"),
    [
        (0, (0, 0, 0, 0)),
        (2, (2, 2, 2, 2)),
        ((1, 2), (1, 1, 2, 2)),
        ([0, 1, 2, 3], (0, 1, 2, 3)),
        (np.int64(3), (3, 3, 3, 3)),
        ("same", "same"),
        ("valid", "valid"),
    ],
)
def test_as_padding_spec_gives_what_the_cli_parser_gives(loose, parsed):
    assert as_padding_spec(loose) == parsed
    text = loose if isinstance(loose, str) else ",".join(str(v) for v in parsed)
    assert parse_padding(text) == parsed


@pytest.mark.parametrize(
    ("loose", "message"),
    [
        (-1, "padding must be >= 0, got -1"),
        ((1, -2), "padding must be >= 0, got (1, 1, -2, -2)"),
        ("abc", f"{KINDS} 'abc'"),
        ((1, 2, 3), f"{COUNT} 3: (1, 2, 3)"),
        (True, "padding must be an integer, got True"),
        (1.5, "padding must be an integer, got 1.5"),
    ],
)  # fmt: skip
def test_as_padding_spec_refuses_with_one_line_naming_padding(loose, message):
    with pytest.raises(ValueError) as caught:
        as_padding_spec(loose)
    assert str(caught.value) == message


def test_every_resolver_uses_the_one_rule():
    # 224, k7, s2 -> (2, 3) per axis (REFERENCE.md), in the core, the teaching geometry and
    # the paper walk of apply's limits.
    from convcli.limits import _pads as paper_pads

    expected = (2, 3, 2, 3)
    assert resolve_padding("same", (224, 224), (7, 7), stride=2) == expected
    assert conv_geometry((224, 224), 7, stride=2, padding="same").pads == expected
    assert paper_pads("same", (224, 224), (7, 7), (2, 2), (1, 1)) == expected
    assert paper_pads((1, 2), (9, 9), (3, 3), (1, 1), (1, 1)) == (1, 1, 2, 2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "-p/--padding: padding must be >= 0, got -1"),
        ("0,-1,0,0", "-p/--padding: padding must be >= 0, got -1"),
        ("abc", f"-p/--padding: {FORMS} 'abc'"),
        ("1,2,3", f"-p/--padding: {FORMS} '1,2,3'"),
        ("1,2,3,4,5", f"-p/--padding: {FORMS} '1,2,3,4,5'"),
    ],
)  # fmt: skip
def test_every_command_says_the_same_about_a_bad_padding(value, message, tmp_path):
    matrix = tmp_path / "m.npy"
    np.save(matrix, np.arange(25, dtype=np.float32).reshape(5, 5))
    runs = {
        "shape": invoke("shape", "3x32x32", "-k", "3", "-s", "2", "-p", value),
        "learn": invoke("learn", str(matrix), str(matrix), "--size", "3", "-p", value),
        "compare": invoke("compare", "3x12x12", "-k", "3", "-c", "8", "-p", value),
        "draw": invoke("draw", "5", "-k", "3", "-p", value, "-o", str(tmp_path / "z.gif")),
    }
    for name, result in runs.items():
        expected = (2, "", f"Error: {message}\n")
        assert (result.exit_code, result.stdout, result.stderr) == expected, name
    assert not (tmp_path / "z.gif").exists()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("shape", "3x224x224", "-k", "3", "-c", "0"), "-c/--out-channels must be >= 1, got 0"),
        (("compare", "3x12x12", "-k", "3", "-c", "-1"), "-c/--out-channels must be >= 1, got -1"),
        (("shape", "224", "-k", "3x0"), "-k/--kernel must be >= 1, got 0"),
        (("draw", "5", "-k", "0", "-o", "z.gif"), "-k/--kernel must be >= 1, got 0"),
    ],
)
def test_layer_options_are_named_as_typed(arguments, message):
    result = invoke(*arguments)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"Error: {message}\n")


def test_the_option_parser_bounds_pads_when_asked():
    assert parse_padding_option("2000") == (2000,) * 4  # sizing: any size
    with pytest.raises(SpecError) as caught:
        parse_padding_option("2000", 1024)
    assert str(caught.value) == "-p/--padding: padding must be at most 1024 per side, got 2000"
    long = "1" * 400
    with pytest.raises(SpecError) as caught:
        parse_padding_option(long)
    assert len(str(caught.value)) < 250 and str(caught.value).endswith("... (400 chars)'")


def test_same_at_stride_2_is_one_answer_in_shape_and_in_the_core():
    # TensorFlow's rule in both: out = ceil(in / stride) (PyTorch refuses 'same' at stride 2).
    result = invoke("shape", "1x7x7", "-k", "3", "-s", "2", "-p", "same", "--format", "plain")
    assert result.exit_code == 0
    assert result.stdout.strip().splitlines()[-1] == "1x4x4"
    out = conv2d(np.ones((1, 7, 7), np.float32), np.ones((1, 1, 3, 3), np.float32),
                 stride=2, padding="same")  # fmt: skip
    assert out.shape == (1, 4, 4)
    # Pads (1, 1): a corner window sees 2x2 ones, the centre 3x3.
    assert out[0, 0, 0] == 4.0 and out[0, 1, 1] == 9.0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("-1", "padding must be >= 0, got -1"),
        ("5000", "padding must be at most 1024 per side, got 5000"),
    ],
)
def test_apply_learn_and_step_words_word_a_padding_range_alike(value, reason, tmp_path):
    """The range of a padding has one rule and one wording (layers.check_pads), whether it
    comes from -p/--padding or from a STEP's p=; only the prefix names where it came from
    (apply's -p keeps its own '--' prefix until commands/apply.py uses the one parser)."""
    matrix = tmp_path / "m.npy"
    np.save(matrix, np.arange(25, dtype=np.float32).reshape(5, 5))
    runs = {
        "apply -p": invoke("apply", "--matrix", "1 2; 3 4", "-k", "box:2", "-p", value),
        "learn -p": invoke("learn", str(matrix), str(matrix), "--size", "3", "-p", value),
        "step p=": invoke("apply", "--matrix", "1 2; 3 4", "-k", f"box:2,p={value}"),
    }
    for name, result in runs.items():
        assert (result.exit_code, result.stdout) == (2, ""), name
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, name
        assert result.stderr.endswith(f"{reason}\n"), (name, result.stderr)
    assert runs["learn -p"].stderr == f"Error: -p/--padding: {reason}\n"
    assert runs["step p="].stderr == f"Error: kernel 'box:2,p={value}': {reason}\n"
