"""Export config of text-to-speech models that synthesise a waveform in one pass (VITS, MMS-TTS).

VITS samples noise twice: its stochastic duration predictor starts from noise scaled by
``noise_scale_duration``, and the prior latents get noise scaled by ``noise_scale``. An export that froze
those scales, or dropped the noise, would not be the model users run. So both scales, and the
``speaking_rate``, are scalar inputs of the graph: users get PyTorch's behaviour with the config's values
(``noise_scale`` 0.667, ``noise_scale_duration`` 0.8, ``speaking_rate`` 1 by default), and validation
feeds zero noise, where the model is deterministic and ONNX Runtime and PyTorch must agree (their random
generators differ, so no comparison is possible with noise).

The output length depends on the predicted durations (data dependent). A batch is padded to its longest
row: ``sequence_lengths`` says how many samples of each row of ``waveform`` are speech.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, DummyShapes, generate_array

from .config import AxisNames, InputSpec, OnnxConfig

_TEXT_AXES = ("batch_size", "sequence_length")
#: The synthesis controls that are graph inputs, in graph order: float32 scalars.
CONTROLS = ("noise_scale", "noise_scale_duration", "speaking_rate")
#: Validation's values of the noise scales: no noise, so ONNX Runtime and PyTorch compute the same thing.
VALIDATION_NOISE = 0.0


class TextToSpeechOnnxConfig(OnnxConfig):
    """VITS-style synthesis: token ids and their mask, the synthesis controls, and (for a model of several
    speakers) ``speaker_id`` in; the waveform, each row's length in samples and the latent spectrogram out."""

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ("text-to-audio",)
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        "text-to-audio": {
            "waveform": {0: "batch_size", 1: "num_samples"},
            "sequence_lengths": {0: "batch_size"},
            "spectrogram": {0: "batch_size", 2: "num_frames"},
        }
    }

    def __init__(self, config: Any, task: str = "text-to-audio", **kwargs: Any) -> None:
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        return [
            "noise_scale, noise_scale_duration, speaking_rate: float32 scalar inputs (the config's values give "
            "PyTorch's sampling; validation feeds zero noise, where the model is deterministic)",
            "waveform: (batch_size, num_samples), rows padded to the longest; sequence_lengths: each row's samples",
            "speaker_id: (1,) int64, one speaker for the whole batch, when the model has several",
        ]

    @property
    def num_speakers(self) -> int:
        return int(getattr(self.config, "num_speakers", 1) or 1)

    def input_specs(self) -> list[InputSpec]:
        specs = [
            InputSpec("input_ids", "token_ids", _TEXT_AXES),
            InputSpec("attention_mask", "attention_mask", _TEXT_AXES),
            *(InputSpec(name, "float", ()) for name in CONTROLS),
        ]
        if self.num_speakers > 1:
            specs.append(InputSpec("speaker_id", "speaker_id", (1,)))
        return specs

    def control_values(self) -> dict[str, float]:
        """The synthesis controls validation feeds: zero noise, the config's speaking rate."""
        rate = float(getattr(self.config, "speaking_rate", 1.0) or 1.0)
        return {"noise_scale": VALIDATION_NOISE, "noise_scale_duration": VALIDATION_NOISE, "speaking_rate": rate}

    def sampling_values(self) -> dict[str, float]:
        """The controls that reproduce PyTorch's default synthesis: the config's noise scales and rate."""
        defaults = {"noise_scale": 0.667, "noise_scale_duration": 0.8, "speaking_rate": 1.0}
        return {name: float(getattr(self.config, name, value)) for name, value in defaults.items()}

    def generate_dummy_inputs(self, shapes: DummyShapes = EXPORT_SHAPES, seed: int = 0, **sizes: int) -> dict[str, Any]:
        """Random tokens (the last row padded), zero noise, the config's speaking rate, the last speaker."""
        import numpy as np

        shapes = shapes.with_sizes(**sizes)
        rng = np.random.default_rng(seed)
        inputs: dict[str, Any] = {}
        for spec in self.input_specs():
            shape = tuple(shapes.size_of(axis) for axis in spec.axes)
            if spec.name in CONTROLS:
                inputs[spec.name] = np.asarray(self.control_values()[spec.name], dtype=self.dtype_of("float"))
            elif spec.kind == "speaker_id":
                inputs[spec.name] = np.full(shape, self.num_speakers - 1, dtype=self.dtype_of("int"))
            else:
                inputs[spec.name] = generate_array(spec.kind, shape, self._tokens_config, self.dtype_of(spec.kind), rng)
        return inputs


