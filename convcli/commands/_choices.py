"""Choice enums shared by commands that filter images (apply, draw, learn, kernels).

Apart from :mod:`convcli.commands` itself so that ``convcli shape``, which takes none of
them, does not define them: an ``Enum`` class costs ~0.2 ms to create (issue 14).
``from convcli.commands import Border`` still works (the package loads this module then).
"""

from enum import Enum


class Border(str, Enum):
    """``--border``: how padding is filled, by PyTorch / NumPy names (shared by commands)."""

    zeros = "zeros"
    reflect = "reflect"
    replicate = "replicate"
    circular = "circular"
    symmetric = "symmetric"


class PeerName(str, Enum):
    """``apply --like`` / ``kernels --as``: whose habits (see :mod:`convcli.peers`)."""

    opencv = "opencv"
    magick = "magick"
    vips = "vips"
    scipy = "scipy"
