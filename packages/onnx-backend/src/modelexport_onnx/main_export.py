"""The whole job from a model name: resolve, load, configure, export, post-process, validate, write.

Each step prints one progress line. Nothing reaches the output directory before validation
passed: the files are built in a staging folder beside it and moved in at the end.
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
from modelexport_core.hub import cached_snapshot
from modelexport_core.model_source import ModelSource, read_model_config, resolve_model
from modelexport_core.plugins import get_framework

from .dummy_inputs import EXPORT_SHAPES
from .errors import OutputNotWritableError
from .export import export_components, resolve_options, validate_components
from .generation import GenerationCheck, check_generation, raise_if_different
from .optimize import optimize_model
from .option_checks import check_model_options, check_plain_options
from .options import DEFAULT_EXPORTER
from .staging import check_output_dir, staged_directory
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
    "source.spm",
    "target.spm",
    "chat_template.jinja",
    "preprocessor_config.json",
    "processor_config.json",
    "feature_extractor_config.json",
    "image_processor_config.json",
    "generation_config.json",
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


def _source_directory(source: ModelSource, cache_dir: str | None, revision: str | None) -> Path | None:
    if source.directory is not None:
        return source.directory
    assert source.hub_id is not None
    snapshot = cached_snapshot(source.hub_id, cache_dir, revision)
    if snapshot is None:
        return None
    return snapshot / source.subfolder if source.subfolder else snapshot


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
    directory: Path, config: Any, model: Any, framework: str, validation: ValidationReport
) -> GenerationCheck:
    """Greedy tokens from the exported files in onnxruntime against the framework's ``generate``."""
    plugin = get_framework(framework)
    sessions = {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}
    return check_generation(
        sessions,
        config,
        lambda inputs, n, pad: plugin.generate(model, inputs, n, pad),  # type: ignore[attr-defined]
        max_new_tokens=GENERATION_CHECK_TOKENS,
        logits_bound=logits_bound(validation),
    )


def check_framework_supported(model_type: str, task: str, framework: str) -> None:
    """Refuse, before loading anything, a pair the registry exports from other frameworks only."""
    from modelexport_core.errors import UnsupportedTaskError

    supported = TasksManager.get_supported_tasks_for_model_type(model_type, "onnx", framework=framework)
    if task in supported:
        return
    offered = ", ".join(supported) if supported else "no task"
    raise UnsupportedTaskError(
        f"{model_type} {task} does not export from {framework}: from {framework}, {model_type} exports {offered}. "
        "Export it from the other framework's weights (--framework pt or tf), or pick one of those tasks."
    )


