"""Networks as text (convcli.network): every graph word and every preset against torch.

The reference numbers come from torch-built models (tests/data/make_graph_fixture.py,
torch 2.13 CPU); the suite never imports torch.
"""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from convcli.errors import ConvcliError, SpecError
from convcli.geometry import LayerReport
from convcli.network import (
    Source,
    analyze_network,
    fold_blocks,
    parse_network,
    read_network,
    resolve_inputs,
    size_network,
)
from convcli.presets import NET_PRESETS, preset_network
from tests.conftest import SAMPLES

FIXTURE = json.loads((Path(__file__).parent / "data" / "graph_torch.json").read_text())

#: The convcli text of each torch case in the fixture's "words".
WORDS = {
    "add": "input 16x32x32 tag:a conv:16,k=3,p=1 add:a",
    "cat": "input 16x32x32 tag:a conv:8,k=3,p=1 cat:a",
    "mul": "input 16x32x32 tag:a gap conv:16,k=1 sigmoid mul:a",
    "up_nearest": "input 16x32x32 up:2",
    "up_bilinear": "input 16x32x32 up:2,mode=bilinear",
    "shuffle": "input 16x32x32 conv:64,k=3,p=1 shuffle:2",
    "adaptive": "input 512x15x15 gap:7x7 flatten fc:10",
    "pad": "input 4x10x10 pad:1,2,3,4 conv:4,k=3",
    "crop": "input 8x64x64 tag:a conv:8,k=3 conv:8,k=3 tag:b from:a crop:b cat:b",
    "repeat": "input 16x32x32 repeat:3 conv:16,k=3,p=1 relu end",
    "def_use": "input 3x32x32 def:blk,c conv:%c,k=3,p=1,bn,act=relu end use:blk,32 use:blk,64",
    "conv1d": "input 4x100 conv1d:8,k=5,s=2 maxpool1d:k=2 avgpool1d:k=3,s=1,p=1 "
    "deconv1d:4,k=4,s=2,p=1",
    "conv3d": "input 3x16x112x112 conv3d:64,k=3x7x7,s=1x2x2,p=1x3x3,bn,act=relu "
    "maxpool3d:k=3,s=2,p=1 avgpool3d:k=2 deconv3d:8,k=2,s=2",
    "attn": "input 64x14x14 tokens cls posemb tag:x ln attn:4 add:x tag:y ln mlp:128 add:y "
    "ln head:10",
    "features": "input 768f fc:1000",
    "gn": "input 16x8x8 gn:4 silu",
    "se": "input 16x8x8 se:4,act=silu",
    "relu6_bn": "input 3x32x32 conv:8,k=3,s=2,p=1,bn,act=relu6 hswish lrelu gelu",
}
#: Kinds whose parameters torch keeps outside any module (class token, position embedding).
NOT_MODULES = {"cls", "posemb"}


def run(text: str, origin: str = ""):
    network = parse_network(text, origin)
    inputs, notes = resolve_inputs(network)
    return analyze_network(network, inputs, notes=notes)


def flat(layers: tuple[LayerReport, ...]) -> list[LayerReport]:
    return [part for layer in layers for part in (layer.parts or (layer,))]


def weighted(report) -> list[tuple[list[int], int]]:
    """(output, params) of every layer with parameters, in order, as torch lists modules."""
    return [(r.output.dims(), r.params) for r in flat(report.layers)
            if r.params and r.kind not in NOT_MODULES]  # fmt: skip


def torch_weighted(case: dict) -> list[tuple[list[int], int]]:
    return [(layer["output"], layer["params"]) for layer in case["layers"] if layer["params"]]


def check_against_torch(report, case: dict) -> None:
    assert report.total.params == case["params"]
    assert report.total.buffers == case["buffers"]
    assert report.total.macs == case["macs"]
    assert report.output.dims() == case["output"]
    assert weighted(report) == torch_weighted(case)


@pytest.mark.parametrize("name", sorted(WORDS))
def test_each_word_agrees_with_torch(name):
    check_against_torch(run(WORDS[name]), FIXTURE["words"][name])


@pytest.mark.parametrize("name", sorted(NET_PRESETS))
def test_each_preset_agrees_with_torch(name):
    network = preset_network(name)
    report = analyze_network(network, resolve_inputs(network)[0])
    check_against_torch(report, FIXTURE["presets"][name])
    assert (SAMPLES / f"{name}.net").read_text() == (
        Path(__file__).parents[1] / "convcli" / "nets" / f"{name}.net"
    ).read_text()


