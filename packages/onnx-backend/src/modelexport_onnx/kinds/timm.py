"""timm models: traced through a module of their own (timm's forward takes the image positionally, and feature
extraction returns timm's unpooled and pooled features)."""

from __future__ import annotations

from collections.abc import Mapping

from modelexport_pipeline.checks import FollowUpCheck

from ..config import OnnxConfig
from ..timm_config import TimmOnnxConfig
from . import FollowUp


class TimmKind:
    name = "timm"

    def applies(self, config: OnnxConfig) -> bool:
        return isinstance(config, TimmOnnxConfig)

    def export_modules(self) -> Mapping[str, str]:
        return {"pt": "timm_model"}

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        return None
