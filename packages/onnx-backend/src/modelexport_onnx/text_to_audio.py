"""MusicGen's export: a text encoder, an audio-code decoder with a cache, and EnCodec's code-to-waveform decoder.

``MusicgenForConditionalGeneration`` is three models. A T5 encoder reads the text prompt; a decoder predicts
``num_codebooks`` streams of audio codes at once (its ``input_ids`` and ``logits`` hold one row per stream:
``batch_size * num_codebooks`` rows, the streams of one prompt together), cross-attending to the text; EnCodec
turns the codes into a waveform. Files:

* ``text_encoder``: ``input_ids``, ``attention_mask`` -> ``last_hidden_state`` (the T5 encoder's own states);
* ``decoder_model``: the codes so far, the text states and their mask -> ``logits`` (and, with a cache, the
  first ``present.*``); the text states are projected to the decoder's width inside (``enc_to_dec_proj``);
* ``decoder_with_past_model`` (``-with-past``): the next codes, the text mask and the cache -> ``logits`` and
  the grown self-attention cache;
* ``encodec_decode``: ``audio_codes`` (1, batch, num_codebooks, length) -> ``audio_values`` (batch, channels,
  samples); a stereo model's codebooks alternate left and right, and both channels are decoded.

The delay pattern (codebook ``k`` lags ``k`` steps behind the first) is index arithmetic a caller does on the
codes: :data:`DELAY_PATTERN_NOTE` says how.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, DummyShapes, generate_array
from modelexport_pipeline.specs import dotted

from .config import AxisNames, InputSpec, NormalizedConfig, Seq2SeqOnnxConfig

#: The files of a MusicGen export, in the order they run.
MusicgenPart = Literal["encoder", "decoder", "decoder_with_past", "encodec_decode"]
_FILES: dict[MusicgenPart, str] = {
    "encoder": "text_encoder",
    "decoder": "decoder_model",
    "decoder_with_past": "decoder_with_past_model",
    "encodec_decode": "encodec_decode",
}
#: Decoder rows: every prompt's codebooks, prompt by prompt.
CODE_ROWS = "batch_size_x_num_codebooks"
#: The length of the code streams EnCodec decodes.
CODE_LENGTH = "audio_sequence_length"

DELAY_PATTERN_NOTE = (
    "decoder input_ids: (batch_size * num_codebooks, length), row b * num_codebooks + k is codebook k of prompt b. "
    "Delay pattern over L columns: column 0 is decoder_start_token_id (the pad id, vocab_size) on every row; codebook "
    "k lags d = k // audio_channels steps (stereo codebooks alternate left, right), so its column j is the pad id "
    "where j <= d or j >= L - channel_codebooks + 1 + d, else the argmax (or a sample) of its logits at step j - 1; "
    "encodec_decode takes each row's other codes: (1, batch_size, num_codebooks, L - channel_codebooks)"
)


class MusicgenOnnxConfig(Seq2SeqOnnxConfig):
    """MusicGen (text-conditional): ``text_encoder``, ``decoder_model`` (+ ``decoder_with_past_model``) and
    ``encodec_decode``, the files an ONNX Runtime generation loop of optimum-style MusicGen exports reads.

    The decoder's parts reuse the encoder-decoder family: its inputs, its cache names and shapes (one cache row
    per prompt, not per codebook: the decoder folds the codebooks into the width), and its PyTorch wrapper.
    """

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ("text-to-audio", "text-to-audio-with-past")
    PARTS: ClassVar[tuple[Any, ...]] = ("encoder", "decoder", "decoder_with_past", "encodec_decode")

    def __init__(self, config: Any, task: str = "text-to-audio", *, part: MusicgenPart | None = None, **kwargs: Any):
        self.musicgen_part: MusicgenPart | None = part
        kwargs.setdefault("sizes_from", "decoder")
        seq2seq_part = None if part == "encodec_decode" else part
        super().__init__(config, task, part=seq2seq_part, **kwargs)

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        return [
            DELAY_PATTERN_NOTE,
            "text-to-audio-with-past adds the decoder's cache (decoder_with_past_model), what generation needs; "
            "text-to-audio's decoder_model reads all the codes at every step",
        ]

    def components(self) -> dict[str, Self]:
        parts: tuple[MusicgenPart, ...] = ("encoder", "decoder", "decoder_with_past", "encodec_decode")
        if not self.uses_past:
            parts = ("encoder", "decoder", "encodec_decode")
        return {_FILES[part]: type(self)(self._config, self.task, part=part, **self.options) for part in parts}

    # --- sizes ------------------------------------------------------------------------------------

    @property
    def num_codebooks(self) -> int:
        return int(self.normalized.get("num_codebooks"))

    def encoder_hidden_size(self) -> int:
        """The text encoder's width: the decoder projects it to its own (``enc_to_dec_proj``) when they differ."""
        return int(NormalizedConfig(self._config, part="text_encoder").get("hidden_size"))

    def codebook_size(self) -> int:
        return int(dotted(self._config, "audio_encoder.codebook_size"))

    # --- inputs and outputs -----------------------------------------------------------------------

    def input_specs(self) -> list[InputSpec]:
        if self.musicgen_part == "encodec_decode":
            return [InputSpec("audio_codes", "audio_codes", (1, "batch_size", self.num_codebooks, CODE_LENGTH))]
        specs = super().input_specs()
        if self.musicgen_part in (None, "encoder"):
            return [
                InputSpec(spec.name, "text_token_ids", spec.axes) if spec.kind == "token_ids" else spec
                for spec in specs
            ]
        return [
            InputSpec("input_ids", "token_ids", (CODE_ROWS, spec.axes[1])) if spec.name == "input_ids" else spec
            for spec in specs
        ]

    @property
    def outputs(self) -> dict[str, AxisNames]:
        if self.musicgen_part == "encodec_decode":
            return {"audio_values": {0: "batch_size", 2: "audio_length"}}
        outputs = super().outputs
        if "logits" in outputs:
            outputs["logits"] = {**outputs["logits"], 0: CODE_ROWS}
        return outputs

    def dimension_size(self, shapes: DummyShapes, axis: str | int) -> int:
        if axis == CODE_ROWS:
            return shapes.batch_size * self.num_codebooks
        if axis == CODE_LENGTH:  # codes to decode: as long as a text
            return shapes.sequence_length
        return shapes.size_of(axis)

    def generate_dummy_inputs(self, shapes: DummyShapes = EXPORT_SHAPES, seed: int = 0, **sizes: int) -> dict[str, Any]:
        """Decoder ids below the codebooks' vocabulary, text ids below the text encoder's, codes below EnCodec's
        codebook size; ``batch_size * num_codebooks`` decoder rows."""
        import numpy as np

        shapes = shapes.with_sizes(**sizes)
        rng = np.random.default_rng(seed)
        text = NormalizedConfig(self._config, part="text_encoder").sources[0]

        inputs = {}
        for spec in self.input_specs():
            shape = tuple(self.dimension_size(shapes, axis) for axis in spec.axes)
            dtype = self.dtype_of(spec.kind)
            if spec.kind == "audio_codes":
                inputs[spec.name] = rng.integers(0, self.codebook_size(), size=shape).astype(dtype)
            elif spec.kind == "text_token_ids":
                inputs[spec.name] = generate_array("token_ids", shape, text, dtype, rng)
            else:
                inputs[spec.name] = generate_array(spec.kind, shape, self._tokens_config, dtype, rng)
        return inputs
