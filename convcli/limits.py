"""What ``apply``, ``kernels`` and ``learn`` accept, and the one place that reads what users type.

Every number a user gives is checked against the limits below before anything is
allocated or iterated: a kernel's size, a sigma, a stride, a dilation, a padding, a value.
For an input of known size, :func:`check_chain` also walks the ``-k`` chain on paper first
and refuses a step whose output or memory would be too large (``--max-pixels``).

Every user-facing parse (``-k`` STEP words, ``--matrix`` and inline matrices, option values,
text and ``.npy`` files) runs inside :func:`reading`: whatever goes wrong in it (a
``RecursionError`` on deep nesting, an ``OverflowError`` on a 400-digit number, a NumPy
warning, a bug) leaves as one :class:`~convcli.errors.SpecError` (exit 2) or
:class:`~convcli.errors.ConvcliError` (exit 1, for files) naming the input.

This module imports neither NumPy nor Pillow.
"""

from __future__ import annotations

import contextlib
import math
import os
import stat
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from convcli._records import dataclass
from convcli.errors import ConvcliError, SpecError, visible

if TYPE_CHECKING:
    from convcli.pipeline import Step, StepOptions

__all__ = [
    "MAX_DILATION",
    "MAX_EPOCHS",
    "MAX_KERNEL_SIDE",
    "MAX_KERNEL_VALUES",
    "MAX_LEARN_TAPS",
    "MAX_MEDIAN_WINDOW",
    "MAX_NESTING",
    "MAX_PADDING",
    "MAX_SPAN",
    "MAX_STRIDE",
    "MAX_TABLE_CELLS",
    "MAX_TEXT_BYTES",
    "MAX_VALUE",
    "MEMORY_PER_PIXEL",
    "MIN_SIGMA",
    "ChainEstimate",
    "check_chain",
    "check_finite",
    "check_kernel_shape",
    "check_nesting",
    "check_padding",
    "check_value",
    "npy_header",
    "open_regular",
    "refuse_special_output",
    "read_limited",
    "read_stream",
    "reading",
    "shorten",
]

# --------------------------------------------------------------------------------------------
# The limits (the README's table lists them, with the reasons)
# --------------------------------------------------------------------------------------------

#: Largest kernel or pooling window side (a Gaussian up to sigma 170, a LoG up to 127).
#: The core splits every kernel by SVD: ~3 s at this size on two cores.
MAX_KERNEL_SIDE = 1025
#: Most taps in one kernel (a 3-D or 4-D ``.npy`` conv layer: 512x512x3x3 is 2.4 million).
MAX_KERNEL_VALUES = 1 << 22
#: Largest median window side: a median costs about kh*kw per pixel (31: ~10-30 s a megapixel).
MAX_MEDIAN_WINDOW = 31
#: Largest stride (a window never needs to move further than its own size).
MAX_STRIDE = MAX_KERNEL_SIDE
#: Largest dilation.
MAX_DILATION = 1024
#: Largest span of a dilated kernel, ``d * (k - 1) + 1``: 'same' padding stays <= 1024.
MAX_SPAN = 2049
#: Largest padding on one side, typed (``-p``, ``p=``) or implied by 'same'.
MAX_PADDING = 1024
#: Smallest sigma of ``gaussian`` and ``log`` (smaller is the identity, or overflows).
MIN_SIGMA = 0.01
#: Largest magnitude of a kernel tap, matrix value or bias: convcli works in float32.
MAX_VALUE = 3.4028234663852886e38
#: Deepest ``[[...]]`` nesting (a 4-D kernel).
MAX_NESTING = 4
#: Largest text input read: kernel and matrix files, a text matrix on stdin, --bias files.
MAX_TEXT_BYTES = 16 << 20
#: Memory a step may need, per pixel of --max-pixels (5.7 GB at the default).
MEMORY_PER_PIXEL = 64
#: Largest kernel ``learn`` solves for, in taps (its normal equations grow with the square).
MAX_LEARN_TAPS = 1024
#: Most ``learn --epochs``, and most gradient-descent steps in all (epochs x pixels / batch).
MAX_EPOCHS = 100_000
MAX_DESCENT_STEPS = 10**8
#: Most cells ``convcli kernels`` draws as a table (larger matrices: --format plain/json/csv).
MAX_TABLE_CELLS = 4096

