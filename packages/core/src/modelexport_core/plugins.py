"""Plugin discovery through entry points, lazy and cached.

Two entry-point groups make modelexport extensible without core naming any plugin:

* ``modelexport.frameworks``: each entry names an object following :class:`FrameworkPlugin`
  (PyTorch and TensorFlow ship as ``modelexport-pt`` and ``modelexport-tf``).
* ``modelexport.backends``: each entry names an object following
  :class:`~modelexport_core.registry.BackendPlugin`; core asks it to register
  ``(model_type, task) -> export config`` into the registry core owns, for the backend the entry
  is named after. Several distributions may publish an entry of the same name: all register, so a
  third-party package can add architectures to the ``onnx`` backend.

Both kinds are checked against their protocol once loaded, and a broken one is named. Entry points
are read once, under a lock, the first time they are needed; loading a plugin never imports torch,
TensorFlow or transformers. The state lives in a :class:`Plugins` object: the process uses
:data:`plugins`, a test can make a fresh one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any, Protocol, runtime_checkable

from .errors import BackendNotInstalledError, FrameworkNotInstalledError, PluginLoadError
from .registry import BackendPlugin, ExporterConfigRegistry, registry

FRAMEWORKS_GROUP = "modelexport.frameworks"
BACKENDS_GROUP = "modelexport.backends"

#: Name of the distribution that conventionally provides a plugin called ``name``.
DISTRIBUTION_PREFIX = "modelexport-"


@runtime_checkable
class FrameworkPlugin(Protocol):
    """What a framework contributes: its AutoClass table, weight files, model loading and generation."""

    name: str
    display_name: str
    distribution: str
    priority: int
    weight_files: tuple[str, ...]

    def autoclass_table(self) -> Mapping[str, str | tuple[str, ...]]:
        """Canonical base task -> AutoClass name (or names tried in order)."""
        ...

    def is_available(self) -> bool:
        """Whether the framework's libraries are importable (checked without importing)."""
        ...

    def missing_requirements(self) -> list[str]:
        """Top-level modules the framework needs that are not installed."""
        ...

    def resolve_class(self, names: str | tuple[str, ...]) -> type:
        """Import the library and return the first class of ``names`` that exists."""
        ...

    def load_model(self, model_class: type, model: str, **kwargs: Any) -> Any:
        """Load ``model`` (a local directory or a Hub id) with ``model_class``."""
        ...

    def owns_model(self, model: Any) -> bool:
        """Whether ``model`` (an instance or a class) belongs to this framework."""
        ...

    def generate(self, model: Any, inputs: Mapping[str, Any], max_new_tokens: int, pad_token_id: int) -> Any:
        """Plain greedy generation on numpy inputs: numpy token ids (the reference of generation checks)."""
        ...


@runtime_checkable
class ModelClassResolver(Protocol):
    """A framework that can tell which class loads a given model type (optional for a framework plugin)."""

    def resolve_model_class(self, names: str | tuple[str, ...], model_type: str, fallbacks: tuple[str, ...]) -> type:
        """The first auto class of ``names`` that maps ``model_type``; where none does, the first of
        ``fallbacks`` (the config's own architecture classes of the task, named as in PyTorch) that exists."""
        ...


