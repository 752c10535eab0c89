from __future__ import annotations

import subprocess
import sys

from convcli import __version__
from convcli.core.separable import rank1_factors


def test_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"convcli {__version__}\n"


def test_unknown_command_is_one_error_line_exit_2(cli):
    result = cli("nosuchcommand")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert result.stderr.count("\n") == 1
    assert "nosuchcommand" in result.stderr


def test_python_dash_m_works():
    completed = subprocess.run(
        [sys.executable, "-m", "convcli", "--version"], capture_output=True, text=True
    )
    assert completed.returncode == 0
    assert completed.stdout.strip() == f"convcli {__version__}"


def test_import_convcli_is_lazy():
    code = "import sys, convcli; print('numpy' in sys.modules, 'PIL' in sys.modules)"
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.stdout.split() == ["False", "False"]


def test_rank1_factors_sobel_and_rank2():
    import numpy as np

    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)
    column, row = rank1_factors(sobel_x)
    np.testing.assert_allclose(np.outer(column, row), sobel_x, atol=1e-12)
    # Proportional to [1,2,1] and [-1,0,1]; sign fixed so the row's largest entry is positive.
    np.testing.assert_allclose(column / column[0], [1, 2, 1])
    np.testing.assert_allclose(row / row[2], [-1, 0, 1])
    assert rank1_factors([[0, -1, 0], [-1, 4, -1], [0, -1, 0]]) is None
    assert rank1_factors(np.zeros((3, 3))) is None


def test_rank1_factors_come_from_the_kernel_not_from_lapack(monkeypatch):
    """The factors' bits must not depend on the SVD's vectors, which differ in their last
    bits between BLAS builds (CI on another CPU printed other digits for gaussian:1)."""
    import numpy as np

    g = np.exp(-0.5 * np.arange(-3.0, 4.0) ** 2)
    gaussian = np.outer(g, g) / np.outer(g, g).sum()
    column, row = rank1_factors(gaussian)
    assert column.tolist() == column[::-1].tolist()  # a symmetric kernel, symmetric bits
    assert row.tolist() == row[::-1].tolist()
    np.testing.assert_allclose(np.outer(column, row), gaussian, rtol=1e-14, atol=0)
    # Only the singular values are asked of LAPACK for an exactly rank-1 kernel.
    real_svd = np.linalg.svd

    def values_only(matrix, compute_uv=True, **kwargs):
        assert compute_uv is False
        return real_svd(matrix, compute_uv=False, **kwargs)

    monkeypatch.setattr(np.linalg, "svd", values_only)
    assert [v.tolist() for v in rank1_factors(gaussian)] == [column.tolist(), row.tolist()]


def test_describing_a_kernel_takes_one_svd(monkeypatch):
    """The rank, the singular values and the factors come from one SVD (a 1025x1025 one
    takes seconds): rank1_factors is handed the singular values describe has."""
    import numpy as np

    from convcli.kernels import describe, parse_step

    calls = []
    real_svd = np.linalg.svd

    def counted(matrix, *args, **kwargs):
        calls.append(matrix.shape)
        return real_svd(matrix, *args, **kwargs)

    monkeypatch.setattr(np.linalg, "svd", counted)
    described = describe(parse_step("box:5"))
    assert described.rank == 1 and described.factors is not None
    assert calls == [(5, 5)]


def test_rank1_factors_of_a_nearly_rank1_kernel_stay_within_rtol():
    import numpy as np

    rng = np.random.default_rng(5)
    kernel = np.outer(rng.normal(size=5), rng.normal(size=5))
    kernel += 3e-7 * np.abs(kernel).max() * rng.normal(size=(5, 5))
    largest = np.linalg.svd(kernel, compute_uv=False)[0]
    column, row = rank1_factors(kernel, rtol=1e-6)
    assert np.abs(np.outer(column, row) - kernel).max() <= 1e-6 * largest


def test_compare_reports_the_svds_rounding_as_zero(cli):
    result = cli("compare", "3x64x64", "-c", "8", "--kernel-matrix", "sobel-x")
    assert "SVD rank 1 (singular values 3.464, 0, 0)" in result.stdout


def test_mistyped_command_suggests_the_closest_one(cli):
    result = cli("shap", "224")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == "Error: no command 'shap'. Did you mean 'shape'?\n"
    assert cli("aply").stderr == "Error: no command 'aply'. Did you mean 'apply'?\n"
    assert cli("kernel", "sobel").stderr == "Error: no command 'kernel'. Did you mean 'kernels'?\n"


def test_unknown_command_far_from_any_lists_the_commands(cli):
    result = cli("zzz")
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: no command 'zzz' (commands: shape, apply, compare, kernels, learn, draw)\n"
    )


def test_mistyped_command_in_a_real_process():
    completed = subprocess.run(
        [sys.executable, "-m", "convcli", "compar"], capture_output=True, text=True
    )
    assert completed.returncode == 2
    assert completed.stderr == "Error: no command 'compar'. Did you mean 'compare'?\n"
    assert completed.stdout == ""


def test_a_resource_warning_is_not_told_as_a_note_on_the_result(capsys):
    import warnings

    from convcli.cli import _recorded_warnings, _warnings_note

    caught: list[warnings.WarningMessage] = []
    with _recorded_warnings(caught):
        warnings.warn("unclosed file <_io.BufferedReader name=3>", ResourceWarning, stacklevel=1)
        warnings.warn("overflow encountered in add", RuntimeWarning, stacklevel=1)
    assert _warnings_note(caught)
    assert capsys.readouterr().err == "note: while working: overflow encountered in add\n"
