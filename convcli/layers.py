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
- ``parse_padding_option(text, largest=None) -> PaddingSpec``: every command's
  ``-p/--padding``, checked, messages ``-p/--padding: ...``.
- ``check_pads(padding, where, largest=None)``: the one range rule of a padding.
- ``parse_bool(text, name) -> bool``: ``true/false``, ``yes/no``, ``1/0``.
- ``parse_layer(word, position=1, source="") -> Layer``: ``TYPE[:ARG,...]``.
- ``parse_axes(text, name, rank=2) -> tuple[int, ...]``: ``3`` or ``3x7x7``.
Net files and the graph words (``tag:``, ``repeat:``, ``def:``...) are read by
:mod:`convcli.network`.
- ``split_layer_arguments(body) -> list[str]``: ``64,k=3,p=1,2,3,4`` split on commas,
  the four numbers of a padding kept together (the STEP syntax shares it).
- ``KEYS``: the keys each layer type accepts.

>>> layer = parse_layer("conv:64,k=7,s=2,p=3")
>>> layer.kind, layer.out_channels, layer.kernel, layer.stride, layer.padding
('conv', 64, (7, 7), (2, 2), (3, 3, 3, 3))
"""

from __future__ import annotations

import re
from dataclasses import fields, replace
from typing import Any

from convcli._records import dataclass
from convcli.errors import ConvcliError, SpecError, visible
from convcli.geometry import (
    ACTIVATIONS,
    KINDS,
    RANKED_KINDS,
    Layer,
    PaddingSpec,
    Pair,
    Shape,
    TargetOption,
    target_options,
)

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}

_CONV_KEYS = ("k", "s", "p", "d", "g", "bias", "bn", "act")
#: Keys each layer type accepts (the first bare argument is out channels / units).
KEYS: dict[str, tuple[str, ...]] = {
    "conv": _CONV_KEYS,
    "dwconv": ("k", "s", "p", "d", "dm", "bias", "bn", "act"),
    "pwconv": ("s", "g", "bias", "bn", "act"),
    "sepconv": ("k", "s", "p", "d", "dm", "bias"),
    "deconv": ("k", "s", "p", "d", "g", "op", "bias", "bn", "act"),
    "maxpool": ("k", "s", "p", "d", "ceil"),
    "avgpool": ("k", "s", "p", "ceil"),
    "fc": ("bias", "bn", "act"),
    "up": ("mode",),
    "se": ("act",),
    "attn": ("bias",),
    "mlp": ("bias", "act"),
    "head": ("bias",),
    "opaque": ("out",),
}
#: Types written by model imports (``opaque:OP,out=SHAPE``, an operator convcli does not
#: count): read like any word, left out of the list of types the help offers.
IMPORTED_KINDS = ("opaque",)
#: Types whose first bare argument is out channels (units, squeeze or hidden width).
_TAKES_COUNT = {"conv", "dwconv", "pwconv", "sepconv", "deconv", "fc", "se", "mlp", "head"}
#: Types whose bare arguments name tensors.
_TAKES_NAMES = {"add", "cat", "mul", "crop"}
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
    "batchnorm": "bn",
    "layernorm": "ln",
    "groupnorm": "gn",
    "swish": "silu",
    "hardswish": "hswish",
    "hardsigmoid": "hsigmoid",
    "leakyrelu": "lrelu",
    "upsample": "up",
    "pixelshuffle": "shuffle",
    "concat": "cat",
}
_UP_MODES = ("nearest", "bilinear", "linear", "trilinear", "bicubic")
# A pattern's text, compiled (and cached) by re when first used: not by every run.
_RANKED = r"^([a-z]+?)([123])d$"


def split_dims(text: str) -> list[str]:
    """The parts of a size between its ``x``, ``×`` or ``*``: ``re.split(r"[x×*]", text)``
    with string methods (compiling the pattern cost ``convcli shape`` more than its use).

    >>> split_dims("3x224×224"), split_dims("8*3"), split_dims("")
    (['3', '224', '224'], ['8', '3'], [''])
    """
    return text.replace("×", "x").replace("*", "x").split("x")


def is_integer(text: str, digits: int | None = None) -> bool:
    """Whether ``text`` is ``re.fullmatch(r"[+-]?\\d+", text)`` (at most ``digits`` digits
    when given), with string methods: a decimal digit is any of Unicode's, as ``\\d``.

    >>> is_integer("-12"), is_integer("1 2"), is_integer("+"), is_integer("1234", 3)
    (True, False, False, False)
    """
    body = text[1:] if text.startswith(("+", "-")) else text
    return body.isdecimal() and (digits is None or len(body) <= digits)


def is_size_text(text: str, suffixes: str = "") -> bool:
    """Whether ``text`` matches ``^\\d+(?:[x×*]\\d+)*[SUFFIXES]?$`` (``re.match``: a final
    newline is allowed), with string methods. Case matters: callers lower the text.

    >>> is_size_text("3x224x224"), is_size_text("768f", "ft"), is_size_text("3xx4")
    (True, True, False)
    """
    body = text[:-1] if text.endswith("\n") else text
    if suffixes and body[-1:] and body[-1:] in suffixes:
        body = body[:-1]
    return all(part.isdecimal() for part in split_dims(body))


def _integer(text: str, name: str, where: str) -> int:
    """A signed integer; the range (>= 1) is checked where the layer meets its input."""
    text = text.strip()
    if not is_integer(text):
        raise SpecError(f"{where}{name} must be an integer, got {text!r}")
    if len(text.lstrip("+-")) > 9:
        raise SpecError(f"{where}{name} must be at most 999,999,999, got {text[:20]!r}...")
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

    >>> parse_size("3x224x224").dims(), parse_size("224x224x3", channels_last=True).dims()
    ([3, 224, 224], [3, 224, 224])
    """
    cleaned = text.strip().lower().replace(" ", "")
    if not is_size_text(cleaned):
        raise SpecError(
            f"malformed size {text!r}: expected H, HxW, CxHxW or NxCxHxW (e.g. 3x224x224)"
        )
    parts = split_dims(cleaned)
    if any(len(part) > 9 for part in parts):
        raise SpecError(f"malformed size {text[:40]!r}: each number is at most 999,999,999")
    dims = [int(part) for part in parts]
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


