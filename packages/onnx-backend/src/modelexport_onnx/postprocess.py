"""Post-processing of an exported ONNX file: dimension names, tied weights, file layout.

Exporters name dynamic dimensions their own way (``s56``, ``unk__3``, ``s69 + s70``); consumers
written against optimum's exports expect ``batch_size``, ``sequence_length``... Tied weights
(an embedding matrix reused by the LM head) may be written twice. Both are fixed here, for
every converter alike.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelexport_pipeline.errors import ExportError

if TYPE_CHECKING:
    from .config import OnnxConfig

#: protobuf cannot serialize a message of 2 GiB or more: the limit every converter and writer works to.
PROTOBUF_LIMIT = 2 * 1024**3
#: Past this (the limit, less room for the graph itself), weights go to one data file.
MAX_SINGLE_FILE_BYTES = PROTOBUF_LIMIT - 64 * 1024**2
EXTERNAL_DATA_SUFFIX = "_data"


@dataclass(frozen=True)
class PostprocessReport:
    renamed_dims: dict[str, str]
    removed_initializers: int
    external_data: str | None
    #: Axes that must stay dynamic but the converter fixed (read from the model in memory, not the file again).
    frozen: tuple[str, ...] = ()
    #: What the converter chose on its own and the user should read (a fused attention, or why not).
    note: str = ""


def _graphs(graph: Any) -> Iterator[Any]:
    """``graph`` and every subgraph of its nodes (If/Loop/Scan bodies)."""
    yield graph
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.g is not None and attribute.HasField("g"):
                yield from _graphs(attribute.g)
            for sub in attribute.graphs:
                yield from _graphs(sub)


def _declared_dims(model: Any, axes: Mapping[str, Mapping[int, str]]) -> Iterator[tuple[str, int, str, Any]]:
    """``(value name, axis, wanted name, dim)`` for every declared dynamic axis of a graph input or output."""
    values = {v.name: v for v in [*model.graph.input, *model.graph.output]}
    for value_name, value_axes in axes.items():
        value = values.get(value_name)
        if value is None:
            continue
        dims = value.type.tensor_type.shape.dim
        for axis, dim_name in value_axes.items():
            if axis < len(dims):
                yield value_name, axis, dim_name, dims[axis]


def name_dynamic_dims(model: Any, axes: Mapping[str, Mapping[int, str]]) -> dict[str, str]:
    """Give the dynamic axes of graph inputs and outputs their names; rename the symbols everywhere.

    Returns the symbol renaming applied (exporter symbol -> our name).
    """
    renaming: dict[str, str] = {}
    for _, _, dim_name, dim in _declared_dims(model, axes):
        if dim.HasField("dim_param") and dim.dim_param != dim_name:
            renaming.setdefault(dim.dim_param, dim_name)
        if not dim.HasField("dim_value"):
            dim.dim_param = dim_name
    if renaming:
        for graph in _graphs(model.graph):
            for value in [*graph.input, *graph.output, *graph.value_info]:
                for dim in value.type.tensor_type.shape.dim:
                    if dim.HasField("dim_param") and dim.dim_param in renaming:
                        dim.dim_param = renaming[dim.dim_param]
    return renaming


def frozen_axes(model: Any, axes: Mapping[str, Mapping[int, str]]) -> list[str]:
    """Axes meant to be dynamic that the exporter fixed to a number (``input_ids[1]=16``)."""
    return [
        f"{value_name}[{axis}]={dim.dim_value}"
        for value_name, axis, _, dim in _declared_dims(model, axes)
        if dim.HasField("dim_value")
    ]


def remove_duplicate_initializers(model: Any) -> int:
    """Keep one copy of identical initializers (tied weights); returns how many were removed.

    A copy comes as a second initializer, or as an ``Identity`` of the first: torch's exporter writes identical
    constants that way (a random timm ResNet's zero-initialised residual norms fold into equal kernels), and
    onnxruntime's quantizer then finds a weight that is no initializer. Both are read from the one kept."""
    from onnx import numpy_helper

    keep: dict[tuple[int, tuple[int, ...], str], str] = {}
    replace: dict[str, str] = {}
    graph = model.graph
    initializers = {initializer.name for initializer in graph.initializer}
    graph_outputs = {o.name for o in graph.output}
    copies = [
        node
        for node in graph.node
        if node.op_type == "Identity" and node.input[0] in initializers and node.output[0] not in graph_outputs
    ]
    replace.update((node.output[0], node.input[0]) for node in copies)
    for node in copies:
        graph.node.remove(node)
    for initializer in graph.initializer:
        raw = initializer.raw_data if initializer.HasField("raw_data") else numpy_helper.to_array(initializer).tobytes()
        key = (initializer.data_type, tuple(initializer.dims), hashlib.sha256(raw).hexdigest())
        if key in keep:
            replace[initializer.name] = keep[key]
        else:
            keep[key] = initializer.name
    if not replace:
        return 0
    replace = {old: new for old, new in replace.items() if old not in graph_outputs}
    for sub in _graphs(graph):
        for node in sub.node:
            for i, name in enumerate(node.input):
                if name in replace:
                    node.input[i] = replace[name]
    drop_initializers(graph, replace)
    return len(replace)


def drop_initializers(graph: Any, names: Collection[str]) -> None:
    """Remove the initializers (and graph inputs) called ``names``, in place: rebuilding the repeated field
    instead copies every tensor left, a second copy of the weights in memory (SmolLM2: +840 MB, 1 s)."""
    for field in (graph.initializer, graph.input):
        for index in reversed(range(len(field))):
            if field[index].name in names:
                del field[index]


#: Below this many elements a matrix is not looked at for a transposed twin (tied embeddings are millions).
TIED_MIN_ELEMENTS = 1 << 16


def _corners(matrix: Any) -> tuple[Any, ...]:
    """A matrix's shape and the values at its corners and centre: equal for a matrix and a copy, so only the
    matrices that agree here are compared whole (hashing SmolLM2's 183 candidates took 2 s)."""
    rows, columns = matrix.shape
    spots = (
        (0, 0),
        (0, 1),
        (1, 0),
        (rows - 1, columns - 1),
        (rows // 2, columns // 2),
        (rows - 1, 0),
        (0, columns - 1),
    )
    return (matrix.shape, matrix.dtype.str, *(matrix[r, c].tobytes() for r, c in spots))


def _matrix(tensor: Any) -> Any:
    """A 2-D initializer's values, read from its bytes without a second copy where it has raw bytes."""
    import numpy as np
    from onnx import helper, numpy_helper

    if not tensor.HasField("raw_data"):
        return numpy_helper.to_array(tensor)
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(tensor.data_type)).newbyteorder("<")
    return np.frombuffer(tensor.raw_data, dtype=dtype).reshape(tuple(tensor.dims))


def tie_transposed_initializers(model: Any) -> int:
    """Store a matrix that is another's transpose once: an LM head tied to the embedding table is traced as a
    ``MatMul`` with the table transposed, a second copy of the largest weight (113 MB of SmolLM2's 540 MB).
    The copy becomes a ``Transpose`` of the table under the copy's name, so no consumer changes; onnxruntime
    folds it when it loads the model. Returns how many copies were removed."""
    import numpy as np
    from onnx import helper

    graph = model.graph
    matrices = [t for t in graph.initializer if len(t.dims) == 2 and t.dims[0] * t.dims[1] >= TIED_MIN_ELEMENTS]
    shapes = {(t.data_type, tuple(t.dims)) for t in matrices}
    candidates = [t for t in matrices if t.dims[0] != t.dims[1] and (t.data_type, tuple(t.dims)[::-1]) in shapes]
    if not candidates:
        return 0
    by_name = {t.name: t for t in candidates}
    by_corners: dict[tuple[Any, ...], list[str]] = {}  # the matrices kept so far, by a few of their values
    copies: dict[str, str] = {}
    for tensor in candidates:  # the first of a pair (the embedding table, traced first) is kept
        array = _matrix(tensor)  # one matrix in memory at a time (two while comparing): not every weight again
        for original in by_corners.get(_corners(array.T), []):  # a handful of values first, every value only then
            if np.array_equal(_matrix(by_name[original]), array.T):
                copies[tensor.name] = original
                break
        else:
            by_corners.setdefault(_corners(array), []).append(tensor.name)
    if not copies:
        return 0
    graph_outputs = {o.name for o in graph.output}
    copies = {copy: original for copy, original in copies.items() if copy not in graph_outputs}
    drop_initializers(graph, copies)
    transposes = [
        helper.make_node("Transpose", [original], [copy], name=f"tied/{copy}", perm=[1, 0])
        for copy, original in copies.items()
    ]
    nodes = [*transposes, *graph.node]
    del graph.node[:]
    graph.node.extend(nodes)
    return len(copies)


def initializer_bytes(model: Any) -> int:
    return sum(len(init.raw_data) for init in model.graph.initializer)


def save(model: Any, path: Path) -> str | None:
    """Save ``model`` as one file, or with one ``<name>_data`` file when over protobuf's 2 GiB limit."""
    import onnx

    data_name = path.name + EXTERNAL_DATA_SUFFIX
    stale = path.with_name(data_name)
    if stale.exists():
        os.remove(stale)
    if initializer_bytes(model) < MAX_SINGLE_FILE_BYTES:
        onnx.save_model(model, str(path))
        return None
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=data_name,
        size_threshold=1024,
    )
    return data_name


