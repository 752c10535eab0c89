"""``convcli apply IN... -O DIR``: many files, named outputs, workers, failures, Ctrl-C."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli.batch import BatchInput, find_inputs, plan_batch, run_batch, steps_slug
from convcli.errors import ConvcliError, SpecError
from convcli.kernels import parse_step
from convcli.process import ApplyOptions, process_one

SUMMARY = re.compile(
    r"^(\d+) done, (\d+) skipped, (\d+) failed(, \d+ not run)? in [\d.]+ m?s "
    r"\([\d.]+ files/s, (\d+) process(es)?\)$"
)


def make_images(folder: Path, count: int, size=(24, 32), suffix="png") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(count)
    paths = []
    for index in range(count):
        path = folder / f"img{index:02d}.{suffix}"
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


def names(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image)


def error_line(result, code: int, *fragments: str) -> None:
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


# ------------------------------------------------------------------------- the basics


def test_folder_and_files_to_an_out_dir(cli, tmp_path):
    make_images(tmp_path / "in", 3)
    extra = make_images(tmp_path / "more", 1, suffix="jpg")[0]
    out = tmp_path / "out"
    result = cli("apply", tmp_path / "in", extra, "-k", "sobel", "-O", out)
    assert (result.exit_code, result.stdout) == (0, "")
    summary = result.stderr.strip()
    assert SUMMARY.match(summary), summary
    assert summary.startswith("4 done, 0 skipped, 0 failed in ")
    assert names(out) == [
        "img00-sobel.jpg",
        "img00-sobel.png",
        "img01-sobel.png",
        "img02-sobel.png",
    ]
    expected = tmp_path / "single.png"
    cli("apply", tmp_path / "in" / "img01.png", "-k", "sobel", "-o", expected)
    assert np.array_equal(pixels(out / "img01-sobel.png"), pixels(expected))


def test_name_fields_and_to(cli, tmp_path):
    make_images(tmp_path / "photos" / "2024", 1)
    make_images(tmp_path / "photos" / "2025", 1)
    out = tmp_path / "out"
    result = cli(
        "apply",
        tmp_path / "photos",
        "-r",
        "-k",
        "gaussian:1.5",
        "-k",
        "sobel-x",
        "-O",
        out,
        "--name",
        "{dir}{parent}_{stem}.{step}.{ext}",
        "--to",
        "jpeg",
    )
    assert result.exit_code == 0, result.stderr
    assert names(out) == [
        "2024/2024_img00.gaussian-1.5_sobel-x.jpg",
        "2025/2025_img00.gaussian-1.5_sobel-x.jpg",
    ]
    assert (out / "2024" / "2024_img00.gaussian-1.5_sobel-x.jpg").read_bytes()[:3] == (
        b"\xff\xd8\xff"
    )


def test_results_do_not_depend_on_the_number_of_workers(cli, tmp_path):
    make_images(tmp_path / "in", 6, size=(40, 50))
    for jobs in ("1", "2", "3"):
        result = cli("apply", tmp_path / "in", "-k", "sobel", "-O", tmp_path / jobs, "-j", jobs)
        assert result.exit_code == 0, result.stderr
        assert f"files/s, {jobs} process" in result.stderr
    for name in names(tmp_path / "1"):
        one = (tmp_path / "1" / name).read_bytes()
        assert one == (tmp_path / "2" / name).read_bytes() == (tmp_path / "3" / name).read_bytes()


def test_folders_give_their_images_in_name_order(tmp_path):
    make_images(tmp_path / "in", 2)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    (tmp_path / "in" / ".hidden.png").write_bytes(b"")
    make_images(tmp_path / "in" / "sub", 1)
    make_images(tmp_path / "in" / ".git", 1)
    make_images(tmp_path / "in" / "out", 1)  # the output folder: never read back
    flat = find_inputs([tmp_path / "in"])
    assert [Path(found.path).name for found in flat] == ["img00.png", "img01.png"]
    deep = find_inputs([tmp_path / "in", tmp_path / "in" / "img00.png"], recursive=True,
                       exclude=tmp_path / "in" / "out")  # fmt: skip
    assert [(Path(f.path).name, f.folder) for f in deep] == [
        ("img00.png", ""),
        ("img01.png", ""),
        ("img00.png", "sub/"),
    ]


def test_steps_slug_is_short_and_stable():
    long = [parse_step(f"gaussian:{sigma}") for sigma in (1, 2, 3, 4, 5, 6, 7, 8, 9)]
    slug = steps_slug(long)
    assert len(slug) == 60
    assert slug.startswith("gaussian-1_gaussian-2_gaussian-3_")
    assert slug == steps_slug(long)
    assert steps_slug([parse_step("1 0 -1; 2 0 -2; 1 0 -1")]) == "kernel-3x3"


# ------------------------------------------------------------------------- failures


def broken(folder: Path) -> Path:
    path = folder / "img01.png"
    path.write_bytes(path.read_bytes()[:100])  # truncated
    return path


def test_a_bad_file_is_reported_and_the_rest_go_on(cli, tmp_path):
    make_images(tmp_path / "in", 4)
    bad = broken(tmp_path / "in")
    out = tmp_path / "out"
    result = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out, "-j", "2")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"failed: {bad}: corrupt or truncated image")
    assert lines[1].startswith("3 done, 0 skipped, 1 failed in ")
    assert names(out) == ["img00-box-3.png", "img02-box-3.png", "img03-box-3.png"]


def test_fail_fast_stops_at_the_first_failure(cli, tmp_path):
    make_images(tmp_path / "in", 4)
    bad = broken(tmp_path / "in")
    out = tmp_path / "out"
    result = cli(
        "apply", tmp_path / "in", "-k", "box:3", "-O", out, "-j", "1", "--fail-fast",
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(f["input"], f["status"]) for f in report["files"]] == [
        (str(tmp_path / "in" / "img00.png"), "done"),
        (str(bad), "failed"),
        (str(tmp_path / "in" / "img02.png"), "cancelled"),
        (str(tmp_path / "in" / "img03.png"), "cancelled"),
    ]
    assert report["files"][1]["error"].startswith(f"{bad}: corrupt or truncated image")
    assert report["files"][0]["error"] is None
    summary = report["summary"]
    assert {k: summary[k] for k in ("done", "skipped", "failed", "cancelled", "stopped")} == {
        "done": 1, "skipped": 0, "failed": 1, "cancelled": 2, "stopped": True,
    }  # fmt: skip
    assert result.stderr.splitlines()[-1].startswith(
        "stopped at the first failure (--fail-fast): 1 done, 0 skipped, 1 failed, 2 not run in "
    )
    assert names(out) == ["img00-box-3.png"]


def test_missing_input_is_one_failure(cli, tmp_path):
    make_images(tmp_path / "in", 1)
    missing = tmp_path / "in" / "nope.png"
    result = cli(
        "apply", tmp_path / "in" / "img00.png", missing, "-k", "box:3", "-O", tmp_path / "o"
    )
    assert result.exit_code == 1
    assert f"failed: {missing}: no such file" in result.stderr


def test_per_file_report_formats(cli, tmp_path):
    make_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    first = tmp_path / "in" / "img00.png"
    csv = cli("apply", first, "-k", "box:3", "-O", out, "--format", "csv", "-q")
    assert (csv.exit_code, csv.stderr) == (0, "")
    header, row = csv.stdout.splitlines()
    assert header == "input,output,status,error,note,notes,seconds"  # JSON's per-file keys
    done, seconds = row.rsplit(",", 1)
    assert done == f"{first},{out / 'img00-box-3.png'},done,,,"
    assert 0 < float(seconds) < 60
    again = cli("apply", first, "-k", "box:3", "-O", out, "--format", "csv", "-q").stdout
    assert again.splitlines()[1].startswith(  # why a file was skipped, as JSON's "note"
        f"{first},{out / 'img00-box-3.png'},skipped,,output exists,,"
    )
    plain = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out, "--format", "plain", "-q")
    assert plain.stdout.splitlines() == [
        f"{first}\t{out / 'img00-box-3.png'}\tskipped",
        f"{tmp_path / 'in' / 'img01.png'}\t{out / 'img01-box-3.png'}\tdone",
    ]
    table = cli("apply", first, "-k", "box:3", "-O", out, "--format", "table", "--force")
    assert "input" in table.stdout and "done" in table.stdout


# ------------------------------------------------------------------------- existing outputs


def test_existing_outputs_are_skipped_with_a_note_unless_force(cli, tmp_path):
    make_images(tmp_path / "in", 2)
    out = tmp_path / "out"
    out.mkdir()
    existing = out / "img00-box-3.png"
    existing.write_bytes(b"precious")
    result = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out)
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"note: skipped {tmp_path / 'in' / 'img00.png'}: '{existing}' exists "
        "(--force replaces it, --skip-existing skips quietly)"
    )
    assert lines[1].startswith("1 done, 1 skipped, 0 failed in ")
    assert existing.read_bytes() == b"precious"
    again = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out, "--skip-existing")
    assert again.stderr.startswith("0 done, 2 skipped, 0 failed in ")
    forced = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out, "--force")
    assert forced.stderr.startswith("2 done, 0 skipped, 0 failed in ")
    assert pixels(existing).shape == (24, 32, 3)
    both = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out, "--force", "--skip-existing")
    error_line(both, 2, "--force replaces existing outputs, --skip-existing keeps them")


def test_a_rerun_says_once_that_outputs_exist(cli, tmp_path):
    """Issue 13: a re-run of a batch prints one note for all the outputs that exist, not
    a line per file; the new file is done."""
    make_images(tmp_path / "in", 4)
    out = tmp_path / "out"
    assert cli("apply", tmp_path / "in", "-k", "box:3", "-O", out).exit_code == 0
    make_images(tmp_path / "in", 5)  # one more input: img04
    again = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out)
    assert again.exit_code == 0
    lines = again.stderr.splitlines()
    assert lines[0] == (
        f"note: 4 outputs exist, skipped (the first: '{out / 'img00-box-3.png'}'; "
        "--force replaces them, --skip-existing skips quietly)"
    )
    assert len(lines) == 2 and lines[1].startswith("1 done, 4 skipped, 0 failed in ")
    quiet = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out, "--skip-existing")
    assert quiet.stderr.startswith("0 done, 5 skipped, 0 failed in ")


def test_files_a_folder_scan_left_out_get_one_note(cli, tmp_path):
    """Issue 13: non-images in a scanned folder are named in one note (hidden files and
    sub-folders are not counted); files named on the command line are always taken."""
    make_images(tmp_path / "in", 2)
    (tmp_path / "in" / "notes.txt").write_text("hello")
    (tmp_path / "in" / "data.json").write_text("{}")
    (tmp_path / "in" / ".hidden.txt").write_text("x")
    (tmp_path / "in" / "sub").mkdir()
    result = cli("apply", tmp_path / "in", "-k", "box:3", "-O", tmp_path / "out")
    assert result.exit_code == 0
    lines = result.stderr.splitlines()
    assert lines[0] == (
        f"note: 2 files are not images (by suffix), left out: '{tmp_path / 'in' / 'data.json'}'"
        " and 1 more"
    )
    assert len(lines) == 2 and lines[1].startswith("2 done, 0 skipped, 0 failed in ")
    quiet = cli("apply", tmp_path / "in", "-k", "box:3", "-O", tmp_path / "q", "-q")
    assert quiet.stderr == ""


def test_quiet_prints_failures_only(cli, tmp_path):
    make_images(tmp_path / "in", 2)
    result = cli("apply", tmp_path / "in", "-k", "box:3", "-O", tmp_path / "out", "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    bad = broken(tmp_path / "in")
    failed = cli("apply", bad, "-k", "box:3", "-O", tmp_path / "out2", "-q")
    assert failed.exit_code == 1
    assert failed.stderr.startswith(f"failed: {bad}: ") and failed.stderr.count("\n") == 1


# ------------------------------------------------------------------------- refused up front


def test_two_inputs_writing_the_same_output_are_refused_before_any_work(cli, tmp_path):
    make_images(tmp_path / "a", 1)
    make_images(tmp_path / "b", 1)
    out = tmp_path / "out"
    result = cli("apply", tmp_path / "a", tmp_path / "b", "-k", "box:3", "-O", out)
    error_line(
        result,
        2,
        f"'{tmp_path / 'a' / 'img00.png'}' and '{tmp_path / 'b' / 'img00.png'}' would both "
        f"write '{out / 'img00-box-3.png'}'; put {{parent}} or {{dir}}",
    )
    assert not out.exists()
    named = cli(
        "apply", tmp_path / "a", tmp_path / "b", "-k", "box:3", "-O", out,
        "--name", "{parent}-{stem}.{ext}",
    )  # fmt: skip
    assert named.exit_code == 0
    assert names(out) == ["a-img00.png", "b-img00.png"]


def test_an_output_that_is_an_input_is_refused(cli, tmp_path):
    make_images(tmp_path / "in", 2)
    result = cli("apply", tmp_path / "in", "-k", "box:3", "-O", tmp_path / "in", "--name",
                 "{stem}.{ext}", "--force")  # fmt: skip
    error_line(result, 2, "would be", "an input; convcli never overwrites an input")


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{stem}-{size}.{ext}", "unknown field {size}; use {stem}, {ext}, {step}, {parent}, {dir}"),
        ("{stem", "expected '}' before end of string"),
        ("../{stem}.{ext}", "it must name a file inside the output folder"),
        ("{dir}", "it must name a file inside the output folder"),
    ],
)
def test_bad_name_templates(cli, tmp_path, template, message):
    make_images(tmp_path / "in", 1)
    result = cli("apply", tmp_path / "in", "-k", "box:3", "-O", tmp_path / "o", "--name", template)
    error_line(result, 2, f"--name {template!r}", message)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["{a}", "{b}", "-o", "{out}/x.png"], "2 inputs given with -o, which names one output"),
        (["{a}", "{b}", "-o", "{out}/x.png"], "use -O/--out-dir DIR"),
        (["{a}", "{b}"], "2 inputs given: use -O/--out-dir DIR"),
        (["{folder}", "-o", "{out}/x.png"], "is a folder: use -O/--out-dir DIR"),
        (["{a}", "-o", "{out}/x.png", "-j", "2"], "--jobs is for a batch: give -O/--out-dir"),
        (["{a}", "-o", "{out}/x.png", "--name", "x"], "--name is for a batch"),
        (["{a}", "-O", "{out}", "-o", "{out}/x.png"], "give -o FILE (one input) or -O DIR"),
        (["-", "-O", "{out}"], "'-' (stdin) needs -o"),
        (["--matrix", "1 2", "-O", "{out}"], "--matrix gives no file"),
    ],
)
def test_usage_errors(cli, tmp_path, arguments, message):
    a, b = make_images(tmp_path / "in", 2)
    filled = [
        arg.format(a=a, b=b, out=tmp_path / "out", folder=tmp_path / "in") for arg in arguments
    ]
    result = cli("apply", *filled, "-k", "box:3")
    error_line(result, 2, message)
    assert not (tmp_path / "out").exists()


def test_an_empty_folder(cli, tmp_path):
    (tmp_path / "empty").mkdir()
    result = cli("apply", tmp_path / "empty", "-k", "box:3", "-O", tmp_path / "out")
    error_line(result, 1, "no images found in", "(-r/--recursive descends into sub-folders)")


def test_an_input_without_suffix_needs_to(cli, tmp_path):
    photo = make_images(tmp_path / "in", 1)[0]
    bare = photo.rename(tmp_path / "in" / "photo")
    result = cli("apply", bare, "-k", "box:3", "-O", tmp_path / "out")
    error_line(result, 2, f"'{bare}' has no suffix to name its output by; give --to FORMAT")
    assert cli("apply", bare, "-k", "box:3", "-O", tmp_path / "out", "--to", "png").exit_code == 0


@pytest.mark.parametrize("missing", ["{tmp}/nope/", "{tmp}/nope", "memory://convcli-nope/nope/"])
def test_a_missing_folder_or_prefix_is_not_found_not_short_of_a_suffix(cli, tmp_path, missing):
    given = missing.format(tmp=tmp_path)
    what = "object or folder" if given.startswith("memory") else "file or folder"
    result = cli("apply", given, "-k", "box:3", "-O", tmp_path / "out")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"Error: INPUT '{given}': no such {what}\n"
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------- library, progress


def test_run_batch_as_a_library(tmp_path):
    inputs = [BatchInput(str(p)) for p in make_images(tmp_path / "in", 3)]
    steps = [parse_step("sobel-x")]
    items = plan_batch(inputs, tmp_path / "out", steps, name="{stem}.{ext}")
    assert [Path(item.output).name for item in items] == ["img00.png", "img01.png", "img02.png"]
    started, finished = [], []
    report = run_batch(
        items,
        steps,
        jobs=2,
        on_start=lambda total, jobs: started.append((total, jobs)),
        on_result=finished.append,
    )
    assert started == [(3, 2)]
    assert sorted(item.input for item in finished) == [item.input for item in items]
    assert (report.count("done"), report.jobs, report.interrupted) == (3, 2, False)
    assert all(item.seconds > 0 and item.error is None for item in report.items)
    with pytest.raises(SpecError, match="unknown field"):
        plan_batch(inputs, tmp_path / "out", steps, name="{nope}")


def test_output_folder_that_cannot_be_made(tmp_path):
    inputs = [BatchInput(str(p)) for p in make_images(tmp_path / "in", 1)]
    (tmp_path / "file").write_text("x")
    steps = [parse_step("box:3")]
    items = plan_batch(inputs, tmp_path / "file" / "out", steps)
    with pytest.raises(ConvcliError, match="cannot create output folder"):
        run_batch(items, steps, jobs=1)


def test_progress_bar_on_a_terminal(tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from convcli.render import apply as render_apply

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)
    monkeypatch.setattr("convcli.render.stderr_console", lambda: console)
    progress = render_apply.BatchProgress(bar=True)
    inputs = [BatchInput(str(p)) for p in make_images(tmp_path / "in", 3)]
    inputs.append(BatchInput(str(tmp_path / "missing.png")))
    steps = [parse_step("box:3")]
    items = plan_batch(inputs, tmp_path / "out", steps)
    try:
        run_batch(items, steps, jobs=1, on_start=progress.start, on_result=progress.advance)
    finally:
        progress.stop()
    shown = screen.getvalue()
    assert "filtering (1 process)" in shown and "4/4" in shown and "files" in shown
    assert f"failed: {tmp_path / 'missing.png'}: no such file" in shown


def test_progress_bar_only_on_a_terminal_and_not_quiet():
    from convcli.render.apply import BatchProgress

    assert BatchProgress().bar is False  # pytest's stderr is not a terminal
    assert BatchProgress(quiet=True).bar is False


# ------------------------------------------------------------------------- signals
# (real processes, signalled at random moments: tests/test_signals.py)


def test_a_signal_while_writing_leaves_no_temporary_file(tmp_path, monkeypatch):
    """SIGTERM as a worker (or -j 1) writes a file: Interrupted unwinds the write, its
    temporary file is removed, and the signal goes on up (it is not a failed file)."""
    import signal

    from convcli import _signals, imageio
    from convcli.process import process_file

    source = make_images(tmp_path / "in", 1)[0]
    out = tmp_path / "out"
    out.mkdir()
    real_chunk = imageio._png_chunk

    def stopped_chunk(kind, data):
        if kind == b"IDAT":
            signal.raise_signal(signal.SIGTERM)  # runs the handler here, mid-write
        return real_chunk(kind, data)

    monkeypatch.setattr(imageio, "_png_chunk", stopped_chunk)
    with pytest.raises(_signals.Interrupted) as stopped, _signals.handled():
        process_file(str(source), str(out / "x.png"), [parse_step("box:3")], ApplyOptions())
    assert stopped.value.exit_code == 143
    assert list(out.iterdir()) == []


def test_a_signal_as_the_temporary_file_is_made_leaves_nothing(tmp_path, monkeypatch):
    """The signal lands just after the temporary file exists, before the write's
    ``finally`` is set up: it waits for the file to be recorded, and the file is removed
    once the interruption has unwound."""
    import signal
    import tempfile

    from convcli import _signals, imageio

    real_mkstemp = tempfile.mkstemp

    def mkstemp_then_signal(*args, **kwargs):
        made = real_mkstemp(*args, **kwargs)
        # SIGTERM, not SIGINT: a suite run in the background (nohup, CI) inherits an
        # ignored SIGINT, which convcli rightly keeps ignored.
        signal.raise_signal(signal.SIGTERM)
        return made

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp_then_signal)
    with pytest.raises(_signals.Interrupted), _signals.handled():
        imageio.write_bytes(tmp_path / "x.bin", b"data")
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------- bookkeeping


def test_a_broken_symbolic_link_in_a_folder_is_a_failed_file(cli, tmp_path):
    """Not dropped silently: counted, told, exit 1."""
    make_images(tmp_path / "in", 2)
    link = tmp_path / "in" / "img05.png"
    link.symlink_to("gone.png")
    (tmp_path / "in" / ".hidden.png").symlink_to("gone.png")  # hidden: still skipped
    out = tmp_path / "out"
    for recursive in ([], ["-r"]):
        result = cli("apply", tmp_path / "in", *recursive, "-k", "box:3", "-O", out, "--force")
        assert result.exit_code == 1, result.stderr
        lines = result.stderr.splitlines()
        assert lines[0] == f"failed: {link}: broken symbolic link (to 'gone.png')"
        assert lines[1].startswith("2 done, 0 skipped, 1 failed in "), lines
        assert len(lines) == 2, lines
    assert names(out) == ["img00-box-3.png", "img01-box-3.png"]


def test_an_output_written_meanwhile_is_skipped_not_failed(tmp_path, monkeypatch):
    """Another run (or program) writes an output after this batch was planned: before the
    file starts, or while it is filtered (the rename finds the name taken). Either way the
    file is skipped, as it would have been at planning, and the other run's file is kept."""
    from convcli import imageio

    inputs = [BatchInput(str(p)) for p in make_images(tmp_path / "in", 3)]
    steps = [parse_step("box:3")]
    items = plan_batch(inputs, tmp_path / "out", steps)
    assert [item.status for item in items] == ["pending"] * 3
    (tmp_path / "out").mkdir()
    Path(items[0].output).write_bytes(b"theirs, before")
    real_check = imageio.check_output_path

    def check_then_other_run_writes(path, *args, **kwargs):
        real_check(path, *args, **kwargs)
        if path == items[1].output:
            Path(path).write_bytes(b"theirs, meanwhile")

    monkeypatch.setattr(imageio, "check_output_path", check_then_other_run_writes)
    told = []
    report = run_batch(items, steps, jobs=1, on_result=told.append)
    assert [(i.status, i.note, i.error) for i in report.items] == [
        ("skipped", "output exists", None),
        ("skipped", "output exists", None),
        ("done", None, None),
    ]
    assert told == report.items
    assert Path(items[0].output).read_bytes() == b"theirs, before"
    assert Path(items[1].output).read_bytes() == b"theirs, meanwhile"
    assert names(tmp_path / "out") == ["img00-box-3.png", "img01-box-3.png", "img02-box-3.png"]


