"""``apply --steps``: the wiring that prints the arithmetic of a matrix input.

Kept apart from :mod:`convcli.commands.apply` so that the apply command only gains its two
options and one call. Parse (the input, already read by apply) -> one library call
(:func:`convcli.steps.chain_arithmetic`) -> render (:mod:`convcli.render.steps`).
"""

from __future__ import annotations

from typing import Any

from convcli.render import OutputFormat

#: Told after "N more output elements not shown".
ALL_STEPS_HINT = "; --all-steps shows every one"


def matrix_values(source: Any, channels_last: bool = False):  # -> np.ndarray (C, H, W)
    """The matrix ``--steps`` works on: ``--matrix`` values or a ``.npy``/``.csv``/``.txt``
    file, as ``(C, H, W)`` float32.

    Raises
    ------
    SpecError
        An image or stdin: the arithmetic is shown for matrices.
    """
    from convcli import imageio
    from convcli.batch import MatrixInput, matrix_to_chw
    from convcli.errors import SpecError

    if isinstance(source, MatrixInput):
        values, name = source.values, source.name
    else:
        name = str(source)
        if name == "-" or not imageio.is_matrix_path(name):
            raise SpecError(
                f"--steps shows the arithmetic of a matrix (--matrix, .npy, .csv, .txt); "
                f"'{name}' is not one"
            )
        values = imageio.load_matrix(name)
    return matrix_to_chw(values, name, channels_last)


def print_apply_steps(
    source: Any,
    steps: list,
    options: Any,  # ApplyOptions
    output_format: OutputFormat | None,
    *,
    output: str | None,
    out_dir: str | None,
    explain: bool,
    all_steps: bool,
) -> None:
    """Print each step's arithmetic on ``source`` (``apply --steps``).

    Parameters
    ----------
    source : Any
        The one input (an array or a file name).
    steps : list
        The parsed STEPs.
    options : ApplyOptions
        apply's options (padding, border, ...).
    output_format : OutputFormat or None
        How to print (see :func:`convcli.render.steps.render_steps`).
    output : str or None
        ``-o``: refused with ``--steps``.
    out_dir : str or None
        ``-O``: refused with ``--steps``.
    explain : bool
        ``--explain``: refused with ``--steps``.
    all_steps : bool
        Show every output element.

    Raises
    ------
    SpecError
        Options that write files or describe images, which ``--steps`` does not do.
    """
    from convcli.errors import SpecError
    from convcli.imageio import DEFAULT_MAX_PIXELS
    from convcli.limits import check_chain
    from convcli.render.steps import DEFAULT_LIMIT, render_steps
    from convcli.steps import chain_arithmetic

    if out_dir is not None:
        raise SpecError("--steps prints the arithmetic of one matrix; -O/--out-dir is for files")
    if output is not None:
        raise SpecError(
            f"--steps prints the arithmetic on stdout; -o {output} writes the result: "
            "run them separately"
        )
    if explain:
        raise SpecError("--steps already shows each step; --explain is for apply's runs")
    if options.gray or options.linear or options.map_mode not in ("auto", "raw"):
        raise SpecError("--gray, --linear and --map are for images; --steps works on matrices")
    x = matrix_values(source, options.channels_last)
    max_pixels = DEFAULT_MAX_PIXELS if options.max_pixels is None else options.max_pixels
    check_chain(tuple(x.shape), steps, options.steps, image=False, max_pixels=max_pixels)
    layers = chain_arithmetic(x, steps, options.steps)
    limit = None if all_steps else DEFAULT_LIMIT
    render_steps(layers, output_format, limit=limit, hint=ALL_STEPS_HINT)
