"""``apply --steps``: the wiring that prints the arithmetic of a matrix input.

Kept apart from :mod:`convcli.commands.apply` so that the apply command only gains its two
options and one call. Refuse the options --steps does not take -> one library call
(:func:`convcli.process.steps_arithmetic`) -> render (:mod:`convcli.render.steps`).
"""

from __future__ import annotations

from typing import Any

from convcli.render import OutputFormat

#: Told after "N more output elements not shown".
ALL_STEPS_HINT = "; --all-steps shows every one"


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
    from convcli.process import steps_arithmetic
    from convcli.render.steps import DEFAULT_LIMIT, render_steps

    if out_dir is not None:
        raise SpecError("--steps prints the arithmetic of one matrix; -O/--out-dir is for files")
    if output is not None:
        raise SpecError(
            f"--steps prints the arithmetic on stdout; -o {output} writes the result: "
            "run them separately"
        )
    if explain:
        raise SpecError("--steps already shows each step; --explain is for apply's runs")
    layers = steps_arithmetic(source, steps, options)
    limit = None if all_steps else DEFAULT_LIMIT
    render_steps(layers, output_format, limit=limit, hint=ALL_STEPS_HINT)
