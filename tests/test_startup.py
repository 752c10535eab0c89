"""Start-up (issue 14): what ``convcli shape`` imports, and that its fast paths print
exactly what Rich would have printed.

A piped ``shape`` table is drawn without importing Rich (a quarter of the command's
start-up): the table by ``_Grid.text``, the lines under it by
:func:`convcli.render.wrap_like_rich`. Both are checked here against Rich itself.
"""

from __future__ import annotations

import inspect
import io
import os
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from convcli.presets import preset_names
from convcli.render import PIPE_WIDTH, stdout_is_plain, wrap_like_rich
from tests.conftest import SAMPLES, fuzz_examples, invoke


def rich_prints(text: str, width: int) -> str:
    """What a plain (non-terminal) Rich console of ``width`` columns writes for ``text``."""
    buffer = io.StringIO()
    Console(file=buffer, width=width, soft_wrap=False).print(text, highlight=False)
    return buffer.getvalue()


# Words of printable ASCII (markup and emoji codes included, to be refused) and runs of
# spaces, so that breaks, trailing spaces and long words all occur.
_WORDS = st.lists(
    st.one_of(
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=14),
        st.sampled_from([" ", "  ", "   ", "[dim]", ":smile:", "é", "\t"]),
    ),
    max_size=40,
)


@settings(max_examples=fuzz_examples(400), deadline=None)
@given(words=_WORDS, width=st.integers(min_value=4, max_value=60))
def test_wrap_like_rich_is_what_rich_prints(words, width):
    text = " ".join(words)
    lines = wrap_like_rich(text, width)
    if lines is None:  # refused: Rich draws it; refusals must be for a reason
        assert (
            "[" in text
            or ":" in text
            or any(not " " <= c <= "~" for c in text)
            or any(len(word.rstrip()) > width for word in re.findall(r"\s*\S+\s*", text))
        )
        return
    assert "".join(line + "\n" for line in lines) == rich_prints(text, width)


# The patterns wrap_like_rich used before issue 14 cut them (Rich's emoji pattern among them).
_RICH_SPECIAL = re.compile(r"\[|(:(\S*?)(?:(?:\-)(emoji|text))?:)|[^\x20-\x7e]")
_WORD = re.compile(r"\s*\S+\s*")


@settings(max_examples=fuzz_examples(600), deadline=None)
@given(text=st.one_of(st.text(max_size=30), st.text(st.sampled_from(" :ab-[\t"), max_size=30)))
def test_wrap_like_rich_reads_text_as_the_patterns_did(text):
    from convcli.render import _rich_changes, _words

    assert _rich_changes(text) == bool(_RICH_SPECIAL.search(text))
    if not _rich_changes(text):
        assert _words(text) == _WORD.findall(text)


def test_wrap_like_rich_known_lines():
    sentence = "Parameters include bias. MACs = multiply-accumulates of the layer's weights"
    assert wrap_like_rich(sentence, 30) == [
        "Parameters include bias. MACs ",
        "= multiply-accumulates of the ",
        "layer's weights",
    ]
    assert wrap_like_rich("a [b] c", 80) is None  # markup: Rich reads it
    assert wrap_like_rich("x :thumbs_up: y", 80) is None  # an emoji code
    assert wrap_like_rich("output y 8x8x8: 1 params", 80) == ["output y 8x8x8: 1 params"]


SHAPE_COMMANDS = [
    ["shape", "224", "-k", "3", "-s", "2", "-p", "1"],
    ["shape", "3x224x224", "conv:64,k=7,s=2,p=3", "maxpool:k=3,s=2,p=1", "conv:128,k=3,p=1"],
    ["shape", "8x8x8", "tag:x", "conv:8,k=3,p=1,bn,act=relu", "add:x", "se:2"],
    ["shape", "768f", "fc:1000", "--count-elementwise"],
    ["shape", "--net", str(SAMPLES / "autoencoder.net")],
    *[["shape", "--preset", name] for name in preset_names()],
    ["shape", "--preset", "resnet50", "--depth", "1"],
]


@pytest.mark.parametrize("args", SHAPE_COMMANDS, ids=lambda a: " ".join(a[1:])[:50])
def test_piped_table_is_what_rich_draws(args, monkeypatch):
    fast = invoke(*args)
    assert fast.exit_code == 0
    monkeypatch.setattr("convcli.render.shape.stdout_is_plain", lambda: False)
    drawn = invoke(*args)  # the Rich console on the pipe, as before issue 14
    assert (fast.stdout, fast.stderr) == (drawn.stdout, drawn.stderr)
    assert fast.stdout.splitlines()[-1].endswith(".")  # the convention ends the output