def check_range(value: int, name: str, low: int, high: int | None = None, where: str = "") -> int:
    """``value``, if ``low <= value <= high``: the one message form for a number out of range.

    Parameters
    ----------
    value : int
        The number read.
    name : str
        The option (``-s/--stride``) or the word's key (``s``), as the user typed it.
    low, high : int
        The allowed range, both ends included (``high`` None: no upper bound).
    where : str
        Prefix of the message (``kernel 'box:2,s=0': ``, or ``""`` for an option).

    >>> check_range(0, "-s/--stride", 1, 1025)
    Traceback (most recent call last):
    convcli.errors.SpecError: -s/--stride must be >= 1, got 0
    """
    if value < low:
        raise SpecError(f"{where}{name} must be >= {low:,}, got {value}")
    if high is not None and value > high:
        raise SpecError(f"{where}{name} must be at most {high:,}, got {value}")
    return value


def parse_pair(
    text: str, name: str, where: str = "", low: int | None = None, high: int | None = None
) -> Pair:
    """``3`` -> ``(3, 3)``; ``3x5`` -> ``(3, 5)`` (height, width), each in ``low..high``.

    Parameters
    ----------
    text : str
        ``N`` or ``HxW``.
    name : str
        The parameter's name, for error messages.
    where : str
        Prefix of error messages (``layer 2 'conv:k=x': ``).
    low, high : int or None
        The range each value must be in (see :func:`check_range`); None: not checked.

    >>> parse_pair("5x3", "kernel")
    (5, 3)
    """
    pair = parse_axes(text, name, 2, where)
    if low is not None:
        for value in pair:
            check_range(value, name, low, high, where)
    return pair  # type: ignore[return-value]


