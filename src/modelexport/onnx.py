"""``modelexport.onnx``: the ONNX backend's Python API (needs ``modelexport[onnx]``).

``export(model, config, path)`` exports a loaded model; ``main_export(name, output_dir)`` does
the whole job from a local directory or Hub id; ``validate_export`` compares a file with the
framework's outputs. Resolved on first use, so importing the facade stays cheap.
"""

from __future__ import annotations

from typing import Any

from modelexport_core.lazy import import_attr
from modelexport_core.plugins import install_hint

_LAZY = {
    "export": "modelexport_onnx.export",
    "validate_export": "modelexport_onnx.export",
    "ExportResult": "modelexport_onnx.export",
    "main_export": "modelexport_onnx.main_export",
    "MainExportResult": "modelexport_onnx.main_export",
    "OnnxConfig": "modelexport_onnx.config",
    "TextEncoderOnnxConfig": "modelexport_onnx.config",
    "ValidationError": "modelexport_pipeline.errors",
    "ExportError": "modelexport_pipeline.errors",
}


def __getattr__(name: str) -> Any:
    return import_attr(name, _LAZY, globals(), needs=f"needs the ONNX backend. {install_hint('onnx')}")


__all__ = sorted(_LAZY)
