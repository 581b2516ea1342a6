"""Trace the model call into a ``tf.function`` with ``None`` dims and freeze it into a ``GraphDef``.

The graph tf2onnx converts has every weight, and every constant tensor the call captured, as a
graph constant; its inputs and outputs are renamed to the ONNX names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from ...config import OnnxConfig
from ...options import ExportOptions


def input_signature(config: OnnxConfig, options: ExportOptions) -> list[Any]:
    """One ``tf.TensorSpec`` per input: ``None`` on dynamic axes (or the traced size with fixed axes)."""
    dummy = config.generate_dummy_inputs(options.shapes)
    signature = []
    for name, axes in config.inputs.items():
        shape = [
            None if (axis in axes and options.dynamic_axes) else size for axis, size in enumerate(dummy[name].shape)
        ]
        signature.append(tf.TensorSpec(shape, tf.as_dtype(dummy[name].dtype), name=name))
    return signature


def frozen_graph(
    call: Callable[..., dict[str, Any]], signature: list[Any]
) -> tuple[Any, list[str], list[str], dict[str, str]]:
    """Trace ``call`` and freeze it: weights *and* captured constant tensors become graph constants.

    (tf2onnx's ``from_function`` keeps captured eager tensors, such as GPT-J's sinusoidal
    position table, as extra graph inputs.) Returns the graph, its input and output tensor names,
    and the renaming to the ONNX names: the signature's names in, the returned dict's keys out.
    """
    try:
        # Without autograph first: transformers' TF models trace as plain graphs, and autograph's
        # rewriting of their Python source took most of the tracing time (5.8 of 6.8 s on MiniLM).
        concrete = tf.function(call, input_signature=signature, autograph=False).get_concrete_function()
    except Exception:  # Python control flow on tensors somewhere: let autograph convert it
        concrete = tf.function(call, input_signature=signature).get_concrete_function()
    graph_def, input_names, output_names = _freeze(concrete)
    renaming = dict(zip(input_names, [spec.name for spec in signature], strict=True))
    key_of = {tensor.name: key for key, tensor in concrete.structured_outputs.items()}
    renaming.update({name: key_of[tensor.name] for name, tensor in zip(output_names, concrete.outputs, strict=True)})
    return graph_def, input_names, output_names, renaming


def _freeze(concrete: Any) -> tuple[Any, list[str], list[str]]:
    """The frozen graph of ``concrete`` and its input and output tensor names.

    ``convert_variables_to_constants_v2`` builds a new concrete function around the frozen graph,
    which is all we need (2.8 of MiniLM's 8.8 s): its two steps are called directly where this
    TensorFlow has them; the frozen function keeps the traced one's tensor names.
    """
    from tensorflow.python.framework import convert_to_constants

    try:
        data = convert_to_constants._FunctionConverterDataInEager(
            func=concrete, lower_control_flow=False, aggressive_inlining=True
        )
        graph_def, converted = convert_to_constants._replace_variables_by_constants(converter_data=data)
    except (AttributeError, TypeError):  # another TensorFlow: the public function
        frozen = convert_to_constants.convert_variables_to_constants_v2(
            concrete, lower_control_flow=False, aggressive_inlining=True
        )
        return (
            frozen.graph.as_graph_def(add_shapes=True),
            [t.name for t in frozen.inputs],
            [t.name for t in frozen.outputs],
        )
    # The indices are those of the graph's internal captures; captures left unconverted are variables
    # the outputs never read (a pooler's, say): not inputs either.
    captures = concrete.graph.internal_captures
    converted_names = {captures[index].name for index in converted}
    inputs = [t.name for t in concrete.inputs if t.name not in converted_names and t.dtype != tf.resource]
    return graph_def, inputs, [t.name for t in concrete.outputs]
