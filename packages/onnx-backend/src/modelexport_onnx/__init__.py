"""modelexport-onnx: the ONNX backend.

Importing the package is cheap; the configs and their registration live in
:mod:`modelexport_onnx.config`, :mod:`modelexport_onnx.architectures` and
:mod:`modelexport_onnx.registration` (the entry point's object).
"""

from __future__ import annotations

from typing import Any

from modelexport_core.lazy import import_attr

__version__ = "0.1.0"

_LAZY = {
    "OnnxConfig": "modelexport_onnx.config",
    "TextEncoderOnnxConfig": "modelexport_onnx.config",
    "InputSpec": "modelexport_onnx.config",
    "DummyShapes": "modelexport_pipeline.dummy_inputs",
}


def __getattr__(name: str) -> Any:
    return import_attr(name, _LAZY, globals())


__all__ = sorted(_LAZY)
