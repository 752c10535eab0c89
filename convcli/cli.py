"""The Typer application: parse, call one library function, render.

Commands live in :mod:`convcli.commands`, one module each, and import NumPy, SciPy
and Pillow only inside their bodies, so that ``convcli shape`` and ``--help`` start
fast. Every failure becomes one ``Error: ...`` line here, in :class:`ConvcliGroup`,
and nowhere else; ``CONVCLI_DEBUG=1`` lets the traceback through instead.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from convcli import __version__
from convcli.commands import apply as apply_command
from convcli.commands import compare as compare_command
from convcli.commands import kernels as kernels_command
from convcli.commands import learn as learn_command
from convcli.commands import shape as shape_command
from convcli.errors import ConvcliError


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def error_exit(message: str, code: int = 1) -> typer.Exit:
    """Print ``Error: message`` on stderr and return the :class:`typer.Exit` to raise."""
    typer.echo(f"Error: {_one_line(message)}", err=True)
    return typer.Exit(code)


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


class ConvcliGroup(TyperGroup):
    """Typer's group, with one place that turns exceptions into ``Error:`` lines.

    Click's standalone mode is switched off so that usage errors, library errors and
    I/O errors all pass through :meth:`main` and leave as a single line on stderr
    (exit 2 for usage, 1 for failed work, 130 for Ctrl-C) instead of a traceback or a
    multi-line usage box. CliRunner goes through here too, so tests see what users see.
    """

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


app = typer.Typer(
    cls=ConvcliGroup,
    name="convcli",
    help=(
        "Convolution and pooling: layer shapes and costs exactly as PyTorch computes "
        "them, kernels and pooling on images and matrices."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
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


# Command registration: one line per command module (each module defines one function).
app.command("shape", epilog=shape_command.EPILOG)(shape_command.shape)
app.command("kernels", epilog=kernels_command.EPILOG)(kernels_command.kernels)
app.command("learn", epilog=learn_command.EPILOG)(learn_command.learn)
app.command("apply", epilog=apply_command.EPILOG)(apply_command.apply)
app.command("compare", epilog=compare_command.EPILOG)(compare_command.compare)


def main() -> None:
    """Console-script entry point."""
    app()
