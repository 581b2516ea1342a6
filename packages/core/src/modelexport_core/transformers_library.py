"""The ``transformers`` library plugin: core's own, so a core-only install still answers for transformers models.

Every folder ``save_pretrained`` wrote is its model (a ``config.json`` with a ``model_type``); it is asked last,
after the libraries whose folders are transformers folders too (sentence-transformers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .model_source import ModelReference
    from .tasks import Task


class TransformersLibrary:
    name = "transformers"
    priority = 100
    registry_library = "transformers"
    default_model_type: str | None = None
    #: What its folders are, for a message when ``--library`` names it and the files are not.
    folder_description = "a transformers model folder (config.json with a model_type, as save_pretrained writes it)"
    tasks: tuple[str, ...] = ()

    def detects(self, files: Sequence[str], config: Mapping[str, Any] | None) -> bool:
        return config is not None and self.config_problem(config) is None

    def config_problem(self, config: Mapping[str, Any]) -> str | None:
        model_type = config.get("model_type")
        return None if isinstance(model_type, str) and model_type else "it has no 'model_type'"

    def model_type(self, config: Mapping[str, Any]) -> str:
        return str(config["model_type"])

    def infer_task(self, reference: ModelReference) -> Task:
        from .inference import infer_transformers_task

        return infer_transformers_task(reference)

    def load(self, reference: ModelReference, task: Task, framework: str, *, trust_remote_code: bool) -> Any:
        from .tasks_manager import TasksManager

        return TasksManager.get_model_from_task(
            task, reference, framework=framework, trust_remote_code=trust_remote_code
        )


library = TransformersLibrary()
