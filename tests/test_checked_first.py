"""What is wrong with the words typed is refused before any work, with the exit code of
its kind: 2 for words and options, 1 for a file's content (as a missing file is)."""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "no values"),
        ("# only a comment\n", "no values"),
        ("1 x\n", "'x'"),
    ],
)
def test_a_bad_kernel_file_fails_as_a_missing_one_does(cli, tmp_path, content, reason):
    (tmp_path / "k.txt").write_text(content)
    result = cli("apply", "--matrix", "1 2; 3 4", "-k", f"@{tmp_path / 'k.txt'}")
    assert result.exit_code == 1, result.stderr
    assert result.stderr.startswith(f"Error: kernel file '{tmp_path / 'k.txt'}': ")
    assert reason in result.stderr
    missing = cli("apply", "--matrix", "1 2; 3 4", "-k", f"@{tmp_path / 'none.txt'}")
    assert missing.exit_code == 1


def test_a_five_dimensional_npy_kernel_is_a_failed_file(cli, tmp_path):
    np.save(tmp_path / "k5.npy", np.zeros((1, 1, 1, 1, 2)))
    result = cli("apply", "--matrix", "1 2; 3 4", "-k", f"@{tmp_path / 'k5.npy'}")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: kernel file '{tmp_path / 'k5.npy'}': a kernel must have 1 to 4 dimensions, "
        "got shape (1, 1, 1, 1, 2)\n",
    )


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b"):
        Image.new("L", (6, 4), 9).save(folder / f"{name}.png")
    return folder


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("", "--name '': give a file name, e.g. '{dir}{stem}-{step}.{ext}'"),
        (
            "{stem:>20}.png",
            "--name '{stem:>20}.png': {stem:>20} is formatted; fields are plain: "
            "{stem}, {ext}, {step}, {parent}, {dir}",
        ),
        (
            "{stem!r}.png",
            "--name '{stem!r}.png': {stem!r} is formatted; fields are plain: "
            "{stem}, {ext}, {step}, {parent}, {dir}",
        ),
    ],
)
def test_a_name_template_that_cannot_name_files_is_refused(cli, photos, template, message):
    result = cli("apply", photos, "-k", "box:3", "-O", photos.parent / "out", "--name", template)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")
    assert not (photos.parent / "out").exists()


def test_a_name_whose_suffix_names_no_format_is_refused_before_work(cli, photos):
    out = photos.parent / "out"
    result = cli("apply", photos, "-k", "box:3", "-O", out, "--name", "{stem}.{ext}{ext}")
    assert (result.exit_code, result.stderr) == (
        2,
        f"Error: --name '{{stem}}.{{ext}}{{ext}}' gives 'a.pngpng' for '{photos / 'a.png'}', "
        "whose suffix names no format convcli writes; end it with .{ext} or a known suffix, "
        "or give --to FORMAT\n",
    )
    assert not out.exists()
    told = cli("apply", photos, "-k", "box:3", "-O", out, "--name", "{stem}", "--to", "png")
    assert told.exit_code == 0, told.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a", "b"]


def test_an_image_to_a_text_matrix_is_refused_in_words(cli, photos, tmp_path):
    result = cli("apply", photos / "a.png", "-k", "box:3", "-o", tmp_path / "a.txt")
    assert (result.exit_code, result.stderr) == (
        2,
        f"Error: output '{tmp_path / 'a.txt'}': TXT is for matrix results and the input is an "
        "image; write an image format, .npy or .pfm\n",
    )


def test_a_bad_expect_is_refused_before_the_report_is_printed(cli):
    result = cli("shape", "3x32x32", "-k", "3", "--expect", "junk")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == "Error: --expect must be a shape such as 64x56x56, got 'junk'\n"


@pytest.mark.parametrize(
    ("word", "key"),
    [("conv:8,k=3,k=5", "k"), ("conv:8,kernel=3,K=5", "K"), ("maxpool:k=2,s=2,stride=1", "stride")],
)
def test_a_layer_key_given_twice_is_refused_not_overwritten(cli, word, key):
    result = cli("shape", "32", word)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: layer 1 '{word}': key '{key}' given twice\n"


