"""ONNX models as networks (convcli.onnx_net): real exports against the presets, one graph
per mapped operator against PyTorch, unmapped operators, hostile files, the net-file export.

The fixtures in tests/data/onnx are torch 2.13 exports with their weights external and not
kept (tests/data/make_onnx_fixtures.py, which also writes onnx_ops_torch.json: PyTorch's
output shape, parameters and MACs for each operator graph built here with onnx.helper).
The suite never imports torch.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from onnx import TensorProto, helper

from convcli.errors import ConvcliError, SpecError
from convcli.network import analyze_network, parse_network, resolve_inputs
from convcli.onnx_net import load_onnx, read_onnx, to_words
from convcli.presets import NET_PRESETS, preset_network
from tests.conftest import DATA, SAMPLES

MODELS = DATA / "onnx"
TORCH = json.loads((DATA / "onnx_ops_torch.json").read_text())
VIT_SMALL = ("input 3x32x32 conv:64,k=8,s=8 tokens cls posemb dropout repeat:2 tag:x ln "
             "attn:4 dropout add:x tag:y ln mlp:128 add:y end ln head:1000")  # fmt: skip
CONV1D = ("input 4x100 conv1d:8,k=5,s=2 maxpool1d:k=2 avgpool1d:k=3,s=1,p=1 "
          "deconv1d:4,k=4,s=2,p=1")  # fmt: skip
#: Each exported fixture and the convcli preset or net text of the same model.
FIXTURES = {
    "resnet18": "resnet18",
    "mobilenet_v2": "mobilenet_v2",
    "unet": "unet",
    "r3d_18": "r3d_18",
    "conv1d": CONV1D,
    "vit_small": VIT_SMALL,
    # The TorchScript exporter: pads, reshapes and the class token computed from Shape
    "unet_torchscript": "unet",
    "vit_small_torchscript": VIT_SMALL,
}


def totals(report):
    t = report.total
    return (t.params, t.macs, t.buffers, t.elementwise_ops, t.window_ops, str(report.output))


def analyze_onnx(path, input_size=None):
    network, inputs, notes = load_onnx(path, input_size)
    return analyze_network(network, inputs, notes=notes), network, inputs, notes


def reference(name_or_text: str, input_size: str | None = None):
    if name_or_text in NET_PRESETS:
        network = preset_network(name_or_text)
    else:
        network = parse_network(name_or_text)
    inputs, notes = resolve_inputs(network, input_size)
    return analyze_network(network, inputs)


def round_trip(network, inputs, notes):
    text = to_words(network, notes, inputs)
    back = parse_network(text)
    return analyze_network(back, resolve_inputs(back)[0]), text


# ---------------------------------------------------------------------------------------
# Real exports


@pytest.mark.parametrize("name", FIXTURES)
def test_exported_model_equals_its_preset_and_its_net_file(name):
    report, network, inputs, notes = analyze_onnx(MODELS / f"{name}.onnx")
    expected = reference(FIXTURES[name])
    assert totals(report) == totals(expected)
    assert notes == []
    back, _ = round_trip(network, inputs, notes)
    assert totals(back) == totals(report)


def test_preset_table_numbers():
    """The README's table, read from the exported files."""
    wanted = {
        "resnet18": (11_689_512, 1_814_073_344),
        "mobilenet_v2": (3_504_872, 300_774_272),
        "unet": (31_037_698, 48_171_581_440),
        "r3d_18": (33_371_472, 40_696_553_472),
    }
    for name, (params, macs) in wanted.items():
        report = analyze_onnx(MODELS / f"{name}.onnx")[0]
        assert (report.total.params, report.total.macs) == (params, macs), name


def test_vit_words_are_the_transformer_words():
    network, _ = read_onnx(MODELS / "vit_small.onnx")
    words = [layer.word for layer in network.layers]
    assert words[:5] == ["conv:64,k=8,s=8", "tokens", "cls", "posemb", "ln"]
    assert words.count("attn:4") == 2 and words[-1] == "head:1000"
    assert "opaque" not in " ".join(words)


def test_unet_reads_its_skips_by_name():
    text = to_words(*read_onnx(MODELS / "unet.onnx"))
    assert text.startswith("input x=3x256x256\n")
    assert text.count("deconv:") == 4 and text.count("cat:") == 4
    assert "opaque" not in text and "pad:" not in text  # F.pad by zeros is no layer


