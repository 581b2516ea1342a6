"""Entry point of the ``onnx`` backend: fills core's registry from the architecture table.

Importing this module imports no numpy, onnx, onnxruntime or framework: a constructor
imports its config class only when it is called.
"""

from __future__ import annotations

import importlib
from typing import Any

from modelexport_core.registry import registry

from .architectures import ARCHITECTURES, Architecture

BACKEND = "onnx"


class LazyConfigConstructor:
    """Builds the export config of one architecture, importing its class on first call."""

    def __init__(self, model_type: str, architecture: Architecture) -> None:
        self.model_type = model_type
        self.architecture = architecture

    def config_class(self) -> type:
        module, _, name = self.architecture.config_class.partition(":")
        return getattr(importlib.import_module(module), name)

    def __call__(self, config: Any, task: str = "default", **kwargs: Any) -> Any:
        options = {**self.architecture.options, **kwargs}
        if self.architecture.min_opset is not None:
            options.setdefault("min_opset", self.architecture.min_opset)
        return self.config_class()(config, task, **options)

    @property
    def notes(self) -> list[str]:
        """What a user should know about this export, for the registry listing."""
        notes = []
        if self.architecture.options.get("dynamic_size") is False:
            notes.append("height and width are fixed to the config's image_size (224 when it has none)")
        if self.architecture.options.get("speech") == "whisper":
            notes.append("input_features: (batch_size, num_mel_bins, 2 * max_source_positions frames), frames fixed")
        if self.architecture.options.get("speech") == "frames":
            notes.append("input_features: (batch_size, encoder_sequence_length frames, input_feat_per_channel)")
        if self.architecture.options.get("exporter"):
            notes.append(f"exported with {self.architecture.options['exporter']} (auto)")
        return notes

    def __repr__(self) -> str:
        return f"<onnx export config of {self.model_type!r}: {self.architecture.config_class}>"


def register_architectures(table: dict[str, Architecture]) -> None:
    """Register every row of ``table`` (third-party packages may call this with their own)."""
    for model_type, architecture in table.items():
        constructor = LazyConfigConstructor(model_type, architecture)
        by_frameworks: dict[tuple[str, ...], list[str]] = {}
        for task in architecture.tasks:
            by_frameworks.setdefault(architecture.frameworks_for(task), []).append(task)
        for frameworks, tasks in by_frameworks.items():
            registry.register(BACKEND, model_type, tasks, constructor, frameworks=frameworks)


register_architectures(ARCHITECTURES)
