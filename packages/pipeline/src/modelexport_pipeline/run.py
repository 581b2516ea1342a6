"""The export, whatever the backend: resolve, load, configure, convert, post-process, validate, publish.

Each step prints one progress line. The model reference is resolved once into a :class:`~.request.Resolved`
(typed task, framework and library plugins) and the backend makes its :class:`~.backend.ExportPlan` from it before
anything is loaded, so every option is checked within a fraction of a second. The output directory's lock is held
throughout; nothing reaches the directory before validation passed: the files are built in a staging folder beside
it and moved in at the end, with the export's record (:mod:`.staging`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from modelexport_core import TasksManager
from modelexport_core.errors import UnknownModelTypeError, UnsupportedTaskError
from modelexport_core.libraries import LibraryPlugin, get_library
from modelexport_core.model_source import ModelReference
from modelexport_core.plugins import get_framework
from modelexport_core.tasks import Task

from .backend import Backend, ExportResult, export_backend
from .checks import ValidationReport, raise_if_failed
from .errors import ExportError, OutputNotWritableError, UnsupportedExportOptionError, ValidationError
from .option_checks import check_shared_options
from .output_lock import output_locked
from .progress import Progress
from .request import ExportRequest, Resolved
from .staging import check_output_dir, replacement, staged_directory, write_record

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


@runtime_checkable
class SavedConfig(Protocol):
    """A model's configuration object that can write itself as ``config.json`` (transformers')."""

    def to_json_file(self, json_file_path: str) -> None: ...


def copy_model_files(source_dir: Path | None, config: object, destination: Path) -> list[str]:
    """``config.json`` (the source's, else the loaded model's ``config`` object) and the preprocessing files."""
    copied = []
    if source_dir is not None and (source_dir / "config.json").is_file():
        shutil.copyfile(source_dir / "config.json", destination / "config.json")
        copied.append("config.json")
    elif isinstance(config, SavedConfig):
        config.to_json_file(str(destination / "config.json"))
        copied.append("config.json")
    if source_dir is not None:
        for name in PREPROCESSOR_FILES:
            if (source_dir / name).is_file():
                shutil.copyfile(source_dir / name, destination / name)
                copied.append(name)
    return copied


def model_type_known(model_type: str, backend: str, library: str | None = None) -> bool:
    """Whether a row of the backend's table names ``model_type`` (for any task or framework)."""
    try:
        TasksManager.get_supported_tasks_for_model_type(model_type, backend, library_name=library)
    except UnknownModelTypeError:
        return False
    return True


def chosen_library(request: ExportRequest, reference: ModelReference) -> LibraryPlugin:
    """The library whose view of the model is exported: ``auto`` is the one its files say (a sentence-transformers
    pipeline only for the plain feature extraction of a PyTorch model: another task exports the transformer)."""
    if request.library == "auto":
        detected = reference.library
        asked = request.task
        if detected.tasks and asked not in (None, "", "auto") and Task.of(asked) not in detected.tasks:
            return get_library(detected.registry_library)
        if detected.name != detected.registry_library and request.framework not in (None, "pt"):
            return get_library(detected.registry_library)
        return detected
    try:
        library = get_library(request.library)
    except UnsupportedTaskError as error:
        raise UnsupportedExportOptionError(str(error)) from error
    if not library.detects(reference.files, reference.config):
        raise UnsupportedExportOptionError(
            f"--library {library.name} needs {library.folder_description}; this model has none."
        )
    return library


def resolve(reference: ModelReference, request: ExportRequest) -> Resolved:
    """Step 1's shared part: the library, task, framework and model type. Reads ``config.json`` and the file list
    (and, for a Hub id, asks the Hub once); loads nothing, imports no framework."""
    library = chosen_library(request, reference)
    model_type = library.model_type(reference.config)
    if request.task in (None, "", "auto"):
        task = library.infer_task(reference)
        if not task.uses_past and model_type_known(model_type, request.backend, library.name):
            # optimum's default: a model that generates is exported with its cache, what generation runs
            supported = TasksManager.get_supported_tasks_for_model_type(
                model_type, request.backend, library_name=library.name
            )
            if f"{task}-with-past" in supported:
                task = Task.of(f"{task}-with-past")
    elif model_type_known(model_type, request.backend, library.name):
        task = TasksManager.task_for_model_type(request.task, model_type, request.backend)
    else:
        task = Task.of(request.task)
    if library.tasks and task not in library.tasks:
        alone = (
            f"leave out --library, or give --library {library.registry_library} for the model alone"
            if library.registry_library != library.name
            else "choose one of those tasks"
        )
        raise UnsupportedTaskError(f"A {library.name} model exports {', '.join(library.tasks)}, not {task}: {alone}.")
    framework = get_framework(TasksManager.determine_framework(reference, framework=request.framework))
    if library.name != library.registry_library and framework.name != "pt":
        raise UnsupportedExportOptionError(f"{library.name} models are PyTorch models: use --framework pt.")
    return Resolved(reference, task, framework, library, model_type)