def test_vgg16_at_256_keeps_its_parameters_through_the_adaptive_pool():
    network = preset_network("vgg16_bn")
    report = analyze_network(network, resolve_inputs(network, "3x256x256")[0])
    case = FIXTURE["presets"]["vgg16_256"]  # vgg16 without bn: 138,357,544
    bn_params = sum(r.params for r in report.layers if r.kind == "bn")
    assert report.total.params - bn_params == case["params"] == 138_357_544
    assert report.total.macs == case["macs"]


def test_feature_input_is_not_a_square_image():
    assert run("input 768f fc:1000").total.params == 769_000
    assert run("input 768 fc:1000").total.params == 768 * 768 * 1000 + 1000  # H=W=768


def test_branch_report_names_what_each_layer_reads():
    report = run("input 8x8x8 tag:x conv:8,k=3,p=1 tag:y from:x conv:8,k=1 add:y")
    assert [r.reads for r in report.layers] == [(), ("x",), ("#2", "y")]
    assert [r.inputs for r in report.layers] == [("input",), ("input",), ("#2", "#1")]


def test_several_inputs_and_outputs_with_their_own_totals():
    text = ("input c4=64x26x26 c5=128x13x13 from:c5 conv:32,k=1 up:2 tag:p5 out:small "
            "from:c4 conv:32,k=1 add:p5 conv:255,k=1 out:big")  # fmt: skip
    report = run(text)
    assert list(report.inputs) == ["c4", "c5"]
    assert {k: str(v) for k, v in report.outputs.items()} == {
        "small": "32x26x26", "big": "255x26x26"}  # fmt: skip
    # "small" depends on c5's conv only; "big" on every layer.
    assert report.output_totals["small"].params == 128 * 32 + 32
    assert report.output_totals["big"].params == report.total.params


