"""Export configs of speech encoders and of image-text models (CLIP and its kin).

* :class:`AudioOnnxConfig`: an audio encoder with a head, reading a waveform (wav2vec2, HuBERT, WavLM...),
  a spectrogram of fixed size (the Audio Spectrogram Transformer) or Whisper's log-mel features. Its
  tasks: the encoder's states (``default``), CTC logits, one label per clip, one label per frame, and
  speaker embeddings (``audio-xvector``).
* :class:`ImageTextOnnxConfig`: a dual encoder that scores texts against images (CLIP, SigLIP...):
  ``input_ids`` of ``text_batch_size`` texts and ``pixel_values`` of ``batch_size`` images in, the
  similarity logits both ways and both embeddings out; or, for OWL-ViT, the boxes each text query finds.
* :class:`TimeSeriesOnnxConfig`: forecasters of multivariate series (PatchTST, PatchTSMixer): a fixed window
  of past values in, the forecast out.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, DummyShapes

from .config import AxisNames, InputSpec, OnnxConfig, pixel_values_spec

#: How an audio model reads sound:
#: ``waveform``: ``input_values`` (batch, samples), any length;
#: ``spectrogram``: ``input_values`` (batch, max_length frames, num_mel_bins), fixed (AST);
#: ``whisper``: ``input_features`` (batch, num_mel_bins, 2 * max_source_positions frames), fixed;
#: ``frames``: ``input_features`` (batch, frames, input_feat_per_channel) and a frame ``attention_mask`` (M-CTC-T).
AudioInput = Literal["waveform", "spectrogram", "whisper", "frames"]
_AUDIO_INPUTS = ("waveform", "spectrogram", "whisper", "frames")
_BATCH: AxisNames = {0: "batch_size"}
#: The encoder's output frames: as many as the convolutions leave of the samples.
_FRAMES: AxisNames = {0: "batch_size", 1: "num_frames"}


class AudioOnnxConfig(OnnxConfig):
    """Speech encoders and their heads (the wav2vec2 family, the Audio Spectrogram Transformer, Whisper's encoder)."""

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = (
        "default",
        "audio-ctc",
        "audio-classification",
        "audio-frame-classification",
        "audio-xvector",
    )
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        "default": {"last_hidden_state": _FRAMES},
        "audio-ctc": {"logits": _FRAMES},
        "audio-classification": {"logits": _BATCH},
        "audio-frame-classification": {"logits": _FRAMES},
        "audio-xvector": {"logits": _BATCH, "embeddings": _BATCH},
    }

    def __init__(
        self,
        config: Any,
        task: str = "audio-ctc",
        *,
        audio_input: AudioInput = "waveform",
        attention_mask: bool = False,
        **kwargs: Any,
    ) -> None:
        """``audio_input``: how the model reads sound (see :data:`AudioInput`). ``attention_mask``: whether a
        waveform model takes a sample mask (those whose feature encoder normalises per layer: wav2vec2-large)."""
        if audio_input not in _AUDIO_INPUTS:
            raise ValueError(f"audio_input must be one of {_AUDIO_INPUTS}, not {audio_input!r}")
        self.audio_input: AudioInput = audio_input
        self.attention_mask = attention_mask
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(cls, *, audio_input: AudioInput = "waveform", **options: Any) -> list[str]:
        return {
            "waveform": ["input_values: (batch_size, num_samples), 16 kHz mono, any length"],
            "spectrogram": ["input_values: (batch_size, max_length frames, num_mel_bins), fixed"],
            "whisper": ["input_features: (batch_size, num_mel_bins, 2 * max_source_positions frames), fixed"],
            "frames": ["input_features: (batch_size, num_frames, input_feat_per_channel)"],
        }[audio_input]

    @property
    def outputs(self) -> dict[str, AxisNames]:
        outputs = super().outputs
        if self.audio_input in ("spectrogram", "whisper"):  # a fixed input gives a fixed number of frames
            return {name: {0: "batch_size"} for name in outputs}
        return outputs

    def input_specs(self) -> list[InputSpec]:
        n = self.normalized
        if self.audio_input == "spectrogram":
            frames, bins = int(n.get("max_length")), int(n.get("num_mel_bins"))
            return [InputSpec("input_values", "float", ("batch_size", frames, bins))]
        if self.audio_input == "whisper":
            bins, frames = int(n.get("num_mel_bins")), 2 * int(n.get("max_source_positions"))
            return [InputSpec("input_features", "float", ("batch_size", bins, frames))]
        if self.audio_input == "frames":
            features = int(n.get("input_feat_per_channel"))
            return [
                InputSpec("input_features", "float", ("batch_size", "num_frames_in", features)),
                InputSpec("attention_mask", "attention_mask", ("batch_size", "num_frames_in")),
            ]
        specs = [InputSpec("input_values", "float", ("batch_size", "num_samples"))]
        if self.attention_mask:
            specs.append(InputSpec("attention_mask", "attention_mask", ("batch_size", "num_samples")))
        return specs


