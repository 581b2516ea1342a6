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

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelexport_core import TasksManager
from modelexport_core.versions import major_version
from modelexport_pipeline.checks import Reference, Tolerance, compare_outputs, raise_if_failed
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES
from modelexport_pipeline.errors import UnsupportedExportOptionError
from modelexport_pipeline.memory import expected_bytes
from modelexport_pipeline.staging import staged_directory

from ..converters import StreamsWeights, converter_for
from ..export import resolve_options
from .segments import run_by_segments
from .weights import attach_weights, checkpoint_index

if TYPE_CHECKING:
    from modelexport_pipeline.backend import ExportResult
    from modelexport_pipeline.progress import Progress
    from modelexport_pipeline.request import ExportRequest, Resolved

    from ..backend import OnnxPlan

DATA_NAME = "model.onnx_data"
#: Weight files a streamed export cannot read tensor by tensor (pickles, Keras, Flax, GGUF): only safetensors.
UNSTREAMABLE_WEIGHTS = ("*.bin", "*.pth", "*.pt", "*.ckpt", "*.h5", "*.msgpack", "*.gguf")


def streaming_needed(resolved: Resolved, request: ExportRequest) -> int | None:
    """The checkpoint's weight bytes when the export must stream them (its expected peak is beyond
    ``--max-memory``), else ``None``. Reads the shards' headers only.

    A checkpoint over the limit in a format that cannot be streamed (``pytorch_model.bin``, as timm and older
    transformers save) is refused here, before loading: loading it whole would break the limit asked for.
    """
    if request.max_memory is None:
        return None
    directory = resolved.reference.local_directory()
    if directory is None:
        return None
    if not any(directory.glob("*.safetensors")):
        other = sorted({path for pattern in UNSTREAMABLE_WEIGHTS for path in directory.glob(pattern)})
        size = sum(path.stat().st_size for path in other)
        if other and expected_bytes(size) > request.max_memory:
            raise UnsupportedExportOptionError(
                f"{resolved.reference.source} has {size / 2**30:.2f} GiB of weights in "
                f"{', '.join(path.name for path in other[:3])}, more than --max-memory "
                f"{request.max_memory / 2**30:.2f} GiB allows, and only safetensors checkpoints are streamed. "
                "Save its weights as safetensors (save_pretrained and timm's save_for_hf take "
                "safe_serialization=True), or raise --max-memory."
            )
        return None
    weights = sum(tensor.nbytes for tensor in checkpoint_index(directory).values())
    return weights if expected_bytes(weights) > request.max_memory else None


def check_streamable(plan: OnnxPlan, weights: int) -> None:
    """Refuse, before loading anything, what a streamed export cannot do."""
    resolved, request, asked = plan.resolved, plan.request, plan.options_asked
    allowed = (request.max_memory or 0) / 2**30
    limit = f"{weights / 2**30:.2f} GiB of weights, more than --max-memory {allowed:.2f} GiB allows"
    refused = [
        (resolved.framework != "pt", f"framework {resolved.framework} (PyTorch only)"),
        (asked.converter not in ("auto", "torchscript"), f"--exporter {asked.converter} (torchscript only)"),
        (bool(asked.optimize), "--optimize"),
        (bool(asked.quantize), "--quantize"),
        (request.dtype != "fp32", f"--dtype {request.dtype}"),
        (plan.pipeline is not None, "a sentence-transformers pipeline"),
        (plan.layout != "flat", f"--layout {plan.layout} (the flat layout only)"),
        (
            resolved.task.base != "causal-lm",
            f"task {resolved.task} (a streamed export checks a decoder-only language model layer by layer: causal-lm)",
        ),
        (
            (major_version("transformers") or 5) < 5,
            "transformers 4.x (its decoders only export through dynamo; transformers 5 needed)",
        ),
    ]
    for refuse, what in refused:
        if refuse:
            raise UnsupportedExportOptionError(
                f"{resolved.reference.source} has {limit}: it is exported with its weights streamed, which cannot "
                f"honour {what}. Drop that option, or raise --max-memory."
            )


def run_streamed_export(plan: OnnxPlan, progress: Progress, weights: int) -> ExportResult:
    """Steps 2 to 7 of a streamed export (step 1, resolve, is the usual one)."""
    from modelexport_pipeline.backend import ExportResult
    from modelexport_pipeline.run import copy_model_files, publish, validation_line

    resolved, request = plan.resolved, plan.request
    check_streamable(plan, weights)
    torch_side = streaming_side(resolved.framework)
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
    config = plan.constructor(model.config)
    if len(config.components()) != 1:
        raise UnsupportedExportOptionError(
            f"{resolved.model_type} exports several files; a streamed export writes one. Raise --max-memory."
        )
    shapes = EXPORT_SHAPES.with_sizes(batch_size=request.batch_size, sequence_length=request.sequence_length)
    options = resolve_options(
        config,
        opset=plan.options_asked.opset,
        converter="torchscript",
        dynamic_axes=request.dynamic_axes,
        shapes=shapes,
    )
    options = replace(options, streamed=True)
    progress.step(3, f"export config {type(config).__name__}: inputs {', '.join(config.inputs)}; opset {options.opset}")
    scope, _ = torch_side.decoder_layers(model)
    with staged_directory(request.output_dir, request.overwrite) as staging:
        progress.step(4, "exporting with torchscript, weights as inputs")
        onnx_path = staging / "model.onnx"
        torch_side.convert_weightless(model, config, onnx_path, options)
        wrapper_keys = torch_side.checkpoint_keys(torch_side.export_wrapper(model, config), model, index)
        attach_weights(onnx_path, wrapper_keys, index, DATA_NAME)
        progress.step(5, f"weights streamed from {len({t.shard for t in index.values()})} shard(s) into {DATA_NAME}")
        validation = validate_streamed(onnx_path, model, config, options, index, scope.rsplit(".", 1)[-1], request)
        progress.step(6, validation_line(validation))
        raise_if_failed(validation)
        files = sorted(["model.onnx", DATA_NAME, *copy_model_files(directory, model.config, staging)])
        publish(staging, request, resolved, files, progress, plan.layout)
    return ExportResult(
        request.output_dir, resolved.task, "pt", resolved.model_type, files, validation, progress.timings
    )


def streaming_side(framework: str) -> Any:
    """The framework's side of a streamed export, from its converter (refused where it has none)."""
    converter = converter_for(framework)
    if not isinstance(converter, StreamsWeights):
        raise UnsupportedExportOptionError(f"The {framework} converter cannot stream weights: raise --max-memory.")
    return converter.streaming()


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
    torch_side = streaming_side("pt")
    layers, outputs = torch_side.streamed_reference(model, config, inputs, index)
    names = [f"{scope}.{number}" for number in range(len(onnx_run.layer_outputs))]
    reference = Reference(
        {**dict(zip(names, layers, strict=False)), **outputs},
        None,
        "weights streamed: the model does not fit in memory twice",
    )
    observed = {**dict(zip(names, onnx_run.layer_outputs, strict=True)), **onnx_run.outputs}
    return compare_outputs(observed, reference, Tolerance(atol=request.atol), used_dimensions(config, shapes))