def test_stdout_is_plain_defers_to_rich_when_told_it_is_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE"):
        monkeypatch.delenv(name, raising=False)
    assert stdout_is_plain()
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not stdout_is_plain()
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert not stdout_is_plain()
    assert PIPE_WIDTH == 200


def _run_shape(*extra: str, env: dict[str, str] | None = None) -> tuple[str, list[str]]:
    """Run ``convcli shape 224 -k 3 -s 2 -p 1`` piped in a fresh interpreter: its stdout
    and which of the heavy or slow modules it imported."""
    code = (
        "import sys\n"
        f"sys.argv = ['convcli', 'shape', '224', '-k', '3', '-s', '2', '-p', '1', *{extra!r}]\n"
        "from convcli.cli import app\n"
        "try:\n    app()\nexcept SystemExit:\n    pass\n"
        "watched = ('rich', 'numpy', 'scipy', 'PIL', 'json', 'csv', 'fractions')\n"
        "sys.stderr.write('LOADED:' + ' '.join(m for m in watched if m in sys.modules))\n"
    )
    base = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={**base, **(env or {})}
    )
    return done.stdout, done.stderr.rsplit("LOADED:", 1)[-1].split()


def test_piped_shape_table_imports_no_rich():
    stdout, loaded = _run_shape()
    assert stdout.splitlines()[3].split()[:4] == ["1", "conv:k=3,s=2,p=1", "112x112", "10"]
    assert loaded == []


def test_forced_colour_still_goes_through_rich():
    stdout, loaded = _run_shape(env={"FORCE_COLOR": "1"})
    assert "rich" in loaded
    assert "\x1b[" in stdout  # Rich styled it: the fast path stood aside


# ---- convcli._records: dataclasses with shared __eq__/__hash__/__repr__ ----------------------


def _pair(frozen: bool, body: dict) -> tuple[type, type]:
    """The same class body through dataclasses and through convcli._records."""
    import dataclasses

    from convcli._records import dataclass

    made = []
    for decorate in (dataclasses.dataclass(frozen=frozen), dataclass(frozen=frozen)):
        namespace = {"__module__": __name__, "__qualname__": "Thing", **body}
        namespace["__annotations__"] = dict(body["__annotations__"])
        for name, value in body.items():  # a fresh Field per class: dataclasses fill it in
            if isinstance(value, dataclasses.Field):
                namespace[name] = dataclasses.field(
                    default=value.default, default_factory=value.default_factory,
                    compare=value.compare, hash=value.hash, repr=value.repr,
                )  # fmt: skip
        made.append(decorate(type("Thing", (), namespace)))
    return made[0], made[1]


_BODIES = [
    {"__annotations__": {}},
    {"__annotations__": {"a": "int"}},
    {"__annotations__": {"a": "int", "b": "float"}, "b": 0.5},
    {
        "__annotations__": {"a": "int", "note": "str", "tags": "list", "key": "int"},
        "note": __import__("dataclasses").field(default="x", compare=False),
        "tags": __import__("dataclasses").field(default_factory=list, repr=False),
        "key": __import__("dataclasses").field(default=0, hash=False),
    },
]


@pytest.mark.parametrize("frozen", [True, False])
@pytest.mark.parametrize("body", _BODIES, ids=lambda b: ",".join(b["__annotations__"]) or "none")
def test_records_behave_as_dataclasses(frozen, body):
    import dataclasses

    real, ours = _pair(frozen, body)
    names = list(body["__annotations__"])
    samples = [
        dict(zip(names, values, strict=False))
        for values in ([1, 2.0, "y", [1], 3], [1, 2.0, "z", [], 4], [2, float("nan"), "y", [1], 3])
    ]
    for left in samples:
        for right in samples:
            r1, r2 = real(**left), real(**right)
            o1, o2 = ours(**left), ours(**right)
            assert (o1 == o2) == (r1 == r2)
            assert (o1 != o2) == (r1 != r2)
            assert repr(o1) == repr(r1)
            if frozen:
                assert (hash(o1) == hash(o2)) == (hash(r1) == hash(r2))
                assert hash(o1) == hash(r1)
    assert (ours.__hash__ is None) == (real.__hash__ is None)
    one = ours(**samples[0])
    assert one.__eq__(object()) is NotImplemented
    assert [f.name for f in dataclasses.fields(ours)] == names
    assert str(inspect.signature(ours)) == str(inspect.signature(real))
    assert ours.__doc__ == real.__doc__  # dataclasses write the signature there
    assert ours.__match_args__ == real.__match_args__
    with pytest.raises(TypeError) as real_error:
        real(1, 2, 3, 4, 5, 6)
    with pytest.raises(TypeError) as ours_error:  # the same complaint, from the same signature
        ours(1, 2, 3, 4, 5, 6)
    assert str(ours_error.value).split("() ", 1)[1] == str(real_error.value).split("() ", 1)[1]
    assert dataclasses.replace(one, **samples[1]) == ours(**samples[1])
    if frozen and names:
        with pytest.raises(dataclasses.FrozenInstanceError):
            one.a = 5
        with pytest.raises(dataclasses.FrozenInstanceError):
            one.other = 5
        with pytest.raises(dataclasses.FrozenInstanceError):
            del one.a
    elif names:
        one.a = 5
        assert one.a == 5
    if "tags" in names:  # a fresh list per instance, from the factory
        assert ours(1).tags == [] and ours(1).tags is not ours(1).tags


