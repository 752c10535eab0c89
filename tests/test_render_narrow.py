"""An 80-column terminal (issue 13): tables that do not fit switch to a layout that does,
so that no number or name is ever cut, and ``--help`` reads at 80 columns.

The views are rendered at width 80 (the console a terminal of 80 columns gets) and every
number and name the same command gives in JSON must appear whole, as a token, in the text.
A wide terminal and a pipe keep the wide tables byte for byte: tests/test_cli_corpus.py.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
import sys

import pytest
from rich.console import Console

import convcli.render
from convcli.render import Record, fits, stacked, thousands
from convcli.render.kernels import format_number

_PUNCTUATION = "[](){},;:.'\"`"
_BOX = re.compile(r"[│┃┆┊║|]")


@pytest.fixture
def at_width(monkeypatch):
    """Render tables on a console of ``width`` columns, as a terminal that wide would."""

    def use(width: int) -> None:
        def console() -> Console:
            return Console(width=width, force_terminal=False, no_color=True)

        # Import every renderer first: one imported while the patch is on would keep the
        # patched console for the rest of the run (later tests would render at this width).
        for info in pkgutil.iter_modules(convcli.render.__path__, "convcli.render."):
            importlib.import_module(info.name)
        for name, module in list(sys.modules.items()):
            if name.startswith("convcli.render") and hasattr(module, "stdout_console"):
                monkeypatch.setattr(module, "stdout_console", console)
            if name.startswith("convcli.render") and hasattr(module, "stdout_is_plain"):
                monkeypatch.setattr(module, "stdout_is_plain", lambda: False)  # a terminal

    return use


def tokens(text: str) -> set[str]:
    """Whitespace-separated words with the punctuation around them (not inside) removed."""
    found = set()
    for word in _BOX.sub(" ", text).split():
        found.add(word)
        found.add(word.strip(_PUNCTUATION))
    return found


def assert_whole(text: str, expected: set[str], width: int) -> None:
    too_wide = [line for line in text.splitlines() if len(line.rstrip()) > width]
    assert not too_wide, too_wide
    assert "…" not in text
    missing = sorted(expected - tokens(text))
    assert not missing, missing


def assert_vector_whole(text: str, vector: list[float]) -> None:
    """A factor shows as ``[1,2,1]`` (one token) or, wrapped, as ``[1, 2, 1]``."""
    values = [format_number(v, 4) for v in vector]
    compact = "[" + ",".join(values) + "]"
    assert compact in text or set(values) <= tokens(text), (compact, text)


def shape_text(shape: list[int] | None) -> str:
    return "-" if shape is None else "x".join(str(n) for n in shape)


def cost_tokens(cost: dict, flops: bool = True) -> set[str]:
    keys = ("params", "macs", "flops") if flops else ("params", "macs")
    out = {thousands(cost[key]) for key in keys}
    if cost.get("output") is not None:
        out.add(shape_text(cost["output"]))
    return out | set(cost["layers"])


def run(cli, *args: str) -> tuple[str, dict]:
    table = cli(*args)
    data = cli(*args, "--format", "json")
    assert table.exit_code == 0 and data.exit_code == 0, table.stderr
    return table.stdout, json.loads(data.stdout)


# ---- compare ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize(
    "args",
    [
        ("compare", "3x12x12", "-k", "5", "-c", "256"),
        ("compare", "512x224x224", "-k", "3", "-c", "512"),  # numbers too long for a table
        ("compare", "3x64x64", "-c", "32", "--kernel-matrix", "sobel-x"),
        ("compare", "3x32x32", "-c", "8", "--kernel-matrix", "gaussian:2"),  # long factors
    ],
    ids=["layer", "big-layer", "sobel-x", "gaussian"],
)
def test_compare_layer_keeps_every_number_whole(cli, at_width, args, width):
    at_width(width)
    text, data = run(cli, *args)
    expected: set[str] = set()
    for form in ("standard", "depthwise", "pointwise", "separable", "spatial"):
        if data.get(form):
            expected |= cost_tokens(data[form])
    kernels = data.get("kernel") if isinstance(data.get("kernel"), list) else []
    for kernel in kernels if kernels and isinstance(kernels[0], dict) else []:
        expected |= {thousands(kernel["direct"]["macs"]), thousands(kernel["direct"]["params"])}
        for vector in (kernel["factors"] or {}).values():
            assert_vector_whole(text, vector)
    assert_whole(text, expected, width)


@pytest.mark.parametrize("width", [80, 60])
def test_compare_network_keeps_every_number_whole(cli, at_width, width):
    at_width(width)
    text, data = run(cli, "compare", "--preset", "mobilenet_v1")
    expected = {thousands(data[form][key]) for form in ("standard", "separable")
                for key in ("params", "macs")}  # fmt: skip
    for layer in data["layers"]:
        expected |= cost_tokens(layer["separable"], flops=False)
        expected |= cost_tokens(layer["standard"], flops=False)
    for share in data["by_kind"]:
        expected |= {thousands(share["macs"]), thousands(share["params"])}
        expected |= {f"{100 * share['macs_share']:.2f}%", f"{100 * share['params_share']:.2f}%"}
        assert share["label"] in text
    assert_whole(text, expected, width)


def test_compare_at_80_columns_splits_the_table_in_two(cli, at_width):
    at_width(80)
    text = cli("compare", "3x12x12", "-k", "5", "-c", "256").stdout
    assert "1,228,800" in text and "2,457,600" in text
    header = next(line for line in text.splitlines() if "params" in line)
    assert "MACs vs standard" in header  # the numbers table: its header whole too
    assert any("kernels" in line and "layers" in line for line in text.splitlines())


# ---- kernels ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 60])
def test_kernel_catalogue_keeps_names_and_sizes_whole(cli, at_width, width):
    at_width(width)
    text, data = run(cli, "kernels")
    assert_whole(text, {entry["name"] for entry in data}, width)
    for entry in data:  # multi-word sizes and arguments stay on one line
        assert any(entry["size"] in line for line in text.splitlines()), entry["size"]
    assert len(text.splitlines()) < 80  # it was 189 lines with a 3-character column


@pytest.mark.parametrize("width", [80, 60])
@pytest.mark.parametrize("step", ["gaussian:2", "sobel", "log:1.4", "box:9", "0 1 | 2 3"])
def test_one_kernel_keeps_every_value_whole(cli, at_width, step, width):
    at_width(width)
    text, data = run(cli, "kernels", step)
    parts = data.get("components") or [data]
    expected = set()
    for part in parts:
        expected |= {format_number(v, 4) for v in _flat(part["matrix"])}
        for vector in (part.get("factors") or {}).values():
            assert_vector_whole(text, vector)
    assert_whole(text, expected, width)


def _flat(values):
    if isinstance(values, list):
        for value in values:
            yield from _flat(value)
    else:
        yield values


def test_a_wide_matrix_prints_in_numbered_column_blocks(cli, at_width):
    at_width(80)
    text = cli("kernels", "gaussian:2").stdout
    assert "columns 1-5 of 13" in text and "columns 11-13 of 13" in text


# ---- the shared helpers ----------------------------------------------------------------------


def test_fits_measures_tables_by_natural_width_and_text_by_its_longest_word():
    from rich.table import Table
    from rich.text import Text

    table = Table()
    table.add_column("x")
    table.add_row("y" * 40)
    assert fits(Console(width=80), table)
    assert not fits(Console(width=30), table)
    assert fits(Console(width=30), Text("word " * 40))
    assert not fits(Console(width=30), Text("w" * 31))


def test_stacked_flows_fields_and_never_splits_a_value():
    console = Console(width=40, no_color=True)
    records = [
        Record("standard", [[("", "conv:256,k=5")], [("params", "19,456"), ("MACs", "1,228,800"),
                                                       ("FLOPs", "2,457,600")]]),
        Record("spatial", [[("", "dwconv:k=5x1,dm=256,bias=false + conv:256,k=1x5,g=256")]]),
    ]  # fmt: skip
    with console.capture() as captured:
        console.print(stacked(console, records))
    lines = captured.get().splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert lines[0].startswith("standard  conv:256,k=5")
    assert "params 19,456   MACs 1,228,800" in lines[1]
    assert lines[2].strip() == "FLOPs 2,457,600"
    assert tokens("\n".join(lines)) >= {"dwconv:k=5x1,dm=256,bias=false", "conv:256,k=1x5,g=256"}


# ---- --help ----------------------------------------------------------------------------------

COMMANDS = ["shape", "apply", "compare", "kernels", "learn"]


def help_at_80(cli, monkeypatch, *args: str) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("NO_COLOR", "1")
    result = cli(*args, "--help")
    assert result.exit_code == 0
    return result.stdout


def _command(name: str):
    import typer

    from convcli.cli import app

    return typer.main.get_command(app).get_command(None, name)


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_fits_80_columns_and_paragraphs_reflow(cli, monkeypatch, command):
    text = help_at_80(cli, monkeypatch, *([command] if command else []))
    lines = text.splitlines()
    assert all(len(line.rstrip()) <= 80 for line in lines)
    if command == "shape":
        # Its one-line summary (convcli/commands/shape.py) is 80 characters: Typer joins
        # the first paragraph into one line, so only a shorter sentence can fix that one.
        lines = lines[lines.index(next(line for line in lines if "PyTorch." in line)) + 1 :]
    for index, line in enumerate(lines):
        if line.lstrip()[:1] in ("│", "╭", "╰") or len(line.split()) != 1:
            continue
        # A lone word outside the option panels is a paragraph of its own (a heading).
        before = lines[index - 1].strip() if index else ""
        after = lines[index + 1].strip() if index + 1 < len(lines) else ""
        assert not before and not after, (command, line)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_keeps_every_choice_whole(cli, monkeypatch, command):
    text = help_at_80(cli, monkeypatch, command)
    words = tokens(text)
    for param in _command(command).params:
        for choice in getattr(param.type, "choices", None) or ():
            name = str(getattr(choice, "value", choice))
            assert name in words, (command, param.name, name)


def test_help_usage_shows_repeatable_and_required_arguments(cli, monkeypatch):
    assert "Usage: convcli shape [OPTIONS] [INPUT] [LAYER]..." in help_at_80(
        cli, monkeypatch, "shape"
    )
    assert "Usage: convcli apply [OPTIONS] [INPUT]..." in help_at_80(cli, monkeypatch, "apply")
    assert "Usage: convcli learn [OPTIONS] INPUT TARGET" in help_at_80(cli, monkeypatch, "learn")


def test_apply_help_puts_the_common_options_first(cli, monkeypatch):
    lines = help_at_80(cli, monkeypatch, "apply").splitlines()

    def row(option: str) -> int:
        pattern = rf"^│ (\*  |   )?{option}\b"  # the option's own row, not a mention
        return next(i for i, line in enumerate(lines) if re.search(pattern, line))

    common = [row(o) for o in ("--kernel", "--padding", "--border", "--map", "--output",
                               "--out-dir", "--matrix", "--format")]  # fmt: skip
    rest = [row(o) for o in ("--dilation", "--convolve", "--gray", "--to", "--name", "--jobs")]
    assert max(common) < min(rest)
    assert max(common) < 60  # the first screen
    assert len(lines) < 200  # 211 lines before, with fewer options (--like, --dask since)


def test_help_examples_fit_and_keep_their_indent(cli, monkeypatch):
    text = help_at_80(cli, monkeypatch, "kernels")
    assert "\n   convcli kernels sobel-x " in text
    text = help_at_80(cli, monkeypatch, "shape")
    # A long example continues after a backslash; the comment goes under it.
    assert re.search(r"conv:64,k=7,s=2,p=3 \\ *\n       maxpool:k=3,s=2,p=1 conv:128,k=3,p=1", text)
    assert "\n   # 568,740,352 MACs, 4,210,088 params" in text


@pytest.mark.parametrize(
    ("args", "width"),
    [(("--preset", "resnet50"), 80), (("--preset", "resnet50"), 60), (("--preset", "unet"), 80)],
)
def test_shape_keeps_every_layer_word_and_name_whole(cli, at_width, args, width):
    """A network too wide even for the narrow table is printed as records: each layer's
    word on its own line, its numbers as named fields under it, none cut or folded."""
    at_width(width)
    result = cli("shape", *args)
    assert result.exit_code == 0, result.stderr
    data = json.loads(cli("shape", *args, "--format", "json").stdout)
    words = {layer["spec"] for layer in data["layers"]}
    assert_whole(result.stdout, words | {"params", "MACs", "FLOPs"}, width)
    assert "…" not in result.stdout
    first = data["layers"][0]
    assert f"1  {first['spec']}" in result.stdout.splitlines()[1]
