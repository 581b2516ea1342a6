"""``modelexport.onnx``: the ONNX backend's Python API (needs ``modelexport[onnx]``).

``export(model, config, path)`` exports a loaded model; ``main_export(name, output_dir)`` does
the whole job from a local directory or Hub id; ``validate_export`` compares a file with the
framework's outputs. Resolved on first use, so importing the facade stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelexport_core.lazy import import_attr
from modelexport_core.plugins import install_hint

if TYPE_CHECKING:  # what a user's type checker sees: the real signatures (langchain-core's lazy facade does so)
    from modelexport_onnx.config import OnnxConfig as OnnxConfig
    from modelexport_onnx.config import TextEncoderOnnxConfig as TextEncoderOnnxConfig
    from modelexport_onnx.export import ExportResult as ExportResult
    from modelexport_onnx.export import export as export
    from modelexport_onnx.export import validate_export as validate_export
    from modelexport_onnx.main_export import MainExportResult as MainExportResult
    from modelexport_onnx.main_export import main_export as main_export
    from modelexport_pipeline.errors import ExportError as ExportError
    from modelexport_pipeline.errors import ValidationError as ValidationError

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


def __getattr__(name: str) -> Any:  # at run time: imported on first use
    return import_attr(name, _LAZY, globals(), needs=f"needs the ONNX backend. {install_hint('onnx')}")


__all__ = sorted(_LAZY)
