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
from modelexport_pipeline.errors import ExportError

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
    try:
        return dict(zip(names, session.run(None, feed), strict=True))
    except Exception as exc:  # onnxruntime refusing the graph's own computation: the export is wrong, say where
        message = str(exc).strip().splitlines()[0][:400] if str(exc).strip() else type(exc).__name__
        raise ExportError(f"onnxruntime could not run the exported graph: {message}") from exc


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


def has_operator(path: Path, op_type: str) -> bool:
    """Whether the graph at ``path`` has an ``op_type`` node (read without its weights)."""
    import onnx

    return any(node.op_type == op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


#: The operator of a fused decoder attention (``--optimize O2/O3``), whose inputs are defined more narrowly.
FUSED_ATTENTION = "GroupQueryAttention"


def fused_attention_graph(directory: Path, config: OnnxConfig) -> bool:
    """Whether ``directory`` holds a one-file export whose attention is fused (see :func:`fused_attention_feeds`)."""
    return list(config.components()) == ["model"] and has_operator(directory / "model.onnx", FUSED_ATTENTION)


def fused_attention_feeds(config: OnnxConfig, shapes: DummyShapes) -> dict[str, tuple[DummyShapes, dict[str, Any]]]:
    """Inputs a graph with onnxruntime's ``GroupQueryAttention`` is defined on, with their shapes: a prompt without a
    cache (its last row right-padded, as the dummy mask pads it), and one decoding step after a cache, unpadded. (A
    step of several tokens a row after a cache, or left padding, is outside the operator's semantics.)"""
    import numpy as np

    prompt = shapes.with_sizes(past_sequence_length=0)
    step = shapes.with_sizes(sequence_length=1)
    step_inputs = dict(config.generate_dummy_inputs(step, seed=2))
    step_inputs["attention_mask"] = np.ones_like(step_inputs["attention_mask"])
    return {"prompt": (prompt, dict(config.generate_dummy_inputs(prompt, seed=1))), "step": (step, step_inputs)}
