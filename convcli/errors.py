"""Errors raised by convcli's library code.

The CLI turns every one of them into a single ``Error: ...`` line in one place
(:mod:`convcli.cli`). They subclass :class:`ValueError` so that library users can
catch them the way they catch NumPy's and PyTorch's argument errors.
"""

from __future__ import annotations


class ConvcliError(ValueError):
    """The work cannot be done: impossible geometry, a bad file, a failed check.

    The CLI exits with :attr:`exit_code` (1).
    """

    exit_code = 1


class SpecError(ConvcliError):
    """The user's words cannot be parsed: a malformed size, layer word or kernel.

    The CLI exits with 2, like any other usage error.
    """

    exit_code = 2


class OutputExistsError(ConvcliError):
    """The output file exists and ``force`` was not given (checked before the work and
    again at the moment of the rename).

    A batch counts such a file as skipped, as it does an output that existed when it
    was planned: another run (or another program) wrote it meanwhile.
    """


def visible(text: str) -> str:
    """``text`` as a message shows it: each invisible character (a control code such as a
    newline or ESC, a NUL, a zero-width space, an undecodable byte of a file name) written
    as its Python escape, so that a name or word stays on its line, cannot move the cursor
    or colour the terminal, and shows what it holds. Printable text, accents included, is
    unchanged.

    >>> print(visible("in/bad\\nname.png"), visible("caf\\u00e9\\u200b"), visible("\\x1b[31m"))
    in/bad\\nname.png café\\u200b \\x1b[31m
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)