def check_request(request: ExportRequest, backend: Backend) -> None:
    """The checks that need neither the model nor a framework: the output folder, the shared options, the
    backend's own."""
    check_output_dir(request.output_dir, request.overwrite)
    check_shared_options(
        atol=request.atol,
        report=request.report,
        batch_size=request.batch_size,
        sequence_length=request.sequence_length,
    )
    backend.check_request(request)


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


def publish(
    staging: Path, request: ExportRequest, resolved: Resolved, files: list[str], progress: Progress, layout: str
) -> list[str]:
    """Step 7: the record beside the files, what the publish replaces, and the line saying it. The staging folder
    moves in when the ``staged_directory`` block ends."""
    backend = export_backend(request.backend)
    write_record(staging, request.record, str(resolved.reference.source), files, backend.name, backend.distribution)
    replaced = replacement(staging, request.output_dir).describe()
    laid = f" in the {layout} layout" if layout != "flat" else ""
    progress.step(7, f"writing {request.output_dir}{laid}" + (f"; {replaced}" if replaced else ""))
    return files


def run_export(
    reference: ModelReference, request: ExportRequest, say: Callable[[str], None] | None = print
) -> ExportResult:
    """The steps in order, for an already resolved reference, holding the output directory's lock throughout:
    a second export into the same directory fails at once (or, with ``wait``, queues) instead of replacing this
    one's files unseen (:mod:`.output_lock`)."""
    backend = export_backend(request.backend)
    with output_locked(request.output_dir, request.wait, say):
        return _run_locked(backend, reference, request, say)


def _run_locked(
    backend: Backend, reference: ModelReference, request: ExportRequest, say: Callable[[str], None] | None
) -> ExportResult:
    progress = Progress(say)
    check_request(request, backend)  # fail before loading anything (and after the lock: the folder cannot change)
    resolved = resolve(reference, request)
    plan = backend.plan(resolved, request)
    progress.step(
        1,
        f"resolved {reference.source}: model type {resolved.model_type}, task {resolved.task}, "
        f"framework {resolved.framework}"
        + (f"; {plan.description}" if plan.description else "")
        + "".join(f"; note: {note}" for note in plan.notes),
    )
    unloaded = plan.export_unloaded(progress)
    if unloaded is not None:
        write_report(unloaded.validation, request.report)
        progress.timings["total"] = progress.elapsed()
        return unloaded

    model = load_model(resolved, request)
    progress.timings["load"] = progress.elapsed()
    progress.step(2, f"loaded {type(model).__name__} ({progress.timings['load']:.2f} s)")
    progress.step(3, plan.configure(model))

    with staged_directory(request.output_dir, request.overwrite) as staging:
        progress.step(4, plan.converting())
        started = time.perf_counter()
        try:
            converted = plan.convert(model, staging)
        except ExportError as error:  # a model the measured tables do not show passing: say so, and what to do
            hint = plan.failure_hint()
            if hint:
                raise ExportError(f"{error}\n{hint}") from error
            raise
        progress.timings["export"] = time.perf_counter() - started
        progress.step(5, converted.line)

        started = time.perf_counter()
        validation = plan.validate(model, staging)
        progress.timings["validate"] = time.perf_counter() - started
        files = converted.files
        if validation.passed:
            files = plan.finish(model, staging, validation, files)
            progress.timings["finish"] = time.perf_counter() - started - progress.timings["validate"]
        write_report(validation, request.report)
        progress.step(6, validation_line(validation))
        try:
            raise_if_failed(validation)
        except ValidationError as error:
            hint = plan.failure_hint()
            if hint:
                raise ValidationError(f"{error}\n{hint}", validation) from error
            raise
        publish(staging, request, resolved, files, progress, plan.layout)
    progress.timings["total"] = progress.elapsed()
    return ExportResult(
        request.output_dir,
        resolved.task,
        resolved.framework,
        resolved.model_type,
        files,
        validation,
        progress.timings,
        resolved.library.name,
        backend.name,
    )


def load_model(resolved: Resolved, request: ExportRequest) -> Any:
    """Step 2: the model, loaded by its library (sentence-transformers' ``SentenceTransformer``, timm's
    ``create_model``, transformers' auto classes through the framework plugin)."""
    return resolved.library.load(
        resolved.reference, resolved.task, resolved.framework, trust_remote_code=request.trust_remote_code
    )
