"""The ``tf`` framework plugin object, named by the ``modelexport.frameworks`` entry point."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelexport_core.transformers_plugin import TransformersFramework

from .autoclasses import TF_TASK_TO_AUTOCLASS


def _prepare() -> None:
    from .loading import quiet_tensorflow

    quiet_tensorflow()


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
    name="tf",
    display_name="TensorFlow",
    distribution="modelexport-tf",
    priority=20,
    weight_files=("tf_model.h5", "tf_model.h5.index.json", "tf_model-*-of-*.h5"),
    required_modules=("tensorflow", "tf_keras", "transformers"),
    table=TF_TASK_TO_AUTOCLASS,
    loader=_load,
    runner=_run,
    generator=_generate,
    base_class_paths=(("tensorflow", "Module"),),
    before_import=_prepare,
)