class _EntryPointCache:
    """Entry points of one group, read once and shared by every thread."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._lock = threading.RLock()
        self._entry_points: tuple[metadata.EntryPoint, ...] | None = None

    def entry_points(self) -> tuple[metadata.EntryPoint, ...]:
        if self._entry_points is None:
            with self._lock:
                if self._entry_points is None:
                    self._entry_points = entry_points_of(self.group)
        return self._entry_points

    def names(self) -> list[str]:
        return sorted({ep.name for ep in self.entry_points()})


def load_checked(ep: metadata.EntryPoint, check: Callable[[Any], bool], interface: str) -> Any:
    """The object ``ep`` names, loaded and then checked (as opentelemetry checks ``issubclass`` after
    ``ep.load()``): one loader for every group, so a broken or wrong plugin is named the same way everywhere.

    ``check`` says whether the object fits; ``interface`` is what the message says it should have provided.
    """
    try:
        loaded = ep.load()
    except Exception as exc:  # a broken plugin must say which one it is
        raise PluginLoadError(
            f"The {ep.group} plugin {ep.name!r} ({ep.value}) failed to load: "
            f"{type(exc).__name__}: {exc}. Reinstall or upgrade the package that provides it."
        ) from exc
    if not check(loaded):
        raise PluginLoadError(
            f"The {ep.group} plugin {ep.name!r} ({ep.value}) does not provide {interface}. "
            "Reinstall or upgrade the package that provides it."
        )
    return loaded


def entry_points_of(group: str) -> tuple[metadata.EntryPoint, ...]:
    """The entry points of ``group``, one per (name, value) even where a distribution is on sys.path twice."""
    unique = {(ep.name, ep.value): ep for ep in metadata.entry_points(group=group)}
    return tuple(unique.values())


class Plugins:
    """The installed plugins: framework objects, and backends registered into ``registry`` on first use."""

    def __init__(self, registry: ExporterConfigRegistry) -> None:
        self.registry = registry
        self.framework_entry_points = _EntryPointCache(FRAMEWORKS_GROUP)
        self.backend_entry_points = _EntryPointCache(BACKENDS_GROUP)
        self._lock = threading.RLock()
        self._frameworks: dict[str, FrameworkPlugin] | None = None
        self._loaded_backends: set[str] = set()
        #: Backend name -> the object of its own package's entry point (the first to register).
        self._backends: dict[str, BackendPlugin] = {}

    def backend(self, name: str) -> BackendPlugin:
        """The backend object of ``name`` (its own package's entry point), registered first if need be."""
        self.ensure_backend_loaded(name)
        plugin = self._backends.get(name)
        if plugin is None:
            known = ", ".join(self.backend_names()) or "none"
            raise BackendNotInstalledError(
                f"Backend {name!r} has registrations but no installed package exports through it (installed "
                f"backends: {known}). {install_hint(name)}"
            )
        return plugin

    def frameworks(self) -> dict[str, FrameworkPlugin]:
        """Framework name -> plugin object, loaded and checked once."""
        if self._frameworks is None:
            with self._lock:
                if self._frameworks is None:
                    found: dict[str, FrameworkPlugin] = {}
                    for ep in self.framework_entry_points.entry_points():
                        plugin = load_checked(
                            ep,
                            lambda obj: isinstance(obj, FrameworkPlugin),
                            "the FrameworkPlugin interface (name, weight_files, autoclass_table, is_available, "
                            "load_model, generate, ...)",
                        )
                        found.setdefault(ep.name, plugin)
                    self._frameworks = found
        return self._frameworks

    def backend_names(self) -> list[str]:
        return self.backend_entry_points.names()

    def ensure_backend_loaded(self, name: str) -> None:
        """Ask every entry point of backend ``name`` to register into the registry, once.

        Raises :class:`BackendNotInstalledError` when no installed package provides it.
        """
        if name in self._loaded_backends:
            return
        with self._lock:
            if name in self._loaded_backends:
                return
            entries = [ep for ep in self.backend_entry_points.entry_points() if ep.name == name]
            if not entries:
                if self.registry.has_backend(name):  # registered by hand (decorator), no package
                    self._loaded_backends.add(name)
                    return
                known = ", ".join(self.backend_names()) or "none"
                raise BackendNotInstalledError(
                    f"Backend {name!r} is not installed (installed backends: {known}). {install_hint(name)}"
                )
            # The package named after the backend registers first, third-party additions after.
            entries.sort(key=lambda ep: (ep.dist is None or ep.dist.name != DISTRIBUTION_PREFIX + name, ep.value))
            for ep in entries:
                plugin = load_checked(
                    ep,
                    lambda obj: isinstance(obj, BackendPlugin),
                    "register(registry): a modelexport.backends entry point names an object that registers its "
                    "export configs",
                )
                plugin.register(self.registry)
                self._backends.setdefault(name, plugin)  # entries are sorted: the backend's own package first
            self._loaded_backends.add(name)


#: The plugins of this process, registering into core's :data:`~modelexport_core.registry.registry`.
plugins = Plugins(registry)


def framework_plugins() -> list[FrameworkPlugin]:
    """Every installed framework plugin, most preferred first (lowest priority number)."""
    return sorted(plugins.frameworks().values(), key=lambda p: (p.priority, p.name))


def framework_names() -> list[str]:
    """Names of the installed framework plugins, most preferred first."""
    return [p.name for p in framework_plugins()]


#: How to install modelexport's own plugins: the facade's extras, from the root of a clone, pinned by the
#: README's constraints files. No package index serves the split distributions (``modelexport-pt``...),
#: so a hint naming one would send a new user to a command that cannot work.
CLONE_INSTALL_COMMANDS: Mapping[str, str] = {
    "pt": 'pip install -c constraints/pt.txt ".[pt,onnx]"',
    "tf": 'pip install -c constraints/tf.txt ".[tf,onnx]" tf2onnx',
    "onnx": 'pip install -c constraints/core.txt ".[onnx]"',
}


def install_hint(name: str) -> str:
    """A sentence saying how to get the plugin called ``name``, with a command that works from a clone.

    For a name modelexport does not ship, it says so and how a third-party package would add one,
    instead of guessing a distribution name that no index serves.
    """
    command = CLONE_INSTALL_COMMANDS.get(name)
    if command is not None:
        return f"From the root of a modelexport clone: `{command}`."
    own = ", ".join(sorted(CLONE_INSTALL_COMMANDS))
    return (
        f"modelexport itself has no plugin called {name!r} (its own: {own}); a third-party package adds one "
        f"through the `{FRAMEWORKS_GROUP}` or `{BACKENDS_GROUP}` entry-point group."
    )


def requirements_hint(name: str, distribution: str, missing: list[str]) -> str:
    """A sentence saying how to install the ``missing`` modules the plugin ``name`` (from ``distribution``) needs."""
    if name in CLONE_INSTALL_COMMANDS:
        return install_hint(name)
    return f"Install {', '.join(missing)} (what {distribution} requires) into this environment."


def get_framework(name: str, *, require_available: bool = True) -> FrameworkPlugin:
    """The framework plugin called ``name``.

    Raises :class:`FrameworkNotInstalledError` when no plugin has that name, or when its
    libraries are missing and ``require_available`` is set.
    """
    found = plugins.frameworks()
    key = name.strip().lower() if isinstance(name, str) else name
    plugin = found.get(key)
    if plugin is None:
        installed = ", ".join(sorted(found)) or "none"
        raise FrameworkNotInstalledError(
            f"Framework {name!r} is not installed (installed frameworks: {installed}). {install_hint(str(key))}"
        )
    if require_available and not plugin.is_available():
        missing = ", ".join(plugin.missing_requirements())
        raise FrameworkNotInstalledError(
            f"Framework {plugin.name!r} ({plugin.display_name}) needs {missing}, which "
            f"{'is' if ',' not in missing else 'are'} not installed. "
            f"{requirements_hint(plugin.name, plugin.distribution, plugin.missing_requirements())}"
        )
    return plugin


def backend_names() -> list[str]:
    """Names of the backends some installed package provides (nothing is imported)."""
    return plugins.backend_names()


def get_backend(name: str) -> BackendPlugin:
    """The object of backend ``name``'s own entry point (what the pipeline checks against its ``Backend``)."""
    return plugins.backend(name)


def ensure_backend_loaded(name: str) -> None:
    """Have backend ``name`` registered into core's registry, once (see :meth:`Plugins.ensure_backend_loaded`)."""
    plugins.ensure_backend_loaded(name)
