"""Shell completion (bash, zsh, fish) through Typer's own protocol, as the shells drive it:
the scripts ``--show-completion`` prints, and the candidates for a partly typed line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

CONVCLI = [sys.executable, "-m", "convcli"]


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CONVCLI, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def complete(line: str, shell: str = "bash") -> list[str]:
    """The candidates ``shell`` gets for the last word of ``line`` (the cursor at its end)."""
    words = line.split(" ")
    if shell == "bash":
        env = {"COMP_WORDS": line, "COMP_CWORD": str(len(words) - 1)}
    else:
        env = {"_TYPER_COMPLETE_ARGS": line}
        if shell == "fish":
            env["_TYPER_COMPLETE_FISH_ACTION"] = "get-args"
    done = _run({"_CONVCLI_COMPLETE": f"complete_{shell}", **env})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    if shell == "zsh":  # _arguments '*: :(("value":"help"\n"value":"help"...))'
        return re.findall(r'(?:\(\(|^)"([^"]*)"', done.stdout, re.MULTILINE)
    return [line.split("\t")[0] for line in done.stdout.splitlines() if line]


@pytest.mark.parametrize(
    ("shell", "expected"),
    [
        ("bash", "complete -o default -F _convcli_completion convcli"),
        ("zsh", "compdef _convcli_completion convcli"),
        ("fish", "complete --command convcli --no-files --arguments"),
    ],
)
def test_completion_script_for_each_shell(shell, expected):
    # What `--show-completion SHELL` prints (the shell named; detection is off in tests).
    shown = _run({"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}, "--show-completion", shell)
    assert shown.returncode == 0, shown.stderr
    assert expected in shown.stdout
    assert f"_CONVCLI_COMPLETE=complete_{shell}" in shown.stdout
    # The same script through Typer's environment protocol.
    sourced = _run({"_CONVCLI_COMPLETE": f"source_{shell}"})
    assert sourced.returncode == 0
    assert sourced.stdout.strip() == shown.stdout.strip()


def test_root_help_offers_install_and_show_completion(cli):
    result = cli("--help")
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_kernel_names_complete(shell):
    assert complete("convcli apply x.png -k gau", shell) == ["gaussian"]
    # Descriptions stay on one line (Typer wraps long help, which fish would read as a value).
    assert complete("convcli apply x.png -k sobel", shell) == ["sobel", "sobel-x", "sobel-y"]


def test_pools_complete_and_arguments_are_left_alone():
    assert complete("convcli apply x.png -k maxp") == ["maxpool"]
    assert complete("convcli apply x.png --kernel med") == ["median"]
    assert complete("convcli apply x.png -k gaussian:") == []
    assert complete("convcli kernels lap") == ["laplacian", "laplacian8"]
    assert complete("convcli compare 3x8x8 --kernel-matrix prewitt-") == ["prewitt-x", "prewitt-y"]


def test_presets_complete():
    assert complete("convcli shape --preset res") == ["resnet18", "resnet50"]
    assert complete("convcli compare --preset mobilenet_v", "zsh") == [
        "mobilenet_v1",
        "mobilenet_v2",
    ]


def test_layer_words_complete():
    assert complete("convcli shape 3x224x224 conv:64 max") == ["maxpool", "maxpool1d", "maxpool3d"]
    assert complete("convcli shape 224 conv:64 rep") == ["repeat"]
    assert complete("convcli shape 224 conv:") == []


def test_enum_options_complete_with_every_value():
    every_map = ["auto", "clip", "abs", "offset", "minmax", "raw"]
    assert complete("convcli apply x.png --map ") == every_map
    assert complete("convcli apply x.png --border re") == ["reflect", "replicate"]
    assert complete("convcli shape 224 --format ", "fish") == ["table", "json", "csv", "plain"]
    assert complete("convcli shape 224 --op d") == ["dwconv", "deconv"]


def test_commands_complete():
    assert complete("convcli sh") == ["shape"]
    assert complete("convcli ", "fish")[:3] == ["shape", "apply", "compare"]


def test_bash_script_completes_in_bash():
    """The printed script, sourced in a real bash, fills COMPREPLY as bash would (bash is
    part of every Linux CI image; zsh and fish are not, so they are driven through the
    protocol above)."""
    assert shutil.which("bash"), "this test needs bash"
    script = _run({"_CONVCLI_COMPLETE": "source_bash"}).stdout
    launcher = f"{sys.executable} -m convcli"
    script = script.replace("$1 ) )", f"{launcher} ) )")  # `convcli` need not be on PATH
    program = (
        f"{script}\nCOMP_WORDS=(convcli apply x.png -k gau); COMP_CWORD=4\n"
        '_convcli_completion convcli; printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["gaussian"]


def test_completion_costs_shape_nothing():
    """Completion is wired in without loading any command or heavy module on `shape`."""
    code = (
        "import sys\n"
        "sys.argv = ['convcli', 'shape', '3x224x224', 'conv:64,k=3']\n"
        "from convcli.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('numpy', 'scipy', 'PIL', 'convcli.kernels', 'convcli.presets')\n"
        "         if m in sys.modules]\n"
        "sys.stderr.write('HEAVY:' + ','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stderr.rsplit("HEAVY:", 1)[-1] == ""


@pytest.mark.parametrize(
    ("shell", "script", "loader", "line"),
    [
        ("bash", ".bash_completions/convcli.sh", ".bashrc", "source '{script}'"),
        ("zsh", ".zfunc/_convcli", ".zshrc", "fpath+=~/.zfunc"),
        ("fish", ".config/fish/completions/convcli.fish", None, None),  # fish finds it there
    ],
)
def test_install_completion_writes_where_the_shell_loads_it(tmp_path, shell, script, loader, line):
    env = {"HOME": str(tmp_path), "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = _run(env, "--install-completion", shell)
    assert done.returncode == 0, done.stderr
    assert f"completion installed in {tmp_path / script}" in done.stdout
    assert f"_CONVCLI_COMPLETE=complete_{shell}" in (tmp_path / script).read_text()
    if loader is not None:
        assert line.format(script=tmp_path / script) in (tmp_path / loader).read_text()
