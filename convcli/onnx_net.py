"""ONNX models as convcli networks: ``convcli shape model.onnx``.

An ONNX file's graph becomes the same :class:`convcli.network.Network` a net file gives
(layers, ``tag:``/``from:``/``out:`` named after the ONNX tensors), so every report,
format and check of ``convcli shape`` works on it, and :func:`to_words` writes it back as
a net file. Only the graph and the weights' *shapes* are read: external weight files are
never opened, so a model of any size is sized in a fraction of a second.

Operators map to convcli's words (Conv -> ``conv``/``dwconv``, ConvTranspose ->
``deconv``, pools, Gemm/MatMul -> ``fc``, norms, activations, Add/Mul/Concat -> merges,
Resize -> ``up``, DepthToSpace -> ``shuffle``, Pad, Flatten; Reshape + Transpose that turn
a map into tokens -> ``tokens``; the class token, the position embedding, multi-head
self-attention and the class-token head of a vision transformer -> ``cls``, ``posemb``,
``attn:H``, ``head:N``). Each mapped layer's output is checked against ONNX shape
inference; an operator convcli cannot count (or whose arithmetic disagrees) becomes an
``opaque:OP,out=SHAPE`` word with the shape ONNX inferred, so the rest of the graph still
adds up, and one warning lists them by name and count.

The ``onnx`` package is an optional extra (``pip install 'convcli[onnx]'``), imported only
here; nothing on the plain ``convcli shape`` path imports this module.

Public API
----------
- ``load_onnx(path, input_size=None, channels_last=False) -> (Network, inputs, notes)``:
  what ``shape`` analyses (``inputs`` as :func:`convcli.network.resolve_inputs` gives them).
- ``read_onnx(path, input_size=None) -> (Network, notes)``.
- ``load_model(path, words, input_size, channels_last, ...)``: the same, followed by
  LAYER words: what :meth:`convcli.network.Source.load` returns for a ``.onnx`` file.
- ``to_words(network, notes=(), inputs=None) -> str``: any network as net-file text;
  ``write_net(source, target, loaded=...)``: ``shape --to-net``.
"""

from __future__ import annotations

import math
import os
import re
import shlex
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from convcli.costs import layer_report
from convcli.errors import ConvcliError, SpecError
from convcli.geometry import Field, Layer, Shape
from convcli.layers import parse_layer
from convcli.network import MAX_LAYERS, InputSize, Network, Step, read_size

#: Largest dimension accepted anywhere in a file (as for a typed size).
MAX_DIM = 999_999_999
#: Largest ONNX file read (protobuf's own limit is 2 GiB).
MAX_BYTES = 2**31 - 1
#: Operators that only move or relabel data (no arithmetic).
_LAYOUT = frozenset({
    "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Cast", "CastLike", "Gather",
    "Split", "Slice", "Expand", "Flatten", "Dropout",
})  # fmt: skip
#: Operators whose output is the input, relabelled, when the shapes agree.
_ALIASES = frozenset({"Identity", "Cast", "CastLike"})
_ACTIVATIONS = {
    "Relu": "relu",
    "Sigmoid": "sigmoid",
    "Tanh": "tanh",
    "HardSwish": "hswish",
    "HardSigmoid": "hsigmoid",
    "LeakyRelu": "lrelu",
    "Gelu": "gelu",
    "Softmax": "softmax",
}
_FOLDED_RULE = "pkg.onnxscript.rewriter.rule_name"


class _ConvParts(NamedTuple):
    """The pieces of a Conv/ConvTranspose node both mappings read."""

    weight: list[int]
    data: list[int]
    attrs: dict[str, Any]
    kernel: list[int]
    rank: int
    stride: list[int]
    dilation: list[int]
    groups: int


@dataclass(frozen=True)
class _Onnx:
    """What convcli uses of the onnx package: its protobuf classes and its C++ shape
    inference (``infer(model_bytes, check_type, strict_mode, data_prop) -> bytes``)."""

    ModelProto: Any
    infer: Any


_LOADED: list[_Onnx] = []


def _onnx() -> _Onnx:
    """The onnx package's protobuf classes and shape inference.

    ``import onnx`` takes about a second (it loads NumPy and ml_dtypes for its helpers);
    convcli needs neither, so the two modules it uses are loaded by themselves, each
    under its own name (a later ``import onnx`` finds and shares them). If that fails,
    the whole package is imported.
    """
    if _LOADED:
        return _LOADED[0]
    try:
        found = _load_parts()
    except ImportError:
        raise ConvcliError(
            "reading ONNX files needs the onnx package: pip install 'convcli[onnx]' "
            "(or pip install onnx)"
        ) from None
    except Exception as error:  # a broken install (protobuf versions, a missing library)
        raise ConvcliError(f"the onnx package cannot be loaded: {error}") from None
    _LOADED.append(found)
    return found


def _load_parts() -> _Onnx:
    import importlib.machinery
    import importlib.util
    import sys

    proto = sys.modules.get("onnx.onnx_ml_pb2")
    native = sys.modules.get("onnx.onnx_cpp2py_export")
    try:
        spec = importlib.util.find_spec("onnx") if proto is None or native is None else None
        folder = None
        if spec is not None:
            if not spec.submodule_search_locations:
                raise ImportError("onnx")
            folder = Path(spec.submodule_search_locations[0])
        if proto is None and folder is not None:
            # A private name: the descriptors it registers are shared with onnx's own.
            source = importlib.util.spec_from_file_location(
                "_convcli_onnx_ml_pb2", folder / "onnx_ml_pb2.py"
            )
            assert source is not None and source.loader is not None
            proto = importlib.util.module_from_spec(source)
            source.loader.exec_module(proto)
        if native is None and folder is not None:
            # Its own name: a native module must be initialised once per process.
            library = next(p for p in folder.glob("onnx_cpp2py_export*") if p.is_file())
            loader = importlib.machinery.ExtensionFileLoader("onnx.onnx_cpp2py_export",
                                                             str(library))  # fmt: skip
            native_spec = importlib.util.spec_from_loader(loader.name, loader)
            assert native_spec is not None
            native = importlib.util.module_from_spec(native_spec)
            sys.modules[loader.name] = native
            loader.exec_module(native)
        assert proto is not None and native is not None
        return _Onnx(proto.ModelProto, native.shape_inference.infer_shapes)
    except ImportError:
        raise
    except Exception:  # an onnx laid out differently: the ordinary import
        import onnx
        import onnx.onnx_cpp2py_export as native_module

        return _Onnx(onnx.ModelProto, native_module.shape_inference.infer_shapes)


# ---------------------------------------------------------------------------------------
# Reading the file, safely


