"""Tiny TensorFlow models per (model type, task), built once per test session."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelexport_core import TasksManager
from tiny_models import TINY_CONFIGS, build_tf_model, save_tf_model


class TinyTfModels:
    """Cache of tiny TensorFlow models: in memory and on disk, by (model type, task)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._models: dict[tuple[str, str], Any] = {}
        self._dirs: dict[tuple[str, str], Path] = {}

    def model(self, model_type: str, task: str) -> Any:
        key = (model_type, task)
        if key not in self._models:
            if model_type not in TINY_CONFIGS:
                raise AssertionError(f"No tiny config for advertised model type {model_type!r}: add one")
            self._models[key] = build_tf_model(TasksManager.get_model_class_for_task(task, "tf"), model_type)
        return self._models[key]

    def directory(self, model_type: str, task: str) -> Path:
        key = (model_type, task)
        if key not in self._dirs:
            cls = TasksManager.get_model_class_for_task(task, "tf")
            self._dirs[key] = save_tf_model(cls, model_type, self.root / f"{model_type}-{task}")
        return self._dirs[key]


def export_tf(model: Any, config: Any, directory: Path, **option_overrides: Any) -> dict[str, Any]:
    """Export every file of ``config`` from TensorFlow into ``directory``; onnxruntime sessions by file stem."""
    from modelexport_onnx.export import export_components, resolve_options
    from modelexport_onnx.validation import onnx_session

    options = resolve_options(config, framework="tf", **option_overrides)
    export_components(model, config, directory, options, "tf", directory / ".work")
    return {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}
