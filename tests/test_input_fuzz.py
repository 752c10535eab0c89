"""Property tests for what ``apply``, ``kernels`` and ``learn`` read: whatever a user types
(``-k`` STEP words, ``--matrix`` text, option values) and whatever a file holds (every
image format convcli reads, truncated, flipped or garbled; ``.npy`` and text matrices),
the answer is a result or one ``Error:`` line (exit 1 or 2), within a time and memory
bound: never a traceback, a hang or a large allocation.

The strategies mix valid words with unicode, huge and tiny numbers, nan/inf, deep nesting
and empty strings. The valid files are made here with Pillow. Examples are few (see
``FAST``) so that the whole suite stays fast on two cores.
"""

from __future__ import annotations

import io
import time
import tracemalloc
from unittest import mock

import numpy as np
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from convcli import imageio
from convcli.cli import app
from convcli.errors import ConvcliError
from tests.conftest import deadline, fuzz_examples, invoke

# The conftest runner, through the real error boundary (ConvcliGroup.main), with the Typer
# group built once: building it (and the apply command's 30 options) for every example
# costs ~50 ms, the run itself ~2 ms.
_GROUP = typer.main.get_command(app)

FAST = settings(
    max_examples=fuzz_examples(100),
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
FILES = settings(FAST, max_examples=fuzz_examples(300))

SECONDS = 10.0
PEAK_BYTES = 200 * 2**20

# ---------------------------------------------------------------- strategies

NUMBERS = st.one_of(
    st.integers(-3, 40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        ["0", "1", "0.5", "-1", "999999999", "1" * 400, "1e308", "-1e308", "1e-308", "5e-324",
         "3.5e38", "1e39", "nan", "inf", "-inf", "", " ", "٣", "1_000", "0x10", "1e", "+"]
    ),
)  # fmt: skip
TEXT = st.text(max_size=12)
VALUES = st.one_of(
    NUMBERS, TEXT, st.sampled_from(["3x3", "1x2x3", "same", "valid", "x", "1,2,3,4"])
)

NAMES = st.sampled_from(
    ["sobel", "sobel-x", "scharr-y", "prewitt", "roberts", "laplacian", "log", "gaussian",
     "box", "sharpen", "emboss", "diff-x", "identity", "maxpool", "avgpool", "minpool",
     "median", "SOBEL_X", "gauss", "ü", ""]
)  # fmt: skip
KEYS = st.sampled_from(["s", "p", "d", "border", "size", "sigma", "k", "ceil", "bogus", ""])
ARGUMENT = st.one_of(NUMBERS, st.builds(lambda k, v: f"{k}={v}", KEYS, VALUES))
NAMED = st.builds(
    lambda name, args: name + (":" + ",".join(args) if args is not None else ""),
    NAMES,
    st.one_of(st.none(), st.lists(ARGUMENT, max_size=4)),
)


def _rows(rows: list[list[str]], channels: int) -> str:
    text = "; ".join(" ".join(row) for row in rows)
    return " | ".join([text] * channels)


ROWS = st.builds(
    _rows,
    st.lists(st.lists(NUMBERS, min_size=1, max_size=4), min_size=1, max_size=4),
    st.integers(1, 3),
)
NESTED = st.recursive(
    st.one_of(st.integers(-(10**30), 10**30), st.floats(), st.booleans(), st.text(max_size=3)),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=12,
).map(lambda value: repr(value) if not isinstance(value, str) else value)
DEEP = st.integers(1, 3000).map(lambda depth: "[" * depth + "1" + "]" * depth)
IMAGEMAGICK = st.builds(
    lambda w, h, values: f"{w}x{h}: {' '.join(values)}",
    st.sampled_from(["0", "1", "2", "3", "999999999", "1" * 50]),
    st.sampled_from(["1", "2", "3", "0"]),
    st.lists(NUMBERS, max_size=9),
)
MATRIX = st.one_of(ROWS, NESTED, DEEP, IMAGEMAGICK, TEXT)
FILE_WORDS = st.builds(
    lambda prefix, name, suffix: prefix + name + suffix,
    st.sampled_from(["@", ""]),
    st.sampled_from(["", "missing", "/dev/zero", "/tmp", "[/y]", "a\nb"]),
    st.sampled_from([".npy", ".csv", ".txt", ""]),
)
STEP = st.one_of(NAMED, MATRIX, FILE_WORDS)


# ---------------------------------------------------------------- the property


def check(*args: object, stdin: bytes | None = None) -> None:
    """One run: a result, or one ``Error:`` line with exit 1 or 2, quickly, in little memory."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with deadline(60, args), mock.patch("typer.testing._get_command", return_value=_GROUP):
            result = invoke(*map(str, args), input=stdin)
    finally:
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    shown = [a if len(str(a)) < 50 else f"{str(a)[:40]}... ({len(str(a))})" for a in args]
    assert elapsed < SECONDS, f"{shown}: {elapsed:.1f} s"
    assert peak < PEAK_BYTES, f"{shown}: {peak / 2**20:.0f} MiB"
    assert "Traceback" not in result.stderr, (shown, result.stderr)
    assert "internal error" not in result.stderr, (shown, result.stderr)
    lines = result.stderr.splitlines()
    if result.exit_code == 0:
        told = ("note: ", "warning: ")  # apply warns of the rows a step drops
        assert all(line.startswith(told) for line in lines), (shown, result.stderr)
        return
    assert result.exit_code in (1, 2), (shown, result.exit_code, result.stderr)
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], (shown, result.stderr)
    # Notes, and warnings about the chain (said before any work), may precede the error.
    told = ("Error: ", "note: ", "warning: ")
    assert all(line.startswith(told) for line in lines), (shown, result.stderr)
    assert len(errors[0]) < 1100, (shown, errors[0][:200])


# ---------------------------------------------------------------- typed words


@FAST
@given(STEP, st.sampled_from(["json", "table", "plain", "csv"]), st.booleans())
def test_kernels_any_step(step, output_format, convolve):
    check("kernels", "--", step, "--format", output_format, *(["--convolve"] if convolve else []))


@FAST
@given(st.lists(STEP, min_size=1, max_size=3))
def test_apply_any_steps_on_a_matrix(steps):
    args = [a for step in steps for a in ("-k", step)]
    check("apply", "--matrix", "0 1 2 3; 4 5 6 7; 8 9 10 11; 12 13 14 15", *args)


@FAST
@given(MATRIX, st.sampled_from(["1", "0 1; 2 3", "maxpool:2", "sobel"]))
def test_apply_any_matrix_text(matrix, step):
    check("apply", "--matrix", matrix, "-k", step, "--format", "json")


@FAST
@given(
    st.sampled_from(["1", "0 1; 2 3", "sobel", "maxpool:2", "median:3", "0 1 | 1 0"]),
    st.dictionaries(
        st.sampled_from(["-s", "-p", "-d", "--bias", "--max-pixels", "--border", "--map"]),
        VALUES,
        max_size=4,
    ),
)
def test_apply_any_option_values(step, options):
    args = [a for option, value in options.items() for a in (option, value)]
    check("apply", "--matrix", "0 1 2; 3 4 5; 6 7 8", "-k", step, *args)


@FAST
@given(
    st.one_of(MATRIX, st.just("0 1 0 1; 1 0 1 0; 0 0 1 1")),
    st.one_of(MATRIX, st.just("0 1 0 1; 1 0 1 0; 0 0 1 1")),
    st.dictionaries(
        st.sampled_from(
            ["--size", "--padding", "--tol", "--epochs", "--lr", "--seed", "--batch-size",
             "--method", "--border", "--map", "--format", "--save"]
        ),
        VALUES,
        max_size=4,
    ),
)  # fmt: skip
def test_learn_any_operands_and_options(tmp_path_factory, source, target, options):
    if "--save" in options:  # a name inside a fresh folder: never the suite's own files
        options["--save"] = str(tmp_path_factory.mktemp("save") / options["--save"][:20])
    args = [a for option, value in options.items() for a in (option, value)]
    check("learn", *args, "--", source, target)


# ---------------------------------------------------------------- files


def _image(mode: str, size: tuple[int, int] = (7, 9)) -> Image.Image:
    pixels = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 4), dtype=np.uint8)
    return Image.fromarray(pixels, "RGBA").convert(mode)


def _encoded(image: Image.Image, format_name: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format_name, **options)
    return buffer.getvalue()


def _pfm() -> bytes:
    values = np.linspace(-1, 2, 7 * 9 * 3, dtype="<f4").reshape(9, 7, 3)
    return b"PF\n7 9\n-1.0\n" + values[::-1].tobytes()


def _valid_files() -> dict[str, bytes]:
    """One small valid file of each kind convcli reads (and a few variants), by suffix."""
    frames = [_image("P"), _image("P").rotate(90)]
    pages = [_image("L"), _image("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    return {
        "png": _encoded(_image("RGBA"), "PNG"),
        "grey.png": _encoded(_image("I;16"), "PNG"),
        "jpg": _encoded(_image("RGB"), "JPEG", quality=80),
        "tif": _encoded(_image("RGB"), "TIFF"),
        "deflate.tif": _encoded(_image("RGB"), "TIFF", compression="tiff_deflate"),
        "pages.tif": _encoded(pages[0], "TIFF", save_all=True, append_images=pages[1:]),
        "float.tif": _encoded(_image("F"), "TIFF"),
        "bmp": _encoded(_image("RGB"), "BMP"),
        "webp": _encoded(_image("RGBA"), "WEBP", quality=80),
        "gif": _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "ppm": _encoded(_image("RGB"), "PPM"),
        "pgm": _encoded(_image("L"), "PPM"),
        "pbm": _encoded(_image("1"), "PPM"),
        "avif": _encoded(_image("RGB", (8, 8)), "AVIF", quality=50),
        "pfm": _pfm(),
    }


VALID = _valid_files()


@st.composite
def damaged(draw, files: dict[str, bytes]) -> tuple[str, bytes]:
    """A valid file, then truncated, bytes flipped, a run of garbage, or spliced with
    another format's bytes; sometimes left valid."""
    name = draw(st.sampled_from(sorted(files)))
    data = bytearray(files[name])
    how = draw(st.sampled_from(["truncate", "flip", "garbage", "splice", "valid"]))
    if how == "truncate":
        data = data[: draw(st.integers(0, len(data)))]
    elif how == "flip":
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    elif how == "garbage":
        start = draw(st.integers(0, len(data)))
        data[start : start + 64] = draw(st.binary(min_size=1, max_size=64))
    elif how == "splice":
        other = files[draw(st.sampled_from(sorted(files)))]
        cut = draw(st.integers(0, len(data)))
        data = data[:cut] + other[draw(st.integers(0, len(other))) :]
    return name, bytes(data)


#: A few flipped bytes in a header can claim a 7x3,801,097 image; the default --max-pixels
#: (89 million) lets that be decoded (~100 MB), a smaller limit keeps each example small
#: and checks that the limit holds whatever the header claims.
BOMB_LIMIT = ("--max-pixels", "100000")


@FILES
@given(damaged(VALID), st.sampled_from(["same", "png", "jpg", "npy", "txt"]))
def test_images_damaged_any_way(tmp_path_factory, damaged_file, claimed):
    name, data = damaged_file
    folder = tmp_path_factory.mktemp("img")
    suffix = name.rsplit(".", 1)[-1] if claimed == "same" else claimed
    path = folder / f"input.{suffix}"
    path.write_bytes(data)
    check("apply", path, "-k", "sobel", "-o", folder / "out.png", *BOMB_LIMIT)


@FAST
@given(damaged(VALID))
def test_images_damaged_on_stdin(damaged_file):
    _, data = damaged_file
    check("apply", "-", "-k", "box:3", "-o", "-", "--to", "png", *BOMB_LIMIT, stdin=data)


@FAST
@given(damaged(VALID))
def test_the_reader_itself(damaged_file):
    """The reader alone: a Picture or one ConvcliError, nothing else escapes."""
    _, data = damaged_file
    try:
        picture = imageio.load_image(io.BytesIO(data), name="fuzz", max_pixels=100_000)
    except ConvcliError as error:
        assert "\n" not in str(error)
        return
    assert picture.pixels.size > 0
    assert len(picture.notes) <= 3


def _npy(values: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()


MATRIX_FILES = {
    "npy": _npy(np.arange(16.0).reshape(4, 4)),
    "3d.npy": _npy(np.arange(18, dtype=np.int16).reshape(2, 3, 3)),
    "bool.npy": _npy(np.eye(3, dtype=bool)),
    "csv": b"1,2,3\n4,5,6\n7,8,9\n",
    "txt": b"# kernel\n1 0 -1\n2 0 -2\n1 0 -1\n\n0 1 0\n1 0 1\n0 1 0\n",
}


@FAST
@given(damaged(MATRIX_FILES), st.sampled_from(["apply", "kernel", "learn"]))
def test_matrix_and_kernel_files_damaged_any_way(tmp_path_factory, damaged_file, how):
    name, data = damaged_file
    path = tmp_path_factory.mktemp("mat") / f"m.{name.rsplit('.', 1)[-1]}"
    path.write_bytes(data)
    if how == "apply":
        check("apply", path, "-k", "1")
    elif how == "kernel":
        check("kernels", path if path.suffix == ".npy" else f"@{path}", "--format", "json")
    else:
        check("learn", path, path, "--size", "1")
