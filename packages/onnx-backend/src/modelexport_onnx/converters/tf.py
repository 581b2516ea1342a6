"""TensorFlow -> ONNX with ``tf2onnx``, from a ``tf.function`` traced with ``None`` dims.

The function takes the config's inputs positionally (each a ``tf.TensorSpec`` named like the
ONNX input, ``None`` on every dynamic axis) and returns a dict of the config's outputs: tf2onnx
names graph outputs after the keys, so nested model outputs come out flat and named as in a
PyTorch export. Caches go in and out under the PyTorch names (``past_key_values.{i}.key``,
``present.{i}.key``) whatever layout the TensorFlow model keeps them in.

The same function, run eagerly, gives the reference outputs validation compares against.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from modelexport_core.registry import normalize_model_type

from ..config import PAST_PREFIX, PRESENT_PREFIX, OnnxConfig
from ..errors import ExportError
from ..options import ExportOptions

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # transformers' TF models need tf-keras behind tf.keras
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf
import tf2onnx  # here, not in convert(): a missing converter is reported by converter_for with what to install

TWO_GIB = 2 * 1024**3
#: Decoders whose TensorFlow cache is one tensor per layer, keys and values stacked on a leading
#: axis of 2 (``(2, batch, heads, length, head_dim)``); the others keep a ``(key, value)`` pair.
STACKED_CACHE_MODEL_TYPES = frozenset({"gpt2"})
#: Op domains onnxruntime runs; a node left in another one is a TensorFlow op tf2onnx did not convert.
STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "com.microsoft"})


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


#: TensorFlow op -> (handler, args), the custom handlers given to tf2onnx.
OP_HANDLERS: dict[str, tuple[Callable[..., None], list[Any]]] = {
    "Erfc": (_erfc_handler, []),
    "SelectV2": (_select_v2_handler, []),
    "XlaDynamicSlice": (_xla_dynamic_slice_handler, []),
}


_OPTIMIZER_PATCH_LOCK = threading.RLock()


@contextlib.contextmanager
def safe_reshape_merging() -> Iterator[None]:
    """Keep tf2onnx from merging ``Reshape(Reshape(x, a), b)`` when ``b`` copies a dim with ``0``.

    tf2onnx 1.17's back-to-back optimizer rewrites the pair as ``Reshape(x, b)`` unconditionally; a
    ``0`` in ``b`` then copies a dim of ``x`` instead of the intermediate's. TensorFlow's
    multiple-choice models hit it: they flatten ``(batch, choices, seq)`` ids and mask to
    ``(batch * choices, seq)``, then reshape the mask to ``(0, 1, 1, -1)``. While converting, the
    merge only happens when ``b`` is a constant without zeros.
    """
    try:
        from tf2onnx.optimizer import back_to_back_optimizer as back_to_back
    except ImportError:  # another tf2onnx layout: nothing to guard
        yield
        return
    key = ("Reshape",)
    original = back_to_back._func_map.get(key)
    if original is None:
        yield
        return

    def guarded(graph: Any, node: Any, consumers: list[Any]) -> Any:
        if len(consumers) == 1 and consumers[0].type == "Reshape":
            shape = consumers[0].inputs[1]
            if shape is None or not shape.is_const() or 0 in shape.get_tensor_value(as_list=True):
                return []
        return original(graph, node, consumers)

    with _OPTIMIZER_PATCH_LOCK:
        back_to_back._func_map[key] = guarded
        try:
            yield
        finally:
            back_to_back._func_map[key] = original


@contextlib.contextmanager
def constants_synced_once() -> Iterator[None]:
    """Copy each constant's tensor into its ONNX node once, not after every tf2onnx optimizer pass.

    tf2onnx 1.17 rebuilds every node's protobuf after each of its ~36 optimizer passes; for a
    constant that copies the whole weight tensor, and protobuf keeps each copy in the message's
    arena until the model is freed: a 90 MB model (MiniLM) peaked at 7.4 GB and spent most of its
    conversion there. A constant whose value attribute, inputs and outputs are the very objects
    last written is skipped (tf2onnx replaces the attribute object whenever it changes a value;
    the cache holds a reference, so an identity match cannot be a recycled object).
    """
    try:
        from tf2onnx.graph import Node
    except ImportError:
        yield
        return
    original = Node.update_proto

    def update_proto(node: Any, external_tensor_storage: Any = None) -> Any:
        if external_tensor_storage is None and node.type == "Const" and not node.get_body_graphs():
            state = (node._attr.get("value"), tuple(node.input), tuple(node.output), node.name, node.domain)
            synced = node.__dict__.get("_modelexport_synced")
            if synced is not None and synced[0] is state[0] and synced[1:] == state[1:]:
                return None
            result = original(node, external_tensor_storage)
            node.__dict__["_modelexport_synced"] = state
            return result
        return original(node, external_tensor_storage)

    with _OPTIMIZER_PATCH_LOCK:
        Node.update_proto = update_proto
        try:
            yield
        finally:
            Node.update_proto = original


@contextlib.contextmanager
def optimizer_error_mode(catch_errors: bool) -> Iterator[None]:
    """tf2onnx's ``TF2ONNX_CATCH_ERRORS`` for one conversion.

    Catching errors, tf2onnx deep-copies the whole graph, weights included, before each of its ~36
    optimizer passes, so that a failing pass can be dropped: on MiniLM that doubled the conversion
    time and peak memory. Without it a failing pass fails the conversion (then retried with it).
    """
    key = "TF2ONNX_CATCH_ERRORS"
    with _OPTIMIZER_PATCH_LOCK:
        before = os.environ.get(key)
        os.environ[key] = "TRUE" if catch_errors else "FALSE"
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = before


def _decoder_call(model: Any, config: OnnxConfig) -> Callable[..., dict[str, Any]]:
    """Decoder-only models (and encoders): the config's inputs in, its outputs out."""
    input_names = list(config.inputs)
    output_names = list(config.outputs)
    stacked = normalize_model_type(str(getattr(model.config, "model_type", ""))) in STACKED_CACHE_MODEL_TYPES

    def call(*args: Any) -> dict[str, Any]:
        named = dict(zip(input_names, args, strict=True))
        past = [named.pop(name) for name in input_names if name.startswith(PAST_PREFIX)]
        if config.uses_past:
            pairs = [(past[i], past[i + 1]) for i in range(0, len(past), 2)]
            named["past_key_values"] = [tf.stack(pair) for pair in pairs] if stacked else pairs
            named["use_cache"] = True
        elif config.GENERATIVE:
            named["use_cache"] = False
        outputs = model(**named, training=False, return_dict=True)
        result = {}
        for name in output_names:
            if name.startswith(PRESENT_PREFIX):
                _, layer, part = name.split(".")
                # a stacked (2, ...) tensor or a (key, value) pair: indexing reads both alike
                result[name] = outputs["past_key_values"][int(layer)][0 if part == "key" else 1]
            elif name in outputs:
                result[name] = outputs[name]
            else:
                raise ExportError(f"The model returned no {name!r} (it returned {', '.join(outputs)}).")
        return result

    return call