_SHORT = 120
_LONGEST_MESSAGE = 300


def shorten(text: object, limit: int = _SHORT) -> str:
    """``text`` for a message: one line, at most ``limit`` characters (``...`` and the length).

    >>> shorten("1" * 400, 30)
    '11111111111111... (400 chars)'
    """
    flat = visible(str(text))  # a line break, a NUL or a zero-width space, as its escape
    if len(flat) <= limit:
        return flat
    return f"{flat[: limit - 16]}... ({len(flat)} chars)"


# --------------------------------------------------------------------------------------------
# The one place where typed words and files are read
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def reading(what: str, *, error: type[ConvcliError] = SpecError) -> Iterator[None]:
    """Run the parse of one user input; any failure leaves as one line naming ``what``.

    Parameters
    ----------
    what : str
        The input, as messages name it: ``"kernel 'gaussian:1e308'"``, ``"--bias"``.
    error : SpecError or ConvcliError
        What an unexpected failure becomes: a usage error (exit 2) for words typed on the
        command line, a failed input (exit 1) for files (whose syntax errors are then
        failed input too, as a missing file is).

    Notes
    -----
    A :class:`~convcli.errors.ConvcliError` raised inside keeps its class and message.
    Warnings raised inside (NumPy's overflow, ...) are errors: a parse that warns has
    read something it cannot represent.

    Examples
    --------
    >>> with reading("--size"):
    ...     int("x")
    Traceback (most recent call last):
    convcli.errors.SpecError: --size: cannot be read (invalid literal for int() with base 10: 'x')
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            yield
    except ConvcliError as failure:
        message = str(failure)
        if len(message) > _LONGEST_MESSAGE and len(failure.args) == 1:
            failure.args = (shorten(message, _LONGEST_MESSAGE),)
        if isinstance(failure, SpecError) and not issubclass(error, SpecError):
            raise error(str(failure)) from None  # a file's content: failed input, not usage
        raise
    except RecursionError:
        raise error(f"{what}: nested too deeply") from None
    except OverflowError:
        raise error(f"{what}: a number is too large") from None
    except MemoryError:
        raise error(f"{what}: too large to hold in memory") from None
    except Exception as failure:  # the point of this function: nothing else escapes
        reason = shorten(str(failure).strip() or type(failure).__name__, 120)
        raise error(f"{what}: cannot be read ({reason})") from None


def check_nesting(text: str, where: str, deepest: int = MAX_NESTING) -> None:
    """Refuse ``[[[...]]]`` deeper than ``deepest`` before a recursive parser sees it.

    Parameters
    ----------
    text : str
        The typed value, before any parsing.
    where : str
        What the messages name (``"kernel '[[1]]'"``).
    deepest : int
        Most brackets (``[`` or ``(``) open at once.
    """
    depth = 0
    for character in text:
        if character in "[(":
            depth += 1
            if depth > deepest:
                raise SpecError(
                    f"{where}: nested deeper than {deepest} levels (a kernel has at most 4 "
                    "dimensions, a matrix 3)"
                )
        elif character in "])":
            depth -= 1


def check_value(value: float, where: str, what: str = "value") -> float:
    """A finite number within float32's range (what convcli computes in).

    Parameters
    ----------
    value : float
        The number read.
    where : str
        What the messages name (the option or the word).
    what : str
        What the number is, in the message (``"sigma"``).
    """
    if not math.isfinite(value):
        raise SpecError(f"{where}: {what} {value!r} is not a finite number")
    if abs(value) > MAX_VALUE:
        raise SpecError(
            f"{where}: {what} {value:g} is beyond float32's range (+-3.4e38), the precision "
            "convcli works in"
        )
    return value


def check_finite(values, where: str, error: type[ConvcliError] = SpecError) -> None:  # ndarray
    """Every value finite and within float32's range (NumPy arrays).

    Parameters
    ----------
    values : ndarray
        Any shape; an empty array passes.
    where : str
        What the messages name (the option or the file).
    error : SpecError or ConvcliError
        The class raised: a usage error for typed values, a failed input for files.
    """
    import numpy as np

    if values.size == 0:
        return
    if not np.all(np.isfinite(values)):
        raise error(f"{where}: has NaN or infinite values")
    largest = float(np.max(np.abs(values)))
    if largest > MAX_VALUE:
        raise error(
            f"{where}: a value ({largest:g}) is beyond float32's range (+-3.4e38), the "
            "precision convcli works in"
        )


def check_kernel_shape(
    shape: Sequence[int], where: str, error: type[ConvcliError] = SpecError
) -> None:
    """A kernel's sides at most :data:`MAX_KERNEL_SIDE`, its taps at most
    :data:`MAX_KERNEL_VALUES`; checked on the shape, before the array exists.

    Parameters
    ----------
    shape : sequence of int
        The kernel's shape, the last two axes its sides.
    where : str
        What the messages name (the option or the file).
    error : SpecError or ConvcliError
        The class raised: a usage error for typed kernels, a failed input for files.
    """
    dims = "x".join(str(side) for side in shape)
    if any(side > MAX_KERNEL_SIDE for side in shape[-2:]):
        raise error(
            f"{where}: a {shorten(dims)} kernel is larger than {MAX_KERNEL_SIDE}x"
            f"{MAX_KERNEL_SIDE}, the largest convcli builds"
        )
    taps = math.prod(shape)
    if taps > MAX_KERNEL_VALUES:
        raise error(
            f"{where}: a {shorten(dims)} kernel has {taps:,} values, more than the "
            f"{MAX_KERNEL_VALUES:,} convcli takes"
        )


def check_padding(padding: object, where: str) -> None:
    """Typed pads (an int or a tuple of them) non-negative and at most :data:`MAX_PADDING`:
    :func:`convcli.layers.check_pads`, the one rule and wording of a padding's range."""
    from convcli.layers import check_pads

    check_pads(padding, where, MAX_PADDING)


# --------------------------------------------------------------------------------------------
# Files: regular files only, text of bounded size
# --------------------------------------------------------------------------------------------


def _kind_of(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _a(what: str) -> str:
    return f"an {what}" if what[:1] in "aeiou" else f"a {what}"


#: Where a link names an open file descriptor (whatever it is: a pipe, a terminal, a file).
_DESCRIPTOR_PATHS = ("/proc/", "/dev/fd/", "/dev/stdin", "/dev/stdout", "/dev/stderr")


def refuse_special_output(target: Path, what: str = "output", to_stdout: str = "-o -") -> None:
    """Refuse to rename a finished file over a device, pipe or socket, or over a link to a
    file descriptor: it would replace it (``-o /dev/null --force`` once left a PNG named
    /dev/null). The output side of :func:`open_regular`.

    Parameters
    ----------
    target : Path
        Where the output goes.
    what : str
        How messages name it: ``"output"``, ``"--to-net"``.
    to_stdout : str
        The option that writes to stdout instead, for the message.
    """
    if target.exists() and not target.is_file() and not target.is_dir():
        raise ConvcliError(
            f"{what} '{target}' is not a regular file (a device, pipe or socket): convcli "
            f"writes a file whole and renames it into place; use {to_stdout} and redirect "
            "stdout"
        )
    link = target
    for _ in range(40):  # /dev/stdout -> /proc/self/fd/1 -> whatever stdout is
        if not link.is_symlink():
            break
        link = link.parent / os.readlink(link)
        if str(link).startswith(_DESCRIPTOR_PATHS):
            raise ConvcliError(
                f"{what} '{target}' is a link to a file descriptor or device ('{link}'): "
                f"renamed into place, the output would replace the link; use {to_stdout} "
                "and redirect stdout"
            )


def open_regular(path: str | os.PathLike[str], name: str, what: str = "file") -> tuple[int, int]:
    """Open ``path`` for reading if it is a regular file: (descriptor, size in bytes).

    Opened without blocking (a FIFO with no writer would block ``open`` for ever), then
    checked with ``fstat``: ``/dev/zero``, FIFOs, sockets and folders are refused.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    name : str
        How messages name it (the path as typed, or the option).
    what : str
        What it should be, in messages (``"file"``, ``"kernel file"``).

    Raises
    ------
    ConvcliError
        Missing, unreadable, or not a regular file.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ConvcliError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise ConvcliError(f"{name}: is a directory, not {_a(what)}") from None
    except PermissionError:
        raise ConvcliError(f"{name}: permission denied") from None
    except (OSError, ValueError) as failure:  # ENAMETOOLONG, ELOOP, embedded NUL...
        reason = getattr(failure, "strerror", None) or str(failure)
        raise ConvcliError(f"{name}: cannot open it ({reason})") from None
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            kind = _kind_of(info.st_mode)
            if kind == "a directory":
                raise ConvcliError(f"{name}: is a directory, not {_a(what)}")
            raise ConvcliError(f"{name}: is {kind}; convcli reads only regular files")
        if hasattr(os, "set_blocking"):
            os.set_blocking(descriptor, True)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor, info.st_size


def read_limited(
    path: str | os.PathLike[str], name: str, limit: int | None, what: str = "file"
) -> bytes:
    """All of a regular file, refused before reading when larger than ``limit`` bytes.

    Parameters
    ----------
    path : str or os.PathLike
        The file (see :func:`open_regular`).
    name : str
        How messages name it.
    limit : int or None
        Most bytes read; None for no limit.
    what : str
        What it should be, in messages.
    """
    descriptor, size = open_regular(path, name, what)
    with os.fdopen(descriptor, "rb") as handle:
        if limit is not None and size > limit:
            raise ConvcliError(
                f"{name}: {size:,} bytes, more than the {limit:,} convcli reads for {_a(what)}"
            )
        try:
            # One read of the size fstat gave (read(n) allocates n bytes first), then
            # whatever was appended meanwhile, in chunks, up to the limit.
            data = handle.read(size + 1)
            if len(data) > size:
                data += read_stream(
                    handle, name, None if limit is None else limit - len(data), what
                )
        except OSError as failure:
            raise ConvcliError(f"{name}: cannot read it ({failure.strerror or failure})") from None
    if limit is not None and len(data) > limit:  # the file grew while we read it
        raise ConvcliError(f"{name}: more than the {limit:,} bytes convcli reads for {_a(what)}")
    return data


_CHUNK = 1 << 20


def read_stream(stream, name: str, limit: int | None, what: str = "file") -> bytes:  # BinaryIO
    """All of a stream (stdin), in chunks, refused as soon as it passes ``limit`` bytes.

    (``stream.read(limit + 1)`` would allocate the whole limit first.)

    Parameters
    ----------
    stream : binary file object
        Read until its end (stdin's ``buffer``).
    name : str
        How messages name it (``"-"``, ``"stdin"``).
    limit : int or None
        Most bytes read; None for no limit.
    what : str
        What it should hold, in messages.
    """
    chunks: list[bytes] = []
    total = 0
    while True:
        try:
            chunk = stream.read(_CHUNK)
        except OSError as failure:
            raise ConvcliError(f"{name}: cannot read it ({failure.strerror or failure})") from None
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
        if limit is not None and total > limit:
            raise ConvcliError(
                f"{name}: more than the {limit:,} bytes convcli reads for {_a(what)}"
            )
    return b"".join(chunks)


# --------------------------------------------------------------------------------------------
# A chain of steps on paper: output sizes and memory before any work
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainEstimate:
    """What a chain of steps makes of an input, computed from the sizes alone.

    Attributes
    ----------
    shapes : list of (C, H, W)
        The input's shape, then each step's output shape.
    needs : list of int
        The memory each step needs: its input, padded input and outputs, in float32.
    """

    shapes: list[tuple[int, int, int]]
    needs: list[int]

    @property
    def peak_bytes(self) -> int:
        """The most memory one step needs."""
        return max(self.needs, default=0)


def _bytes_text(count: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def _pads(
    padding: object, size: tuple[int, int], kernel: Sequence[int], stride, dilation
) -> tuple[int, int, int, int]:
    # The paper walk resolves pads by the core's own rule, so it cannot drift from the run.
    from convcli.core.padding import resolve_padding

    return resolve_padding(padding, size, (kernel[0], kernel[1]), stride, dilation)  # type: ignore[arg-type]


def estimate_chain(
    shape: tuple[int, int, int],
    steps: Sequence[Step],
    options: StepOptions | None,
    *,
    image: bool,
) -> ChainEstimate:
    """Walk ``steps`` over an input of ``shape`` (C, H, W) on paper, as the pipeline will run
    them (defaults: images pad 'same' with reflect, matrices 0 with zeros).

    Stops at a step whose output would be empty; the pipeline reports that one itself.

    Parameters
    ----------
    shape : (C, H, W)
        The input's shape.
    steps : sequence of Step
        Parsed steps (:func:`convcli.kernels.parse_step`), in order.
    options : StepOptions or None
        The global ``--stride``/``--padding``/... (None: each step's own and the defaults).
    image : bool
        Whether the input is an image (its defaults: ``same`` padding, ``reflect`` border).
    """
    from convcli.kernels import KernelStep, PoolStep
    from convcli.pipeline import step_padding

    default = "same" if image else 0
    channels, height, width = (int(n) for n in shape)
    current = (channels, height, width)
    shapes = [current]
    needs: list[int] = []
    for step in steps:
        channels, height, width = current
        if isinstance(step, PoolStep):
            (kh, kw), (sh, sw) = step.kernel_size, step.stride
            padding = step_padding(step, options, default)
            top, bottom, left, right = _pads(padding, (height, width), (kh, kw), (sh, sw), (1, 1))
            out_height = _out(height + top + bottom, kh, sh, step.ceil_mode)
            out_width = _out(width + left + right, kw, sw, step.ceil_mode)
            out_channels, passes = channels, 1
        elif isinstance(step, KernelStep):
            stride = step.stride or getattr(options, "stride", None) or (1, 1)
            dilation = step.dilation or getattr(options, "dilation", None) or (1, 1)
            padding = step_padding(step, options, default)
            kh, kw = step.weight.shape[-2:]
            top, bottom, left, right = _pads(padding, (height, width), (kh, kw), stride, dilation)
            out_height = (height + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
            out_width = (width + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
            out_channels = step.weight.shape[0] if step.weight.ndim == 4 else channels
            if step.weight.ndim == 3:
                out_channels = 1
            passes = len(step.components())  # a magnitude 2, a compass set 8
        else:  # pragma: no cover - every step is one of the two
            raise TypeError(f"not a step: {step!r}")
        padded = channels * (height + top + bottom) * (width + left + right)
        outputs = passes * out_channels * max(out_height, 0) * max(out_width, 0)
        needs.append(4 * (channels * height * width + padded + outputs))
        if out_height < 1 or out_width < 1:
            break
        current = (out_channels, out_height, out_width)
        shapes.append(current)
    return ChainEstimate(shapes, needs)


def _out(padded: int, kernel: int, stride: int, ceil_mode: bool) -> int:
    if ceil_mode:
        return -(-(padded - kernel) // stride) + 1
    return (padded - kernel) // stride + 1


def check_chain(
    shape: tuple[int, int, int],
    steps: Sequence[Step],
    options: StepOptions | None,
    *,
    image: bool,
    max_pixels: int | None,
) -> ChainEstimate:
    """Refuse a chain whose steps would make outputs or need memory beyond ``--max-pixels``.

    Each step's output may have at most ``max_pixels`` pixels per channel, and a step may
    need at most ``MEMORY_PER_PIXEL * max_pixels`` bytes (its input, padded input and
    outputs, float32). ``max_pixels`` None or 0: no limit.

    Parameters
    ----------
    shape, steps, options, image
        As :func:`estimate_chain`.
    max_pixels : int or None
        ``--max-pixels``; None or 0 for no limit.

    Raises
    ------
    ConvcliError
        Naming the step, the size it would make and the memory it would need.

    Examples
    --------
    >>> from convcli.kernels import parse_step
    >>> check_chain((1, 2, 2), [parse_step("sobel-x:p=1000")], None, image=False,
    ...             max_pixels=1_000_000)
    Traceback (most recent call last):
    convcli.errors.ConvcliError: step 1 'sobel-x:p=1000' would make a 2000x2000 output from \
2x2 (4,000,000 pixels, more than --max-pixels 1,000,000; ~32.0 MB of memory)
    """
    estimate = estimate_chain(shape, steps, options, image=image)
    if not max_pixels:
        return estimate
    budget = MEMORY_PER_PIXEL * max_pixels
    for index, need in enumerate(estimate.needs, start=1):
        before = estimate.shapes[index - 1]
        text = shorten(getattr(steps[index - 1], "text", "?").strip(), 40)
        where = f"step {index} '{text}'"
        if index < len(estimate.shapes):
            _, height, width = estimate.shapes[index]
            if height * width > max_pixels:
                raise ConvcliError(
                    f"{where} would make a {height}x{width} output from {before[1]}x{before[2]} "
                    f"({height * width:,} pixels, more than --max-pixels {max_pixels:,}; "
                    f"~{_bytes_text(need)} of memory)"
                )
        if need > budget:
            raise ConvcliError(
                f"{where} would need ~{_bytes_text(need)} of memory on {before[1]}x{before[2]}, "
                f"more than {MEMORY_PER_PIXEL} bytes per pixel of --max-pixels {max_pixels:,} "
                f"({_bytes_text(budget)})"
            )
    return estimate


# --------------------------------------------------------------------------------------------
# .npy arrays, read from their header first
# --------------------------------------------------------------------------------------------

_NPY_MAGIC = b"\x93NUMPY"


def _npy_impostor(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04") or data.startswith(b"PK\x05\x06"):
        return "it is a zip archive: a .npz holds several arrays, numpy.save writes one"
    if data[:1] == b"\x80":
        return "it is a Python pickle"
    if not data:
        return "the file is empty"
    return "no .npy header"


#: Longest .npy header read (NumPy writes 128 bytes, and refuses more than 10,000).
_NPY_HEADER_BYTES = 1 << 16


def npy_header(data: bytes, name: str):  # -> (shape, dtype, data offset)
    """The shape, dtype and data offset of a ``.npy`` file from its first bytes.

    The version and header length are checked here before NumPy reads the header: a
    damaged length field would otherwise make it read (or allocate) gigabytes.
    """
    import io
    import struct

    import numpy as np

    if not data.startswith(_NPY_MAGIC):
        raise ConvcliError(f"{name}: not a readable .npy array ({_npy_impostor(data)})")
    version = (data[6], data[7]) if len(data) >= 8 else None
    if version == (1, 0) and len(data) >= 10:
        length, start = struct.unpack("<H", data[8:10])[0], 10
    elif version in ((2, 0), (3, 0)) and len(data) >= 12:
        length, start = struct.unpack("<I", data[8:12])[0], 12
    else:
        raise ConvcliError(f"{name}: not a readable .npy array (unknown version {version})")
    if length > _NPY_HEADER_BYTES or start + length > len(data):
        raise ConvcliError(f"{name}: not a readable .npy array (damaged header length {length:,})")
    stream = io.BytesIO(data[: start + length])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            np.lib.format.read_magic(stream)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(stream)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(stream)
    except Exception as failure:  # any damage to the header
        reason = shorten(str(failure) or type(failure).__name__, 100)
        raise ConvcliError(f"{name}: not a readable .npy array ({reason})") from None
    return shape, dtype, start + length


def parse_npy(data: bytes, name: str, *, max_values: int | None = None):  # -> np.ndarray
    """The real numbers of a ``.npy`` file's bytes, as float64, checked from the header first.

    Refuses (one :class:`~convcli.errors.ConvcliError` naming ``name``) a ``.npz`` or pickle
    named ``.npy``, object, string and complex dtypes, more than ``max_values`` values, a
    body shorter than its header promises, NaN, infinities and values beyond float32.
    Booleans read as 0/1.

    Parameters
    ----------
    data : bytes
        The whole file, header included.
    name : str
        How messages name the file.
    max_values : int, optional
        Most values accepted, checked on the header before the body is read.
    """
    import io

    import numpy as np

    shape, dtype, offset = npy_header(data, name)
    if (
        dtype.hasobject
        or np.issubdtype(dtype, np.complexfloating)
        or not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_))
    ):
        raise ConvcliError(f"{name}: expected real numbers, got dtype {dtype}")
    count = math.prod(shape)
    if max_values is not None and count > max_values:
        raise ConvcliError(
            f"{name}: shape {shape} holds {count:,} values, more than the "
            f"{max_values:,} convcli takes"
        )
    body = len(data) - offset
    if count * dtype.itemsize > body:
        raise ConvcliError(
            f"{name}: not a readable .npy array (truncated: shape {shape} needs "
            f"{count * dtype.itemsize:,} bytes of data, the file has {body:,})"
        )
    with reading(name, error=ConvcliError):
        values = np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        values = np.asarray(values, dtype=np.float64)
    check_finite(values, name, ConvcliError)
    return values
