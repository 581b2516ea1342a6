"""Export config of text-to-spectrogram models (SpeechT5's text-to-speech head): several files, one loop.

A text-to-speech model of this kind reads text once and then generates mel frames step by step, like a
language model its tokens, until a stop probability says it is done; a convolutional postnet then refines
the whole spectrogram, and a vocoder (a separate checkpoint: SpeechT5's HiFi-GAN) turns it into sound.
So the export is four files a consumer's loop drives:

* ``encoder_model``: ``input_ids``, ``attention_mask`` -> ``last_hidden_state``.
* ``decoder_model``: the first step. ``output_sequence`` (the frames so far: at the start one frame of
  zeros), ``speaker_embeddings``, the encoder's states and mask, ``prenet_dropout`` -> ``spectrum`` (the
  ``reduction_factor`` frames each position predicts, flattened: (batch, positions x reduction_factor,
  num_mel_bins)), ``stop_probabilities`` (one per predicted frame), and with a cache every
  ``present.*`` tensor, cross-attention ones included.
* ``decoder_with_past_model`` (``-with-past``): ``output_sequence`` again, whole (the frames before the cache's
  length are skipped; keeping the input whole is what transformers' own loop does and keeps the prenet's
  positions right), the caches as ``past_key_values.*`` -> the new positions' ``spectrum`` and
  ``stop_probabilities`` and the grown self-attention cache.
* ``postnet``: ``spectrum`` (every step's frames, concatenated) -> ``spectrogram``, what the vocoder reads.

The loop: append the last frame of each step's ``spectrum`` to ``output_sequence``; stop when the sum of a
step's stop probabilities reaches a threshold (transformers' ``generate`` uses 0.5) or at a length limit.

``prenet_dropout`` (a float scalar): SpeechT5 keeps its decoder prenet's dropout on while generating (the
Tacotron 2 recipe: generation needs the noise). transformers' prenet draws that noise itself; the export
takes its rate as an input instead, so a consumer asks for the model's own (``speech_decoder_prenet_dropout``
of ``config.json``: 0.5) and validation asks for 0, the one rate at which ONNX Runtime and PyTorch can be
compared number for number (their random generators differ). Here a unit is dropped with probability
``prenet_dropout`` and the kept ones scaled by ``1 / (1 - prenet_dropout)``, one mask per layer shared by the
batch; transformers keeps a unit with probability ``p`` instead (with the same scaling), which is the same
distribution at the 0.5 every SpeechT5 checkpoint uses and makes 0 drop everything there, not nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from modelexport_pipeline.cache_names import PAST_PREFIX, PRESENT_PREFIX, Attention, cache_names

from .config import AxisNames, InputSpec, OnnxConfig, by_layer

#: The files of a text-to-spectrogram export, by role.
Component = Literal["encoder", "decoder", "decoder_with_past", "postnet"]
COMPONENTS: tuple[Component, ...] = ("encoder", "decoder", "decoder_with_past", "postnet")

_ENC = "encoder_sequence_length"
_DEC = "decoder_sequence_length"
_PAST_DEC = "past_decoder_sequence_length"
_TOTAL_DEC = "past_decoder_sequence_length + decoder_sequence_length"
#: Each decoder position predicts ``reduction_factor`` frames.
_DEC_FRAMES = "decoder_sequence_length x reduction_factor"
_FRAMES = "num_frames"
#: The common names of SpeechT5's config attributes (its decoder's layers and heads hold the cache).
SPEECHT5_NAMES = {"num_layers": "decoder_layers", "num_heads": "decoder_attention_heads"}


class TextToSpectrogramOnnxConfig(OnnxConfig):
    """Text encoder, spectrogram decoder steps and postnet of a text-to-speech model, one file each.

    The sizes come from the model's config under transformers' names (``num_mel_bins``, ``reduction_factor``,
    ``speaker_embedding_dim``, ``hidden_size``); layers and heads of the decoder under ``names``.
    """

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ("text-to-audio", "text-to-audio-with-past")
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4

    def __init__(
        self, config: Any, task: str = "text-to-audio-with-past", *, component: Component | None = None, **kwargs: Any
    ) -> None:
        """``component``: the one file this config exports (``None``: the whole export, see :meth:`components`)."""
        if component is not None and component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, not {component!r}")
        kwargs.setdefault("names", SPEECHT5_NAMES)
        self.component: Component | None = component
        self.options = kwargs
        super().__init__(config, task, **kwargs)
        if component == "decoder_with_past" and not self.uses_past:
            raise ValueError("decoder_with_past exists only for text-to-audio-with-past.")

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        return [
            "files: encoder_model, decoder_model (+ decoder_with_past_model), postnet; the loop is the consumer's",
            "prenet_dropout input: the model's speech_decoder_prenet_dropout (0.5) to generate as transformers "
            "does, 0 for a deterministic run; validated at 0",
            "the waveform needs the vocoder, a separate checkpoint: export it on its own (model type speecht5_hifigan)",
        ]

    def components(self) -> dict[str, Self]:
        if self.component is not None:
            return {self._stem(self.component): self}
        parts = COMPONENTS if self.uses_past else tuple(c for c in COMPONENTS if c != "decoder_with_past")
        return {self._stem(part): type(self)(self._config, self.task, component=part, **self.options) for part in parts}

    @staticmethod
    def _stem(component: Component) -> str:
        return "postnet" if component == "postnet" else f"{component}_model"

    # --- sizes ---------------------------------------------------------------------------------------

    def _size(self, name: str) -> int:
        value = self.normalized.get(name)
        if value is None:
            raise ValueError(f"The model config has no {name!r}: it is not a text-to-spectrogram model.")
        return int(value)

    @property
    def num_mel_bins(self) -> int:
        return self._size("num_mel_bins")

    @property
    def reduction_factor(self) -> int:
        """How many frames each decoder position predicts."""
        return self._size("reduction_factor")

    @property
    def speaker_embedding_dim(self) -> int:
        return self._size("speaker_embedding_dim")

    # --- inputs and outputs --------------------------------------------------------------------------

    def _cache(self, prefix: str, attention: Attention, length: str) -> list[InputSpec]:
        n = self.normalized
        axes = ("batch_size", n.num_heads, length, n.head_dim)
        return [InputSpec(name.named(prefix), "float", axes) for name in cache_names(n.num_layers, attention)]

    def _layered_cache(self, prefix: str, decoder_length: str, encoder_length: str) -> list[InputSpec]:
        """Self- and cross-attention caches layer by layer, as the encoder-decoders (optimum's order)."""
        return by_layer(self._cache(prefix, "decoder", decoder_length) + self._cache(prefix, "encoder", encoder_length))

    def input_specs(self) -> list[InputSpec]:
        if self.component in (None, "encoder"):
            return [
                InputSpec("input_ids", "token_ids", ("batch_size", _ENC)),
                InputSpec("attention_mask", "attention_mask", ("batch_size", _ENC)),
            ]
        if self.component == "postnet":
            return [InputSpec("spectrum", "float", ("batch_size", _FRAMES, self.num_mel_bins))]
        frames = _DEC if self.component == "decoder" else _TOTAL_DEC
        specs = [
            InputSpec("output_sequence", "float", ("batch_size", frames, self.num_mel_bins)),
            InputSpec("speaker_embeddings", "float", ("batch_size", self.speaker_embedding_dim)),
            InputSpec("encoder_attention_mask", "attention_mask", ("batch_size", _ENC)),
            InputSpec("prenet_dropout", "zero", ()),
        ]
        if self.component == "decoder":
            hidden = self._size("hidden_size")
            return [*specs, InputSpec("encoder_hidden_states", "float", ("batch_size", _ENC, hidden))]
        return specs + self._layered_cache(PAST_PREFIX, _PAST_DEC, _ENC)

    @property
    def outputs(self) -> dict[str, AxisNames]:
        if self.component in (None, "encoder"):
            return {"last_hidden_state": {0: "batch_size", 1: _ENC}}
        if self.component == "postnet":
            return {"spectrogram": {0: "batch_size", 1: _FRAMES}}
        outputs: dict[str, AxisNames] = {
            "spectrum": {0: "batch_size", 1: _DEC_FRAMES},
            "stop_probabilities": {0: "batch_size", 1: _DEC_FRAMES},
        }
        if self.component == "decoder" and self.uses_past:
            for spec in self._layered_cache(PRESENT_PREFIX, _DEC, _ENC):
                outputs[spec.name] = {0: "batch_size", 2: str(spec.axes[2])}
        elif self.component == "decoder_with_past":
            for spec in self._cache(PRESENT_PREFIX, "decoder", _TOTAL_DEC):
                outputs[spec.name] = {0: "batch_size", 2: _TOTAL_DEC}
        return outputs


class VocoderOnnxConfig(OnnxConfig):
    """A vocoder (SpeechT5's HiFi-GAN, a separate checkpoint; FastSpeech2-Conformer's is the same network):
    ``spectrogram`` (batch, frames, ``model_in_dim`` mel bins) in, ``waveform`` (batch, samples) out; its
    convolutions take any number of frames.

    Its task is ``default``: transformers files it under no auto class, the vocoder is its own base model.
    """

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ("default",)
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        return ["spectrogram: (batch_size, num_frames, model_in_dim), a text-to-spectrogram postnet's output"]

    def input_specs(self) -> list[InputSpec]:
        bins = self.normalized.get("model_in_dim")
        if bins is None:
            raise ValueError("The model config has no 'model_in_dim': it is not a vocoder.")
        return [InputSpec("spectrogram", "float", ("batch_size", _FRAMES, int(bins)))]

    @property
    def outputs(self) -> dict[str, AxisNames]:
        return {"waveform": {0: "batch_size", 1: "num_samples"}}
