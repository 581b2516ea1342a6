"""``TasksManager``: the one entry point, following optimum's ``TasksManager`` API.

It answers registry questions from the plugins' tables (strings only, no framework import)
and resolves AutoClass names to classes only in :meth:`TasksManager.get_model_class_for_task`
and :meth:`TasksManager.get_model_from_task`.
"""

from __future__ import annotations

import os
from typing import Any

from . import framework as _framework
from . import hub
from . import inference as _inference
from . import tasks as _tasks
from .errors import PluginLoadError, UnknownModelTypeError, UnsupportedTaskError, did_you_mean
from .libraries import DEFAULT_LIBRARY, get_library
from .model_source import ModelReference
from .plugins import ModelClassResolver, backend_names, ensure_backend_loaded, framework_plugins, get_framework
from .registry import ConfigConstructor, RegistryEntry, bind_task, normalize_model_type, registry
from .tasks import Task

#: Up to this many supported model types, an unknown-type error names them all; beyond, it says how to list them.
LISTED_MODEL_TYPES = 40


class TasksManager:
    """Task taxonomy, export-config registry, framework detection and model loading."""

    # --- task names -----------------------------------------------------------------------

    @staticmethod
    def get_all_tasks() -> list[Task]:
        """Every canonical task name."""
        return _tasks.get_all_tasks()

    @staticmethod
    def map_from_synonym(task: str) -> Task:
        """The canonical task of ``task`` (a synonym or canonical name)."""
        return Task.of(task)

    @staticmethod
    def synonyms_for_task(task: str) -> set[str]:
        """Every name meaning ``task``, the canonical name included."""
        return _tasks.synonyms_for_task(task)

    # --- frameworks -------------------------------------------------------------------------

    @staticmethod
    def task_for_model_type(task: str, model_type: object, exporter: str | None = None) -> Task:
        """The canonical task ``task`` means for ``model_type``.

        Most names mean one task; ``automatic-speech-recognition`` means ``speech2seq-lm`` for an
        encoder-decoder (Whisper) and ``audio-ctc`` for a CTC model (wav2vec2): the tasks the model type
        registers with ``exporter`` (every installed backend when ``None``) decide.
        """
        if not isinstance(model_type, str) or not model_type:
            return Task.of(task)
        backends = [exporter] if exporter else sorted({*backend_names(), *registry.backends()})
        registered: set[str] = set()
        for backend in backends:
            try:
                registered.update(TasksManager._entries_for_model_type(model_type, backend))
            except (UnknownModelTypeError, PluginLoadError):
                continue
        return _tasks.task_for_model_type(task, registered)

    @staticmethod
    def get_available_frameworks() -> list[str]:
        """Frameworks whose plugin is installed and whose libraries are importable."""
        return [p.name for p in framework_plugins() if p.is_available()]

    @staticmethod
    def get_autoclass_name(task: str, framework: str = "pt") -> str | tuple[str, ...]:
        """The AutoClass name(s) of ``task`` for ``framework``, without importing anything."""
        plugin = get_framework(framework, require_available=False)
        table = plugin.autoclass_table()
        # a pipeline name for two tasks (automatic-speech-recognition) names the classes of both, in order
        bases = [t.base for t in _tasks.tasks_meant_by(task) if t.base in table]
        if not bases:
            supported = ", ".join(t for t in _tasks.CANONICAL_TASKS if t.base in table)
            raise UnsupportedTaskError(
                f"Task {task!r} has no {plugin.display_name} model class. {plugin.display_name} supports: {supported}."
            )
        if len(bases) == 1:
            return table[bases[0]]
        names: list[str] = []
        for base in bases:
            value = table[base]
            names += [value] if isinstance(value, str) else list(value)
        return tuple(dict.fromkeys(names))

    @staticmethod
    def get_model_class_for_task(
        task: str,
        framework: str = "pt",
        model_type: str | None = None,
        model_class_name: str | None = None,
        library: str = "transformers",
    ) -> type:
        """The transformers class that loads models for ``task`` in ``framework`` (the other libraries load their
        own models: :meth:`get_model_from_task` with ``library_name``)."""
        if library.replace("-", "_") != DEFAULT_LIBRARY:
            raise UnsupportedTaskError(
                f"{library} models are loaded by their library, not through a transformers class: "
                f"TasksManager.get_model_from_task(task, model, library_name={library!r})."
            )
        plugin = get_framework(framework)
        if model_class_name is not None:
            return plugin.resolve_class(model_class_name)
        return plugin.resolve_class(TasksManager.get_autoclass_name(task, plugin.name))

    @staticmethod
    def _model_class_for(task: Task, framework: str, config: dict[str, Any]) -> type:
        """The class that loads a model of ``config`` for ``task``: the task's auto class where it maps the
        model type, else the config's own architecture class when that class is one of the task."""
        plugin = get_framework(framework)
        own = tuple(
            name
            for name in config.get("architectures") or ()
            if isinstance(name, str) and _inference.task_from_class_name(name, config) == task.base
        )
        model_type = config.get("model_type")
        names = TasksManager.get_autoclass_name(task, plugin.name)
        if isinstance(plugin, ModelClassResolver) and isinstance(model_type, str):
            return plugin.resolve_model_class(names, model_type, own)
        return plugin.resolve_class(names)

    @staticmethod
    def determine_framework(
        model: Any,
        subfolder: str = "",
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        framework: str | None = None,
    ) -> str:
        """The framework to load ``model`` with: the argument, the weight files, what is installed.

        ``model`` may also be a :class:`ModelReference` (or a model object).
        """
        return _framework.determine_framework(model, subfolder, revision, cache_dir, framework)

    @staticmethod
    def infer_task_from_model(
        model: Any,
        subfolder: str = "",
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> Task:
        """The canonical task of a local directory, Hub id, :class:`ModelReference`, model instance or class."""
        return _inference.infer_task_from_model(model, subfolder, revision, cache_dir)

    @staticmethod
    def get_model_from_task(
        task: str | None,
        model: str | os.PathLike[str] | ModelReference,
        subfolder: str = "",
        revision: str | None = None,
        framework: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        trust_remote_code: bool = False,
        library_name: str | None = None,
        **model_kwargs: Any,
    ) -> Any:
        """Load ``model`` with the class of ``task`` (``None`` or ``"auto"``: inferred).

        ``model`` may be a :class:`ModelReference`, whose answers (Hub info, files) are reused.
        Safetensors weights are preferred, remote code runs only when ``trust_remote_code``
        is set, and pickled weights load with torch's ``weights_only``.
        """
        reference = ModelReference.resolve(model, subfolder, revision, cache_dir)
        if library_name is not None and library_name.replace("-", "_") != DEFAULT_LIBRARY:
            library = get_library(library_name)
            library_task = library.infer_task(reference) if task in (None, "auto") else Task.of(str(task))
            framework_name = _framework.determine_framework(reference, framework=framework)
            return library.load(reference, library_task, framework_name, trust_remote_code=trust_remote_code)
        # The model type tells which class loads it; a Hub model's config is not fetched for that alone.
        config = reference.config_at_hand() or {}
        if isinstance(task, Task):  # canonical already (the pipeline's): no backend's table is asked again
            canonical = task
        elif task is None or task == "auto":
            canonical = _inference.infer_task(reference)
        else:
            canonical = TasksManager.task_for_model_type(task, config.get("model_type"))
        plugin = get_framework(_framework.determine_framework(reference, framework=framework))
        model_class = TasksManager._model_class_for(canonical, plugin.name, config)
        location, load_revision, cache_dir = TasksManager._load_location(reference)
        return plugin.load_model(
            model_class,
            location,
            subfolder=reference.subfolder,
            revision=load_revision,
            cache_dir=cache_dir,
            trust_remote_code=trust_remote_code,
            **model_kwargs,
        )

    @staticmethod
    def _load_location(reference: ModelReference) -> tuple[str, str | None, str | None]:
        """Where, at which revision and with which cache folder a framework loads the model.

        A Hub model uses the cache that modelexport itself reads; offline it loads from its
        cached snapshot folder, so no library gets to try the network.
        """
        source = reference.source
        given_cache = os.fspath(reference.cache_dir) if reference.cache_dir is not None else None
        if source.local_dir is not None:
            return str(source.local_dir), reference.revision, given_cache
        assert source.hub_id is not None
        cache_dir = str(hub.hub_cache_dir(reference.cache_dir))
        if hub.is_offline():
            return str(reference.require_snapshot(within_subfolder=False)), None, cache_dir
        return source.hub_id, reference.pinned_revision(), cache_dir

    @staticmethod
    def get_model_config(
        model: str | os.PathLike[str] | ModelReference,
        cache_dir: str | os.PathLike[str] | None = None,
        revision: str | None = None,
    ) -> dict[str, Any]:
        """The checked ``config.json`` of a local or Hub model (or a :class:`ModelReference`), as a dict."""
        return ModelReference.resolve(model, revision=revision, cache_dir=cache_dir).config

    # --- export configs ---------------------------------------------------------------------

    @staticmethod
    def get_supported_backends() -> list[str]:
        """Backends provided by installed packages."""
        return backend_names()

    @staticmethod
    def _library_view(library_name: str | None) -> tuple[str, str | None, tuple[str, ...]]:
        """Where a library's model types live in the registry: (registry library, the one model type every
        model of the library has, or ``None``; the tasks the library exports, empty for all)."""
        if library_name is None or library_name.replace("-", "_") == DEFAULT_LIBRARY:
            return DEFAULT_LIBRARY, None, ()  # answered without any library plugin installed (core + a backend)
        plugin = get_library(library_name)
        return plugin.registry_library, plugin.default_model_type, plugin.tasks

    @staticmethod
    def _entries_for_model_type(
        model_type: str, exporter: str, library_name: str | None = None
    ) -> dict[str, RegistryEntry]:
        ensure_backend_loaded(exporter)
        library, default_type, tasks = TasksManager._library_view(library_name)
        entries = registry.entries_for(exporter, model_type, library)
        if entries is None and default_type is not None:  # timm: every model exports through one config
            entries = registry.entries_for(exporter, default_type, library)
        if entries is not None and tasks:
            entries = {task: entry for task, entry in entries.items() if task in tasks}
        if entries is None:
            known = registry.model_types(exporter, library)
            listing = (
                f"Supported model types: {', '.join(known)}."
                if len(known) <= LISTED_MODEL_TYPES
                else f"{len(known)} model types are supported: `modelexport tasks --backend {exporter}` lists them."
            )
            raise UnknownModelTypeError(
                f"Model type {model_type!r} is not supported by the {exporter} backend."
                f"{did_you_mean(normalize_model_type(model_type), known)} {listing}"
            )
        return entries

    @staticmethod
    def get_supported_tasks_for_model_type(
        model_type: str,
        exporter: str,
        model_name: str | None = None,
        library_name: str | None = None,
        framework: str | None = None,
    ) -> dict[str, ConfigConstructor]:
        """Canonical task -> export-config constructor, for every task ``model_type`` exports to.

        With ``framework``, only tasks that framework can load (its AutoClass table has them and
        the registry entry does not exclude it).
        """
        entries = TasksManager._entries_for_model_type(model_type, exporter, library_name)
        table = None
        if framework and TasksManager._library_view(library_name)[0] == DEFAULT_LIBRARY:
            table = get_framework(framework, require_available=False).autoclass_table()
        result: dict[str, ConfigConstructor] = {}
        for entry in TasksManager._in_task_order(entries):
            if framework is not None and (
                not entry.supports_framework(framework) or (table is not None and Task.of(entry.task).base not in table)
            ):
                continue
            result[entry.task] = bind_task(entry)
        return result

    @staticmethod
    def get_export_notes(model_type: str, exporter: str) -> list[str]:
        """What a user should know about ``exporter``'s exports of ``model_type`` (a fixed image size...).

        Each note once, in task-table order, so a listing says a note shared by every task once.
        """
        entries = TasksManager._entries_for_model_type(model_type, exporter)
        return list(dict.fromkeys(note for entry in TasksManager._in_task_order(entries) for note in entry.notes))

    @staticmethod
    def _in_task_order(entries: dict[str, RegistryEntry]) -> list[RegistryEntry]:
        """The entries sorted like the task table, so every listing shows tasks in one order."""
        order: dict[str, int] = {task: i for i, task in enumerate(_tasks.CANONICAL_TASKS)}
        return [entries[task] for task in sorted(entries, key=lambda t: order.get(t, len(order)))]

    @staticmethod
    def get_supported_model_type_for_task(task: str, exporter: str, library_name: str | None = None) -> list[str]:
        """Model types that ``exporter`` can export for ``task`` (of the library ``library_name``, optimum's name;
        transformers by default)."""
        meant = set(_tasks.tasks_meant_by(task))  # a pipeline name for two tasks: the model types of both
        library, _, tasks = TasksManager._library_view(library_name)
        if tasks:
            meant &= set(tasks)
        ensure_backend_loaded(exporter)
        return sorted({e.model_type for e in registry.all_entries(exporter, library) if e.task in meant})

    @staticmethod
    def infer_library_from_model(
        model: str | os.PathLike[str] | ModelReference,
        subfolder: str = "",
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        library_name: str | None = None,
    ) -> str:
        """The library of a local folder, Hub id or :class:`ModelReference` (optimum's names: ``transformers``,
        ``sentence_transformers``, ``timm``...), from its files: ``library_name`` when given."""
        if library_name is not None:
            return get_library(library_name).name
        reference = ModelReference.resolve(model, subfolder, revision, cache_dir)
        return reference.library.name

    @staticmethod
    def get_exporter_config_constructor(
        exporter: str,
        model: Any = None,
        task: str = "default",
        model_type: str | None = None,
        model_name: str | None = None,
        exporter_config_kwargs: dict[str, Any] | None = None,
        library_name: str | None = None,
    ) -> ConfigConstructor:
        """The export-config constructor of ``(model_type, task)`` for ``exporter``.

        Call it with the model's config to get the export config. Accepts optimum's order
        ``(exporter, model=..., task=..., model_type=...)`` and the short order
        ``(model_type, exporter, task)``. ``model`` may be a loaded model, whose
        ``config.model_type`` is used.
        """
        if isinstance(model, str) and exporter not in backend_names() and model in backend_names():
            exporter, model_type, model = model, exporter, None
        if model_type is None:
            config = getattr(model, "config", None)
            model_type = getattr(config, "model_type", None)
            if model_type is None:
                raise UnknownModelTypeError("Pass model_type, or a loaded model whose config has a model_type.")
        entries = TasksManager._entries_for_model_type(model_type, exporter, library_name)
        canonical = _tasks.task_for_model_type(task, entries)
        entry = entries.get(canonical)
        if entry is None:
            supported = ", ".join(
                TasksManager.get_supported_tasks_for_model_type(model_type, exporter, library_name=library_name)
            )
            raise UnsupportedTaskError(
                f"{exporter} cannot export model type {normalize_model_type(model_type)!r} for task {task!r}. "
                f"Supported tasks for it: {supported}."
            )
        constructor = bind_task(entry)
        if exporter_config_kwargs:
            import functools

            constructor = functools.partial(constructor, **exporter_config_kwargs)
        return constructor
