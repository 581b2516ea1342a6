"""The torch modules of MusicGen's files (see :mod:`modelexport_onnx.text_to_audio`).

The text encoder and the decoder steps are the encoder-decoder family's wrapper: MusicGen's forward takes
``encoder_outputs``, the text ``attention_mask`` and ``decoder_input_ids`` as a seq2seq model does, projects
the text states to the decoder's width and masks them itself. EnCodec's decoding is a module of its own.
"""

from __future__ import annotations

from typing import Any

import torch

from ...config import OnnxConfig
from .wrappers import _Seq2SeqPartWrapper


def part_wrapper(model: torch.nn.Module, config: OnnxConfig) -> torch.nn.Module:
    """The text encoder, the first decoder step or a cached decoder step of ``model``."""
    return _Seq2SeqPartWrapper(model, config)


class EncodecDecodeModule(torch.nn.Module):
    """Audio codes (1, batch, num_codebooks, length) in, the waveform (batch, channels, samples) out.

    As ``MusicgenForConditionalGeneration.generate`` decodes its codes: with no scales (text-conditional
    generation has none); a stereo model's codebooks alternate left and right, each channel decoded on its own.
    """

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.audio_encoder = model.audio_encoder
        self.stereo = int(model.config.decoder.audio_channels) == 2

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor]:
        """``inputs``: the config's, positionally (one: ``audio_codes``), as every exported module takes them."""
        (audio_codes,) = inputs
        if not self.stereo:
            return (self._decode(audio_codes),)
        left, right = self._decode(audio_codes[:, :, ::2, :]), self._decode(audio_codes[:, :, 1::2, :])
        return (torch.cat([left, right], dim=1),)

    def _decode(self, audio_codes: torch.Tensor) -> torch.Tensor:
        values: torch.Tensor = self.audio_encoder.decode(audio_codes, [None]).audio_values
        return values


def export_module(model: Any, config: Any) -> Any:
    """What the PyTorch converter traces and runs for one of MusicGen's files."""
    if config.musicgen_part == "encodec_decode":
        return EncodecDecodeModule(model)
    return part_wrapper(model, config)
