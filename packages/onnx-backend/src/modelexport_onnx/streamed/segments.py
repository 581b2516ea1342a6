"""Run an exported graph too large for memory segment by segment: what comes before the first layer, each
layer, what comes after the last, each its own onnxruntime session holding only its own weights.

The exported graph is not changed: its nodes are partitioned by the module scope the converter gave them
(``/model/model/layers.3/self_attn/...``); each segment becomes a model of its nodes, whose inputs are the
tensors earlier segments made and whose initializers point into the same external data file, so onnxruntime
reads only that segment's weights. What flows between segments (hidden states, the mask, rotary tables) is
small. A layer's output is the one tensor its nodes make that the next segment reads: the residual stream.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
from modelexport_pipeline.errors import ExportError


@dataclass
class Segment:
    """Nodes of one segment, in graph order; ``layer`` is its layer's index (``None``: before or after them)."""

    name: str
    layer: int | None
    nodes: list[onnx.NodeProto] = field(default_factory=list)


@dataclass
class SegmentedRun:
    """What a segmented run produced: each layer's output and the graph's outputs."""

    layer_outputs: list[Any]
    outputs: dict[str, Any]
    #: The tensor name of each layer's output in the graph (what ``layer_outputs`` holds the values of).
    layer_tensors: list[str]


def layer_of(node: onnx.NodeProto, scope: str) -> int | None:
    """The layer a node belongs to, from its scope name (``/.../layers.3/...`` with ``scope`` = ``layers``)."""
    match = re.search(rf"/{re.escape(scope)}\.(\d+)/", node.name)
    return int(match.group(1)) if match else None


def partition(graph: onnx.GraphProto, scope: str) -> list[Segment]:
    """Segments in execution order: a node outside every layer joins the segment of the next layer node (it makes
    that layer's inputs: the mask, position tables), or the final segment after the last layer."""
    segments: list[Segment] = []
    waiting: list[onnx.NodeProto] = []
    for node in graph.node:
        layer = layer_of(node, scope)
        if layer is None:
            waiting.append(node)
            continue
        if not segments or segments[-1].layer != layer:
            segments.append(Segment(f"{scope}.{layer}", layer))
        segments[-1].nodes += [*waiting, node]
        waiting = []
    if not segments:
        raise ExportError(f"No node of the exported graph lies in a '{scope}.N' scope: it cannot be run by layers.")
    segments.append(Segment("head", None, waiting))
    return segments


def _made(nodes: list[onnx.NodeProto]) -> set[str]:
    return {output for node in nodes for output in node.output if output}


def _read(nodes: list[onnx.NodeProto]) -> set[str]:
    """Every tensor the nodes read, their subgraphs' too (an If's branches read from the outer scope)."""
    names = {name for node in nodes for name in node.input if name}
    for node in nodes:
        for attribute in node.attribute:
            if attribute.type == onnx.AttributeProto.GRAPH:
                names |= _read(list(attribute.g.node))
    return names


def run_by_segments(model_path: Path, feeds: Mapping[str, Any], scope: str) -> SegmentedRun:
    """Run ``model_path`` on ``feeds`` one segment at a time; memory: the largest segment's weights at once."""
    from ..validation import onnx_session

    model = onnx.load(str(model_path), load_external_data=False)
    graph = model.graph
    inferred = onnx.shape_inference.infer_shapes(model)  # the element type of every tensor a segment returns
    types = {
        value.name: value.type.tensor_type.elem_type
        for value in [*inferred.graph.value_info, *inferred.graph.output, *inferred.graph.input]
    }
    segments = partition(graph, scope)
    initializers = {tensor.name: tensor for tensor in graph.initializer}
    outputs = [value.name for value in graph.output]
    values: dict[str, Any] = dict(feeds)
    later_reads = [set[str]() for _ in segments]
    for index in range(len(segments) - 2, -1, -1):
        later_reads[index] = later_reads[index + 1] | _read(segments[index + 1].nodes)
    layer_tensors: list[str] = []
    with tempfile.TemporaryDirectory(dir=model_path.parent, prefix=".segments-") as scratch:
        for index, segment in enumerate(segments):
            made, read = _made(segment.nodes), _read(segment.nodes)
            wanted = sorted((made & later_reads[index]) | (made & set(outputs)))
            if segment.layer is not None:
                layer_tensors.append(_layer_output(segment, scope, set(wanted) - set(outputs)))
            part = onnx.helper.make_graph(
                segment.nodes,
                segment.name,
                [_value(name, values[name]) for name in sorted(read - made) if name in values],
                [
                    onnx.helper.make_tensor_value_info(name, types.get(name, onnx.TensorProto.FLOAT), None)
                    for name in wanted
                ],
                [initializers[name] for name in sorted(read - made) if name in initializers],
            )
            piece = onnx.helper.make_model(part, opset_imports=model.opset_import, ir_version=model.ir_version)
            # Beside the data file: the initializers' relative locations resolve to it.
            path = model_path.parent / f"{Path(scratch).name}-{index}.onnx"
            onnx.save(piece, str(path))
            try:
                session = onnx_session(path)
                feed = {i.name: values[i.name] for i in session.get_inputs()}
                values.update(zip(wanted, session.run(wanted, feed), strict=True))
                del session
            finally:
                path.unlink()
            for name in list(values):  # keep what later segments read, the outputs, and the layer outputs
                if name not in later_reads[index] and name not in outputs and name not in layer_tensors:
                    del values[name]
    return SegmentedRun(
        [values[name] for name in layer_tensors], {name: values[name] for name in outputs}, layer_tensors
    )


def _layer_output(segment: Segment, scope: str, passed_on: set[str]) -> str:
    """The layer's output: of what its own nodes pass on to later segments, the last made. The rest are what the
    tracer shared between layers (constants, rotary tables reshaped once), made early in the first layer."""
    for node in reversed(segment.nodes):
        if layer_of(node, scope) == segment.layer:
            made = [str(name) for name in node.output if name in passed_on]
            if made:
                return made[0]
    raise ExportError(f"{segment.name} passes nothing on to the next layer: it cannot be checked by layers.")


def _value(name: str, value: Any) -> onnx.ValueInfoProto:
    import numpy as np

    element = onnx.helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype)
    return onnx.helper.make_tensor_value_info(name, element, list(np.asarray(value).shape))