@pytest.mark.parametrize("text", ["1,,2", "1, ,2", "1,2,,3"])
def test_a_kernel_with_an_empty_value_between_commas_is_refused(cli, tmp_path, text):
    matrix = tmp_path / "m.txt"
    matrix.write_text("1 2\n3 4\n")
    typed = cli("apply", matrix, "-k", text)
    assert (typed.exit_code, typed.stdout) == (2, "")
    assert typed.stderr == (
        f"Error: kernel '{text}': a value is missing between commas in '{text}'\n"
    )
    kernel_file = tmp_path / "k.csv"
    kernel_file.write_text(f"{text}\n3,4,5\n")
    read = cli("apply", matrix, "-k", kernel_file)
    assert (read.exit_code, read.stdout) == (1, "")
    assert read.stderr == (
        f"Error: kernel file '{kernel_file}': a value is missing between commas in '{text}'\n"
    )


@pytest.mark.parametrize(
    ("count", "message"),
    [
        ("1000000000", "'repeat:1000000000' expands to more than 100,000 words"),
        (
            "99999999999999999999",
            "'repeat:99999999999999999999' expands to more than 100,000 words",
        ),
        ("0", "'repeat:0': repeat count must be an integer >= 1"),
        ("2.5", "'repeat:2.5': repeat count must be an integer >= 1"),
    ],
)
def test_a_repeat_count_is_refused_for_what_is_wrong_with_it(cli, count, message):
    result = cli("shape", "32", f"repeat:{count}", "conv:8,k=3", "end")
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


def test_an_infinite_sigma_is_refused_as_out_of_range_not_as_negative(cli, tmp_path):
    matrix = tmp_path / "m.txt"
    matrix.write_text("1 2\n3 4\n")
    result = cli("apply", matrix, "-k", "gaussian:1e400")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: kernel 'gaussian:1e400': sigma must be 0.01..1000, got inf\n",
    )


@pytest.mark.parametrize("ratio", ["0.5", "1", "1.0", "0.999999"])
@pytest.mark.parametrize("command", ["kernels", "apply"])
def test_a_dog_ratio_of_1_or_less_is_refused(cli, command, ratio):
    """SIGMA is dog's narrower Gaussian, its positive centre (skimage's
    difference_of_gaussians refuses a high_sigma below low_sigma): a ratio below 1 turned
    the kernel over and 1 cancelled it, and the catalogue said positive centre."""
    step = f"dog:1,ratio={ratio}"
    args = ["apply", "--matrix", "1 2; 3 4", "-k", step] if command == "apply" else [command, step]
    result = cli(*args)
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"Error: kernel '{step}': ratio must be > 1 and at most 1000 (the wider Gaussian's "
        "sigma over SIGMA; 1 cancels them, below 1 turns the centre negative), "
        f"got '{ratio}'\n",
    )


def test_an_output_under_a_file_says_the_file_is_in_the_way(cli, tmp_path):
    matrix = tmp_path / "m.txt"
    matrix.write_text("1 2\n3 4\n")
    result = cli("apply", matrix, "-k", "box:2", "-o", matrix / "sub" / "out.txt")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: output '{matrix / 'sub' / 'out.txt'}': '{matrix}' is a file, not a folder\n",
    )


