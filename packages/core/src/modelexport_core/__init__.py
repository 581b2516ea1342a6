"""modelexport-core: task taxonomy, plugin discovery and the ``TasksManager``.

Importing this package is cheap: no torch, TensorFlow, transformers or huggingface_hub.
"""

from __future__ import annotations

from .errors import (
    BackendNotInstalledError,
    FrameworkNotDeterminedError,
    FrameworkNotInstalledError,
    HubUnavailableError,
    InvalidModelConfigError,
    InvalidModelIdError,
    ModelExportError,
    ModelNotFoundError,
    PluginLoadError,
    TaskInferenceError,
    UnknownModelTypeError,
    UnknownTaskError,
    UnsupportedTaskError,
)
from .plugins import FrameworkPlugin
from .registry import register_exporter_config, registry
from .tasks_manager import TasksManager
from .transformers_plugin import TransformersFramework

__version__ = "0.1.0"

__all__ = [
    "BackendNotInstalledError",
    "FrameworkNotDeterminedError",
    "FrameworkNotInstalledError",
    "FrameworkPlugin",
    "HubUnavailableError",
    "InvalidModelConfigError",
    "InvalidModelIdError",
    "ModelExportError",
    "ModelNotFoundError",
    "PluginLoadError",
    "TaskInferenceError",
    "TasksManager",
    "TransformersFramework",
    "UnknownModelTypeError",
    "UnknownTaskError",
    "UnsupportedTaskError",
    "register_exporter_config",
    "registry",
]
