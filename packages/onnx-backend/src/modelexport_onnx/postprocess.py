"""Post-processing of an exported ONNX file: dimension names, tied weights, file layout.

Exporters name dynamic dimensions their own way (``s56``, ``unk__3``, ``s69 + s70``); consumers
written against optimum's exports expect ``batch_size``, ``sequence_length``... Tied weights
(an embedding matrix reused by the LM head) may be written twice. Both are fixed here, for
every converter alike.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ExportError

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
    """Keep one copy of identical initializers (tied weights); returns how many were removed."""
    from onnx import numpy_helper

    keep: dict[tuple[int, tuple[int, ...], str], str] = {}
    replace: dict[str, str] = {}
    graph = model.graph
    for initializer in graph.initializer:
        data = numpy_helper.to_array(initializer)
        key = (initializer.data_type, tuple(initializer.dims), hashlib.sha256(data.tobytes()).hexdigest())
        if key in keep:
            replace[initializer.name] = keep[key]
        else:
            keep[key] = initializer.name
    if not replace:
        return 0
    graph_outputs = {o.name for o in graph.output}
    replace = {old: new for old, new in replace.items() if old not in graph_outputs}
    for sub in _graphs(graph):
        for node in sub.node:
            for i, name in enumerate(node.input):
                if name in replace:
                    node.input[i] = replace[name]
    kept = [init for init in graph.initializer if init.name not in replace]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    kept_inputs = [i for i in graph.input if i.name not in replace]
    del graph.input[:]
    graph.input.extend(kept_inputs)
    return len(replace)


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
    removed = remove_duplicate_initializers(model)
    unchanged = not renamed and not removed and before == _io_signature(model)
    single_file = [p for p in source.parent.iterdir() if p != source] == []
    if unchanged and single_file and initializer_bytes(model) < MAX_SINGLE_FILE_BYTES:
        os.replace(source, destination)
        return PostprocessReport(renamed_dims={}, removed_initializers=0, external_data=None)
    external = save(model, destination)
    return PostprocessReport(renamed_dims=renamed, removed_initializers=removed, external_data=external)


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
