"""``modelexport.onnx``: the ONNX backend's Python API (needs ``modelexport[onnx]``).

``export(model, config, path)`` exports a loaded model; ``main_export(name, output_dir)`` does
the whole job from a local directory or Hub id; ``validate_export`` compares a file with the
framework's outputs. Resolved on first use, so importing the facade stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "export": "modelexport_onnx.export",
    "validate_export": "modelexport_onnx.export",
    "ExportResult": "modelexport_onnx.export",
    "main_export": "modelexport_onnx.main_export",
    "MainExportResult": "modelexport_onnx.main_export",
    "OnnxConfig": "modelexport_onnx.config",
    "TextEncoderOnnxConfig": "modelexport_onnx.config",
    "ValidationError": "modelexport_onnx.errors",
    "ExportError": "modelexport_onnx.errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelexport.onnx' has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith("modelexport_onnx"):
            from modelexport_core.plugins import install_hint

            raise ImportError(f"modelexport.onnx needs the ONNX backend. {install_hint('onnx')}") from exc
        raise
    globals()[name] = value
    return value


__all__ = sorted(_LAZY)