def test_two_runs_into_one_folder_share_the_work_without_failures(tmp_path):
    """Two real runs on the same inputs and folder at once: every output is written once,
    by one of them, and skipped by the other; no failure, both exit 0, and every output is
    whole. (Before: 179 of 200 'output exists' failures.)"""
    make_images(tmp_path / "in", 60, size=(64, 96))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "convcli", "apply", str(tmp_path / "in"), "-k", "sobel",
               "-O", str(out), "-j", "2"]  # fmt: skip
    runs = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    results = [(run.communicate(timeout=120), run.returncode) for run in runs]
    done = skipped = 0
    for (stdout, stderr), code in results:
        assert (code, stdout) == (0, ""), stderr
        *notes, summary = stderr.splitlines()
        match = SUMMARY.match(summary)
        assert match is not None and match.group(3) == "0", summary
        # Outputs there when the run was planned: one note for them all (or one line for
        # one); outputs the other run wrote meanwhile: a line each, as they are met.
        counted = 0
        for line in notes:
            many = re.match(r"note: (\d+) outputs exist, skipped \(the first: ", line)
            if many:
                counted += int(many.group(1))
            else:
                assert re.match(r"note: skipped .*' exists \(--force replaces", line), line
                counted += 1
        assert counted == int(match.group(2)), stderr
        done, skipped = done + int(match.group(1)), skipped + int(match.group(2))
    assert (done, skipped) == (60, 60)
    assert len(names(out)) == 60
    reference = tmp_path / "reference.png"
    process_one(tmp_path / "in" / "img07.png", reference, [parse_step("sobel")])
    assert (out / "img07-sobel.png").read_bytes() == reference.read_bytes()
    assert all(pixels(out / name).shape == (64, 96, 3) for name in names(out))


