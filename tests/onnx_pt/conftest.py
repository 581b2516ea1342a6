"""ONNX exports from PyTorch: only where torch, the pt plugin and the onnx backend are installed."""

import importlib.util

if any(importlib.util.find_spec(m) is None for m in ("torch", "modelexport_pt", "modelexport_onnx", "onnxruntime")):
    collect_ignore_glob = ["test_*.py"]
