"""The function of the model that is exported: the config's inputs in, a dict of its outputs out.

It takes the config's inputs positionally and returns a dict keyed by the config's output names:
tf2onnx names graph outputs after the keys, so nested model outputs come out flat and named as in a
PyTorch export. Caches go in and out under the PyTorch names (``past_key_values.{i}.key``,
``present.{i}.key``) whatever layout the TensorFlow model keeps them in. The same function is
traced for the export and run eagerly for validation's reference.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from modelexport_core.registry import normalize_model_type
from modelexport_pipeline.cache_names import PARTS, CacheName, is_past, is_present
from modelexport_pipeline.errors import ExportError

from ...config import OnnxConfig

#: Decoders whose TensorFlow cache is one tensor per layer, keys and values stacked on a leading
#: axis of 2 (``(2, batch, heads, length, head_dim)``); the others keep a ``(key, value)`` pair.
STACKED_CACHE_MODEL_TYPES = frozenset({"gpt2"})


def _decoder_call(model: Any, config: OnnxConfig) -> Callable[..., dict[str, Any]]:
    """Decoder-only models (and encoders): the config's inputs in, its outputs out."""
    input_names = list(config.inputs)
    output_names = list(config.outputs)
    stacked = normalize_model_type(str(getattr(model.config, "model_type", ""))) in STACKED_CACHE_MODEL_TYPES
    # openai-gpt, xlnet and some heads (gptj's question answering) take no ``use_cache`` and refuse it
    takes_use_cache = "use_cache" in inspect.signature(model.call).parameters

    def call(*args: Any) -> dict[str, Any]:
        named = dict(zip(input_names, args, strict=True))
        past = [named.pop(name) for name in input_names if is_past(name)]
        if config.uses_past:
            pairs = [(past[i], past[i + 1]) for i in range(0, len(past), 2)]
            named["past_key_values"] = [tf.stack(pair) for pair in pairs] if stacked else pairs
            named["use_cache"] = True
        elif config.GENERATIVE and takes_use_cache:
            named["use_cache"] = False
        outputs = model(**named, training=False, return_dict=True)
        result = {}
        for name in output_names:
            cache = CacheName.parse(name) if is_present(name) else None
            if cache is not None:
                # a stacked (2, ...) tensor or a (key, value) pair: indexing reads both alike
                result[name] = outputs["past_key_values"][cache.layer][cache.index]
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

    part = config.part
    input_names = list(config.inputs)
    output_names = list(config.outputs)
    hidden_size = int(config.normalized.get("hidden_size"))

    def cache_of(named: dict[str, Any]) -> list[tuple[Any, ...]]:
        caches = {CacheName.parse(name): named[name] for name in input_names if is_past(name)}
        layers = sorted({cache.layer for cache in caches if cache is not None})
        return [
            tuple(caches[CacheName(layer, which, kind)] for kind in ("decoder", "encoder") for which in PARTS)
            for layer in layers
        ]

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
            present = CacheName.parse(name) if is_present(name) else None
            if present is not None:
                index = (0 if present.attention == "decoder" else 2) + present.index
                result[name] = outputs["past_key_values"][present.layer][index]
            else:
                result[name] = outputs[name]
        return result

    return call


def model_call(model: Any, config: OnnxConfig) -> Callable[..., dict[str, Any]]:
    """The function traced for the export and run eagerly for validation."""
    if config.part is not None:
        return _seq2seq_call(model, config)
    return _decoder_call(model, config)


def eager_outputs(model: Any, config: OnnxConfig, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """TensorFlow's own outputs (eager) for ONNX-named numpy inputs, under the ONNX output names."""
    args = [tf.constant(inputs[name]) for name in config.inputs]
    outputs = model_call(model, config)(*args)
    return {name: np.asarray(outputs[name]) for name in config.outputs}