def test_a_deep_chain_is_walked_in_memory_that_grows_linearly():
    # Each tensor once kept the set of every layer before it: 3,000 layers peaked near
    # 200 MB and 100,000 (MAX_LAYERS) ran for minutes. The dependencies are now walked
    # back once per output.
    network = parse_network("input 3x32x32 repeat:3000 conv:3,k=1 end")
    tracemalloc.start()
    try:
        report = analyze_network(network, resolve_inputs(network, None)[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000
    assert report.output_totals["output"].params == 3000 * (3 * 3 + 3)


def test_receptive_field_takes_the_widest_path_and_goes_global():
    report = run("input 1x64x64 tag:x conv:1,k=3,p=1 conv:1,k=3,p=1 tag:y from:x "
                 "conv:1,k=1 add:y se:1")  # fmt: skip
    add = report.layers[3]
    assert add.rf == (5, 5) and not add.rf_global
    assert report.layers[-1].rf_global


def test_fold_blocks_keeps_the_totals():
    network = preset_network("resnet50")
    report = analyze_network(network, resolve_inputs(network)[0])
    rows = fold_blocks(report.layers, 1)
    assert len(rows) < 30
    assert sum(r.params for r in rows) == report.total.params == 25_557_032
    assert rows[4].spec == "use:down,64,256,1"


def test_bom_crlf_and_comments_are_accepted(tmp_path):
    path = tmp_path / "net.net"
    path.write_bytes("\ufeffinput 3x8x8\r\nconv:4,k=3 # a comment\r\nrelu\r\n".encode())
    network = read_network(path)
    assert [layer.kind for layer in network.layers] == ["conv", "relu"]


def test_three_d_input_is_read_for_the_first_layer_with_a_note():
    report = run("input 3x16x112x112 conv3d:8,k=3,p=1")
    assert report.output.dims() == [8, 16, 112, 112]
    assert report.notes == ("note: 3x16x112x112 is read as C x D x H x W for the 3-D layers",)


def test_channels_last_trap_gets_a_note():
    _, notes = resolve_inputs(parse_network("conv:8,k=3"), "224x224x3")
    assert notes == ["note: 224x224x3 is read as C x H x W = 224x224x3; for H x W x C "
                     "(TensorFlow's order) add --channels-last"]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("input 8x8x8 add:nope", ConvcliError,
         "layer 1 'add:nope': no tensor named 'nope' (known: input); tag:NAME must come first"),
        ("input 8x8x8 from:later conv:8,k=1 tag:later", ConvcliError,
         "from:later: no tensor named 'later' (known: input); tag:NAME must come first"),
        ("input 8x8x8 tag:x conv:4,k=1 add:x", ConvcliError,
         "layer 2 'add:x': cannot add 'x' (8x8x8) to the current tensor (4x8x8): shapes "
         "must match"),
        ("input 8x8x8 tag:x conv:4,k=3 cat:x", ConvcliError,
         "layer 2 'cat:x': cannot concatenate 'x' (8x8x8) with the current tensor (4x6x6): "
         "sizes must match"),
        ("input 8x8x8 repeat:2 conv:8,k=1", SpecError,
         "'repeat:2' has no matching 'end'"),
        ("input 8x8x8 conv:8,k=1 end", SpecError, "'end' without a repeat: or def: to close"),
        ("input 8x8x8 use:block", SpecError,
         "'use:block': no block named 'block' (def:NAME ... end must come first)"),
        ("input 8x8x8 conv:8,k=3 conv3d:8,k=3", ConvcliError,
         "layer 2 'conv3d:8,k=3': a 3-D layer needs a C x D x H x W input, got 8x6x6 (2-D)"),
        ("input 8x8x8\ninput 3x4x4\nconv:8,k=1", SpecError, "input 'input' is given twice"),
        ("input 8x8x8 repeat:1000000 conv:8,k=1 relu end", SpecError,
         "'repeat:1000000' expands to more than 100,000 words"),
        ("def:a use:a end input 8x8x8 use:a", SpecError,
         "blocks nest deeper than 32 (a block that uses itself?)"),
        ("input 8x8x8 def:b,c conv:%c,k=1 end use:b", SpecError,
         "'use:b': missing value for c (def:b,c)"),
    ],
)  # fmt: skip
def test_bad_graphs_are_one_line_errors(text, error, message):
    with pytest.raises(error) as caught:
        network = parse_network(text.split("\n"))  # as command-line words: no line numbers
        analyze_network(network, resolve_inputs(network)[0])
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_cli_graph_errors_and_input_override(cli, tmp_path):
    result = cli("shape", "8x8x8", "tag:x", "conv:4,k=1", "add:x")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == ("Error: layer 2 'add:x': cannot add 'x' (8x8x8) to the current "
                             "tensor (4x8x8): shapes must match\n")  # fmt: skip
    unclosed = cli("shape", "8x8x8", "repeat:2", "relu")
    assert (unclosed.exit_code, unclosed.stderr) == (
        2, "Error: 'repeat:2' has no matching 'end'\n")  # fmt: skip
    override = cli("shape", "3x64x64", "--net", str(SAMPLES / "resnet18.net"), "--format", "plain")
    assert (override.exit_code, override.stdout) == (0, "1000\n")
    assert override.stderr == "note: INPUT 3x64x64 replaces the net file's input 3x224x224\n"
    strict = cli("shape", "3x64x64", "--net", str(SAMPLES / "resnet18.net"), "--strict",
                 "--format", "plain")  # fmt: skip
    assert strict.exit_code == 1


def test_cli_json_graph_and_expect_per_output(cli):
    args = ["shape", "input", "c4=64x26x26", "c5=128x13x13", "from:c5", "conv:32,k=1", "up:2",
            "out:small", "from:c4", "conv:255,k=1", "out:big"]  # fmt: skip
    data = json.loads(cli(*args, "--format", "json").stdout)
    assert data["inputs"] == {"c4": [64, 26, 26], "c5": [128, 13, 13]}
    assert {k: v["shape"] for k, v in data["outputs"].items()} == {
        "small": [32, 26, 26], "big": [255, 26, 26]}  # fmt: skip
    assert data["layers"][0]["inputs"] == ["c5"]
    assert data["layers"][2]["inputs"] == ["c4"]
    assert cli(*args, "--expect", "32x26x26,255x26x26").exit_code == 0
    bad = cli(*args, "--expect", "32x26x26,255x13x13")
    assert (bad.exit_code, bad.stderr) == (
        1, "Error: expected shape 255x13x13 for output 'big', got 255x26x26\n")  # fmt: skip


def test_cli_depth_and_count_elementwise(cli):
    folded = cli("shape", "--preset", "resnet50", "--depth", "1")
    assert folded.exit_code == 0
    assert "use:down,64,256,1" in folded.stdout and "25,557,032" in folded.stdout
    counted = json.loads(cli("shape", "--preset", "resnet18", "--count-elementwise",
                             "--format", "json").stdout)  # fmt: skip
    plain = json.loads(cli("shape", "--preset", "resnet18", "--format", "json").stdout)
    assert counted["total"]["macs"] == plain["total"]["macs"] + plain["total"]["elementwise_ops"]
    assert "--count-elementwise" in counted["convention"]


