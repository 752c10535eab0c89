"""The Typer application: parse, call one library function, render.

Commands live in :mod:`convcli.commands`, one module each, and import NumPy, SciPy
and Pillow only inside their bodies, so that ``convcli shape`` and ``--help`` start
fast. Every failure becomes one ``Error: ...`` line here, in :class:`ConvcliGroup`,
and nowhere else; ``CONVCLI_DEBUG=1`` lets the traceback through instead.
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from convcli import __version__
from convcli.errors import ConvcliError


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _describe(error: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code for an error we know how to report."""
    if isinstance(error, typer.TyperException):  # Click's usage errors: exit 2
        return error.format_message(), error.exit_code
    if isinstance(error, ConvcliError):
        return str(error), error.exit_code
    if isinstance(error, ValueError):  # the NumPy core's argument checks
        return str(error), 1
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}", 1
    if isinstance(error, MemoryError):
        return "out of memory (try a smaller image or --max-pixels)", 1
    return None


# Command name -> "module:function". Each module defines one command function and its
# EPILOG (worked examples). A command is imported and built only when it runs (or when
# --help lists them all): Typer builds every option of every registered command at
# start-up, and `convcli shape` should pay only for its own.
COMMANDS: dict[str, str] = {
    "shape": "convcli.commands.shape:shape",
    "apply": "convcli.commands.apply:apply",
    "compare": "convcli.commands.compare:compare",
    "kernels": "convcli.commands.kernels:kernels",
    "learn": "convcli.commands.learn:learn",
}


class ConvcliGroup(TyperGroup):
    """Typer's group, with lazily loaded commands and one place that turns exceptions
    into ``Error:`` lines.

    Click's standalone mode is switched off so that usage errors, library errors and
    I/O errors all pass through :meth:`main` and leave as a single line on stderr
    (exit 2 for usage, 1 for failed work, 130 for Ctrl-C) instead of a traceback or a
    multi-line usage box. CliRunner goes through here too, so tests see what users see.
    """

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in COMMANDS:
            module_name, function_name = COMMANDS[cmd_name].split(":")
            module = importlib.import_module(module_name)
            single = typer.Typer(rich_markup_mode=RICH_MARKUP_MODE, add_completion=False)
            single.command(cmd_name, epilog=module.EPILOG)(getattr(module, function_name))
            command = self.commands[cmd_name] = typer.main.get_command(single)
        return command

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        try:
            code = super().main(
                args=args,
                prog_name=prog_name,
                complete_var=complete_var,
                standalone_mode=False,
                **extra,
            )
        except typer.Abort:
            typer.echo("Error: aborted", err=True)
            code = 130
        except Exception as error:
            if isinstance(error, OSError) and error.errno == errno.EPIPE:
                code = 1  # reader went away (`| head`): nothing to say
            else:
                described = _describe(error)
                if described is None or os.environ.get("CONVCLI_DEBUG"):
                    raise
                message, code = described
                if message:  # Click's "no arguments, so help" error has already printed help
                    typer.echo(f"Error: {_one_line(message)}", err=True)
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


RICH_MARKUP_MODE = "rich"

app = typer.Typer(
    cls=ConvcliGroup,
    name="convcli",
    help=(
        "Convolution and pooling: layer shapes and costs exactly as PyTorch computes "
        "them, kernels and pooling on images and matrices."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=RICH_MARKUP_MODE,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"convcli {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Convolution and pooling: layer shapes and costs exactly as PyTorch computes them,
    kernels and pooling on images and matrices.
    """


def main() -> None:
    """Console-script entry point."""
    app()
