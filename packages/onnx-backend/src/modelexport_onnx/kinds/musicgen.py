"""MusicGen: its parts' own modules (text encoder, decoder over the codebooks, EnCodec's decode)."""

from __future__ import annotations

from collections.abc import Mapping

from modelexport_pipeline.checks import FollowUpCheck

from ..config import OnnxConfig
from ..text_to_audio import MusicgenOnnxConfig
from . import FollowUp


class MusicgenKind:
    name = "musicgen"

    def applies(self, config: OnnxConfig) -> bool:
        return isinstance(config, MusicgenOnnxConfig)

    def export_modules(self) -> Mapping[str, str]:
        return {"pt": "musicgen"}

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        return None