def main_export(
    model_name_or_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    task: str = "auto",
    *,
    framework: str | None = None,
    opset: int | None = None,
    atol: float | None = None,
    exporter: str = DEFAULT_EXPORTER,
    dynamic_axes: bool = True,
    batch_size: int | None = None,
    sequence_length: int | None = None,
    dtype: str = "fp32",
    optimize: str | None = None,
    report: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    cache_dir: str | None = None,
    revision: str | None = None,
    subfolder: str = "",
    trust_remote_code: bool = False,
    generation_check: bool = True,
    progress: Callable[[str], None] | None = print,
) -> MainExportResult:
    """Export ``model_name_or_path`` (local directory or Hub id) to ONNX in ``output``, validated."""
    say = progress or (lambda line: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def step(number: int, text: str) -> None:
        say(f"[{number}/{STEPS}] {text}")

    output_dir = Path(output).expanduser().absolute()
    check_output_dir(output_dir, overwrite)  # fail before loading anything
    check_plain_options(atol=atol, dtype=dtype, exporter=exporter, report=report)
    source = resolve_model(model_name_or_path, subfolder)
    if task in (None, "", "auto"):
        task = TasksManager.infer_task_from_model(model_name_or_path, subfolder, revision, cache_dir)
    task = TasksManager.map_from_synonym(task)
    framework = TasksManager.determine_framework(model_name_or_path, subfolder, revision, cache_dir, framework)
    model_config = read_model_config(source, cache_dir, revision)
    model_type = str(model_config["model_type"])
    constructor = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)
    check_framework_supported(model_type, task, framework)
    check_model_options(  # still before loading: importing torch and transformers alone takes seconds
        opset=opset,
        exporter=exporter,
        dtype=dtype,
        framework=framework,
        model_config=model_config,
        constructor=constructor,
        framework_name=get_framework(framework).display_name,
    )
    step(1, f"resolved {source}: model type {model_type}, task {task}, framework {framework}")

    model = TasksManager.get_model_from_task(
        task,
        model_name_or_path,
        subfolder=subfolder,
        revision=revision,
        framework=framework,
        cache_dir=cache_dir,
        trust_remote_code=trust_remote_code,
    )
    timings["load"] = time.perf_counter() - clock
    step(2, f"loaded {type(model).__name__} ({timings['load']:.2f} s)")

    config = constructor(model.config)
    shapes = EXPORT_SHAPES.with_sizes(batch_size=batch_size, sequence_length=sequence_length)
    options = resolve_options(
        config,
        opset=opset,
        exporter=exporter,
        dynamic_axes=dynamic_axes,
        dtype=dtype,
        shapes=shapes,
        framework=framework,
    )
    step(
        3,
        f"export config {type(config).__name__}: inputs {', '.join(config.inputs)}; "
        f"outputs {', '.join(config.outputs)}; opset {options.opset}",
    )

    with staged_directory(output_dir, overwrite) as staging:
        step(4, f"exporting with {options.exporter} (batch {shapes.batch_size}, sequence {shapes.sequence_length})")
        started = time.perf_counter()
        posts = export_components(model, config, staging, options, framework, staging / ".work")
        shutil.rmtree(staging / ".work", ignore_errors=True)
        timings["export"] = time.perf_counter() - started
        data_files = [p.external_data for p in posts.values() if p.external_data]
        extra = f"; weights in {', '.join(data_files)}" if data_files else ""
        step(
            5,
            f"post-processed {', '.join(f'{name}.onnx' for name in posts)}: "
            f"{sum(len(p.renamed_dims) for p in posts.values())} dimension symbols renamed, "
            f"{sum(p.removed_initializers for p in posts.values())} duplicate initializers removed{extra}",
        )
        if optimize:
            for name in posts:
                optimize_model(staging / f"{name}.onnx", optimize)

        started = time.perf_counter()
        validation = validate_components(model, config, staging, framework, options.validation_shapes, atol)
        generation = None
        if validation.passed and generation_check and config.GENERATIVE and config.uses_past:
            generation = run_generation_check(staging, config, model, framework, validation)
            validation.extra["generation"] = generation.to_dict()
        timings["validate"] = time.perf_counter() - started
        if report is not None:
            try:
                validation.write(Path(report))
            except OSError as exc:  # checked before loading, but the disk or the folder may have changed since
                raise OutputNotWritableError(f"Cannot write the report {report}: {exc.strerror or exc}.") from exc
        checked = ""
        if generation is not None:
            verdict = "identical" if generation.equal else "a near tie" if generation.near_tie else "DIFFERS"
            checked = f"; greedy generation of {generation.new_tokens} tokens x {generation.batch} prompts {verdict}"
        failed = "" if validation.passed else " FAILED"
        step(6, f"validated on {validation.shapes}: {validation.summary()}{failed}{checked}")
        if generation is not None:
            raise_if_different(generation, validation)
        raise_if_failed(validation)

        files = copy_model_files(_source_directory(source, cache_dir, revision), model, staging)
        files = sorted([*(f"{name}.onnx" for name in posts), *data_files, *files])
        step(7, f"writing {output_dir}")
    timings["total"] = time.perf_counter() - clock
    return MainExportResult(output_dir, task, framework, model_type, files, validation, timings)
