"""modelexport: export Hugging Face transformers models to deployable formats.

A thin facade: names resolve on first access (module ``__getattr__``), so
``from modelexport import TasksManager`` imports only the core package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelexport_core.lazy import import_attr

__version__ = "0.1.0"

#: Public name -> module that defines it.
_LAZY_ATTRIBUTES: dict[str, str] = {
    "TasksManager": "modelexport_core",
    "register_exporter_config": "modelexport_core",
    "ModelExportError": "modelexport_core",
    "UnknownTaskError": "modelexport_core",
    "UnsupportedTaskError": "modelexport_core",
    "UnknownModelTypeError": "modelexport_core",
    "FrameworkNotInstalledError": "modelexport_core",
    "ModelNotFoundError": "modelexport_core",
    "InvalidModelConfigError": "modelexport_core",
    "InvalidModelIdError": "modelexport_core",
    "HubUnavailableError": "modelexport_core",
    "TaskInferenceError": "modelexport_core",
    "BackendNotInstalledError": "modelexport_core",
}

if TYPE_CHECKING:
    from modelexport_core import TasksManager as TasksManager


def __getattr__(name: str) -> Any:
    return import_attr(name, _LAZY_ATTRIBUTES, globals())


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY_ATTRIBUTES])


__all__ = sorted(_LAZY_ATTRIBUTES)