def _seq2seq_call(model: Any, config: OnnxConfig) -> Callable[..., dict[str, Any]]:
    """One file of an encoder-decoder. TensorFlow keeps a cache layer as
    ``(self key, self value, cross key, cross value)``."""
    from transformers.modeling_tf_outputs import TFBaseModelOutput

    part = config.part  # type: ignore[attr-defined]
    input_names = list(config.inputs)
    output_names = list(config.outputs)
    hidden_size = int(config.normalized.get("hidden_size"))  # type: ignore[attr-defined]

    def cache_of(named: dict[str, Any]) -> list[tuple[Any, ...]]:
        def tensors(kind: str) -> list[Any]:
            return [named[n] for n in input_names if n.startswith(PAST_PREFIX) and f".{kind}." in n]

        own, cross = tensors("decoder"), tensors("encoder")
        return [(own[i], own[i + 1], cross[i], cross[i + 1]) for i in range(0, len(own), 2)]

    def call(*args: Any) -> dict[str, Any]:
        named = dict(zip(input_names, args, strict=True))
        if part == "encoder":
            encoder_outputs = model.get_encoder()(**named, training=False, return_dict=True)
            return {"last_hidden_state": encoder_outputs.last_hidden_state}
        kwargs: dict[str, Any] = {
            "input_ids": None,  # Keras wants the first argument named even when encoder outputs replace it
            "decoder_input_ids": named["input_ids"],
            "training": False,
            "return_dict": True,
        }
        if "encoder_attention_mask" in named:
            kwargs["attention_mask"] = named["encoder_attention_mask"]
        if part == "decoder":
            kwargs["encoder_outputs"] = TFBaseModelOutput(last_hidden_state=named["encoder_hidden_states"])
            kwargs["use_cache"] = config.uses_past
        else:
            # Cross-attention reads its keys and values from the cache; the hidden states only give
            # the shape (TensorFlow checks their length against the cached keys'), so zeros stand in.
            cache = cache_of(named)
            batch, length = tf.shape(cache[0][2])[0], tf.shape(cache[0][2])[2]
            zeros = tf.zeros(tf.stack([batch, length, hidden_size]), dtype=cache[0][2].dtype)
            kwargs["encoder_outputs"] = TFBaseModelOutput(last_hidden_state=zeros)
            kwargs["past_key_values"] = cache
            kwargs["use_cache"] = True
        outputs = model(**kwargs)
        result = {}
        for name in output_names:
            if name.startswith(PRESENT_PREFIX):
                _, layer, kind, which = name.split(".")
                index = (0 if kind == "decoder" else 2) + (0 if which == "key" else 1)
                result[name] = outputs["past_key_values"][int(layer)][index]
            else:
                result[name] = outputs[name]
        return result

    return call