def test_record_repr_of_itself_does_not_recurse():
    from convcli._records import dataclass

    @dataclass
    class Node:
        child: object = None

    node = Node()
    node.child = node
    assert repr(node) == "test_record_repr_of_itself_does_not_recurse.<locals>.Node(child=...)"


def test_record_keeps_methods_a_class_writes():
    from convcli._records import dataclass

    @dataclass(frozen=True)
    class Loose:
        a: int

        def __eq__(self, other):
            return True

    assert Loose(1) == Loose(2)
    assert repr(Loose(1)).endswith("Loose(a=1)")
    assert hash(Loose(1)) == hash((1,))  # dataclasses' own hash, as they add it here


def test_record_leaves_what_it_does_not_cover_to_dataclasses():
    import dataclasses

    from convcli._records import dataclass

    @dataclass(frozen=True)
    class Later:
        a: int
        items: list = dataclasses.field(default_factory=list)

        def __post_init__(self):
            object.__setattr__(self, "a", self.a * 2)

    assert Later(2) == Later(4 // 2) and Later(2).a == 4 and Later(2).items == []
    assert Later.__init__.__code__.co_filename != __file__  # dataclasses wrote it
    with pytest.raises(TypeError, match="non-default argument 'b' follows default"):

        @dataclass
        class Backwards:
            a: int = 0
            b: int


def test_fields_are_ints_until_a_transposed_layer_makes_fractions():
    from fractions import Fraction

    from convcli.network import Source, size_network

    report = size_network(
        Source(words=("conv:4,k=3,s=2", "deconv:4,k=3,s=2"), input_size="3x16x16")
    )
    conv, deconv = report.layers
    assert conv.rf == (3, 3) and all(type(v) is int for v in conv.rf + conv.jump)
    assert deconv.jump == (Fraction(1), Fraction(1))
    assert all(type(v) is Fraction for v in deconv.rf + deconv.jump + deconv.rf_padding)


# Typer's Rich help, not convcli's own piped one (tests/test_help_render.py): Rich stays
# off the terminal path with TTY_COMPATIBLE=0, and convcli's renderer steps aside for it.
_RICH = {**os.environ, "TTY_COMPATIBLE": "0"}


def test_help_leaves_out_what_rich_help_never_draws():
    """Rich's ``--help`` imports typer.rich_utils without rich.markdown (markdown-it, Pygments)
    and rich.traceback; the stand-ins are gone afterwards and build real objects if called."""
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from convcli.cli import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "print(result.exit_code, 'Commands' in result.stdout, 'shape' in result.stdout,"
        " 'rich.console' in sys.modules)\n"
        "print(sorted(m for m in ('rich.markdown', 'rich.traceback', 'markdown_it', 'pygments')"
        " if m in sys.modules))\n"
        "import typer.rich_utils as ru\n"
        "made = ru.Markdown('*x*')\n"
        "import rich.markdown\n"
        "print(type(made) is rich.markdown.Markdown, hasattr(rich.markdown, 'Heading'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_RICH)
    assert done.stdout.splitlines() == ["0 True True True", "[]", "True True"], done.stderr


@pytest.mark.parametrize("command", ["", "shape", "apply", "compare", "kernels", "learn", "draw"])
def test_help_is_what_typer_draws_with_every_module_loaded(command):
    """The help with the stand-ins is the help Typer draws once rich.markdown and
    rich.traceback are really imported (as they were before issue 14)."""
    args = [command, "--help"] if command else ["--help"]
    code = (
        "import sys\n"
        f"if sys.argv[1] == 'real':\n    import rich.markdown, rich.traceback\n"
        "from typer.testing import CliRunner\n"
        "from convcli.cli import app\n"
        f"sys.stdout.write(CliRunner().invoke(app, {args!r}, terminal_width=80).stdout)\n"
    )
    outputs = [
        subprocess.run(
            [sys.executable, "-c", code, how], capture_output=True, text=True, env=_RICH
        ).stdout
        for how in ("stand-in", "real")
    ]
    assert outputs[0] == outputs[1]
    assert "Usage:" in outputs[0] and len(outputs[0].splitlines()) > 8


def test_record_init_is_compiled_once_for_all():
    """Every record's ``__init__`` runs the one template's bytecode (nothing compiled per
    class, issue 14), with the class's own parameters, defaults and errors."""
    from convcli import _records
    from convcli._records import dataclass

    @dataclass(frozen=True)
    class Pair:
        left: int
        right: int = 2

    assert Pair.__init__.__code__.co_code == _records._template.__code__.co_code
    assert Pair.__init__.__code__.co_varnames == ("self", "left", "right")
    assert Pair(1) == Pair(left=1, right=2) and Pair(1, 3).right == 3
    with pytest.raises(
        TypeError, match=r"Pair.__init__\(\) got an unexpected keyword argument 'x'"
    ):
        Pair(1, x=3)

    @dataclass
    class Odd:  # a field called self: dataclasses name __init__'s first parameter otherwise
        self: int

    assert Odd(self=4).self == 4
    assert Odd.__init__.__code__.co_code != _records._template.__code__.co_code


def test_records_read_their_fields_as_dataclasses_do():
    """The fields a record makes itself (issue 14) are those dataclasses make; ClassVar,
    InitVar, a mutable default or a field without annotation go to dataclasses, which say
    what they always said."""
    import dataclasses
    from typing import ClassVar

    from convcli import _records
    from convcli._records import dataclass

    @dataclass(frozen=True)
    class Plain:
        a: int
        b: str = "x"
        c: list = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True)
    class Real:
        a: int
        b: str = "x"
        c: list = dataclasses.field(default_factory=list)

    assert _records._plain_fields is not None
    keys = ("name", "type", "default", "default_factory", "init", "repr", "hash", "compare",
            "kw_only", "_field_type")  # fmt: skip
    for ours, real in zip(dataclasses.fields(Plain), dataclasses.fields(Real), strict=True):
        assert [getattr(ours, k) for k in keys] == [getattr(real, k) for k in keys]
    assert Plain.b == "x" and "c" not in Plain.__dict__ and Plain.__match_args__ == ("a", "b", "c")
    assert Plain.__init__.__code__.co_code == _records._template.__code__.co_code

    def counted(decorate):
        @decorate
        class Counted:
            total: ClassVar[int] = 0  # a string here: dataclasses look ClassVar up
            a: int = 1

        return [f.name for f in dataclasses.fields(Counted)]

    assert counted(dataclass) == counted(dataclasses.dataclass)
    assert _records._special("ClassVar[int]", {"ClassVar": ClassVar})
    assert _records._special("t.ClassVar[int]", {"t": __import__("typing")})
    assert not _records._special("tuple[int, ...]", {"ClassVar": ClassVar})
    with pytest.raises(ValueError, match="mutable default"):

        @dataclass
        class Mutable:
            a: list = []  # noqa: RUF012

    with pytest.raises(TypeError, match="is a field but has no type annotation"):

        @dataclass
        class Unnamed:
            a = dataclasses.field(default=1)


def test_the_entry_point_leaves_its_objects_to_the_process_exit():
    """``main`` freezes what is left once the command has run (also by SystemExit), so
    the interpreter's last collections do not walk it: ~0.1 s after a Dask run. (A child
    process: ``main`` sets up the process's signal handling for good.)"""
    code = (
        "import gc, sys\nfrom convcli.cli import main\n"
        "sys.argv = ['convcli', 'shape', '224', '-k', '3']\n"
        "try:\n    main()\nexcept SystemExit as ended:\n"
        "    print(ended.code, gc.get_freeze_count(), len(gc.get_objects()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    code, frozen, loose = run.stdout.split()[-3:]
    # Frozen after the command: what it made is frozen too (~1,800 objects otherwise).
    assert code == "0" and int(frozen) > 1000 and int(loose) < 100, run.stdout
