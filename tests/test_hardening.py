"""Issue 12 (hardening) for ``apply``, ``kernels`` and ``learn``: one regression test per case.

Each case once hung, allocated gigabytes, raised a traceback, read what it should not, or
said more than one line. Now: a result, or one ``Error:`` line (exit 1 or 2), quickly.
Cases that could block (a FIFO, ``/dev/zero``, an EPS loop) run under a watchdog that ends
the test run with a traceback instead of hanging it; what C libraries write on file
descriptor 2 is captured too (``capfd``).
"""

from __future__ import annotations

import faulthandler
import io
import os
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli import imageio, limits
from convcli.errors import ConvcliError, SpecError
from convcli.kernels import parse_step
from tests.conftest import invoke

MATRIX = "1 2; 3 4"


def one_error(result, code: int, *fragments: str) -> str:
    """The single ``Error:`` line of a failed run (nothing else on stderr or stdout)."""
    assert result.exit_code == code, (result.exit_code, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def quick(*args: str, seconds: float = 5.0):
    started = time.perf_counter()
    result = invoke(*args)
    elapsed = time.perf_counter() - started
    shown = [arg if len(str(arg)) < 40 else f"{str(arg)[:30]}... ({len(str(arg))})" for arg in args]
    assert elapsed < seconds, f"{shown}: {elapsed:.1f} s"
    return result


@pytest.fixture
def watchdog():
    """A regression that blocks (a FIFO read, Ghostscript in a loop) ends the run with a
    traceback after 60 s instead of hanging it."""
    faulthandler.dump_traceback_later(60, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def run_cli(watchdog, capfd, monkeypatch):
    """``convcli ARGS`` in-process in a folder; stderr includes what C code wrote on fd 2."""

    def run(*args: object, cwd: Path):
        monkeypatch.chdir(cwd)
        capfd.readouterr()
        result = invoke(*map(str, args))
        leaked = capfd.readouterr().err
        return type(result)(result.exit_code, result.stdout, leaked + result.stderr)

    return run


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


# ---------------------------------------------------------------- sizes and values, checked first


def test_kernel_value_beyond_float32_is_refused_before_the_svd():
    text = "1e39 0 0; 0 1 0; 0 0 1"
    one_error(quick("apply", "--matrix", MATRIX, "-k", text), 2, "beyond float32")
    one_error(quick("kernels", text), 2, "beyond float32")
    one_error(quick("kernels", "[[1e39, 0], [0, 1]]"), 2, "beyond float32")


@pytest.mark.parametrize(
    ("step", "fragment"),
    [
        ("identity:3000", "size must be at most 1,025"),
        ("gaussian:300", "sigma 300 makes a 1801x1801 kernel"),
        ("log:200", "larger than 1025x1025"),
        ("box:2000", "size must be at most 1,025"),
        ("gaussian:1,size=5000", "size must be at most 1,025"),
        ("maxpool:5000", "kernel size must be at most 1,025"),
        ("median:33", "kernel size must be at most 31"),
        ("sobel-x:s=5000", "s must be at most 1,025"),
        ("sobel-x:d=5000", "d must be at most 1,024"),
        ("gaussian:100,d=100", "more than 2049"),
    ],
)
def test_named_kernel_sizes_are_bounded_before_they_are_built(step, fragment):
    one_error(quick("kernels", step), 2, fragment)


def test_padding_is_bounded_and_the_output_estimated_first():
    one_error(quick("apply", "--matrix", MATRIX, "-k", "sobel-x:p=5000"), 2, "padding must be")
    one_error(quick("apply", "--matrix", MATRIX, "-k", "1", "-p", "5000"), 2, "--padding", "5000")
    # Within the padding limit, the output is sized on paper against --max-pixels.
    line = one_error(
        quick("apply", "--matrix", MATRIX, "-k", "sobel-x:p=1000", "--max-pixels", "1000000"),
        1,
        "step 1 'sobel-x:p=1000' would make a 2000x2000 output from 2x2",
        "more than --max-pixels 1,000,000",
    )
    assert "MB of memory" in line


def test_the_chain_estimate_follows_every_step():
    estimate = limits.estimate_chain(
        (3, 10, 12),
        [
            parse_step("sobel"),
            parse_step("maxpool:2"),
            parse_step("1 1; 1 1"),
            parse_step("median:3"),
        ],
        None,
        image=True,
    )
    assert estimate.shapes == [(3, 10, 12), (3, 10, 12), (3, 5, 6), (3, 5, 6), (3, 5, 6)]
    assert estimate.needs[0] == 4 * (3 * 10 * 12 + 3 * 12 * 14 + 2 * 3 * 10 * 12)


def test_a_dilated_global_option_is_bounded_by_the_span():
    one_error(
        quick("apply", "--matrix", MATRIX, "-k", "gaussian:1", "-d", "1024"), 2, "more than 2049"
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("apply", "--matrix", MATRIX, "-k", "1", "--bias", "nan"), "not a finite number"),
        (("apply", "--matrix", MATRIX, "-k", "1", "--bias", "1,inf"), "not a finite number"),
        (("apply", "--matrix", MATRIX, "-k", "1", "--bias", "1e39"), "beyond float32"),
        (("kernels", "gaussian:inf"), "sigma must be 0.01..1000, got inf"),
        (("kernels", "gaussian:nan"), "sigma must be > 0"),
        (("kernels", "log:1e-300,size=3"), "sigma must be 0.01..1000"),
        (("apply", "--matrix", "1 nan; 3 4", "-k", "1"), "not a finite number"),
        (("apply", "--matrix", "1e39 2; 3 4", "-k", "1"), "beyond float32"),
    ],
)
def test_non_finite_numbers_are_refused(args, fragment):
    one_error(quick(*args), 2, fragment)


