"""The Typer application: parse, call one library function, render.

Commands live in :mod:`convcli.commands`, one module each, and import NumPy, SciPy
and Pillow only inside their bodies, so that ``convcli shape`` and ``--help`` start
fast. Every failure becomes one ``Error: ...`` line here, in :class:`ConvcliGroup`,
and nowhere else; ``CONVCLI_DEBUG=1`` lets the traceback through instead.
"""

# No `from __future__ import annotations`: Typer reads the signatures of _root and
# _print_version on every run, and would compile and evaluate each string annotation there,
# twice for _root (issue 14).
import contextlib
import errno
import gc
import importlib
import inspect
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import typer
from typer.core import TyperGroup

from convcli import __version__, _signals
from convcli.commands import options
from convcli.commands._help import HelpfulCommand, show_help
from convcli.errors import ConvcliError, SpecError, visible

#: Longest error line: a message quoting a 100 kB argument is shortened in the middle.
_LONGEST_LINE = 1000


def _one_line(text: str) -> str:
    line = " ".join(part.strip() for part in str(text).splitlines() if part.strip())
    if len(line) > _LONGEST_LINE:
        line = f"{line[: _LONGEST_LINE - 60]} ... {line[-40:]} ({len(line):,} characters)"
    return line


def _describe(error: BaseException) -> tuple[str, int] | None:
    """The one-line message and exit code for an error we know how to report."""
    if isinstance(error, typer.TyperException):  # Click's usage errors: exit 2
        return error.format_message(), error.exit_code
    if isinstance(error, ConvcliError):  # one line by rule: a line break is in a name
        return visible(str(error)), error.exit_code
    if isinstance(error, ValueError):  # the NumPy core's argument checks
        return str(error), 1
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        return f"{where}{error.strerror or error}", 1
    if isinstance(error, MemoryError):
        return "out of memory (try a smaller image or --max-pixels)", 1
    if isinstance(error, RecursionError):
        return "an input is nested too deeply", 1
    return None


def _internal(error: BaseException) -> str:
    """The last resort: an exception no part of convcli turned into a message is a bug."""
    reason = " ".join(str(error).split())[:200] or "no message"
    return (
        f"internal error ({type(error).__name__}: {reason}); please report it "
        "(CONVCLI_DEBUG=1 shows the traceback)"
    )


@contextlib.contextmanager
def _recorded_warnings(caught: list[warnings.WarningMessage]) -> Iterator[None]:
    """Record the warnings a command raises (NumPy's overflow, a library's remark) instead
    of letting Python print them, each once per place; :func:`_warnings_note` tells them."""
    with warnings.catch_warnings(record=True) as log:
        warnings.simplefilter("default")
        # As Python's own default: a file a signal left for the garbage collector says
        # nothing about the result (a Ctrl-C mid-read once added one to the summary).
        warnings.simplefilter("ignore", ResourceWarning)
        try:
            yield
        finally:
            caught.extend(log)


def _warnings_note(caught: list[warnings.WarningMessage]) -> bool:
    """One ``note:`` line for all the warnings of a command that did its work (True if
    there was one)."""
    messages: list[str] = []
    for warning in caught:
        text = " ".join(str(warning.message).split())
        if text and text not in messages:
            messages.append(text)
    if messages:
        joined = "; ".join(messages)
        if len(joined) > 300:
            joined = joined[:280] + f"... ({len(messages)} warnings)"
        typer.echo(f"note: while working: {joined}", err=True)
    return bool(messages)


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
    "draw": "convcli.commands.draw:draw",
}


def _registered(cmd_name: str) -> typer.Typer:
    """The one-command Typer app of ``cmd_name``: its module imported, its command
    registered, nothing built yet."""
    module_name, function_name = COMMANDS[cmd_name].split(":")
    module = importlib.import_module(module_name)
    single = typer.Typer(rich_markup_mode=RICH_MARKUP_MODE, add_completion=False)
    command_class = getattr(module, "COMMAND_CLASS", HelpfulCommand)
    single.command(cmd_name, cls=command_class, epilog=module.EPILOG)(
        getattr(module, function_name)
    )
    return single


