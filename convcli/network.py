"""Networks as text: LAYER words with branches, merges, repeats and named blocks.

Pure Python (no NumPy): ``convcli shape`` reads a ResNet-50 from ten lines and starts
fast. The language is words separated by spaces (safe unquoted in bash and zsh), one
line or a net file, in the spirit of Darknet's ``[route]``/``[shortcut]``:

- ``tag:NAME`` names the current tensor; ``from:NAME`` continues from a named tensor;
  ``out:NAME`` marks an output; the merges ``add:NAME``, ``cat:NAME[,NAME...]`` and
  ``mul:NAME`` (and ``crop:NAME``) are layers that read named tensors.
- ``input SIZE`` or ``input NAME=SIZE ...`` declares the inputs (``768f`` is a flat
  feature vector, ``197x768t`` tokens); the current tensor starts at the first.
- ``repeat:N ... end`` repeats words; ``def:NAME[,PARAM[=DEFAULT]...] ... end`` defines
  a block whose words may use ``%PARAM``, and ``use:NAME[,VALUE...|PARAM=VALUE...]``
  inserts it. Both nest. Tags are global: a block's ``tag:x`` replaces an earlier ``x``.
- ``#`` starts a comment; a UTF-8 BOM and CRLF line ends are accepted.

Public API
----------
- ``parse_network(text, origin="") -> Network``; ``read_network(path) -> Network``;
  ``Network.chain(layers)`` for a plain chain.
- ``load_network(words, net, preset, width_mult, layer) -> Network``; ``Source`` (all
  of that and the INPUT) and ``Source.load()``: what ``shape`` and ``compare`` analyse;
  ``size_network(source) -> ChainReport``: load and walk in one call (``convcli shape``
  loads once and calls ``analyze_network``, so that ``--to-net`` writes what it sized).
- ``resolve_inputs(network, given=None, channels_last=False) -> (dict[str, Shape],
  notes)``: the input sizes read for the network's rank (``3x16x112x112`` before a
  ``conv3d`` is C x D x H x W).
- ``analyze_network(network, inputs, dtype_bytes=4, count_elementwise=False) ->
  ChainReport``.

>>> net = parse_network("input 16x32x32 tag:a conv:16,k=3,p=1,bn,act=relu add:a")
>>> report = analyze_network(net, resolve_inputs(net)[0])
>>> [r.kind for r in report.layers], str(report.output), report.total.params
(['conv', 'bn', 'relu', 'add'], '16x32x32', 2336)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import field, replace
from pathlib import Path

from convcli._records import dataclass
from convcli.costs import layer_report
from convcli.errors import ConvcliError, SpecError
from convcli.geometry import (
    RANKED_KINDS,
    ChainReport,
    Field,
    Layer,
    LayerReport,
    Shape,
    Totals,
)
from convcli.layers import is_size_text, parse_layer, split_dims

#: Limits that keep a typo from expanding forever (``repeat:100000000``).
MAX_LAYERS = 100_000
MAX_NESTING = 32
# A pattern's text, compiled (and cached) by re when a tag or block name is first read.
_NAME = r"^[A-Za-z_][\w.-]*$"
_CONTROL = ("tag", "from", "out")


@dataclass(frozen=True)
class Token:
    """One word of a network, with where it came from (``net.net:3`` or ``word 2``)."""

    text: str
    source: str = ""


@dataclass(frozen=True)
class Step:
    """One step of an expanded network: a layer, or ``tag``/``from``/``out`` of a name.

    ``block`` is the path of ``use:``/``repeat`` instances the step came from, each a
    ``(label, instance)`` pair, for ``--depth``.
    """

    action: str
    layer: Layer | None = None
    name: str = ""
    block: tuple[tuple[str, int], ...] = ()
    source: str = ""


@dataclass(frozen=True)
class InputSize:
    """A declared input: its name, the size as typed, and where."""

    name: str
    text: str
    source: str = ""


@dataclass(frozen=True)
class Network:
    """A network: its declared inputs and its expanded steps."""

    inputs: tuple[InputSize, ...]
    steps: tuple[Step, ...]

    @classmethod
    def chain(cls, layers: Iterable[Layer]) -> Network:
        """A plain chain of layers with one unnamed input."""
        return cls((), tuple(Step("layer", layer) for layer in layers))

    @property
    def layers(self) -> list[Layer]:
        """The layers, in order (``tag``/``from``/``out`` left out)."""
        return [step.layer for step in self.steps if step.layer is not None]

    @property
    def rank(self) -> int:
        """Spatial dimensions of the first layer that slides a window (2 if none)."""
        for layer in self.layers:
            if layer.kind in RANKED_KINDS:
                return layer.rank
        return 2

    def extended(self, other: Network) -> Network:
        """This network followed by ``other`` (inputs of both, in order)."""
        return Network(self.inputs + other.inputs, self.steps + other.steps)


# ---------------------------------------------------------------------------------------
# Reading: tokens -> expanded tokens -> steps


def tokenize(text: str, origin: str = "") -> list[Token]:
    """Words of a net text, ``#`` comments dropped, each labelled ``origin:LINE``.

    >>> [t.text for t in tokenize("input 3x8x8  # size\\r\\nconv:4,k=3 relu")]
    ['input', '3x8x8', 'conv:4,k=3', 'relu']
    """
    tokens: list[Token] = []
    for line_number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        source = f"{origin}:{line_number}" if origin else f"line {line_number}"
        for word in raw.split("#", 1)[0].split():
            tokens.append(Token(word, source))
    return tokens


def _at(where: Token | Step | InputSize) -> str:
    """``net.net:3: `` (nothing for a command-line word)."""
    return f"{where.source}: " if where.source else ""


def _opener(text: str) -> str | None:
    head = text.split(":", 1)[0].lower()
    return head if head in ("repeat", "def") else None


def _body(tokens: Sequence[Token], start: int) -> int:
    """The index of the ``end`` closing the block opened at ``start``."""
    depth = 0
    for index in range(start, len(tokens)):
        if _opener(tokens[index].text):
            depth += 1
        elif tokens[index].text.lower() == "end":
            depth -= 1
            if depth == 0:
                return index
    opener = tokens[start]
    raise SpecError(f"{_at(opener)}'{opener.text}' has no matching 'end'")


@dataclass(frozen=True)
class _Definition:
    name: str
    params: tuple[str, ...]
    defaults: dict[str, str]
    body: tuple[Token, ...]


@dataclass
class _Expansion:
    """State of one expansion: the definitions seen and a count of the output."""

    definitions: dict[str, _Definition] = field(default_factory=dict)
    instances: int = 0
    produced: int = 0


def _define(token: Token, body: Sequence[Token], state: _Expansion) -> None:
    parts = [p.strip() for p in token.text.split(":", 1)[1].split(",")]
    name = parts[0]
    if not re.match(_NAME, name):
        raise SpecError(f"{_at(token)}'{token.text}': block name {name!r} is not a name")
    params: list[str] = []
    defaults: dict[str, str] = {}
    for part in parts[1:]:
        param, has_default, default = part.partition("=")
        if not re.match(_NAME, param):
            raise SpecError(f"{_at(token)}'{token.text}': parameter {param!r} is not a name")
        params.append(param)
        if has_default:
            defaults[param] = default
    state.definitions[name] = _Definition(name, tuple(params), defaults, tuple(body))


def _bind(token: Token, definition: _Definition) -> dict[str, str]:
    """The values of ``use:NAME,64,s=2``: positional first, then by name."""
    values = dict(definition.defaults)
    args = [a.strip() for a in token.text.split(":", 1)[1].split(",")[1:]]
    for index, arg in enumerate(args):
        param, is_named, value = arg.partition("=")
        if not is_named:
            if index >= len(definition.params):
                raise SpecError(
                    f"{_at(token)}'{token.text}': {definition.name} takes "
                    f"{len(definition.params)} values, got {len(args)}"
                )
            values[definition.params[index]] = arg
        elif param in definition.params:
            values[param] = value
        else:
            raise SpecError(
                f"{_at(token)}'{token.text}': {definition.name} has no parameter {param!r}"
            )
    missing = [p for p in definition.params if p not in values]
    if missing:
        raise SpecError(
            f"{_at(token)}'{token.text}': missing value for {', '.join(missing)} "
            f"(def:{definition.name},{','.join(definition.params)})"
        )
    return values


def _substitute(body: Sequence[Token], values: dict[str, str], use: Token) -> list[Token]:
    """``%PARAM`` replaced in every word of a block's body (longest names first)."""
    names = sorted(values, key=len, reverse=True)
    result = []
    for token in body:
        text = token.text
        for name in names:
            text = text.replace(f"%{name}", values[name])
        if "%" in text:
            raise SpecError(f"{_at(token)}'{token.text}': unknown parameter in {use.text}")
        result.append(Token(text, token.source))
    return result