# ---------------------------------------------------------------- parsers that raised


def test_deep_nesting_is_one_line_not_a_recursion_error():
    deep = "[" * 5000 + "1" + "]" * 5000
    for args in (
        ("kernels", deep),
        ("apply", "--matrix", deep, "-k", "1"),
        ("apply", "--matrix", MATRIX, "-k", deep),
    ):
        line = one_error(quick(*args), 2, "nested deeper than 4 levels")
        assert len(line) < 400
    one_error(quick("learn", deep, "1 2"), 1, "nested deeper than 4 levels")


def test_a_400_digit_integer_is_one_line():
    huge = "1" * 400
    for args in (
        ("kernels", f"[{huge}]"),
        ("kernels", huge),
        ("kernels", f"gaussian:1,size={huge}"),
        ("kernels", f"box:{huge}"),
        ("kernels", f"{huge}x1: 1"),
        ("apply", "--matrix", huge, "-k", "1"),
        ("apply", "--matrix", MATRIX, "-k", "1", "-s", huge),
        ("learn", MATRIX, MATRIX, "--size", huge),
        ("learn", MATRIX, MATRIX, "--padding", huge),
    ):
        line = one_error(quick(*args), 2)
        assert len(line) < 400, line
    one_error(quick("learn", MATRIX, MATRIX, "--method", "gd", "--size", "1", "--epochs", huge), 2)


@pytest.mark.parametrize("step", ["gaussian:1e308", "log:1e308", "gaussian:1e308,size=3"])
def test_huge_sigma_is_not_an_overflow_error(step):
    one_error(quick("kernels", step), 2, "sigma must be")


def test_every_parse_goes_through_one_place():
    """Whatever a parser raises inside :func:`convcli.limits.reading` leaves as one error."""
    with pytest.raises(SpecError, match=r"^--x: nested too deeply$"), limits.reading("--x"):
        raise RecursionError
    with pytest.raises(SpecError, match=r"^--x: a number is too large$"), limits.reading("--x"):
        raise OverflowError
    with (
        pytest.raises(ConvcliError, match=r"^f: cannot be read \(boom\)$") as caught,
        limits.reading("f", error=ConvcliError),
    ):
        raise TypeError("boom")
    assert not isinstance(caught.value, SpecError)
    with pytest.raises(SpecError, match="cannot be read"), limits.reading("--x"):
        np.float32(1e39)  # NumPy's overflow warning is a parse failure


def damaged_multipage_tiff() -> bytes:
    """A 3-page TIFF whose second page lost its width and height tags."""
    pixels = np.arange(64, dtype=np.uint8).reshape(8, 8)
    buffer = io.BytesIO()
    pages = [Image.fromarray(pixels + i) for i in range(3)]
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    data = bytearray(buffer.getvalue())
    first = struct.unpack("<I", data[4:8])[0]
    count = struct.unpack("<H", data[first : first + 2])[0]
    end = first + 2 + 12 * count
    second = struct.unpack("<I", data[end : end + 4])[0]
    for index in range(struct.unpack("<H", data[second : second + 2])[0]):
        entry = second + 2 + 12 * index
        if struct.unpack("<H", data[entry : entry + 2])[0] in (256, 257):
            data[entry : entry + 2] = struct.pack("<H", 65000 + index)
    return bytes(data)


def test_damaged_multipage_tiff_is_one_line(tmp_path):
    (tmp_path / "bad.tif").write_bytes(damaged_multipage_tiff())
    line = one_error(
        quick("apply", tmp_path / "bad.tif", "-k", "1", "-o", tmp_path / "o.png"),
        1,
        "bad.tif: corrupt or truncated image",
    )
    assert "Missing dimensions" in line
    assert not (tmp_path / "o.png").exists()