@pytest.mark.parametrize(
    ("args", "title"),
    [
        (["-1 0 1; -2 0 2; -1 0 1"], "# -1 0 1; -2 0 2; -1 0 1: inline kernel"),
        (["-1,1"], "# -1,1: inline kernel"),
        (["-0.5"], "# -0.5: inline kernel"),
        (["--", "-1 1"], "# -1 1: inline kernel"),
    ],
)
def test_kernels_takes_a_matrix_that_starts_with_a_minus(cli, args, title):
    result = cli("kernels", "--format", "plain", *args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == title


def test_learn_takes_matrices_that_start_with_a_minus_and_options_keep_their_values(cli):
    result = cli("learn", "1 2 3; 4 5 6", "-1 -1; -1 -1", "--size", "1x2", "--format", "plain")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[-1].split() == ["1", "-1"]


def test_an_unknown_option_is_still_one(cli):
    assert cli("kernels", "-x").stderr == "Error: No such option: -x\n"
    assert cli("shape", "-3", "-k", "3").stderr == "Error: No such option: -3\n"
    negative_bias = cli("apply", "--matrix", "1 2; 3 4", "-k", "-1 0", "--bias", "-0.5")
    assert (negative_bias.exit_code, negative_bias.stdout) == (0, "-1.5\n-3.5\n")


def test_a_pipe_or_device_given_as_output_is_refused_not_replaced(cli, photos, tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    result = cli("apply", photos / "a.png", "-k", "box:3", "-o", fifo, "--to", "png", "--force")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: output '{fifo}' is not a regular file (a device, pipe or socket): convcli "
        "writes a file whole and renames it into place; use -o - and redirect stdout\n",
    )
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in", "out.fifo"]


def _small_file_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writing past the limit: EFBIG, not a kill
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


@pytest.mark.parametrize("suffix", [".npy", ".jpg", ".bmp", ".webp", ".gif", ".tif", ".png"])
def test_an_output_that_cannot_be_written_whole_is_named_and_left_out(tmp_path, suffix):
    noise = np.random.default_rng(0).integers(0, 256, (96, 96, 3), np.uint8)
    Image.fromarray(noise).save(tmp_path / "big.png")  # every output of it passes 4 kB
    out = tmp_path / f"out{suffix}"
    result = subprocess.run(
        [sys.executable, "-m", "convcli", "apply", "big.png", "-k", "identity", "-o", out.name],
        capture_output=True, text=True, cwd=tmp_path, preexec_fn=_small_file_limit,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (
        1,
        f"Error: output '{out.name}': file too large\n",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.png"]


def test_a_batch_output_format_its_inputs_cannot_take_is_refused_before_work(cli, photos, tmp_path):
    out = tmp_path / "out"
    images = cli("apply", photos, "-k", "box:3", "-O", out, "--to", "txt")
    assert (images.exit_code, images.stderr) == (
        2,
        f"Error: output 'a-box-3.txt' for '{photos / 'a.png'}': TXT is for matrix results and "
        "the input is an image; write an image format, .npy or .pfm\n",
    )
    np.save(tmp_path / "m.npy", np.ones((4, 4), np.float32))
    matrix = cli("apply", tmp_path / "m.npy", "-k", "box:3", "-O", out, "--to", "png")
    assert (matrix.exit_code, matrix.stderr) == (
        2,
        f"Error: output 'm-box-3.png' for '{tmp_path / 'm.npy'}': a matrix result is written "
        "as .npy, .csv or .txt, not PNG\n",
    )
    assert not out.exists()
    both = cli("apply", photos, tmp_path / "m.npy", "-k", "box:3", "-O", out, "--to", "npy")
    assert both.exit_code == 0, both.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a-box-3.npy", "b-box-3.npy", "m-box-3.npy"]


@pytest.mark.parametrize(
    ("kernel", "message"),
    [
        ("1 1_000", "kernel '1 1_000': '1_000' is not a number"),
        ("1 \u0661", "kernel '1 \u0661': '\u0661' is not a number"),  # an Arabic-Indic one
        ("nan", "kernel 'nan': 'nan' is not a finite number"),
        ("inf,1", "kernel 'inf,1': 'inf' is not a finite number"),
    ],
)
def test_numbers_are_written_as_numbers_and_nan_is_said_to_be_one(cli, kernel, message):
    result = cli("apply", "--matrix", "1 2; 3 4", "-k", kernel)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


def test_plain_spellings_of_numbers_still_read(cli):
    result = cli("apply", "--matrix", "1 2; 3 4", "-k", "1 -2.5e-1; .5 +3.")
    assert (result.exit_code, result.stdout) == (0, "14\n")


def test_normalize_says_how_near_zero_a_sum_it_refuses_is(cli):
    near = cli("apply", "--matrix", "1 2; 3 4", "-k", "1 -0.999999", "--normalize")
    assert (near.exit_code, near.stderr) == (
        1,
        "Error: --normalize: kernel '1 -0.999999' sums to 0 (1e-06: 0 within float32's "
        "precision, 1e-06 of its taps' total 2), cannot divide by it\n",
    )
    exact = cli("apply", "--matrix", "1 2; 3 4", "-k", "1 -1", "--normalize")
    assert exact.stderr == "Error: --normalize: kernel '1 -1' sums to 0, cannot divide by it\n"


def test_a_text_matrix_too_long_on_stdin_is_said_to_be_one(cli):
    text = "1 2 3\n" * 3_000_000  # 18 MB of numbers
    result = cli("apply", "-", "-k", "1", input=text)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"Error: stdin: {len(text):,} bytes, more than the 16,777,216 convcli reads for a text "
        "matrix; use .npy for more\n"
    )


def test_a_folder_that_takes_no_files_is_not_called_missing(cli, photos, monkeypatch):
    import convcli.imageio as imageio

    def refuse(target):
        raise FileNotFoundError(2, "No such file or directory")  # what /proc answers

    monkeypatch.setattr(imageio, "_make_temporary", refuse)
    out = photos / "x.png"
    result = cli("apply", photos / "a.png", "-k", "box:3", "-o", out)
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: output '{out}': folder '{photos}' takes no new files\n",
    )


def test_linear_on_a_float_image_is_a_usage_error_as_on_a_matrix(cli, tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "f.tif", np.ones((4, 4, 3), np.float32), photometric="rgb")
    result = cli("apply", tmp_path / "f.tif", "-k", "box:3", "--linear", "-o", tmp_path / "o.tif")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: --linear decodes sRGB: it needs an 8- or 16-bit image, not floats\n",
    )