def test_name_through_a_symbolic_link_out_of_the_output_folder_is_refused(cli, tmp_path):
    make_images(tmp_path / "in", 1)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    result = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out, "--name", "sub/{stem}.{ext}")
    error_line(
        result,
        2,
        f"--name 'sub/{{stem}}.{{ext}}' gives 'sub/img00.png' for "
        f"'{tmp_path / 'in' / 'img00.png'}', and '{out / 'sub'}' is a symbolic link out of "
        f"the output folder (to '{elsewhere}'); convcli writes inside -O only",
    )
    assert list(elsewhere.iterdir()) == []
    (out / "inner").mkdir()
    (out / "alias").symlink_to(out / "inner")  # a link that stays inside is fine
    inside = cli("apply", tmp_path / "in", "-k", "box:3", "-O", out, "--name", "alias/{stem}.png")
    assert inside.exit_code == 0, inside.stderr
    assert [p.name for p in (out / "inner").iterdir()] == ["img00.png"]


def test_matrix_files_in_a_batch(cli, tmp_path):
    np.save(tmp_path / "m.npy", np.arange(16.0).reshape(4, 4))
    (tmp_path / "m.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    out = tmp_path / "out"
    result = cli("apply", tmp_path / "m.npy", tmp_path / "m.csv", "-k", "0 1; 2 3", "-O", out)
    assert result.exit_code == 0, result.stderr
    assert (out / "m-kernel-2x2.csv").read_text() == "25,31\n43,49\n"
    assert np.load(out / "m-kernel-2x2.npy").tolist() == [[24, 30, 36], [48, 54, 60], [72, 78, 84]]


def test_quiet_hides_the_notes_of_a_single_file(cli, tmp_path):
    from PIL import Image

    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    noisy = cli("apply", tmp_path / "cmyk.jpg", "-k", "identity", "-o", tmp_path / "a.png")
    assert "CMYK converted to RGB" in noisy.stderr
    quiet = cli("apply", tmp_path / "cmyk.jpg", "-k", "identity", "-o", tmp_path / "b.png", "-q")
    assert (quiet.exit_code, quiet.stderr) == (0, "")


def test_a_step_too_large_for_one_file_of_a_batch_fails_that_file_before_any_work(cli, tmp_path):
    small, large = tmp_path / "in" / "small.png", tmp_path / "in" / "large.png"
    small.parent.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(small)
    Image.fromarray(np.zeros((60, 60), np.uint8)).save(large)
    out = tmp_path / "out"
    # p=20 turns 4x4 into 44x44 (1,936 px, allowed) and 60x60 into 100x100 (10,000 px, not)
    result = cli("apply", str(small.parent), "-k", "sobel-x:p=20", "-O", str(out),
                 "--max-pixels", "5000", "-j", "1", "--border", "zeros")  # fmt: skip
    assert result.exit_code == 1
    assert (
        f"failed: {large}: step 1 'sobel-x:p=20' would make a 98x98 output from 60x60 "
        "(9,604 pixels, more than --max-pixels 5,000"
    ) in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["small-sobel-x-p20.png"]


def test_a_pipe_in_a_scanned_folder_is_reported_not_dropped(cli, tmp_path):
    import os

    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("L", (6, 4), 9).save(folder / "a.png")
    os.mkfifo(folder / "fifo.png")
    result = cli("apply", folder, "-k", "box:3", "-O", tmp_path / "out", "-j", "1")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"failed: {folder / 'fifo.png'}: is a pipe (FIFO); convcli reads only regular files",
        result.stderr.splitlines()[-1],
    ]
    assert result.stderr.splitlines()[-1].startswith("1 done, 0 skipped, 1 failed")


