"""SIGINT, SIGTERM and SIGKILL against real convcli processes, and :mod:`convcli._signals`.

No sleeps stand in for timing: each test waits for a condition it can see (the handlers
installed, a number of CPU ticks spent, a number of outputs written), with a deadline,
then signals. The moments are drawn from seeded generators (the seed is in every failure
message), so a failure can be replayed. The checks are on the whole of stderr, the exit
code, the files left and the processes left (by pid, with their start time, so a reused
pid is not mistaken for a survivor).
"""

from __future__ import annotations

import ast
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from convcli import _signals
from convcli.kernels import parse_step
from convcli.process import process_one
from tests.conftest import wait_for

# Linux only, as the project is: the tests read /proc and workers die with their parent
# through prctl(PR_SET_PDEATHSIG).

DEADLINE = 60.0  # seconds: generous bound for any wait on a loaded machine; never reached
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

BATCH_LINE = re.compile(
    r"^(interrupted \(SIGINT\)|terminated \(SIGTERM\)): (\d+) done, 0 skipped, 0 failed, "
    r"(\d+) not run in [\d.]+ m?s \([\d.]+ files/s, (\d) process(es)?\); every output "
    r"written is complete, unfinished ones were removed$"
)
WORDS = {signal.SIGINT: "interrupted (SIGINT)", signal.SIGTERM: "terminated (SIGTERM)"}


# ------------------------------------------------------------------------- processes


def stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, CPU ticks used, start time) of a process, None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[19])


def alive(pid: int, started: int) -> bool:
    """The process ``pid`` that started at ``started`` exists and is not a zombie."""
    found = stat(pid)
    return found is not None and found[3] == started and found[0] not in "ZX"