def _expand(
    tokens: Sequence[Token],
    state: _Expansion,
    block: tuple[tuple[str, int], ...] = (),
) -> list[tuple[Token, tuple[tuple[str, int], ...]]]:
    """Unroll ``repeat``/``def``/``use``: plain words, each with its block path."""
    if len(block) > MAX_NESTING:
        raise SpecError(f"blocks nest deeper than {MAX_NESTING} (a block that uses itself?)")
    result: list[tuple[Token, tuple[tuple[str, int], ...]]] = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        head, _, arg = token.text.partition(":")
        head = head.lower()
        if head == "end":
            raise SpecError(f"{_at(token)}'end' without a repeat: or def: to close")
        if head in ("repeat", "def"):
            close = _body(tokens, index)
            body = tokens[index + 1 : close]
            if head == "def":
                _define(token, body, state)
            else:
                result += _repeat(token, arg, body, state, block)
            index = close + 1
            continue
        if head == "use":
            name = arg.split(",", 1)[0].strip()
            if name not in state.definitions:
                raise SpecError(f"{_at(token)}'{token.text}': no block named {name!r} "
                                "(def:NAME ... end must come first)")  # fmt: skip
            definition = state.definitions[name]
            body = _substitute(definition.body, _bind(token, definition), token)
            state.instances += 1
            result += _expand(body, state, (*block, (token.text, state.instances)))
        else:
            state.produced += 1
            if state.produced > MAX_LAYERS:
                raise SpecError(f"the network expands to more than {MAX_LAYERS:,} words")
            result.append((token, block))
        index += 1
    return result


