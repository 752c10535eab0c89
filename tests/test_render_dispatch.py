"""The one dispatcher (``convcli.render.render``), the results' ``to_dict()`` and the one
number formatter and JSON-number policy (``convcli.numbers``)."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import numpy as np
import pytest

from convcli.errors import SpecError
from convcli.geometry import Layer, Shape, analyze
from convcli.layers import LayerOptions, target_report
from convcli.network import Source, size_network
from convcli.numbers import compact, format_number, json_fraction, json_nested, json_number, memory
from convcli.render import OutputFormat, ResultView, render
from convcli.render.shape import ReportView, TargetView
from convcli.teaching import trace_network


class _Fixed(ResultView):
    """A view with a fixed answer in each format, to see which one render() picks."""

    what = "the fixed result"

    def to_dict(self) -> dict[str, object]:
        return {"format": "json", "value": 0.5}

    def csv_table(self):  # type: ignore[override]
        return ["a", "b"], [[1, "x,y"]]

    def plain_lines(self) -> list[str]:
        return ["plain 1", "plain 2"]

    def print_table(self) -> None:
        print("table")

    def notes(self) -> list[str]:
        return ["note: a remark"]


class _DataOnly(ResultView):
    def to_dict(self) -> dict[str, object]:
        return {"only": "data"}

    def plain_lines(self) -> list[str]:
        return ["only data"]


@pytest.mark.parametrize(
    ("output_format", "expected"),
    [
        (OutputFormat.json, '{\n  "format": "json",\n  "value": 0.5\n}\n'),
        (OutputFormat.csv, 'a,b\n1,"x,y"\n'),
        (OutputFormat.plain, "plain 1\nplain 2\n"),
        (OutputFormat.table, "table\n"),
        (None, "table\n"),
    ],
)
def test_render_picks_one_branch_per_format(capsys, output_format, expected) -> None:
    render(_Fixed(), output_format)
    out, err = capsys.readouterr()
    assert out == expected
    assert err == "note: a remark\n"


def test_a_view_without_csv_is_refused_before_anything_prints(capsys) -> None:
    with pytest.raises(SpecError, match="^this result has no CSV form: use --format table"):
        render(_DataOnly(), OutputFormat.csv)
    assert capsys.readouterr() == ("", "")
    render(_DataOnly(), OutputFormat.table)  # the table defaults to the plain lines
    assert capsys.readouterr().out == "only data\n"


def test_a_view_may_print_its_json_on_one_line(capsys) -> None:
    class OneLine(_DataOnly):
        json_indent = None

    render(OneLine(), OutputFormat.json)
    assert capsys.readouterr().out == '{"only": "data"}\n'


def test_every_format_enum_member_has_a_branch(capsys) -> None:
    """A new OutputFormat member without a branch would fall to the table: each member
    must print something different from the others."""
    outputs = set()
    for member in OutputFormat:
        render(_Fixed(), member)
        outputs.add(capsys.readouterr().out)
    assert len(outputs) == len(OutputFormat)


# ---- to_dict ---------------------------------------------------------------------------------


def test_chain_report_to_dict_is_the_shape_json(cli) -> None:
    report = analyze(Shape(3, 32, 32), [Layer("conv", 8, kernel=(3, 3), stride=(2, 2))])
    data = report.to_dict()
    assert data["output"] == [8, 15, 15]
    assert data["layers"][0]["padding"] == [0, 0, 0, 0]
    assert data["layers"][0]["rf"] == [3, 3]
    assert data["total"] == {"params": 224, "macs": 48600, "flops": 97200, "window_ops": 0,
                             "memory_bytes": 7200, "buffers": 0, "elementwise_ops": 0}  # fmt: skip
    printed = cli("shape", "3x32x32", "conv:8,k=3,s=2", "--format", "json")
    assert json.loads(printed.stdout) == json.loads(json.dumps(data))
    assert ReportView(report).to_dict() == data


def test_report_view_formats() -> None:
    report = analyze(Shape(None, 224, 224), [Layer("maxpool", None, kernel=(2, 2))])
    view = ReportView(report, square_input=True)
    assert view.plain_lines() == ["112"]
    header, rows = view.csv_table()
    rows = list(rows)
    assert header[:5] == ["position", "type", "spec", "input", "output"]
    assert rows[0][:5] == [1, "maxpool", "maxpool:k=2", "224x224", "112x112"]
    assert rows[-1][0] == "total"


def test_target_report_to_dict_and_csv() -> None:
    result = target_report(Shape(None, 224, 224), "112", LayerOptions(kernel="3", stride="2"))
    data = result.to_dict()
    assert data["options"][0] == {"axis": "h,w", "stride": 2, "padding": [0, 1],
                                  "output_padding": 0,
                                  "pytorch": "F.pad 0 before, 1 after, then padding=0",
                                  "tf_same": True}  # fmt: skip
    assert data["options"][1]["pytorch"] == "padding=1"
    header, rows = TargetView(result).csv_table()
    assert list(rows)[1] == ["h,w", 2, 1, 1, 0, "padding=1", False]
    assert TargetView(result).plain_lines() == ["stride 2 pad 0,1 (TF SAME)", "stride 2 pad 1,1"]


def test_draw_results_to_dict() -> None:
    from convcli.render.draw import prepare
    from convcli.steps import conv_geometry

    report = size_network(Source(("conv:8,k=3", "conv:8,k=3"), input_size="1x9x9"))
    regions = [region.to_dict() for region in trace_network(report)]
    assert regions[0] == {"position": 0, "label": "input", "shape": "1x9x9", "size": [9, 9],
                          "rows": [2, 6], "cols": [2, 6], "whole": False}  # fmt: skip
    drawing = prepare(conv_geometry(3, 2))
    data = json.loads(json.dumps(drawing.to_dict()))
    assert len(data["frames"]) == 4
    first = data["frames"][0]
    assert first["position"] == [0, 0]
    assert first["footprint"] == {"side": "left", "first": [0, 0], "last": [1, 1]}
    assert [0, 0, "output-current"] in first["right"]


# ---- numbers ---------------------------------------------------------------------------------

VALUES = [19.0, -1.0, -0.0, 0.5, 0.1, 1 / 3, 2.5e-7, 1e20, 123456.789, -math.inf, math.nan]


#: What imageio's and kernels' private formatters printed for VALUES, before they were
#: deleted in favour of convcli.numbers (float32: imageio/apply; float64: kernels, 4 digits).
FLOAT32_TEXT = ["19", "-1", "0", "0.5", "0.1", "0.33333334", "2.5e-07", "1e+20", "123456.79",
                "-inf", "nan"]  # fmt: skip
FLOAT64_TEXT = ["19", "-1", "0", "0.5", "0.1", "0.3333333333333333", "2.5e-07", "1e+20",
                "123456.789", "-inf", "nan"]  # fmt: skip
FOUR_DIGITS = ["19", "-1", "0", "0.5", "0.1", "0.3333", "2.5e-07", "1e+20", "1.235e+05",
               "-inf", "nan"]  # fmt: skip


def test_format_number_keeps_the_deleted_formatters_text() -> None:
    assert [format_number(v) for v in VALUES] == FLOAT32_TEXT
    assert [format_number(v, shortest="float64") for v in VALUES] == FLOAT64_TEXT
    assert [format_number(v, 4, shortest="float64") for v in VALUES] == FOUR_DIGITS


def test_imageio_and_peers_write_numbers_through_convcli_numbers() -> None:
    from convcli import imageio, peers

    assert imageio.format_number is format_number  # matrix_text (a .txt output) uses it
    assert imageio.matrix_text(np.array([[19.0, -0.0], [1 / 3, 2.5e-7]])) == (
        "        19       0\n0.33333334 2.5e-07\n"
    )
    assert [peers._number(v) for v in (2.0, -0.0, 1 / 3)] == ["2", "0", "0.3333333333333333"]


def test_a_huge_whole_tap_prints_in_exponent_form(cli) -> None:
    """Changed with convcli.numbers: a whole tap of 1e16 or more, beyond float64's exact
    integers, was written with all its 17+ digits; now as 1e+16 (the same float)."""
    plain = cli("kernels", "1e16 1; 0.5 1e20", "--format", "plain").stdout
    assert plain.splitlines()[-2:] == ["1e+16     1", "  0.5 1e+20"]
    assert "# sum: 1.0001e+20" in plain
    printed = cli("kernels", "1e16 1; 0.5 1e20", "--format", "json").stdout
    assert "1e+16" in printed and "10000000000000000" not in printed
    assert json.loads(printed)["matrix"] == [[1e16, 1], [0.5, 1e20]]


def test_kernel_json_writes_null_for_a_non_finite_value() -> None:
    """Changed with convcli.numbers: float("inf") wrote the invalid JSON ``Infinity``."""
    from dataclasses import replace

    from convcli.kernels import describe, parse_step
    from convcli.render.kernels import _step_json

    info = describe(parse_step("1 2; 3 4"))
    assert info.matrix is not None
    matrix = info.matrix.astype(float)
    matrix[0, 0] = math.inf
    data = _step_json(replace(info, matrix=matrix))
    assert json.loads(json.dumps(data, allow_nan=False))["matrix"] == [[None, 2], [3, 4]]


def test_apply_matrix_json_is_the_policy() -> None:
    from convcli.render.apply import matrix_json

    values = np.array([[19.0, -0.0], [1 / 3, math.inf]], dtype=np.float32)
    assert matrix_json(values) == {"shape": [2, 2], "data": json_nested(values)}
    assert matrix_json(values)["data"] == [[19, 0], [0.333333343, None]]


def test_json_number_policy() -> None:
    assert [json_number(v) for v in (19.0, -0.0, 0.1 + 0.2, math.nan)] == [19, 0, 0.3, None]
    assert json_number(0.1 + 0.2, None) == 0.30000000000000004
    values = np.array([[1.0, 0.1], [-np.inf, 2.5]], dtype=np.float32)
    # 9 digits: float32's round trip (its 0.1 is 0.100000001), NaN/inf as null
    assert json_nested(values) == [[1, 0.100000001], [None, 2.5]]
    assert json_fraction(Fraction(1, 3)) == 0.333333
    assert json.dumps(json_nested(np.zeros((2, 0)))) == "[[], []]"


#: compact()'s cases, named by their text in test ids (the values run to 400 digits).
COMPACT_CASES = [
    (9_999, "9,999"), (21_676_032, "21.7M"), (999_499, "999K"), (999_500, "1M"),
    (999_999, "1M"), (999 * 10**12, "999T"), (999_499 * 10**9, "999T"),
    (999_500 * 10**9, "1e+15"), (274 * 10**18, "2.74e+20"), (10**400 + 1, "1e+400"),
    (3_625 * 10**397, "3.63e+400"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("value", "expected"), COMPACT_CASES, ids=[text for _, text in COMPACT_CASES]
)
def test_compact_counts_never_mix_a_suffix_with_an_exponent(value, expected) -> None:
    """Found: 2.74e+20T (a suffix on an exponent) and 1e+03K at the suffixes' edges; a
    count past float's range (1.8e308) raised OverflowError."""
    assert compact(value) == expected