def children(pid: int) -> dict[int, int]:
    """Live child processes of ``pid``: {pid: start time}."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = stat(int(entry))
            if info is not None and info[1] == pid and info[0] not in "ZX":
                found[int(entry)] = info[3]
    return found


def running_with(marker: str) -> list[int]:
    """Live processes whose command line holds ``marker`` (a batch's forked workers share
    their parent's command line, with its unique output folder)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                command = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            info = stat(int(entry))
            if marker in command and info is not None and info[0] not in "ZX":
                found.append(int(entry))
    return found


def caught(pid: int) -> int:
    """The mask of signals ``pid`` has handlers for (SigCgt)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("SigCgt:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _default_signals() -> None:
    # As from an interactive shell: even if this test run ignores SIGINT (a background
    # job), convcli starts with SIGINT and SIGTERM at their defaults.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start(*args: object, ignore_sigint: bool = False) -> subprocess.Popen:
    """``python -m convcli ARGS`` in a session of its own (its pid is its process group)."""

    def prepare() -> None:
        _default_signals()
        if ignore_sigint:
            signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [sys.executable, "-m", "convcli", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=prepare,
    )


def handlers_installed(process: subprocess.Popen) -> bool:
    return bool(caught(process.pid) & (1 << (signal.SIGTERM - 1)))


def finish(process: subprocess.Popen) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=DEADLINE)
    return process.returncode, out, err


def part_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*.part"))


# ------------------------------------------------------------------------- inputs


def smooth_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Gradients and sparse noise: compresses well (fast to write), still an image."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], -1).astype(np.uint8)
    image[::7, ::5] = rng.integers(0, 256, image[::7, ::5].shape, dtype=np.uint8)
    return image


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """A 1600x1600 RGB PNG (read, filtered in strips on threads, written by convcli's
    threaded PNG writer) and its Sobel result, made in-process."""
    folder = tmp_path_factory.mktemp("big")
    source = folder / "big.png"
    Image.fromarray(smooth_image(1600, 1600)).save(source, compress_level=1)
    reference = folder / "reference.png"
    process_one(source, reference, [parse_step("sobel")])
    return source, reference.read_bytes()


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    """80 inputs (hard links to one 300x400 PNG) and the one Sobel result they all give."""
    folder = tmp_path_factory.mktemp("many")
    first = folder / "in" / "img000.png"
    first.parent.mkdir()
    Image.fromarray(smooth_image(300, 400, seed=1)).save(first)
    for index in range(1, 80):
        os.link(first, folder / "in" / f"img{index:03d}.png")
    reference = folder / "reference.png"
    process_one(first, reference, [parse_step("sobel")])
    return folder / "in", reference.read_bytes()


def outputs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.png")) if folder.exists() else []


# ------------------------------------------------------------------------- one big image


@pytest.mark.parametrize(("signum", "seed"), [(signal.SIGINT, 1), (signal.SIGTERM, 2)])
def test_a_signal_at_a_random_moment_on_one_big_image(tmp_path, big, signum, seed):
    """The signal lands after convcli has spent a random number of CPU ticks past
    installing its handlers (in the imports, the reading, the strips on threads, or the
    PNG writer's blocks; CPU time, so the moment does not move with the machine's load):
    the whole of stderr is one line, the exit code 128 + signal, no temporary file, and
    the output absent or whole."""
    source, reference = big
    # All of it takes 60-75 ticks after the handlers are in (10 ms each): stay well below.
    ticks = random.Random(seed).randrange(0, 45)
    output = tmp_path / "out.png"
    process = start("apply", source, "-k", "sobel", "-o", output)
    wait_for(lambda: handlers_installed(process), "handlers", process)
    spent = stat(process.pid)[2]  # type: ignore[index]
    wait_for(lambda: (stat(process.pid) or ("", 0, 1 << 30))[2] >= spent + ticks, "ticks", process)
    process.send_signal(signum)
    code, out, err = finish(process)
    context = f"seed {seed}, {ticks} ticks: exit {code}, stderr {err!r}"
    assert (code, out, err) == (128 + signum, "", f"Error: {WORDS[signum]}\n"), context
    assert part_files(tmp_path) == [], context
    assert not output.exists() or output.read_bytes() == reference, context


# ------------------------------------------------------------------------- batches


@pytest.mark.parametrize(
    ("signum", "to_group", "jobs", "seed", "sigint_ignored"),
    [
        (signal.SIGINT, True, 2, 11, False),  # Ctrl-C: the whole foreground process group
        (signal.SIGTERM, False, 2, 12, True),  # kill PID, to a background job (see below)
        (signal.SIGINT, True, 1, 13, False),  # -j 1: the files run in the main process
        (signal.SIGTERM, True, 2, 0, False),  # kill -TERM -PGID, before the first output
    ],
)
def test_a_signal_at_a_random_moment_on_a_batch(
    tmp_path, many, signum, to_group, jobs, seed, sigint_ignored
):
    """After a random number of outputs (0: as soon as the handlers are in, while the
    batch is planned and its workers start): exit 128 + signal, the whole of stderr is the
    summary line (or, before the batch began, one Error line), every output left is whole
    and counted, no temporary file, and every worker is gone.

    Started with SIGINT ignored (a shell's background job), a Ctrl-C to the group does not
    stop the batch, as Python and coreutils behave: more outputs come after it."""
    folder, reference = many
    out = tmp_path / "out"
    wanted = random.Random(seed).randrange(1, 12) if seed else 0
    process = start(
        "apply", folder, "-k", "sobel", "-O", out, "-j", jobs, ignore_sigint=sigint_ignored
    )
    if wanted:
        wait_for(lambda: len(outputs(out)) >= wanted, f"{wanted} outputs", process)
    else:
        wait_for(lambda: handlers_installed(process), "handlers", process)
    if sigint_ignored:
        os.killpg(process.pid, signal.SIGINT)
        wanted = len(outputs(out)) + 3
        wait_for(lambda: len(outputs(out)) >= wanted, "outputs after SIGINT", process)
    workers = children(process.pid)
    if wanted:
        assert len(workers) == (jobs if jobs > 1 else 0), workers
    if to_group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    code, out_text, err = finish(process)
    context = f"seed {seed}, after {wanted} outputs: exit {code}, stderr {err!r}"
    assert (code, out_text) == (128 + signum, ""), context
    written = outputs(out)
    match = BATCH_LINE.match(err.rstrip("\n"))
    if match is None:  # stopped before the batch began: the command's one line
        assert not wanted and err == f"Error: {WORDS[signum]}\n", context
    else:
        assert err.count("\n") == 1 and match.group(1) == WORDS[signum], context
        assert int(match.group(2)) == len(written) and int(match.group(3)) == 80 - len(written)
        assert int(match.group(4)) == jobs, context
    assert wanted <= len(written) < 80, context
    for path in written:
        assert path.read_bytes() == reference, f"{path.name} is not whole; {context}"
    assert part_files(tmp_path) == [], context
    assert not [pid for pid, started in workers.items() if alive(pid, started)], context
    assert running_with(str(out)) == [], context


def test_sigkill_of_a_batch_takes_its_workers_with_it(tmp_path, many):
    """kill -9 of the parent: the workers get SIGTERM from the kernel (parent-death
    signal), abandon their files (removing their temporary files) and leave."""
    folder, reference = many
    out = tmp_path / "out"
    process = start("apply", folder, "-k", "sobel", "-O", out, "-j", "2")
    wait_for(lambda: len(outputs(out)) >= 2, "2 outputs", process)
    workers = children(process.pid)
    assert len(workers) == 2, workers
    process.kill()
    assert process.wait(timeout=DEADLINE) == -signal.SIGKILL
    wait_for(
        lambda: not [pid for pid, started in workers.items() if alive(pid, started)],
        "end of the orphaned workers",
    )
    assert running_with(str(out)) == []
    assert part_files(tmp_path) == []
    written = outputs(out)
    assert 2 <= len(written) < 80
    for path in written:
        assert path.read_bytes() == reference, path.name


# ------------------------------------------------------------------------- the module


@pytest.fixture
def fresh_handlers():
    """Run with Python's own SIGINT handler and SIGTERM at its default, put back after."""
    saved = {number: signal.getsignal(number) for number in _signals.SIGNALS}
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def test_the_first_signal_raises_once_and_the_handlers_come_back(fresh_handlers):
    with pytest.raises(_signals.Interrupted) as stopped, _signals.handled():
        assert signal.getsignal(signal.SIGTERM) is _signals._handler
        try:
            signal.raise_signal(signal.SIGTERM)
        finally:
            signal.raise_signal(signal.SIGINT)  # a second one, during the cleanup: ignored
            cleaned = True
    assert cleaned
    assert (stopped.value.signum, stopped.value.exit_code) == (signal.SIGTERM, 143)
    assert str(stopped.value) == "terminated (SIGTERM)"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_deferred_sections_hold_a_signal_until_they_end(fresh_handlers):
    steps = []
    with _signals.handled():
        with pytest.raises(_signals.Interrupted) as stopped, _signals.deferred():
            signal.raise_signal(signal.SIGINT)
            steps.append("after the signal")
            with _signals.deferred():
                steps.append("nested")
            steps.append("end of the outer section")
        assert steps == ["after the signal", "nested", "end of the outer section"]
        assert stopped.value.exit_code == 130
    with _signals.handled(), _signals.deferred():
        signal.raise_signal(signal.SIGINT)
        with pytest.raises(_signals.Interrupted), _signals.interruptible():
            steps.append("never")  # noted before it began: raised as it begins
        assert _signals.received() == signal.SIGINT
        assert _signals.take() == signal.SIGINT  # taken: the section's end raises nothing
    assert "never" not in steps


def swallowed(signum: int) -> None:
    """The signal's handler runs and what it raises is dropped, as C code that clears the
    error does (CPython's compile(), parsing a module without cached bytecode)."""
    with contextlib.suppress(BaseException):
        signal.raise_signal(signum)


def test_a_signal_whose_exception_vanished_is_raised_at_the_next_section(fresh_handlers):
    steps = []
    with _signals.handled(), _signals.deferred():
        with pytest.raises(_signals.Interrupted) as stopped, _signals.interruptible():
            swallowed(signal.SIGTERM)
            steps.append("went on")
            with _signals.deferred():  # e.g. an atomic write making its temporary file
                steps.append("section")
            steps.append("never")
        assert steps == ["went on", "section"] and stopped.value.exit_code == 143
        _signals.take()
    with _signals.handled(), _signals.deferred():
        with pytest.raises(_signals.Interrupted), _signals.interruptible():
            swallowed(signal.SIGINT)
            steps.append("to the end")  # no section: the stretch's end raises it
        assert _signals.take() == signal.SIGINT
    assert steps[-1] == "to the end"


def test_an_interruption_on_its_way_is_not_raised_again_by_a_cleanup(fresh_handlers):
    cleaned = []
    with _signals.handled(), _signals.deferred():
        with pytest.raises(_signals.Interrupted), _signals.interruptible():
            try:
                signal.raise_signal(signal.SIGTERM)
            finally:
                with _signals.deferred():  # the atomic write's own cleanup
                    cleaned.append("removed")
                try:
                    raise OSError("a cleanup that fails")
                except OSError:
                    with _signals.deferred():  # the Interrupted is its context
                        cleaned.append("reported")
                cleaned.append("after the cleanup")
        _signals.take()
    assert cleaned == ["removed", "reported", "after the cleanup"]


@pytest.mark.parametrize("where", ["file", "memory://"])
def test_an_output_is_not_published_after_a_signal_that_vanished(tmp_path, fresh_handlers, where):
    import fsspec

    from convcli.imageio import atomic_output

    target = tmp_path / "out.bin" if where == "file" else f"memory://{tmp_path.name}/out.bin"
    with _signals.handled(), _signals.deferred():
        stopped = pytest.raises(_signals.Interrupted)
        with stopped, _signals.interruptible(), atomic_output(target) as handle:
            handle.write(b"data")
            swallowed(signal.SIGTERM)  # e.g. in an encoder's first import
        _signals.take()
    assert list(tmp_path.iterdir()) == []
    assert not fsspec.filesystem("memory").exists(f"/{tmp_path.name}/out.bin")


COMPILE_SWALLOWS = """
import importlib.util, signal
from convcli import _signals
path = importlib.util.find_spec("convcli.kernels").origin
text = open(path, encoding="utf-8").read().replace("from __future__ import annotations", "")
source = text * 8  # real code: the parser drops what a handler raised while it reads
signal.signal(signal.SIGALRM, lambda *_: signal.raise_signal(signal.SIGTERM))
outcomes = []
for delay in range(2, 42, 4):  # milliseconds into compile()
    with _signals.handled(), _signals.deferred():
        try:
            with _signals.interruptible():
                signal.setitimer(signal.ITIMER_REAL, delay / 1000)
                compile(source, "big.py", "exec")
                signal.setitimer(signal.ITIMER_REAL, 0)
                seen = _signals.received()
            outcomes.append("lost" if seen else "no signal")
        except _signals.Interrupted as stop:
            outcomes.append(stop.exit_code)
        _signals.take()
print(outcomes)
"""


def test_a_signal_during_compile_still_stops_the_work():
    """The real case: CPython's compile(), run by every import of a module without cached
    bytecode (``PYTHONDONTWRITEBYTECODE``), drops what the handler raised while it parses
    (CPython 3.11 here: at all ten delays); the stretch still ends Interrupted."""
    run = subprocess.run(
        [sys.executable, "-c", COMPILE_SWALLOWS], capture_output=True, text=True, timeout=60
    )
    outcomes = ast.literal_eval(run.stdout.splitlines()[-1])
    assert 143 in outcomes and "lost" not in outcomes, outcomes


def test_an_ignored_signal_stays_ignored(fresh_handlers):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with _signals.handled():
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is _signals._handler
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_leftovers_are_removed_after_an_interruption_only(tmp_path, fresh_handlers):
    kept, left = tmp_path / "kept.part", tmp_path / "left.part"
    kept.write_bytes(b"")
    left.write_bytes(b"")
    with _signals.handled():
        _signals.remove_on_stop(str(kept))
    assert kept.exists()  # no signal: a file in use elsewhere is not touched
    _signals.forget(str(kept))
    with pytest.raises(_signals.Interrupted), _signals.handled():
        _signals.remove_on_stop(str(left))
        signal.raise_signal(signal.SIGINT)
    assert not left.exists()


def test_a_worker_killed_from_outside_fails_its_file_only(tmp_path, many):
    """The out-of-memory killer's SIGKILL to one worker in the middle of a file: that file
    fails (its temporary file removed), a new worker takes the dead one's place, and
    every other file is done."""
    folder, reference = many
    out = tmp_path / "out"
    process = start("apply", folder, "-k", "sobel", "-O", out, "-j", "2")
    wait_for(lambda: len(outputs(out)) >= 2, "2 outputs", process)
    workers = children(process.pid)
    victim = min(workers)

    def frozen_while_writing() -> bool:
        """Freeze the worker; keep it frozen if it is in the middle of writing a file (its
        temporary file, named with its pid, exists, and the output not yet: between the
        hard link that publishes it and the temporary's removal, the file is done, see
        the next test), else let it go on."""
        os.kill(victim, signal.SIGSTOP)
        wait_for(lambda: (stat(victim) or "T")[0] == "T", "the worker stopped")
        for temporary in out.glob(f".*.{victim}-*.part"):
            if not (out / temporary.name[1 : temporary.name.rindex(f".{victim}-")]).exists():
                return True
        os.kill(victim, signal.SIGCONT)
        return False

    wait_for(frozen_while_writing, "the worker caught writing", process)
    (temporary,) = out.glob(f".*.{victim}-*.part")
    victim_file = temporary.name[1 : temporary.name.rindex(f".{victim}-")]  # .NAME.PID-X.part
    os.kill(victim, signal.SIGKILL)
    code, out_text, err = finish(process)
    lines = err.splitlines()
    assert (code, out_text, len(lines)) == (1, "", 2), err
    failed = re.fullmatch(
        r"failed: (.*): worker process killed by SIGKILL \(out of memory\?\)", lines[0]
    )
    assert failed is not None, err
    assert re.match(r"79 done, 0 skipped, 1 failed in .*, 2 processes\)$", lines[1]), err
    assert Path(failed.group(1)).stem + "-sobel.png" == victim_file, (err, victim_file)
    assert not (out / victim_file).exists()
    assert part_files(tmp_path) == []
    assert len(outputs(out)) == 79 and all(p.read_bytes() == reference for p in outputs(out))
    assert not alive(victim, workers[victim])


def test_a_worker_killed_after_publishing_its_output_has_its_file_done(tmp_path, monkeypatch):
    """Killed between the hard link that publishes its output and the removal of its
    temporary file: the output is whole, so the file is done (with a note), not failed,
    and no temporary file is left."""
    from convcli import batch, imageio

    publish = imageio._publish

    def publish_then_die(temporary, target, force):
        publish(temporary, target, force)
        if Path(target).name == "in2-sobel.png":  # in a forked worker: the patch goes along
            os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(imageio, "_publish", publish_then_die)
    pixels = smooth_image(40, 50, seed=3)
    for index in range(4):
        Image.fromarray(pixels).save(tmp_path / f"in{index}.png")
    steps = [parse_step("sobel")]
    inputs = batch.find_inputs(sorted(str(path) for path in tmp_path.glob("in*.png")))
    items = batch.plan_batch(inputs, str(tmp_path / "out"), steps)
    report = batch.run_batch(items, steps, jobs=2)
    outcomes = {Path(item.output).name: (item.status, item.note) for item in report.items}
    assert outcomes["in2-sobel.png"] == ("done", "finished as its worker died")
    assert [status for status, _ in outcomes.values()] == ["done"] * 4
    reference = tmp_path / "reference.png"
    process_one(tmp_path / "in0.png", reference, steps)
    assert all(path.read_bytes() == reference.read_bytes() for path in outputs(tmp_path / "out"))
    assert part_files(tmp_path) == []