def _repeat(
    token: Token,
    count_text: str,
    body: Sequence[Token],
    state: _Expansion,
    block: tuple[tuple[str, int], ...],
) -> list[tuple[Token, tuple[tuple[str, int], ...]]]:
    digits = count_text.strip().lstrip("0")
    if not re.fullmatch(r"[1-9]\d*", digits):
        raise SpecError(f"{_at(token)}'{token.text}': repeat count must be an integer >= 1")
    count = int(digits) if len(digits) < 12 else MAX_LAYERS + 1  # too many, said below
    if count * max(len(body), 1) > MAX_LAYERS:
        raise SpecError(f"{_at(token)}'{token.text}' expands to more than "
                        f"{MAX_LAYERS:,} words")  # fmt: skip
    result = []
    for iteration in range(count):
        state.instances += 1
        label = f"{token.text} ({iteration + 1} of {count})"
        result += _expand(body, state, (*block, (label, state.instances)))
    return result


def _input_sizes(words: Sequence[Token], index: int) -> tuple[list[InputSize], int]:
    """The sizes after ``input`` (``3x224x224`` or ``NAME=SIZE ...``)."""
    declared: list[InputSize] = []
    start = words[index]
    index += 1
    while index < len(words):
        text = words[index].text
        name, has_name, size = text.partition("=")
        if has_name and re.match(_NAME, name) and is_size_text(size.lower(), "ft"):
            declared.append(InputSize(name, size, words[index].source))
        elif not has_name and is_size_text(text.lower(), "ft"):
            declared.append(InputSize("input", text, words[index].source))
        else:
            break
        index += 1
    if not declared:
        raise SpecError(f"{_at(start)}'input' takes one size, e.g. input 3x224x224, or "
                        "NAME=SIZE pairs")  # fmt: skip
    return declared, index


