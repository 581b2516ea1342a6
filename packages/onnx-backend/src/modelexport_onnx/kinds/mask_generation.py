"""SAM: the vision encoder and the prompt encoder with the mask decoder, each its own module."""

from __future__ import annotations

from collections.abc import Mapping

from modelexport_pipeline.checks import FollowUpCheck

from ..config import OnnxConfig
from ..mask_generation_config import MaskGenerationOnnxConfig
from . import FollowUp


class MaskGenerationKind:
    name = "mask generation"

    def applies(self, config: OnnxConfig) -> bool:
        return isinstance(config, MaskGenerationOnnxConfig)

    def export_modules(self) -> Mapping[str, str]:
        return {"pt": "mask_generation"}

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        return None