def test_the_json_report_carries_the_notes_stderr_told(cli, tmp_path):
    import json

    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("L", (8, 7), 9).save(folder / "odd.png")  # maxpool:2 drops its last row
    result = cli("apply", folder, "-k", "maxpool:2", "-O", tmp_path / "out", "-j", "1",
                 "--format", "json")  # fmt: skip
    (record,) = json.loads(result.stdout)["files"]
    assert record["notes"] == ["step 1 'maxpool:2': floor division drops 1 input row at the bottom"]


def test_the_csv_report_carries_the_notes_one_per_line_in_their_cell(cli, tmp_path):
    import csv
    import io

    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("L", (7, 7), 9).save(folder / "odd.png")  # each step drops a row and a column
    Image.new("L", (8, 8), 9).save(folder / "even.png")
    args = ("apply", folder, "-k", "maxpool:2", "-k", "maxpool:2", "-O", tmp_path / "out")
    result = cli(*args, "-j", "1", "-q", "--format", "csv")
    drops = "floor division drops 1 input"
    notes = [
        f"step {step} 'maxpool:2': {drops} {where}"
        for step in (1, 2)
        for where in ("row at the bottom", "column at the right")
    ]
    out = tmp_path / "out"
    rows = list(csv.DictReader(io.StringIO(result.stdout)))  # as a spreadsheet reads it
    assert [row["notes"].split("\n") for row in rows] == [[""], notes]
    assert [(row["input"], row["output"], row["status"]) for row in rows] == [
        (str(folder / "even.png"), str(out / "even-maxpool-2_maxpool-2.png"), "done"),
        (str(folder / "odd.png"), str(out / "odd-maxpool-2_maxpool-2.png"), "done"),
    ]
    assert f',done,,,"{notes[0]}\n' in result.stdout  # one quoted cell, a note a line
    json_notes = json.loads(cli(*args, "--force", "-q", "--format", "json").stdout)["files"]
    assert [record["notes"] for record in json_notes] == [[], notes]  # the same notes
    plain = cli(*args, "--force", "-q", "--format", "plain").stdout.splitlines()
    assert plain[1].split("\t")[4] == "\\n".join(notes)  # one line per file