def _io_signature(model: Any) -> list[tuple[str, list[tuple[str, int]]]]:
    """Names and dimensions of the graph's inputs and outputs, to tell whether anything changed."""
    return [
        (v.name, [(d.dim_param, d.dim_value) for d in v.type.tensor_type.shape.dim])
        for v in [*model.graph.input, *model.graph.output]
    ]


def postprocess(
    source: Path, destination: Path, axes: Mapping[str, Mapping[int, str]], dynamic: bool = True
) -> PostprocessReport:
    """Read the converter's ``source`` file, name dimensions, drop duplicate initializers, write ``destination``.

    When nothing changes and the file needs no external data, the converter's file is moved as it is:
    serializing a large model again costs more than the whole conversion.
    """
    import onnx

    model = onnx.load(str(source), load_external_data=True)
    before = _io_signature(model)
    renamed = name_dynamic_dims(model, axes) if dynamic else {}
    removed = remove_duplicate_initializers(model) + tie_transposed_initializers(model)
    unchanged = not renamed and not removed and before == _io_signature(model)
    single_file = [p for p in source.parent.iterdir() if p != source] == []
    if unchanged and single_file and initializer_bytes(model) < MAX_SINGLE_FILE_BYTES:
        os.replace(source, destination)
        return PostprocessReport({}, 0, None, tuple(frozen_axes(model, axes)) if dynamic else ())
    external = save(model, destination)
    return PostprocessReport(renamed, removed, external, tuple(frozen_axes(model, axes)) if dynamic else ())


def order_outputs(proto: Any, names: list[str]) -> None:
    """Put the graph outputs in the config's order (TensorFlow flattens a dict of outputs sorted by key)."""
    by_name = {output.name: output for output in proto.graph.output}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise ExportError(f"tf2onnx produced no output named {', '.join(missing)}.")
    ordered = [by_name[name] for name in names]
    del proto.graph.output[:]
    proto.graph.output.extend(ordered)


def name_undeclared_dims(proto: Any, config: OnnxConfig) -> None:
    """Name the dynamic dims the config does not declare ``{value}_dim_{axis}`` (the TorchScript
    exporter's way) instead of tf2onnx's ``unk__N``; declared ones are named by post-processing."""
    declared = config.dynamic_axes
    renaming: dict[str, str] = {}
    for value in [*proto.graph.input, *proto.graph.output]:
        for axis, dim in enumerate(value.type.tensor_type.shape.dim):
            if dim.dim_param.startswith("unk__") and axis not in declared.get(value.name, {}):
                renaming.setdefault(dim.dim_param, f"{value.name}_dim_{axis}")
    for value in [*proto.graph.input, *proto.graph.output, *proto.graph.value_info]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renaming:
                dim.dim_param = renaming[dim.dim_param]
