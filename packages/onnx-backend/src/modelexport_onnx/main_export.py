"""The whole job from a model name, as named steps: resolve, load, configure, convert, post-process,
validate, publish.

Each step is a function of its own (testable alone) and prints one progress line. The model
reference is resolved once, in :func:`resolve`, into a :class:`Resolved` that every later step
reads: the Hub is asked about the model once. Nothing reaches the output directory before
validation passed: the files are built in a staging folder beside it and moved in at the end.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelexport_core import TasksManager
from modelexport_core.errors import UnknownModelTypeError, UnsupportedTaskError
from modelexport_core.model_source import ModelReference
from modelexport_core.plugins import get_framework
from modelexport_core.registry import ConfigConstructor
from modelexport_core.tasks import Task

from .config import OnnxConfig
from .converters import converter_for
from .dummy_inputs import EXPORT_SHAPES
from .errors import OutputNotWritableError, ValidationError
from .export import export_components, reference_runner, resolve_options, validate_components
from .fallback import REPORT_HINT, FamilyConstructor, check_transformers_knows, unnamed_type_constructor
from .generation import GenerationCheck, check_generation
from .layout import apply_layout, check_layout
from .optimize import optimize_model
from .option_checks import check_fixed_axes, check_model_options, check_plain_options
from .options import DEFAULT_CONVERTER, ExportOptions
from .output_lock import output_locked
from .postprocess import PostprocessReport
from .quantize import QuantizationCheck, quantize_export
from .sentence_transformers import (
    SentenceEmbeddingOnnxConfig,
    SentencePipeline,
    check_sentence_embeddings,
    chosen_library,
    load_sentence_transformer,
    read_pipeline,
    reference_reader,
    require_library,
    transformer_model,
)
from .shared_weights import share_weights
from .spectrogram_config import TextToSpectrogramOnnxConfig
from .spectrogram_generation import SpectrogramCheck, check_spectrogram_generation
from .speech_synthesis import TextToSpeechOnnxConfig, check_sampling
from .staging import check_output_dir, replacement, staged_directory, write_record
from .streamed.export import run_streamed_export, streaming_needed
from .validation import ValidationReport, onnx_session, raise_if_failed

STEPS = 7

#: Files a consumer needs next to the model to pre- and post-process like the source model.
PREPROCESSOR_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "spm_char.model",  # SpeechT5: its characters tokenizer
    "source.spm",
    "target.spm",
    "chat_template.jinja",
    "preprocessor_config.json",
    "processor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
    "generation_config.json",
    "sentence_bert_config.json",  # sentence-transformers: the max_seq_length its tokenization truncates to
)


@dataclass
class MainExportResult:
    output_dir: Path
    task: str
    framework: str
    model_type: str
    files: list[str]
    validation: ValidationReport
    timings: dict[str, float] = field(default_factory=dict)
    #: Whose view of the model was exported: ``transformers``, or ``sentence_transformers`` (the whole pipeline).
    library: str = "transformers"


def copy_model_files(source_dir: Path | None, model: Any, destination: Path) -> list[str]:
    """``config.json`` (the source's, else the loaded model's) and the preprocessing files."""
    copied = []
    if source_dir is not None and (source_dir / "config.json").is_file():
        shutil.copyfile(source_dir / "config.json", destination / "config.json")
    else:
        model.config.to_json_file(str(destination / "config.json"))
    copied.append("config.json")
    if source_dir is not None:
        for name in PREPROCESSOR_FILES:
            if (source_dir / name).is_file():
                shutil.copyfile(source_dir / name, destination / name)
                copied.append(name)
    return copied


#: The export command's own generation check: short, the test suite runs 20 tokens.
GENERATION_CHECK_TOKENS = 8


def logits_bound(report: ValidationReport) -> float | None:
    """The largest bound validation allowed on a ``logits`` output (of any file)."""
    bounds = [c.bound for c in report.outputs if c.name.split(":")[-1] == "logits" and c.bound is not None]
    return max(bounds, default=None)


def run_generation_check(
    directory: Path, config: OnnxConfig, model: Any, framework: str, validation: ValidationReport
) -> GenerationCheck:
    """Greedy tokens from the exported files in onnxruntime against the framework's ``generate``."""
    plugin = get_framework(framework)
    sessions = {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}
    return check_generation(
        sessions,
        config,
        lambda inputs, n, pad: plugin.generate(model, inputs, n, pad),
        max_new_tokens=GENERATION_CHECK_TOKENS,
        logits_bound=logits_bound(validation),
    )


