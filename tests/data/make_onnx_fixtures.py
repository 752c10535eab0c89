"""Generate tests/data/onnx/*.onnx: real PyTorch exports, small because their weights are
external and not kept.

The models are the plain-torch ones of ``make_graph_fixture.py`` (torchvision's and
milesial's code, written out there), exported with torch 2.13's default exporter
(``torch.onnx.export(..., dynamo=True)``, opset 20), then every initializer of about 100 bytes or
more is moved to an external data file that is deleted: the ``.onnx`` keeps each weight's
name, type and dimensions, which is all ``convcli shape`` reads, and stays a valid model
for ONNX shape inference. Small tensors (shapes for Reshape, scales, batch-norm
statistics) stay inside, as the exporter leaves them.

Re-run with the PyTorch venv (about two minutes on 2 cores; the suite never imports
torch):

    /work/torchenv/bin/pip install onnx onnxscript
    /work/torchenv/bin/python tests/data/make_onnx_fixtures.py

Every model but ``resnet18_fused`` is exported with the exporter's batch-norm folding
rules switched off (as a model exported for training, or by an exporter that does not
fold, has them), so that its totals equal the convcli preset or net file exactly:
``resnet18_fused`` is the default export, where each batch norm became its convolution
(weights rescaled, and a bias where the norm's shift is not zero).

The fixtures:

- ``resnet18``, ``resnet18_fused``, ``mobilenet_v2``, ``unet`` (milesial, ConvTranspose
  and Concat), ``r3d_18`` (Conv3d): the presets' models at the presets' input sizes;
- ``conv1d``: Conv1d, MaxPool1d, AvgPool1d, ConvTranspose1d on 4x100 (the ``conv1d``
  case of ``make_graph_fixture.py``);
- ``vit_small``: torchvision's VisionTransformer at image 32, patch 8, 2 layers, 4 heads,
  width 64, MLP 128, 1000 classes;
- ``resnet18_dynamic``: ``resnet18`` with a symbolic batch, height and width (the input
  size must come from the command line);
- ``unet_torchscript``, ``vit_small_torchscript``: the same models through the
  TorchScript exporter (``dynamo=False``, torch's default before 2.9; constant folding
  off, so the batch norms stay), whose files compute F.pad's pads, reshape targets and the
  class token's expansion at run time from ``Shape``, ``ConstantOfShape``, ``Where``...

It also writes ``onnx_ops_torch.json``: for each small graph that tests/test_onnx.py builds
with ``onnx.helper`` (one per mapped operator and attribute: SAME_UPPER/SAME_LOWER/VALID,
asymmetric pads, ceil_mode, count_include_pad, ConvTranspose's output_padding and
output_shape, ...), what PyTorch computes for the same layer: output shape, parameters,
batch-norm buffers and MACs (``FlopCounterMode`` / 2).
"""

from __future__ import annotations

import json
import sys
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import onnx
import onnxscript.rewriter as rewriter
import torch
import torch.nn.functional as F
from onnx.external_data_helper import convert_model_to_external_data

HERE = Path(__file__).parent
OUT = HERE / "onnx"
OPS = HERE / "onnx_ops_torch.json"
sys.path.insert(0, str(HERE))

import make_graph_fixture as graph  # noqa: E402  (beside this script)

_FOLDING = ("FuseBatchNormInto",)
#: The node metadata kept: which rewrite rules made a node (how a folded norm is seen).
_RULES = "pkg.onnxscript.rewriter.rule_name"


def models() -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    presets = graph.presets()
    cases = graph.word_cases()
    return {
        "resnet18": presets["resnet18"],
        "resnet18_fused": presets["resnet18"],
        "resnet18_dynamic": presets["resnet18"],
        "mobilenet_v2": presets["mobilenet_v2"],
        "unet": presets["unet"],
        "r3d_18": presets["r3d_18"],
        "conv1d": cases["conv1d"],
        "vit_small": (graph.VisionTransformer(32, 8, 2, 4, 64, 128), (3, 32, 32)),
        "unet_torchscript": presets["unet"],
        "vit_small_torchscript": (graph.VisionTransformer(32, 8, 2, 4, 64, 128), (3, 32, 32)),
    }


def randomize(model: torch.nn.Module) -> None:
    """Random parameters and batch-norm statistics: the exporter's optimizer drops a bias
    that is all zeros (``RemoveOptionalBiasFrom*``), and torch initialises some to zero
    (``nn.MultiheadAttention``'s output projection, batch norm's shift). The values are
    thrown away with the weights; only shapes matter."""
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.rand(parameter.shape, generator=generator) + 0.5)
        for name, buffer in model.named_buffers():
            if name.endswith(("running_mean", "running_var")):
                buffer.copy_(torch.rand(buffer.shape, generator=generator) + 0.5)