def parse_axes(text: str, name: str, rank: int = 2, where: str = "") -> tuple[int, ...]:
    """One value per spatial axis: ``3`` for all of them, or ``3x7x7`` (``D x H x W``).

    Parameters
    ----------
    text : str
        ``N`` or one number per axis joined by ``x``.
    name : str
        The parameter's name, for error messages.
    rank : int
        Spatial axes (1, 2 or 3).
    where : str
        Prefix of error messages (``layer 2 'conv:k=x': ``).

    >>> parse_axes("3x7x7", "kernel", 3), parse_axes("5", "kernel", 1)
    ((3, 7, 7), (5,))
    """
    parts = split_dims(text.strip().lower())
    forms = {1: "N", 2: "N or HxW", 3: "N or DxHxW"}[rank]
    if len(parts) not in (1, rank) or not all(is_integer(p.strip(), 9) for p in parts):
        raise SpecError(f"{where}{name} must be {forms}, got {text!r}")
    values = [int(p) for p in parts]
    return tuple(values) if len(values) == rank else (values[0],) * rank


def parse_padding(text: str, where: str = "", rank: int = 2) -> PaddingSpec:
    """Padding: ``1``, ``1x2`` (H x W), ``1,2,3,4`` (top, bottom, left, right), ``valid``,
    ``same``; with ``rank`` 1 or 3, ``N``, ``DxHxW`` or ``before,after`` per axis.

    Parameters
    ----------
    text : str
        The padding as typed.
    where : str
        Prefix of error messages (``layer 2 'conv:k=x': ``).
    rank : int
        Spatial axes (1, 2 or 3).

    >>> parse_padding("1x2"), parse_padding("0,1,0,1"), parse_padding("SAME")
    ((1, 1, 2, 2), (0, 1, 0, 1), 'same')
    """
    cleaned = text.strip().lower()
    if cleaned in ("same", "valid"):
        return cleaned  # type: ignore[return-value]
    if "," in cleaned:
        parts = [p.strip() for p in cleaned.split(",")]
        if len(parts) != 2 * rank or not all(is_integer(p, 9) for p in parts):
            raise _padding_error(text, where, rank)
        return tuple(int(p) for p in parts)
    try:
        values = parse_axes(cleaned, "padding", rank)
    except SpecError:
        raise _padding_error(text, where, rank) from None
    return tuple(v for value in values for v in (value, value))


def _padding_error(text: str, where: str, rank: int) -> SpecError:
    from convcli.limits import shorten  # only on failure: the shape path stays lean

    forms = {1: "N, before,after", 2: "N, HxW, top,bottom,left,right",
             3: "N, DxHxW, six numbers (before,after per axis)"}[rank]  # fmt: skip
    return SpecError(f"{where}padding must be {forms}, valid or same, got {shorten(text)!r}")


#: How every command's ``-p/--padding`` messages start (shape, apply, learn alike).
PADDING_OPTION = "-p/--padding: "


def parse_padding_option(text: str, largest: int | None = None) -> PaddingSpec:
    """The ``-p/--padding`` option of every command: :func:`parse_padding`, then each pad
    ``>= 0`` (and ``<= largest``), every message in one form, ``-p/--padding: ...``.

    Parameters
    ----------
    text : str
        The option as typed.
    largest : int, optional
        Most pixels per side (``apply`` and ``learn`` pass
        :data:`convcli.limits.MAX_PADDING`: they allocate them); None for sizing.

    Examples
    --------
    >>> parse_padding_option("1x2"), parse_padding_option("same")
    ((1, 1, 2, 2), 'same')
    >>> parse_padding_option("0,-1,0,0")
    Traceback (most recent call last):
    ...
    convcli.errors.SpecError: -p/--padding: padding must be >= 0, got -1
    >>> parse_padding_option("2000", 1024)
    Traceback (most recent call last):
    ...
    convcli.errors.SpecError: -p/--padding: padding must be at most 1024 per side, got 2000
    """
    padding = parse_padding(text, PADDING_OPTION)
    check_pads(padding, PADDING_OPTION, largest)
    return padding