_TEXTS: AxisNames = {0: "text_batch_size"}
_IMAGES: AxisNames = {0: "batch_size"}


class ImageTextOnnxConfig(OnnxConfig):
    """Dual encoders of texts and images (CLIP, Chinese-CLIP, SigLIP, MetaCLIP 2): zero-shot image classification.

    The image size is fixed where the vision tower's position embeddings are (``dynamic_size`` False), and the
    text length is free up to the text tower's ``max_position_embeddings``.
    """

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = (
        "default",
        "zero-shot-image-classification",
        "zero-shot-object-detection",
    )
    #: Similarities are scaled by a learnt temperature (CLIP's: 100): their float32 noise is 100 times larger.
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-3
    _OUTPUTS: ClassVar[dict[str, AxisNames]] = {
        "logits_per_image": {0: "batch_size", 1: "text_batch_size"},
        "logits_per_text": {0: "text_batch_size", 1: "batch_size"},
        "text_embeds": _TEXTS,
        "image_embeds": _IMAGES,
    }
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        "default": _OUTPUTS,
        "zero-shot-image-classification": _OUTPUTS,
        # OWL-ViT: per image patch, a score for each of the image's text queries, and a box
        "zero-shot-object-detection": {
            "logits": _IMAGES,
            "pred_boxes": _IMAGES,
            "text_embeds": _IMAGES,
            "image_embeds": _IMAGES,
        },
    }
    #: Text queries per image in the dummy inputs of a detector (its texts are the images' queries, in order).
    QUERIES_PER_IMAGE: ClassVar[int] = 2

    def __init__(
        self,
        config: Any,
        task: str = "zero-shot-image-classification",
        *,
        dynamic_size: bool = False,
        attention_mask: bool = True,
        token_type_ids: bool = False,
        **kwargs: Any,
    ) -> None:
        """``attention_mask``: whether the text tower takes one (SigLIP pads to a fixed length and takes none);
        ``token_type_ids``: whether it takes token types (Chinese-CLIP's BERT text tower)."""
        self.dynamic_size = dynamic_size
        self.attention_mask = attention_mask
        self.token_type_ids = token_type_ids
        kwargs.setdefault("sizes_from", "text_config")
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(cls, *, dynamic_size: bool = False, **options: Any) -> list[str]:
        if not dynamic_size:
            return ["pixel_values: height and width fixed to the vision config's image_size"]
        return []

    def generate_dummy_inputs(self, shapes: DummyShapes = EXPORT_SHAPES, seed: int = 0, **sizes: int) -> dict[str, Any]:
        shapes = shapes.with_sizes(**sizes)
        if self.task == "zero-shot-object-detection":  # as many queries for every image
            shapes = shapes.with_sizes(text_batch_size=shapes.batch_size * self.QUERIES_PER_IMAGE)
        return super().generate_dummy_inputs(shapes, seed)

    def input_specs(self) -> list[InputSpec]:
        texts = ("text_batch_size", "sequence_length")
        specs = [InputSpec("input_ids", "token_ids", texts)]
        if self.attention_mask:
            specs.append(InputSpec("attention_mask", "attention_mask", texts))
        if self.token_type_ids:
            specs.append(InputSpec("token_type_ids", "token_type_ids", texts))
        vision = type(self.normalized)(self.config, self.names, part="vision_config")
        specs.append(pixel_values_spec(vision, self.dynamic_size))
        return specs


class TimeSeriesOnnxConfig(OnnxConfig):
    """Forecasters of multivariate time series (PatchTST, PatchTSMixer): ``past_values`` of (batch,
    ``context_length``, ``num_input_channels``) in, fixed by the model's patching; the forecast out."""

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ("default", "time-series-forecasting")
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        "default": {"last_hidden_state": _BATCH},
        "time-series-forecasting": {"prediction_outputs": _BATCH},
    }

    def __init__(self, config: Any, task: str = "time-series-forecasting", **kwargs: Any) -> None:
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        return ["past_values: (batch_size, context_length, num_input_channels), the window fixed"]

    def input_specs(self) -> list[InputSpec]:
        n = self.normalized
        window = (int(n.get("context_length")), int(n.get("num_input_channels")))
        return [InputSpec("past_values", "float", ("batch_size", *window))]