def _steps(
    words: Sequence[tuple[Token, tuple[tuple[str, int], ...]]], first_position: int = 1
) -> Network:
    """Expanded words -> inputs and steps; ``,bn`` and ``act=`` become layers of their own."""
    inputs: list[InputSize] = []
    steps: list[Step] = []
    tokens = [token for token, _ in words]
    index = 0
    position = first_position
    while index < len(words):
        token, block = words[index]
        head, _, arg = token.text.partition(":")
        if head.lower() in ("input", "input=") or token.text.lower().startswith("input="):
            if token.text.lower().startswith("input="):
                inputs.append(InputSize("input", token.text.split("=", 1)[1], token.source))
                index += 1
            else:
                declared, index = _input_sizes(tokens, index)
                inputs += declared
            continue
        if head.lower() in _CONTROL:
            name = arg.strip() or ("output" if head.lower() == "out" else "")
            if not re.match(_NAME, name):
                raise SpecError(f"{_at(token)}'{token.text}': {head} needs a name "
                                f"({head}:NAME)")  # fmt: skip
            steps.append(Step(head.lower(), name=name, block=block, source=token.source))
            index += 1
            continue
        layer = parse_layer(token.text, position, token.source)
        for part in _with_norm_and_act(layer):
            steps.append(Step("layer", part, block=block, source=token.source))
            position += 1
        index += 1
    names = [entry.name for entry in inputs]
    for name in names:
        if names.count(name) > 1:
            entry = [e for e in inputs if e.name == name][1]
            raise SpecError(f"{_at(entry)}input {name!r} is given twice")
    return Network(tuple(inputs), tuple(steps))


def _with_norm_and_act(layer: Layer) -> list[Layer]:
    """``conv:64,k=3,bn,act=relu`` -> the conv, a ``bn`` and a ``relu``."""
    if layer.kind in ("se", "mlp") or not (layer.norm or layer.act):
        return [layer]
    if layer.kind == "sepconv":
        raise SpecError(f"{layer.label(0)}: bn and act= are not taken by sepconv; write "
                        "dwconv:...,bn,act=relu pwconv:C,bn,act=relu")  # fmt: skip
    layers = [replace(layer, norm="", act="")]
    if layer.norm:
        layers.append(Layer(layer.norm, word=layer.norm, source=layer.source, rank=layer.rank))
    if layer.act:
        layers.append(Layer(layer.act, word=layer.act, source=layer.source, rank=layer.rank))
    return layers


def parse_network(text: str | Sequence[str], origin: str = "", first_position: int = 1) -> Network:
    """A network from its text (or from words already split, such as command-line
    arguments).

    Parameters
    ----------
    text : str or sequence of str
        Net text, or words (each may hold several, separated by spaces).
    origin : str
        A file name, to label errors ``origin:LINE``.
    first_position : int
        The number of the first layer in messages (words after a net file continue it).

    Returns
    -------
    Network

    Raises
    ------
    SpecError
        A malformed word, an unclosed block, an unknown block, an input given twice.

    >>> net = parse_network("def:b,c conv:%c,k=3,p=1 relu end repeat:2 use:b,8 end")
    >>> [layer.word for layer in net.layers]
    ['conv:8,k=3,p=1', 'relu', 'conv:8,k=3,p=1', 'relu']
    """
    if isinstance(text, str):
        tokens = tokenize(text, origin)
    else:
        tokens = [
            Token(word)  # a command-line word: its layer number and text locate it
            for arg in text
            for word in arg.split()
        ]
    return _steps(_expand(tokens, _Expansion()), first_position)


def read_network(path: str | Path, origin: str | None = None) -> Network:
    """Read and parse a net file (UTF-8, BOM and CRLF accepted).

    A missing, unreadable or empty file is a :class:`ConvcliError` naming it.
    """
    path = Path(path)
    try:
        if not path.exists():
            raise ConvcliError(f"net file not found: {path}")
        if not path.is_file():
            raise ConvcliError(f"net file is not a regular file: {path}")
        if path.stat().st_size > 16 * 2**20:
            raise ConvcliError(f"net file is larger than 16 MiB: {path}")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConvcliError(f"net file is not UTF-8 text: {path}") from None
    try:
        network = parse_network(text, origin=origin or path.name)
    except SpecError as error:  # a file's content: failed input (exit 1), as a missing file
        raise ConvcliError(str(error)) from None
    if not network.layers:
        raise ConvcliError(f"net file has no layers: {path}")
    return network


