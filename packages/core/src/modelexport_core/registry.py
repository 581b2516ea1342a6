"""The export-config registry: ``(backend, model_type, task) -> config constructor``.

Core owns it: each backend's entry point names an object that core asks to register into it
(see :mod:`.plugins`); a one-off architecture can be added with :func:`register_exporter_config`. Model types are stored
normalized (``xlm_roberta`` and ``xlm-roberta`` are one type) and tasks canonical.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, runtime_checkable

from .tasks import map_from_synonym

ConfigConstructor = Callable[..., Any]
C = TypeVar("C", bound=Callable[..., Any])


def normalize_model_type(model_type: str) -> str:
    """One spelling per model type: lower case, ``_`` as ``-``."""
    return model_type.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class RegistryEntry:
    """One exportable ``(model_type, task)`` pair of one backend."""

    backend: str
    model_type: str
    task: str
    constructor: ConfigConstructor
    #: Frameworks the pair is known to work for; ``None`` means every framework.
    frameworks: frozenset[str] | None = None
    #: What a user should know about this export (a fixed image size, the converter chosen...).
    notes: tuple[str, ...] = ()
    #: The model library whose model types these are (optimum's ``library_name``).
    library: str = "transformers"

    def supports_framework(self, framework: str | None) -> bool:
        return framework is None or self.frameworks is None or framework in self.frameworks


class ExporterConfigRegistry:
    """Thread-safe store of registry entries, filled by backends."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        #: (backend, library) -> model type -> task -> entry.
        self._entries: dict[tuple[str, str], dict[str, dict[str, RegistryEntry]]] = {}

    def register(
        self,
        backend: str,
        model_type: str,
        tasks: Iterable[str],
        constructor: ConfigConstructor,
        *,
        frameworks: Iterable[str] | None = None,
        notes: Iterable[str] = (),
        library: str = "transformers",
    ) -> None:
        """Register ``constructor`` for each task of ``model_type`` on ``backend``.

        ``constructor(config, task=task, **kwargs)`` must build the export config. A later
        registration of the same pair replaces the earlier one (a plugin may override).
        """
        normalized = normalize_model_type(model_type)
        allowed = frozenset(frameworks) if frameworks is not None else None
        task_list = [map_from_synonym(t) for t in tasks]
        if not task_list:
            raise ValueError(f"Registering {model_type!r} for backend {backend!r} needs at least one task.")
        with self._lock:
            per_type = self._entries.setdefault((backend, library), {}).setdefault(normalized, {})
            for task in task_list:
                per_type[task] = RegistryEntry(backend, normalized, task, constructor, allowed, tuple(notes), library)

    def has_backend(self, backend: str) -> bool:
        return any(key[0] == backend for key in self._entries)

    def backends(self) -> list[str]:
        """Backends with registrations: those of installed packages loaded so far and those added by hand."""
        with self._lock:
            return sorted({backend for backend, _ in self._entries})

    def model_types(self, backend: str, library: str = "transformers") -> list[str]:
        return sorted(self._entries.get((backend, library), {}))

    def entries_for(
        self, backend: str, model_type: str, library: str = "transformers"
    ) -> dict[str, RegistryEntry] | None:
        per_type = self._entries.get((backend, library), {}).get(normalize_model_type(model_type))
        return dict(per_type) if per_type is not None else None

    def all_entries(self, backend: str, library: str = "transformers") -> list[RegistryEntry]:
        return [e for per_type in self._entries.get((backend, library), {}).values() for e in per_type.values()]

    def unregister_model_type(self, backend: str, model_type: str, library: str = "transformers") -> None:
        with self._lock:
            self._entries.get((backend, library), {}).pop(normalize_model_type(model_type), None)


@runtime_checkable
class BackendPlugin(Protocol):
    """What a ``modelexport.backends`` entry point names: an object that registers its export configs.

    Core calls ``register(registry)`` once, with the registry it owns, the first time the backend
    the entry point is named after is asked about. Importing the object's module registers nothing.
    """

    def register(self, registry: ExporterConfigRegistry) -> None: ...


#: The process-wide registry that :class:`~modelexport_core.TasksManager` reads.
registry = ExporterConfigRegistry()


def register_exporter_config(
    backend: str, model_type: str, *tasks: str, frameworks: Iterable[str] | None = None, library: str = "transformers"
) -> Callable[[C], C]:
    """Decorator registering an export-config class (or factory) for ``model_type``.

    Example::

        @register_exporter_config("onnx", "my-arch", "default", "masked-lm")
        class MyArchOnnxConfig(TextEncoderOnnxConfig): ...
    """

    def decorator(constructor: C) -> C:
        registry.register(backend, model_type, tasks, constructor, frameworks=frameworks, library=library)
        return constructor

    return decorator


def bind_task(entry: RegistryEntry) -> ConfigConstructor:
    """The constructor of ``entry`` with its task filled in: call it with the model config."""
    return functools.partial(entry.constructor, task=entry.task)
