"""Generate tests/data/graph_torch.json: PyTorch's view of whole networks and of single words.

The architectures are written out here in plain torch (torchvision is not installed),
mirroring torchvision's own code, including the order in which ``forward`` calls the
modules: ResNet-18/50 (v1.5), MobileNet v2, EfficientNet-B0, DenseNet-121, VGG-16 with
and without batch norm, the video R3D-18 and ViT-B/16; plus milesial's Pytorch-UNet. The
``words`` section holds one small module per convcli graph word (``add``, ``cat``, ``mul``,
``up``, ``shuffle``, ``pad``, crop, attention, ...), built from what the word means rather
than from convcli's code.

Re-run with the PyTorch venv (under half a minute on 2 cores; the test suite never imports torch):

    /work/torchenv/bin/python tests/data/make_graph_fixture.py

Every model runs once in eval mode on a batch-1 zero tensor. Recorded per model/case:

- ``input`` / ``output``: shapes without the batch dimension;
- ``params``: ``sum(p.numel())`` over all parameters (class tokens and position
  embeddings included); ``buffers``: BatchNorm ``running_mean`` + ``running_var`` elements
  (``num_batches_tracked`` excluded);
- ``macs``: ``torch.utils.flop_counter.FlopCounterMode`` total / 2. Two things keep torch
  from losing attention's matrix products: grad stays enabled (under ``no_grad``
  ``nn.MultiheadAttention`` takes its fused fast path, which the counter does not see), and
  ``scaled_dot_product_attention`` is pinned to the math backend (the counter has no
  formula for the CPU flash kernel). Neither changes any other count.
- ``layers``: every call, in execution order, of a leaf module or of an
  ``nn.MultiheadAttention`` (one unit; output = its first output), via forward hooks: type,
  output shape, parameters. A module called twice (ResNet's ``relu``) is listed twice;
  Dropout, Identity and StochasticDepth are kept. Functional ops (``torch.cat``,
  ``F.pad``, ``torch.flatten``, ``+``) are not modules and do not appear.

``mobilenet_v2_standard`` is MobileNet v2 with each depthwise + projection pair replaced by
one standard 3x3 convolution (see ``InvertedResidual``): its MACs, its conv + linear
parameters and a note saying which variant it is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

OUT = Path(__file__).with_name("graph_torch.json")


# --- torchvision building blocks ---------------------------------------------------------


def conv_norm_act(
    in_channels: int,
    out_channels: int,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None = nn.ReLU6,
) -> nn.Sequential:
    """torchvision.ops.Conv2dNormActivation: conv (no bias), BatchNorm2d, activation."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            (kernel_size - 1) // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_channels),
    ]
    if activation is not None:
        layers.append(activation(inplace=True))
    return nn.Sequential(*layers)