def load_network(
    words: Sequence[str] = (),
    net: str | Path | None = None,
    preset: str | None = None,
    width_mult: float | None = None,
    layer: Layer | None = None,
) -> Network:
    """The network ``shape`` and ``compare`` analyse: a preset or a net file, then words,
    or one layer built from options.

    Parameters
    ----------
    words : sequence of str
        Words from the command line (they follow the preset or net file).
    net : path, optional
        A net file.
    preset : str, optional
        A preset name (:mod:`convcli.presets`).
    width_mult : float, optional
        MobileNet v1's width multiplier (only with ``preset="mobilenet_v1"``).
    layer : Layer, optional
        The single layer given as options (``-k 3 -s 2``); refused together with words.

    Returns
    -------
    Network

    Raises
    ------
    SpecError
        Both a preset and a net file, both words and a layer, or no layer at all.
    """
    network = Network((), ())
    if preset is not None:
        if net is not None:
            raise SpecError("give --preset or --net, not both")
        from convcli.presets import preset_network  # tables: loaded only when asked for

        network = preset_network(preset, width_mult)
    elif width_mult is not None:
        raise SpecError("--width-mult needs --preset mobilenet_v1")
    if net is not None:
        network = read_network(net)
    if words:
        network = network.extended(parse_network(words, first_position=len(network.layers) + 1))
    if network.layers and layer is not None:
        raise SpecError(
            "give the layer either as options (-k, -s, -p, ...) or as LAYER words / --net, not both"
        )
    if not network.layers:
        if layer is None:
            raise SpecError(
                "no layer: give -k K (with -s, -p, -c, ...), LAYER words such as "
                "conv:64,k=3,p=1, or --net FILE"
            )
        network = network.extended(Network.chain([layer]))
    return network


@dataclass(frozen=True)
class Source:
    """Where ``shape`` and ``compare`` take a network from, as the user gave it: words, a
    net file or a preset (with MobileNet's width multiplier), or one layer from options;
    and the INPUT size, its order and ``--resolution``."""

    words: tuple[str, ...] = ()
    net: str | Path | None = None
    preset: str | None = None
    width_mult: float | None = None
    layer: Layer | None = None
    input_size: str | None = None
    channels_last: bool = False
    resolution: int | None = None

    def load(self) -> tuple[Network, dict[str, Shape], list[str]]:
        """The network, its input shapes and notes on how they were read: the one loader
        of ``shape`` and ``compare``.

        >>> net, inputs, notes = Source(preset="resnet18", resolution=64).load()
        >>> len(net.layers), str(inputs["input"]), notes
        (69, '3x64x64', [])
        """
        words = list(self.words)
        input_size = self.input_size
        if input_size is not None and not input_size.strip()[:1].isdigit():
            words.insert(0, input_size)  # no INPUT: the net file must give it
            input_size = None
        net = self.net
        if net is None and words and words[0].lower().endswith(".onnx"):
            net = words.pop(0)  # convcli shape [INPUT] model.onnx [LAYER ...]
        if net is not None and str(net).lower().endswith(".onnx"):
            from convcli.onnx_net import load_model  # onnx: imported for model files only

            if self.resolution is not None:
                raise SpecError("--resolution is for presets; give an ONNX model its INPUT")
            return load_model(net, words, input_size, self.channels_last, self.preset,
                              self.layer, self.width_mult)  # fmt: skip
        network = load_network(words, net, self.preset, self.width_mult, self.layer)
        origin = "preset" if self.preset else "net file" if net is not None else "words"
        inputs, notes = resolve_inputs(network, input_size, self.channels_last, origin)
        if self.resolution is not None and inputs:
            from convcli.presets import with_resolution

            first = next(iter(inputs))
            resized = with_resolution(inputs[first], self.resolution)
            if input_size is not None and resized != inputs[first]:  # said, not silent
                notes.append(f"note: --resolution {self.resolution} makes INPUT {input_size} "
                             f"{resized}")  # fmt: skip
            inputs[first] = resized
        return network, inputs, notes