def model_call(model: Any, config: OnnxConfig) -> Callable[..., dict[str, Any]]:
    """The function traced for the export and run eagerly for validation."""
    if getattr(config, "part", None) is not None:
        return _seq2seq_call(model, config)
    return _decoder_call(model, config)


def automatic_exporter(config: OnnxConfig) -> str:
    """TensorFlow has one converter."""
    return "tf2onnx"


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


@contextlib.contextmanager
def plain_grouped_convolutions(model: Any) -> Iterator[None]:
    """Trace grouped convolutions as plain ``Conv2D`` ops, which tf2onnx turns into grouped ONNX ``Conv``.

    Keras runs a grouped convolution inside an XLA-compiled ``tf.function`` (TensorFlow's CPU kernels
    lack them eagerly); traced, that is a ``PartitionedCall`` tf2onnx cannot convert (ConvNeXt's
    depthwise convolutions). In a graph the plain op is fine; eager runs keep the compiled path.
    """
    layers = [
        layer
        for layer in model.submodules
        if getattr(layer, "groups", 1) > 1 and hasattr(layer, "_jit_compiled_convolution_op")
    ]
    for layer in layers:
        layer.__dict__["_jit_compiled_convolution_op"] = layer.convolution_op
    try:
        yield
    finally:
        for layer in layers:
            layer.__dict__.pop("_jit_compiled_convolution_op", None)


def parameter_bytes(model: Any) -> int:
    return sum(int(np.prod(w.shape)) * w.dtype.size for w in model.weights)


def convert(model: Any, config: OnnxConfig, path: Path, options: ExportOptions) -> None:
    """Trace ``model`` into a ``tf.function`` and convert it with tf2onnx to ``path``."""
    import onnx

    if options.exporter != "tf2onnx":
        raise ExportError(
            f"--exporter {options.exporter} is a PyTorch exporter; TensorFlow models are converted with tf2onnx."
        )
    if parameter_bytes(model) >= TWO_GIB:
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
                    custom_op_handlers=OP_HANDLERS,
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


def innermost_error(exc: BaseException) -> str:
    """The line that says what went wrong: errors raised while tracing wrap one another per Keras
    layer ("Exception encountered when calling layer ..."), the innermost one last."""
    import re

    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    errors = [line for line in lines if re.match(r"^[A-Za-z_.]*(Error|Exception)\b.*:", line)]
    specific = [line for line in errors if "Exception encountered when calling layer" not in line]
    if specific or errors:
        return (specific or errors)[-1][:500]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"[:500]


def unconverted_ops(proto: Any) -> list[str]:
    """TensorFlow ops tf2onnx left in the graph as they were (it goes on past ops it cannot convert)."""
    import onnx

    left = set()
    for node in proto.graph.node:
        if node.domain in ("", "ai.onnx"):
            if not onnx.defs.has(node.op_type):
                left.add(node.op_type)
        elif node.domain not in STANDARD_DOMAINS:
            left.add(f"{node.domain}:{node.op_type}")
    return sorted(left)


def run_reference(model: Any, config: OnnxConfig, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """TensorFlow's own outputs (eager) for ONNX-named numpy inputs, under the ONNX output names."""
    args = [tf.constant(inputs[name]) for name in config.inputs]
    outputs = model_call(model, config)(*args)
    return {name: np.asarray(outputs[name]) for name in config.outputs}
