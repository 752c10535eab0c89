"""What a piped ``convcli shape 224 -k 3 -s 2 -p 1`` costs beyond ``import typer`` (issue 14):
each structural cut of its start-up has a test here, so a later change cannot undo it
silently. The command runs in a fresh interpreter (what a user starts), which reports what
it loaded, compiled and built as JSON on stderr.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import fuzz_examples

SHAPE = ["shape", "224", "-k", "3", "-s", "2", "-p", "1"]

# Run convcli's entry point as the console script does, then report on the process.
_PROBE = """
import json, re, sys
sys.argv = ['convcli', *ARGS]
import typer.main
from convcli.cli import main
read = typer.main.get_params_from_function
strings = []
def reading(function):
    # The functions Typer reads the signature of, to build a command: which of convcli's
    # have string annotations, that Typer compiles and evaluates again on every run.
    if function.__module__.startswith('convcli') and any(
        isinstance(a, str) for a in function.__annotations__.values()
    ):
        strings.append(function.__qualname__)
    return read(function)
typer.main.get_params_from_function = reading
try:
    main()
except SystemExit:
    pass
import enum, tokenize
def subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from subclasses(sub)
facts = {
    "enums": sorted(
        f"{c.__module__}.{c.__qualname__}" for c in subclasses(enum.Enum)
        if c.__module__.startswith("convcli")
    ),
    "modules": sorted(sys.modules),
    "tokenize_patterns": tokenize._compile.cache_info().currsize,
    "patterns": [key[1] for key in re._cache if isinstance(key[1], str)],
    "string_annotations": strings,
}
sys.stderr.write("FACTS:" + json.dumps(facts))
"""


def probe(args: list[str], env: dict[str, str] | None = None) -> tuple[str, dict]:
    """Run ``convcli ARGS`` piped in a fresh interpreter: its stdout and the facts."""
    base = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.replace("ARGS", repr(args))],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
    )
    assert "FACTS:" in done.stderr, done.stderr
    return done.stdout, json.loads(done.stderr.rsplit("FACTS:", 1)[1])


@pytest.fixture(scope="module")
def shape_run() -> tuple[str, dict]:
    return probe(SHAPE)


def test_probe_runs_the_command(shape_run):
    stdout, _ = shape_run
    assert stdout.splitlines()[3].split()[:4] == ["1", "conv:k=3,s=2,p=1", "112x112", "10"]


@pytest.mark.parametrize(
    "args", [SHAPE, [*SHAPE, "--format", "plain"], ["--help"], ["shape", "--help"]]
)
def test_no_text_signature_is_parsed(args):
    """inspect reads a builtin's text signature with tokenize's pattern, compiled on first
    use (~6 ms): dataclasses wrote one into the docstring of a class without one (the
    blank class ``convcli._records._params`` processes). Nothing on these paths does."""
    _, facts = probe(args)
    assert facts["tokenize_patterns"] == 0


def test_shape_creates_no_image_choice_enums(shape_run):
    """Border and PeerName (apply, draw, learn, kernels) are not created by ``shape``; the
    package still hands them out by their old name."""
    _, facts = shape_run
    assert "convcli.commands" in facts["modules"]
    assert "convcli.commands._choices" not in facts["modules"]
    from convcli.commands import Border, PeerName, _choices

    assert (Border, PeerName) == (_choices.Border, _choices.PeerName)
    assert [b.value for b in Border] == ["zeros", "reflect", "replicate", "circular", "symmetric"]
    with pytest.raises(AttributeError, match="has no attribute 'Nope'"):
        __import__("convcli.commands").commands.Nope  # noqa: B018


@pytest.mark.parametrize("args", [SHAPE, ["compare", "3x8x8", "-k", "3", "-c", "4"]])
def test_typer_evaluates_no_string_annotation(args):
    """The callbacks, completion functions and commands Typer reads on a run have written
    annotations (no ``from __future__ import annotations`` in their modules)."""
    stdout, facts = probe(args)
    assert stdout
    assert facts["string_annotations"] == []


def test_shape_creates_one_enum(shape_run):
    """An Enum class costs ~0.2 ms to create: ``shape``'s own choices (--op, --dtype) are
    Literal types, and the one Enum it creates is --format's, which every command shares."""
    _, facts = shape_run
    assert facts["enums"] == ["convcli.render.OutputFormat"]


def test_cli_modules_compile_no_pattern_on_import():
    """The modules every run imports (the app, shared options, the renderer) and shape's own
    command and view compile no regular expression when imported: a pattern is compiled
    where it is used, and the piped table reads its notes with string methods."""
    code = (
        "import re, sys, typer, dataclasses\n"
        "known = set(re._cache)\n"
        "import convcli.cli, convcli.commands.shape, convcli.render.shape\n"
        "sys.stdout.write(repr(sorted(k[1] for k in set(re._cache) - known)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout == "[]", done.stderr


# Typer's vendored Click escapes the message of the "no such option" it raises (and catches)
# for each short option (-k, -s, -p): any Typer app parsing one compiles it.
_CLICK_PATTERN = "[\\x00-\\x1f\\x7f-\\x9f]"


def test_shape_compiles_no_pattern_of_its_own(shape_run):
    """Sizes, integers and layer words on shape's path are read with string methods; what
    compiles a pattern (a tag name, a ranked kind) does so when it is used."""
    _, facts = shape_run
    code = (
        "import json, re, sys, typer, dataclasses\n"
        "sys.stdout.write(json.dumps([k[1] for k in re._cache if isinstance(k[1], str)]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    known = json.loads(done.stdout)
    assert "[+-]?\\d{1,9}" not in known  # (the check can see what shape would compile)
    assert set(facts["patterns"]) - set(known) <= {_CLICK_PATTERN}


_SIZE_CHARS = st.text(st.sampled_from("0123x×*XfFt+-٣ \n"), max_size=12)


@settings(max_examples=fuzz_examples(800), deadline=None)
@given(text=st.one_of(_SIZE_CHARS, st.text(max_size=8)))
def test_size_readers_read_as_the_patterns_did(text):
    import re

    from convcli.layers import is_integer, is_size_text, split_dims

    assert split_dims(text) == re.split(r"[x×*]", text)
    assert is_integer(text) == bool(re.fullmatch(r"[+-]?\d+", text))
    assert is_integer(text, 9) == bool(re.fullmatch(r"[+-]?\d{1,9}", text))
    assert is_size_text(text) == bool(re.match(r"^\d+(?:[x×*]\d+)*$", text))
    lowered = text.lower()
    assert is_size_text(lowered, "ft") == bool(
        re.match(r"^\d+(?:[x×*]\d+)*[ft]?$", lowered, re.IGNORECASE)
    )