def test_npz_named_npy_is_one_line(tmp_path):
    np.savez(tmp_path / "z.npz", a=np.ones((2, 2)))
    (tmp_path / "z.npy").write_bytes((tmp_path / "z.npz").read_bytes())
    one_error(quick("apply", tmp_path / "z.npy", "-k", "1"), 1, "zip archive")
    one_error(quick("kernels", tmp_path / "z.npy"), 1, "zip archive")
    one_error(quick("learn", tmp_path / "z.npy", MATRIX), 1, "zip archive")
    one_error(quick("apply", "--matrix", MATRIX, "-k", "1", "--bias", tmp_path / "z.npy"), 1)


def test_npy_header_is_checked_before_its_data(tmp_path):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)}
    )
    (tmp_path / "big.npy").write_bytes(b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * 64)
    one_error(quick("apply", tmp_path / "big.npy", "-k", "1"), 1, "more than the")
    np.save(tmp_path / "cut.npy", np.ones((4, 4)))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:-8])
    one_error(quick("kernels", tmp_path / "cut.npy"), 1, "truncated")
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    one_error(quick("apply", tmp_path / "text.npy", "-k", "1"), 1, "expected real numbers")


def test_batch_table_never_reads_file_names_as_markup(tmp_path):
    folder = tmp_path / "in"
    (folder / "a[").mkdir(parents=True)
    pixels = np.arange(16, dtype=np.uint8).reshape(4, 4)
    (folder / "a[" / "y].png").write_bytes(png_bytes(pixels))  # the path holds "[/y]"
    (folder / "[bold]b.png").write_bytes(png_bytes(pixels))
    result = invoke(
        "apply", folder, "-r", "-k", "1", "-O", tmp_path / "out", "--format", "table", "-j", "1"
    )
    assert result.exit_code == 0, result.stderr
    assert "a[/y].png" in result.stdout
    assert "[bold]b.png" in result.stdout


# ---------------------------------------------------------------- files not what they claim


POSTSCRIPT = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\n"


def test_postscript_named_png_is_never_rendered(tmp_path, run_cli):
    (tmp_path / "x.png").write_bytes(POSTSCRIPT)
    done = run_cli("apply", "x.png", "-k", "1", "-o", "o.png", cwd=tmp_path)
    assert done.exit_code == 1
    assert done.stderr.splitlines() == [
        "Error: x.png: not an image (convcli reads PNG, JPEG, TIFF, BMP, WebP, GIF, PNM, AVIF "
        "and PFM)"
    ]


def test_folders_take_only_the_suffixes_convcli_reads(tmp_path, run_cli):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "loop.eps").write_bytes(POSTSCRIPT)
    (folder / "page.ps").write_bytes(POSTSCRIPT)
    (folder / "ok.png").write_bytes(png_bytes(np.zeros((4, 4), np.uint8)))
    done = run_cli("apply", "in", "-k", "1", "-O", "out", "-j", "1", cwd=tmp_path)
    assert done.exit_code == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["ok-kernel-1x1.png"]
    suffixes = imageio.image_suffixes()
    assert {".eps", ".ps", ".pdf", ".psd", ".fits", ".h5"}.isdisjoint(suffixes)
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".gif", ".pfm"} <= suffixes
    assert len(suffixes) < 25


def test_dev_zero_is_refused_before_reading(tmp_path, run_cli):
    for args in (
        ("apply", "/dev/zero", "-k", "1", "-o", "o.png"),
        ("apply", "/dev/zero.npy", "-k", "1"),
        ("kernels", "@/dev/zero"),
        ("learn", "/dev/zero", MATRIX),
    ):
        done = run_cli(*args, cwd=tmp_path)
        assert done.exit_code == 1, (args, done.stderr)
        assert len(done.stderr.splitlines()) == 1, done.stderr
    done = run_cli("apply", "/dev/zero", "-k", "1", "-o", "o.png", cwd=tmp_path)
    assert (
        done.stderr == "Error: /dev/zero: is a character device; convcli reads only regular files\n"
    )


def test_a_fifo_never_blocks(tmp_path, run_cli):
    for name in ("pipe.png", "pipe.npy", "pipe.txt"):
        os.mkfifo(tmp_path / name)
    for args in (
        ("apply", "pipe.png", "-k", "1", "-o", "o.png"),
        ("apply", "pipe.npy", "-k", "1"),
        ("kernels", "@pipe.txt"),
        ("apply", "--matrix", MATRIX, "-k", "1", "--bias", "pipe.txt"),
        ("learn", "pipe.png", MATRIX),
    ):
        done = run_cli(*args, cwd=tmp_path)
        assert done.exit_code == 1, (args, done.stderr)
        assert done.stderr.endswith("is a pipe (FIFO); convcli reads only regular files\n")
        assert len(done.stderr.splitlines()) == 1


