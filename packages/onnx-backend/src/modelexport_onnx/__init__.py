"""modelexport-onnx: the ONNX backend.

Importing the package is cheap; the configs and their registration live in
:mod:`modelexport_onnx.config`, :mod:`modelexport_onnx.architectures` and
:mod:`modelexport_onnx.registration`.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "OnnxConfig": "modelexport_onnx.config",
    "TextEncoderOnnxConfig": "modelexport_onnx.config",
    "InputSpec": "modelexport_onnx.config",
    "DummyShapes": "modelexport_onnx.dummy_inputs",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'modelexport_onnx' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_LAZY)