#: The sampled waveform's loudness (root mean square over each row's samples) against PyTorch's: within this
#: factor either way. The samples themselves cannot match (the random generators differ), their scale must.
RMS_FACTOR = 2.0


@dataclass(frozen=True)
class SamplingCheck:
    """The export with the prior's noise on (the config's ``noise_scale``; the durations' noise off, so lengths
    are deterministic) against PyTorch's sampling: same lengths, the sound's scale alike, and two onnxruntime
    runs that differ (the noise is drawn in the graph, not frozen into it)."""

    report_key: ClassVar[str] = "sampling_check"

    noise_scale: float
    lengths_equal: bool
    rms_ratio: float
    runs_differ: bool

    @property
    def passed(self) -> bool:
        return self.lengths_equal and self.runs_differ and 1 / RMS_FACTOR <= self.rms_ratio <= RMS_FACTOR

    def describe(self) -> str:
        verdict = "" if self.passed else " DIFFERS"
        return (
            f"sampling at noise_scale {self.noise_scale:g}: lengths {'equal' if self.lengths_equal else 'DIFFER'}, "
            f"loudness {self.rms_ratio:.3f} x PyTorch's, runs {'differ' if self.runs_differ else 'IDENTICAL'}{verdict}"
        )

    def failure(self) -> str:
        return (
            "Sampling check failed: with noise, the exported synthesis does not behave like PyTorch's "
            f"(same lengths, loudness within {RMS_FACTOR:g}x, runs that differ).\n  {self.describe()}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def _loudness(waveform: Any, lengths: Any) -> float:
    """Root mean square over the speech of every row (each row's first ``lengths[row]`` samples)."""
    import numpy as np

    speech = np.concatenate([row[: int(n)] for row, n in zip(waveform, lengths, strict=True)]).astype(np.float64)
    return float(np.sqrt(np.mean(speech**2))) if speech.size else 0.0


def check_sampling(
    onnx_path: Path,
    config: TextToSpeechOnnxConfig,
    run_reference: Callable[[Mapping[str, Any]], Any],
    shapes: DummyShapes,
    seed: int = 1,
) -> SamplingCheck:
    """Synthesise validation's inputs (of ``shapes``) with the prior's noise on, in onnxruntime (twice) and in the
    framework (``run_reference``: ONNX-named inputs -> a :class:`~modelexport_onnx.validation.Reference`)."""
    import numpy as np

    from .validation import onnx_session, run_onnx

    noise = config.sampling_values()["noise_scale"]
    inputs = config.generate_dummy_inputs(shapes, seed=seed)
    inputs["noise_scale"] = np.asarray(noise, dtype=inputs["noise_scale"].dtype)
    session = onnx_session(onnx_path)
    first, second = run_onnx(session, inputs), run_onnx(session, inputs)
    expected = run_reference(inputs).float32
    lengths = first["sequence_lengths"]
    equal = first["waveform"].shape == expected["waveform"].shape and np.array_equal(
        lengths, expected["sequence_lengths"]
    )
    reference = _loudness(expected["waveform"], expected["sequence_lengths"])
    ratio = _loudness(first["waveform"], lengths) / reference if reference > 0 else float("nan")
    return SamplingCheck(
        noise_scale=noise,
        lengths_equal=bool(equal),
        rms_ratio=ratio,
        runs_differ=not np.array_equal(first["waveform"], second["waveform"]),
    )