def test_text_inputs_have_a_size_limit(tmp_path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as handle:  # sparse: nothing is written
        handle.truncate(limits.MAX_TEXT_BYTES + 1)
    one_error(quick("kernels", f"@{big}"), 1, "more than the 16,777,216 convcli reads")
    one_error(quick("apply", big, "-k", "1"), 1, "more than the 16,777,216 convcli reads")


def test_image_files_have_a_size_limit_from_max_pixels(tmp_path):
    big = tmp_path / "big.png"
    with open(big, "wb") as handle:
        handle.write(png_bytes(np.zeros((2, 2), np.uint8)))
        handle.truncate(80 << 20)
    one_error(
        quick("apply", big, "-k", "1", "-o", tmp_path / "o.png", "--max-pixels", "4"),
        1,
        "bytes, more than the",
    )


# ---------------------------------------------------------------- stderr is one line


def test_libtiff_chatter_is_silenced(tmp_path, run_cli):
    data = bytearray(imageio_tiff(compression="tiff_deflate"))
    data[-200:-150] = b"\x00" * 50  # damages the deflate stream and the tags after it
    (tmp_path / "bad.tif").write_bytes(bytes(data))
    done = run_cli("apply", "bad.tif", "-k", "1", "-o", "o.png", cwd=tmp_path)
    lines = done.stderr.splitlines()
    if done.exit_code == 0:
        assert all(line.startswith("note: ") for line in lines), done.stderr
    else:
        assert done.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error: "), lines


def imageio_tiff(**options: object) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, "TIFF", **options)
    return buffer.getvalue()


def test_pillow_warnings_become_one_note():
    pixels = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x010F] = "camera"
    data = bytearray(io.BytesIO().getvalue())
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    data = bytearray(buffer.getvalue())
    start = data.index(b"Exif\x00\x00")
    data[start + 10 : start + 14] = b"\xff\xff\xff\x7f"  # first IFD offset beyond the file
    picture = imageio.load_image(io.BytesIO(bytes(data)), name="photo")
    assert picture.pixels.shape == (4, 4, 3)
    assert len(picture.notes) <= 1
    assert all(note.startswith("photo: the decoder warned: ") for note in picture.notes)


def test_numpy_warnings_become_one_note():
    result = quick("apply", "--matrix", "3e38 3e38; 1 1", "-k", "1 1")
    assert result.exit_code == 0
    assert result.stdout.split() == ["inf", "2"]
    assert result.stderr == "note: while working: overflow encountered in add\n"


# ---------------------------------------------------------------- exit codes of option errors


@pytest.mark.parametrize(
    "options",
    [
        ("--epochs", "-1"),
        ("--epochs", "100001"),
        ("--lr", "0"),
        ("--lr", "nan"),
        ("--lr", "inf"),
        ("--batch-size", "0"),
        ("--seed", "-1"),
        ("--tol", "inf"),
        ("--tol", "0"),
        ("--size", "0"),
        ("--size", "33"),
        ("--padding", "-1"),
        ("--padding", "2000"),
    ],
)
def test_learn_option_errors_exit_2(options):
    args = ("learn", "0 1 0; 1 0 1", "0 1 0; 1 0 1", "--method", "gd", "--size", "1", *options)
    one_error(quick(*args), 2)


def test_learn_descent_steps_are_bounded():
    big = "; ".join([" ".join(["0 1"] * 50)] * 100)  # 10,000 pixels
    one_error(
        quick("learn", big, big, "--method", "gd", "--size", "1", "--epochs", "100000"),
        2,
        "descent steps",
    )


@pytest.mark.parametrize(
    "options",
    [
        ("--max-pixels", "1" * 30),
        ("--max-pixels", "-1"),
        ("--stride", "0"),
        ("--stride", "1026"),
        ("--dilation", "0"),
        ("--dilation", "1025"),
        ("--padding", "-1"),
        ("--padding", "1025"),
        ("--padding", ""),
        ("--bias", ""),
        ("--bias", "x"),
        ("-o", ""),
        ("-O", " "),
    ],
)
def test_apply_option_errors_exit_2(options):
    one_error(quick("apply", "--matrix", MATRIX, "-k", "1", *options), 2)


def test_kernels_table_of_a_large_kernel_is_not_drawn():
    result = quick("kernels", "box:101", "--format", "table")
    assert result.exit_code == 0
    assert "too many for a table" in result.stdout
    assert len(result.stdout.splitlines()) < 20
    assert len(quick("kernels", "box:101", "--format", "plain").stdout.splitlines()) > 100
