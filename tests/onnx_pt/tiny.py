"""Tiny PyTorch models per (model type, task), built once per test session and saved to disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from modelexport_core import TasksManager
from tiny_models import TINY_CONFIGS, build_pt_model, save_pt_model


class TinyPtModels:
    """Cache of tiny models: in memory by (model type, task), on disk by (model type, task)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._models: dict[tuple[str, str], Any] = {}
        self._dirs: dict[tuple[str, str], Path] = {}

    def model(self, model_type: str, task: str) -> Any:
        key = (model_type, task)
        if key not in self._models:
            if model_type not in TINY_CONFIGS:
                raise AssertionError(f"No tiny config for advertised model type {model_type!r}: add one")
            cls = TasksManager.get_model_class_for_task(task, "pt")
            self._models[key] = build_pt_model(cls, model_type)
        return self._models[key]

    def directory(self, model_type: str, task: str) -> Path:
        key = (model_type, task)
        if key not in self._dirs:
            cls = TasksManager.get_model_class_for_task(task, "pt")
            self._dirs[key] = save_pt_model(cls, model_type, self.root / f"{model_type}-{task}")
        return self._dirs[key]


def export_split_model(model: Any, config: Any, directory: Path) -> dict[str, Any]:
    """Export every file of an encoder-decoder config into ``directory``; onnxruntime sessions by file stem."""
    from modelexport_onnx.export import export_components, resolve_options
    from modelexport_onnx.validation import onnx_session

    export_components(model, config, directory, resolve_options(config), "pt", directory / ".work")
    return {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}


def generation_check(model: Any, config: Any, sessions: dict[str, Any], lengths: tuple[int, ...] = (7, 3)) -> Any:
    """20 greedy tokens from the exported files against PyTorch's generate, on a batch of two prompts."""
    from modelexport_core.plugins import get_framework
    from modelexport_onnx.generation import check_generation

    plugin = get_framework("pt")
    check = check_generation(
        sessions, config, lambda inputs, n, pad: plugin.generate(model, inputs, n, pad), 20, lengths
    )
    assert check.new_tokens == 20 and check.batch == len(lengths)
    assert check.equal, (check.onnx_tokens, check.reference_tokens)
    return check
