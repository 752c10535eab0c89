"""A single slow input shows its progress (rows filtered) on stderr (issue 14)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from convcli.kernels import parse_step
from convcli.process import ApplyOptions, process_one
from convcli.render.apply import ImageProgress


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "in.png"
    values = np.random.default_rng(5).integers(0, 256, (64, 40, 3), dtype=np.uint8)
    Image.fromarray(values).save(path)
    return path


def told(photo, tmp_path, step: str, **options) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    process_one(
        photo, tmp_path / "out.png", [parse_step(step)], ApplyOptions(**options),
        progress=lambda done, rows: calls.append((done, rows)),
    )  # fmt: skip
    return calls


@pytest.mark.parametrize("threads", [1, 2])
def test_strips_tell_the_rows_done_in_order(photo, tmp_path, threads):
    calls = told(photo, tmp_path, "box:3", strip_rows=10, threads=threads)
    assert calls == [(0, 64), (10, 64), (20, 64), (30, 64), (40, 64), (50, 64), (60, 64),
                     (64, 64)]  # fmt: skip


def test_a_picture_filtered_whole_tells_the_start_and_the_end(photo, tmp_path):
    # A pool changes the size: no strips, so the only news is the end.
    assert told(photo, tmp_path, "maxpool:2") == [(0, 64), (64, 64)]


def test_a_matrix_tells_the_start_and_the_end(tmp_path):
    calls: list[tuple[int, int]] = []
    from convcli.process import MatrixInput

    values = np.arange(30, dtype=np.float32).reshape(5, 6)
    result = process_one(
        MatrixInput(values, "m"), None, [parse_step("box:3")], ApplyOptions(),
        progress=lambda done, rows: calls.append((done, rows)),
    )  # fmt: skip
    assert calls == [(0, 5), (5, 5)]
    assert result.values is not None


def drawn(progress_calls, slow_seconds: float, quiet: bool = False) -> str:
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=80, color_system=None)
    progress = ImageProgress(bar=True, quiet=quiet, slow_seconds=slow_seconds, console=console)
    for done, rows in progress_calls:
        progress(done, rows)
    progress.stop()
    return out.getvalue()


def test_the_bar_appears_when_the_strips_project_a_slow_run():
    text = drawn([(0, 2160), (540, 2160), (1080, 2160)], slow_seconds=0.0)
    assert "filtering" in text
    assert "1,080 of 2,160 rows" in text


def test_no_bar_when_the_run_is_quick_or_quiet():
    assert drawn([(0, 2160), (1080, 2160), (2160, 2160)], slow_seconds=1000.0) == ""
    assert drawn([(0, 2160), (1080, 2160)], slow_seconds=0.0, quiet=True) == ""


def test_no_bar_unless_stderr_is_a_terminal():
    # Under pytest stderr is captured, not a terminal: the default never draws.
    assert ImageProgress().bar is False


def test_one_sobel_imports_only_what_it_needs(tmp_path):
    # The single-file path of `apply`: no SciPy for a Sobel, no Rich for a quick file, and
    # no numpy.ma (np.unique imports it: ~10 ms of each run, once paid in the cost model).
    import subprocess
    import sys

    from tests.conftest import SAMPLES

    code = (
        "import sys; from typer.testing import CliRunner; from convcli.cli import app; "
        f"r = CliRunner().invoke(app, ['apply', {str(SAMPLES / 'chelsea.png')!r}, '-k', "
        f"'sobel-x', '-o', {str(tmp_path / 'out.png')!r}]); "
        "assert r.exit_code == 0, r.output; "
        "print(sorted(m for m in ('scipy', 'rich', 'numpy.ma') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert (tmp_path / "out.png").exists()