def size_network(
    source: Source, dtype_bytes: int = 4, count_elementwise: bool = False
) -> ChainReport:
    """``convcli shape``: load the network of ``source`` and walk it.

    Parameters
    ----------
    source : Source
        Words, net file, preset or one layer, and the input.
    dtype_bytes : int
        Bytes per activation element.
    count_elementwise : bool
        Count element operations as MACs.

    Returns
    -------
    ChainReport

    >>> report = size_network(Source(("conv:64,k=7,s=2,p=3",), input_size="3x224x224"))
    >>> str(report.output), report.total.params
    ('64x112x112', 9472)
    """
    network, inputs, notes = source.load()
    return analyze_network(network, inputs, dtype_bytes, count_elementwise, notes)


# ---------------------------------------------------------------------------------------
# Input sizes, read for the network's rank


def read_size(text: str, rank: int = 2, channels_last: bool = False) -> tuple[Shape, str]:
    """A size for a network of ``rank`` spatial dimensions, and a note when the reading
    is a guess (an empty string otherwise).

    ``768f`` is 768 flat features, ``197x768t`` 197 tokens of 768; otherwise the last
    ``rank`` numbers are spatial, then channels, then the batch.

    Parameters
    ----------
    text : str
        The size as typed.
    rank : int
        Spatial axes of the network's first windowed layer.
    channels_last : bool
        Read the channels last (H x W x C).

    >>> read_size("3x16x112x112", 3)[0].dims(), read_size("768f")[0].dims()
    ([3, 16, 112, 112], [768])
    """
    from convcli.layers import parse_size

    cleaned = text.strip().lower().replace(" ", "")
    if not is_size_text(cleaned, "ft"):
        parse_size(text)  # raises the message that lists the forms
    if any(len(part) > 9 for part in split_dims(cleaned.rstrip("ft"))):
        raise SpecError(f"malformed size {text[:40]!r}: each number is at most 999,999,999")
    suffix = cleaned[-1] if cleaned[-1] in "ft" else ""
    dims = [int(part) for part in split_dims(cleaned.rstrip("ft"))]
    if min(dims) < 1:
        raise SpecError(f"malformed size {text!r}: every dimension must be >= 1")
    if suffix == "f":
        if len(dims) > 2:
            raise SpecError(f"malformed size {text!r}: features are F or NxF (e.g. 768f)")
        return Shape.features(dims[-1], dims[0] if len(dims) == 2 else None), ""
    if suffix == "t":
        if len(dims) not in (2, 3):
            raise SpecError(f"malformed size {text!r}: tokens are TxC or NxTxC (197x768t)")
        return Shape.token_shape(dims[-2], dims[-1], dims[0] if len(dims) == 3 else None), ""
    if rank == 2:
        shape = parse_size(cleaned, channels_last)
        note = ""
        if len(dims) in (3, 4) and not channels_last and dims[-1] <= 4 < dims[-3]:
            note = (f"note: {text} is read as C x H x W = {shape}; for H x W x C "
                    "(TensorFlow's order) add --channels-last")  # fmt: skip
        return shape, note
    return _ranked_size(text, dims, rank)


def _ranked_size(text: str, dims: list[int], rank: int) -> tuple[Shape, str]:
    forms = {1: "L, CxL or NxCxL", 3: "DxHxW, CxDxHxW or NxCxDxHxW"}[rank]
    if len(dims) < rank or len(dims) > rank + 2:
        raise SpecError(f"malformed size {text!r}: a {rank}-D network takes {forms}")
    spatial = dims[-rank:]
    channels = dims[-rank - 1] if len(dims) > rank else None
    batch = dims[0] if len(dims) == rank + 2 else None
    shape = Shape.of(channels, spatial, batch)
    form = ["N", "C", "D", "H", "W"][-len(dims) :] if rank == 3 else ["N", "C", "L"][-len(dims) :]
    note = f"note: {text} is read as {' x '.join(form)} for the {rank}-D layers"
    return shape, note


