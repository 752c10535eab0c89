"""``convcli kernels``: list the named kernels, or show what one STEP parses to."""

# Annotations written, not strings: Typer reads them on every run (see commands/shape.py).
from typing import Annotated

import typer

from convcli.commands import PeerName
from convcli.commands._help import MatrixArgumentsCommand
from convcli.commands.options import OUTPUT, complete_step, shared_option
from convcli.render import OutputFormat

COMMAND_CLASS = MatrixArgumentsCommand  # "-1 0 1; ..." is a STEP, not an unknown option

EPILOG = """\
[bold]Examples[/]

  convcli kernels                          [dim]# the catalogue[/]

  convcli kernels sobel-x                  [dim]# matrix, sum, [1,2,1]^T x [-1,0,1][/]

  convcli kernels gaussian:1.5,size=7 --format json

  convcli kernels "3x3: -1,0,1 -2,0,2 -1,0,1"   [dim]# check an inline kernel[/]

  convcli kernels "-1 0 1; -2 0 2; -1 0 1"      [dim]# a leading minus is a matrix[/]

  convcli kernels @samples/kernels/sobel_x.txt --convolve

  convcli kernels gaussian:2 --as opencv           [dim]# cv2.GaussianBlur(...)[/]

  convcli kernels box:3 --as vips                  [dim]# a .mat file and vips conv[/]
"""


def kernels(
    step: Annotated[
        str | None,
        typer.Argument(
            metavar="[STEP]",
            autocompletion=complete_step,
            help=(
                "A named kernel or pool with arguments (gaussian:1.5,size=7), an inline matrix "
                '("1 0 -1; 2 0 -2; 1 0 -1", "[[1,-1]]", "3x3: ..."; channels split by |, '
                "output filters by ||) "
                "or a file (@kernel.txt, kernel.npy, kernel.csv). Omit it to list the catalogue."
            ),
            show_default=False,
        ),
    ] = None,
    convolve: Annotated[
        bool,
        typer.Option(
            "--convolve",
            help="Show the kernel flipped, as `apply --convolve` uses it (true convolution).",
            rich_help_panel="Kernel",
        ),
    ] = False,
    normalize: Annotated[
        bool,
        typer.Option(
            "--normalize",
            help="Show the kernel divided by its sum, as `apply --normalize` uses it.",
            rich_help_panel="Kernel",
        ),
    ] = False,
    as_peer: Annotated[
        PeerName | None,
        typer.Option(
            "--as",
            help=(
                "opencv, magick, vips or scipy: print the tool's own command or call that "
                "gives what "
                "`apply -k STEP --like TOOL` gives (Python for opencv and scipy, shell for "
                "magick and vips)."
            ),
            rich_help_panel="Kernel",
            show_default=False,
        ),
    ] = None,
    output_format: Annotated[
        OutputFormat,
        shared_option(
            "format",
            help=(
                "table (Rich), plain (the matrix as text, facts as # comments: a kernel file), "
                "json, or csv (the catalogue, or one 2-D matrix)."
            ),
            panel=OUTPUT,
        ),
    ] = OutputFormat.table,
) -> None:
    """List the named kernels, or show one STEP: matrix, sum, separable factors.

    Kernels are held in cross-correlation orientation, as PyTorch and OpenCV apply them:
    sobel-x is positive where brightness rises to the right (y points down).
    """
    from convcli import kernels as kernel_library
    from convcli.errors import SpecError
    from convcli.render import kernels as render
    from convcli.render import note

    if step is None:
        if as_peer is not None:
            raise SpecError("--as needs a STEP")
        if convolve or normalize:
            raise SpecError("--convolve and --normalize need a STEP")
        render.render_catalogue(kernel_library.catalogue(), output_format)
        return
    parsed = kernel_library.parse_step(step)
    if isinstance(parsed, kernel_library.KernelStep):
        if convolve:
            parsed = parsed.flipped()
        if normalize:
            parsed = parsed.normalized()
    elif convolve or normalize:
        raise SpecError(f"--convolve and --normalize apply to kernels; {step!r} is a pool")
    from convcli.pipeline import StepOptions, told_before_work

    told = told_before_work([parsed], StepOptions())
    for line in told:
        note(line)
    if as_peer is not None:
        from convcli.peers import PEERS, peer_call

        lines = peer_call(parsed, PEERS[as_peer.value])
        render.render_peer_call(step, as_peer.value, lines, output_format)
        return
    render.render_step(kernel_library.describe(parsed), output_format)
