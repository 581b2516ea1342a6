"""Typed errors of modelexport.

Every error a user can cause derives from :class:`ModelExportError`, so a command-line front
end can print its message without a traceback. Each class also derives from the builtin
exception a Python caller would expect (``ValueError``, ``FileNotFoundError``, ...), so code
written against optimum's exporters keeps catching what it used to.
"""

from __future__ import annotations

from collections.abc import Iterable


class ModelExportError(Exception):
    """Base of every error modelexport raises on purpose."""


class UnknownTaskError(ModelExportError, KeyError):
    """A task name that is neither a canonical task nor a synonym of one."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UnsupportedTaskError(ModelExportError, ValueError):
    """A known task that the model type (or framework) cannot be exported for."""


class UnknownModelTypeError(ModelExportError, ValueError):
    """A model type that no installed backend has an export config for."""


class BackendNotInstalledError(ModelExportError, ImportError):
    """No package provides the backend that was asked for."""


class FrameworkNotInstalledError(ModelExportError, ImportError):
    """The framework asked for (or needed by the weights) is not installed."""


class FrameworkNotDeterminedError(ModelExportError, ValueError):
    """No framework could be chosen for a model."""


class ModelNotFoundError(ModelExportError, FileNotFoundError):
    """A local path that does not exist, or a Hub repository that does not."""


class InvalidModelConfigError(ModelExportError, ValueError):
    """A model directory whose ``config.json`` is missing, unreadable or incomplete."""


class InvalidModelIdError(ModelExportError, ValueError):
    """A string that is neither an existing path nor a valid Hub repository id."""


class HubUnavailableError(ModelExportError, ConnectionError):
    """The Hub cannot be reached (or ``HF_HUB_OFFLINE`` is set) and the model is not cached."""


class TaskInferenceError(ModelExportError, ValueError):
    """The task of a model could not be inferred: the user must pass it."""


class PluginLoadError(ModelExportError, ImportError):
    """An installed plugin's entry point failed to load."""


class ModelLoadError(ModelExportError, RuntimeError):
    """The framework failed to load the model's weights (the cause is chained and named)."""


def did_you_mean(word: str, candidates: Iterable[str], limit: int = 3) -> str:
    """Return a ``" Did you mean ...?"`` sentence for close matches, or ``""``."""
    import difflib

    matches = difflib.get_close_matches(word, sorted(set(candidates)), n=limit, cutoff=0.6)
    if not matches:
        return ""
    return " Did you mean " + " or ".join(repr(m) for m in matches) + "?"