def resolve_inputs(
    network: Network,
    given: str | None = None,
    channels_last: bool = False,
    origin: str = "words",
) -> tuple[dict[str, Shape], list[str]]:
    """The network's input shapes, and notes on how they were read.

    ``given`` (the command line's INPUT) replaces the network's only input, with a note
    when the network declared one; a network with several inputs refuses it.

    Parameters
    ----------
    network : Network
        The parsed network.
    given : str or None
        The command line's INPUT, if any.
    channels_last : bool
        Read INPUT as H x W x C (the network's own inputs are C x H x W).
    origin : str
        What declared the network's input: ``"net file"``, ``"preset"`` or ``"words"``
        (typed on the command line).
    """
    declared = list(network.inputs)
    notes: list[str] = []
    if given is not None:
        if len(declared) > 1:
            names = ", ".join(entry.name for entry in declared)
            raise SpecError(f"INPUT {given} is ambiguous: the net declares inputs {names}; "
                            "change them in the file")  # fmt: skip
        if declared and declared[0].text != given:
            notes.append(f"note: INPUT {given} replaces the {origin}'s input {declared[0].text}")
        declared = [InputSize(declared[0].name if declared else "input", given)]
    shapes: dict[str, Shape] = {}
    # --channels-last, and the notes on how a size was read, are about what was typed
    # (INPUT, an input word); a net file's or a preset's input is C x H x W, as --to-net
    # writes it.
    typed = given is not None or origin == "words"
    for entry in declared:
        shape, note = read_size(entry.text, network.rank, channels_last and typed)
        shapes[entry.name] = shape
        if note and typed:
            notes.append(note)
    return shapes, notes


# ---------------------------------------------------------------------------------------
# The walk


@dataclass(frozen=True)
class _Tensor:
    shape: Shape
    field: Field
    label: str
    # The layer that made it (0 for an input) and the tensors it read: the graph's edges,
    # walked back once per output at the end (a set per tensor would grow with depth).
    position: int = 0
    reads: tuple[str, ...] = ()


@dataclass
class _Walk:
    """The walk's state: tensors by key, names, the current tensor."""

    tensors: dict[str, _Tensor]
    names: dict[str, str]
    current: str
    previous: str = ""
    outputs: dict[str, str] = field(default_factory=dict)

    def lookup(self, name: str, step: Step, what: str) -> str:
        if name not in self.names:
            known = ", ".join(sorted(self.names)) or "none yet"
            # A word typed is usage (exit 2); the same in a net file is failed input (1).
            error = ConvcliError if step.source else SpecError
            at = "" if step.source and step.source in what else _at(step)  # named once
            raise error(f"{at}{what}: no tensor named {name!r} (known: {known}); "
                        "tag:NAME must come first")  # fmt: skip
        return self.names[name]


def analyze_network(
    network: Network,
    inputs: dict[str, Shape],
    dtype_bytes: int = 4,
    count_elementwise: bool = False,
    notes: Sequence[str] = (),
) -> ChainReport:
    """Walk a network over its inputs: sizes, costs and receptive fields per layer.

    Parameters
    ----------
    network : Network
        The steps (layers and ``tag``/``from``/``out``).
    inputs : dict of str to Shape
        Every input by name (:func:`resolve_inputs`); the walk starts at the first.
    dtype_bytes : int
        Bytes per activation element, for memory.
    count_elementwise : bool
        Count element operations as MACs.
    notes : sequence of str
        Carried into the report (how the inputs were read).

    Returns
    -------
    ChainReport
        Layers in order; ``outputs`` the tensors marked ``out:`` (or the last one), each
        with the totals of the layers it depends on.

    Raises
    ------
    ConvcliError
        A tensor used before it is named, a mismatched merge, impossible geometry.
    """
    if not inputs:
        raise SpecError("missing INPUT size (e.g. 3x224x224): give it first, or as 'input "
                        "SIZE' in the net file")  # fmt: skip
    walk = _Walk({}, {}, "")
    for name, shape in inputs.items():
        walk.tensors[name] = _Tensor(shape, Field.start(shape), name)
        walk.names[name] = name
    walk.current = walk.previous = next(iter(inputs))
    reports: list[LayerReport] = []
    for step in network.steps:
        if step.layer is None:
            _control(walk, step)
            continue
        reports.append(_layer(walk, step, len(reports) + 1, dtype_bytes, count_elementwise))
    if not walk.outputs:
        walk.outputs["output"] = walk.current
    outputs = {name: walk.tensors[key].shape for name, key in walk.outputs.items()}
    output_totals = {name: _totals_of(reports, _made_by(walk, key))
                     for name, key in walk.outputs.items()}  # fmt: skip
    first = next(iter(inputs.values()))
    return ChainReport(first, tuple(reports), Totals.of(reports), dtype_bytes, dict(inputs),
                       outputs, output_totals, tuple(notes), count_elementwise)  # fmt: skip


