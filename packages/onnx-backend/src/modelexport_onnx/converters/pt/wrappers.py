"""The modules ``torch.onnx`` traces: the model behind the export config's names and order.

The graph takes the config's inputs positionally and returns exactly the config's outputs, in
order. Caches come in as ``past_key_values.*`` tensors and are handed to the model as a
transformers cache object; the returned cache goes out as ``present.*``. The same wrappers,
run eagerly, give the reference outputs validation compares against.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from modelexport_pipeline.cache_names import CacheName, is_past
from modelexport_pipeline.errors import ExportError
from transformers.modeling_outputs import BaseModelOutput

from ...config import OnnxConfig, Seq2SeqOnnxConfig
from ...kinds import export_module_name
from . import fused_attention


def _cache_argument(model: torch.nn.Module) -> str:
    """transformers 5 calls the cache argument ``cache``; 4.x calls it ``past_key_values``."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _returned_cache(outputs: Any) -> Any:
    """The cache a model returned: ``cache`` in transformers 5, ``past_key_values`` in 4.x.

    Only the name the output really has is read: in transformers 5 reading ``past_key_values`` logs a
    deprecation the user can do nothing about (it showed on every export, validation included).
    """
    return outputs["cache"] if "cache" in outputs else outputs.get("past_key_values")


def _layer_tensors(cache: Any, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values of one layer of a transformers cache object (or legacy tuple)."""
    if isinstance(cache, (tuple, list)):
        return cache[layer][0], cache[layer][1]
    if hasattr(cache, "layers"):
        return cache.layers[layer].keys, cache.layers[layer].values
    return cache.key_cache[layer], cache.value_cache[layer]


class _ExportWrapper(torch.nn.Module):
    """Positional inputs in the config's order in, the config's outputs as a flat tuple out.

    Past key/values come in as ``past_key_values.{i}.key/value`` tensors and are handed to the
    model as a transformers cache; the returned cache goes out as ``present.{i}.key/value``.
    """

    def __init__(self, model: torch.nn.Module, config: OnnxConfig) -> None:
        super().__init__()
        self.model = model
        self.input_names = list(config.inputs)
        self.output_names = list(config.outputs)
        self.sources = {name: config.output_source(name) for name in self.output_names}
        self.uses_past = config.uses_past
        self.is_generative = config.GENERATIVE
        self.cache_argument = _cache_argument(model)

    def _make_cache(self, past: list[torch.Tensor]) -> Any:
        from transformers import DynamicCache

        pairs = [(past[i], past[i + 1]) for i in range(0, len(past), 2)]
        return DynamicCache(ddp_cache_data=pairs)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.input_names, args, strict=True))
        past = [named.pop(name) for name in self.input_names if is_past(name)]
        fused = fused_attention.active()  # attention traced as onnxruntime's operator (see .fused_attention)
        if self.uses_past and fused is not None:
            named[self.cache_argument] = fused_attention.fused_cache(past, named["attention_mask"])
            named["use_cache"] = True
        elif self.uses_past:
            named[self.cache_argument] = self._make_cache(past)
            named["use_cache"] = True
        elif self.is_generative:  # no cache asked for: none computed, none returned
            named["use_cache"] = False
        outputs = self.model(**named, return_dict=True)
        cache = _returned_cache(outputs) if self.uses_past else None
        if self.uses_past and fused is not None:
            cache = [fused_attention.presents()[layer] for layer in range(len(past) // 2)]
        result = []
        for name in self.output_names:
            cached = CacheName.parse(name)
            source, index = self.sources[name]
            if cached is not None:
                result.append(_layer_tensors(cache, cached.layer)[cached.index])
            elif source in outputs:
                result.append(outputs[source] if index is None else outputs[source][index])
            else:
                raise ExportError(f"The model returned no {source!r} (it returned {', '.join(outputs)}).")
        return tuple(result)


def encoder_decoder_cache(input_names: list[str], named: dict[str, torch.Tensor]) -> Any:
    """The ``past_key_values.{i}.decoder/encoder.key/value`` inputs as the transformers cache of an encoder-decoder."""
    from transformers import DynamicCache, EncoderDecoderCache

    def pairs(kind: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
        names = [n for n in input_names if (c := CacheName.parse(n)) is not None and c.attention == kind]
        return [(named[names[i]], named[names[i + 1]]) for i in range(0, len(names), 2)]

    return EncoderDecoderCache(
        DynamicCache(ddp_cache_data=pairs("decoder")), DynamicCache(ddp_cache_data=pairs("encoder"))
    )


def encoder_decoder_cache_output(cache: Any, cached: CacheName) -> torch.Tensor:
    """One ``present.{i}.decoder/encoder.key/value`` output, read from an encoder-decoder's returned cache."""
    sub = cache.self_attention_cache if cached.attention == "decoder" else cache.cross_attention_cache
    return _layer_tensors(sub, cached.layer)[cached.index]


class _Seq2SeqPartWrapper(torch.nn.Module):
    """One file of an encoder-decoder: the encoder, the first decoder step, or a cached decoder step."""

    def __init__(self, model: torch.nn.Module, config: OnnxConfig) -> None:
        super().__init__()
        self.model = model
        self.part = config.part
        self.input_names = list(config.inputs)
        self.output_names = list(config.outputs)
        self.uses_past = config.uses_past
        self.hidden_size = config.encoder_hidden_size() if isinstance(config, Seq2SeqOnnxConfig) else 0
        self.cache_argument = _cache_argument(model)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.input_names, args, strict=True))
        if self.part == "encoder":
            return (self.model.get_encoder()(**named, return_dict=True).last_hidden_state,)
        kwargs: dict[str, Any] = {"decoder_input_ids": named["input_ids"], "return_dict": True}
        if "encoder_attention_mask" in named:
            kwargs["attention_mask"] = named["encoder_attention_mask"]
        if self.part == "decoder":
            kwargs["encoder_outputs"] = encoder_states(named["encoder_hidden_states"])
            kwargs["use_cache"] = self.uses_past
        else:
            # The cross-attention keys and values come from the cache; the hidden states are only
            # looked at for their shape, so zeros of the right shape stand in.
            encoder_key = next(named[n] for n in self.input_names if n.endswith(".encoder.key"))
            batch, length = encoder_key.shape[0], encoder_key.shape[2]
            kwargs["encoder_outputs"] = encoder_states(encoder_key.new_zeros((batch, length, self.hidden_size)))
            kwargs[self.cache_argument] = encoder_decoder_cache(self.input_names, named)
            kwargs["use_cache"] = True
        outputs = self.model(**kwargs)
        cache = _returned_cache(outputs) if self.uses_past else None
        result = []
        for name in self.output_names:
            cached = CacheName.parse(name)
            if cached is not None:
                assert cache is not None  # present.* outputs exist only with a cache
                result.append(encoder_decoder_cache_output(cache, cached))
            else:
                result.append(outputs[name])
        return tuple(result)