class ConvcliGroup(TyperGroup):
    """Typer's group, with lazily loaded commands and one place that turns exceptions
    into ``Error:`` lines.

    Click's standalone mode is switched off so that usage errors, library errors and
    I/O errors all pass through :meth:`main` and leave as a single line on stderr
    (exit 2 for usage, 1 for failed work, 130 for Ctrl-C) instead of a traceback or a
    multi-line usage box. CliRunner goes through here too, so tests see what users see.
    """

    def format_help(self, ctx: Any, formatter: Any) -> None:
        show_help(self, ctx, formatter, super().format_help)

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if command is None and cmd_name in COMMANDS:
            command = self.commands[cmd_name] = typer.main.get_command(_registered(cmd_name))
        return command

    def command_summary(self, ctx: Any, cmd_name: str) -> Any:
        """What the app's help lists of a command (name, help, short_help, hidden,
        deprecated, rich_help_panel), as the built command would have it, without building
        its options: ``convcli --help`` lists six commands and runs none (building them
        was most of its time). :mod:`convcli.render.help` asks for it."""
        if cmd_name in self.commands or cmd_name not in COMMANDS:
            return self.get_command(ctx, cmd_name)
        info = _registered(cmd_name).registered_commands[0]
        return SimpleNamespace(
            name=cmd_name,
            # as typer.main.get_command_from_info passes it to the command
            help=inspect.getdoc(info.callback)
            if info.help is None
            else inspect.cleandoc(info.help),
            short_help=info.short_help,
            hidden=info.hidden,
            deprecated=info.deprecated,
            rich_help_panel=info.rich_help_panel,
        )

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        """An unknown command is one usage line, with the closest name when there is one
        (Typer's own suggestion only sees the commands loaded so far, and these load lazily)."""
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-") and not ctx.resilient_parsing:
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
            hint = (
                f". Did you mean '{close[0]}'?" if close else f" (commands: {', '.join(COMMANDS)})"
            )
            raise SpecError(f"no command {name!r}{hint}")
        return super().resolve_command(ctx, args)

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run one command line: THE error boundary of convcli.

        Every failure becomes one ``Error: ...`` line on stderr and an exit code (2 usage,
        1 failed work, 130 interrupted); ``--strict`` makes a warning exit 1;
        ``CONVCLI_DEBUG=1`` lets the traceback through.

        Parameters
        ----------
        args : sequence of str, optional
            The command line after the program name; None reads ``sys.argv``.
        prog_name : str, optional
            The program name shown in usage lines.
        complete_var : str, optional
            The environment variable that triggers shell completion.
        standalone_mode : bool
            True exits the process with the code; False returns it (tests, embedding).
        **extra
            Passed on to Typer's ``main``.
        """
        # SIGINT and SIGTERM: the command's body may be cut (Interrupted unwinds it: its
        # finally blocks remove temporary files), the reporting below may not.
        with _signals.handled(), _signals.deferred():
            caught: list[warnings.WarningMessage] = []
            options.forget_strict()
            try:
                with _signals.interruptible(), _recorded_warnings(caught):
                    code = super().main(
                        args=args,
                        prog_name=prog_name,
                        complete_var=complete_var,
                        standalone_mode=False,
                        **extra,
                    )
                if _warnings_note(caught) and options.strict_requested():
                    typer.echo("Error: --strict: a warning while working (note above)", err=True)
                    code = 1
            except _signals.Interrupted as stop:
                _signals.remove_leftovers()
                typer.echo(f"Error: {stop}", err=True)
                code = stop.exit_code
            except typer.Abort:
                typer.echo("Error: aborted", err=True)
                code = 130
            except Exception as error:
                if isinstance(error, OSError) and error.errno == errno.EPIPE:
                    code = 1  # reader went away (`| head`): nothing to say
                else:
                    if os.environ.get("CONVCLI_DEBUG"):
                        raise
                    message, code = _describe(error) or (_internal(error), 1)
                    if message:  # Click's "no arguments, so help" error has printed help
                        typer.echo(f"Error: {_one_line(message)}", err=True)
            _signals.take()  # one arriving while the outcome was told: that outcome stands
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


RICH_MARKUP_MODE: Literal["rich"] = "rich"

app = typer.Typer(
    cls=ConvcliGroup,
    name="convcli",
    help=(
        "Convolution and pooling: layer shapes and costs exactly as PyTorch computes "
        "them, kernels and pooling on images and matrices."
    ),
    no_args_is_help=True,
    add_completion=True,
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
    """Console-script entry point (and ``python -m convcli``)."""
    _signals.for_process()  # a signal while convcli reports or exits is not a traceback
    # One name and one completion variable however it was started (`python -m convcli`
    # would otherwise be "python -m convcli" and _PYTHON _M CONVCLI_COMPLETE, which no
    # shell can set): the scripts --show-completion prints call `convcli`.
    try:
        app(prog_name="convcli", complete_var="_CONVCLI_COMPLETE")
    finally:
        # What the command leaves goes with the process, and everything it wrote is
        # closed: the interpreter's last collections need not walk it (after a Dask run,
        # distributed's ~75,000 objects: ~0.1 s of a 2-file batch's 1.1 s). Objects in
        # cycles made before this never have their __del__ run: close explicitly.
        gc.freeze()