def _totals_of(reports: Sequence[LayerReport], positions: set[int]) -> Totals:
    return Totals.of([r for r in reports if r.position in positions])


def _made_by(walk: _Walk, key: str) -> set[int]:
    """The positions of the layers tensor ``key`` depends on (its ancestors)."""
    positions: set[int] = set()
    seen = {key}
    pending = [key]
    while pending:
        tensor = walk.tensors[pending.pop()]
        if tensor.position:
            positions.add(tensor.position)
        fresh = [k for k in tensor.reads if k not in seen]
        seen.update(fresh)
        pending.extend(fresh)
    return positions


def _control(walk: _Walk, step: Step) -> None:
    if step.action == "tag":
        walk.names[step.name] = walk.current
        tensor = walk.tensors[walk.current]
        walk.tensors[walk.current] = replace(tensor, label=step.name)
    elif step.action == "from":
        walk.current = walk.lookup(step.name, step, f"from:{step.name}")
    elif step.action == "out":
        if step.name in walk.outputs:
            raise ConvcliError(f"{_at(step)}out:{step.name} is marked twice")
        walk.outputs[step.name] = walk.current


def _layer(
    walk: _Walk, step: Step, position: int, dtype_bytes: int, count_elementwise: bool
) -> LayerReport:
    layer = step.layer
    assert layer is not None
    label = layer.label(position)
    keys = [walk.current] + [walk.lookup(name, step, label) for name in layer.refs]
    read = [walk.tensors[key] for key in keys]
    report, out_field = layer_report(
        position, layer, [t.shape for t in read], [t.field for t in read], dtype_bytes, label,
        count_elementwise,
    )  # fmt: skip
    reads = tuple(t.label for t in read) if walk.current != walk.previous or layer.refs else ()
    key = f"#{position}"
    walk.tensors[key] = _Tensor(report.output, out_field, key, position, tuple(keys))
    walk.current = walk.previous = key
    block = tuple(label for label, _ in step.block)
    return replace(report, reads=reads, inputs=tuple(keys), block=block,
                   instance=tuple(number for _, number in step.block))  # fmt: skip


def fold_blocks(layers: Sequence[LayerReport], depth: int) -> list[LayerReport]:
    """Rows for ``--depth N``: layers inside ``depth`` or more nested blocks are folded
    into one row per block instance at level ``depth`` (torchinfo's depth: 1 shows the
    top-level words and one row per top-level block); totals are unchanged.

    A folded row is labelled with the block's word (``use:down,128,512,2`` or
    ``repeat:3 (2 of 3)``), reads what its first layer reads and has its last layer's
    output and receptive field.

    >>> net = parse_network("input 8x8x8 repeat:2 conv:8,k=3,p=1 relu end fc:2")
    >>> report = analyze_network(net, resolve_inputs(net)[0])
    >>> [(r.spec, r.params) for r in fold_blocks(report.layers, 1)]
    [('repeat:2 (1 of 2)', 584), ('repeat:2 (2 of 2)', 584), ('fc:2', 1026)]
    """
    rows: list[LayerReport] = []
    group: list[LayerReport] = []

    def key(layer: LayerReport) -> tuple[int, ...] | None:
        return layer.instance[:depth] if len(layer.block) >= depth else None

    def flush() -> None:
        if not group:
            return
        first, last = group[0], group[-1]
        total = Totals.of(group)
        label = first.block[depth - 1]
        rows.append(replace(
            last, position=first.position, layer=Layer("block", word=label), input=first.input,
            params=total.params, macs=total.macs, window_ops=total.window_ops,
            memory_bytes=total.memory_bytes, buffers=total.buffers,
            elementwise_ops=total.elementwise_ops, padding=first.padding, parts=(),
            warnings=tuple(w for layer in group for w in layer.warnings), reads=first.reads,
            inputs=first.inputs, block=first.block[: depth - 1],
            instance=first.instance[: depth - 1],
        ))  # fmt: skip
        group.clear()

    for layer in layers:
        if group and key(layer) != key(group[0]):
            flush()
        if key(layer) is None:
            rows.append(layer)
        else:
            group.append(layer)
    flush()
    return rows