def check_pads(padding: object, where: str, largest: int | None = None) -> None:
    """Parsed pads (an int or a tuple of them; words pass) ``>= 0`` and ``<= largest``.

    The one rule and wording of a padding's range, for ``-p/--padding`` and the ``p=`` of
    STEP words (:func:`convcli.limits.check_padding`).

    Parameters
    ----------
    padding : int, tuple of int, "same", "valid" or None
        What :func:`parse_padding` returned (None: not given).
    where : str
        Prefix of error messages (``"-p/--padding: "``, ``"kernel 'box:3,p=9': "``).
    largest : int, optional
        Most pixels per side; None for no bound.
    """
    if isinstance(padding, str) or padding is None:
        return
    for value in padding if isinstance(padding, tuple) else (padding,):
        if value < 0:  # one message whatever the bound, so commands agree on it
            raise SpecError(f"{where}padding must be >= 0, got {value}")
        if largest is not None and value > largest:
            raise SpecError(f"{where}padding must be at most {largest} per side, got {value}")


def parse_bool(text: str, name: str, where: str = "") -> bool:
    """``true/false``, ``yes/no``, ``1/0`` (any case).

    Parameters
    ----------
    text : str
        The value as typed.
    name : str
        The parameter's name, for error messages.
    where : str
        Prefix of error messages (``layer 2 'conv:k=x': ``).

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
    """Split ``64,k=3,p=1,2,3,4`` on commas, re-joining the numbers of a padding (four
    in 2-D, six in 3-D).

    Shared with the STEP syntax of :mod:`convcli.kernels` (``sobel-x:p=0,1,0,1``).

    >>> split_layer_arguments("64,k=3,p=1,2,3,4,bn")
    ['64', 'k=3', 'p=1,2,3,4', 'bn']
    """
    tokens = [t.strip() for t in body.split(",")]
    args: list[str] = []
    for token in tokens:
        padding_so_far = bool(args) and args[-1].startswith(("p=", "padding="))
        if (padding_so_far and is_integer(token)
                and args[-1].count(",") < 5):  # fmt: skip
            args[-1] += "," + token
            continue
        args.append(token)
    return args


#: Keys whose value has one entry per axis, and the :class:`Layer` field each sets.
_AXES_FIELDS = {"k": "kernel", "s": "stride", "d": "dilation", "op": "output_padding"}

_KEY_NAMES = {
    "kernel": "k",
    "stride": "s",
    "padding": "p",
    "dilation": "d",
    "groups": "g",
    "output_padding": "op",
    "depth_multiplier": "dm",
    "ceil_mode": "ceil",
    "activation": "act",
}


def _kind_and_rank(kind_text: str, where: str) -> tuple[str, int]:
    """``conv3d`` -> ``("conv", 3)``; aliases resolved; unknown types refused."""
    kind = kind_text.strip().lower()
    kind = ALIASES.get(kind, kind)
    rank = 2
    ranked = re.match(_RANKED, kind)
    if ranked and ranked.group(1) in RANKED_KINDS:
        kind, rank = ranked.group(1), int(ranked.group(2))
    if kind not in KINDS and kind not in IMPORTED_KINDS:
        raise SpecError(
            f"{where}unknown layer type {kind_text!r}; expected one of {', '.join(KINDS)} "
            "(conv1d, conv3d, ... for the 1-D and 3-D forms)"
        )
    return kind, rank


def _bare_value(kind: str, arg: str, index: int, where: str, values: dict[str, object]) -> None:
    """The meaning of a bare argument (no ``=``) for each type."""
    rank = int(values["rank"])  # type: ignore[call-overload]
    if kind == "opaque":
        _opaque_name(arg, index, where, values)
    elif kind in _TAKES_NAMES:
        if not re.fullmatch(r"[A-Za-z_][\w.-]*", arg):
            raise SpecError(f"{where}{arg!r} is not a tensor name (letters, digits, _ . -)")
        values["refs"] = (*values.get("refs", ()), arg)  # type: ignore[misc]
        if kind == "crop" and len(values["refs"]) > 1:  # type: ignore[arg-type]
            raise SpecError(f"{where}crop takes one tensor name")
    elif arg.lower() == "bn" and "bn" in KEYS.get(kind, ()):
        values["norm"] = "bn"
    elif index == 0 and kind in _TAKES_COUNT:
        name = {"fc": "units", "se": "squeeze width", "mlp": "hidden width",
                "head": "classes"}.get(kind, "out channels")  # fmt: skip
        values["out_channels"] = _integer(arg, name, where)
    elif index == 0 and kind in ("gap", "gmp"):
        values["size"] = parse_axes(arg, "output size", len(split_dims(arg)), where)
    elif index == 0 and kind in ("up", "shuffle"):
        values["scale"] = parse_axes(arg, "scale", len(split_dims(arg)), where)
    elif index == 0 and kind in ("gn", "attn"):
        values["groups" if kind == "gn" else "heads"] = _integer(
            arg, "groups" if kind == "gn" else "heads", where
        )
    elif index == 0 and kind == "dropout":
        if not re.fullmatch(r"\d*\.?\d+", arg) or float(arg) > 1:
            raise SpecError(f"{where}dropout probability must be 0..1, got {arg!r}")
    elif index == 0 and kind == "pad":
        values["padding"] = parse_padding(arg, where, rank)
    else:
        raise SpecError(
            f"{where}unexpected bare value {arg!r}; "
            + (
                "only the first argument may be bare (out channels)"
                if kind in _TAKES_COUNT
                else f"{kind} takes no count; use key=value"
            )
        )


def _key_value(kind: str, arg: str, where: str, values: dict[str, object]) -> None:
    """One ``key=value`` argument."""
    rank = int(values["rank"])  # type: ignore[call-overload]
    key_text, _, value = arg.partition("=")
    key = key_text.strip().lower()
    key = _KEY_NAMES.get(key, key)
    allowed = KEYS.get(kind, ())
    if key not in allowed:
        accepted = ", ".join(allowed) if allowed else "no keys"
        raise SpecError(f"{where}unknown key {key_text.strip()!r} for {kind} (accepts {accepted})")
    if key in _AXES_FIELDS:
        field_name = _AXES_FIELDS[key]
        values[field_name] = parse_axes(value, field_name, rank, where)
    elif key == "p":
        values["padding"] = parse_padding(value, where, rank)
    elif key in ("g", "dm"):
        name = "groups" if key == "g" else "depth multiplier"
        values["groups" if key == "g" else "depth_multiplier"] = _integer(value, name, where)
    elif key in ("bias", "ceil", "bn"):
        flag = parse_bool(value, key, where)
        if key == "bn":
            values["norm"] = "bn" if flag else ""
        else:
            values["bias" if key == "bias" else "ceil_mode"] = flag
    elif key == "act":
        act = ALIASES.get(value.strip().lower(), value.strip().lower())
        if act not in ACTIVATIONS:
            raise SpecError(f"{where}act must be one of {', '.join(ACTIVATIONS)}, got {value!r}")
        values["act"] = act
    elif key == "out":
        values.update(parse_opaque_shape(value, where))
    elif key == "mode":
        mode = value.strip().lower()
        if mode not in _UP_MODES:
            raise SpecError(f"{where}mode must be one of {', '.join(_UP_MODES)}, got {value!r}")
        values["mode"] = mode


def _opaque_name(arg: str, index: int, where: str, values: dict[str, object]) -> None:
    """``opaque:NAME,out=SHAPE[,TENSOR...]``: the first bare value names the operator
    (kept in the word only), the others are tensors it also reads."""
    if not re.fullmatch(r"[A-Za-z_][\w.-]*", arg):
        raise SpecError(f"{where}{arg!r} is not a name (letters, digits, _ . -)")
    if index > 0:
        values["refs"] = (*values.get("refs", ()), arg)  # type: ignore[misc]


def parse_opaque_shape(text: str, where: str = "") -> dict[str, object]:
    """The ``out=`` of an ``opaque`` word, batch left out (the input's is kept):
    ``CxHxW`` (any rank: ``C``, ``CxL``, ``CxDxHxW``), ``Ff`` features, ``TxCt`` tokens.
    Returned as the :class:`Layer` fields that carry it: ``out_channels``, ``size`` (the
    spatial sizes, or the tokens) and ``mode`` (``map``, ``flat`` or ``tokens``).

    >>> parse_opaque_shape("64x56x56"), parse_opaque_shape("197x768t")["size"]
    ({'out_channels': 64, 'size': (56, 56), 'mode': 'map'}, (197,))
    """
    cleaned = text.strip().lower()
    suffix = cleaned[-1:] if cleaned[-1:] in ("f", "t") else ""
    parts = re.split(r"[x×*]", cleaned[: len(cleaned) - len(suffix)])
    forms = "C, CxL, CxHxW, CxDxHxW, Ff (features) or TxCt (tokens)"
    if not all(re.fullmatch(r"\d{1,9}", p) for p in parts) or len(parts) > 4:
        raise SpecError(f"{where}out must be a shape without the batch: {forms}, got {text!r}")
    dims = [int(p) for p in parts]
    if min(dims) < 1:
        raise SpecError(f"{where}out: every dimension must be >= 1, got {text!r}")
    if suffix == "f" and len(dims) == 1:
        return {"out_channels": dims[0], "size": (), "mode": "flat"}
    if suffix == "t" and len(dims) == 2:
        return {"out_channels": dims[1], "size": (dims[0],), "mode": "tokens"}
    if suffix:
        raise SpecError(f"{where}out must be {forms}, got {text!r}")
    return {"out_channels": dims[0], "size": tuple(dims[1:]), "mode": "map"}


def parse_layer(word: str, position: int = 1, source: str = "") -> Layer:
    """A LAYER word ``TYPE[:ARG,...]``: the first bare ARG is out channels (units for
    ``fc``), the rest ``key=value``.

    Keys: ``k`` kernel, ``s`` stride, ``p`` padding, ``d`` dilation, ``g`` groups,
    ``bias``, ``ceil``, ``op`` (output_padding), ``dm`` (depth multiplier), ``bn`` (no
    bias, batch norm after), ``act`` (an activation after); see :data:`KEYS` for which
    type takes which. ``conv3d``/``conv1d`` (and the same for deconv and the pools) set
    the rank. ``position`` and ``source`` only label the error messages.

    Parameters
    ----------
    word : str
        The LAYER word.
    position : int
        Its position (error messages).
    source : str
        Where it was read (error messages).

    >>> parse_layer("maxpool:k=3,s=2,p=1").to_word()
    'maxpool:k=3,s=2,p=1'
    >>> layer = parse_layer("conv3d:64,k=3x7x7,s=1x2x2,p=1x3x3,bn,act=relu")
    >>> layer.kernel, layer.padding, layer.bias, layer.norm, layer.act
    ((3, 7, 7), (1, 1, 3, 3, 3, 3), False, 'bn', 'relu')
    """
    word = word.strip()
    kind_text, _, body = word.partition(":")
    where_source = f" ({source})" if source else ""
    where = f"layer {position} '{visible(word)}'{where_source}: "  # a NUL: escaped
    kind, rank = _kind_and_rank(kind_text, where)
    values: dict[str, object] = {"rank": rank}
    if rank != 2:
        values.update(padding=(0,) * (2 * rank), dilation=(1,) * rank,
                      output_padding=(0,) * rank, scale=(1,) * rank)  # fmt: skip
    args = [body.strip()] if kind == "pad" else split_layer_arguments(body) if body.strip() else []
    given: set[str] = set()
    for index, arg in enumerate(args):
        if not arg:
            raise SpecError(f"{where}empty argument")
        if "=" in arg:
            key_text = arg.partition("=")[0].strip()
            key = _KEY_NAMES.get(key_text.lower(), key_text.lower())
            if key in given:  # conv:8,k=3,k=5 once took the last silently
                raise SpecError(f"{where}key {key_text!r} given twice")
            given.add(key)
            _key_value(kind, arg, where, values)
        else:
            _bare_value(kind, arg, index, where, values)
    if kind in _TAKES_NAMES and not values.get("refs"):
        raise SpecError(f"{where}{kind} needs a tensor name ({kind}:NAME)")
    if kind == "pad" and "padding" not in values:
        raise SpecError(f"{where}pad needs its pads (pad:T,B,L,R or pad:N)")
    if values.get("norm") and "bias" not in {a.partition("=")[0].strip() for a in args}:
        values["bias"] = False  # the PyTorch idiom: a conv before a norm has no bias
    if kind == "pwconv":
        values["kernel"] = (1,) * rank
    return Layer(kind, word=word, source=source, **values)  # type: ignore[arg-type]


def looks_like_size(text: str) -> bool:
    """Sizes start with a digit; LAYER words with a letter.

    >>> looks_like_size("3x224x224"), looks_like_size("conv:64")
    (True, False)
    """
    return text.strip()[:1].isdigit()


@dataclass(frozen=True)
class LayerOptions:
    """One layer given as options (``-k -s -p -d -g -c --op ...``), still as typed.

    ``op`` is the layer type (``conv``, ``dwconv``, ``pwconv``, ``sepconv``, ``deconv``,
    ``maxpool``, ``avgpool``). :meth:`to_layer` parses and checks them once, with one
    message form (``-k/--kernel must be ...``).
    """

    op: str = "conv"
    kernel: str | None = None
    stride: str | None = None
    padding: str | None = None
    dilation: str | None = None
    groups: int | None = None
    out_channels: int | None = None
    output_padding: str | None = None
    depth_multiplier: int | None = None
    ceil_mode: bool = False
    no_bias: bool = False

    #: option spelling -> LAYER key, to say which options a kind takes
    _OPTION_KEYS = (
        ("-s/--stride", "stride", "s"),
        ("-p/--padding", "padding", "p"),
        ("-d/--dilation", "dilation", "d"),
        ("-g/--groups", "groups", "g"),
        ("--output-padding", "output_padding", "op"),
        ("--depth-multiplier", "depth_multiplier", "dm"),
        ("--ceil-mode", "ceil_mode", "ceil"),
        ("--no-bias", "no_bias", "bias"),
    )

    def given(self) -> bool:
        """Whether any layer option was given (``--op`` alone counts)."""
        return self.op != "conv" or any(
            getattr(self, option.name) not in (None, False)
            for option in fields(self)
            if option.name != "op"
        )

    def to_layer(self) -> Layer:
        """The one layer these options describe (its word is the canonical LAYER word).

        >>> LayerOptions(kernel="3", stride="2", padding="1", out_channels=64).to_layer().word
        'conv:64,k=3,s=2,p=1'
        """
        kind = self.op
        for option, attribute, key in self._OPTION_KEYS:
            if getattr(self, attribute) not in (None, False) and key not in KEYS[kind]:
                raise SpecError(f"{option} does not apply to --op {kind}")
        if self.out_channels is not None and kind not in _TAKES_COUNT:
            raise SpecError(
                f"-c/--out-channels does not apply to --op {kind}: a pool keeps the input's "
                "channels"
            )
        if self.out_channels is not None and self.out_channels < 1:
            raise SpecError(f"-c/--out-channels must be >= 1, got {self.out_channels}")
        if self.kernel is None and kind != "pwconv":
            raise SpecError(f"missing -k/--kernel: the kernel size of the {kind} (e.g. -k 3)")
        if kind == "pwconv" and self.kernel is not None and self.kernel.strip() not in ("1", "1x1"):
            raise SpecError(f"-k/--kernel must be 1 for --op pwconv, got {self.kernel}")
        values: dict[str, object] = {}
        if self.kernel is not None:
            values["kernel"] = parse_pair(self.kernel, "-k/--kernel", low=1)
        if kind == "pwconv":
            values["kernel"] = (1, 1)
        if self.stride is not None:
            values["stride"] = parse_pair(self.stride, "-s/--stride", low=1)
        if self.padding is not None:
            values["padding"] = parse_padding_option(self.padding)
        if self.dilation is not None:
            values["dilation"] = parse_pair(self.dilation, "-d/--dilation", low=1)
        if self.output_padding is not None:
            values["output_padding"] = parse_pair(self.output_padding, "--output-padding", low=0)
        if self.groups is not None:
            values["groups"] = self.groups
        if self.depth_multiplier is not None:
            values["depth_multiplier"] = self.depth_multiplier
        layer = Layer(
            kind,
            out_channels=self.out_channels,
            ceil_mode=self.ceil_mode,
            bias=not self.no_bias,
            **values,  # type: ignore[arg-type]
        )
        return replace(layer, word=layer.to_word())


@dataclass(frozen=True)
class TargetReport:
    """``--target``: the options per axis (one entry when both axes agree)."""

    input: Shape
    target: tuple[int, int]
    kernel: tuple[int, int]
    dilation: tuple[int, int]
    kind: str
    axes: list[tuple[str, list[TargetOption]]]  # ("h"/"w"/"h,w", options)

    @property
    def entries(self) -> list[tuple[str, TargetOption]]:
        """Every option with its axis, in order."""
        return [(axis, option) for axis, options in self.axes for option in options]

    def to_dict(self) -> dict[str, Any]:
        """``shape --target``'s JSON schema: the question, then one entry per option."""
        return {
            "input": self.input.dims(),
            "target": list(self.target),
            "type": self.kind,
            "kernel": list(self.kernel),
            "dilation": list(self.dilation),
            "options": [{"axis": axis, **option.to_dict()} for axis, option in self.entries],
        }


def target_report(input_shape: Shape, target: str, options: LayerOptions) -> TargetReport:
    """Solve ``--target`` for the single layer the options describe (the padding, and
    the stride when ``-s`` is not given), per axis.

    Parameters
    ----------
    input_shape : Shape
        The spatial input.
    target : str
        ``--target``: ``N`` or ``HxW``.
    options : LayerOptions
        The layer (``-k`` required; ``-p`` must be left out).

    >>> result = target_report(Shape(None, 224, 224), "112", LayerOptions(kernel="3", stride="2"))
    >>> [(o.stride, o.pads, o.tf_same) for o in result.axes[0][1]]
    [(2, (0, 1), True), (2, (1, 1), False)]
    """
    if options.kernel is None and options.op != "pwconv":
        raise SpecError("--target needs -k/--kernel")
    if options.padding is not None:
        raise SpecError("--target finds the padding: leave out -p/--padding")
    if input_shape.is_flat:
        raise SpecError("--target needs a spatial INPUT")
    try:
        target_pair = parse_pair(target, "--target")
    except SpecError:
        raise SpecError(f"--target must be a size such as 112 or 112x56, got {target!r}") from None
    if min(target_pair) < 1:
        raise SpecError(f"--target must be >= 1, got {target}")
    kernel = parse_pair(options.kernel, "-k/--kernel", low=1) if options.kernel else (1, 1)
    dilation = parse_pair(options.dilation, "-d/--dilation", low=1) if options.dilation else (1, 1)
    stride = parse_pair(options.stride, "-s/--stride", low=1) if options.stride else None
    kind = options.op if options.op in ("deconv", "maxpool", "avgpool") else "conv"
    if kind == "avgpool" and dilation != (1, 1):
        raise SpecError(
            f"avgpool takes no dilation (PyTorch's AvgPool2d has none), got -d {options.dilation}"
        )
    if input_shape.rank != 2:
        raise SpecError(f"--target needs an H x W (or C x H x W) INPUT, got {input_shape}")
    sizes = input_shape.spatial
    per_axis = []
    for axis in range(2):
        per_axis.append(
            target_options(
                sizes[axis],
                target_pair[axis],
                kernel[axis],
                dilation[axis],
                None if stride is None else stride[axis],
                kind,
                options.ceil_mode,
            )
        )
    if per_axis[0] == per_axis[1]:
        axes = [("h,w", per_axis[0])]
    else:
        axes = [("h", per_axis[0]), ("w", per_axis[1])]
    if not all(found for _, found in axes):
        missing = [name for name, found in axes if not found]
        raise ConvcliError(
            f"no padding{'' if stride else ' or stride'} gives {target} from "
            f"{input_shape.height}x{input_shape.width} with kernel {options.kernel}"
            f"{f', dilation {options.dilation}' if options.dilation else ''}"
            f"{f', stride {options.stride}' if options.stride else ''} "
            f"(axis {', '.join(missing)})"
        )
    return TargetReport(input_shape, target_pair, kernel, dilation, kind, axes)
