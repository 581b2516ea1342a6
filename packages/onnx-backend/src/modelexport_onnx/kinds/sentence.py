"""A sentence-transformers pipeline exported whole: its own module, and its embeddings against ``encode``."""

from __future__ import annotations

from collections.abc import Mapping

from modelexport_pipeline.checks import FollowUpCheck

from ..config import OnnxConfig
from ..sentence_transformers import SentenceEmbeddingOnnxConfig, check_sentence_embeddings
from . import FollowUp


class SentenceKind:
    name = "sentence-transformers pipeline"

    def applies(self, config: OnnxConfig) -> bool:
        return isinstance(config, SentenceEmbeddingOnnxConfig)

    def export_modules(self) -> Mapping[str, str]:
        return {"pt": "sentence_pipeline"}

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        embed = run.converter.kind_module("sentence_pipeline").library_embeddings
        return check_sentence_embeddings(run.staging / "model.onnx", run.model, run.validation.tolerance, embed)