def run_spectrogram_check(
    directory: Path, config: TextToSpectrogramOnnxConfig, model: Any, framework: str, validation: ValidationReport
) -> SpectrogramCheck:
    """The spectrogram of the exported files chained in onnxruntime against transformers' own loop."""
    from .converters import import_heavy

    if framework != "pt":
        raise UnsupportedTaskError(f"Text-to-spectrogram exports are checked against PyTorch, not {framework}.")
    reference = import_heavy("pt", "modelexport_onnx.converters.pt.spectrogram").reference_spectrogram
    sessions = {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}
    return check_spectrogram_generation(
        sessions, config, lambda inputs, steps: reference(model, inputs, steps), tolerance=validation.tolerance
    )


def model_type_known(model_type: str) -> bool:
    """Whether a row of the onnx table names ``model_type`` (for any task or framework)."""
    try:
        TasksManager.get_supported_tasks_for_model_type(model_type, "onnx")
    except UnknownModelTypeError:
        return False
    return True


def check_framework_supported(model_type: str, task: str, framework: str) -> None:
    """Refuse, before loading anything, a pair the registry exports from other frameworks only."""
    supported = TasksManager.get_supported_tasks_for_model_type(model_type, "onnx", framework=framework)
    if task in supported:
        return
    offered = ", ".join(supported) if supported else "no task"
    raise UnsupportedTaskError(
        f"{model_type} {task} does not export from {framework}: from {framework}, {model_type} exports {offered}. "
        "Export it from the other framework's weights (--framework pt or tf), or pick one of those tasks."
    )


@dataclass(frozen=True)
class ExportRequest:
    """What the user asked for: every option of one export, as given."""

    output_dir: Path
    task: str = "auto"
    framework: str | None = None
    opset: int | None = None
    atol: float | None = None
    #: The conversion path (``--exporter``): ``auto``, ``torchscript``, ``dynamo`` or ``tf2onnx``.
    converter: str = DEFAULT_CONVERTER
    dynamic_axes: bool = True
    batch_size: int | None = None
    sequence_length: int | None = None
    dtype: str = "fp32"
    optimize: str | None = None
    #: ``--quantize``: ``dynamic`` adds int8 files beside the validated float ones (see :mod:`.quantize`).
    quantize: str | None = None
    report: Path | None = None
    overwrite: bool = False
    trust_remote_code: bool = False
    generation_check: bool = True
    #: ``auto``, ``transformers`` or ``sentence_transformers`` (``--library``; see :mod:`.sentence_transformers`).
    library: str = "auto"
    #: ``--wait``: queue behind another export writing the same output directory instead of failing at once.
    wait: bool = False
    #: ``--layout``: where the files go and their names, for the program that loads them (:mod:`.layout`).
    layout: str = "auto"
    #: ``--max-memory`` (bytes): an export expected to peak beyond it streams the weights (:mod:`.streamed.export`).
    max_memory: int | None = None
    #: Written as :data:`RECORD_NAME` among the published files (a batch's note of what was exported from what).
    record: dict[str, Any] | None = None


@dataclass(frozen=True)
class Resolved:
    """The model and what the export will do with it, settled before anything is loaded."""

    reference: ModelReference
    task: Task
    framework: str
    model_type: str
    constructor: ConfigConstructor
    #: The sentence-transformers pipeline to export whole (``None``: the transformers model alone).
    pipeline: SentencePipeline | None = None
    #: What the user should know about this export (a model type in no row of the table...).
    notes: tuple[str, ...] = ()
    #: The layout the files are written in (:mod:`.layout`; never ``auto``).
    layout: str = "flat"

    @property
    def unnamed(self) -> bool:
        """Whether no row of the table names the model type (it goes through a family, on trial)."""
        return isinstance(self.constructor, FamilyConstructor)


class Progress:
    """The numbered progress lines and the timings of one export."""

    def __init__(self, say: Callable[[str], None] | None) -> None:
        self.say = say or (lambda line: None)
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def step(self, number: int, text: str) -> None:
        self.say(f"[{number}/{STEPS}] {text}")