def test_jobs_with_dask_is_refused_rather_than_ignored(cli, tmp_path):
    from PIL import Image

    Image.new("L", (6, 4), 9).save(tmp_path / "a.png")
    result = cli("apply", tmp_path / "a.png", "-k", "box:3", "-O", tmp_path / "out",
                 "--dask", "local:2", "-j", "3")  # fmt: skip
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: -j/--jobs sizes the local pool; with --dask the cluster's workers run: drop -j\n",
    )


def test_one_file_left_out_is_said_in_the_singular(cli, tmp_path):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("L", (6, 4), 9).save(folder / "a.png")
    (folder / "notes.txt").write_text("x")
    result = cli("apply", folder, "-k", "box:3", "-O", tmp_path / "out", "-j", "1")
    assert result.stderr.splitlines()[0] == (
        f"note: 1 file is not an image (by suffix), left out: '{folder / 'notes.txt'}'"
    )


def test_a_sub_folder_that_cannot_be_listed_is_said_before_any_work(cli, tmp_path, monkeypatch):
    import os

    from PIL import Image

    folder = tmp_path / "in"
    (folder / "locked").mkdir(parents=True)
    Image.new("L", (6, 4), 9).save(folder / "a.png")
    Image.new("L", (6, 4), 9).save(folder / "locked" / "b.png")
    real_scandir = os.scandir

    def scandir(path="."):  # what chmod 000 gives a user other than root
        if os.fspath(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    result = cli("apply", folder, "-r", "-k", "box:3", "-O", tmp_path / "out", "-j", "1")
    assert (result.exit_code, result.stderr) == (
        1,
        f"Error: cannot list folder '{folder / 'locked'}' (permission denied): its files would "
        "be left out; fix its permissions, or give the folders to read one by one\n",
    )
    assert not (tmp_path / "out").exists()


def test_control_characters_in_file_names_are_escaped_on_stderr_and_exact_in_json(cli, tmp_path):
    from PIL import Image

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bad\nname.png").write_bytes(b"not an image")
    (folder / "es\x1b[31mc.png").write_bytes(b"not an image")
    Image.new("L", (8, 7), 9).save(folder / "odd\tone.png")  # maxpool:2 notes its last row
    out = tmp_path / "out"
    (out / "new").mkdir(parents=True)
    (out / "new" / "x\ry-maxpool-2.png").write_bytes(b"precious")
    Image.new("L", (8, 8), 9).save(folder / "x\ry.png")
    args = ("apply", folder, "-k", "maxpool:2", "-O", out, "--name", "new/{stem}-{step}.{ext}")
    result = cli(*args, "-j", "1", "--format", "json")
    readable = "convcli reads PNG, JPEG, TIFF, BMP, WebP, GIF, PNM, AVIF and PFM"
    lines = result.stderr.splitlines()
    assert lines[:4] == [
        f"note: skipped {folder}/x\\ry.png: '{out}/new/x\\ry-maxpool-2.png' exists "
        "(--force replaces it, --skip-existing skips quietly)",
        f"failed: {folder}/bad\\nname.png: not an image ({readable})",
        f"failed: {folder}/es\\x1b[31mc.png: not an image ({readable})",
        f"note: {folder}/odd\\tone.png: step 1 'maxpool:2': floor division drops 1 input row "
        "at the bottom",
    ]
    assert SUMMARY.match(lines[4]) and len(lines) == 5
    assert not any(character in result.stderr for character in "\t\r\x1b")
    files = json.loads(result.stdout)["files"]  # the exact names, which JSON escapes
    assert [record["input"] for record in files] == [
        f"{folder}/bad\nname.png", f"{folder}/es\x1b[31mc.png", f"{folder}/odd\tone.png",
        f"{folder}/x\ry.png",
    ]  # fmt: skip
    assert files[0]["error"] == f"{folder}/bad\nname.png: not an image ({readable})"
    plain = cli(*args, "--format", "plain", "-q").stdout.splitlines()
    assert plain[0].split("\t")[:2] == [
        f"{folder}/bad\\nname.png",
        f"{out}/new/bad\\nname-maxpool-2.png",
    ]
    assert len(plain) == 4
    # An Error line names them escaped too (two inputs writing one output).
    other = tmp_path / "other"
    other.mkdir()
    (other / "bad\nname.png").write_bytes(b"not an image")
    clash = cli(
        "apply", folder / "bad\nname.png", other / "bad\nname.png", "-k", "box:3", "-O", out
    )
    error_line(clash, 2, f"'{folder}/bad\\nname.png' and '{other}/bad\\nname.png' would both")


def test_visible_is_the_one_escape_of_messages():
    from convcli.errors import visible
    from convcli.limits import shorten

    assert visible("a\nb\x00c\u200bé\udcff.png") == "a\\nb\\x00c\\u200bé\\udcff.png"
    assert visible("plain name [x].png") == "plain name [x].png"
    assert shorten("k\x00") == "k\\x00"  # shorten shows invisible characters the same way


def test_the_name_probe_tells_this_disk_and_leaves_nothing(tmp_path):
    import unicodedata

    from convcli import imageio

    nfc, nfd = (unicodedata.normalize(form, "café") for form in ("NFC", "NFD"))
    for first, second in (("Probe", "probe"), (nfc, nfd), ("straße", "STRASSE")):
        # What this disk does, asked another way: a file looked up by the other name.
        (tmp_path / first).touch()
        expected = (tmp_path / second).exists()  # on Linux False: names are bytes
        (tmp_path / first).unlink()
        assert imageio.one_file_by_both_names(tmp_path, first, second) is expected
        deeper = tmp_path / "new" / "deeper"  # where it goes: asked in the nearest folder
        assert imageio.one_file_by_both_names(deeper, first, second) is expected
        assert list(tmp_path.iterdir()) == []  # the probe is gone, no folder was made
        if sys.platform == "linux":
            assert expected is False
    assert imageio.one_file_by_both_names(tmp_path, "a" * 300, "A" * 300) is False  # refused


def test_names_differing_only_by_case_are_one_output_on_a_disk_that_ignores_case(
    cli, tmp_path, monkeypatch
):
    from convcli import imageio

    make_images(tmp_path / "a", 1, suffix="PNG")[0].rename(tmp_path / "a" / "X.PNG")
    make_images(tmp_path / "b", 1)[0].rename(tmp_path / "b" / "x.png")
    out = tmp_path / "out"
    asked: list[tuple[str, str, str]] = []

    def one_file(folder, first, second):  # a macOS or Windows disk, which Linux cannot give
        asked.append((str(folder), first, second))
        return first.casefold() == second.casefold()

    monkeypatch.setattr(imageio, "one_file_by_both_names", one_file)
    both = ("apply", tmp_path / "a" / "X.PNG", tmp_path / "b" / "x.png", "-k", "box:3", "-O", out)
    result = cli(*both)
    error_line(
        result,
        2,
        f"'{tmp_path}/a/X.PNG' and '{tmp_path}/b/x.png' would both write '{out}/x-box-3.png' "
        f"(as '{out}/X-box-3.PNG': this disk ignores case); put {{parent}} or {{dir}}",
    )
    assert asked == [(str(out), "X-box-3.PNG", "x-box-3.png")] and not out.exists()
    # An output that is an input but for its case.
    into = cli("apply", tmp_path / "a", "-k", "box:3", "-O", tmp_path / "a",
               "--name", "{stem}.png", "--force")  # fmt: skip
    error_line(
        into,
        2,
        f"the output of '{tmp_path}/a/X.PNG' would be '{tmp_path}/a/X.png', an input "
        f"('{tmp_path}/a/X.PNG': this disk ignores case); convcli never overwrites an input",
    )
    # A batch without names that differ only by case never asks; a disk that tells case
    # apart writes both.
    asked.clear()
    assert cli("apply", tmp_path / "b", "-k", "box:3", "-O", out, "-q").exit_code == 0
    assert asked == []
    monkeypatch.setattr(imageio, "one_file_by_both_names", lambda folder, a, b: False)
    assert cli(*both, "--force", "-q").exit_code == 0
    assert names(out) == ["X-box-3.PNG", "x-box-3.png"]


def test_names_alike_but_for_how_an_accent_is_encoded_are_one_output_where_the_disk_says_so(
    cli, tmp_path, monkeypatch
):
    """café with its é as one character (NFC) or as e and an accent (NFD): one file on
    macOS's disks, two on this one. The first result was lost on macOS before."""
    import unicodedata

    from convcli import imageio

    nfc, nfd = (unicodedata.normalize(form, "café") for form in ("NFC", "NFD"))
    make_images(tmp_path / "a", 1)[0].rename(tmp_path / "a" / f"{nfc}.png")
    make_images(tmp_path / "b", 1)[0].rename(tmp_path / "b" / f"{nfd}.png")
    out = tmp_path / "out"
    both = ("apply", tmp_path / "a", tmp_path / "b", "-k", "box:3", "-O", out, "-q")
    assert cli(*both).exit_code == 0  # this disk keeps both names apart, as the probe says
    assert names(out) == sorted([f"{nfc}-box-3.png", f"{nfd}-box-3.png"])

    def macos(folder, first, second):
        return unicodedata.normalize("NFC", first) == unicodedata.normalize("NFC", second)

    monkeypatch.setattr(imageio, "one_file_by_both_names", macos)
    result = cli(*both, "--force")
    error_line(
        result,
        2,
        f"'{tmp_path}/a/{nfc}.png' and '{tmp_path}/b/{nfd}.png' would both write "
        f"'{out}/{nfd}-box-3.png' (as '{out}/{nfc}-box-3.png': this disk ignores how accents "
        "are encoded); put {parent} or {dir}",
    )