def test_compare_pairs_depthwise_and_projection_across_norms(cli):
    data = json.loads(cli("compare", "--preset", "mobilenet_v2", "--format", "json").stdout)
    reference = FIXTURE["mobilenet_v2_standard"]
    assert data["standard"]["macs"] == reference["macs"] == 1_224_972_288
    assert data["standard"]["params"] == reference["conv_fc_params"] == 11_112_136
    assert sum(block["replaced"] for block in data["layers"]) == 17
    resnet = json.loads(cli("compare", "--preset", "resnet18", "--format", "json").stdout)
    assert resnet["standard"] == resnet["separable"]  # no depthwise block, branches kept


def test_shape_path_imports_no_numpy():
    import subprocess
    import sys

    code = ("import sys; from typer.testing import CliRunner; from convcli.cli import app; "
            "r = CliRunner().invoke(app, ['shape', '--preset', 'vit_b_16']); "
            "assert r.exit_code == 0, r.output; "
            "print(sorted(m for m in ('numpy', 'scipy', 'PIL') if m in sys.modules))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "text",
    [
        "input 3x32x32 conv:8,k=3 sepconv:16,k=3 maxpool:k=2",
        "input 8x8x8 tag:x conv:8,k=3,p=1,bn,act=relu add:x se:2 gap flatten fc:3",
        "input 4x100 conv1d:8,k=5,s=2 maxpool1d:k=2",
        "input 64x14x14 tokens cls posemb tag:x ln attn:4 add:x mlp:128 ln head:10",
    ],
)
def test_fast_table_draws_exactly_what_rich_draws(text):
    import io

    from rich.console import Console

    from convcli.render.shape import _build_table

    report = run(text)
    for narrow in (False, True):
        grid = _build_table(report, list(report.layers), False, narrow)
        console = Console(file=io.StringIO(), width=200, color_system=None, soft_wrap=False)
        console.print(grid.rich())
        assert grid.text() == console.file.getvalue()


def test_preset_tables_fast_and_rich_agree():
    import io

    from rich.console import Console

    from convcli.render.shape import _build_table

    for name in ("resnet50", "unet"):
        network = preset_network(name)
        report = analyze_network(network, resolve_inputs(network)[0])
        grid = _build_table(report, list(report.layers), False, False)
        console = Console(file=io.StringIO(), width=200, color_system=None, soft_wrap=False)
        console.print(grid.rich())
        assert grid.text() == console.file.getvalue()


def test_a_preset_or_net_files_input_is_read_as_written_whatever_channels_last(tmp_path):
    preset = size_network(Source(preset="resnet18", channels_last=True))
    assert (str(preset.input), preset.total.params) == ("3x224x224", 11_689_512)
    video = Source(preset="r3d_18")
    assert video.load()[2] == []  # no note on how the preset's own 3x16x112x112 was read
    assert str(size_network(Source(preset="r3d_18", resolution=56)).input) == "3x16x56x56"
    net = tmp_path / "cl.net"
    net.write_text("input 4x15x17\nconv:8,k=3\n")
    again = size_network(Source(net=net, channels_last=True))
    assert (again.output.dims(), again.total.params) == ([8, 13, 15], 296)


def test_resolution_that_changes_a_typed_input_says_so():
    _, inputs, notes = Source(preset="resnet18", input_size="3x32x32", resolution=64).load()
    assert (str(inputs["input"]), notes[-1]) == (
        "3x64x64",
        "note: --resolution 64 makes INPUT 3x32x32 3x64x64",
    )


def test_an_unknown_tag_is_usage_when_typed_and_bad_input_in_a_file(cli, tmp_path):
    typed = cli("shape", "8x8x8", "add:nope")
    assert (typed.exit_code, typed.stderr) == (
        2,
        "Error: layer 1 'add:nope': no tensor named 'nope' (known: input); tag:NAME must come "
        "first\n",
    )
    net = tmp_path / "t.net"
    net.write_text("input 8x8x8\nadd:nope\n")
    read = cli("shape", "--net", net)
    assert (read.exit_code, read.stderr) == (  # the file's place named once
        1,
        "Error: layer 1 'add:nope' (t.net:2): no tensor named 'nope' (known: input); tag:NAME "
        "must come first\n",
    )