def resolve(reference: ModelReference, request: ExportRequest) -> Resolved:
    """Step 1: the task, framework, model type and export config, and every option checked against them.

    Reads ``config.json`` and the file list (and, for a Hub id, asks the Hub once); loads nothing,
    imports no framework: a wrong option fails here within a fraction of a second.
    """
    model_type = reference.model_type
    task = (
        TasksManager.infer_task_from_model(reference)
        if request.task in (None, "", "auto")
        else TasksManager.task_for_model_type(request.task, model_type, "onnx")
        if model_type_known(model_type)
        else Task.of(request.task)
    )
    framework = TasksManager.determine_framework(reference, framework=request.framework)
    notes: tuple[str, ...] = ()
    constructor: ConfigConstructor
    if model_type_known(model_type):
        constructor = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)
        check_framework_supported(model_type, task, framework)
    else:  # no row names it: tried through the family its config fits, and validation decides
        unnamed = unnamed_type_constructor(model_type, reference.config, task)
        check_transformers_knows(model_type, reference.config)  # a typo (bret) fails here, not in the loader
        constructor, notes = unnamed, (unnamed.note,)
    check_model_options(  # still before loading: importing torch and transformers alone takes seconds
        opset=request.opset,
        converter=request.converter,
        dtype=request.dtype,
        framework_converter=converter_for(framework, require_available=False),
        model_config=reference.config,
        constructor=constructor,
        framework_name=get_framework(framework).display_name,
        sequence_length=request.sequence_length,
        with_past=task.uses_past,
    )
    # --- sentence-transformers (modules.json): the whole pipeline, read from its files (.sentence_transformers)
    pipeline = None
    library = chosen_library(request.library, reference.files, task, framework)
    if library == "sentence_transformers":
        require_library()
        pipeline = read_pipeline(reference_reader(reference))
    # --- end
    check_fixed_axes(request.dynamic_axes, task, pipeline is not None)
    layout = check_layout(request.layout, task, library, reference.files, request.dtype)
    return Resolved(reference, task, framework, model_type, constructor, pipeline, notes, layout)


def load(resolved: Resolved, request: ExportRequest) -> Any:
    """Step 2: the model, loaded by its framework with the task's class (a sentence-transformers pipeline:
    the library's own ``SentenceTransformer``)."""
    if resolved.pipeline is not None:
        return load_sentence_transformer(resolved.reference, trust_remote_code=request.trust_remote_code)
    return TasksManager.get_model_from_task(
        resolved.task,
        resolved.reference,
        framework=resolved.framework,
        trust_remote_code=request.trust_remote_code,
    )


def configure(resolved: Resolved, model: Any, request: ExportRequest) -> tuple[OnnxConfig, ExportOptions]:
    """Step 3: the export config from the loaded model's config, and the options resolved against it."""
    config: OnnxConfig
    if resolved.pipeline is not None:  # the transformer's own config, with the pipeline's outputs
        config = SentenceEmbeddingOnnxConfig(resolved.constructor(transformer_model(model).config), resolved.pipeline)
    else:
        config = resolved.constructor(model.config)
    shapes = EXPORT_SHAPES.with_sizes(batch_size=request.batch_size, sequence_length=request.sequence_length)
    options = resolve_options(
        config,
        opset=request.opset,
        converter=request.converter,
        dynamic_axes=request.dynamic_axes,
        dtype=request.dtype,
        shapes=shapes,
        framework=resolved.framework,
    )
    return config, options


def convert(
    model: Any, config: OnnxConfig, options: ExportOptions, framework: str, staging: Path
) -> dict[str, PostprocessReport]:
    """Steps 4 and 5: every file converted by the framework's converter, then post-processed, into ``staging``."""
    posts = export_components(model, config, staging, options, framework, staging / ".work")
    shutil.rmtree(staging / ".work", ignore_errors=True)
    return posts


def optimize(staging: Path, config: OnnxConfig, level: str | None) -> str:
    """Step 5 (optional): onnxruntime's graph optimization of every file, in place, before validation; what it did."""
    if not level:
        return ""
    reports = {
        name: optimize_model(staging / f"{name}.onnx", level, part) for name, part in config.components().items()
    }
    return "; optimized " + ", ".join(f"{name}.onnx {report.describe()}" for name, report in reports.items())