def export(name: str, model: torch.nn.Module, shape: tuple[int, ...]) -> Path:
    model.eval()
    randomize(model)
    x = torch.zeros(1, *shape)
    dynamic = None
    if name.endswith("_dynamic"):
        batch, height, width = (torch.export.Dim(n) for n in ("batch", "height", "width"))
        dynamic = {"x": {0: batch, 2: height, 3: width}}
    if name.endswith("_torchscript"):
        proto = torchscript(model, x)
    else:
        proto = dynamo(name, model, x, dynamic)
    path = OUT / f"{name}.onnx"
    data = OUT / f"{name}.onnx.data"
    for node in proto.graph.node:  # stack traces and FX names: kept out of the repo
        keep = [p for p in node.metadata_props if p.key == _RULES]
        del node.metadata_props[:]
        node.metadata_props.extend(keep)
    convert_model_to_external_data(
        proto, all_tensors_to_one_file=True, location=data.name, size_threshold=128
    )
    onnx.save_model(proto, path)
    data.unlink(missing_ok=True)  # the weights are not kept: only their shapes are read
    return path


def torchscript(model: torch.nn.Module, x: torch.Tensor) -> onnx.ModelProto:
    """The TorchScript exporter (``dynamo=False``, torch's default before 2.9), constant
    folding off so that batch norms stay: shapes computed at run time by ``Shape``,
    ``Gather``, ``Concat``... as older files have them."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "model.onnx"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(model, (x,), str(target), dynamo=False, do_constant_folding=False)
        return onnx.load(target)


def dynamo(name: str, model: torch.nn.Module, x: torch.Tensor, dynamic: object) -> onnx.ModelProto:
    rules = rewriter._DEFAULT_REWRITE_RULES
    if not name.endswith("_fused"):
        rewriter._DEFAULT_REWRITE_RULES = [
            rule for rule in rules if not str(rule.name or "").startswith(_FOLDING)
        ]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                model, (x,), dynamo=True, dynamic_shapes=dynamic, external_data=False
            )
    finally:
        rewriter._DEFAULT_REWRITE_RULES = rules
    assert program is not None
    return program.model_proto


# --- per-operator references ------------------------------------------------------------


class Lambda(torch.nn.Module):
    """``fn(self, x)`` as a module, its submodules attached."""

    def __init__(self, fn: Callable[..., torch.Tensor], **modules: torch.nn.Module) -> None:
        super().__init__()
        self.fn = fn
        for name, module in modules.items():
            self.add_module(name, module)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self, x)


def op_cases() -> dict[str, tuple[torch.nn.Module, tuple[int, ...]]]:
    """PyTorch's version of each graph that tests/test_onnx.py builds with onnx.helper,
    one per mapped operator and attribute: what the ONNX operator computes, written with
    torch's modules (an asymmetric or SAME padding as an explicit F.pad)."""
    nn = torch.nn
    return {
        "conv_same_upper": (nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(3, 8, 3, 2)),
                            (3, 16, 16)),
        "conv_same_lower": (nn.Sequential(nn.ZeroPad2d((1, 0, 1, 0)), nn.Conv2d(3, 8, 3, 2)),
                            (3, 16, 16)),
        "conv_valid": (nn.Conv2d(3, 8, 3, 2), (3, 16, 16)),
        # ONNX pads [1, 2, 0, 3]: top 1, left 2, bottom 0, right 3
        "conv_pads": (nn.Sequential(nn.ZeroPad2d((2, 3, 1, 0)), nn.Conv2d(3, 8, 3)), (3, 16, 16)),
        "conv_groups": (nn.Conv2d(8, 16, 3, padding=2, dilation=2, groups=4, bias=False),
                        (8, 20, 20)),
        "dwconv": (nn.Conv2d(8, 16, 3, padding=1, groups=8), (8, 20, 20)),
        "conv1d": (nn.Conv1d(4, 8, 5, stride=2, padding=2), (4, 50)),
        "conv3d": (nn.Conv3d(3, 8, (3, 5, 5), stride=(1, 2, 2), padding=(1, 2, 2)),
                   (3, 8, 32, 32)),
        "deconv_op": (nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
                      (8, 10, 10)),
        "deconv_shape": (Lambda(lambda m, x: m.up(x, output_size=(20, 20)),
                                up=nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1)),
                         (8, 10, 10)),
        "deconv_same": (nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1), (8, 10, 10)),
        "deconv_groups": (nn.ConvTranspose2d(8, 16, 2, stride=2, groups=2), (8, 10, 10)),
        "maxpool": (nn.MaxPool2d(3, 2, padding=1), (8, 15, 15)),
        "maxpool_ceil": (nn.MaxPool2d(2, 2, padding=1, ceil_mode=True), (8, 5, 5)),
        "avgpool_ceil": (nn.AvgPool2d(3, 2, padding=1, ceil_mode=True,
                                      count_include_pad=False), (8, 14, 14)),
        "avgpool_include": (nn.AvgPool2d(3, 1, padding=1, count_include_pad=True), (8, 14, 14)),
        "gap": (nn.AdaptiveAvgPool2d(1), (8, 7, 7)),
        "gmp": (nn.AdaptiveMaxPool2d(1), (8, 7, 7)),
        "reducemean": (Lambda(lambda m, x: x.mean((2, 3))), (8, 7, 7)),
        "gemm": (nn.Linear(64, 10), (64,)),
        "gemm_notrans": (nn.Linear(64, 10, bias=False), (64,)),
        "matmul_tokens": (nn.Linear(64, 32), (17, 64)),
        "bn": (nn.BatchNorm2d(8), (8, 6, 6)),
        "ln": (nn.LayerNorm(64), (17, 64)),
        "gn": (nn.GroupNorm(4, 16), (16, 8, 8)),
        "instancenorm": (nn.InstanceNorm2d(16, affine=True), (16, 8, 8)),
        "relu": (nn.ReLU(), (8, 6, 6)),
        "relu6": (nn.ReLU6(), (8, 6, 6)),
        "sigmoid": (nn.Sigmoid(), (8, 6, 6)),
        "hswish": (nn.Hardswish(), (8, 6, 6)),
        "gelu": (nn.GELU(), (17, 64)),
        "silu": (nn.SiLU(), (8, 6, 6)),
        "softmax": (nn.Softmax(-1), (17, 64)),
        "add": (Lambda(lambda m, x: m.conv(x) + x, conv=nn.Conv2d(8, 8, 3, padding=1)),
                (8, 6, 6)),
        "mul_gate": (Lambda(lambda m, x: x * torch.sigmoid(m.conv(x.mean((2, 3), True))),
                            conv=nn.Conv2d(8, 8, 1)), (8, 6, 6)),
        "concat": (Lambda(lambda m, x: torch.cat([m.conv(x), x], 1),
                          conv=nn.Conv2d(8, 4, 3, padding=1)), (8, 6, 6)),
        "resize_nearest": (nn.Upsample(scale_factor=2, mode="nearest"), (8, 6, 6)),
        "resize_linear": (nn.Upsample(scale_factor=2, mode="bilinear"), (8, 6, 6)),
        "depthtospace": (nn.PixelShuffle(2), (16, 6, 6)),
        "pad": (Lambda(lambda m, x: F.pad(x, (1, 2, 3, 4))), (8, 6, 6)),
        "flatten": (nn.Flatten(), (8, 3, 3)),
        "reshape": (Lambda(lambda m, x: x.reshape(x.shape[0], -1)), (8, 3, 3)),
        "dropout": (nn.Dropout(0.5), (8, 6, 6)),
        "identity": (nn.Sequential(nn.Identity(), nn.ReLU()), (8, 6, 6)),
        "tokens": (Lambda(lambda m, x: m.fc(x.flatten(2).transpose(1, 2)),
                          fc=nn.Linear(8, 16)), (8, 4, 4)),
    }  # fmt: skip


