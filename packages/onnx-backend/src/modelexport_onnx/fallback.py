"""Exporting a model type that no row of the table names: through the family its config fits.

A newer transformers, a fine-tune of a new architecture or a ``--trust-remote-code`` model may
have a ``model_type`` the registry does not know. Since transformers 5 standardised attention
masks, position ids and caches, most such models still fit one of the text families (image models,
speech encoders, image-text dual encoders and forecasters fit theirs); the export is tried through
it, with a note saying so, and validation (with the greedy-generation check for ``-with-past``)
decides whether the result ships.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelexport_core import TasksManager
from modelexport_core.errors import UnknownModelTypeError, UnsupportedTaskError
from modelexport_core.tasks import Task
from modelexport_core.versions import installed_version

from .config import OnnxConfig
from .families import Family, media_family, text_family

#: Where to report a model that the family export does not fit.
REPORT_HINT = (
    "modelexport does not know this model type; please report it (the model id, its config.json and this "
    "output) so that the walk can measure it, or export a task listed by `modelexport tasks`."
)


@dataclass(frozen=True)
class FamilyConstructor:
    """Builds the export config of ``task`` for a model type in no row of the table, through ``family``."""

    model_type: str
    family: Family
    task: Task

    def __call__(self, config: Any, task: str | None = None, **kwargs: Any) -> OnnxConfig:
        return self.family.config_class(config, task or self.task, **{**self.family.options, **kwargs})

    @property
    def note(self) -> str:
        return (
            f"model type {self.model_type!r} is in no row of the table: exported through the "
            f"{self.family.name} family; validation decides"
        )


def unnamed_type_constructor(model_type: str, config: Mapping[str, Any], task: Task) -> FamilyConstructor:
    """The family constructor for ``model_type`` and ``task``, or a clear error when no family fits."""
    family = text_family(config) or media_family(config)
    if family is None:
        raise UnknownModelTypeError(
            f"Model type {model_type!r} is not supported by the onnx backend, and its config fits no family (not "
            f"text, an image model, a speech encoder or an image-text dual encoder). {REPORT_HINT}"
        )
    if task not in family.tasks:
        raise UnsupportedTaskError(
            f"Model type {model_type!r} is in no row of the table; its config fits the {family.name} family, which "
            f"exports {', '.join(family.tasks)}, not {task}. Pass one of those with --task."
        )
    return FamilyConstructor(model_type, family, task)


def transformers_model_types() -> str | None:
    """The source of the installed transformers' table of model types (``configuration_auto.py``), read as text:
    importing transformers takes seconds, and this runs before anything is loaded. ``None``: not installed."""
    spec = importlib.util.find_spec("transformers")
    if spec is None or not spec.submodule_search_locations:
        return None
    table = Path(next(iter(spec.submodule_search_locations))) / "models" / "auto" / "configuration_auto.py"
    try:
        return table.read_text(encoding="utf-8")
    except OSError:
        return None


def check_transformers_knows(model_type: str, config: Mapping[str, Any]) -> None:
    """Refuse, before loading, a model type that neither the registry nor the installed transformers knows (a typo
    such as ``bret``) and that brings no code or class of its own to load it by."""
    if config.get("auto_map") or config.get("architectures"):
        return  # its own code (--trust-remote-code), or transformers loads it by the class it names
    imported = sys.modules.get("transformers.models.auto.configuration_auto")
    table: str | None
    if imported is not None:  # already imported (a program that registered its own config classes): ask it
        if model_type in getattr(imported, "CONFIG_MAPPING", {}):
            return
        table = ""
    else:
        table = transformers_model_types()
    if table is None or re.search(r'\(\s*"' + re.escape(model_type) + r'"\s*,', table):
        return
    try:
        TasksManager.get_supported_tasks_for_model_type(model_type, "onnx")
    except UnknownModelTypeError as unknown:
        version = installed_version("transformers") or "?"
        raise UnknownModelTypeError(
            f"{unknown} The installed transformers ({version}) does not know model type {model_type!r} either: fix "
            "model_type in config.json, or upgrade transformers if the architecture is newer."
        ) from None