def test_a_file_named_like_an_option_gets_a_hint(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("L", (6, 4), 9).save(tmp_path / "-dash.png")
    result = cli("apply", "-dash.png", "-k", "sobel", "-o", "y.png")
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: missing INPUT (an image, a matrix file, '-' for stdin) or --matrix; '-dash.png' "
        "was read as -d ash.png: give a file whose name starts with '-' as ./-dash.png\n",
    )
    assert cli("apply", "./-dash.png", "-k", "sobel", "-o", "y.png").exit_code == 0


def test_stdout_that_cannot_take_the_whole_output_is_an_error(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (96, 96, 3), np.uint8)
    Image.fromarray(noise).save(tmp_path / "big.png")
    with open(tmp_path / "captured.bmp", "wb") as captured:
        result = subprocess.run(
            [sys.executable, "-m", "convcli", "apply", "big.png", "-k", "identity", "-o", "-",
             "--to", "bmp"],
            stdout=captured, stderr=subprocess.PIPE, text=True, cwd=tmp_path,
            preexec_fn=_small_file_limit,
        )  # fmt: skip
    assert (result.returncode, result.stderr) == (1, "Error: stdout: file too large\n")


def test_a_link_to_a_descriptor_is_refused_not_replaced(cli, photos, tmp_path):
    link = tmp_path / "stdout.png"
    link.symlink_to("/proc/self/fd/1")
    result = cli("apply", photos / "a.png", "-k", "box:3", "-o", link, "--force")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: output '{link}' is a link to a file descriptor or device ('/proc/self/fd/1'): "
        "renamed into place, the output would replace the link; use -o - and redirect stdout\n",
    )
    assert link.is_symlink() and os.readlink(link) == "/proc/self/fd/1"


def test_an_output_folder_under_a_file_names_the_file(cli, photos):
    in_the_way = photos / "a.png"
    result = cli("apply", photos / "b.png", "-k", "box:3", "-O", in_the_way / "outs")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: cannot create output folder '{in_the_way / 'outs'}': '{in_the_way}' is a file, "
        "not a folder\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kernels", "gaussian:1_0"], "kernel 'gaussian:1_0': sigma must be a number, got '1_0'"),
        (["apply", "--matrix", "1 2", "-k", "1", "--bias", "1_0"],
         "--bias must be numbers (0.5 or 1,2,3) or a .npy/.csv/.txt file, got '1_0'"),
        (["kernels", "-inf,1"], "kernel '-inf,1': '-inf' is not a finite number"),
    ],
)  # fmt: skip
def test_every_number_typed_follows_one_grammar(cli, args, message):
    result = cli(*args)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


