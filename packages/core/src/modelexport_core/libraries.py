"""The library axis: whose model a folder or Hub repo holds, and how it loads (optimum's ``library_name``).

A model is exported along three independent axes: its *library* (transformers, sentence-transformers, timm,
diffusers: optimum's names), its *framework* (PyTorch, TensorFlow) and the *backend* it becomes. Each library is
a plugin named by an entry point of the ``modelexport.libraries`` group; core asks every installed one, in
priority order, whether a model's files are its own, and names none of them. Importing a library plugin
imports no framework, no backend and not the library itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .errors import UnsupportedTaskError, did_you_mean
from .plugins import entry_points_of, load_checked

if TYPE_CHECKING:
    from .model_source import ModelReference
    from .tasks import Task

LIBRARIES_GROUP = "modelexport.libraries"
#: The library of a model whose files no other library claims: optimum's default too.
DEFAULT_LIBRARY = "transformers"


@runtime_checkable
class LibraryPlugin(Protocol):
    """What a model library contributes: detection, its registry key, task inference and loading."""

    #: optimum's ``library_name``: ``transformers``, ``sentence_transformers``, ``timm``, ``diffusers``.
    name: str
    #: Lower first: sentence-transformers' folders are transformers folders too, so it is asked before.
    priority: int
    #: The library whose rows of the registry its model types use (sentence-transformers: transformers').
    registry_library: str
    #: The registry's model type for every model of the library, where it has one config (timm's
    #: ``default-timm-config``); ``None``: each model has its own type.
    default_model_type: str | None
    #: What its folders are (``a sentence-transformers checkpoint (modules.json)``), for messages.
    folder_description: str
    #: The tasks the library's models export for; empty: every task of the model type's rows.
    tasks: tuple[str, ...]

    def detects(self, files: Sequence[str], config: Mapping[str, Any] | None) -> bool:
        """Whether a folder with ``files`` (names relative to it) and ``config`` (its config.json) is this
        library's model."""
        ...

    def config_problem(self, config: Mapping[str, Any]) -> str | None:
        """Why ``config`` is not one of this library's configurations (``None``: it is)."""
        ...

    def model_type(self, config: Mapping[str, Any]) -> str:
        """The model's type in the registry, read from its checked config."""
        ...

    def infer_task(self, reference: ModelReference) -> Task:
        """The task the model's files say it was made for."""
        ...

    def load(self, reference: ModelReference, task: Task, framework: str, *, trust_remote_code: bool) -> Any:
        """The model, loaded with the library's own code for ``task``."""
        ...


class Libraries:
    """The installed library plugins, loaded and checked once (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._found: dict[str, LibraryPlugin] | None = None

    def all(self) -> dict[str, LibraryPlugin]:
        if self._found is None:
            with self._lock:
                if self._found is None:
                    found: dict[str, LibraryPlugin] = {}
                    for ep in entry_points_of(LIBRARIES_GROUP):
                        plugin = load_checked(
                            ep,
                            lambda obj: isinstance(obj, LibraryPlugin),
                            "the LibraryPlugin interface (name, priority, detects, model_type, infer_task, load, ...)",
                        )
                        found.setdefault(ep.name, plugin)
                    self._found = found
        return self._found

    def add(self, plugin: LibraryPlugin) -> None:
        """Add a library by hand (a test, or a one-off library not installed as a package)."""
        with self._lock:
            self.all()[plugin.name] = plugin


libraries = Libraries()


def library_names() -> list[str]:
    """The installed libraries, in the order they are asked about a model (most specific first)."""
    return [p.name for p in sorted(libraries.all().values(), key=lambda p: (p.priority, p.name))]


def get_library(name: str | None) -> LibraryPlugin:
    """The library plugin called ``name`` (optimum's spelling; ``sentence-transformers`` is accepted too);
    ``None`` means transformers."""
    key = (name or DEFAULT_LIBRARY).strip().lower().replace("-", "_")
    found = libraries.all()
    plugin = found.get(key)
    if plugin is None:
        known = ", ".join(library_names()) or "none"
        raise UnsupportedTaskError(
            f"Library {name!r} is not supported (installed libraries: {known}).{did_you_mean(key, list(found))}"
        )
    return plugin


def detect_library(files: Sequence[str], config: Mapping[str, Any] | None) -> LibraryPlugin:
    """The first library, by priority, that claims a model with ``files`` and ``config``; else transformers."""
    for name in library_names():
        plugin = libraries.all()[name]
        if plugin.detects(files, config):
            return plugin
    return get_library(DEFAULT_LIBRARY)


def config_problem(config: Mapping[str, Any]) -> str | None:
    """Why no installed library takes ``config`` (``None``: one does). With no library installed at all,
    only a transformers configuration (one with a ``model_type``) is taken."""
    found = libraries.all()
    if not found:
        model_type = config.get("model_type")
        return None if isinstance(model_type, str) and model_type else "it has no 'model_type'"
    problems = [plugin.config_problem(config) for plugin in found.values()]
    if any(problem is None for problem in problems):
        return None
    transformers = found.get(DEFAULT_LIBRARY)
    return (transformers.config_problem(config) if transformers else None) or next(p for p in problems if p)
