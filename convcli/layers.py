"""The words of ``convcli shape``: sizes, LAYER words and net files, parsed into geometry.

Pure Python (no NumPy). Every malformed word raises :class:`convcli.errors.SpecError`
(exit 2) with one line naming the word, the parameter and the value.

Public API
----------
- ``parse_size(text, channels_last=False) -> Shape``: ``224``, ``224x160``, ``3x224x224``,
  ``8x3x224x224``; channels-last reads ``224x224x3`` and ``8x224x224x3``.
- ``parse_pair(text, name) -> tuple[int, int]``: ``3`` or ``3x5`` (``(h, w)``).
- ``parse_padding(text) -> PaddingSpec``: ``1``, ``1x2``, ``1,2,3,4`` (top, bottom, left,
  right), ``valid``, ``same``.
- ``parse_bool(text, name) -> bool``: ``true/false``, ``yes/no``, ``1/0``.
- ``parse_layer(word, position=1, source="") -> Layer``: ``TYPE[:ARG,...]``.
- ``parse_net(text, origin="") -> NetFile``; ``read_net(path) -> NetFile``: one or more
  words per line, ``#`` comments, and an optional ``input SIZE`` line.
- ``split_layer_arguments(body) -> list[str]``: ``64,k=3,p=1,2,3,4`` split on commas,
  the four numbers of a padding kept together (the STEP syntax shares it).
- ``KEYS``: the keys each layer type accepts.

>>> parse_layer("conv:64,k=7,s=2,p=3")
Layer(kind='conv', out_channels=64, kernel=(7, 7), stride=(2, 2), padding=(3, 3, 3, 3), \
dilation=(1, 1), groups=1, bias=True, ceil_mode=False, output_padding=(0, 0), \
depth_multiplier=1, word='conv:64,k=7,s=2,p=3', source='')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from convcli.errors import ConvcliError, SpecError
from convcli.geometry import KINDS, Layer, PaddingSpec, Pair, Shape

_SIZE = re.compile(r"^\d+(?:[x×*]\d+)*$")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}

#: Keys each layer type accepts (the first bare argument is out channels / units).
KEYS: dict[str, tuple[str, ...]] = {
    "conv": ("k", "s", "p", "d", "g", "bias"),
    "dwconv": ("k", "s", "p", "d", "dm", "bias"),
    "pwconv": ("s", "g", "bias"),
    "sepconv": ("k", "s", "p", "d", "dm", "bias"),
    "deconv": ("k", "s", "p", "d", "g", "op", "bias"),
    "maxpool": ("k", "s", "p", "d", "ceil"),
    "avgpool": ("k", "s", "p", "ceil"),
    "gap": (),
    "flatten": (),
    "fc": ("bias",),
}
#: Types whose first bare argument is meaningful.
_TAKES_COUNT = {"conv", "dwconv", "pwconv", "sepconv", "deconv", "fc"}
#: Other spellings users type for the same types.
ALIASES: dict[str, str] = {
    "conv2d": "conv",
    "depthwise": "dwconv",
    "pointwise": "pwconv",
    "separable": "sepconv",
    "convtranspose": "deconv",
    "tconv": "deconv",
    "pool": "maxpool",
    "avg": "avgpool",
    "linear": "fc",
    "dense": "fc",
}


def _integer(text: str, name: str, where: str) -> int:
    """A signed integer; the range (>= 1) is checked where the layer meets its input."""
    text = text.strip()
    if not re.fullmatch(r"[+-]?\d+", text):
        raise SpecError(f"{where}{name} must be an integer, got {text!r}")
    return int(text)


def parse_size(text: str, channels_last: bool = False) -> Shape:
    """An INPUT size: ``H``, ``HxW``, ``CxHxW``, ``NxCxHxW`` (``HxWxC``, ``NxHxWxC`` with
    ``channels_last``).

    Parameters
    ----------
    text : str
        Integers joined by ``x``; every one must be >= 1.
    channels_last : bool
        Read three or four numbers in TensorFlow's order (channels last).

    Returns
    -------
    Shape

    >>> parse_size("3x224x224"), parse_size("224x224x3", channels_last=True)
    (Shape(channels=3, height=224, width=224, batch=None), \
Shape(channels=3, height=224, width=224, batch=None))
    """
    cleaned = text.strip().lower().replace(" ", "")
    if not _SIZE.match(cleaned):
        raise SpecError(
            f"malformed size {text!r}: expected H, HxW, CxHxW or NxCxHxW (e.g. 3x224x224)"
        )
    dims = [int(part) for part in re.split(r"[x×*]", cleaned)]
    if len(dims) > 4:
        raise SpecError(f"malformed size {text!r}: at most 4 numbers (NxCxHxW), got {len(dims)}")
    for dim in dims:
        if dim < 1:
            raise SpecError(f"malformed size {text!r}: every dimension must be >= 1, got {dim}")
    if len(dims) == 1:
        return Shape(None, dims[0], dims[0])
    if len(dims) == 2:
        return Shape(None, dims[0], dims[1])
    batch = dims[0] if len(dims) == 4 else None
    if channels_last:
        height, width, channels = dims[-3:]
    else:
        channels, height, width = dims[-3:]
    return Shape(channels, height, width, batch)


def parse_pair(text: str, name: str, where: str = "") -> Pair:
    """``3`` -> ``(3, 3)``; ``3x5`` -> ``(3, 5)`` (height, width).

    ``where`` prefixes the error message (``layer 2 'conv:k=x': ``).

    >>> parse_pair("5x3", "kernel")
    (5, 3)
    """
    parts = re.split(r"[x×*]", text.strip().lower())
    if len(parts) not in (1, 2) or not all(re.fullmatch(r"[+-]?\d+", p.strip()) for p in parts):
        raise SpecError(f"{where}{name} must be N or HxW, got {text!r}")
    values = [int(p) for p in parts]
    return (values[0], values[-1])


def parse_padding(text: str, where: str = "") -> PaddingSpec:
    """Padding: ``1``, ``1x2`` (H x W), ``1,2,3,4`` (top, bottom, left, right), ``valid``,
    ``same``.

    >>> parse_padding("1x2"), parse_padding("0,1,0,1"), parse_padding("SAME")
    ((1, 1, 2, 2), (0, 1, 0, 1), 'same')
    """
    cleaned = text.strip().lower()
    if cleaned in ("same", "valid"):
        return cleaned  # type: ignore[return-value]
    if "," in cleaned:
        parts = [p.strip() for p in cleaned.split(",")]
        if len(parts) != 4 or not all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            raise SpecError(
                f"{where}padding must be N, HxW, top,bottom,left,right, valid or same, got {text!r}"
            )
        top, bottom, left, right = (int(p) for p in parts)
        return (top, bottom, left, right)
    try:
        height, width = parse_pair(cleaned, "padding")
    except SpecError:
        raise SpecError(
            f"{where}padding must be N, HxW, top,bottom,left,right, valid or same, got {text!r}"
        ) from None
    return (height, height, width, width)


def parse_bool(text: str, name: str, where: str = "") -> bool:
    """``true/false``, ``yes/no``, ``1/0`` (any case).

    >>> parse_bool("No", "bias")
    False
    """
    cleaned = text.strip().lower()
    if cleaned in _TRUE:
        return True
    if cleaned in _FALSE:
        return False
    raise SpecError(f"{where}{name} must be true/false, yes/no or 1/0, got {text!r}")


def split_layer_arguments(body: str) -> list[str]:
    """Split ``64,k=3,p=1,2,3,4`` on commas, re-joining the four numbers of a padding.

    Shared with the STEP syntax of :mod:`convcli.kernels` (``sobel-x:p=0,1,0,1``).

    >>> split_layer_arguments("64,k=3,p=1,2,3,4")
    ['64', 'k=3', 'p=1,2,3,4']
    """
    tokens = [t.strip() for t in body.split(",")]
    args: list[str] = []
    for token in tokens:
        padding_so_far = bool(args) and args[-1].startswith(("p=", "padding="))
        if padding_so_far and "=" not in token and args[-1].count(",") < 3:
            args[-1] += "," + token
            continue
        args.append(token)
    return args


#: Keys whose value is ``N`` or ``HxW``, and the :class:`Layer` field each sets.
_PAIR_FIELDS = {"k": "kernel", "s": "stride", "d": "dilation", "op": "output_padding"}

_KEY_NAMES = {
    "kernel": "k",
    "stride": "s",
    "padding": "p",
    "dilation": "d",
    "groups": "g",
    "output_padding": "op",
    "depth_multiplier": "dm",
    "ceil_mode": "ceil",
}


def parse_layer(word: str, position: int = 1, source: str = "") -> Layer:
    """A LAYER word ``TYPE[:ARG,...]``: the first bare ARG is out channels (units for
    ``fc``), the rest ``key=value``.

    Keys: ``k`` kernel, ``s`` stride, ``p`` padding, ``d`` dilation, ``g`` groups,
    ``bias``, ``ceil``, ``op`` (output_padding), ``dm`` (depth multiplier); see
    :data:`KEYS` for which type takes which. ``position`` and ``source`` only label the
    error messages.

    >>> parse_layer("maxpool:k=3,s=2,p=1").to_word()
    'maxpool:k=3,s=2,p=1'
    """
    word = word.strip()
    kind_text, _, body = word.partition(":")
    kind = kind_text.strip().lower()
    kind = ALIASES.get(kind, kind)
    where_source = f" ({source})" if source else ""
    where = f"layer {position} '{word}'{where_source}: "
    if kind not in KINDS:
        raise SpecError(
            f"{where}unknown layer type {kind_text!r}; expected one of {', '.join(KINDS)}"
        )
    allowed = KEYS[kind]
    values: dict[str, object] = {}
    args = split_layer_arguments(body) if body.strip() else []
    for index, arg in enumerate(args):
        if not arg:
            raise SpecError(f"{where}empty argument")
        if "=" not in arg:
            if index == 0 and kind in _TAKES_COUNT:
                values["out_channels"] = _integer(
                    arg, "units" if kind == "fc" else "out channels", where
                )
                continue
            raise SpecError(
                f"{where}unexpected bare value {arg!r}; "
                + (
                    "only the first argument may be bare (out channels)"
                    if kind in _TAKES_COUNT
                    else f"{kind} takes no count; use key=value"
                )
            )
        key_text, _, value = arg.partition("=")
        key = key_text.strip().lower()
        key = _KEY_NAMES.get(key, key)
        if key not in allowed:
            accepted = ", ".join(allowed) if allowed else "no keys"
            raise SpecError(
                f"{where}unknown key {key_text.strip()!r} for {kind} (accepts {accepted})"
            )
        if key in _PAIR_FIELDS:
            field_name = _PAIR_FIELDS[key]
            values[field_name] = parse_pair(value, field_name, where)
        elif key == "p":
            values["padding"] = parse_padding(value, where)
        elif key == "g":
            values["groups"] = _integer(value, "groups", where)
        elif key == "dm":
            values["depth_multiplier"] = _integer(value, "depth multiplier", where)
        elif key == "bias":
            values["bias"] = parse_bool(value, "bias", where)
        elif key == "ceil":
            values["ceil_mode"] = parse_bool(value, "ceil", where)
    if kind == "pwconv":
        values["kernel"] = (1, 1)
    return Layer(kind, word=word, source=source, **values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class NetFile:
    """A parsed net file: its layers and the ``input SIZE`` line, if it had one."""

    layers: tuple[Layer, ...]
    input: Shape | None = None


def parse_net(text: str, origin: str = "", first_position: int = 1) -> NetFile:
    """Layer words, one or more per line, ``#`` comments; ``input 3x224x224`` sets the
    input size. ``origin`` (a file name) labels errors as ``origin:LINE``.

    >>> net = parse_net("input 3x32x32\\nconv:16,k=3,p=1  # stem\\nmaxpool:k=2")
    >>> str(net.input), [layer.kind for layer in net.layers]
    ('3x32x32', ['conv', 'maxpool'])
    """
    layers: list[Layer] = []
    input_shape: Shape | None = None
    for line_number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        source = f"{origin}:{line_number}" if origin else f"line {line_number}"
        words = line.split()
        if words[0].lower() in ("input", "input:"):
            if len(words) != 2:
                raise SpecError(f"{source}: 'input' takes one size, e.g. input 3x224x224")
            input_shape = parse_size(words[1])
            continue
        if words[0].lower().startswith("input="):
            input_shape = parse_size(words[0].split("=", 1)[1])
            continue
        for word in words:
            layers.append(parse_layer(word, first_position + len(layers), source))
    return NetFile(tuple(layers), input_shape)


def read_net(path: str | Path, first_position: int = 1) -> NetFile:
    """Read and parse a net file (UTF-8). A missing file is a :class:`ConvcliError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConvcliError(f"net file not found: {path}") from None
    except UnicodeDecodeError:
        raise ConvcliError(f"net file is not UTF-8 text: {path}") from None
    net = parse_net(text, origin=path.name, first_position=first_position)
    if not net.layers:
        raise ConvcliError(f"net file has no layers: {path}")
    return net
