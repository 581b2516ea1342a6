"""Text to spectrogram (SpeechT5): its files' own modules, and the spectrogram loop against transformers'; the
vocoder, exported on its own."""

from __future__ import annotations

from collections.abc import Mapping

from modelexport_core.errors import UnsupportedTaskError
from modelexport_pipeline.checks import FollowUpCheck

from ..config import OnnxConfig
from ..spectrogram_config import TextToSpectrogramOnnxConfig, VocoderOnnxConfig
from ..spectrogram_generation import check_spectrogram_generation
from ..validation import onnx_session
from . import FollowUp


class SpectrogramKind:
    name = "text to spectrogram"

    def applies(self, config: OnnxConfig) -> bool:
        return isinstance(config, TextToSpectrogramOnnxConfig)

    def export_modules(self) -> Mapping[str, str]:
        return {"pt": "spectrogram"}

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        if not isinstance(run.config, TextToSpectrogramOnnxConfig):
            return None
        if not run.generation_check or run.config.component is not None:
            return None
        if run.framework != "pt":
            raise UnsupportedTaskError(f"Text-to-spectrogram exports are checked against PyTorch, not {run.framework}.")
        reference = run.converter.kind_module("spectrogram").reference_spectrogram
        sessions = {name: onnx_session(run.staging / f"{name}.onnx") for name in run.config.components()}
        model = run.model
        return check_spectrogram_generation(
            sessions,
            run.config,
            lambda inputs, steps: reference(model, inputs, steps),
            tolerance=run.validation.tolerance,
        )


class VocoderKind:
    name = "vocoder"

    def applies(self, config: OnnxConfig) -> bool:
        return isinstance(config, VocoderOnnxConfig)

    def export_modules(self) -> Mapping[str, str]:
        return {"pt": "spectrogram"}

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        return None
