"""Framework detection: which installed framework should load a model.

Order: the framework asked for; the framework that owns a model object; the weight files of
the model (each framework plugin names its own); the installed frameworks by preference.
"""

from __future__ import annotations

import fnmatch
import os
from typing import Any

from .errors import FrameworkNotDeterminedError, FrameworkNotInstalledError
from .model_source import ModelReference
from .plugins import FrameworkPlugin, framework_plugins, get_framework, install_hint, requirements_hint


def frameworks_for_files(files: list[str]) -> list[FrameworkPlugin]:
    """Installed framework plugins whose weight files are among ``files``, preferred first."""
    return [
        plugin
        for plugin in framework_plugins()
        if any(fnmatch.fnmatch(f, pattern) for f in files for pattern in plugin.weight_files)
    ]


def _first_available(plugins: list[FrameworkPlugin]) -> FrameworkPlugin | None:
    return next((p for p in plugins if p.is_available()), None)


def determine_framework(
    model: Any,
    subfolder: str = "",
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    framework: str | None = None,
) -> str:
    """The name of the framework (``"pt"``, ``"tf"``, ...) to load ``model`` with.

    ``model`` may be a local directory, a Hub id, a :class:`ModelReference` or a model object.
    """
    if framework is not None:
        return get_framework(framework).name
    if isinstance(model, (str, os.PathLike, ModelReference)):
        return framework_for_reference(ModelReference.resolve(model, subfolder, revision, cache_dir))
    for plugin in framework_plugins():
        if plugin.owns_model(model):
            return plugin.name
    raise FrameworkNotDeterminedError(f"No installed framework recognizes an object of type {type(model).__name__}.")


def framework_for_reference(reference: ModelReference) -> str:
    """The framework whose weight files the model holds, else the preferred installed one."""
    with_weights = frameworks_for_files(reference.files)
    if with_weights:
        chosen = _first_available(with_weights)
        if chosen is not None:
            return chosen.name
        needed = with_weights[0]
        raise FrameworkNotInstalledError(
            f"{reference.source.reference!r} holds {needed.display_name} weights, but "
            f"{', '.join(needed.missing_requirements())} is not installed. "
            f"{requirements_hint(needed.name, needed.distribution, needed.missing_requirements())}"
        )
    chosen = _first_available(framework_plugins())
    if chosen is not None:
        return chosen.name
    names = ", ".join(p.name for p in framework_plugins()) or "none"
    raise FrameworkNotInstalledError(
        f"No framework can load {reference.source.reference!r}: no weight file tells which one, and no "
        f"framework is installed and usable (plugins found: {names}). Install a framework "
        f"plugin; for PyTorch models: {install_hint('pt')}"
    )
