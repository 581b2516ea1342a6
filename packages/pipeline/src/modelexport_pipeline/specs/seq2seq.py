"""Encoder-decoder specs: text, speech and image encoders with a text decoder, split into optimum's files."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from ..cache_names import PAST_PREFIX, PRESENT_PREFIX, Attention, CacheName, cache_names
from ..dummy_inputs import EXPORT_SHAPES, DummyShapes
from .base import HEAD_OUTPUTS, AxisNames, ExportSpec, InputSpec, NormalizedConfig, Part, dotted
from .vision import pixel_values_spec

#: How a speech encoder reads audio (see :class:`Seq2SeqSpec`); ``None`` for text.
Speech = Literal["whisper", "frames", "waveform"]
#: How an image encoder reads the image (see :class:`Seq2SeqSpec`): ``pixels`` (``pixel_values``, a ViT
#: or Swin encoder) or ``patches`` (Pix2Struct's ``flattened_patches`` and their mask).
Vision = Literal["pixels", "patches"]

#: Encoder-decoder tasks exported as one file (the model derives its decoder inputs itself).
SINGLE_FILE_TASKS = ("sequence-classification", "question-answering", "token-classification")
_ENC = "encoder_sequence_length"
_ENC_OUT = "encoder_output_length"
_DEC = "decoder_sequence_length"
_PAST_DEC = "past_decoder_sequence_length"
_TOTAL_DEC = "past_decoder_sequence_length + decoder_sequence_length"
#: The number of image patches a Pix2Struct encoder reads (its processor's ``max_patches``): dynamic.
_PATCHES = "max_patches"


def vision_of(vision: bool | Vision | None) -> Vision | None:
    """The ``vision`` option as :data:`Vision` (``True``, as the measured table spells it, is ``pixels``)."""
    if vision is True:
        return "pixels"
    if vision in (None, False):
        return None
    if vision not in ("pixels", "patches"):
        raise ValueError(f"vision must be False, True, 'pixels' or 'patches', not {vision!r}")
    return vision


def by_layer(specs: list[InputSpec]) -> list[InputSpec]:
    """Cache specs ordered by layer, self-attention before cross-attention, key before value (stable otherwise)."""

    def position(spec: InputSpec) -> tuple[int, int, int]:
        cached = CacheName.parse(spec.name)
        if cached is None:
            return (-1, 0, 0)
        return (cached.layer, 0 if cached.attention in (None, "decoder") else 1, cached.index)

    return sorted(specs, key=position)


class Seq2SeqSpec(ExportSpec):
    """Encoder-decoder text and speech models, exported as ``encoder_model``, ``decoder_model`` and, with past,
    ``decoder_with_past_model`` (the files ONNX Runtime generation loops of optimum-style exports read).

    The decoder of a with-past export also returns ``present.{i}.decoder/encoder.key/value`` so the
    first step fills the cache; ``decoder_with_past_model`` takes them back as
    ``past_key_values.{i}.decoder/encoder.key/value`` and returns the grown decoder cache.
    """

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = (
        "default",
        "default-with-past",
        "seq2seq-lm",
        "seq2seq-lm-with-past",
        "speech2seq-lm",
        "speech2seq-lm-with-past",
        "vision2seq-lm",
        "vision2seq-lm-with-past",
        *SINGLE_FILE_TASKS,
    )
    GENERATIVE: ClassVar[bool] = True
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4
    PARTS: ClassVar[tuple[Part, ...]] = ("encoder", "decoder", "decoder_with_past")

    def __init__(
        self,
        config: Any,
        task: str = "seq2seq-lm",
        *,
        part: Part | None = None,
        speech: Speech | None = None,
        vision: bool | Vision | None = False,
        **kwargs: Any,
    ) -> None:
        """``speech``: how the encoder reads audio features, ``None`` for text.

        * ``"whisper"``: ``input_features`` (batch, mel bins, frames), frames fixed to
          ``2 * max_source_positions``; no attention mask anywhere.
        * ``"frames"`` (speech_to_text): ``input_features`` (batch, frames, features per frame) and a
          frame ``attention_mask``, both dynamic; convolutions shorten the frames, so the encoder's
          output has its own length (``encoder_output_length``), and the decoders take the frame
          mask as ``encoder_attention_mask`` (the model shortens it itself).

        * ``"waveform"`` (Moonshine): ``input_values`` (batch, samples) of any length; the encoder's output
          has its own length (``encoder_sequence_length`` for the decoders); no attention mask (every sample
          counts: batch clips of one length).

        ``vision``: the encoder reads an image.

        * ``True`` or ``"pixels"`` (``VisionEncoderDecoderModel``: a ViT or Swin encoder, a text decoder):
          ``pixel_values`` of the encoder config's fixed ``image_size``; no attention mask anywhere.
        * ``"patches"`` (Pix2Struct): ``flattened_patches`` (batch, max_patches, 2 + patch pixels), each row a
          patch's row and column index (from 1; 0 on padding) then its pixels, and the patches'
          ``attention_mask``; ``max_patches`` is dynamic, the patch width (``patch_embed_hidden_size``) fixed.
          The decoders take the mask as ``encoder_attention_mask``; sizes come from ``sizes_from="text_config"``.
        """
        if part is not None and part not in self.PARTS:
            raise ValueError(f"part must be one of {self.PARTS}, not {part!r}")
        if speech not in (None, "whisper", "frames", "waveform"):
            raise ValueError(f"speech must be None, 'whisper', 'frames' or 'waveform', not {speech!r}")
        self.part = part
        self.speech: Speech | None = speech
        self.vision: Vision | None = vision_of(vision)
        self.options = kwargs
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(
        cls, *, speech: Speech | None = None, vision: bool | Vision | None = False, **options: Any
    ) -> list[str]:
        if vision_of(vision) == "patches":
            return [
                "flattened_patches: (batch_size, max_patches, 2 + patch_embed_hidden_size): each patch's row and "
                "column index (from 1, 0 on padding) then its pixels; max_patches dynamic, the patch size fixed",
                "attention_mask: (batch_size, max_patches), 1 on patches, 0 on padding; the decoders take it as "
                "encoder_attention_mask",
            ]
        if vision:
            return ["pixel_values: (batch_size, num_channels, height, width), fixed to the encoder's image_size"]
        if speech == "whisper":
            return ["input_features: (batch_size, num_mel_bins, 2 * max_source_positions frames), frames fixed"]
        if speech == "frames":
            return ["input_features: (batch_size, encoder_sequence_length frames, input_feat_per_channel)"]
        if speech == "waveform":
            return ["input_values: (batch_size, num_samples), 16 kHz mono, any length; no attention mask"]
        return []

    def components(self) -> dict[str, Self]:
        if self.task in SINGLE_FILE_TASKS:  # a classifier reads the whole model at once: one file
            return {"model": self}
        parts = self.PARTS if self.uses_past else self.PARTS[:2]
        return {
            f"{part}_model": type(self)(
                self._config, self.task, part=part, speech=self.speech, vision=self.vision, **self.options
            )
            for part in parts
        }

    def encoder_hidden_size(self) -> int:
        """The width of the encoder's states: the encoder part's own where the model is made of two
        (an image encoder and a text decoder may differ), or its vision config's, else the model's."""
        own = dotted(self._config, "vision_config.hidden_size" if self.vision == "patches" else "encoder.hidden_size")
        return int(own if own is not None else self.normalized.get("hidden_size"))

    def mel_frames(self) -> tuple[int, int]:
        """Whisper's input size: ``num_mel_bins`` by ``2 * max_source_positions`` frames (fixed)."""
        return int(self.normalized.get("num_mel_bins")), 2 * int(self.normalized.get("max_source_positions"))

    def encoder_output_length(self, frames: int) -> int:
        """How many encoder states ``frames`` feature frames give (stride-2 convolutions)."""
        for _ in range(int(getattr(self._config, "num_conv_layers", 0) or 0)):
            frames = (frames - 1) // 2 + 1
        return frames

    def patch_features(self) -> int:
        """The width of one of Pix2Struct's flattened patches: its row and column index, then its pixels."""
        width = dotted(self._config, "vision_config.patch_embed_hidden_size")
        if width is None:
            raise ValueError("vision='patches' needs a vision_config with patch_embed_hidden_size (Pix2Struct's).")
        return 2 + int(width)

    def _encoder_states(self) -> str:
        """The dimension name of the encoder's output length."""
        if self.vision == "patches":
            return _PATCHES
        return _ENC_OUT if self.speech == "frames" else _ENC

    def _encoder_mask_length(self) -> str:
        """The dimension name of the encoder's attention mask (frames, tokens or patches), as the decoders take it."""
        return _PATCHES if self.vision == "patches" else _ENC

    def generate_dummy_inputs(self, shapes: DummyShapes = EXPORT_SHAPES, seed: int = 0, **sizes: int) -> dict[str, Any]:
        shapes = shapes.with_sizes(**sizes)
        if self.speech == "frames":  # the encoder states' length follows from the frames
            shapes = shapes.with_sizes(encoder_output_length=self.encoder_output_length(shapes.encoder_sequence_length))
        return super().generate_dummy_inputs(shapes, seed)

    def _cache(self, prefix: str, attention: Attention, length: str) -> list[InputSpec]:
        n = self.normalized
        axes = ("batch_size", n.num_kv_heads, length, n.head_dim)
        return [InputSpec(name.named(prefix), "float", axes) for name in cache_names(n.num_layers, attention)]

    def _layered_cache(self, prefix: str, decoder_length: str, encoder_length: str) -> list[InputSpec]:
        """Self- and cross-attention caches, layer by layer (``{i}.decoder.key``, ``{i}.decoder.value``,
        ``{i}.encoder.key``, ``{i}.encoder.value``): optimum's order, which its ``ORTModelForSeq2SeqLM`` and
        ``ORTModelForSpeechSeq2Seq`` read the outputs by (all decoder layers first fails there in a MatMul)."""
        return by_layer(self._cache(prefix, "decoder", decoder_length) + self._cache(prefix, "encoder", encoder_length))

    def input_specs(self) -> list[InputSpec]:
        states = self._encoder_states()
        if self.part in (None, "encoder"):
            if self.vision == "patches":
                return [
                    InputSpec(
                        "flattened_patches", "flattened_patches", ("batch_size", _PATCHES, self.patch_features())
                    ),
                    InputSpec("attention_mask", "attention_mask", ("batch_size", _PATCHES)),
                ]
            if self.vision == "pixels":
                return [pixel_values_spec(NormalizedConfig(self._config, part="encoder"), dynamic_size=False)]
            if self.speech == "whisper":
                return [InputSpec("input_features", "float", ("batch_size", *self.mel_frames()))]
            if self.speech == "waveform":
                return [InputSpec("input_values", "float", ("batch_size", "num_samples"))]
            if self.speech == "frames":
                features = int(self.normalized.get("input_feat_per_channel"))
                return [
                    InputSpec("input_features", "float", ("batch_size", _ENC, features)),
                    InputSpec("attention_mask", "attention_mask", ("batch_size", _ENC)),
                ]
            # A sequence classifier reads the decoder's state at the end-of-sequence token of each row, and
            # checks that every row has as many: the dummy rows end with one, as tokenized text does.
            ids = "token_ids_ending_eos" if self.task == "sequence-classification" else "token_ids"
            return [
                InputSpec("input_ids", ids, ("batch_size", _ENC)),
                InputSpec("attention_mask", "attention_mask", ("batch_size", _ENC)),
            ]
        specs = [InputSpec("input_ids", "token_ids", ("batch_size", _DEC))]
        if self.speech not in ("whisper", "waveform") and self.vision != "pixels":
            specs.append(
                InputSpec("encoder_attention_mask", "attention_mask", ("batch_size", self._encoder_mask_length()))
            )
        if self.part == "decoder":
            hidden = self.encoder_hidden_size()
            return [*specs, InputSpec("encoder_hidden_states", "float", ("batch_size", states, hidden))]
        return specs + self._layered_cache(PAST_PREFIX, _PAST_DEC, states)

    @property
    def outputs(self) -> dict[str, AxisNames]:
        states = self._encoder_states()
        if self.task in SINGLE_FILE_TASKS:
            return {
                name: {axis: _ENC if dim == "sequence_length" else dim for axis, dim in axes.items()}
                for name, axes in HEAD_OUTPUTS[self.task].items()
            }
        if self.part in (None, "encoder"):
            if (
                self.speech == "whisper" or self.vision == "pixels"
            ):  # a fixed input gives a fixed number of encoder states
                return {"last_hidden_state": {0: "batch_size"}}
            return {"last_hidden_state": {0: "batch_size", 1: states}}
        main = "last_hidden_state" if self.task.startswith("default") else "logits"  # base model: decoder states
        outputs: dict[str, AxisNames] = {main: {0: "batch_size", 1: _DEC}}
        if self.part == "decoder" and self.uses_past:
            for spec in self._layered_cache(PRESENT_PREFIX, _DEC, states):
                outputs[spec.name] = {0: "batch_size", 2: str(spec.axes[2])}
        elif self.part == "decoder_with_past":
            for spec in self._cache(PRESENT_PREFIX, "decoder", _TOTAL_DEC):
                outputs[spec.name] = {0: "batch_size", 2: _TOTAL_DEC}
        return outputs
