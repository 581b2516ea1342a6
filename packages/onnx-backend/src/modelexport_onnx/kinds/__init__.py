"""Special kinds of export, each a unit: which module a framework's converter exports for it, and which follow-up
checks step 6 runs on its files.

Most exports are plain (the model's forward, wrapped by the converter). A kind is an export whose model the
converter must wrap in a module of its own (a sentence-transformers pipeline, a spectrogram loop's parts, speech
synthesis with its noise, MusicGen's parts, SAM's encoder and decoder) or whose files need a check beyond
comparing outputs (greedy generation, the spectrogram loop, embeddings against ``encode``, sampled speech). Each
kind is one object following :class:`ExportKind`, listed in :data:`KINDS`; the export loops over them and names
none.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from modelexport_pipeline.checks import FollowUpCheck, ValidationReport

    from ..config import OnnxConfig
    from ..converters import Converter
    from ..options import ExportOptions


@dataclass(frozen=True)
class FollowUp:
    """What a follow-up check is given: the validated files, the model and how it was exported."""

    staging: Path
    config: OnnxConfig
    model: Any
    framework: str
    options: ExportOptions
    validation: ValidationReport
    #: Whether the command asked for the generation-like checks (``--no-generation-check`` turns them off).
    generation_check: bool
    #: The framework's converter: its reference runs and its modules for the kinds.
    converter: Converter


class ExportKind(Protocol):
    """One special kind of export."""

    #: Its name in messages and tests.
    name: str

    def applies(self, config: OnnxConfig) -> bool:
        """Whether the export of ``config`` (one file's, or the whole export's) is of this kind."""
        ...

    def export_modules(self) -> Mapping[str, str]:
        """Framework -> the converter's module (relative to the converter's package) whose
        ``export_module(model, config)`` gives what to trace and run; empty: the converter's plain wrapper."""
        ...

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        """The check step 6 adds once every output validated (``None``: none for this export)."""
        ...


def _kinds() -> tuple[ExportKind, ...]:
    from .generation import GenerationKind
    from .mask_generation import MaskGenerationKind
    from .musicgen import MusicgenKind
    from .sentence import SentenceKind
    from .spectrogram import SpectrogramKind, VocoderKind
    from .speech_synthesis import SpeechSynthesisKind
    from .timm import TimmKind

    return (
        GenerationKind(),
        SentenceKind(),
        SpectrogramKind(),
        VocoderKind(),
        SpeechSynthesisKind(),
        MusicgenKind(),
        MaskGenerationKind(),
        TimmKind(),
    )


@functools.cache
def all_kinds() -> tuple[ExportKind, ...]:
    """Every kind, imported on first use (each imports its config module, never a framework)."""
    return _kinds()


def kinds_of(config: OnnxConfig) -> list[ExportKind]:
    """The kinds the export of ``config`` is."""
    return [kind for kind in all_kinds() if kind.applies(config)]


def export_module_name(config: OnnxConfig, framework: str) -> str | None:
    """The converter module (relative to its package) that gives the module to export ``config`` with."""
    for kind in kinds_of(config):
        name = kind.export_modules().get(framework)
        if name is not None:
            return name
    return None


def follow_up_checks(run: FollowUp) -> list[FollowUpCheck]:
    """Every follow-up check of the export's kinds, in the kinds' order, each once the one before passed."""
    checks: list[FollowUpCheck] = []
    for kind in kinds_of(run.config):
        if not run.validation.passed or any(not check.passed for check in checks):
            break
        check = kind.follow_up(run)
        if check is not None:
            checks.append(check)
    return checks
