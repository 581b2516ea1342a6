"""One :class:`Converter` per framework: everything the backend knows of a framework lives in it.

A converter turns a loaded model of its framework into an ONNX graph, and runs the same model
for the reference outputs validation compares against. It is also the one place that holds the
framework's facts: which conversion paths it offers (``torchscript`` and ``dynamo`` for PyTorch,
``tf2onnx`` for TensorFlow; the ``--exporter`` values), which one ``auto`` picks for an
architecture, their opset floors and ceilings, whether fp16 is possible.

Each converter package is imported only when its framework is used, and its ``__init__`` imports
neither the framework nor the converting library: the option checks that run before a model is
loaded ask it questions within a fraction of a second. The heavy modules are imported by its
``convert`` and ``run_reference`` methods.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from modelexport_core.plugins import install_hint
from modelexport_pipeline.errors import ExportError

if TYPE_CHECKING:
    from modelexport_pipeline.checks import Reference

    from ..config import OnnxConfig
    from ..options import ExportOptions


@runtime_checkable
class Converter(Protocol):
    """Converts the models of one framework, and knows that framework's limits."""

    #: The framework plugin name (``pt``, ``tf``).
    framework: str
    #: The conversion paths this converter offers (``--exporter`` values), most preferred first.
    names: tuple[str, ...]
    #: Top-level modules converting needs (checked with ``find_spec``, never imported here).
    required_modules: tuple[str, ...]

    def automatic(self, config: OnnxConfig | None) -> str | None:
        """The path ``auto`` picks for ``config``, decided without importing the framework.

        ``None``: it cannot be told without the architecture's config (it failed to build from
        the plain ``config.json``); the export decides again once the model is loaded.
        """
        ...

    def opset_floor(self, name: str) -> int:
        """The lowest opset the path ``name`` can emit (the architecture may need more)."""
        ...

    def preferred_opset(self, name: str) -> int:
        """The opset the path ``name`` exports at when none is asked for and the architecture needs less: where
        a newer opset has single operators for what older ones spell out in many (``--opset`` still chooses)."""
        ...

    def check_options(self, *, opset: int | None, name: str | None, dtype: str, model_type: str = "") -> None:
        """Refuse what this framework cannot honour, before loading and without importing it.

        ``name`` is the path the export will take (``None``: not known yet); ``model_type``: the model's, where a
        path cannot export some architectures.
        """
        ...

    def export_notes(self, model_type: str) -> list[str]:
        """What a user should know of ``model_type``'s exports through this converter (the registry listing's
        notes: a path ``auto`` takes for it, a path that cannot export it), decided without importing anything."""
        ...

    def check_loaded(self, options: ExportOptions) -> None:
        """The checks only the imported framework can make (a working CUDA device for fp16...)."""
        ...

    def convert(self, model: Any, config: OnnxConfig, path: Path, options: ExportOptions) -> str | None:
        """Write the raw exported graph of ``model`` to ``path`` (external data may land beside it); a note on what
        the conversion chose that the user should read (``--optimize``'s fused attention, or why not), if any."""
        ...

    def run_reference(self, model: Any, config: OnnxConfig, inputs: Mapping[str, Any]) -> Reference:
        """The framework's own outputs for ONNX-named numpy inputs, under the ONNX output names:
        in float32 as exported and, where the framework can, in float64 (validation's reference)."""
        ...

    def kind_module(self, name: str) -> Any:
        """The converter's module for a special kind (:mod:`..kinds`): what it exports and its reference runs."""
        ...


@runtime_checkable
class StreamsWeights(Protocol):
    """A converter that can export a model larger than memory: traced without its weights, which go from the
    checkpoint's shards into the file, and validated layer by layer (``--max-memory``; :mod:`..streamed`)."""

    def streaming(self) -> Any:
        """The module with the framework's side of a streamed export (skeleton, layers, convert, reference)."""
        ...


#: Framework -> the object implementing :class:`Converter` for it (``module:attribute``).
CONVERTERS: Mapping[str, str] = {
    "pt": "modelexport_onnx.converters.pt:converter",
    "tf": "modelexport_onnx.converters.tf:converter",
}


def converter_for(framework: str, *, require_available: bool = True) -> Converter:
    """The converter of ``framework``, or a clear error when the backend has none or it is not installed."""
    target = CONVERTERS.get(framework)
    if target is None:
        raise ExportError(f"The onnx backend has no converter for framework {framework!r}.")
    module_name, _, attribute = target.partition(":")
    converter = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(converter, Converter):
        raise ExportError(f"{target} does not implement the Converter protocol.")
    if require_available:
        missing = missing_modules(converter.required_modules)
        if missing:
            raise ExportError(
                f"The onnx converter for {framework!r} needs {missing[0]}, which is not installed. "
                f"{install_hint(framework)}"
            )
    return converter


def missing_modules(modules: tuple[str, ...]) -> list[str]:
    """The top-level ``modules`` that cannot be found (nothing is imported)."""
    return [name for name in modules if importlib.util.find_spec(name) is None]


def import_heavy(framework: str, module: str) -> Any:
    """Import a converter's heavy ``module``, turning a missing library into ``framework``'s install hint."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ExportError(
            f"The onnx converter for {framework!r} needs {exc.name}, which is not installed. {install_hint(framework)}"
        ) from exc
