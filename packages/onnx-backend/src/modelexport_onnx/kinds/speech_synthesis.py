"""Speech synthesis with noise (VITS, MMS): its own module (noise as an input), and sampled speech against the
framework's."""

from __future__ import annotations

from collections.abc import Mapping

from modelexport_pipeline.checks import FollowUpCheck

from ..config import OnnxConfig
from ..speech_synthesis import TextToSpeechOnnxConfig, check_sampling
from . import FollowUp


class SpeechSynthesisKind:
    name = "speech synthesis"

    def applies(self, config: OnnxConfig) -> bool:
        return isinstance(config, TextToSpeechOnnxConfig)

    def export_modules(self) -> Mapping[str, str]:
        return {"pt": "speech_synthesis"}

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        assert isinstance(run.config, TextToSpeechOnnxConfig)
        model, config, converter = run.model, run.config, run.converter
        return check_sampling(
            run.staging / "model.onnx",
            config,
            lambda inputs: converter.run_reference(model, config, inputs),
            run.options.validation_shapes,
        )