def validate(
    model: Any, config: OnnxConfig, options: ExportOptions, framework: str, staging: Path, request: ExportRequest
) -> ValidationReport:
    """Step 6: every output against the framework's own, then greedy generation for ``-with-past`` exports,
    a sentence-transformers pipeline's embeddings against ``SentenceTransformer.encode``, and speech synthesis
    with noise against the framework's (validation itself runs it without)."""
    shapes = options.validation_shapes
    validation = validate_components(model, config, staging, framework, shapes, request.atol)
    if validation.passed and request.generation_check and config.generates_tokens:
        validation.checks.append(run_generation_check(staging, config, model, framework, validation))
    if validation.passed and request.generation_check and isinstance(config, TextToSpectrogramOnnxConfig):
        validation.checks.append(run_spectrogram_check(staging, config, model, framework, validation))
    if validation.passed and isinstance(config, SentenceEmbeddingOnnxConfig):
        validation.checks.append(check_sentence_embeddings(staging / "model.onnx", model, validation.tolerance))
    if validation.passed and isinstance(config, TextToSpeechOnnxConfig):
        runner = reference_runner(model, config, framework)
        validation.checks.append(check_sampling(staging / "model.onnx", config, runner, shapes))
    return validation


def quantize(
    staging: Path, config: OnnxConfig, options: ExportOptions, reference: ModelReference, request: ExportRequest
) -> QuantizationCheck | None:
    """Step 6 (optional), once the float files validated: ``<name>_quantized.onnx`` beside each, judged by the
    task's metric on real text against the float files (:mod:`.quantize`)."""
    if not request.quantize:
        return None
    return quantize_export(staging, config, request.quantize, reference.local_directory(), options.validation_shapes)


def write_report(validation: ValidationReport, report: Path | None) -> None:
    """The validation report as JSON, when asked for (also when validation failed: that is when it is read)."""
    if report is None:
        return
    try:
        validation.write(report)
    except OSError as exc:  # checked before loading, but the disk or the folder may have changed since
        raise OutputNotWritableError(f"Cannot write the report {report}: {exc.strerror or exc}.") from exc


def validation_line(validation: ValidationReport) -> str:
    """What step 6 says: the shapes, the tightest output, each follow-up check's verdict."""
    checked = "".join(f"; {check.describe()}" for check in validation.checks)
    failed = "" if validation.passed else " FAILED"
    return f"validated on {validation.shapes}: {validation.summary()}{failed}{checked}"


def publish_files(
    reference: ModelReference, model: Any, staging: Path, posts: dict[str, PostprocessReport]
) -> list[str]:
    """Step 7: the model's config and preprocessing files beside the ONNX files; every file's name."""
    data_files = [p.external_data for p in posts.values() if p.external_data]
    copied = copy_model_files(reference.local_directory(), model, staging)
    return sorted([*(f"{name}.onnx" for name in posts), *data_files, *copied])


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
) -> MainExportResult:
    """Export ``model_name_or_path`` (local directory, Hub id or resolved reference) to ONNX in ``output``, validated.

    ``converter`` is the conversion path (``--exporter`` on the command line). ``library``: ``auto`` exports a
    sentence-transformers checkpoint (``modules.json``) as its whole embedding pipeline, ``transformers`` the
    transformers model alone, ``sentence_transformers`` insists on the pipeline.
    """
    request = ExportRequest(
        output_dir=Path(output).expanduser().absolute(),
        task=task,
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
        report=Path(report) if report is not None else None,
        overwrite=overwrite,
        trust_remote_code=trust_remote_code,
        generation_check=generation_check,
        library=library,
        wait=wait,
        max_memory=max_memory,
        layout=layout,
    )
    check_request(request)  # before the model reference is even looked at
    return run_export(ModelReference.resolve(model_name_or_path, subfolder, revision, cache_dir), request, progress)


def check_request(request: ExportRequest) -> None:
    """The checks that need neither the model nor a framework: the output folder and the plain options."""
    check_output_dir(request.output_dir, request.overwrite)
    check_plain_options(
        atol=request.atol,
        dtype=request.dtype,
        converter=request.converter,
        report=request.report,
        optimize=request.optimize,
        quantize=request.quantize,
        batch_size=request.batch_size,
        sequence_length=request.sequence_length,
    )


