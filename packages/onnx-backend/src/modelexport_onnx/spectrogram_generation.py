"""Text-to-spectrogram generation with the exported files in onnxruntime, and the check against the framework.

Validation compares each file with the framework on dummy inputs; that does not show that the files, chained
the way a consumer chains them, make the spectrogram the model's own loop makes (transformers'
``SpeechT5ForTextToSpeech.generate``). This check runs both loops for a fixed number of steps, with the prenet's
dropout off (the only way two random generators agree), and compares the spectrograms with a bound derived
from the model as validation derives it (:class:`~.validation.Tolerance`): the framework's own loop run again
in float64 measures how far float32 drifts over the steps.

The loop, as a consumer writes it: the encoder once; a first decoder step on one frame of zeros; then each
step appends the last frame the previous one predicted to ``output_sequence`` and runs
``decoder_with_past_model`` with the previous ``present.*`` as ``past_key_values.*`` (without a cache,
``decoder_model`` again on the whole sequence); the postnet on every step's frames.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from modelexport_pipeline.cache_names import is_present, past_for_present
from modelexport_pipeline.checks import OutputCheck, Reference, Tolerance, compare_outputs
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES

from .spectrogram_config import TextToSpectrogramOnnxConfig
from .validation import run_onnx

#: Decoder steps of the check (each predicts ``reduction_factor`` frames).
SPECTROGRAM_CHECK_STEPS = 10

#: The framework's loop: (inputs by ONNX name: ``input_ids``, ``attention_mask``, ``speaker_embeddings``;
#: steps) -> the spectrogram in float32 and, where it could, float64.
SpectrogramReference = Callable[[Mapping[str, Any], int], Reference]


@dataclass(frozen=True)
class SpectrogramCheck:
    """The spectrograms of the exported files' loop and of the framework's, compared."""

    report_key: ClassVar[str] = "spectrogram_check"

    steps: int
    batch: int
    comparison: OutputCheck

    @property
    def passed(self) -> bool:
        return self.comparison.passed

    def describe(self) -> str:
        c = self.comparison
        verdict = "matches" if self.passed else "DIFFERS"
        return (
            f"generated spectrogram of {self.steps} steps x {self.batch} texts {verdict}: "
            f"{c.error if c.error is not None else float('nan'):.2e} vs bound {c.bound or 0.0:.2e}"
        )

    def failure(self) -> str:
        return (
            f"Every file validated, but chained they do not make the model's spectrogram: {self.describe()} "
            f"({self.comparison.problem})."
        )

    def to_dict(self) -> dict[str, Any]:
        return {"steps": self.steps, "batch": self.batch, "passed": self.passed, **asdict(self.comparison)}


def check_inputs(config: TextToSpectrogramOnnxConfig, seed: int = 3) -> dict[str, Any]:
    """Two texts of 9 tokens (the second padded: its mask ends in zeros) and a speaker embedding each."""
    import numpy as np

    shapes = EXPORT_SHAPES.with_sizes(batch_size=2, encoder_sequence_length=9)
    encoder = next(iter(config.components().values()))
    inputs = encoder.generate_dummy_inputs(shapes, seed=seed)
    rng = np.random.default_rng(seed)
    inputs["speaker_embeddings"] = rng.standard_normal((2, config.speaker_embedding_dim)).astype(np.float32)
    return inputs


def generate_spectrogram(
    sessions: Mapping[str, Any], config: TextToSpectrogramOnnxConfig, inputs: Mapping[str, Any], steps: int
) -> Any:
    """The spectrogram the exported files make in ``steps`` decoder steps (the prenet's dropout off)."""
    import numpy as np

    encoded = run_onnx(sessions["encoder_model"], inputs)["last_hidden_state"]
    batch, frames = encoded.shape[0], config.reduction_factor
    common = {
        "speaker_embeddings": inputs["speaker_embeddings"],
        "encoder_attention_mask": inputs["attention_mask"],
        "prenet_dropout": np.zeros((), dtype=np.float32),
    }
    sequence = np.zeros((batch, 1, config.num_mel_bins), dtype=np.float32)
    cached = "decoder_with_past_model" in sessions
    past: dict[str, Any] = {}
    spectra = []
    for step in range(steps):
        if cached and step > 0:
            outputs = run_onnx(sessions["decoder_with_past_model"], {"output_sequence": sequence, **common, **past})
            past.update({past_for_present(n): v for n, v in outputs.items() if is_present(n)})  # self-attention
        else:
            feed = {"output_sequence": sequence, "encoder_hidden_states": encoded, **common}
            outputs = run_onnx(sessions["decoder_model"], feed)
            past = {past_for_present(n): v for n, v in outputs.items() if is_present(n)}
        spectrum = outputs["spectrum"][:, -frames:]  # the frames of the newest position
        spectra.append(spectrum)
        sequence = np.concatenate([sequence, spectrum[:, -1:]], axis=1)
    return run_onnx(sessions["postnet"], {"spectrum": np.concatenate(spectra, axis=1)})["spectrogram"]


def check_spectrogram_generation(
    sessions: Mapping[str, Any],
    config: TextToSpectrogramOnnxConfig,
    reference: SpectrogramReference,
    steps: int = SPECTROGRAM_CHECK_STEPS,
    tolerance: Tolerance | None = None,
) -> SpectrogramCheck:
    """Generate with the exported files and with the framework; compare the spectrograms."""
    inputs = check_inputs(config)
    onnx = generate_spectrogram(sessions, config, inputs, steps)
    report = compare_outputs({"spectrogram": onnx}, reference(inputs, steps), tolerance or Tolerance(), {})
    return SpectrogramCheck(steps, int(onnx.shape[0]), report.outputs[0])
