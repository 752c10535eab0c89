"""Network presets: published layer tables written as LAYER words.

Each preset is the layer table of its paper, row by row, in the LAYER-word syntax of
``convcli shape`` (one word per layer). Nothing here is a total: parameters and
multiply-adds are always computed from these words by :mod:`convcli.geometry`, so a
preset that disagrees with its paper shows up as a wrong total, not a hidden one.
``samples/<name>.net`` holds the same words as files (see :func:`net_file_text`).

=============  ===============================================  ===========
preset         source                                           input
=============  ===============================================  ===========
lenet5         LeCun et al. 1998, Fig. 2 (full C3, avg pools)   1x32x32
alexnet        torchvision ``alexnet`` (Krizhevsky 2014)        3x224x224
vgg16          Simonyan & Zisserman 2015, Table 1, config. D    3x224x224
mobilenet_v1   Howard et al. 2017, Table 1                      3x224x224
=============  ===============================================  ===========

This module imports nothing heavy: ``convcli shape --preset`` must start fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convcli.errors import SpecError
from convcli.geometry import Layer, Shape
from convcli.layers import parse_layer, parse_size
from convcli.network import InputSize, Network, read_network

NetRows = list[tuple[str, str]]
"""A net as ``(LAYER word, the paper's description of that row)`` pairs."""


def _lenet5() -> NetRows:
    # LeCun et al. 1998, Fig. 2. Two simplifications that every modern LeNet-5 makes:
    # S2/S4 are plain 2x2 average pools (the paper's subsampling also has a trainable
    # weight and bias per map), and C3 connects all 6 maps to all 16 (the paper's
    # connection table uses 60 of the 96 pairs). C5 is a 5x5 conv on a 5x5 map, i.e. a
    # fully connected layer on the 400 flattened values; F6 and the output follow.
    return [
        ("conv:6,k=5", "C1: 6 feature maps 28x28, 5x5 kernels"),
        ("avgpool:k=2", "S2: subsampling 2x2 -> 6@14x14"),
        ("conv:16,k=5", "C3: 16 feature maps 10x10, 5x5 kernels"),
        ("avgpool:k=2", "S4: subsampling 2x2 -> 16@5x5"),
        ("flatten", "16x5x5 -> 400"),
        ("fc:120", "C5: 120 units (a 5x5 conv on a 5x5 map)"),
        ("fc:84", "F6: 84 units"),
        ("fc:10", "output: 10 classes"),
    ]


def _alexnet() -> NetRows:
    # torchvision's AlexNet, the single-GPU variant of Krizhevsky's "One weird trick"
    # paper (2014): 64-192-384-256-256 channels, no grouping, no LRN. Its
    # AdaptiveAvgPool2d((6, 6)) is the identity on the 6x6 maps of a 224x224 input, so
    # it is left out; at other sizes fc:4096 sees a different number of inputs.
    return [
        ("conv:64,k=11,s=4,p=2", "conv1: 64 kernels 11x11, stride 4"),
        ("maxpool:k=3,s=2", "pool1: max 3x3, stride 2"),
        ("conv:192,k=5,p=2", "conv2: 192 kernels 5x5"),
        ("maxpool:k=3,s=2", "pool2: max 3x3, stride 2"),
        ("conv:384,k=3,p=1", "conv3: 384 kernels 3x3"),
        ("conv:256,k=3,p=1", "conv4: 256 kernels 3x3"),
        ("conv:256,k=3,p=1", "conv5: 256 kernels 3x3"),
        ("maxpool:k=3,s=2", "pool5: max 3x3, stride 2 -> 256@6x6"),
        ("flatten", "256x6x6 -> 9216"),
        ("fc:4096", "fc6"),
        ("fc:4096", "fc7"),
        ("fc:1000", "fc8: 1000 classes"),
    ]


def _vgg16() -> NetRows:
    # Simonyan & Zisserman, Table 1, configuration D: 3x3 convolutions with padding 1
    # ("conv3-N"), 2x2 max pools with stride 2, then FC-4096, FC-4096, FC-1000.
    rows: NetRows = []
    for block, (channels, repeat) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))):
        for index in range(repeat):
            rows.append(
                (f"conv:{channels},k=3,p=1", f"conv3-{channels} (block {block + 1}.{index + 1})")
            )
        rows.append(("maxpool:k=2,s=2", "maxpool 2x2, stride 2"))
    rows.append(("flatten", "512x7x7 -> 25088"))
    rows += [("fc:4096", "FC-4096"), ("fc:4096", "FC-4096"), ("fc:1000", "FC-1000")]
    return rows