# --- ResNet (torchvision.models.resnet) --------------------------------------------------


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)  # v1.5: stride here
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, block: type[BasicBlock | Bottleneck], layers: list[int]) -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, 1000)

    def _make_layer(
        self, block: type[BasicBlock | Bottleneck], planes: int, blocks: int, stride: int = 1
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# --- MobileNet v2 (torchvision.models.mobilenetv2) ---------------------------------------


class InvertedResidual(nn.Module):
    """``standard=True``: depthwise 3x3 + BN + ReLU6 + 1x1 projection become one standard 3x3
    conv (hidden -> oup, same stride, padding 1, no bias); the projection's BN stays."""

    def __init__(
        self, inp: int, oup: int, stride: int, expand_ratio: int, standard: bool = False
    ) -> None:
        super().__init__()
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(conv_norm_act(inp, hidden_dim, kernel_size=1))
        if standard:
            layers.append(nn.Conv2d(hidden_dim, oup, 3, stride, 1, bias=False))
        else:
            layers += [
                conv_norm_act(hidden_dim, hidden_dim, stride=stride, groups=hidden_dim),
                nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False),
            ]
        layers.append(nn.BatchNorm2d(oup))
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    SETTING = [
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    ]

    def __init__(self, standard: bool = False) -> None:
        super().__init__()
        input_channel = 32
        features: list[nn.Module] = [conv_norm_act(3, input_channel, stride=2)]
        for t, c, n, s in self.SETTING:
            for i in range(n):
                stride = s if i == 0 else 1
                features.append(InvertedResidual(input_channel, c, stride, t, standard))
                input_channel = c
        features.append(conv_norm_act(input_channel, 1280, kernel_size=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(1280, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = nn.functional.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


# --- EfficientNet-B0 (torchvision.models.efficientnet) -----------------------------------


class StochasticDepth(nn.Module):
    """torchvision.ops.StochasticDepth: the identity in eval mode."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x  # training-only row dropping is not needed here


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation."""

    def __init__(
        self, input_channels: int, squeeze_channels: int, activation: type[nn.Module] = nn.ReLU
    ) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.fc2(self.activation(self.fc1(self.avgpool(x))))
        return self.scale_activation(scale) * x


class MBConv(nn.Module):
    def __init__(
        self,
        expand_ratio: int,
        kernel: int,
        stride: int,
        input_channels: int,
        out_channels: int,
        sd_prob: float,
    ) -> None:
        super().__init__()
        self.use_res_connect = stride == 1 and input_channels == out_channels
        expanded = input_channels * expand_ratio
        layers: list[nn.Module] = []
        if expanded != input_channels:
            layers.append(conv_norm_act(input_channels, expanded, 1, activation=nn.SiLU))
        layers.append(conv_norm_act(expanded, expanded, kernel, stride, expanded, nn.SiLU))
        layers.append(SqueezeExcitation(expanded, max(1, input_channels // 4), nn.SiLU))
        layers.append(conv_norm_act(expanded, out_channels, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.stochastic_depth = StochasticDepth(sd_prob, "row")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        result = self.block(x)
        if self.use_res_connect:
            result = self.stochastic_depth(result)
            result += x
        return result


class EfficientNetB0(nn.Module):
    # expand_ratio, kernel, stride, input_channels, out_channels, num_layers
    SETTING = [
        (1, 3, 1, 32, 16, 1),
        (6, 3, 2, 16, 24, 2),
        (6, 5, 2, 24, 40, 2),
        (6, 3, 2, 40, 80, 3),
        (6, 5, 1, 80, 112, 3),
        (6, 5, 2, 112, 192, 4),
        (6, 3, 1, 192, 320, 1),
    ]

    def __init__(self, stochastic_depth_prob: float = 0.2) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv_norm_act(3, 32, 3, 2, activation=nn.SiLU)]
        total_blocks = sum(row[-1] for row in self.SETTING)
        block_id = 0
        for expand, kernel, stride, cin, cout, num_layers in self.SETTING:
            stage: list[nn.Module] = []
            for i in range(num_layers):
                sd_prob = stochastic_depth_prob * block_id / total_blocks
                stage.append(
                    MBConv(
                        expand,
                        kernel,
                        stride if i == 0 else 1,
                        cin if i == 0 else cout,
                        cout,
                        sd_prob,
                    )
                )
                block_id += 1
            layers.append(nn.Sequential(*stage))
        layers.append(conv_norm_act(320, 1280, 1, activation=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=0.2, inplace=True), nn.Linear(1280, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# --- DenseNet-121 (torchvision.models.densenet) ------------------------------------------


class DenseLayer(nn.Module):
    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, 1, 1, bias=False)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        concated = torch.cat(features, 1)
        bottleneck = self.conv1(self.relu1(self.norm1(concated)))
        return self.conv2(self.relu2(self.norm2(bottleneck)))  # drop_rate = 0: no dropout


class DenseBlock(nn.ModuleDict):
    def __init__(
        self, num_layers: int, num_input_features: int, bn_size: int, growth_rate: int
    ) -> None:
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size)
            self.add_module(f"denselayer{i + 1}", layer)

    def forward(self, init_features: torch.Tensor) -> torch.Tensor:
        features = [init_features]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


def transition(num_input_features: int, num_output_features: int) -> nn.Sequential:
    return nn.Sequential(
        nn.BatchNorm2d(num_input_features),
        nn.ReLU(inplace=True),
        nn.Conv2d(num_input_features, num_output_features, 1, bias=False),
        nn.AvgPool2d(2, 2),
    )


class DenseNet121(nn.Module):
    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, ...] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(3, num_init_features, 7, 2, 3, bias=False),
            nn.BatchNorm2d(num_init_features),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
        ]
        num_features = num_init_features
        for i, num_layers in enumerate(block_config):
            layers.append(DenseBlock(num_layers, num_features, bn_size, growth_rate))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                layers.append(transition(num_features, num_features // 2))
                num_features //= 2
        layers.append(nn.BatchNorm2d(num_features))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(num_features, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.features(x), inplace=True)
        out = torch.flatten(F.adaptive_avg_pool2d(out, (1, 1)), 1)
        return self.classifier(out)


# --- VGG-16 (torchvision.models.vgg, cfg "D") --------------------------------------------


def vgg16(batch_norm: bool) -> nn.Module:
    layers: list[nn.Module] = []
    in_channels = 3
    for value in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                  512, 512, 512, "M", 512, 512, 512, "M"]:  # fmt: skip
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, value, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(value))
        layers.append(nn.ReLU(inplace=True))
        in_channels = value

    class VGG(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*layers)
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.classifier = nn.Sequential(
                nn.Linear(512 * 7 * 7, 4096),
                nn.ReLU(True),
                nn.Dropout(p=0.5),
                nn.Linear(4096, 4096),
                nn.ReLU(True),
                nn.Dropout(p=0.5),
                nn.Linear(4096, 1000),
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.avgpool(self.features(x))
            return self.classifier(torch.flatten(x, 1))

    return VGG()


# --- U-Net (github.com/milesial/Pytorch-UNet, unet_parts.py) -----------------------------


def double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def down(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.MaxPool2d(2), double_conv(in_channels, out_channels))


class Up(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_channels, in_channels // 2, kernel_size=2, stride=2)
        self.conv = double_conv(in_channels, out_channels)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        diff_y = x2.size()[2] - x1.size()[2]
        diff_x = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):
    def __init__(self, n_channels: int = 3, n_classes: int = 2) -> None:
        super().__init__()  # bilinear=False
        self.inc = double_conv(n_channels, 64)
        self.down1 = down(64, 128)
        self.down2 = down(128, 256)
        self.down3 = down(256, 512)
        self.down4 = down(512, 1024)
        self.up1 = Up(1024, 512)
        self.up2 = Up(512, 256)
        self.up3 = Up(256, 128)
        self.up4 = Up(128, 64)
        self.outc = nn.Conv2d(64, n_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        x5 = self.down4(x4)
        x = self.up1(x5, x4)
        x = self.up2(x, x3)
        x = self.up3(x, x2)
        x = self.up4(x, x1)
        return self.outc(x)


# --- R3D-18 (torchvision.models.video.resnet) --------------------------------------------


class VideoBasicBlock(nn.Module):
    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None
    ) -> None:
        super().__init__()
        # Conv3DSimple is an nn.Conv3d subclass: kernel 3x3x3, padding 1, no bias.
        self.conv1 = nn.Sequential(
            nn.Conv3d(inplanes, planes, 3, stride, 1, bias=False),
            nn.BatchNorm3d(planes),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            nn.Conv3d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm3d(planes)
        )
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.conv2(self.conv1(x))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return self.relu(out)


class R3D18(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inplanes = 64
        self.stem = nn.Sequential(
            nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            nn.BatchNorm3d(64),
            nn.ReLU(inplace=True),
        )
        self.layer1 = self._make_layer(64, 2)
        self.layer2 = self._make_layer(128, 2, 2)
        self.layer3 = self._make_layer(256, 2, 2)
        self.layer4 = self._make_layer(512, 2, 2)
        self.avgpool = nn.AdaptiveAvgPool3d((1, 1, 1))
        self.fc = nn.Linear(512, 400)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv3d(self.inplanes, planes, 1, (stride, stride, stride), bias=False),
                nn.BatchNorm3d(planes),
            )
        layers = [VideoBasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [VideoBasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


# --- ViT-B/16 (torchvision.models.vision_transformer) ------------------------------------


class EncoderBlock(nn.Module):
    def __init__(self, num_heads: int, hidden_dim: int, mlp_dim: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.self_attention = nn.MultiheadAttention(hidden_dim, num_heads, batch_first=True)
        self.dropout = nn.Dropout(0.0)
        self.ln_2 = nn.LayerNorm(hidden_dim, eps=1e-6)
        self.mlp = nn.Sequential(  # MLPBlock
            nn.Linear(hidden_dim, mlp_dim),
            nn.GELU(),
            nn.Dropout(0.0),
            nn.Linear(mlp_dim, hidden_dim),
            nn.Dropout(0.0),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.ln_1(inputs)
        x, _ = self.self_attention(x, x, x, need_weights=False)
        x = self.dropout(x)
        x = x + inputs
        y = self.mlp(self.ln_2(x))
        return x + y


class Encoder(nn.Module):
    def __init__(
        self, seq_length: int, num_layers: int, num_heads: int, hidden_dim: int, mlp_dim: int
    ) -> None:
        super().__init__()
        self.pos_embedding = nn.Parameter(torch.empty(1, seq_length, hidden_dim).normal_(std=0.02))
        self.dropout = nn.Dropout(0.0)
        self.layers = nn.Sequential(
            *[EncoderBlock(num_heads, hidden_dim, mlp_dim) for _ in range(num_layers)]
        )
        self.ln = nn.LayerNorm(hidden_dim, eps=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pos_embedding
        return self.ln(self.layers(self.dropout(x)))


class VisionTransformer(nn.Module):
    def __init__(
        self,
        image_size: int = 224,
        patch_size: int = 16,
        num_layers: int = 12,
        num_heads: int = 12,
        hidden_dim: int = 768,
        mlp_dim: int = 3072,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.hidden_dim = hidden_dim
        self.conv_proj = nn.Conv2d(3, hidden_dim, patch_size, patch_size)
        seq_length = (image_size // patch_size) ** 2 + 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, hidden_dim))
        self.encoder = Encoder(seq_length, num_layers, num_heads, hidden_dim, mlp_dim)
        self.heads = nn.Sequential(nn.Linear(hidden_dim, 1000))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        x = self.conv_proj(x)
        x = x.reshape(n, self.hidden_dim, (h // self.patch_size) * (w // self.patch_size))
        x = x.permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        x = self.encoder(x)
        return self.heads(x[:, 0])


# --- per-word cases ----------------------------------------------------------------------


class Lambda(nn.Module):
    """A module whose forward is ``fn(self, x)``; submodules are attached as attributes."""

    def __init__(
        self, fn: Callable[[nn.Module, torch.Tensor], torch.Tensor], **modules: nn.Module
    ) -> None:
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self, x)


def crop_to(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Center-crop ``x`` spatially to ``like``'s size."""
    top = (x.shape[2] - like.shape[2]) // 2
    left = (x.shape[3] - like.shape[3]) // 2
    return x[:, :, top : top + like.shape[2], left : left + like.shape[3]]


class Attention(nn.Module):
    """A one-block transformer on a 64x14x14 map (the ``attn`` case)."""

    def __init__(self, dim: int = 64, tokens: int = 196, heads: int = 4) -> None:
        super().__init__()
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, tokens + 1, dim))
        self.ln_1 = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.ln = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2).transpose(1, 2)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = x + self.pos_embedding
        y = self.ln_1(x)
        x = x + self.attention(y, y, y, need_weights=False)[0]
        x = x + self.mlp(self.ln_2(x))
        return self.head(self.ln(x)[:, 0])


def conv_bn_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(),
    ]


def word_cases() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    return {
        "add": (
            Lambda(lambda m, x: m.conv(x) + x, conv=nn.Conv2d(16, 16, 3, padding=1)),
            (16, 32, 32),
        ),
        "cat": (
            Lambda(lambda m, x: torch.cat([m.conv(x), x], 1), conv=nn.Conv2d(16, 8, 3, padding=1)),
            (16, 32, 32),
        ),
        "mul": (
            Lambda(
                lambda m, x: x * m.sigmoid(m.conv(m.gap(x))),
                gap=nn.AdaptiveAvgPool2d(1),
                conv=nn.Conv2d(16, 16, 1),
                sigmoid=nn.Sigmoid(),
            ),
            (16, 32, 32),
        ),
        "up_nearest": (nn.Upsample(scale_factor=2, mode="nearest"), (16, 32, 32)),
        "up_bilinear": (
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            (16, 32, 32),
        ),
        "shuffle": (
            nn.Sequential(nn.Conv2d(16, 64, 3, padding=1), nn.PixelShuffle(2)),
            (16, 32, 32),
        ),
        "adaptive": (
            nn.Sequential(nn.AdaptiveAvgPool2d((7, 7)), nn.Flatten(), nn.Linear(512 * 49, 10)),
            (512, 15, 15),
        ),
        "pad": (
            Lambda(lambda m, x: m.conv(F.pad(x, (3, 4, 1, 2))), conv=nn.Conv2d(4, 4, 3)),
            (4, 10, 10),
        ),
        "crop": (
            Lambda(
                lambda m, x: torch.cat([crop_to(x, b := m.conv2(m.conv1(x))), b], 1),
                conv1=nn.Conv2d(8, 8, 3),
                conv2=nn.Conv2d(8, 8, 3),
            ),
            (8, 64, 64),
        ),
        "repeat": (
            nn.Sequential(
                *[m for _ in range(3) for m in (nn.Conv2d(16, 16, 3, padding=1), nn.ReLU())]
            ),
            (16, 32, 32),
        ),
        "def_use": (nn.Sequential(*conv_bn_relu(3, 32), *conv_bn_relu(32, 64)), (3, 32, 32)),
        "conv1d": (
            nn.Sequential(
                nn.Conv1d(4, 8, 5, stride=2),
                nn.MaxPool1d(2),
                nn.AvgPool1d(3, stride=1, padding=1),
                nn.ConvTranspose1d(8, 4, 4, stride=2, padding=1),
            ),
            (4, 100),
        ),
        "conv3d": (
            nn.Sequential(
                nn.Conv3d(3, 64, (3, 7, 7), stride=(1, 2, 2), padding=(1, 3, 3), bias=False),
                nn.BatchNorm3d(64),
                nn.ReLU(),
                nn.MaxPool3d(3, stride=2, padding=1),
                nn.AvgPool3d(2),
                nn.ConvTranspose3d(64, 8, 2, stride=2),
            ),
            (3, 16, 112, 112),
        ),
        "attn": (Attention(), (64, 14, 14)),
        "features": (nn.Linear(768, 1000), (768,)),
        "gn": (nn.Sequential(nn.GroupNorm(4, 16), nn.SiLU()), (16, 8, 8)),
        "se": (
            Lambda(
                lambda m, x: x * m.scale(x),
                scale=nn.Sequential(
                    nn.AdaptiveAvgPool2d(1),
                    nn.Conv2d(16, 4, 1),
                    nn.SiLU(),
                    nn.Conv2d(4, 16, 1),
                    nn.Sigmoid(),
                ),
            ),
            (16, 8, 8),
        ),
        "relu6_bn": (
            nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(8),
                nn.ReLU6(),
                nn.Hardswish(),
                nn.LeakyReLU(),
                nn.GELU(),
            ),
            (3, 32, 32),
        ),
    }


def presets() -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    return {
        "resnet18": (ResNet(BasicBlock, [2, 2, 2, 2]), (3, 224, 224)),
        "resnet50": (ResNet(Bottleneck, [3, 4, 6, 3]), (3, 224, 224)),
        "mobilenet_v2": (MobileNetV2(), (3, 224, 224)),
        "efficientnet_b0": (EfficientNetB0(), (3, 224, 224)),
        "densenet121": (DenseNet121(), (3, 224, 224)),
        "vgg16_bn": (vgg16(batch_norm=True), (3, 224, 224)),
        "vgg16_256": (vgg16(batch_norm=False), (3, 256, 256)),
        "unet": (UNet(), (3, 256, 256)),
        "r3d_18": (R3D18(), (3, 16, 112, 112)),
        "vit_b_16": (VisionTransformer(), (3, 224, 224)),
    }


# --- measuring ---------------------------------------------------------------------------


def shape(tensor: torch.Tensor) -> list[int]:
    return list(tensor.shape[1:])


def units(model: nn.Module) -> list[nn.Module]:
    """Leaf modules and whole ``nn.MultiheadAttention`` modules (their children skipped)."""
    inside = {
        id(sub)
        for m in model.modules()
        if isinstance(m, nn.MultiheadAttention)
        for sub in m.modules()
        if sub is not m
    }
    return [
        m
        for m in model.modules()
        if id(m) not in inside
        and (isinstance(m, nn.MultiheadAttention) or not any(True for _ in m.children()))
    ]


def measure(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, object]:
    layers: list[dict[str, object]] = []

    def hook(module: nn.Module, inputs: object, output: object) -> None:
        if isinstance(module, nn.MultiheadAttention):
            output = output[0]
        layers.append(
            {
                "type": type(module).__name__,
                "output": shape(output),
                "params": sum(p.numel() for p in module.parameters()),
            }
        )

    handles = [m.register_forward_hook(hook) for m in units(model)]
    model.eval()
    # Grad enabled keeps nn.MultiheadAttention off its fused fast path; the math SDPA
    # backend runs attention as bmm, which the flop counter sees (see the module docstring).
    with torch.enable_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as fc:
        output = model(torch.zeros(1, *input_shape))
    for handle in handles:
        handle.remove()
    buffers = sum(
        b.numel()
        for name, b in model.named_buffers()
        if name.endswith(("running_mean", "running_var"))
    )
    return {
        "input": list(input_shape),
        "output": [shape(o) for o in output] if isinstance(output, tuple) else shape(output),
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": buffers,
        "macs": fc.get_total_flops() // 2,
        "layers": layers,
    }


def mobilenet_v2_standard() -> dict[str, object]:
    model = MobileNetV2(standard=True)
    case = measure(model, (3, 224, 224))
    conv_fc = sum(
        p.numel()
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
        for p in m.parameters()
    )
    return {
        "macs": case["macs"],
        "conv_fc_params": conv_fc,
        "note": (
            "torchvision mobilenet_v2 with, in each of the 17 inverted residual blocks, the "
            "depthwise 3x3 conv + its BN + ReLU6 + the 1x1 projection conv replaced by one "
            "standard Conv2d(hidden, out, 3, stride, padding=1, bias=False); the projection's "
            "BatchNorm2d(out) is kept after it (linear bottleneck: no activation); expansion "
            "1x1 conv, stem, head and residual adds unchanged. conv_fc_params counts Conv2d and "
            "Linear weights and biases only (BN excluded). The bias choice is what the numbers "
            "fix: with bias=True the 17 convs add 1,504 parameters (11,113,640). Keeping or "
            "dropping the BN changes neither count (the flop counter counts no BN MACs); it "
            "only adds 2 x 1,504 BN parameters and 2 x 1,504 running-stat buffers."
        ),
    }


def main() -> None:
    start = time.perf_counter()
    torch.manual_seed(0)
    reference: dict[str, object] = {"presets": {}, "words": {}}
    for section, cases in (("presets", presets()), ("words", word_cases())):
        for key, (model, input_shape) in cases.items():
            reference[section][key] = case = measure(model, input_shape)
            print(
                f"{section}.{key}: params {case['params']:,} macs {case['macs']:,} "
                f"output {case['output']}"
            )
    reference["mobilenet_v2_standard"] = standard = mobilenet_v2_standard()
    print(
        f"mobilenet_v2_standard: macs {standard['macs']:,} "
        f"conv_fc_params {standard['conv_fc_params']:,}"
    )
    OUT.write_text(json.dumps(reference, indent=1) + "\n")
    print(f"wrote {OUT} in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    main()
