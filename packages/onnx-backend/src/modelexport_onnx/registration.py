"""The ``onnx`` backend's entry point: an object core asks to register the architecture table.

The ``modelexport.backends`` entry point names :data:`backend`; core calls
``backend.register(registry)`` with the registry it owns, the first time the ``onnx`` backend is
asked about. Importing this module registers nothing, and imports no numpy, onnx, onnxruntime or
framework (the config classes import them when they build inputs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelexport_core.registry import ExporterConfigRegistry

from .architectures import ARCHITECTURES, Architecture
from .config import OnnxConfig
from .converters import converter_for

BACKEND = "onnx"


@dataclass(frozen=True)
class ConfigConstructor:
    """Builds the export config of one architecture from a model config: ``constructor(config, task)``."""

    model_type: str
    architecture: Architecture

    def __call__(self, config: Any, task: str = "default", **kwargs: Any) -> OnnxConfig:
        architecture = self.architecture.for_task(task)
        options = {**architecture.options, **kwargs}
        if architecture.min_opset is not None:
            options.setdefault("min_opset", architecture.min_opset)
        return architecture.config_class(config, task, **options)

    def notes_for(self, task: str) -> list[str]:
        """What a user should know about the export of ``task`` (its family's, which may be a task group's)."""
        architecture = self.architecture.for_task(task)
        notes = list(architecture.notes)
        for framework in architecture.frameworks_for(task):  # each converter's own, asked through the seam
            notes += converter_for(framework, require_available=False).export_notes(self.model_type)
        return notes

    def __repr__(self) -> str:
        return f"<onnx export config of {self.model_type!r}: {self.architecture.config_class.__name__}>"


@dataclass(frozen=True)
class ArchitectureTable:
    """A table of architectures for the ``onnx`` backend; a third-party package may publish its own."""

    architectures: Mapping[str, Architecture]

    def register(self, registry: ExporterConfigRegistry) -> None:
        """Register every row, each task with the frameworks it exports from and the export's notes."""
        for model_type, architecture in self.architectures.items():
            constructor = ConfigConstructor(model_type, architecture)
            groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
            for task in architecture.tasks:
                key = (architecture.frameworks_for(task), tuple(constructor.notes_for(task)))
                groups.setdefault(key, []).append(task)
            for (frameworks, notes), tasks in groups.items():
                registry.register(BACKEND, model_type, tasks, constructor, frameworks=frameworks, notes=notes)


#: The architecture table the ONNX backend (:mod:`.backend`, the ``modelexport.backends`` entry point) registers.
backend = ArchitectureTable(ARCHITECTURES)