# Howard et al. 2017, Table 1: after the first full convolution, 13 depthwise-separable
# blocks given as (stride of the depthwise 3x3, output channels of the pointwise 1x1).
# The table prints the last depthwise layer as "s2", but its input and output are both
# 7x7x1024: it is stride 1, as in the reference implementation (TF-slim mobilenet_v1).
_MOBILENET_V1_FIRST_CONV = 32
_MOBILENET_V1_BLOCKS: tuple[tuple[int, int], ...] = (
    (1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512),
    (1, 512), (1, 512), (1, 512), (1, 512), (1, 512),
    (2, 1024), (1, 1024),
)  # fmt: skip
_MOBILENET_V1_CLASSES = 1000
MOBILENET_MIN_CHANNELS = 8
"""Floor on every thinned channel count (TF-slim's ``min_depth``)."""


def mobilenet_channels(channels: int, width_mult: float) -> int:
    """Channels of a MobileNet layer thinned by the width multiplier alpha.

    Parameters
    ----------
    channels : int
        The channel count at ``width_mult = 1``.
    width_mult : float
        alpha, > 0.

    Returns
    -------
    int

    Notes
    -----
    ``max(int(channels * alpha), 8)``: truncation with a floor of 8, the rule of the
    paper's reference implementation (TF-slim ``depth = max(int(d * alpha), min_depth)``).
    For the paper's multipliers 1, 0.75, 0.5 and 0.25 every product is already an
    integer >= 8, so the rule only matters for other values.

    Examples
    --------
    >>> mobilenet_channels(1024, 0.75), mobilenet_channels(32, 0.1)
    (768, 8)
    """
    return max(int(channels * width_mult), MOBILENET_MIN_CHANNELS)


def _mobilenet_v1(width_mult: float = 1.0) -> NetRows:
    # No convolution has a bias: each is followed by batch normalisation, which is not
    # counted (BN folds into the weights at inference). The classifier has its bias.
    def thin(channels: int) -> int:
        return mobilenet_channels(channels, width_mult)

    in_channels = thin(_MOBILENET_V1_FIRST_CONV)
    rows: NetRows = [
        (f"conv:{in_channels},k=3,s=2,p=1,bias=false", f"Conv / s2: 3x3x3x{in_channels}"),
    ]
    for stride, channels in _MOBILENET_V1_BLOCKS:
        out_channels = thin(channels)
        rows.append(
            (
                f"dwconv:k=3,s={stride},p=1,bias=false",
                f"Conv dw / s{stride}: 3x3x{in_channels} dw",
            )
        )
        rows.append(
            (
                f"pwconv:{out_channels},bias=false",
                f"Conv / s1: 1x1x{in_channels}x{out_channels}",
            )
        )
        in_channels = out_channels
    rows += [
        ("gap", "Avg Pool / s1: pool 7x7 (global, so other resolutions work)"),
        ("flatten", f"{in_channels}x1x1 -> {in_channels}"),
        (f"fc:{_MOBILENET_V1_CLASSES}", f"FC / s1: {in_channels}x{_MOBILENET_V1_CLASSES}"),
    ]
    return rows