@dataclass
class EncoderStates(BaseModelOutput):
    """The encoder's output as a model takes it back: indexable like a tuple (``encoder_outputs[0]``) and with
    named fields (``.last_hidden_state``; ``.attention_mask`` None: every state counts), as Moonshine reads it."""

    attention_mask: torch.Tensor | None = None


def encoder_states(hidden: torch.Tensor) -> EncoderStates:
    return EncoderStates(last_hidden_state=hidden)


def wrapper_for(model: torch.nn.Module, config: OnnxConfig) -> torch.nn.Module:
    """The module to trace (and run) for ``config``: one file of an encoder-decoder, or the whole model."""
    own_module = export_module_name(config, "pt")  # a special kind's own module (kinds/)
    if own_module is not None:
        module: torch.nn.Module = importlib.import_module(f"{__package__}.{own_module}").export_module(model, config)
        return module
    if config.part is not None:
        return _Seq2SeqPartWrapper(model, config)
    return _ExportWrapper(model, config)


#: How mixture-of-experts layers run while traced and while giving reference outputs: every token
#: gathers its experts' weights (no loop over the experts the traced tokens happened to reach, no
#: ``histc``, which the TorchScript exporter lacks). transformers' default, ``grouped_mm``, is restored after.
TRACEABLE_EXPERTS = "batched_mm"


@contextlib.contextmanager
def preserved_training_flags(model: torch.nn.Module) -> Iterator[None]:
    """Restore every submodule's ``training`` flag on exit; meanwhile, experts run traceably."""
    flags = {name: module.training for name, module in model.named_modules()}
    config = getattr(model, "config", None)
    experts = getattr(config, "_experts_implementation", None)
    switch = experts not in (None, TRACEABLE_EXPERTS) and hasattr(model, "set_experts_implementation")
    if switch:
        model.set_experts_implementation(TRACEABLE_EXPERTS)
    try:
        yield
    finally:
        if switch:
            model.set_experts_implementation(experts)
        for name, module in model.named_modules():
            if name in flags:
                module.training = flags[name]


#: The export module of a model that has no special kind: the one whose cache the fused attention can stand in for.
PlainWrapper = _ExportWrapper
