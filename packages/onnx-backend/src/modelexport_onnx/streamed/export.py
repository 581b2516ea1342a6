"""The export of a model larger than the memory it may use (``--max-memory``), and what its validation compares.

Chosen when the export's expected peak (:func:`..memory.expected_bytes` of the checkpoint's weights) exceeds the
limit. The model is traced without its weights; the weights go from the safetensors shards straight into
``model.onnx_data`` (:mod:`.weights`). Validation cannot run the whole graph at once, in onnxruntime or in
PyTorch, so it runs both by layers on dummy inputs of the validation shapes:

- onnxruntime runs the exported graph segment by segment (:mod:`.segments`): the nodes before the first layer,
  each layer, the head; each segment's session loads only its own weights;
- PyTorch runs the model's own forward with each module's weights loaded from the shards as it starts and
  dropped as it ends (:mod:`..converters.pt.streamed`);
- compared: every layer's output hidden states (``layers.N``) and every graph output (logits, the cache), each
  against a bound relative to its magnitude (no float64 run: the model does not fit twice).

What it does not do: ``--optimize``, ``--quantize``, the dynamo exporter, encoder-decoder files and the greedy
generation check (each would need the whole model at once); asking for them with a limit that streams fails
before anything is loaded.
"""

from __future__ import annotations

import importlib
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelexport_core import TasksManager

from ..dummy_inputs import EXPORT_SHAPES
from ..errors import UnsupportedExportOptionError
from ..export import resolve_options
from ..memory import expected_bytes
from ..staging import replacement, staged_directory, write_record
from ..validation import Reference, Tolerance, compare_outputs, raise_if_failed
from .segments import run_by_segments
from .weights import attach_weights, checkpoint_index

if TYPE_CHECKING:
    from ..main_export import ExportRequest, MainExportResult, Progress, Resolved

DATA_NAME = "model.onnx_data"


def streaming_needed(resolved: Resolved, request: ExportRequest) -> int | None:
    """The checkpoint's weight bytes when the export must stream them (its expected peak is beyond
    ``--max-memory``), else ``None``. Reads the shards' headers only."""
    if request.max_memory is None:
        return None
    directory = resolved.reference.local_directory()
    if directory is None or not any(directory.glob("*.safetensors")):
        return None
    weights = sum(tensor.nbytes for tensor in checkpoint_index(directory).values())
    return weights if expected_bytes(weights) > request.max_memory else None


def check_streamable(resolved: Resolved, request: ExportRequest, weights: int) -> None:
    """Refuse, before loading anything, what a streamed export cannot do."""
    allowed = (request.max_memory or 0) / 2**30
    limit = f"{weights / 2**30:.2f} GiB of weights, more than --max-memory {allowed:.2f} GiB allows"
    refused = [
        (resolved.framework != "pt", f"framework {resolved.framework} (PyTorch only)"),
        (request.converter not in ("auto", "torchscript"), f"--exporter {request.converter} (torchscript only)"),
        (bool(request.optimize), "--optimize"),
        (bool(request.quantize), "--quantize"),
        (request.dtype != "fp32", f"--dtype {request.dtype}"),
        (resolved.pipeline is not None, "a sentence-transformers pipeline"),
        (resolved.layout != "flat", f"--layout {resolved.layout} (the flat layout only)"),
        (
            resolved.task.base != "causal-lm",
            f"task {resolved.task} (a streamed export checks a decoder-only language model layer by layer: causal-lm)",
        ),
        (
            _transformers_major() < 5,
            "transformers 4.x (its decoders only export through dynamo; transformers 5 needed)",
        ),
    ]
    for refuse, what in refused:
        if refuse:
            raise UnsupportedExportOptionError(
                f"{resolved.reference.source} has {limit}: it is exported with its weights streamed, which cannot "
                f"honour {what}. Drop that option, or raise --max-memory."
            )


def _transformers_major() -> int:
    from importlib import metadata

    try:
        return int(metadata.version("transformers").split(".")[0])
    except (metadata.PackageNotFoundError, ValueError):
        return 5