@dataclass(frozen=True)
class Preset:
    """One published network: where it comes from, its usual input, its layer table."""

    name: str
    title: str
    source: str
    input_size: str  # C x H x W, the paper's input
    rows: Callable[..., NetRows]
    width_mult: bool = False  # whether --width-mult applies


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "lenet5",
            "LeNet-5",
            "LeCun et al. 1998, Fig. 2 (C3 fully connected, S2/S4 as 2x2 average pools)",
            "1x32x32",
            _lenet5,
        ),
        Preset(
            "alexnet",
            "AlexNet (torchvision)",
            "torchvision alexnet = Krizhevsky 2014, 'One weird trick', single tower",
            "3x224x224",
            _alexnet,
        ),
        Preset(
            "vgg16",
            "VGG-16",
            "Simonyan & Zisserman 2015, Table 1, configuration D",
            "3x224x224",
            _vgg16,
        ),
        Preset(
            "mobilenet_v1",
            "MobileNet v1",
            "Howard et al. 2017, Table 1 (last depthwise layer stride 1, as in TF-slim)",
            "3x224x224",
            _mobilenet_v1,
            width_mult=True,
        ),
    )
}
"""Known presets by name."""


#: Networks with branches, written as net files in ``convcli/nets`` (``samples/`` holds
#: copies): name -> (title, source). Each is checked against a torch-built model in
#: ``tests/data/graph_torch.json``.
NET_PRESETS: dict[str, tuple[str, str]] = {
    "resnet18": ("ResNet-18", "He et al. 2016; torchvision resnet18"),
    "resnet50": ("ResNet-50", "He et al. 2016; torchvision resnet50 (v1.5)"),
    "mobilenet_v2": ("MobileNetV2", "Sandler et al. 2018; torchvision mobilenet_v2"),
    "efficientnet_b0": ("EfficientNet-B0", "Tan & Le 2019; torchvision efficientnet_b0"),
    "densenet121": ("DenseNet-121", "Huang et al. 2017; torchvision densenet121"),
    "vgg16_bn": ("VGG-16 with batch norm", "torchvision vgg16_bn"),
    "unet": ("U-Net", "Ronneberger et al. 2015; milesial/Pytorch-UNet, bilinear=False"),
    "r3d_18": ("R3D-18", "Tran et al. 2018; torchvision r3d_18 (Conv3d)"),
    "vit_b_16": ("ViT-B/16", "Dosovitskiy et al. 2021; torchvision vit_b_16"),
}
NETS = Path(__file__).parent / "nets"


def preset_network(name: str, width_mult: float | None = None) -> Network:
    """The preset as a :class:`~convcli.network.Network`, with its input declared.

    Examples
    --------
    >>> net = preset_network("resnet50")
    >>> net.inputs[0].text, len(net.layers)
    ('3x224x224', 175)
    """
    key = name.strip().lower().replace("-", "_")
    if key in NET_PRESETS:
        if width_mult is not None:
            raise SpecError(f"--width-mult applies only to mobilenet_v1, not to preset {key!r}")
        return read_network(NETS / f"{key}.net", origin=f"preset {key}")
    preset = get_preset(name)
    inputs = (InputSize("input", preset.input_size, f"preset {preset.name}"),)
    return Network(inputs, Network.chain(preset_layers(name, width_mult)).steps)


def preset_names() -> list[str]:
    """The known preset names, sorted."""
    return sorted([*PRESETS, *NET_PRESETS])


def get_preset(name: str) -> Preset:
    """The preset called ``name``; a :class:`SpecError` listing the known ones otherwise.

    Examples
    --------
    >>> get_preset("vgg16").input_size
    '3x224x224'
    """
    try:
        return PRESETS[name.strip().lower().replace("-", "_")]
    except KeyError:
        raise SpecError(
            f"unknown preset {name!r}; known presets: {', '.join(preset_names())}"
        ) from None


def get_preset_name(name: str) -> str:
    """The canonical name of a preset (``ResNet-50`` -> ``resnet50``), checked.

    >>> get_preset_name("MobileNet-V2")
    'mobilenet_v2'
    """
    key = name.strip().lower().replace("-", "_")
    return key if key in NET_PRESETS else get_preset(name).name


