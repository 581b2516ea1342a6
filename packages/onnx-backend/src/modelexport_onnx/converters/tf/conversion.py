"""TensorFlow -> ONNX with ``tf2onnx``: freeze the model call, convert it, check what came out.

tf2onnx converts the frozen graph under the patches of :mod:`.tf2onnx_patches`, with the handlers
of :mod:`.op_handlers`; a model it cannot convert fails here with the reason, not later in
onnxruntime.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import tf2onnx
from modelexport_pipeline.errors import ExportError

from ...config import OnnxConfig
from ...options import ExportOptions
from ...postprocess import PROTOBUF_LIMIT, name_undeclared_dims, order_outputs
from . import not_tf2onnx, op_handlers
from .freezing import frozen_graph, input_signature
from .keras_patches import plain_grouped_convolutions
from .model_calls import model_call
from .tf2onnx_patches import constants_synced_once, optimizer_error_mode, safe_reshape_merging

#: Op domains onnxruntime runs; a node left in another one is a TensorFlow op tf2onnx did not convert.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})


def parameter_bytes(model: Any) -> int:
    return sum(int(np.prod(w.shape)) * w.dtype.size for w in model.weights)


def convert(model: Any, config: OnnxConfig, path: Path, options: ExportOptions) -> None:
    """Trace ``model`` into a ``tf.function`` and convert it with tf2onnx to ``path``."""
    if options.converter != "tf2onnx":
        raise ExportError(not_tf2onnx(options.converter))
    if parameter_bytes(model) >= PROTOBUF_LIMIT:
        raise ExportError(
            "TensorFlow models over 2 GiB cannot be frozen into one graph for tf2onnx: "
            "export the PyTorch weights of this checkpoint instead (--framework pt)."
        )
    signature = input_signature(config, options)
    try:
        with plain_grouped_convolutions(model):
            graph_def, input_names, output_names, renaming = frozen_graph(model_call(model, config), signature)

        def run_tf2onnx(catch_errors: bool) -> Any:
            with safe_reshape_merging(), constants_synced_once(), optimizer_error_mode(catch_errors):
                proto, _ = tf2onnx.convert.from_graph_def(
                    graph_def,
                    input_names=input_names,
                    output_names=output_names,
                    opset=options.opset,
                    custom_op_handlers=op_handlers.OP_HANDLERS,
                    tensors_to_rename=renaming,
                )
            return proto

        try:
            proto = run_tf2onnx(catch_errors=False)
        except Exception:
            # One of tf2onnx's optimizers failed: convert again letting it skip the failing ones, which
            # costs a copy of the graph per optimizer pass.
            proto = run_tf2onnx(catch_errors=True)
    except ExportError:
        raise
    except Exception as exc:
        raise ExportError(f"tf2onnx failed: {innermost_error(exc)}") from exc
    leftover = unconverted_ops(proto)
    if leftover:
        raise ExportError(
            f"tf2onnx could not convert these TensorFlow ops: {', '.join(leftover)}. "
            "This model cannot be exported from TensorFlow; try its PyTorch weights (--framework pt)."
        )
    order_outputs(proto, list(config.outputs))
    name_undeclared_dims(proto, config)
    onnx.save(proto, str(path))


def innermost_error(exc: BaseException) -> str:
    """The line that says what went wrong: errors raised while tracing wrap one another per Keras
    layer ("Exception encountered when calling layer ..."), the innermost one last."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b.*:", line)]
    specific = [line for line in errors if "Exception encountered when calling layer" not in line]
    if specific or errors:
        return (specific or errors)[-1][:500]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]


def unconverted_ops(proto: Any) -> list[str]:
    """TensorFlow ops tf2onnx left in the graph as they were (it goes on past ops it cannot convert)."""
    left = set()
    for node in proto.graph.node:
        if node.domain in ("", "ai.onnx"):
            if not onnx.defs.has(node.op_type):
                left.add(node.op_type)
        elif node.domain not in STANDARD_DOMAINS:
            left.add(f"{node.domain}:{node.op_type}")
    return sorted(left)
