"""The PyTorch side of text-to-speech exports: VITS with its sampling controls as inputs.

transformers' ``VitsModel`` reads its sampling controls from attributes (``model.noise_scale``,
``model.noise_scale_duration``, ``model.speaking_rate``) that are Python floats: traced as they are, they
would become constants of the graph. :class:`SynthesisModule` sets them to the graph's scalar inputs for
the duration of one call (tensors scale the sampled noise and the durations just as floats do) and restores
them after. transformers 5 also takes ``speaking_rate`` as a ``forward`` argument, falling back to the
attribute; 4.57 reads the attribute alone. Run eagerly, the same module gives validation's reference outputs.
"""

from __future__ import annotations

from typing import Any

import torch
from modelexport_pipeline.errors import ExportError

from ...speech_synthesis import CONTROLS, TextToSpeechOnnxConfig


class SynthesisModule(torch.nn.Module):
    """``input_ids, attention_mask, noise_scale, noise_scale_duration, speaking_rate[, speaker_id]`` in;
    ``waveform, sequence_lengths, spectrogram`` out (the config's order)."""

    def __init__(self, model: torch.nn.Module, config: TextToSpeechOnnxConfig) -> None:
        super().__init__()
        for name in CONTROLS:
            if not hasattr(model, name):
                raise ExportError(f"{type(model).__name__} has no {name!r} attribute: it is not a VITS-style model.")
        self.model = model
        self.input_names = list(config.inputs)
        self.output_names = list(config.outputs)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.input_names, args, strict=True))
        model: Any = self.model
        saved = {name: getattr(model, name) for name in CONTROLS}
        for name in CONTROLS:
            setattr(model, name, named[name])
        try:
            outputs = model(
                input_ids=named["input_ids"],
                attention_mask=named["attention_mask"],
                speaker_id=named.get("speaker_id"),
                return_dict=True,
            )
        finally:
            for name, value in saved.items():
                setattr(model, name, value)
        return tuple(outputs[name] for name in self.output_names)


def export_module(model: Any, config: Any) -> Any:
    """What the PyTorch converter traces and runs for speech synthesis (noise as an input)."""
    return SynthesisModule(model, config)
