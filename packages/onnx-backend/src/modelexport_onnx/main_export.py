"""``main_export``: optimum's entry point by name, an ONNX export through the backend-neutral pipeline.

The steps (resolve, load, configure, convert, post-process, validate, publish) are the pipeline's
(:mod:`modelexport_pipeline.run`); what is ONNX about them is :mod:`.backend`'s plan.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from modelexport_core.model_source import ModelReference
from modelexport_pipeline.backend import ExportResult
from modelexport_pipeline.request import ExportRequest
from modelexport_pipeline.run import check_request, run_export

from .backend import backend
from .options import DEFAULT_CONVERTER

#: optimum's name for what an export returns.
MainExportResult = ExportResult


def main_export(
    model_name_or_path: str | os.PathLike[str] | ModelReference,
    output: str | os.PathLike[str],
    task: str = "auto",
    *,
    framework: str | None = None,
    opset: int | None = None,
    atol: float | None = None,
    converter: str = DEFAULT_CONVERTER,
    dynamic_axes: bool = True,
    batch_size: int | None = None,
    sequence_length: int | None = None,
    dtype: str = "fp32",
    optimize: str | None = None,
    quantize: str | None = None,
    block_size: int | None = None,
    accuracy_level: int | None = None,
    quantize_lm_head: bool = True,
    lm_head_bits: int | None = None,
    report: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    cache_dir: str | None = None,
    revision: str | None = None,
    subfolder: str = "",
    trust_remote_code: bool = False,
    generation_check: bool = True,
    library: str = "auto",
    wait: bool = False,
    max_memory: int | None = None,
    layout: str = "auto",
    progress: Callable[[str], None] | None = print,
) -> ExportResult:
    """Export ``model_name_or_path`` (local directory, Hub id or resolved reference) to ONNX in ``output``, validated.

    ``converter`` is the conversion path (``--exporter`` on the command line). ``library``: ``auto`` exports what
    the files are (a sentence-transformers checkpoint, ``modules.json``, as its whole embedding pipeline; a timm
    folder as timm's model), ``transformers`` the transformers model alone, ``sentence_transformers`` insists on
    the pipeline. ``quantize``: ``dynamic`` (int8 weights and activations), ``int8`` or ``int4`` (weight-only
    ``MatMulNBits``, blocks of ``block_size`` inputs, ``accuracy_level``; the LM head at ``lm_head_bits`` (8 by
    default) unless ``quantize_lm_head`` is off; the embedding tables stay float32).
    """
    request = onnx_request(
        output,
        task,
        framework=framework,
        opset=opset,
        atol=atol,
        converter=converter,
        dynamic_axes=dynamic_axes,
        batch_size=batch_size,
        sequence_length=sequence_length,
        dtype=dtype,
        optimize=optimize,
        quantize=quantize,
        block_size=block_size,
        accuracy_level=accuracy_level,
        quantize_lm_head=quantize_lm_head,
        lm_head_bits=lm_head_bits,
        report=report,
        overwrite=overwrite,
        trust_remote_code=trust_remote_code,
        generation_check=generation_check,
        library=library,
        wait=wait,
        max_memory=max_memory,
        layout=layout,
    )
    check_request(request, backend)  # before the model reference is even looked at
    return run_export(ModelReference.resolve(model_name_or_path, subfolder, revision, cache_dir), request, progress)


def onnx_request(
    output: str | os.PathLike[str],
    task: str = "auto",
    *,
    opset: int | None = None,
    converter: str = DEFAULT_CONVERTER,
    optimize: str | None = None,
    quantize: str | None = None,
    block_size: int | None = None,
    accuracy_level: int | None = None,
    quantize_lm_head: bool = True,
    lm_head_bits: int | None = None,
    report: str | os.PathLike[str] | None = None,
    framework: str | None = None,
    atol: float | None = None,
    dynamic_axes: bool = True,
    batch_size: int | None = None,
    sequence_length: int | None = None,
    dtype: str = "fp32",
    overwrite: bool = False,
    trust_remote_code: bool = False,
    generation_check: bool = True,
    library: str = "auto",
    wait: bool = False,
    max_memory: int | None = None,
    layout: str = "auto",
) -> ExportRequest:
    """The pipeline's request of an ONNX export: the shared options, and the ONNX ones in ``options``."""
    own: dict[str, Any] = {"opset": opset, "converter": converter, "optimize": optimize, "quantize": quantize}
    quantizing = {
        "block_size": block_size,
        "accuracy_level": accuracy_level,
        "quantize_lm_head": None if quantize_lm_head else False,
        "lm_head_bits": lm_head_bits,
    }
    own.update({name: value for name, value in quantizing.items() if value is not None})  # only what was asked
    return ExportRequest(
        output_dir=Path(output).expanduser().absolute(),
        backend="onnx",
        task=task,
        framework=framework,
        atol=atol,
        dynamic_axes=dynamic_axes,
        batch_size=batch_size,
        sequence_length=sequence_length,
        dtype=dtype,
        report=Path(report) if report is not None else None,
        overwrite=overwrite,
        trust_remote_code=trust_remote_code,
        generation_check=generation_check,
        library=library,
        wait=wait,
        max_memory=max_memory,
        layout=layout,
        options={key: value for key, value in own.items() if value is not None},
    )
