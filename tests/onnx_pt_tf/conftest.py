"""Cross-framework checks: only where both frameworks, both plugins, both converters and the onnx backend are."""

import importlib.util

_NEEDED = ("torch", "tensorflow", "tf2onnx", "modelexport_pt", "modelexport_tf", "modelexport_onnx", "onnxruntime")
if any(importlib.util.find_spec(m) is None for m in _NEEDED):
    collect_ignore_glob = ["test_*.py"]
