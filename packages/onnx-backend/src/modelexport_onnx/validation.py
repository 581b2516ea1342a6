"""Validation in onnxruntime: run the exported file and compare every output with the framework's own.

The comparison, its bound and the report are the pipeline's (:mod:`modelexport_pipeline.checks`); this module
runs ONNX files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from modelexport_pipeline.checks import OutputCheck, Reference, Tolerance, ValidationReport, compare_outputs
from modelexport_pipeline.dummy_inputs import DummyShapes

from .config import OnnxConfig


def onnx_session(model: Path | bytes) -> Any:
    """A quiet CPU onnxruntime session of an ONNX file, or of a serialized model held in memory."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    threads = os.environ.get("OMP_NUM_THREADS", "")
    if threads.isdigit() and int(threads) > 0:  # this process's share of the cores (export-batch's workers, tests)
        options.intra_op_num_threads = int(threads)
    source = model if isinstance(model, bytes) else str(model)
    return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])


def run_onnx(session: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``session`` on the inputs it takes (extra ones, such as unused masks, are left out)."""
    expected_inputs = {i.name for i in session.get_inputs()}
    feed = {name: value for name, value in inputs.items() if name in expected_inputs}
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feed), strict=True))


def used_dimensions(config: OnnxConfig, shapes: DummyShapes) -> dict[str, int]:
    """The sizes of the named dimensions the config's inputs use (for the report)."""
    used = {axis for spec in config.input_specs() for axis in spec.axes if isinstance(axis, str) and "+" not in axis}
    return {d: config.dimension_size(shapes, d) for d in sorted(used)}


def validate(
    onnx_path: Path,
    config: OnnxConfig,
    run_reference: Callable[[Mapping[str, Any]], Reference],
    shapes: DummyShapes,
    tolerance: Tolerance,
    seed: int = 1,
    inputs: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """Run ``onnx_path`` and the framework (``run_reference``) on the same inputs; compare.

    ``inputs``: real inputs (speech, a photograph, tokenized text) by ONNX input name; by default, dummy inputs
    of ``shapes``.
    """
    if inputs is None:
        inputs = config.generate_dummy_inputs(shapes, seed=seed)
    onnx_outputs = run_onnx(onnx_session(onnx_path), inputs)
    report = compare_outputs(onnx_outputs, run_reference(inputs), tolerance, used_dimensions(config, shapes))
    for name in config.outputs:
        if name not in onnx_outputs:
            report.outputs.append(OutputCheck(name, [], None, None, False, "missing from the ONNX graph"))
    return report