def run_streamed_export(
    resolved: Resolved, request: ExportRequest, progress: Progress, weights: int
) -> MainExportResult:
    """Steps 2 to 7 of a streamed export (step 1, resolve, is the usual one)."""
    from ..main_export import MainExportResult, copy_model_files, validation_line

    check_streamable(resolved, request, weights)
    torch_side = importlib.import_module("modelexport_onnx.converters.pt.streamed")
    directory = resolved.reference.require_local_directory()
    index = checkpoint_index(directory)
    model_class = TasksManager.get_model_class_for_task(resolved.task, "pt", model_type=resolved.model_type)
    model = torch_side.skeleton(model_class, directory, request.trust_remote_code)
    progress.step(
        2,
        f"built {type(model).__name__} without its weights ({weights / 2**30:.2f} GiB of weights, expected peak "
        f"{expected_bytes(weights) / 2**30:.2f} GiB > --max-memory {(request.max_memory or 0) / 2**30:.2f} GiB: "
        "streamed from the checkpoint)",
    )
    config = resolved.constructor(model.config)
    if len(config.components()) != 1:
        raise UnsupportedExportOptionError(
            f"{resolved.model_type} exports several files; a streamed export writes one. Raise --max-memory."
        )
    shapes = EXPORT_SHAPES.with_sizes(batch_size=request.batch_size, sequence_length=request.sequence_length)
    options = resolve_options(
        config, opset=request.opset, converter="torchscript", dynamic_axes=request.dynamic_axes, shapes=shapes
    )
    options = replace(options, streamed=True)
    progress.step(3, f"export config {type(config).__name__}: inputs {', '.join(config.inputs)}; opset {options.opset}")
    scope, _ = torch_side.decoder_layers(model)
    with staged_directory(request.output_dir, request.overwrite) as staging:
        progress.step(4, "exporting with torchscript, weights as inputs")
        onnx_path = staging / "model.onnx"
        torch_side_convert(model, config, onnx_path, options)
        wrapper_keys = torch_side.checkpoint_keys(_wrapper(model, config), model, index)
        attach_weights(onnx_path, wrapper_keys, index, DATA_NAME)
        progress.step(5, f"weights streamed from {len({t.shard for t in index.values()})} shard(s) into {DATA_NAME}")
        validation = validate_streamed(onnx_path, model, config, options, index, scope.rsplit(".", 1)[-1], request)
        progress.step(6, validation_line(validation))
        raise_if_failed(validation)
        files = sorted(["model.onnx", DATA_NAME, *copy_model_files(directory, model, staging)])
        write_record(staging, request.record, str(resolved.reference.source), files)
        replaced = replacement(staging, request.output_dir).describe()
        progress.step(7, f"writing {request.output_dir}" + (f"; {replaced}" if replaced else ""))
    return MainExportResult(
        request.output_dir, resolved.task, "pt", resolved.model_type, files, validation, progress.timings
    )


def torch_side_convert(model: Any, config: Any, path: Path, options: Any) -> None:
    with importlib.import_module("modelexport_onnx.converters.pt.streamed").weightless_shape_inference():
        importlib.import_module("modelexport_onnx.converters.pt.convert").convert(model, config, path, options)


def _wrapper(model: Any, config: Any) -> Any:
    return importlib.import_module("modelexport_onnx.converters.pt.wrappers").wrapper_for(model, config)


def validate_streamed(
    onnx_path: Path,
    model: Any,
    config: Any,
    options: Any,
    index: Any,
    scope: str,
    request: ExportRequest,
) -> Any:
    """Every layer's output and every graph output, onnxruntime by segments against PyTorch by modules."""
    from ..validation import used_dimensions

    shapes = options.validation_shapes
    inputs = config.generate_dummy_inputs(shapes)
    onnx_run = run_by_segments(onnx_path, inputs, scope)
    torch_side = importlib.import_module("modelexport_onnx.converters.pt.streamed")
    layers, outputs = torch_side.streamed_reference(model, config, inputs, index)
    names = [f"{scope}.{number}" for number in range(len(onnx_run.layer_outputs))]
    reference = Reference(
        {**dict(zip(names, layers, strict=False)), **outputs},
        None,
        "weights streamed: the model does not fit in memory twice",
    )
    observed = {**dict(zip(names, onnx_run.layer_outputs, strict=True)), **onnx_run.outputs}
    return compare_outputs(observed, reference, Tolerance(atol=request.atol), used_dimensions(config, shapes))