def preset_rows(name: str, width_mult: float | None = None) -> NetRows:
    """The preset's layer table as ``(word, description)`` rows.

    Parameters
    ----------
    name : str
        A preset name (see :func:`preset_names`).
    width_mult : float, optional
        MobileNet's width multiplier alpha (> 0); only ``mobilenet_v1`` takes one.

    Returns
    -------
    list of (str, str)
    """
    preset = get_preset(name)
    if width_mult is None:
        return preset.rows()
    if not preset.width_mult:
        raise SpecError(f"--width-mult applies only to mobilenet_v1, not to preset {preset.name!r}")
    if not (math.isfinite(width_mult) and width_mult > 0):
        raise SpecError(f"--width-mult must be a finite number > 0, got {width_mult:g}")
    return preset.rows(width_mult)


def preset_words(name: str, width_mult: float | None = None) -> list[str]:
    """The preset's LAYER words, one per layer.

    Examples
    --------
    >>> preset_words("lenet5")[:2]
    ['conv:6,k=5', 'avgpool:k=2']
    """
    return [word for word, _ in preset_rows(name, width_mult)]


def preset_layers(name: str, width_mult: float | None = None) -> list[Layer]:
    """The preset's layers, parsed from its words (errors name ``preset NAME``).

    Examples
    --------
    >>> [layer.kind for layer in preset_layers("lenet5")][:3]
    ['conv', 'avgpool', 'conv']
    """
    source = f"preset {get_preset(name).name}"
    return [
        parse_layer(word, position, source)
        for position, word in enumerate(preset_words(name, width_mult), start=1)
    ]


def preset_shape(name: str, resolution: int | None = None) -> Shape:
    """The preset's input as a :class:`~convcli.geometry.Shape` (see :func:`preset_input`)."""
    return parse_size(preset_input(name, resolution))


def preset_input(name: str, resolution: int | None = None) -> str:
    """The preset's input size as ``CxHxW``; ``resolution`` replaces H and W.

    Examples
    --------
    >>> preset_input("mobilenet_v1", resolution=160)
    '3x160x160'
    """
    input_size = get_preset(name).input_size
    if resolution is None:
        return input_size
    side = check_resolution(resolution)
    channels = input_size.split("x")[0]
    return f"{channels}x{side}x{side}"


def with_resolution(shape: Shape, resolution: int | None) -> Shape:
    """``shape`` with its height and width set to ``resolution`` (``--resolution``).

    Examples
    --------
    >>> str(with_resolution(Shape(3, 224, 224), 128))
    '3x128x128'
    """
    if resolution is None:
        return shape
    side = check_resolution(resolution)
    # The last two axes are height and width, whatever the rank (a video's depth is kept).
    spatial = (*shape.spatial[:-2], side, side) if len(shape.spatial) >= 2 else (side, side)
    return Shape.of(shape.channels, spatial, shape.batch)


def check_resolution(resolution: int) -> int:
    """``resolution`` if it is a usable input size (>= 1); a :class:`SpecError` otherwise."""
    if resolution < 1:
        raise SpecError(f"--resolution must be >= 1, got {resolution}")
    return resolution


def net_file_text(name: str, width_mult: float | None = None) -> str:
    """The preset as a net file (the format of ``--net``), with the paper's row names.

    ``samples/<name>.net`` is exactly this text, so users can copy and edit a preset.
    """
    preset = get_preset(name)
    rows = preset_rows(name, width_mult)
    width = max(len(word) for word, _ in rows) + 2
    lines = [
        f"# {preset.title}: {preset.source}.",
        "# One LAYER word per line; '#' starts a comment; 'input' gives the size (C x H x W).",
        f"# Try: convcli shape {preset.input_size} --net samples/{preset.name}.net",
        "",
        f"input {preset.input_size}",
    ]
    lines += [f"{word:<{width}}# {description}" for word, description in rows]
    return "\n".join(lines) + "\n"