def run_export(
    reference: ModelReference, request: ExportRequest, say: Callable[[str], None] | None = print
) -> MainExportResult:
    """The steps in order, for an already resolved reference, holding the output directory's lock throughout:
    a second export into the same directory fails at once (or, with ``wait``, queues) instead of replacing this
    one's files unseen (:mod:`.output_lock`)."""
    with output_locked(request.output_dir, request.wait, say):
        return _run_locked(reference, request, say)


def _run_locked(
    reference: ModelReference, request: ExportRequest, say: Callable[[str], None] | None
) -> MainExportResult:
    progress = Progress(say)
    check_request(request)  # fail before loading anything (and after the lock: the folder cannot change now)
    resolved = resolve(reference, request)
    progress.step(
        1,
        f"resolved {reference.source}: model type {resolved.model_type}, task {resolved.task}, "
        f"framework {resolved.framework}"
        + (f"; sentence-transformers pipeline {resolved.pipeline.describe()}" if resolved.pipeline else "")
        + "".join(f"; note: {note}" for note in resolved.notes),
    )
    streamed_weights = streaming_needed(resolved, request)
    if streamed_weights is not None:  # larger than the memory allowed: traced without weights, validated by layers
        streamed = run_streamed_export(resolved, request, progress, streamed_weights)
        write_report(streamed.validation, request.report)
        progress.timings["total"] = time.perf_counter() - progress.started
        return streamed

    model = load(resolved, request)
    progress.timings["load"] = time.perf_counter() - progress.started
    progress.step(2, f"loaded {type(model).__name__} ({progress.timings['load']:.2f} s)")

    config, options = configure(resolved, model, request)
    progress.step(
        3,
        f"export config {type(config).__name__}: inputs {', '.join(config.inputs)}; "
        f"outputs {', '.join(config.outputs)}; opset {options.opset}",
    )

    with staged_directory(request.output_dir, request.overwrite) as staging:
        shapes = options.shapes
        progress.step(
            4, f"exporting with {options.converter} (batch {shapes.batch_size}, sequence {shapes.sequence_length})"
        )
        started = time.perf_counter()
        posts = convert(model, config, options, resolved.framework, staging)
        progress.timings["export"] = time.perf_counter() - started
        data_files = [p.external_data for p in posts.values() if p.external_data]
        extra = f"; weights in {', '.join(data_files)}" if data_files else ""
        extra += optimize(staging, config, request.optimize)
        shared = share_weights(staging, list(config.components()))
        extra += f"; {shared.describe()}" if shared.data_file else ""
        progress.step(
            5,
            f"post-processed {', '.join(f'{name}.onnx' for name in posts)}: "
            f"{sum(len(p.renamed_dims) for p in posts.values())} dimension symbols renamed, "
            f"{sum(p.removed_initializers for p in posts.values())} duplicate initializers removed{extra}",
        )

        started = time.perf_counter()
        validation = validate(model, config, options, resolved.framework, staging, request)
        progress.timings["validate"] = time.perf_counter() - started
        quantized = quantize(staging, config, options, reference, request) if validation.passed else None
        if quantized is not None:
            validation.checks.append(quantized)
            progress.timings["quantize"] = time.perf_counter() - started - progress.timings["validate"]
        write_report(validation, request.report)
        progress.step(6, validation_line(validation))
        try:
            raise_if_failed(validation)
        except ValidationError as error:
            if resolved.unnamed:  # say what was tried and where to report it
                raise ValidationError(
                    f"{error}\n{resolved.notes[0]}, and it failed. {REPORT_HINT}", validation
                ) from error
            raise

        files = publish_files(reference, transformer_model(model) if resolved.pipeline else model, staging, posts)
        files += [shared.data_file] if shared.data_file else []
        files = sorted([*files, *(quantized.files if quantized is not None else [])])
        files = apply_layout(
            resolved.layout, staging, list(config.components()), files, reference.local_directory(), request.dtype
        )
        write_record(staging, request.record, str(reference.source), files)
        replaced = replacement(staging, request.output_dir).describe()
        laid = f" in the {resolved.layout} layout" if resolved.layout != "flat" else ""
        progress.step(7, f"writing {request.output_dir}{laid}" + (f"; {replaced}" if replaced else ""))
    progress.timings["total"] = time.perf_counter() - progress.started
    return MainExportResult(
        request.output_dir,
        resolved.task,
        resolved.framework,
        resolved.model_type,
        files,
        validation,
        progress.timings,
        "sentence_transformers" if resolved.pipeline else "transformers",
    )
