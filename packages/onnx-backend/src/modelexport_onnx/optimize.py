"""Optional graph optimization with onnxruntime (``--optimize O1|O2|O3``).

O1 applies onnxruntime's basic, provider-independent rewrites (constant folding, redundant
node removal); O2 adds the extended fusions (attention, GELU, layer norm: ``com.microsoft``
operators, onnxruntime-only); O3 adds layout optimizations tuned to this machine's CPU. The
optimized model replaces ``model.onnx`` and is what validation checks.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UnsupportedExportOptionError

#: ``--optimize`` level -> onnxruntime's graph optimization level.
LEVELS = {"O1": "ORT_ENABLE_BASIC", "O2": "ORT_ENABLE_EXTENDED", "O3": "ORT_ENABLE_ALL"}
OPTIMIZATION_LEVELS = tuple(LEVELS)


def optimize_model(path: Path, level: str) -> None:
    """Optimize ``path`` in place with onnxruntime's offline graph optimization."""
    import onnxruntime as ort

    if level not in LEVELS:
        raise UnsupportedExportOptionError(f"Unknown optimization level {level!r}; choose one of {', '.join(LEVELS)}.")
    optimized = path.with_name(path.stem + ".optimized.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, LEVELS[level])
    options.optimized_model_filepath = str(optimized)
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    os.replace(optimized, path)
