"""A ready-made :class:`~modelexport_core.plugins.FrameworkPlugin` for transformers-based frameworks.

PyTorch and TensorFlow differ in their AutoClass table, their weight files and the way a
model is loaded and generates: each plugin package names its *loading module* (a
:class:`FrameworkLoading`), imported the first time a model is loaded. Everything else
(availability checks without importing, resolving AutoClass names, load errors) is the same and
lives here. Nothing is imported at module import time.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from .errors import FrameworkNotInstalledError, ModelExportError, ModelLoadError, UnsupportedTaskError
from .plugins import requirements_hint

#: ``generate`` keyword arguments that make decoding plain greedy argmax, whatever the checkpoint's
#: generation config enables: no EOS stop, no forced BOS/EOS, bad words, suppressed tokens or
#: repetition penalties. Exported models are checked against these tokens, in every framework.
PLAIN_GREEDY_KWARGS: Mapping[str, Any] = {
    "eos_token_id": None,
    "forced_eos_token_id": None,
    "forced_bos_token_id": None,
    "bad_words_ids": None,
    "suppress_tokens": None,
    "begin_suppress_tokens": None,
    "no_repeat_ngram_size": 0,
    "repetition_penalty": 1.0,
    "min_length": 0,
    "do_sample": False,
    "num_beams": 1,
}


class Pretrained(Protocol):
    """A transformers model class, as the loaders use it."""

    def from_pretrained(self, model: str, **kwargs: Any) -> Any: ...


class FrameworkLoading(Protocol):
    """The loading module of a framework plugin: the functions that import the framework."""

    def prepare_import(self) -> None:
        """Called before transformers is first imported (to select tf-keras, quieten logs...)."""
        ...

    def load_model(self, model_class: type, model: str, **kwargs: Any) -> Any:
        """``model_class.from_pretrained(model, **kwargs)`` with the framework's safe defaults."""
        ...

    def generate_greedy(self, model: Any, inputs: Mapping[str, Any], max_new_tokens: int, pad_token_id: int) -> Any:
        """Plain greedy ``generate`` on numpy inputs, numpy ids back."""
        ...


def _maps(auto_class: type, model_type: str) -> bool:
    """Whether ``auto_class`` loads ``model_type`` (a class that is no auto class loads what it loads)."""
    mapping = getattr(getattr(auto_class, "_model_mapping", None), "_model_mapping", None)
    return not isinstance(mapping, Mapping) or model_type in mapping


@dataclass(frozen=True)
class TransformersFramework:
    """Framework plugin whose models are transformers classes of one framework."""

    name: str
    display_name: str
    distribution: str
    priority: int
    weight_files: tuple[str, ...]
    required_modules: tuple[str, ...]
    table: Mapping[str, str | tuple[str, ...]]
    #: The module (following :class:`FrameworkLoading`) that loads models and generates, imported on first use.
    loading: str
    #: Module prefixes whose classes belong to this framework (for :meth:`owns_model`).
    base_class_paths: tuple[tuple[str, str], ...] = field(default=())
    #: What this framework's transformers class names start with (``TF``), before the PyTorch class name.
    class_prefix: str = ""

    def autoclass_table(self) -> Mapping[str, str | tuple[str, ...]]:
        return self.table

    def missing_requirements(self) -> list[str]:
        return [m for m in self.required_modules if importlib.util.find_spec(m) is None]

    def is_available(self) -> bool:
        return not self.missing_requirements()

    def _transformers(self) -> Any:
        missing = self.missing_requirements()
        if missing:
            raise FrameworkNotInstalledError(
                f"{self.display_name} models need {', '.join(missing)}. "
                f"{requirements_hint(self.name, self.distribution, missing)}"
            )
        self._loading().prepare_import()
        return importlib.import_module("transformers")

    def _loading(self) -> FrameworkLoading:
        return cast(FrameworkLoading, importlib.import_module(self.loading))

    def resolve_class(self, names: str | tuple[str, ...]) -> type:
        found = self._classes(names)
        return found[0]

    def resolve_model_class(self, names: str | tuple[str, ...], model_type: str, fallbacks: tuple[str, ...]) -> type:
        found = self._classes(names)
        mapping = [cls for cls in found if _maps(cls, model_type)]
        if mapping:
            return mapping[0]
        # No auto class knows the type (PatchTST forecasts with a class of its own): the config's own class
        transformers = self._transformers()
        for name in fallbacks:
            cls = getattr(transformers, self.class_prefix + name, None)
            if isinstance(cls, type):
                return cls
        return found[0]

    def _classes(self, names: str | tuple[str, ...]) -> list[type]:
        """The classes of ``names`` that the installed transformers has, in order; an error when it has none."""
        transformers = self._transformers()
        candidates = (names,) if isinstance(names, str) else tuple(names)
        found = [cls for cls in (getattr(transformers, c, None) for c in candidates) if isinstance(cls, type)]
        if found:
            return found
        version = getattr(transformers, "__version__", "?")
        raise UnsupportedTaskError(
            f"transformers {version} has none of {', '.join(candidates)} for {self.display_name}; "
            "this task needs another transformers version (see the install matrix in the README)."
        )

    def load_model(self, model_class: type, model: str, **kwargs: Any) -> Any:
        self._transformers()
        try:
            return self._loading().load_model(model_class, model, **kwargs)
        except ModelExportError:
            raise
        except Exception as exc:  # transformers' own failures: one clear line, the cause chained
            lines = str(exc).strip().splitlines()
            raise ModelLoadError(
                f"{self.display_name} could not load {model!r} with {model_class.__name__}: "
                f"{type(exc).__name__}: {lines[0][:300] if lines else ''}"
            ) from exc

    def generate(self, model: Any, inputs: Mapping[str, Any], max_new_tokens: int, pad_token_id: int) -> Any:
        """Greedy generation by the framework itself, on numpy inputs (the reference of generation checks)."""
        return self._loading().generate_greedy(model, inputs, max_new_tokens, pad_token_id)

    def owns_model(self, model: Any) -> bool:
        import sys

        cls = model if isinstance(model, type) else type(model)
        for module_name, class_name in self.base_class_paths:
            module = sys.modules.get(module_name)
            base = getattr(module, class_name, None) if module is not None else None
            if isinstance(base, type) and issubclass(cls, base):
                return True
        return False