def test_folded_batch_norm_is_counted_as_the_conv_it_became_and_said():
    report, network, inputs, notes = analyze_onnx(MODELS / "resnet18_fused.onnx")
    preset = reference("resnet18")
    bn = sum(layer.params for layer in preset.layers if layer.kind == "bn")
    convs = [layer for layer in report.layers if layer.kind == "conv"]
    biases = sum(layer.output.channels for layer in convs)
    assert report.total.macs == preset.total.macs
    assert report.total.params == preset.total.params - bn + biases
    assert report.total.buffers == 0
    assert len(notes) == 1 and "20 convolution(s) have a batch norm folded" in notes[0]
    assert all("bias=false" not in layer.spec for layer in convs)


def test_symbolic_sizes_need_input_and_take_any():
    path = MODELS / "resnet18_dynamic.onnx"
    with pytest.raises(SpecError, match=r"symbolic sizes .*give INPUT, e.g. convcli shape "):
        load_onnx(path)
    assert totals(analyze_onnx(path, "3x224x224")[0]) == totals(reference("resnet18"))
    big = analyze_onnx(path, "3x320x256")[0]
    assert totals(big) == totals(reference("resnet18", "3x320x256"))
    batch = analyze_onnx(path, "8x3x224x224")[0]
    assert batch.total.macs == 8 * reference("resnet18").total.macs
    assert str(batch.output) == "8x1000"
    assert analyze_onnx(path, "224")[0].total.macs == reference("resnet18").total.macs


def test_input_replacing_a_fixed_size_is_noted():
    report, _, _, notes = analyze_onnx(MODELS / "conv1d.onnx", "4x200")
    assert str(report.output) == "4x98"
    assert notes == ["note: INPUT 4x200 replaces the size of the model's input 'input', 4x100"]
    with pytest.raises(ConvcliError, match="has 3 channels; the model's input 'input' takes 4"):
        load_onnx(MODELS / "conv1d.onnx", "3x100")


def test_every_preset_survives_to_words():
    for name in NET_PRESETS:
        network = preset_network(name)
        inputs, _ = resolve_inputs(network)
        report = analyze_network(network, inputs)
        back, _ = round_trip(network, inputs, [])
        assert totals(back) == totals(report), name


# ---------------------------------------------------------------------------------------
# One graph per operator, against PyTorch


