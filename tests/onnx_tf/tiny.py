"""Tiny TensorFlow models per (model type, task), built once per test session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models import TinyModels


class TinyTfModels(TinyModels):
    """Tiny TensorFlow models, cached by (model type, task)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "tf")


def export_tf(model: Any, config: Any, directory: Path, **option_overrides: Any) -> dict[str, Any]:
    """Export every file of ``config`` from TensorFlow into ``directory``; onnxruntime sessions by file stem."""
    from modelexport_onnx.export import export_components, resolve_options
    from modelexport_onnx.validation import onnx_session

    options = resolve_options(config, framework="tf", **option_overrides)
    export_components(model, config, directory, options, "tf", directory / ".work")
    return {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}
