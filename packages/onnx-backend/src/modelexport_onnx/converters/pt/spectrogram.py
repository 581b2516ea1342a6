"""The modules traced (and run as the reference) for each file of a text-to-spectrogram export.

Each is one step of transformers' own ``SpeechT5ForTextToSpeech.generate`` loop, made of the model's
modules: the text encoder; the speech decoder prenet on the whole ``output_sequence`` (which places each
frame at its position), the decoder layers on the positions beyond the cache, and the postnet's two linear
heads; the postnet's convolutions. The one departure is the prenet's dropout, whose rate is an input here
(see :mod:`modelexport_onnx.spectrogram_config`): transformers draws it inside the model, out of reach.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from modelexport_pipeline.cache_names import CacheName
from modelexport_pipeline.checks import Reference
from modelexport_pipeline.errors import ExportError

from ...spectrogram_config import TextToSpectrogramOnnxConfig
from .float64 import float64_unavailable, float64_weights
from .wrappers import (
    _cache_argument,
    _returned_cache,
    encoder_decoder_cache,
    encoder_decoder_cache_output,
    preserved_training_flags,
)


class _Parts:
    """Where a text-to-spectrogram model keeps its parts (SpeechT5's layout), with a clear error elsewhere."""

    def __init__(self, model: torch.nn.Module) -> None:
        try:
            self.encoder = model.speecht5.encoder
            self.prenet = model.speecht5.decoder.prenet
            self.decoder = model.speecht5.decoder.wrapped_decoder
            self.postnet = model.speech_decoder_postnet
        except AttributeError as error:
            raise ExportError(
                f"{type(model).__name__} is not laid out as a text-to-spectrogram model (SpeechT5ForTextToSpeech): "
                f"{error}"
            ) from error


class TextEncoder(torch.nn.Module):
    """``input_ids``, ``attention_mask`` -> the encoder's ``last_hidden_state``."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.encoder = _Parts(model).encoder

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor]:  # ``*args``: the converters' calling convention
        input_ids, attention_mask = args
        return (
            self.encoder(input_values=input_ids, attention_mask=attention_mask, return_dict=True).last_hidden_state,
        )


def prenet_states(
    prenet: torch.nn.Module, frames: torch.Tensor, speaker: torch.Tensor, dropout: torch.Tensor
) -> torch.Tensor:
    """SpeechT5's speech decoder prenet with its dropout at the rate ``dropout`` (a 0-d tensor).

    As in transformers, one mask per layer is drawn for the first row and shared by the batch; a unit is
    dropped with probability ``dropout`` and the kept ones scaled by ``1 / (1 - dropout)``; at 0 the mask
    keeps everything (``rand >= 0`` always holds) and nothing is scaled.
    """
    states = frames
    for layer in prenet.layers:
        states = torch.relu(layer(states))
        keep = (torch.rand_like(states[0]) >= dropout).to(states.dtype)
        states = states * keep / (1 - dropout)
    states = prenet.encode_positions(prenet.final_layer(states))
    speaker = torch.nn.functional.normalize(speaker).unsqueeze(1).expand(-1, states.size(1), -1)
    return torch.relu(prenet.speaker_embeds_layer(torch.cat([states, speaker], dim=-1)))


class SpectrogramDecoderStep(torch.nn.Module):
    """One decoder file: the first step (``decoder``) or a step with a cache (``decoder_with_past``)."""

    def __init__(self, model: torch.nn.Module, config: TextToSpectrogramOnnxConfig) -> None:
        super().__init__()
        parts = _Parts(model)
        self.prenet, self.decoder, self.postnet = parts.prenet, parts.decoder, parts.postnet
        self.with_past = config.component == "decoder_with_past"
        self.returns_cache = config.uses_past
        self.num_mel_bins = config.num_mel_bins
        self.hidden_size = int(config.normalized.get("hidden_size"))
        self.input_names = list(config.inputs)
        self.output_names = list(config.outputs)
        self.cache_argument = _cache_argument(self.decoder)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        from transformers import DynamicCache, EncoderDecoderCache

        named = dict(zip(self.input_names, args, strict=True))
        states = prenet_states(
            self.prenet, named["output_sequence"], named["speaker_embeddings"], named["prenet_dropout"]
        )
        if self.with_past:
            cache = encoder_decoder_cache(self.input_names, named)
            states = states[:, named["past_key_values.0.decoder.key"].shape[2] :]  # the positions beyond the cache
            # the cross-attention keys and values come from the cache: the encoder's states only lend their shape
            encoder_key = named["past_key_values.0.encoder.key"]
            encoder = encoder_key.new_zeros((encoder_key.shape[0], encoder_key.shape[2], self.hidden_size))
        else:
            cache = EncoderDecoderCache(DynamicCache(), DynamicCache()) if self.returns_cache else None
            encoder = named["encoder_hidden_states"]
        outputs = self.decoder(
            hidden_states=states,
            attention_mask=None,
            encoder_hidden_states=encoder,
            encoder_attention_mask=named["encoder_attention_mask"],
            use_cache=self.returns_cache,
            return_dict=True,
            **{self.cache_argument: cache},
        )
        hidden = outputs.last_hidden_state
        batch = hidden.shape[0]
        values = {
            "spectrum": self.postnet.feat_out(hidden).view(batch, -1, self.num_mel_bins),
            "stop_probabilities": torch.sigmoid(self.postnet.prob_out(hidden)).view(batch, -1),
        }
        returned = _returned_cache(outputs) if self.returns_cache else None
        result = []
        for name in self.output_names:
            cached = CacheName.parse(name)
            if cached is None:
                result.append(values[name])
            else:
                assert returned is not None  # present.* outputs exist only with a cache
                result.append(encoder_decoder_cache_output(returned, cached))
        return tuple(result)


class Postnet(torch.nn.Module):
    """``spectrum`` (every step's frames) -> the refined ``spectrogram`` the vocoder reads."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.postnet = _Parts(model).postnet

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor]:
        (spectrum,) = args
        return (self.postnet.postnet(spectrum),)


class Vocoder(torch.nn.Module):
    """``spectrogram`` -> ``waveform``: the vocoder's own forward (it returns a tensor, not named outputs)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.vocoder = model

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor]:
        (spectrogram,) = args
        return (self.vocoder(spectrogram),)


def spectrogram_module(model: torch.nn.Module, config: TextToSpectrogramOnnxConfig) -> torch.nn.Module:
    """The module of ``config``'s file."""
    if config.component in (None, "encoder"):
        return TextEncoder(model)
    if config.component == "postnet":
        return Postnet(model)
    return SpectrogramDecoderStep(model, config)


@contextlib.contextmanager
def prenet_dropout_off(model: torch.nn.Module) -> Iterator[None]:
    """transformers' decoder prenet without its always-on dropout (an instance attribute shadows the method)."""
    prenet = _Parts(model).prenet
    prenet._consistent_dropout = lambda embeds, p: embeds
    try:
        yield
    finally:
        del prenet._consistent_dropout


def _generate(model: torch.nn.Module, inputs: Mapping[str, Any], steps: int, float64: bool) -> Any:
    """transformers' own loop for exactly ``steps`` decoder steps: no frame may stop it earlier (the threshold
    is above any sum of ``reduction_factor`` probabilities) and its length limit is ``steps``."""
    dtype = torch.float64 if float64 else torch.float32
    input_ids = torch.from_numpy(inputs["input_ids"])
    frames = int(model.config.reduction_factor)
    in_float64 = float64_weights(model) if float64 else contextlib.nullcontext()
    with preserved_training_flags(model), prenet_dropout_off(model), in_float64, torch.inference_mode():
        model.eval()
        spectrogram = model.generate(
            input_ids,
            attention_mask=torch.from_numpy(inputs["attention_mask"]),
            speaker_embeddings=torch.from_numpy(inputs["speaker_embeddings"]).to(dtype),
            threshold=frames + 1.0,
            minlenratio=0.0,
            maxlenratio=(steps + 0.5) * frames / input_ids.shape[1],
        )
    if spectrogram.dim() == 2:  # one text: transformers drops the batch axis
        spectrogram = spectrogram.unsqueeze(0)
    return spectrogram.detach().cpu().numpy()


def reference_spectrogram(model: torch.nn.Module, inputs: Mapping[str, Any], steps: int) -> Reference:
    """The spectrogram of transformers' ``generate`` in float32 and, where the model can be held so, float64."""
    float32 = {"spectrogram": _generate(model, inputs, steps, float64=False)}
    no_float64 = float64_unavailable(model)
    if no_float64 is not None:
        return Reference(float32, None, no_float64)
    return Reference(float32, {"spectrogram": _generate(model, inputs, steps, float64=True)})


def export_module(model: Any, config: Any) -> Any:
    """What the PyTorch converter traces and runs for one file of a text-to-spectrogram export, or the vocoder."""
    if isinstance(config, TextToSpectrogramOnnxConfig):
        return spectrogram_module(model, config)
    return Vocoder(model)
