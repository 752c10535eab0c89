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
