"""The ``pt`` framework plugin object, named by the ``modelexport.frameworks`` entry point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelexport_core.transformers_plugin import TransformersFramework

from .autoclasses import PT_TASK_TO_AUTOCLASS


def _load(model_class: type, model: str, **kwargs: Any) -> Any:
    from .loading import load_model

    return load_model(model_class, model, **kwargs)


def _run(model: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    from .loading import run_model

    return run_model(model, inputs)


def _generate(model: Any, inputs: Mapping[str, Any], max_new_tokens: int, pad_token_id: int) -> Any:
    from .loading import generate_greedy

    return generate_greedy(model, inputs, max_new_tokens, pad_token_id)


framework = TransformersFramework(
    name="pt",
    display_name="PyTorch",
    distribution="modelexport-pt",
    priority=10,
    weight_files=(
        "model.safetensors",
        "model.safetensors.index.json",
        "model-*-of-*.safetensors",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
        "pytorch_model-*-of-*.bin",
    ),
    required_modules=("torch", "transformers"),
    table=PT_TASK_TO_AUTOCLASS,
    loader=_load,
    runner=_run,
    generator=_generate,
    base_class_paths=(("torch.nn", "Module"),),
)