def _read_model(path: Path) -> Any:
    """The ModelProto of ``path``, refusing what is not a sound ONNX file."""
    onnx = _onnx()
    if not path.exists():
        raise ConvcliError(f"ONNX file not found: {path}")
    if not path.is_file():
        raise ConvcliError(f"ONNX file is not a regular file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise ConvcliError(f"{path}: empty file, not an ONNX model")
    if size > MAX_BYTES:
        raise ConvcliError(f"{path}: larger than 2 GiB, which no ONNX file can be "
                           "(weights that large are kept in external data files)")  # fmt: skip
    try:
        data = path.read_bytes()
        model = onnx.ModelProto()
        model.ParseFromString(data)
        del data
    except Exception as error:  # protobuf's DecodeError, RecursionError, ...
        reason = str(error).splitlines()[0][:120] if str(error) else type(error).__name__
        raise ConvcliError(f"{path}: not an ONNX model (truncated or not protobuf: {reason})"
                           ) from None  # fmt: skip
    graph = model.graph
    if model.ir_version < 1 or not graph.node or not model.opset_import:
        raise ConvcliError(f"{path}: not an ONNX model (no graph, IR version or opset)")
    _check_external(model, path)
    return model


def _external_tensors(model: Any) -> Iterable[Any]:
    yield from model.graph.initializer
    for sparse in model.graph.sparse_initializer:
        yield sparse.values
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors


def _check_external(model: Any, path: Path) -> None:
    """External data must stay inside the model's folder (it is never read, but a path
    that leaves the folder is a hostile file)."""
    folder = os.path.abspath(path.parent)  # the declared path: the file is never opened
    for tensor in _external_tensors(model):
        if tensor.data_location != 1:  # TensorProto.EXTERNAL
            continue
        entries = {entry.key: entry.value for entry in tensor.external_data}
        location = entries.get("location", "")
        target = os.path.normpath(os.path.join(folder, location))
        if (not location or os.path.isabs(location) or ".." in Path(location).parts
                or os.path.commonpath([folder, target]) != folder):  # fmt: skip
            raise ConvcliError(
                f"{path}: tensor {tensor.name!r} points its external data outside the "
                f"model's folder ({location!r}); refused"
            )


#: AttributeProto.type -> the field holding the value (INT, FLOAT, STRING, TENSOR and lists)
_ATTRIBUTE_FIELDS = {1: "f", 2: "i", 3: "s", 4: "t", 6: "floats", 7: "ints", 8: "strings"}
#: TensorProto.data_type -> (struct format, typed field) for the types a shape needs
_TENSOR_TYPES = {
    1: ("f", "float_data"),
    6: ("i", "int32_data"),
    7: ("q", "int64_data"),
    11: ("d", "double_data"),
}


def _tensor_values(tensor: Any) -> list[Any] | None:
    """The values of a small numeric tensor stored in the file, flattened."""
    import struct

    if tensor.data_location == 1 or tensor.data_type not in _TENSOR_TYPES:
        return None
    count = math.prod(tensor.dims)
    if count > 4096:
        return None
    code, typed = _TENSOR_TYPES[tensor.data_type]
    if tensor.raw_data:
        if len(tensor.raw_data) != count * struct.calcsize(code):
            return None
        return list(struct.unpack(f"<{count}{code}", tensor.raw_data))
    values = list(getattr(tensor, typed))
    return values if len(values) == count else None


_Value = tuple[list[int], list[Any]]  # a static tensor: (dims, values flattened)


def _evaluate(graph: _Graph, node: Any, name: str, depth: int) -> _Value | None:
    """One static node's output ``name`` as ``(dims, values)`` (see ``_Graph.evaluate``)."""
    op, attrs = node.op_type, graph.attrs(node)
    if node.domain not in ("", "ai.onnx"):
        return None
    if op == "Shape":
        dims = graph.known(node.input[0])
        if dims is None:
            return None
        part = dims[slice(attrs.get("start", 0), attrs.get("end", len(dims)))]
        return [len(part)], part
    rule = _EVALUATORS.get(op)
    if rule is None:
        return None
    inputs = [graph.evaluate(n, depth) if n else None for n in node.input]
    if any(n and value is None for n, value in zip(node.input, inputs, strict=True)):
        return None
    return rule(op, graph, name, attrs, inputs)


# Each rule: (op, graph, output name, attributes, evaluated inputs) -> (dims, values) or None.
# The first input is never None when a rule runs (a missing input would have stopped it).


def _eval_identity(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    dims, values = inputs[0]
    if op == "Cast" and attrs.get("to") in (6, 7):
        values = [int(v) for v in values]
    return dims, values


def _eval_fill(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    fill = _tensor_values(attrs["value"]) if "value" in attrs else [0.0]
    if fill is None:
        return None
    shape = inputs[0][1]
    count = math.prod(shape)
    return ([int(v) for v in shape], fill[:1] * count) if count <= 4096 else None


def _eval_reshape(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    first = inputs[0]
    dims = graph.known(name)
    if dims is None and op == "Reshape" and inputs[1] is not None:
        dims = _reshaped(first[0], [int(v) for v in inputs[1][1]])
    return None if dims is None else (dims, first[1])


def _eval_concat(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    parts = [value for value in inputs if value is not None]
    if any(len(p[0]) != 1 for p in parts):
        return None
    values = [v for p in parts for v in p[1]]
    return [len(values)], values


def _eval_gather(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    first, indices = inputs[0], inputs[1]
    if len(first[0]) != 1:
        return None
    return list(indices[0]), [first[1][int(i)] for i in indices[1]]


def _eval_slice(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    return _slice(inputs[0], inputs)


def _eval_transpose(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    first = inputs[0]
    if len(first[0]) != 2:
        return None
    rows, columns = first[0]
    values = [first[1][r * columns + c] for c in range(columns) for r in range(rows)]
    return [columns, rows], values


def _eval_arithmetic(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    return _arithmetic(op, inputs[0], inputs[1])


def _eval_where(op: str, graph: _Graph, name: str, attrs: dict, inputs: list) -> _Value | None:
    condition, chosen, other = inputs
    count = max(len(condition[1]), len(chosen[1]), len(other[1]))
    if any(len(v[1]) not in (1, count) for v in inputs if v is not None):
        return None

    def at(values: list[Any], index: int) -> Any:
        return values[0] if len(values) == 1 else values[index]

    dims = next(v[0] for v in inputs if v is not None and len(v[1]) == count)
    picked = [at(chosen[1], i) if at(condition[1], i) else at(other[1], i)
              for i in range(count)]  # fmt: skip
    return dims, picked


_EVALUATORS: dict[str, Callable[..., _Value | None]] = {
    **dict.fromkeys(("Identity", "Cast", "CastLike"), _eval_identity),
    "ConstantOfShape": _eval_fill,
    **dict.fromkeys(("Unsqueeze", "Squeeze", "Reshape", "Flatten"), _eval_reshape),
    "Concat": _eval_concat,
    "Gather": _eval_gather,
    "Slice": _eval_slice,
    "Transpose": _eval_transpose,
    **dict.fromkeys(("Add", "Sub", "Mul", "Div", "Mod", "Equal"), _eval_arithmetic),
    "Where": _eval_where,
}


def _broadcast(dims: list[int], target: list[Any]) -> list[int] | None:
    """The dimensions ``Expand`` gives (NumPy's broadcasting of ``dims`` to ``target``)."""
    size = max(len(dims), len(target))
    left = [1] * (size - len(dims)) + list(dims)
    right = [1] * (size - len(target)) + [int(v) for v in target]
    if any(a != b and 1 not in (a, b) for a, b in zip(left, right, strict=True)):
        return None
    return [max(a, b) for a, b in zip(left, right, strict=True)]


def _reshaped(dims: list[int], target: list[int]) -> list[int] | None:
    total = math.prod(dims)
    shape = [dims[i] if t == 0 and i < len(dims) else t for i, t in enumerate(target)]
    if shape.count(-1) == 1:
        rest = math.prod(d for d in shape if d != -1)
        shape[shape.index(-1)] = total // rest if rest else 0
    return shape if math.prod(shape) == total else None


def _slice(
    data: tuple[list[int], list[Any]], inputs: list[tuple[list[int], list[Any]] | None]
) -> tuple[list[int], list[Any]] | None:
    """Slice of a 1-D or 2-D constant (steps may be negative)."""
    dims, values = data

    def given(index: int) -> list[Any] | None:
        found = inputs[index] if len(inputs) > index else None
        return None if found is None else found[1]

    starts, ends = given(1), given(2)
    if starts is None or ends is None:
        return None
    axes = given(3) or list(range(len(starts)))
    steps = given(4) or [1] * len(starts)
    ranges = [range(d) for d in dims]
    for start, end, axis, step in zip(starts, ends, axes, steps, strict=True):
        size = dims[int(axis)]
        ranges[int(axis)] = range(size)[slice(int(start), int(end), int(step))]
    if len(dims) == 1:
        return [len(ranges[0])], [values[i] for i in ranges[0]]
    if len(dims) == 2:
        picked = [values[r * dims[1] + c] for r in ranges[0] for c in ranges[1]]
        return [len(ranges[0]), len(ranges[1])], picked
    return None


def _arithmetic(
    op: str, left: tuple[list[int], list[Any]], right: tuple[list[int], list[Any]]
) -> tuple[list[int], list[Any]] | None:
    """Element-wise arithmetic of two constants (equal sizes, or one a single value)."""
    (left_dims, a), (right_dims, b) = left, right
    if len(a) != len(b) and 1 not in (len(a), len(b)):
        return None
    count = max(len(a), len(b))
    dims = left_dims if len(a) == count else right_dims
    a, b = (a * count if len(a) == 1 else a), (b * count if len(b) == 1 else b)
    integers = all(isinstance(v, int) for v in [*a, *b])
    if op == "Add":
        values = [x + y for x, y in zip(a, b, strict=True)]
    elif op == "Sub":
        values = [x - y for x, y in zip(a, b, strict=True)]
    elif op == "Mul":
        values = [x * y for x, y in zip(a, b, strict=True)]
    elif op == "Mod":
        values = [x % y for x, y in zip(a, b, strict=True)]
    elif op == "Equal":
        values = [x == y for x, y in zip(a, b, strict=True)]
    else:
        values = [x // y if integers else x / y for x, y in zip(a, b, strict=True)]
    return dims, values


def _batch_dims(shape: Shape) -> list[int]:
    """A convcli shape as ONNX dimensions, batch first (1 when not given)."""
    return [shape.batch_count, *shape.dims()[1 if shape.batch is not None else 0 :]]


def _dims(value_info: Any) -> list[int | None] | None:
    """The dimensions of a tensor's type (None for a symbolic one), or None if unknown."""
    kind = value_info.type.WhichOneof("value")
    if kind != "tensor_type" or not value_info.type.tensor_type.HasField("shape"):
        return None
    dims: list[int | None] = []
    for dim in value_info.type.tensor_type.shape.dim:
        dims.append(dim.dim_value if dim.HasField("dim_value") else None)
    return dims


def _check_dims(dims: Iterable[int | None], what: str, path: Path) -> None:
    for dim in dims:
        if dim is not None and (dim < 0 or dim > MAX_DIM):
            raise ConvcliError(f"{path}: {what} declares a dimension of {dim:,} "
                               f"(at most {MAX_DIM:,})")  # fmt: skip


def _symbol(dim: Any) -> str:
    return dim.dim_param if dim.HasField("dim_param") else "?"


# ---------------------------------------------------------------------------------------
# Names


def _sanitize(names: Iterable[str]) -> dict[str, str]:
    """Each ONNX tensor name as a convcli name (``[A-Za-z_][\\w.-]*``), unique."""
    result: dict[str, str] = {}
    taken: set[str] = set()
    for name in names:
        if name in result:
            continue
        clean = re.sub(r"[^\w.-]", "_", name, flags=re.ASCII) or "t"
        if not re.match(r"[A-Za-z_]", clean):
            clean = "t_" + clean
        candidate, number = clean, 1
        while candidate in taken:
            number += 1
            candidate = f"{clean}_{number}"
        taken.add(candidate)
        result[name] = candidate
    return result


# ---------------------------------------------------------------------------------------
# Words


def _axes(values: Sequence[int]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _pads_text(befores: Sequence[int], afters: Sequence[int]) -> str:
    if list(befores) == list(afters):
        return _axes(befores)
    return ",".join(f"{b},{a}" for b, a in zip(befores, afters, strict=True))


def _ranked(kind: str, rank: int) -> str:
    return kind if rank == 2 else f"{kind}{rank}d"


@dataclass
class _Op:
    """Words that read ``primary`` (and ``refs`` by name) and produce ``output``."""

    words: list[str]
    primary: str
    refs: tuple[str, ...]
    output: str
    node: str
    onnx_op: str
    layers: list[Layer] = field(default_factory=list)


@dataclass
class _Tensor:
    shape: Shape
    field: Field


class _Graph:
    """One pass over a model: ONNX tensors -> convcli words."""

    def __init__(self, model: Any, path: Path, inferred: Any, batch: int | None) -> None:
        self.path = path
        self.model = model
        self.graph = model.graph
        self.batch = batch
        self.nodes = list(model.graph.node)
        self.dims: dict[str, list[int | None]] = {}
        for info in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
            found = _dims(info)
            if found is not None:
                _check_dims(found, f"tensor {info.name!r}", path)
                self.dims.setdefault(info.name, found)
        self.initializers = {t.name: t for t in model.graph.initializer}
        for tensor in model.graph.initializer:
            _check_dims(tensor.dims, f"initializer {tensor.name!r}", path)
            self.dims[tensor.name] = list(tensor.dims)
        self.constants: dict[str, Any] = {}
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = defaultdict(list)
        self.static: set[str] = set(self.initializers)
        self.inputs = [i for i in model.graph.input if i.name not in self.initializers]
        self.order = self._sort()
        for node in self.order:
            if node.op_type == "Constant" and not node.domain:
                self.static.update(node.output)
                for attribute in node.attribute:
                    if attribute.name == "value":
                        self.constants[node.output[0]] = attribute.t
            elif node.op_type in ("Shape", "Size") or all(
                name in self.static for name in node.input if name
            ):
                self.static.update(node.output)
        self.tensors: dict[str, _Tensor] = {}
        self.values: dict[str, tuple[list[int], list[Any]] | None] = {}
        self.alias: dict[str, str] = {}
        self.absorbed: set[int] = set()
        self.special: dict[int, tuple[Any, list[Any]]] = {}
        self.ops: list[_Op] = []
        self.unmapped: Counter[str] = Counter()
        self.disagreed: set[int] = set()
        self.overruled = 0
        self.folded = 0
        self.notes: list[str] = []
        self._has_norms: bool | None = None
        self.diverged = False
        all_names = [i.name for i in self.inputs] + [o for n in self.order for o in n.output if o]
        self.names = _sanitize(all_names)

    # -- structure ----------------------------------------------------------------------

    def _sort(self) -> list[Any]:
        """The nodes in an order where every tensor is made before it is read (Kahn's);
        a cycle, a tensor made twice or read but never made is an error."""
        if len(self.nodes) > MAX_LAYERS:
            raise ConvcliError(f"{self.path}: more than {MAX_LAYERS:,} nodes")
        known = set(self.initializers) | {i.name for i in self.graph.input}
        self._index_producers(known)
        order = self._kahn(*self._dependencies(known))
        # Keep the file's order where it is already topological (exporters write it so).
        if order != sorted(order) and self._in_order():
            order = sorted(order)
        nodes = [self.nodes[i] for i in order]
        self.producer = {name: node for node in nodes for name in node.output if name}
        for node in nodes:
            for name in node.input:
                if name:
                    self.consumers[name].append(node)
        return nodes

    def _index_producers(self, known: set[str]) -> None:
        """``producer``: tensor -> the index of the node making it (made once, or an error)."""
        for index, node in enumerate(self.nodes):
            for name in node.output:
                if not name:
                    continue
                if name in self.producer or name in known:
                    raise ConvcliError(f"{self.path}: tensor {name!r} is produced twice "
                                       "(not a valid ONNX graph)")  # fmt: skip
                self.producer[name] = index

    def _dependencies(self, known: set[str]) -> tuple[list[int], dict[str, list[int]]]:
        """How many made tensors each node waits for, and each tensor's readers."""
        waiting = [0] * len(self.nodes)
        readers: dict[str, list[int]] = defaultdict(list)
        for index, node in enumerate(self.nodes):
            for name in dict.fromkeys(n for n in node.input if n):
                if name in known:
                    continue
                if name not in self.producer:
                    raise ConvcliError(f"{self.path}: node {node.name or node.op_type!r} reads "
                                       f"{name!r}, which nothing produces")  # fmt: skip
                waiting[index] += 1
                readers[name].append(index)
        return waiting, readers

    def _kahn(self, waiting: list[int], readers: dict[str, list[int]]) -> list[int]:
        """Node indices, each after the nodes it waits for (``waiting`` is used up)."""
        ready = [i for i, count in enumerate(waiting) if count == 0]
        order: list[int] = []
        while ready:
            index = ready.pop()
            order.append(index)
            for name in self.nodes[index].output:
                for reader in readers.get(name, ()):
                    waiting[reader] -= 1
                    if waiting[reader] == 0:
                        ready.append(reader)
        if len(order) != len(self.nodes):
            stuck = next(self.nodes[i] for i, count in enumerate(waiting) if count)
            raise ConvcliError(f"{self.path}: the graph has a cycle (through node "
                               f"{stuck.name or stuck.op_type!r})")  # fmt: skip
        return order

    def _in_order(self) -> bool:
        seen = set(self.initializers) | {i.name for i in self.graph.input}
        for node in self.nodes:
            if any(name and name not in seen for name in node.input):
                return False
            seen.update(node.output)
        return True

    def is_active(self, name: str) -> bool:
        return bool(name) and name not in self.static

    def active_inputs(self, node: Any) -> list[str]:
        return [name for name in node.input if self.is_active(name)]

    def resolve(self, name: str) -> str:
        while name in self.alias:
            name = self.alias[name]
        return name

    @staticmethod
    def attrs(node: Any) -> dict[str, Any]:
        """A node's attributes by name (ints, floats, strings and their lists)."""
        values: dict[str, Any] = {}
        for attribute in node.attribute:
            kind = _ATTRIBUTE_FIELDS.get(attribute.type)
            if kind is None:
                continue
            value = getattr(attribute, kind)
            if kind in ("ints", "floats", "strings"):
                value = [v.decode("utf-8", "replace") if isinstance(v, bytes) else v
                         for v in value]  # fmt: skip
            elif isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            values[attribute.name] = value
        return values

    def value(self, name: str) -> list[Any] | None:
        """The values of a small constant tensor, flattened: stored in the file, or
        computed from shapes and constants (None when external, of another type, larger
        than 4,096 values or beyond :meth:`evaluate`)."""
        found = self.evaluate(name)
        return None if found is None else found[1]

    def evaluate(self, name: str, depth: int = 0) -> tuple[list[int], list[Any]] | None:
        """``(dims, values)`` of a static tensor: what exporters compute from constants
        and ``Shape`` (the pads of ``F.pad``, the target of a Reshape), evaluated over
        plain lists for the operators such chains use."""
        if name in self.values:
            return self.values[name]
        tensor = self.initializers.get(name) or self.constants.get(name)
        result: tuple[list[int], list[Any]] | None = None
        if tensor is not None:
            values = _tensor_values(tensor)
            result = None if values is None else (list(tensor.dims), values)
        elif name in self.static and name in self.producer and depth < 64:
            try:
                result = _evaluate(self, self.producer[name], name, depth + 1)
            except (ArithmeticError, IndexError, KeyError, TypeError, ValueError):
                result = None
            if result is not None and (
                len(result[1]) > 4096 or math.prod(result[0]) != len(result[1])
            ):
                result = None
        self.values[name] = result
        return result

    def known(self, name: str) -> list[int] | None:
        """A tensor's dimensions (batch first): ONNX's inferred ones, else convcli's for a
        tensor of the walk, else those of an evaluated constant."""
        dims = self.dims.get(name)
        if dims is not None and all(d is not None for d in dims):
            return [int(d) for d in dims]  # type: ignore[arg-type]
        tensor = self.tensors.get(self.resolve(name))
        if tensor is not None:
            return _batch_dims(tensor.shape)
        if name in self.static:
            producer = self.producer.get(name)
            if producer is not None and producer.op_type == "Expand":
                data, target = self.known(producer.input[0]), self.value(producer.input[1])
                return None if data is None or target is None else _broadcast(data, target)
            found = self.evaluate(name)
            return None if found is None else found[0]
        return None

    def output_dims(self, node: Any) -> list[int] | None:
        """The dimensions of a node's first output: ONNX's, or for a Reshape those its
        evaluated target gives (exporters compute it from ``Shape``)."""
        dims = self.known(node.output[0])
        data = self.known(node.input[0]) if node.input else None
        if dims is not None or data is None:
            return dims
        op, attrs = node.op_type, self.attrs(node)
        given = [self.value(n) if n else None for n in node.input[1:]]
        if op == "Reshape" and given and given[0] is not None:
            return _reshaped(data, [int(v) for v in given[0]])
        if op == "Flatten":
            axis = int(attrs.get("axis", 1)) % max(1, len(data))
            return [math.prod(data[:axis]), math.prod(data[axis:])]
        if op == "Unsqueeze":
            axes = attrs.get("axes") or (given[0] if given else None)
            if axes is None:
                return None
            rank = len(data) + len(axes)
            added = {int(a) % rank for a in axes}
            rest = iter(data)
            return [1 if i in added else next(rest) for i in range(rank)]
        if op == "Transpose":
            perm = attrs.get("perm") or list(reversed(range(len(data))))
            return [data[int(p)] for p in perm] if len(perm) == len(data) else None
        if op == "Gather":
            indices = self.known(node.input[1])
            axis = int(attrs.get("axis", 0)) % max(1, len(data))
            return None if indices is None else [*data[:axis], *indices, *data[axis + 1 :]]
        if op == "Squeeze":
            axes = attrs.get("axes") or (given[0] if given else None)
            if axes is None:
                return [d for d in data if d != 1]
            drop = {int(a) % len(data) for a in axes}
            return [d for i, d in enumerate(data) if i not in drop]
        if op in ("Resize", "Upsample"):
            scales = given[-1] if op == "Upsample" else (given[1] if len(given) > 1 else None)
            sizes = given[2] if op == "Resize" and len(given) > 2 else None
            if sizes:
                return [int(v) for v in sizes]
            if scales and len(scales) == len(data):
                return [int(math.floor(d * f)) for d, f in zip(data, scales, strict=True)]
        return None

    def single_consumer(self, name: str) -> Any:
        """The one node reading ``name`` (None if several, none, or a graph output)."""
        readers = self.consumers.get(name, [])
        outputs = {o.name for o in self.graph.output}
        if len(readers) == 1 and name not in outputs:
            return readers[0]
        return None

    # -- convcli shapes -----------------------------------------------------------------

    def convcli_shape(self, dims: Sequence[int], like: Shape | None) -> Shape:
        """A convcli shape for ONNX ``dims`` (batch first), its layout guessed from the
        tensor it came from (``like``) and its rank."""
        rest = list(dims[1:]) if len(dims) > 1 else list(dims)
        batch = self.batch
        if len(dims) <= 2:
            return Shape.features(max(1, math.prod(rest)), batch)
        if len(dims) == 3 and like is not None and like.is_tokens:
            return Shape.token_shape(rest[0], rest[1], batch)
        if len(dims) in (3, 4, 5):
            return Shape.of(rest[0], rest[1:], batch)
        return Shape.features(math.prod(rest), batch)

    @staticmethod
    def out_text(shape: Shape) -> str:
        if shape.is_tokens:
            return f"{shape.tokens}x{shape.channel_count}t"
        if shape.is_flat:
            return f"{shape.channel_count}f"
        return "x".join(map(str, [shape.channel_count, *shape.spatial]))

    def matches(self, shape: Shape, name: str) -> bool:
        """Whether convcli's ``shape`` is ONNX's for tensor ``name`` (dimension by
        dimension; a flat shape by its element count)."""
        dims = self.known(name)
        if dims is None or self.diverged:
            return True
        mine = _batch_dims(shape)
        if shape.is_flat:
            return math.prod(mine) == math.prod(dims) and len(dims) >= 1
        return mine == dims

    # -- the walk -----------------------------------------------------------------------

    def emit(self, node: Any, words: list[str], primary: str, refs: Sequence[str] = (),
             output: str | None = None) -> bool:  # fmt: skip
        """Check ``words`` on the tensors they read and record them; False (nothing
        recorded) when convcli refuses them or disagrees with ONNX's shape."""
        output = output if output is not None else node.output[0]
        primary = self.resolve(primary)
        refs = tuple(self.resolve(r) for r in refs)
        if primary not in self.tensors or any(r not in self.tensors for r in refs):
            return False
        first = self.tensors[primary]
        shape, current = first.shape, first.field
        layers: list[Layer] = []
        try:
            for index, word in enumerate(words):
                text = word + self._refs_text(word, refs) if index == 0 else word
                layer = parse_layer(text, len(self.ops) + 1, self._where(node))
                read = [self.tensors[primary]] + [self.tensors[r] for r in refs] if index == 0 \
                    else [_Tensor(shape, current)]  # fmt: skip
                report, current = layer_report(
                    0, layer, [t.shape for t in read], [t.field for t in read]
                )
                shape = report.output
                layers.append(layer)
        except (ConvcliError, SpecError):
            self.disagreed.add(id(node))
            return False
        if not self.matches(shape, output):
            if not self.attrs(node).get("ceil_mode"):
                self.disagreed.add(id(node))
                return False
            # ONNX's shape inference lets a ceil-mode window start in the right padding;
            # PyTorch (and the ONNX operator's text) drop it: convcli keeps PyTorch's.
            self.notes.append(
                f"note: {node.op_type} {node.name or output!r} (ceil_mode): ONNX shape "
                f"inference gives {_dims_text(self.known(output) or [])}, PyTorch's rule (no "
                f"window starts in the right padding) {_dims_text(_batch_dims(shape))}; "
                "convcli uses PyTorch's, and shapes after it are not checked against ONNX's"
            )
            self.diverged = True
        self.tensors[output] = _Tensor(shape, current)
        self.ops.append(_Op([layer.word for layer in layers], primary, refs, output,
                            node.name, node.op_type, layers))  # fmt: skip
        return True

    def _refs_text(self, word: str, refs: Sequence[str]) -> str:
        if not refs:
            return ""
        names = [self.names[r] for r in refs]
        if word.endswith(":"):
            return ",".join(names)
        return "".join("," + name for name in names)

    def _where(self, node: Any) -> str:
        return f"{self.path.name}: node {node.name or node.op_type}"

    def opaque(self, node: Any) -> None:
        """``opaque:OP,out=SHAPE`` for each output of a node convcli cannot count."""
        active = [self.resolve(n) for n in self.active_inputs(node)]
        active = [n for n in dict.fromkeys(active) if n in self.tensors]
        op_name = node.op_type if not node.domain or node.domain == "ai.onnx" else (
            f"{node.domain}.{node.op_type}")  # fmt: skip
        op_name = re.sub(r"[^\w.-]", "_", op_name, flags=re.ASCII)
        self.unmapped[op_name] += 1
        self.overruled += id(node) in self.disagreed
        for output in node.output:
            if not output:
                continue
            dims = self.output_dims(node) if output == node.output[0] else self.known(output)
            if dims is None:
                raise ConvcliError(
                    f"{self.path}: cannot size node {node.name or node.op_type!r} "
                    f"({op_name}): ONNX shape inference gives no shape for {output!r}"
                )
            if not active:  # reads only constants: a new tensor from nothing
                raise ConvcliError(f"{self.path}: node {node.name or node.op_type!r} "
                                   f"({op_name}) reads no tensor of the network")  # fmt: skip
            like = self.tensors[active[0]].shape
            shape = self.convcli_shape(dims, like)
            word = f"opaque:{op_name},out={self.out_text(shape)}"
            layer = parse_layer(word + self._refs_text(word, active[1:]), len(self.ops) + 1,
                                self._where(node))  # fmt: skip
            read = [self.tensors[a] for a in active]
            report, current = layer_report(0, layer, [t.shape for t in read],
                                           [t.field for t in read])  # fmt: skip
            self.tensors[output] = _Tensor(report.output, current)
            self.ops.append(_Op([word], active[0], tuple(active[1:]), output, node.name,
                                node.op_type, [layer]))  # fmt: skip

    def run(self) -> None:
        self._find_patterns()
        for index, node in enumerate(self.order):
            if index in self.absorbed or not self.active_inputs(node):
                continue
            if all(name in self.static for name in node.output if name):
                continue  # Shape and what is computed from shapes: no layer
            special = self.special.get(index)
            if special is not None:
                handler, nodes = special
                if handler():
                    continue
                # The pattern does not hold for convcli: its nodes one by one.
                for other in sorted(nodes, key=self._index):
                    self.absorbed.discard(self._index(other))
                    if self._index(other) < index:
                        self._one(other)
            self._one(node)

    def _one(self, node: Any) -> None:
        if self.active_inputs(node) and not self.map_node(node):
            self.opaque(node)

    # -- patterns over several nodes ------------------------------------------------------

    def _index(self, node: Any) -> int:
        return self._positions[id(node)]

    def _find_patterns(self) -> None:
        self._positions = {id(node): i for i, node in enumerate(self.order)}
        for node in self.order:
            if node.op_type == "Softmax" and not node.domain:
                self._attention(node)
        for node in self.order:
            index = self._index(node)
            if index in self.absorbed:
                continue
            if node.op_type in ("Reshape", "Flatten"):
                self._tokens(node)
            elif node.op_type == "Gather":
                self._head(node)
            elif node.op_type == "Mul":
                self._silu(node)

    def _later(
        self, node: Any, words: list[str], primary: str, output: str | None = None
    ) -> Callable[[], bool]:
        """:meth:`emit` of these words, when the walk reaches ``node``."""

        def handle() -> bool:
            return self.emit(node, words, primary, output=output)

        return handle

    def _absorb(self, *nodes: Any) -> None:
        for node in nodes:
            self.absorbed.add(self._index(node))

    def _tokens(self, node: Any) -> None:
        """``x.flatten(2).transpose(1, 2)``: Reshape/Flatten to N x C x L, then Transpose
        to N x L x C: ``tokens``."""
        source = node.input[0]
        dims, flat = self.known(source), self.output_dims(node)
        after = self.single_consumer(node.output[0])
        if dims is None or flat is None or len(dims) < 4 or after is None:
            return
        if after.op_type != "Transpose" or list(self.attrs(after).get("perm", [])) != [0, 2, 1]:
            return
        if flat != [dims[0], dims[1], math.prod(dims[2:])]:
            return
        self._absorb(after)

        def handle() -> bool:
            return self.emit(node, ["tokens"], source, output=after.output[0])

        self.special[self._index(node)] = (handle, [after])

    def _head(self, node: Any) -> None:
        """``x[:, 0]`` on tokens into a fully connected layer: ``head:N``."""
        if self.attrs(node).get("axis", 0) != 1 or self.value(node.input[1]) != [0]:
            return
        dims = self.known(node.input[0])
        after = self.single_consumer(node.output[0])
        if dims is None or len(dims) != 3 or after is None:
            return
        dense = self._dense(after)
        if dense is None or dense[0] != node.output[0]:
            return
        _, units, bias, output, nodes = dense
        self._absorb(*nodes)

        def handle() -> bool:
            word = f"head:{units}" + ("" if bias else ",bias=false")
            return self.emit(node, [word], node.input[0], output=output)

        self.special[self._index(node)] = (handle, nodes)

    def _silu(self, node: Any) -> None:
        """``x * sigmoid(x)``: ``silu`` (and ``x * hardsigmoid(x)``: ``hswish``)."""
        if len(node.input) != 2:
            return
        for mine, other in ((0, 1), (1, 0)):
            gate: Any = self.producer.get(node.input[other])
            if gate is None or gate.op_type not in ("Sigmoid", "HardSigmoid"):
                continue
            if gate.input[0] == node.input[mine] and self.single_consumer(gate.output[0]) is node:
                self._absorb(gate)
                word = "silu" if gate.op_type == "Sigmoid" else "hswish"
                handle = self._later(node, [word], node.input[mine])
                self.special[self._index(node)] = (handle, [gate])
                return

    def _dense(self, node: Any) -> tuple[str, int, bool, str, list[Any]] | None:
        """A fully connected layer starting at ``node``: (input, units, bias, output,
        nodes): Gemm with a constant weight, or MatMul by a constant 2-D weight, then
        optionally Add of a constant bias."""
        if node.op_type == "Gemm":
            attrs = self.attrs(node)
            weight = self.known(node.input[1]) if self.is_static(node.input[1]) else None
            if weight is None or len(weight) != 2 or attrs.get("transA", 0):
                return None
            if not self.is_active(node.input[0]):
                return None
            units = weight[0] if attrs.get("transB", 0) else weight[1]
            bias = len(node.input) > 2 and bool(node.input[2])
            return node.input[0], units, bias, node.output[0], [node]
        if node.op_type != "MatMul" or not self.is_active(node.input[0]):
            return None
        if not self.is_static(node.input[1]):
            return None
        weight = self.known(node.input[1])
        if weight is None or len(weight) != 2:
            return None
        units = weight[1]
        after = self.single_consumer(node.output[0])
        if after is not None and after.op_type == "Add":
            other = [n for n in after.input if n != node.output[0]]
            if len(other) == 1 and self.is_static(other[0]):
                bias_dims = self.known(other[0])
                if bias_dims is not None and math.prod(bias_dims) == units:
                    return node.input[0], units, True, after.output[0], [node, after]
        return node.input[0], units, False, node.output[0], [node]

    def is_static(self, name: str) -> bool:
        return bool(name) and name in self.static

    def _attention(self, softmax: Any) -> None:
        """Multi-head self-attention around ``softmax``: q/k/v projections of one tensor
        X, ``q k^T``, softmax, ``. v``, an output projection back to X's shape, with only
        layout operators between: ``attn:H`` from X to the projection's output.

        Each step below gathers the nodes it walks into ``region`` and answers None when
        the pattern breaks (then nothing is absorbed)."""
        region: list[Any] = [softmax]
        core = self._attention_core(softmax, region)
        if core is None:
            return
        scores, mixed = core
        inputs = self._attention_inputs(scores, mixed, region)
        if inputs is None:
            return
        projections, source, source_dims = inputs
        found = self._attention_output(mixed, source_dims, region)
        if found is None or not self._region_closed(region, found[0]):
            return
        output, out_projection = found
        params = self._static_params([*projections, out_projection])
        width = source_dims[-1]
        if params not in (4 * width * width + 4 * width, 4 * width * width):
            return
        score_dims = self.known(scores.output[0])
        if score_dims is None or len(score_dims) < 3:
            return
        heads = math.prod(score_dims[:-2]) // max(1, source_dims[0])
        if heads < 1 or width % heads:
            return
        bias = params == 4 * width * width + 4 * width
        self._absorb(*region)
        # The handler runs at the region's first node in order.
        position = min(self._index(n) for n in region)
        self.absorbed.discard(position)

        def handle() -> bool:
            word = f"attn:{heads}" + ("" if bias else ",bias=false")
            return self.emit(self.order[position], [word], source, output=output)

        unique = {self._index(n): n for n in region}
        others = [n for i, n in unique.items() if i != position]
        self.special[position] = (handle, others)

    def _attention_core(self, softmax: Any, region: list[Any]) -> tuple[Any, Any] | None:
        """``(scores, mixed)``: the MatMul ``q k^T`` before ``softmax`` (through scaling)
        and the MatMul ``. v`` after it (through dropout and casts)."""
        node = self.producer.get(softmax.input[0])
        while (
            node is not None
            and node.op_type in ("Mul", "Div", "Add")
            and len(self.active_inputs(node)) == 1
        ):
            region.append(node)
            node = self.producer.get(self.active_inputs(node)[0])
        if node is None or node.op_type != "MatMul" or len(self.active_inputs(node)) != 2:
            return None
        probabilities = softmax.output[0]
        after = self.single_consumer(probabilities)
        while after is not None and after.op_type in ("Dropout", "Identity", "Cast"):
            region.append(after)
            probabilities = after.output[0]
            after = self.single_consumer(probabilities)
        if after is None or after.op_type != "MatMul" or after.input[0] != probabilities:
            return None
        region += [node, after]
        return node, after

    def _attention_inputs(
        self, scores: Any, mixed: Any, region: list[Any]
    ) -> tuple[list[list[Any]], str, list[int]] | None:
        """The q/k/v projections (distinct nodes), the one tensor X they all read, and
        X's dims (3 of them)."""
        projections: list[list[Any]] = []
        sources = set()
        for name in (scores.input[0], scores.input[1], mixed.input[1]):
            found = self._back_to_dense(name, region)
            if found is None:
                return None
            start, nodes = found
            if not any(nodes[0] is p[0] for p in projections):
                projections.append(nodes)
            sources.add(self._back_through_layout(start, region))
        if len(sources) != 1:
            return None
        source = sources.pop()
        source_dims = self.known(source)
        if source_dims is None or len(source_dims) != 3:
            return None
        return projections, source, source_dims

    def _attention_output(
        self, mixed: Any, source_dims: list[int], region: list[Any]
    ) -> tuple[str, list[Any]] | None:
        """Forward from ``mixed``: layout operators, the output projection, layout
        operators, until a tensor of X's shape: ``(that tensor, the projection's nodes)``."""
        name = mixed.output[0]
        out_projection = None
        while True:
            node = self.single_consumer(name)
            if node is None:
                return None
            dense = self._dense(node) if out_projection is None else None
            if dense is not None and dense[0] == name:
                out_projection = dense[4]
                region += out_projection
                name = dense[3]
            elif node.op_type in _LAYOUT or (node.op_type in ("Mul", "Div")
                                             and len(self.active_inputs(node)) == 1):  # fmt: skip
                region.append(node)
                name = node.output[0]
            else:
                return None
            if out_projection is not None and self.known(name) == source_dims:
                return name, out_projection

    def _region_closed(self, region: list[Any], output: str) -> bool:
        """Whether nothing outside ``region`` reads its tensors' data (but ``output``),
        and none of them is a graph output."""
        inside = {id(n) for n in region}
        graph_outputs = {o.name for o in self.graph.output}
        for node in region:
            for name in node.output:
                if name == output:
                    continue
                readers = self.consumers.get(name, [])
                # Shape and what is computed from it are no readers of the data.
                if any(id(c) not in inside and not all(o in self.static for o in c.output)
                       for c in readers):  # fmt: skip
                    return False
                if name in graph_outputs:
                    return False
        return True

    def _static_params(self, projections: list[list[Any]]) -> int | None:
        """The elements of the static inputs (weights, biases) of the projections' nodes;
        None when one has no known size."""
        params = 0
        for nodes in projections:
            for node in nodes:
                for name in node.input:
                    if self.is_static(name):
                        dims = self.known(name)
                        if dims is None:
                            return None
                        params += math.prod(dims)
        return params

    def _back_to_dense(self, name: str, region: list[Any]) -> tuple[str, list[Any]] | None:
        """Walk up from ``name`` through layout operators and constant scalings to a fully
        connected layer; its input and nodes."""
        visited: list[Any] = []
        node = self.producer.get(name)
        while node is not None:
            if node.op_type == "Add":
                matmul = self.producer.get(self.active_inputs(node)[0]) if len(
                    self.active_inputs(node)) == 1 else None  # fmt: skip
                dense = self._dense(matmul) if matmul is not None else None
                if dense is not None and dense[3] == node.output[0]:
                    region += visited + dense[4]
                    return dense[0], dense[4]
                return None
            if node.op_type in ("Gemm", "MatMul"):
                dense = self._dense(node)
                if dense is None:
                    return None
                region += visited + dense[4]
                return dense[0], dense[4]
            active = self.active_inputs(node)
            if len(active) != 1:
                return None
            if node.op_type in _LAYOUT or node.op_type in ("Mul", "Div"):
                visited.append(node)
                node = self.producer.get(active[0])
                continue
            return None
        return None

    def _back_through_layout(self, name: str, region: list[Any]) -> str:
        node = self.producer.get(name)
        while (
            node is not None
            and node.op_type in ("Transpose", "Reshape", "Identity")
            and len(self.active_inputs(node)) == 1
        ):
            dims = self.known(node.input[0])
            if dims is None or len(dims) != 3:
                break
            region.append(node)
            name = node.input[0]
            node = self.producer.get(name)
        return name

    # -- one node -------------------------------------------------------------------------

    def map_node(self, node: Any) -> bool:
        """Record the words for one node; False when it has none (an opaque layer then)."""
        if node.domain not in ("", "ai.onnx"):
            return False
        op = node.op_type
        method = getattr(self, f"_map_{op}", None)
        if method is not None:
            return bool(method(node))
        if op in _ACTIVATIONS and len(self.active_inputs(node)) == 1:
            return self.emit(node, [_ACTIVATIONS[op]], node.input[0])
        if op in _ALIASES:
            return self._alias(node)
        return False

    def _alias(self, node: Any) -> bool:
        source = self.resolve(node.input[0])
        if source not in self.tensors or not self.matches(self.tensors[source].shape,
                                                          node.output[0]):  # fmt: skip
            return False
        self.alias[node.output[0]] = source
        return True

    def _map_Identity(self, node: Any) -> bool:
        return self._alias(node)

    def _map_Dropout(self, node: Any) -> bool:
        return self.emit(node, ["dropout"], node.input[0])

    def _window_args(self, node: Any, kernel: Sequence[int], in_dims: Sequence[int],
                     stride: Sequence[int], dilation: Sequence[int]) -> str | None:  # fmt: skip
        """``p=...`` from ONNX's pads / auto_pad (None when it cannot be written)."""
        attrs = self.attrs(node)
        rank = len(kernel)
        auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
        if auto == "VALID":
            return "p=0"
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            if auto == "SAME_UPPER":
                return "p=same"
            befores, afters = [], []
            for axis in range(rank):
                size = in_dims[axis]
                span = dilation[axis] * (kernel[axis] - 1) + 1
                out = -(-size // stride[axis])
                total = max((out - 1) * stride[axis] + span - size, 0)
                befores.append(total - total // 2)
                afters.append(total // 2)
            return f"p={_pads_text(befores, afters)}"
        pads = list(attrs.get("pads", [0] * (2 * rank)))
        if len(pads) != 2 * rank or min(pads) < 0:
            return None
        if not any(pads):
            return ""
        return f"p={_pads_text(pads[:rank], pads[rank:])}"

    def _conv_parts(self, node: Any) -> _ConvParts | None:
        """What Conv and ConvTranspose share: static weight and known input shapes, the
        attributes, and kernel, rank, strides, dilations and groups (None: not mappable)."""
        weight = self.known(node.input[1])
        data = self.known(node.input[0])
        if weight is None or data is None or len(weight) < 3 or not self.is_static(node.input[1]):
            return None
        attrs = self.attrs(node)
        kernel = weight[2:]
        rank = len(kernel)
        if rank > 3 or len(data) != rank + 2:
            return None
        stride = list(attrs.get("strides", [1] * rank))
        dilation = list(attrs.get("dilations", [1] * rank))
        return _ConvParts(weight, data, attrs, kernel, rank, stride, dilation,
                          int(attrs.get("group", 1)))  # fmt: skip

    def _map_Conv(self, node: Any) -> bool:
        parts = self._conv_parts(node)
        if parts is None:
            return False
        weight, data, attrs, kernel, rank, stride, dilation, groups = parts
        pads = self._window_args(node, kernel, data[2:], stride, dilation)
        if pads is None:
            return False
        out = weight[0]
        channels = data[1]
        depthwise = groups > 1 and groups == channels and out % channels == 0
        args = [str(out), f"k={_axes(kernel)}"]
        if set(stride) != {1}:
            args.append(f"s={_axes(stride)}")
        if pads:
            args.append(pads)
        if set(dilation) != {1}:
            args.append(f"d={_axes(dilation)}")
        if groups != 1 and not depthwise:
            args.append(f"g={groups}")
        if not (len(node.input) > 2 and node.input[2]):
            args.append("bias=false")
        kind = _ranked("dwconv" if depthwise else "conv", rank)
        if not self.emit(node, [f"{kind}:{','.join(args)}"], node.input[0]):
            return False
        self.folded += self._folded(node)
        return True

    def _folded(self, node: Any) -> bool:
        """Whether a batch norm was folded into this convolution at export: the rule's
        name in the node's metadata (torch's exporter), or a weight named after a folded
        constant (``onnx::Conv_12``, the TorchScript exporter)."""
        for prop in getattr(node, "metadata_props", ()):
            if prop.key == _FOLDED_RULE and "BatchNorm" in prop.value:
                return True
        return node.input[1].startswith("onnx::Conv") and not self.has_norms

    @property
    def has_norms(self) -> bool:
        if self._has_norms is None:
            self._has_norms = any(n.op_type == "BatchNormalization" for n in self.order)
        return self._has_norms

    def _map_ConvTranspose(self, node: Any) -> bool:
        parts = self._conv_parts(node)
        if parts is None:
            return False
        weight, data, attrs, kernel, rank, stride, dilation, groups = parts
        extra = list(attrs.get("output_padding", [0] * rank))
        auto = attrs.get("auto_pad", "NOTSET") or "NOTSET"
        pads = list(attrs.get("pads", [0] * (2 * rank)))
        wanted = attrs.get("output_shape")
        if wanted is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
            sizes = list(wanted)[-rank:] if wanted is not None else [
                data[2 + a] * stride[a] for a in range(rank)]  # fmt: skip
            pads = [0] * (2 * rank)
            for axis in range(rank):
                span = dilation[axis] * (kernel[axis] - 1) + 1
                total = stride[axis] * (data[2 + axis] - 1) + extra[axis] + span - sizes[axis]
                if total < 0:  # the output grows: more output_padding, no crop
                    extra[axis] -= total
                    total = 0
                upper = auto == "SAME_UPPER"
                pads[axis] = total // 2 if upper else total - total // 2
                pads[rank + axis] = total - pads[axis]
        elif auto == "VALID":
            pads = [0] * (2 * rank)
        if len(pads) != 2 * rank or min(pads) < 0:
            return False
        out = weight[1] * groups
        args = [str(out), f"k={_axes(kernel)}"]
        if set(stride) != {1}:
            args.append(f"s={_axes(stride)}")
        if any(pads):
            args.append(f"p={_pads_text(pads[:rank], pads[rank:])}")
        if any(extra):
            args.append(f"op={_axes(extra)}")
        if set(dilation) != {1}:
            args.append(f"d={_axes(dilation)}")
        if groups != 1:
            args.append(f"g={groups}")
        if not (len(node.input) > 2 and node.input[2]):
            args.append("bias=false")
        return self.emit(node, [f"{_ranked('deconv', rank)}:{','.join(args)}"], node.input[0])

    def _pool(self, node: Any, kind: str) -> bool:
        data = self.known(node.input[0])
        attrs = self.attrs(node)
        kernel = list(attrs.get("kernel_shape", []))
        rank = len(kernel)
        if data is None or not kernel or rank > 3 or len(data) != rank + 2:
            return False
        stride = list(attrs.get("strides", [1] * rank))
        dilation = list(attrs.get("dilations", [1] * rank))
        pads = self._window_args(node, kernel, data[2:], stride, dilation)
        if pads is None:
            return False
        args = [f"k={_axes(kernel)}"]
        if stride != kernel:
            args.append(f"s={_axes(stride)}")
        if pads:
            args.append(pads)
        if set(dilation) != {1}:
            args.append(f"d={_axes(dilation)}")
        if attrs.get("ceil_mode", 0):
            args.append("ceil=true")
        if len(node.output) > 1 and node.output[1]:
            return False  # MaxPool's indices
        return self.emit(node, [f"{_ranked(kind, rank)}:{','.join(args)}"], node.input[0])

    def _map_MaxPool(self, node: Any) -> bool:
        return self._pool(node, "maxpool")

    def _map_AveragePool(self, node: Any) -> bool:
        return self._pool(node, "avgpool")

    def _map_GlobalAveragePool(self, node: Any) -> bool:
        return self.emit(node, ["gap"], node.input[0])

    def _map_GlobalMaxPool(self, node: Any) -> bool:
        return self.emit(node, ["gmp"], node.input[0])

    def _reduce(self, node: Any, word: str) -> bool:
        data = self.known(node.input[0])
        attrs = self.attrs(node)
        if data is None or len(data) < 3:
            return False
        axes = attrs.get("axes")
        if axes is None and len(node.input) > 1 and node.input[1]:
            axes = self.value(node.input[1])
        if axes is None:
            return False
        rank = len(data)
        if sorted(a % rank for a in axes) != list(range(2, rank)):
            return False
        source = self.tensors.get(self.resolve(node.input[0]))
        if source is None or source.shape.is_tokens or source.shape.is_flat:
            return False
        words = [word] if attrs.get("keepdims", 1) else [word, "flatten"]
        return self.emit(node, words, node.input[0])

    def _map_ReduceMean(self, node: Any) -> bool:
        return self._reduce(node, "gap")

    def _map_ReduceMax(self, node: Any) -> bool:
        return self._reduce(node, "gmp")

    def _map_Gemm(self, node: Any) -> bool:
        dense = self._dense(node)
        if dense is None:
            return False
        source, units, bias, output, _ = dense
        return self.emit(node, [f"fc:{units}" + ("" if bias else ",bias=false")], source,
                         output=output)  # fmt: skip

    def _map_MatMul(self, node: Any) -> bool:
        dense = self._dense(node)
        if dense is None:
            return False
        source, units, bias, output, nodes = dense
        tensor = self.tensors.get(self.resolve(source))
        weight = self.known(node.input[1])
        if tensor is None or weight is None:
            return False
        if not (tensor.shape.is_tokens or tensor.shape.is_flat):
            return False
        if tensor.shape.channel_count != weight[0]:
            return False
        if not self.emit(node, [f"fc:{units}" + ("" if bias else ",bias=false")], source,
                         output=output):  # fmt: skip
            return False
        self._absorb(*nodes[1:])
        return True

    def _map_BatchNormalization(self, node: Any) -> bool:
        if len(node.output) > 1 and any(node.output[1:]):
            return False  # training mode: running statistics as outputs
        return self.emit(node, ["bn"], node.input[0])

    def _map_LayerNormalization(self, node: Any) -> bool:
        tensor = self.tensors.get(self.resolve(node.input[0]))
        data = self.known(node.input[0])
        scale = self.known(node.input[1])
        if tensor is None or data is None or scale is None:
            return False
        axis = int(self.attrs(node).get("axis", -1)) % len(data)
        if axis != len(data) - 1 or not (tensor.shape.is_tokens or tensor.shape.is_flat):
            return False
        return self.emit(node, ["ln"], node.input[0])

    def _map_GroupNormalization(self, node: Any) -> bool:
        groups = int(self.attrs(node).get("num_groups", 1))
        return self.emit(node, [f"gn:{groups}"], node.input[0])

    def _map_InstanceNormalization(self, node: Any) -> bool:
        data = self.known(node.input[0])
        if data is None or len(data) < 3:
            return False
        return self.emit(node, [f"gn:{data[1]}"], node.input[0])

    def _map_Clip(self, node: Any) -> bool:
        attrs = self.attrs(node)
        low: Any = attrs.get("min")
        high: Any = attrs.get("max")
        if len(node.input) > 1 and node.input[1]:
            found = self.value(node.input[1])
            low = found[0] if found else "?"
        if len(node.input) > 2 and node.input[2]:
            found = self.value(node.input[2])
            high = found[0] if found else "?"
        if low == 0 and high == 6:
            return self.emit(node, ["relu6"], node.input[0])
        if low == 0 and high is None:
            return self.emit(node, ["relu"], node.input[0])
        return False

    def _merge(self, node: Any, word: str) -> bool:
        active = [self.resolve(n) for n in self.active_inputs(node)]
        if len(node.input) != 2 or len(active) != 2:
            return False
        last = self.ops[-1].output if self.ops else ""
        first, second = (active[1], active[0]) if active[1] == last else (active[0], active[1])
        return self.emit(node, [f"{word}:"], first, (second,))

    def _map_Add(self, node: Any) -> bool:
        active = self.active_inputs(node)
        if len(active) == 1 and len(node.input) == 2:
            other = next(n for n in node.input if n != active[0])
            tensor = self.tensors.get(self.resolve(active[0]))
            dims = self.known(other)
            if (tensor is not None and tensor.shape.is_tokens and dims is not None
                    and math.prod(dims) == tensor.shape.positions * tensor.shape.channel_count
                    and dims[-1] == tensor.shape.channel_count):  # fmt: skip
                return self.emit(node, ["posemb"], active[0])
            return False
        return self._merge(node, "add")

    def _map_Mul(self, node: Any) -> bool:
        return self._merge(node, "mul")

    def _map_Concat(self, node: Any) -> bool:
        axis = int(self.attrs(node).get("axis", 1))
        dims = self.known(self.active_inputs(node)[0])
        if dims is None:
            return False
        axis %= len(dims)
        active = [self.resolve(n) for n in self.active_inputs(node)]
        if not active or any(a not in self.tensors for a in active):
            return False
        shape = self.tensors[active[0]].shape
        statics = [n for n in node.input if n and self.is_static(n)]
        if shape.is_tokens and axis == 1 and len(active) == 1 and len(statics) == 1:
            dims = self.known(statics[0])
            if dims is not None and math.prod(dims) == shape.channel_count:
                return self.emit(node, ["cls"], active[0])
            return False
        if statics:
            return False
        channel_axis = 2 if shape.is_tokens else 1
        if axis != channel_axis or len(active) < 2:
            return False
        return self.emit(node, ["cat:"], active[0], active[1:])

    def _map_Flatten(self, node: Any) -> bool:
        if int(self.attrs(node).get("axis", 1)) != 1:
            return False
        return self._flatten(node)

    def _flatten(self, node: Any) -> bool:
        source = self.resolve(node.input[0])
        tensor = self.tensors.get(source)
        out = self.output_dims(node)
        if tensor is None or out is None:
            return False
        if tensor.shape.is_flat and len(out) == 2:
            self.alias[node.output[0]] = source
            return True
        if len(out) != 2 or tensor.shape.is_tokens:
            return False
        return self.emit(node, ["flatten"], node.input[0])

    def _map_Reshape(self, node: Any) -> bool:
        source = self.resolve(node.input[0])
        tensor = self.tensors.get(source)
        out = self.output_dims(node)
        if tensor is None or out is None:
            return False
        if self.known(node.input[0]) == out:
            self.alias[node.output[0]] = source
            return True
        return self._flatten(node)

    _map_Squeeze = _map_Reshape

    def _map_Pad(self, node: Any) -> bool:
        data = self.known(node.input[0])
        attrs = self.attrs(node)
        pads = attrs.get("pads")
        if pads is None and len(node.input) > 1 and node.input[1]:
            pads = self.value(node.input[1])
        if data is None or pads is None:
            return False
        rank = len(data)
        if len(node.input) > 3 and node.input[3]:
            axes = self.value(node.input[3])
            if axes is None:
                return False
            full = [0] * (2 * rank)
            for i, axis in enumerate(axes):
                full[axis % rank] = pads[i]
                full[rank + axis % rank] = pads[len(axes) + i]
            pads = full
        pads = [int(p) for p in pads]
        if len(pads) != 2 * rank:
            return False
        if not any(pads):
            self.alias[node.output[0]] = self.resolve(node.input[0])
            return True
        if rank != 4 or pads[0] or pads[1] or pads[4] or pads[5] or min(pads) < 0:
            return False
        return self.emit(node, [f"pad:{pads[2]},{pads[6]},{pads[3]},{pads[7]}"], node.input[0])

    def _map_Resize(self, node: Any) -> bool:
        data = self.known(node.input[0])
        out = self.output_dims(node)
        if data is None or out is None or len(data) not in (3, 4, 5) or out[:2] != data[:2]:
            return False
        scale = []
        for before, after in zip(data[2:], out[2:], strict=True):
            if after % before:
                return False
            scale.append(after // before)
        mode = self.attrs(node).get("mode", "nearest")
        rank = len(data) - 2
        word = f"up:{_axes(scale) if rank == 2 else 'x'.join(map(str, scale))}"
        if mode == "linear":
            word += ",mode=" + {1: "linear", 2: "bilinear", 3: "trilinear"}[rank]
        elif mode == "cubic":
            word += ",mode=bicubic"
        return self.emit(node, [word], node.input[0])

    _map_Upsample = _map_Resize

    def _map_DepthToSpace(self, node: Any) -> bool:
        size = int(self.attrs(node).get("blocksize", 1))
        return self.emit(node, [f"shuffle:{size}"], node.input[0])


# ---------------------------------------------------------------------------------------
# Inputs


def _input_layout(readers: dict[str, list[Any]], name: str, dims: Sequence[Any]) -> str:
    """``map``, ``tokens`` or ``flat``: how a graph input of ``dims`` is read."""
    if len(dims) <= 2:
        return "flat"
    if len(dims) == 3:
        windowed = {"Conv", "ConvTranspose", "MaxPool", "AveragePool", "BatchNormalization",
                    "InstanceNormalization", "GlobalAveragePool", "GlobalMaxPool"}  # fmt: skip
        if not any(n.op_type in windowed for n in readers.get(name, [])):
            return "tokens"
    return "map"


def _input_shape(entry: Any, readers: dict[str, list[Any]], batch: int | None) -> Shape:
    """A graph input (its sizes fixed) as a convcli shape."""
    dims = [d if d is not None else 1 for d in _dims(entry) or []]
    layout = _input_layout(readers, entry.name, dims)
    rest = dims[1:] if len(dims) > 1 else dims
    if layout == "tokens":
        return Shape.token_shape(rest[0], rest[1], batch)
    if layout == "flat":
        return Shape.features(math.prod(rest), batch)
    return Shape.of(rest[0], rest[1:], batch)


def _input_text(shape: Shape) -> str:
    """A shape as a net file's ``input`` size: ``3x224x224``, ``768f``, ``197x768t``."""
    if shape.is_flat:
        batch = f"{shape.batch}x" if shape.batch is not None else ""
        return f"{batch}{shape.channel_count}f"
    return shape.format()


def _given_dims(
    given: str, dims: list[Any], layout: str, name: str, channels_last: bool, path: Path
) -> tuple[list[int], Shape, list[str]]:
    """The ONNX dimensions for an INPUT typed on the command line, its convcli shape and
    notes."""
    rank = len(dims) - 2
    if layout == "tokens":
        given = given if given.lower().endswith("t") else given + "t"
    elif layout == "flat":
        given = given if given.lower().endswith("f") else given + "f"
    shape, note = read_size(given, max(rank, 1) if layout == "map" else 2, channels_last)
    notes = [note] if note and layout == "map" and rank == 2 else []
    if layout == "map":
        if shape.rank != rank:
            raise SpecError(f"INPUT {given} does not fit the model's input {name!r} "
                            f"({rank}-D: {_dims_text(dims)})")  # fmt: skip
        channels = shape.channels
        if channels is None:
            channels = dims[1]
            if channels is None:
                raise SpecError(f"INPUT {given}: the model's input {name!r} leaves its "
                                "channels symbolic; give them (e.g. 3x224x224)")  # fmt: skip
            shape = shape.with_channels(channels)
        elif dims[1] is not None and channels != dims[1]:
            raise ConvcliError(f"INPUT {given} has {channels} channels; the model's input "
                               f"{name!r} takes {dims[1]}")  # fmt: skip
        rest = [channels, *shape.spatial]
    elif layout == "tokens":
        rest = [shape.positions, shape.channel_count]
    else:
        rest = [shape.channel_count]
    batch = shape.batch if shape.batch is not None else (dims[0] or 1)
    return [batch, *rest], shape, notes


def _dims_text(dims: Sequence[Any]) -> str:
    return "x".join("?" if d is None else str(d) for d in dims)


# ---------------------------------------------------------------------------------------
# Public


def load_onnx(
    path: str | Path, input_size: str | None = None, channels_last: bool = False
) -> tuple[Network, dict[str, Shape], list[str]]:
    """An ONNX model as a network, its input shapes and the notes to print.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file. External weight files are never read.
    input_size : str, optional
        The command line's INPUT: replaces the size of the model's only input (needed
        when the file leaves it symbolic; a symbolic batch alone is taken as 1).
    channels_last : bool
        Read INPUT as H x W x C.

    Returns
    -------
    (Network, dict of str to Shape, list of str)

    Raises
    ------
    ConvcliError
        Not an ONNX file, a hostile one (cycles, huge dimensions, external data outside
        its folder), symbolic sizes without INPUT, or onnx not installed.
    """
    path = Path(path)
    onnx = _onnx()
    model = _read_model(path)
    _lighten(model)
    initializers = {t.name for t in model.graph.initializer}
    graph_inputs = [i for i in model.graph.input if i.name not in initializers]
    if not graph_inputs:
        raise ConvcliError(f"{path}: the model has no input")
    notes: list[str] = []
    if input_size is not None and len(graph_inputs) > 1:
        names = ", ".join(i.name for i in graph_inputs)
        raise SpecError(f"INPUT {input_size} is ambiguous: the model has inputs {names}")
    # The operators reading each input decide how it is read (C x L or tokens).
    readers: dict[str, list[Any]] = defaultdict(list)
    for node in model.graph.node:
        for name in node.input:
            readers[name].append(node)
    shapes: dict[str, Shape] = {}
    batch: int | None = None
    resized = False
    for index, entry in enumerate(graph_inputs):
        given = input_size if index == 0 else None
        dims, fixed, entry_batch, entry_notes = _fix_input(
            entry, given, readers, channels_last, path
        )
        notes += entry_notes
        if index == 0:
            batch = entry_batch
        if any(d is not None and d != v for d, v in zip(dims, fixed, strict=True)):
            resized = True
        for dim, value in zip(entry.type.tensor_type.shape.dim, fixed, strict=True):
            dim.Clear()
            dim.dim_value = value
    inferred = _infer_shapes(onnx, model, path, resized)
    graph = _Graph(model, path, inferred, batch)
    for entry in graph.inputs:
        shape = _input_shape(entry, graph.consumers, batch)
        name = graph.names[entry.name]
        shapes[name] = shape
        graph.tensors[entry.name] = _Tensor(shape, Field.start(shape))
    try:
        graph.run()
    except RecursionError:  # constants computed from constants, thousands deep
        raise ConvcliError(f"{path}: the graph nests its constants too deeply") from None
    network = _network(graph, shapes)
    notes += _notes(graph)
    return network, shapes, notes


def _fix_input(
    entry: Any,
    input_size: str | None,
    readers: dict[str, list[Any]],
    channels_last: bool,
    path: Path,
) -> tuple[list[int | None], list[int], int | None, list[str]]:
    """One graph input made concrete: ``(its dims in the file, the dims to use, the
    batch, notes)``. ``input_size`` (the command line's INPUT, for the first input only)
    replaces the file's size; otherwise a symbolic batch is taken as 1 and any other
    symbolic size is an error asking for INPUT."""
    dims = _dims(entry)
    if dims is None:
        raise ConvcliError(f"{path}: input {entry.name!r} is not a tensor of known rank")
    _check_dims(dims, f"input {entry.name!r}", path)
    layout = _input_layout(readers, entry.name, dims)
    if input_size is not None:
        fixed, shape, notes = _given_dims(input_size, dims, layout, entry.name,
                                          channels_last, path)  # fmt: skip
        if None not in dims and fixed[1:] != list(dims[1:]):
            file_text = _dims_text(dims[1:] if dims[0] in (None, 1) else dims)
            notes.append(f"note: INPUT {input_size} replaces the size of the model's "
                         f"input {entry.name!r}, {file_text}")  # fmt: skip
        if dims[0] is not None and fixed[0] != dims[0]:  # a Reshape to [1, 512] keeps 1
            notes.append(f"note: INPUT {input_size} gives input {entry.name!r} a batch of "
                         f"{fixed[0]}; the model's is fixed at {dims[0]}, and shapes its "
                         "graph holds as constants keep that batch")  # fmt: skip
        return dims, fixed, shape.batch, notes
    if any(d is None for d in dims[1:]):
        symbols = [_symbol(d) for d, v in zip(entry.type.tensor_type.shape.dim,
                                              dims, strict=True) if v is None]  # fmt: skip
        raise SpecError(
            f"{path}: input {entry.name!r} has symbolic sizes ({_dims_text(dims)}: "
            f"{', '.join(symbols)}); give INPUT, e.g. convcli shape "
            f"{_example(dims, layout)} {shlex.quote(str(path))}"
        )
    fixed = [d if d is not None else 1 for d in dims]
    return dims, fixed, dims[0] if dims[0] not in (None, 1) else None, []


def _infer_shapes(onnx: Any, model: Any, path: Path, resized: bool) -> Any:
    """ONNX's shape inference over ``model`` (the exporter's shapes dropped first when
    an input was resized: they are those of the old size)."""
    if resized:
        del model.graph.value_info[:]
        for output in model.graph.output:
            if output.type.HasField("tensor_type"):
                output.type.tensor_type.ClearField("shape")
    try:
        inferred = onnx.ModelProto()
        inferred.ParseFromString(onnx.infer(model.SerializeToString(), False, False, True))
    except Exception as error:
        raise ConvcliError(f"{path}: ONNX shape inference failed: "
                           f"{str(error).splitlines()[0][:200]}") from None  # fmt: skip
    return inferred


def _lighten(model: Any) -> None:
    """Drop the values of every weight of more than 4,096 elements: only their types and
    dimensions are used (by convcli and by shape inference), and a model whose weights
    are inside the file is then not copied whole again. They are marked external (the
    values are elsewhere), without a location: nothing reads them."""
    for tensor in model.graph.initializer:
        if tensor.data_location != 1 and math.prod(tensor.dims) > 4096:
            for name in ("raw_data", "float_data", "int32_data", "int64_data", "double_data",
                         "uint64_data", "string_data"):  # fmt: skip
                tensor.ClearField(name)
            tensor.data_location = 1


def _example(dims: Sequence[Any], layout: str) -> str:
    if layout == "tokens":
        return f"{dims[1] or 197}x{dims[2] or 768}t"
    if layout == "flat":
        return f"{dims[-1] or 768}f"
    spatial = [d or 224 for d in dims[2:]]
    return "x".join(map(str, [dims[1] or 3, *spatial]))


def _notes(graph: _Graph) -> list[str]:
    notes = list(graph.notes)
    if graph.folded:
        notes.append(
            f"note: {graph.folded} convolution(s) have a batch norm folded into them at export: "
            "counted as the convolutions they became (their bias, if any, replaces the norm's "
            "2C parameters and 2C buffers; the norm's element operations are gone)"
        )
    if graph.unmapped:
        listed = ", ".join(f"{name} x{count}" for name, count in sorted(
            graph.unmapped.items(), key=lambda item: (-item[1], item[0])))  # fmt: skip
        total = sum(graph.unmapped.values())
        overruled = graph.overruled
        why = (f"; for {overruled} of them convcli's words disagree with ONNX's shape"
               if overruled else "")  # fmt: skip
        notes.append(
            f"warning: {total} ONNX operator(s) not counted (0 parameters and MACs, output "
            f"shapes from ONNX shape inference): {listed}{why}"
        )
    return notes


def _network(graph: _Graph, shapes: dict[str, Shape]) -> Network:
    """The recorded words as steps, with ``from:``/``tag:``/``out:`` where needed."""
    outputs = [graph.resolve(o.name) for o in graph.graph.output]
    out_names = {graph.resolve(o.name): graph.names.get(o.name, o.name)
                 for o in graph.graph.output}  # fmt: skip
    for output in outputs:
        if output not in graph.tensors:
            raise ConvcliError(f"{graph.path}: output {output!r} does not depend on the "
                               "model's inputs")  # fmt: skip
    ops = graph.ops
    reads: dict[str, list[tuple[int, bool]]] = defaultdict(list)
    for index, op in enumerate(ops):
        reads[op.primary].append((index, False))
        for ref in op.refs:
            reads[ref].append((index, True))
    inputs = tuple(InputSize(name, _input_text(shape), graph.path.name)
                   for name, shape in shapes.items())  # fmt: skip
    steps: list[Step] = []
    input_keys = {graph.names[i.name]: i.name for i in graph.inputs}
    current = next(iter(input_keys.values()))
    for index, op in enumerate(ops):
        if op.primary != current:
            steps.append(Step("from", name=graph.names[op.primary]))
        where = f"{graph.path.name}: node {op.node or op.onnx_op}"
        for layer in op.layers:
            steps.append(Step("layer", replace(layer, source=where), source=where))
        current = op.output
        uses = reads.get(op.output, [])
        single_next = len(uses) == 1 and uses[0] == (index + 1, False)
        if op.output in out_names:
            steps.append(Step("out", name=out_names[op.output]))
        if uses and not single_next:
            steps.append(Step("tag", name=graph.names[op.output]))
    if not any(step.layer for step in steps):
        raise ConvcliError(f"{graph.path}: no layer to size")
    return Network(inputs, tuple(steps))


def read_onnx(path: str | Path, input_size: str | None = None) -> tuple[Network, list[str]]:
    """An ONNX model as a network (its inputs declared as a net file's ``input`` line)
    and the notes to print.

    >>> from pathlib import Path
    >>> model = Path(__file__).parents[1] / "tests/data/onnx/conv1d.onnx"
    >>> net, notes = read_onnx(model)
    >>> [layer.word for layer in net.layers]
    ['conv1d:8,k=5,s=2', 'maxpool1d:k=2', 'avgpool1d:k=3,s=1,p=1', 'deconv1d:4,k=4,s=2,p=1']
    """
    network, _, notes = load_onnx(path, input_size)
    return network, notes


def load_model(
    path: str | Path,
    words: Sequence[str] = (),
    input_size: str | None = None,
    channels_last: bool = False,
    preset: str | None = None,
    layer: Layer | None = None,
    width_mult: float | None = None,
) -> tuple[Network, dict[str, Shape], list[str]]:
    """What :meth:`convcli.network.Source.load` gives for an ONNX model: the model's
    network followed by any LAYER words, its input shapes and the notes.

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.
    words : sequence of str
        LAYER words appended after the model's output.
    input_size : str or None
        The command line's INPUT (replaces the model's input size).
    channels_last : bool
        Read INPUT as H x W x C.
    preset : str or None
        Must be None (refused beside a model).
    layer : Layer or None
        Must be None (refused beside a model).
    width_mult : float or None
        Must be None (refused beside a model).

    Raises
    ------
    SpecError
        A preset, a width multiplier or a layer given as options besides the model.
    """
    from convcli.network import parse_network

    if preset is not None:
        raise SpecError("give --preset or an ONNX model, not both")
    if width_mult is not None:
        raise SpecError("--width-mult needs --preset mobilenet_v1")
    if layer is not None:
        raise SpecError("give the layer either as options (-k, -s, -p, ...) or as an ONNX "
                        "model, not both")  # fmt: skip
    network, inputs, notes = load_onnx(path, input_size, channels_last)
    if words:
        # Words continue the model: their result is the output, not the model's.
        steps = tuple(step for step in network.steps if step.action != "out")
        more = parse_network(list(words), first_position=len(network.layers) + 1)
        network = Network(network.inputs, steps).extended(more)
    return network, inputs, notes


def check_net_target(target: str) -> None:
    """Refuse a ``--to-net`` that names no file, before anything is computed."""
    if not target.strip():
        raise SpecError("--to-net needs a file name (or - for stdout), got ''")


def write_net(source: Any, target: str, *, force: bool = False, loaded: Any = None) -> None:
    """``shape --to-net TARGET``: the network of ``source`` as a net file, ``-`` for
    stdout. The file is written whole or not at all; an existing file only with ``force``,
    and the model it came from never.

    Parameters
    ----------
    source : convcli.network.Source
        The network, as ``shape`` was given it.
    target : str
        The file, or ``-``.
    force : bool
        Replace an existing file.
    loaded : (Network, dict, list of str), optional
        What ``source.load()`` gave, when the caller has it: a model is then read once
        (a 268 MB ONNX file took 0.48 s to size and 0.92 s with ``--to-net``).
    """
    check_net_target(target)
    network, inputs, notes = loaded if loaded is not None else source.load()
    text = to_words(network, notes, inputs)
    if target == "-":
        print(text, end="")
        return
    destination = Path(target)
    read = [source.net, source.input_size, *source.words]
    if destination.exists() and any(
        name is not None and Path(name).is_file() and destination.samefile(name) for name in read
    ):
        raise ConvcliError(f"--to-net {target}: that is the model being read")
    if not destination.parent.is_dir():
        raise ConvcliError(f"--to-net {target}: folder {destination.parent} does not exist")
    from convcli.limits import refuse_special_output

    refuse_special_output(destination, "--to-net", "--to-net -")  # a FIFO was replaced
    if destination.exists() and not force:
        raise ConvcliError(f"--to-net {target} exists; use --force to overwrite it")
    temporary = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, destination)
    except OSError as error:
        raise ConvcliError(f"--to-net {target}: {error.strerror or error}") from None
    finally:
        temporary.unlink(missing_ok=True)


def _plain_word(layer: Layer) -> str:
    """A layer's word without the ``bn``/``act=`` keys it was split from (they are rows of
    their own in the network)."""
    word = layer.word or layer.to_word()
    if layer.kind in ("se", "mlp") or ":" not in word:
        return word
    head, _, body = word.partition(":")
    args = [a for a in body.split(",") if a]
    kept = [a for a in args if a.strip().lower() not in ("bn", "bn=true", "bn=yes", "bn=1")
            and not a.strip().lower().startswith(("act=", "activation=", "bn="))]  # fmt: skip
    if len(kept) == len(args):
        return word
    if not layer.bias and not any(a.strip().lower().startswith("bias=") for a in kept):
        kept.append("bias=false")
    return head + (":" + ",".join(kept) if kept else "")


def to_words(
    network: Network, notes: Sequence[str] = (), inputs: dict[str, Shape] | None = None
) -> str:
    """A network as net-file text: the ``input`` line, then one step per line (``tag:``
    and ``out:`` after the layer they name, ``from:`` before the one that reads it).

    Read back (:func:`convcli.network.parse_network`), it gives the same layers and
    totals. ``notes`` become ``#`` comments at the top; ``inputs`` (the shapes analysed,
    :func:`convcli.network.resolve_inputs`) replace the sizes the network declares.

    Parameters
    ----------
    network : Network
        The network to write.
    notes : sequence of str
        Comments for the top.
    inputs : dict of str to Shape or None
        Input shapes to write instead of the declared ones.

    >>> from convcli.network import parse_network
    >>> print(to_words(parse_network("input 8x8x8 tag:x conv:8,k=3,p=1,bn,act=relu add:x")), end="")
    input 8x8x8
    tag:x
    conv:8,k=3,p=1,bias=false
    bn
    relu
    add:x
    """
    lines = [f"# {line}" for note in notes for line in note.splitlines()]
    sizes = {i.name: i.text for i in network.inputs}
    if inputs:
        sizes = {name: _input_text(shape) for name, shape in inputs.items()}
    if sizes:
        if list(sizes) == ["input"]:
            lines.append(f"input {sizes['input']}")
        else:
            lines.append("input " + " ".join(f"{name}={text}" for name, text in sizes.items()))
    for step in network.steps:
        if step.layer is not None:
            lines.append(_plain_word(step.layer))
        else:
            lines.append(f"{step.action}:{step.name}")
    return "\n".join(lines) + "\n"