def weight(name: str, dims: list[int]) -> TensorProto:
    """A float initializer whose values live in an external file that never exists."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT, dims=dims)
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="weights.bin")
    return tensor


def ints(name: str, values: list[int]) -> TensorProto:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def floats(name: str, values: list[float], dims: list[int] | None = None) -> TensorProto:
    return helper.make_tensor(name, TensorProto.FLOAT, [len(values)] if dims is None else dims,
                              values)  # fmt: skip


def save(path: Path, nodes, inputs: dict[str, list], initializers=(), outputs=("y",),
         opset: int = 20) -> Path:  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, d) for n, d in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        initializer=list(initializers),
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    path.write_bytes(model.SerializeToString())
    return path


def node(op, inputs, outputs=("y",), **attrs):
    return helper.make_node(op, list(inputs), list(outputs), **attrs)


def conv(w, b=None, **attrs):
    dims_w = w
    inits = [weight("w", dims_w)] + ([weight("b", [b])] if b else [])
    return [node("Conv", ["x", "w"] + (["b"] if b else []), **attrs)], inits


def deconv(w, b, **attrs):
    return [node("ConvTranspose", ["x", "w", "b"], **attrs)], [weight("w", w), weight("b", [b])]


def single(op, **attrs):
    return [node(op, ["x"], **attrs)], []


#: name -> (nodes, initializers[, opset]): the ONNX form of each case of onnx_ops_torch.json
CASES = {
    "conv_same_upper": conv([8, 3, 3, 3], 8, kernel_shape=[3, 3], strides=[2, 2],
                            auto_pad="SAME_UPPER"),
    "conv_same_lower": conv([8, 3, 3, 3], 8, kernel_shape=[3, 3], strides=[2, 2],
                            auto_pad="SAME_LOWER"),
    "conv_valid": conv([8, 3, 3, 3], 8, strides=[2, 2], auto_pad="VALID"),
    "conv_pads": conv([8, 3, 3, 3], 8, pads=[1, 2, 0, 3]),
    "conv_groups": conv([16, 2, 3, 3], None, group=4, dilations=[2, 2], pads=[2, 2, 2, 2]),
    "dwconv": conv([16, 1, 3, 3], 16, group=8, pads=[1, 1, 1, 1]),
    "conv1d": conv([8, 4, 5], 8, strides=[2], pads=[2, 2]),
    "conv3d": conv([8, 3, 3, 5, 5], 8, strides=[1, 2, 2], pads=[1, 2, 2, 1, 2, 2]),
    "deconv_op": deconv([8, 4, 3, 3], 4, strides=[2, 2], pads=[1, 1, 1, 1],
                        output_padding=[1, 1]),
    "deconv_shape": deconv([8, 4, 3, 3], 4, strides=[2, 2], output_shape=[20, 20]),
    "deconv_same": deconv([8, 4, 4, 4], 4, strides=[2, 2], auto_pad="SAME_UPPER"),
    "deconv_groups": deconv([8, 8, 2, 2], 16, strides=[2, 2], group=2),
    "maxpool": single("MaxPool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    "maxpool_ceil": single("MaxPool", kernel_shape=[2, 2], strides=[2, 2], pads=[1, 1, 1, 1],
                           ceil_mode=1),
    "avgpool_ceil": single("AveragePool", kernel_shape=[3, 3], strides=[2, 2],
                           pads=[1, 1, 1, 1], ceil_mode=1, count_include_pad=0),
    "avgpool_include": single("AveragePool", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                              count_include_pad=1),
    "gap": single("GlobalAveragePool"),
    "gmp": single("GlobalMaxPool"),
    "reducemean": ([node("ReduceMean", ["x", "axes"], keepdims=0)], [ints("axes", [2, 3])]),
    "gemm": ([node("Gemm", ["x", "w", "b"], transB=1)], [weight("w", [10, 64]),
                                                          weight("b", [10])]),
    "gemm_notrans": ([node("Gemm", ["x", "w"])], [weight("w", [64, 10])]),
    "matmul_tokens": ([node("MatMul", ["x", "w"], ["m"]), node("Add", ["m", "b"])],
                      [weight("w", [64, 32]), weight("b", [32])]),
    "bn": ([node("BatchNormalization", ["x", "s", "b", "m", "v"])],
           [weight(n, [8]) for n in "sbmv"]),
    "ln": ([node("LayerNormalization", ["x", "s", "b"], axis=-1)],
           [weight("s", [64]), weight("b", [64])]),
    "gn": ([node("GroupNormalization", ["x", "s", "b"], num_groups=4)],
           [weight("s", [16]), weight("b", [16])], 21),
    "instancenorm": ([node("InstanceNormalization", ["x", "s", "b"])],
                     [weight("s", [16]), weight("b", [16])]),
    "relu": single("Relu"),
    "relu6": ([node("Clip", ["x", "lo", "hi"])], [floats("lo", [0.0], []),
                                                  floats("hi", [6.0], [])]),
    "sigmoid": single("Sigmoid"),
    "hswish": single("HardSwish"),
    "gelu": single("Gelu"),
    "silu": ([node("Sigmoid", ["x"], ["s"]), node("Mul", ["x", "s"])], []),
    "softmax": single("Softmax", axis=-1),
    "add": ([node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), node("Add", ["c", "x"])],
            [weight("w", [8, 8, 3, 3]), weight("b", [8])]),
    "mul_gate": ([node("ReduceMean", ["x", "axes"], ["g"], keepdims=1),
                  node("Conv", ["g", "w", "b"], ["c"]), node("Sigmoid", ["c"], ["s"]),
                  node("Mul", ["x", "s"])],
                 [ints("axes", [2, 3]), weight("w", [8, 8, 1, 1]), weight("b", [8])]),
    "concat": ([node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
                node("Concat", ["c", "x"], axis=1)], [weight("w", [4, 8, 3, 3]),
                                                      weight("b", [4])]),
    "resize_nearest": ([node("Resize", ["x", "", "scales"], mode="nearest")],
                       [floats("scales", [1, 1, 2, 2])]),
    "resize_linear": ([node("Resize", ["x", "", "scales"], mode="linear")],
                      [floats("scales", [1, 1, 2, 2])]),
    "depthtospace": single("DepthToSpace", blocksize=2, mode="CRD"),
    "pad": ([node("Pad", ["x", "pads"])], [ints("pads", [0, 0, 3, 1, 0, 0, 4, 2])]),
    "flatten": single("Flatten", axis=1),
    "reshape": ([node("Reshape", ["x", "shape"])], [ints("shape", [1, -1])]),
    "dropout": single("Dropout"),
    "identity": ([node("Identity", ["x"], ["i"]), node("Relu", ["i"])], []),
    "tokens": ([node("Reshape", ["x", "shape"], ["r"]), node("Transpose", ["r"], ["t"],
                                                             perm=[0, 2, 1]),
                node("MatMul", ["t", "w"], ["m"]), node("Add", ["m", "b"])],
               [ints("shape", [1, 8, 16]), weight("w", [8, 16]), weight("b", [16])]),
}  # fmt: skip
#: The word each case must become (the rest: whatever gives PyTorch's numbers).
WORDS = {
    "conv_same_upper": ["conv:8,k=3,s=2,p=same"],
    "conv_same_lower": ["conv:8,k=3,s=2,p=1,0,1,0"],
    "conv_pads": ["conv:8,k=3,p=1,0,2,3"],
    "conv_groups": ["conv:16,k=3,p=2,d=2,g=4,bias=false"],
    "dwconv": ["dwconv:16,k=3,p=1"],
    "deconv_shape": ["deconv:4,k=3,s=2,p=1,0,1,0"],
    "maxpool_ceil": ["maxpool:k=2,p=1,ceil=true"],
    "reducemean": ["gap", "flatten"],
    "matmul_tokens": ["fc:32"],
    "relu6": ["relu6"],
    "silu": ["silu"],
    "mul_gate": ["gap", "conv:8,k=1", "sigmoid", "mul:x"],
    "resize_linear": ["up:2,mode=bilinear"],
    "pad": ["pad:3,4,1,2"],
    "tokens": ["tokens", "fc:16"],
    "identity": ["relu"],
}


def test_every_torch_case_has_a_graph():
    assert set(CASES) == set(TORCH)


@pytest.mark.parametrize("name", sorted(CASES))
def test_operator_against_pytorch(name, tmp_path):
    nodes, initializers, *opset = CASES[name]
    case = TORCH[name]
    path = save(tmp_path / f"{name}.onnx", nodes, {"x": [1, *case["input"]]}, initializers,
                opset=opset[0] if opset else 20)  # fmt: skip
    report, network, inputs, notes = analyze_onnx(path)
    assert notes == [] or name == "maxpool_ceil"
    assert report.output.dims() == case["output"]
    assert report.total.params == case["params"]
    assert report.total.buffers == case["buffers"]
    assert report.total.macs == case["macs"]
    if name in WORDS:
        assert [layer.word for layer in network.layers] == WORDS[name]
    back, _ = round_trip(network, inputs, notes)
    assert totals(back) == totals(report)


def test_several_inputs_and_outputs(tmp_path):
    nodes = [
        node("Conv", ["image", "w1"], ["features"], pads=[1, 1, 1, 1]),
        node("Concat", ["features", "mask"], ["both"], axis=1),
        node("Conv", ["both", "w2"], ["logits"]),
    ]
    inits = [weight("w1", [8, 3, 3, 3]), weight("w2", [2, 9, 1, 1])]
    path = save(tmp_path / "m.onnx", nodes, {"image": [1, 3, 8, 8], "mask": [1, 1, 8, 8]},
                inits, outputs=("features", "logits"))  # fmt: skip
    report, network, inputs, notes = analyze_onnx(path)
    assert {name: str(shape) for name, shape in report.inputs.items()} == {
        "image": "3x8x8", "mask": "1x8x8"}  # fmt: skip
    assert {name: str(shape) for name, shape in report.outputs.items()} == {
        "features": "8x8x8", "logits": "2x8x8"}  # fmt: skip
    assert report.output_totals["features"].params == 8 * 27  # no bias
    back, text = round_trip(network, inputs, notes)
    assert text.startswith("input image=3x8x8 mask=1x8x8\n")
    assert totals(back) == totals(report) and back.outputs == report.outputs
    with pytest.raises(SpecError, match="ambiguous: the model has inputs image, mask"):
        load_onnx(path, "3x16x16")


def test_ceil_mode_follows_pytorch_where_onnx_inference_does_not(tmp_path):
    nodes, initializers = CASES["maxpool_ceil"]
    path = save(tmp_path / "m.onnx", nodes, {"x": [1, 8, 5, 5]}, initializers)
    notes = load_onnx(path)[2]
    assert len(notes) == 1
    assert "ONNX shape inference gives 1x8x4x4, PyTorch's rule" in notes[0]


# ---------------------------------------------------------------------------------------
# Operators convcli cannot count


def test_unmapped_operators_are_listed_once_and_the_graph_still_adds_up(tmp_path):
    nodes = [
        node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1]),
        node("Erf", ["a"], ["e"]),
        node("Erf", ["e"], ["f"]),
        node("TopK", ["f", "k"], ["v", "i"], axis=1),
        node("Conv", ["v", "w2"]),
    ]
    inits = [weight("w1", [8, 3, 3, 3]), weight("w2", [4, 4, 1, 1]), ints("k", [4])]
    path = save(tmp_path / "m.onnx", nodes, {"x": [1, 3, 8, 8]}, inits)
    report, network, inputs, notes = analyze_onnx(path)
    assert notes == [
        "warning: 3 ONNX operator(s) not counted (0 parameters and MACs, output shapes from "
        "ONNX shape inference): Erf x2, TopK x1"
    ]
    assert str(report.output) == "4x8x8"
    assert report.total.params == 8 * 27 + 16
    assert [layer.kind for layer in report.layers] == ["conv", "opaque", "opaque", "opaque",
                                                       "opaque", "conv"]  # fmt: skip
    words = [layer.word for layer in network.layers]
    assert words[1] == "opaque:Erf,out=8x8x8" and words[3].startswith("opaque:TopK,out=4x8x8")
    back, text = round_trip(network, inputs, notes)
    assert totals(back) == totals(report)
    assert text.startswith("# warning: 3 ONNX operator(s) not counted")


def test_attention_that_is_not_self_attention_is_not_attn(tmp_path):
    """Two inputs multiplied: no projections, so no ``attn`` word; the matmuls are listed."""
    nodes = [node("MatMul", ["q", "k"], ["s"]), node("Softmax", ["s"], ["p"], axis=-1),
             node("MatMul", ["p", "q"])]  # fmt: skip
    path = save(tmp_path / "m.onnx", nodes, {"q": [1, 5, 5], "k": [1, 5, 5]})
    report, _, _, notes = analyze_onnx(path)
    assert "MatMul x2" in notes[0]
    assert str(report.output) == "5x5t"


def test_opaque_word():
    network = parse_network("input 3x8x8 conv:4,k=3 tag:a opaque:TopK,out=10f fc:2")
    report = analyze_network(network, resolve_inputs(network)[0])
    assert [str(r.output) for r in report.layers] == ["4x6x6", "10", "2"]
    assert report.layers[1].params == report.layers[1].macs == 0
    assert report.layers[1].rf_global
    for bad, message in [("opaque:X", "needs its output shape"),
                         ("opaque:X,out=3x", "out must be a shape"),
                         ("opaque:X,out=0x4", "every dimension must be >= 1"),
                         ("opaque:1X,out=4f", "is not a name")]:  # fmt: skip
        with pytest.raises(SpecError, match=message):
            network = parse_network(f"input 3x8x8 {bad}")
            analyze_network(network, resolve_inputs(network)[0])


# ---------------------------------------------------------------------------------------
# Hostile and broken files: one error each


def hostile(tmp_path: Path) -> dict[str, Path]:
    good = (MODELS / "resnet18.onnx").read_bytes()
    files = {
        "text": b"input 3x224x224\nconv:64,k=7\n",
        "truncated": good[: len(good) // 2],
        "empty": b"",
        "garbage": bytes(range(256)) * 8,
    }
    paths = {}
    for name, data in files.items():
        paths[name] = tmp_path / f"{name}.onnx"
        paths[name].write_bytes(data)
    paths["huge"] = save(tmp_path / "huge.onnx", [node("Relu", ["x"])], {"x": [1, 3, 10**12, 8]})
    nodes, inits = conv([10**10, 3, 3, 3])
    paths["huge_weight"] = save(tmp_path / "huge_weight.onnx", nodes, {"x": [1, 3, 8, 8]}, inits)
    paths["cycle"] = save(
        tmp_path / "cycle.onnx",
        [node("Add", ["x", "b"], ["a"]), node("Relu", ["a"], ["b"]), node("Relu", ["a"])],
        {"x": [1, 3, 8, 8]},
    )
    paths["missing"] = save(tmp_path / "missing.onnx", [node("Relu", ["z"])], {"x": [1, 3, 8, 8]})
    paths["twice"] = save(
        tmp_path / "twice.onnx", [node("Relu", ["x"]), node("Relu", ["x"])], {"x": [1, 3, 8, 8]}
    )
    for name, location in (("outside", "../../etc/passwd"), ("absolute", "/etc/passwd")):
        nodes, inits = conv([8, 3, 3, 3])
        inits[0].external_data[0].value = location
        paths[name] = save(tmp_path / f"{name}.onnx", nodes, {"x": [1, 3, 8, 8]}, inits)
    paths["no_file"] = tmp_path / "nothing.onnx"
    return paths


HOSTILE_MESSAGES = {
    "text": "not an ONNX model",
    "truncated": "not an ONNX model",
    "empty": "empty file, not an ONNX model",
    "garbage": "not an ONNX model",
    "huge": "declares a dimension of 1,000,000,000,000",
    "huge_weight": "declares a dimension of 10,000,000,000",
    "cycle": "the graph has a cycle",
    "missing": "reads 'z', which nothing produces",
    "twice": "tensor 'y' is produced twice",
    "outside": "points its external data outside the model's folder ('../../etc/passwd')",
    "absolute": "outside the model's folder ('/etc/passwd')",
    "no_file": "ONNX file not found",
}


def test_hostile_files_are_refused(tmp_path):
    paths = hostile(tmp_path)
    assert set(paths) == set(HOSTILE_MESSAGES)
    for name, path in paths.items():
        with pytest.raises(ConvcliError, match=HOSTILE_MESSAGES[name].replace("(", r"\(")
                           .replace(")", r"\)")):  # fmt: skip
            load_onnx(path)


def test_external_weights_are_never_read(tmp_path):
    """A model whose weight file is a FIFO would hang if it were opened."""
    import os

    nodes, inits = conv([8, 3, 3, 3], 8)
    path = save(tmp_path / "m.onnx", nodes, {"x": [1, 3, 8, 8]}, inits)
    os.mkfifo(tmp_path / "weights.bin")
    assert analyze_onnx(path)[0].total.params == 224


def test_without_onnx_one_error_says_what_to_install(monkeypatch):
    import convcli.onnx_net as module

    def missing():
        raise ImportError("No module named 'onnx'")

    monkeypatch.setattr(module, "_LOADED", [])
    monkeypatch.setattr(module, "_load_parts", missing)
    with pytest.raises(ConvcliError, match=r"pip install 'convcli\[onnx\]'"):
        load_onnx(MODELS / "conv1d.onnx")


def test_loading_onnx_parts_first_then_onnx_itself():
    """convcli loads onnx's protobuf classes and shape inference alone; a later
    ``import onnx`` in the same process shares them."""
    code = (
        "from convcli.onnx_net import load_onnx; import sys\n"
        f"load_onnx({str(MODELS / 'conv1d.onnx')!r})\n"
        "print('numpy' in sys.modules, 'onnx' in sys.modules)\n"
        "import onnx, onnx.checker, onnx.shape_inference\n"
        f"m = onnx.load({str(MODELS / 'conv1d.onnx')!r}, load_external_data=False)\n"
        "print(len(onnx.shape_inference.infer_shapes(m).graph.value_info))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[:2] == ["False", "False"] and int(done.stdout.split()[2]) > 0


# ---------------------------------------------------------------------------------------
# The command line (needs the wiring in network.Source.load and commands/shape.py)


def test_cli_shape_model_and_net_option(cli):
    for args in (["shape", MODELS / "resnet18.onnx"], ["shape", "--net", MODELS / "resnet18.onnx"]):
        result = cli(*args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        data = json.loads(result.stdout)
        assert data["total"]["params"] == 11_689_512 and data["total"]["macs"] == 1_814_073_344
        assert data["inputs"] == {"x": [3, 224, 224]} and list(data["outputs"]) == ["linear"]
    result = cli("shape", "3x320x320", MODELS / "resnet18_dynamic.onnx", "--format", "plain")
    assert (result.exit_code, result.stdout) == (0, "1000\n")
    more = cli("shape", MODELS / "resnet18.onnx", "relu", "fc:10", "--format", "plain")
    assert (more.exit_code, more.stdout) == (0, "10\n")  # words continue the model
    csv = cli("shape", MODELS / "unet.onnx", "--format", "csv")
    assert csv.exit_code == 0 and csv.stdout.count("\n") == 69  # header, 67 layers, total


def test_cli_unmapped_warning_and_strict(cli, tmp_path):
    path = save(tmp_path / "m.onnx", [node("Erf", ["x"])], {"x": [1, 3, 8, 8]})
    result = cli("shape", path, "--format", "plain")
    assert result.exit_code == 0 and result.stdout == "3x8x8\n"
    assert result.stderr.count("warning: 1 ONNX operator(s) not counted") == 1
    strict = cli("shape", path, "--strict", "--format", "plain")
    assert strict.exit_code == 1


def test_cli_to_net_round_trip(cli, tmp_path):
    target = tmp_path / "vit.net"
    result = cli("shape", MODELS / "vit_small.onnx", "--to-net", target, "--format", "json")
    assert result.exit_code == 0, result.stderr
    first = json.loads(result.stdout)["total"]
    back = cli("shape", "--net", target, "--format", "json")
    assert json.loads(back.stdout)["total"] == first
    stdout = cli("shape", "3x320x320", MODELS / "resnet18_dynamic.onnx", "--to-net", "-")
    assert stdout.stdout.startswith("input x=3x320x320\nconv:64,k=7,s=2,p=3,bias=false\nbn\n")
    model = MODELS / "conv1d.onnx"
    refused = cli("shape", model, "--to-net", model)
    assert refused.exit_code == 1 and "that is the model being read" in refused.stderr


def test_cli_a_batch_given_to_a_fixed_batch_model_is_said(cli):
    """resnet18.onnx is exported with batch 1 (its Reshape keeps [1, 512]): a batch of 8
    is said, and the operators it breaks are warned of, so --strict fails."""
    fixed = cli("shape", "8x3x224x224", MODELS / "resnet18.onnx", "--format", "plain")
    assert fixed.stderr.startswith(
        "note: INPUT 8x3x224x224 gives input 'x' a batch of 8; the model's is fixed at 1, "
        "and shapes its graph holds as constants keep that batch\n"
        "warning: 2 ONNX operator(s) not counted"
    )
    strict = cli("shape", "8x3x224x224", MODELS / "resnet18.onnx", "--strict")
    assert strict.exit_code == 1
    dynamic = cli("shape", "8x3x224x224", MODELS / "resnet18_dynamic.onnx", "--format", "plain")
    assert dynamic.exit_code == 0 and dynamic.stderr == "" and dynamic.stdout == "8x1000\n"


def test_cli_to_net_reads_the_model_once(cli, tmp_path, monkeypatch):
    import convcli.onnx_net

    reads = []
    read_model = convcli.onnx_net._read_model
    monkeypatch.setattr(
        convcli.onnx_net, "_read_model", lambda path: reads.append(path) or read_model(path)
    )
    result = cli("shape", MODELS / "resnet18.onnx", "--to-net", tmp_path / "r.net")
    assert result.exit_code == 0, result.stderr
    assert len(reads) == 1
    assert (tmp_path / "r.net").read_text().startswith("input ")


@pytest.mark.parametrize("name", sorted(HOSTILE_MESSAGES))
def test_cli_hostile_file_is_one_error_line(cli, tmp_path, name):
    path = hostile(tmp_path)[name]
    result = cli("shape", path)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1


def test_cli_symbolic_input_is_a_usage_error(cli):
    result = cli("shape", MODELS / "resnet18_dynamic.onnx")
    assert result.exit_code == 2
    model = MODELS / "resnet18_dynamic.onnx"  # the path as given, to paste back
    assert f"give INPUT, e.g. convcli shape 3x224x224 {model}\n" in result.stderr


def test_plain_shape_path_imports_neither_onnx_nor_numpy():
    code = (
        "import sys\nfrom convcli.cli import main\nsys.argv = ['convcli', 'shape', '--net', "
        f"{str(SAMPLES / 'resnet50.net')!r}, '--format', 'plain']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('onnx', 'numpy', 'convcli.onnx_net') or m == 'convcli.onnx_net'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr
