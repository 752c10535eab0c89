"""One module per CLI command. Each parses its options, calls one library function
and hands the result to :mod:`convcli.render`. Heavy imports stay inside function
bodies so that ``--help`` and ``convcli shape`` start fast.

The choice enums shared by the image commands (:class:`Border`, :class:`PeerName`) live in
:mod:`convcli.commands._choices` and load when first asked for here (PEP 562), so that
``convcli shape``, which imports this package, does not create them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convcli.commands._choices import Border as Border
    from convcli.commands._choices import PeerName as PeerName

_CHOICES = ("Border", "PeerName")


def __getattr__(name: str) -> Any:
    if name in _CHOICES:
        from convcli.commands import _choices

        return getattr(_choices, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