def measure(model: torch.nn.Module, shape: tuple[int, ...]) -> dict[str, object]:
    """Output shape (no batch), parameters, batch-norm buffers and MACs (torch's flop
    counter / 2) of one batch-1 forward pass in eval mode."""
    from torch.utils.flop_counter import FlopCounterMode

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        output = model(torch.zeros(1, *shape))
    buffers = sum(b.numel() for n, b in model.named_buffers()
                  if n.endswith(("running_mean", "running_var")))  # fmt: skip
    return {
        "input": list(shape),
        "output": list(output.shape[1:]),
        "params": sum(p.numel() for p in model.parameters()),
        "buffers": buffers,
        "macs": counter.get_total_flops() // 2,
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    cases = {name: measure(model, shape) for name, (model, shape) in op_cases().items()}
    lines = [f" {json.dumps(name)}: {json.dumps(case)}" for name, case in cases.items()]
    OPS.write_text("{\n" + ",\n".join(lines) + "\n}\n")  # one case a line
    print(f"{OPS.name}: {len(cases)} operator cases")
    for name, (model, shape) in models().items():
        path = export(name, model, shape)
        graph_ops = onnx.load(path, load_external_data=False).graph.node
        ops = sorted({node.op_type for node in graph_ops})
        print(f"{path.name}: {path.stat().st_size:,} bytes; {', '.join(ops)}")


if __name__ == "__main__":
    main()
