"""One converter module per framework, named after it (``pt``, ``tf``), imported only when used.

A converter module provides ``convert(model, config, path, options) -> None``: it writes the raw
exported graph to ``path`` (external data may land beside it) and leaves post-processing to
:mod:`modelexport_onnx.postprocess`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from modelexport_core.plugins import install_hint

from ..errors import ExportError


def converter_for(framework: str) -> ModuleType:
    """The converter module of ``framework``, or a clear error when the backend has none."""
    try:
        return importlib.import_module(f"{__name__}.{framework}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{framework}":
            raise ExportError(f"The onnx backend has no converter for framework {framework!r}.") from exc
        raise ExportError(
            f"The onnx converter for {framework!r} needs {exc.name}, which is not installed. {install_hint(framework)}"
        ) from exc
