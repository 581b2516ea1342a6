"""Custom tf2onnx handlers for TensorFlow ops it cannot convert, or converts wrongly for our models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def _erfc_handler(ctx: Any, node: Any, name: str, args: Any) -> None:
    """``Erfc(x) = 1 - Erf(x)``: TensorFlow 2.19+ lowers exact GELU to ``Erfc``, which ONNX lacks."""
    from tf2onnx import utils

    dtype = ctx.get_dtype(node.output[0])
    node.type = "Erf"
    one = ctx.make_const(utils.make_name(f"{name}_one"), np.array(1, dtype=utils.map_onnx_to_numpy_type(dtype)))
    complement = ctx.insert_new_node_on_output("Sub", node.output[0], inputs=[one.output[0], node.output[0]])
    ctx.copy_shape(node.output[0], complement.output[0])
    ctx.set_dtype(complement.output[0], dtype)


def _select_v2_handler(ctx: Any, node: Any, name: str, args: Any) -> None:
    """``SelectV2`` -> ``Where``, always: tf2onnx prefers ``c * x + (1 - c) * y``, which lets a NaN in
    the unselected branch through (DeBERTa-v2's masked softmax: fully masked rows are NaN, then
    replaced by zeros). Both ops broadcast the numpy way."""
    node.type = "Where"


def _xla_dynamic_slice_handler(ctx: Any, node: Any, name: str, args: Any) -> None:
    """``XlaDynamicSlice(x, starts, sizes)`` -> ``Slice``: starts are clamped so the slice keeps its
    size, as XLA does. TensorFlow T5 slices its position bias this way when given a cache."""
    from onnx import TensorProto
    from tf2onnx import utils

    data, starts, sizes = node.input

    def make(op: str, inputs: list[str], **attr: Any) -> str:
        return str(ctx.make_node(op, inputs, attr=attr, name=utils.make_name(f"{name}_{op}")).output[0])

    starts = make("Cast", [starts], to=TensorProto.INT64)
    sizes = make("Cast", [sizes], to=TensorProto.INT64)
    zero = ctx.make_const(utils.make_name(f"{name}_zero"), np.array([0], dtype=np.int64)).output[0]
    highest = make("Sub", [make("Shape", [data]), sizes])
    clamped = make("Max", [make("Min", [starts, highest]), zero])
    ends = make("Add", [clamped, sizes])
    node.type = "Slice"
    ctx.replace_inputs(node, [data, clamped, ends])


#: TensorFlow op -> (handler, args), the custom handlers given to tf2onnx (read at each conversion).
OP_HANDLERS: dict[str, tuple[Callable[..., None], list[Any]]] = {
    "Erfc": (_erfc_handler, []),
    "SelectV2": (_select_v2_handler, []),
    "XlaDynamicSlice": (_xla_dynamic_slice_handler, []),
}
