"""ONNX exports from TensorFlow: only where TensorFlow, the tf plugin, tf2onnx and the onnx backend are installed."""

import importlib.util

_NEEDED = ("tensorflow", "tf2onnx", "modelexport_tf", "modelexport_onnx", "onnxruntime")
if any(importlib.util.find_spec(m) is None for m in _NEEDED):
    collect_ignore_glob = ["test_*.py"]
