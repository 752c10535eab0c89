"""One module per CLI command. Each parses its options, calls one library function
and hands the result to :mod:`convcli.render`. Heavy imports stay inside function
bodies so that ``--help`` and ``convcli shape`` start fast."""

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