def test_a_vips_header_takes_ascii_digits_only(cli, tmp_path):
    (tmp_path / "k.mat").write_text("\u0662 1\n1 1\n")
    result = cli("kernels", tmp_path / "k.mat")
    assert result.exit_code == 1
    assert "a vips .mat file starts with 'WIDTH HEIGHT [SCALE [OFFSET]]'" in result.stderr


def test_to_net_writes_only_a_network_that_sizes_and_never_over_a_file(cli, tmp_path):
    net = tmp_path / "x.net"
    failed = cli("shape", "3x16x16", "conv:8,k=99", "--to-net", net)
    assert failed.exit_code == 1 and not net.exists()
    missed = cli("shape", "3x16x16", "conv:8,k=3", "--to-net", net, "--expect", "9x9x9")
    assert missed.stderr == "Error: expected shape 9x9x9, got 8x14x14\n" and not net.exists()
    assert cli("shape", "3x16x16", "conv:8,k=3", "--to-net", net).exit_code == 0
    assert net.read_text() == "input 3x16x16\nconv:8,k=3\n"
    again = cli("shape", "3x16x16", "conv:4,k=3", "--to-net", net)
    assert again.stderr == f"Error: --to-net {net} exists; use --force to overwrite it\n"
    assert net.read_text() == "input 3x16x16\nconv:8,k=3\n"
    assert cli("shape", "3x16x16", "conv:4,k=3", "--to-net", net, "--force").exit_code == 0
    assert net.read_text() == "input 3x16x16\nconv:4,k=3\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to-net", ""], "--to-net needs a file name (or - for stdout), got ''"),
        (["-k", "3", "--target", "6", "--expect", "9"],
         "--target lists the settings that give a size; --expect is for a network"),
    ],
)  # fmt: skip
def test_shape_options_that_would_be_ignored_or_cannot_work_are_refused(cli, args, message):
    result = cli("shape", "8", *args)
    assert (result.exit_code, result.stderr) == (2, f"Error: {message}\n")


@pytest.mark.parametrize(("character", "shown"), [("\x00", "\\x00"), ("\u200b", "\\u200b")])
def test_invisible_characters_in_a_word_are_shown_escaped(cli, tmp_path, character, shown):
    net = tmp_path / "odd.net"
    net.write_text(f"conv:8,k=3\n{character}\n")
    result = cli("shape", "32", "--net", net)
    assert result.exit_code == 1  # a file's content: failed input
    assert result.stderr.startswith(f"Error: layer 2 '{shown}' (odd.net:2): unknown layer type")
    assert character not in result.stderr


@pytest.mark.parametrize("spelling", ["local://{}", "file://{}"])
def test_an_input_named_another_way_is_never_overwritten(cli, photos, spelling):
    source = photos / "a.png"
    before = source.read_bytes()
    given = spelling.format(source)
    result = cli("apply", given, "-k", "box:3", "-O", photos, "--name", "{stem}.{ext}", "--force")
    assert result.exit_code == 2
    assert "an input; convcli never overwrites an input" in result.stderr
    assert source.read_bytes() == before


def test_to_net_never_replaces_a_pipe(cli, tmp_path):
    fifo = tmp_path / "net.fifo"
    os.mkfifo(fifo)
    result = cli("shape", "3x8x8", "conv:4,k=3", "--to-net", fifo, "--force")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: --to-net '{fifo}' is not a regular file (a device, pipe or socket): convcli "
        "writes a file whole and renames it into place; use --to-net - and redirect stdout\n",
    )
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_a_file_name_with_a_line_break_is_quoted_as_it_is(cli):
    """limits.shorten flattened a line break to a space before escaping: the message named
    another file ('bad name.txt')."""
    result = cli("kernels", "@bad\nname.txt")
    assert result.exit_code != 0
    assert result.stderr == "Error: kernel file 'bad\\nname.txt': not found\n"