#: memory()'s cases, named the same way.
MEMORY_CASES = [
    (1023, "1023 B"), (1024, "1 KiB"), (2**20 - 1, "1 MiB"), (1000 * 2**10, "0.977 MiB"),
    (2**40, "1 TiB"), (999 * 2**40, "999 TiB"), (1000 * 2**40, "1.1e+15 B"),
    (1_814 * 10**21, "1.81e+24 B"), (4 * 10**500, "4e+500 B"),
]  # fmt: skip


@pytest.mark.parametrize(("size", "expected"), MEMORY_CASES, ids=[t for _, t in MEMORY_CASES])
def test_memory_never_mixes_a_unit_with_an_exponent(size, expected) -> None:
    """Found: 1.13e+23 GiB, and 1.02e+03 KiB just under a MiB."""
    assert memory(size) == expected


#: What each suffix or unit of compact() and memory() multiplies by.
_SCALES = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
           "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}  # fmt: skip


def _read_back(text: str) -> float:
    number, _, unit = text.replace(",", "").partition(" ")
    if number[-1] in "KMGT":
        number, unit = number[:-1], number[-1]
    assert "e" not in number or unit in ("", "B"), f"an exponent with a unit: {text}"
    return float(number) * _SCALES[unit]


def test_compact_and_memory_read_back_within_their_three_digits() -> None:
    for exponent in range(4, 300):
        for value in (10**exponent - 1, 10**exponent, 2**exponent, 7 * 10**exponent // 3):
            for text in (compact(value), memory(value)):
                assert math.isclose(_read_back(text), value, rel_tol=5e-3), (value, text)


# ---- draw: the library answers, render draws -------------------------------------------------


def test_network_picture_data_and_its_checks() -> None:
    from convcli.render.draw import network_png
    from convcli.teaching import network_picture

    words = Source(("conv:8,k=3", "conv:8,k=3"), input_size="1x9x9")
    picture = network_picture(words, "rf", (1, 1))
    assert [r.rows for r in picture.regions] == [(1, 5), (1, 3), (1, 1)]
    assert picture.to_dict()["regions"][-1]["rows"] == [1, 1]
    assert network_png(picture).startswith(b"\x89PNG")
    sizes = network_picture(words, "sizes")
    assert sizes.report is not None and str(sizes.report.output) == "8x5x5"
    with pytest.raises(SpecError, match="^--picture by-kind compares a network: give --preset"):
        network_picture(words, "by-kind")
    with pytest.raises(SpecError, match="^--picture sizes draws a network: INPUT and LAYER"):
        network_picture(Source(input_size="1x9x9"), "sizes")
    with pytest.raises(SpecError, match="^--at is for --picture rf"):
        network_picture(words, "sizes", (0, 0))


def test_layer_picture_frames_and_its_checks() -> None:
    from convcli.render.draw import layer_picture
    from convcli.teaching import LayerQuestion, answer_layer

    answer = answer_layer(LayerQuestion("3", "5", padding="1", stride="2"))
    data, frames = layer_picture(answer, "gif")
    assert data.startswith(b"GIF89a") and frames == 9  # 3x3 outputs
    still, count = layer_picture(answer, "svg", (2, 2))
    assert count == 1 and still.startswith(b"<svg")
    with pytest.raises(SpecError, match=r"^--at 3,0 is outside the output \(3x3\)"):
        layer_picture(answer, "png", (3, 0))
    with pytest.raises(SpecError, match=r"^--at picks the position of a still; a \.gif"):
        layer_picture(answer, "gif", (0, 0))


# ---- kernels and learn through the dispatcher ------------------------------------------------


def test_kernel_views_give_each_format_its_data() -> None:
    from convcli.kernels import catalogue, describe, parse_step
    from convcli.render.kernels import CatalogueView, StepView

    listing = CatalogueView(catalogue())
    rows = list(listing.csv_table()[1])
    assert listing.csv_table()[0] == ("name", "kind", "size", "arguments", "description")
    assert listing.to_dict()[0] == dict(zip(listing.csv_table()[0], rows[0], strict=True))
    assert len(listing.plain_lines()) == len(rows)
    sobel = StepView(describe(parse_step("sobel-x")))
    header, matrix_rows = sobel.csv_table()
    assert (header, list(matrix_rows)) == (["-1", "0", "1"], [["-2", "0", "2"], ["-1", "0", "1"]])
    assert sobel.to_dict()["factors"] == {"column": [1, 2, 1], "row": [-1, 0, 1]}
    assert sobel.plain_lines()[-3:] == ["-1  0  1", "-2  0  2", "-1  0  1"]


def test_kernel_csv_is_refused_before_anything_prints(cli) -> None:
    result = cli("kernels", "maxpool:k=2", "--format", "csv")
    assert result.exit_code != 0 and result.stdout == ""
    assert "--format csv writes one 2-D matrix; 'maxpool:k=2' is a pooling step" in result.stderr


@pytest.mark.parametrize("output_format", ["table", "plain", "csv"])
def test_a_peer_call_prints_its_lines_as_they_are_in_every_text_format(cli, output_format) -> None:
    result = cli("kernels", "box:3", "--as", "opencv", "--format", output_format)
    assert result.stdout == (
        "k = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 1]], np.float32) / 9\n"
        "out = cv2.filter2D(img, -1, k, borderType=cv2.BORDER_REFLECT_101)\n"
    )
    data = json.loads(cli("kernels", "box:3", "--as", "opencv", "--format", "json").stdout)
    assert data == {"step": "box:3", "as": "opencv", "lines": result.stdout.splitlines()}


def test_learn_prints_its_fit_through_the_dispatcher(cli) -> None:
    pair = ("learn", "tests/data/corpus_x.txt", "tests/data/corpus_y.txt", "--size", "3")
    plain = cli(*pair, "--format", "plain").stdout.splitlines()
    assert plain[0] == "# recovered by convcli learn"
    assert "# padding: 1,1,0,1" in plain
    assert plain[-3:] == [" 0  0  0", " 1 -1  0", " 0  0  0"]
    lines = cli(*pair, "--format", "csv").stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith("kernel_size,kernel,bias,padding,border,")
    assert lines[1].startswith('3x3,"0,0,0; 1,-1,0; 0,0,0",,"1,1,0,1",zeros,lstsq,')
    data = json.loads(cli(*pair, "--format", "json").stdout)
    assert data["kernel"] == [[0, 0, 0], [1, -1, 0], [0, 0, 0]] and data["padding"] == [1, 1, 0, 1]
    table = cli(*pair, "--format", "table").stdout
    assert table.startswith("Recovered 3x3 kernel (least squares)\n")
    assert "conditioning" in table


def test_compact_and_memory_take_numpy_and_float_counts():
    import numpy as np

    # value * 2 overflowed int64 (9e18 printed as '9e+15K'); a float raised in the integer
    # arithmetic of the scientific form.
    assert compact(np.int64(9 * 10**18)) == "9e+18"
    assert compact(2.5e20) == "2.5e+20"
    assert memory(np.int64(2**62)) == "4.61e+18 B"


def test_a_batch_csv_has_every_field_of_the_json_records(capsys) -> None:
    from convcli.batch import BatchItem, BatchReport
    from convcli.render.apply import BatchView

    items = [
        BatchItem("a.png", "o/a.png", "done", notes=["one", "two"], seconds=0.25, retries=1),
        BatchItem("b.png", "o/b.png", "skipped", note="output exists"),
    ]
    report = BatchReport(items, cluster="local:2")
    render(BatchView(report), OutputFormat.csv)
    records = BatchView(report).to_dict()["files"]
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(",") == list(records[0]) == [
        "input", "output", "status", "error", "note", "notes", "seconds", "retries"
    ]  # fmt: skip
    assert lines[1:] == [
        'a.png,o/a.png,done,,,"one',
        'two",0.25,1',
        "b.png,o/b.png,skipped,,output exists,,0.0,0",
    ]
