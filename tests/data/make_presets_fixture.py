"""Reference parameter and multiply-add counts for the network presets, from PyTorch.

The architectures are written out here in torch, independently of convcli's LAYER
words: AlexNet and VGG-16 exactly as torchvision defines them (``torchvision.models.
alexnet`` and ``vgg16``, rebuilt by hand because torchvision is not installed),
LeNet-5 and MobileNet v1 from their papers. Parameters are torch's own count
(``sum(p.numel())``); multiply-adds are counted by forward hooks from the tensors
that actually flow (conv: output elements x C_in/groups x kh x kw; linear: in x out),
so the fixture checks both convcli's layer tables and its cost formulas.

Re-run (needs torch; the test suite never imports it)::

    /work/torchenv/bin/python tests/data/make_presets_fixture.py

It writes ``tests/data/presets_reference.json`` next to this script.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn


def alexnet() -> nn.Module:
    # torchvision.models.AlexNet
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.AdaptiveAvgPool2d((6, 6)),
        nn.Flatten(),
        nn.Dropout(p=0.5),
        nn.Linear(256 * 6 * 6, 4096),
        nn.ReLU(inplace=True),
        nn.Dropout(p=0.5),
        nn.Linear(4096, 4096),
        nn.ReLU(inplace=True),
        nn.Linear(4096, 1000),
    )


def vgg16() -> nn.Module:
    # torchvision.models.vgg16 (cfg "D", no batch norm)
    layers: list[nn.Module] = []
    in_channels = 3
    for value in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M",
                  512, 512, 512, "M", 512, 512, 512, "M"]:  # fmt: skip
        if value == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(in_channels, value, kernel_size=3, padding=1), nn.ReLU(True)]
            in_channels = value
    return nn.Sequential(
        *layers,
        nn.AdaptiveAvgPool2d((7, 7)),
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(4096, 4096),
        nn.ReLU(True),
        nn.Dropout(),
        nn.Linear(4096, 1000),
    )


def lenet5() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    )  # fmt: skip


MOBILENET_BLOCKS = [(1, 64), (2, 128), (1, 128), (2, 256), (1, 256), (2, 512)] + [(1, 512)] * 5
MOBILENET_BLOCKS += [(2, 1024), (1, 1024)]


def mobilenet_v1(alpha: float = 1.0, separable: bool = True) -> nn.Module:
    """MobileNet v1 without batch norm; ``separable=False`` is the paper's "Conv MobileNet"."""

    def depth(channels: int) -> int:  # TF-slim: max(int(d * alpha), min_depth=8)
        return max(int(channels * alpha), 8)

    in_channels = depth(32)
    layers: list[nn.Module] = [nn.Conv2d(3, in_channels, 3, 2, 1, bias=False), nn.ReLU()]
    for stride, channels in MOBILENET_BLOCKS:
        out_channels = depth(channels)
        if separable:
            layers += [
                nn.Conv2d(in_channels, in_channels, 3, stride, 1, groups=in_channels, bias=False),
                nn.ReLU(),
                nn.Conv2d(in_channels, out_channels, 1, bias=False),
                nn.ReLU(),
            ]
        else:
            layers += [nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.ReLU()]
        in_channels = out_channels
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(in_channels, 1000)]
    return nn.Sequential(*layers)


def count(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, object]:
    """Parameters, multiply-adds and output shape of ``model`` on one input."""
    macs = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            macs += output.numel() * module.in_features

    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            module.register_forward_hook(hook)
    model.eval()
    with torch.no_grad():
        output = model(torch.zeros(1, *input_shape))
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "macs": macs,
        "output": list(output.shape[1:]),
    }


def main() -> None:
    reference = {
        "lenet5": count(lenet5(), (1, 32, 32)),
        "alexnet": count(alexnet(), (3, 224, 224)),
        "vgg16": count(vgg16(), (3, 224, 224)),
        "mobilenet_v1": {
            f"alpha={alpha},resolution={resolution}": count(
                mobilenet_v1(alpha), (3, resolution, resolution)
            )
            for alpha in (1.0, 0.75, 0.5, 0.25)
            for resolution in (224, 192, 160, 128)
        },
        "mobilenet_v1_standard_conv": count(mobilenet_v1(separable=False), (3, 224, 224)),
    }
    path = Path(__file__).with_name("presets_reference.json")
    path.write_text(json.dumps(reference, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
