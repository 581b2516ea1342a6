"""The ONNX backend as the pipeline sees it: its option checks, and the plan of one export.

The pipeline (:mod:`modelexport_pipeline.run`) resolves the model, holds the lock, loads, stages, validates
and publishes; this module says what is ONNX: the export config per (model type, task), the converter of the
model's framework, post-processing and ``--optimize``, validation in onnxruntime and the kinds' follow-up checks,
``--quantize`` and the layouts. The ``modelexport.backends`` entry point ``onnx`` names :data:`backend`, which
also registers the architecture table into core's registry.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelexport_core import TasksManager
from modelexport_core.errors import UnsupportedTaskError
from modelexport_core.registry import ConfigConstructor, ExporterConfigRegistry
from modelexport_pipeline.backend import Converted, ExportResult
from modelexport_pipeline.checks import ValidationReport
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES
from modelexport_pipeline.errors import UnsupportedExportOptionError
from modelexport_pipeline.libraries.sentence_transformers import (
    SentencePipeline,
    read_pipeline,
    reference_reader,
    require_library,
    transformer_model,
)
from modelexport_pipeline.libraries.timm import TIMM_MODEL_TYPE, architecture_family, require_timm
from modelexport_pipeline.option_checks import check_fixed_axes
from modelexport_pipeline.progress import Progress
from modelexport_pipeline.request import ExportRequest, Resolved
from modelexport_pipeline.run import copy_model_files, model_type_known

from . import genai
from .config import DecoderOnnxConfig, OnnxConfig
from .converters import Converter, converter_for
from .export import (
    export_components,
    resolve_options,
    validate_components,
    validate_fused_attention,
)
from .fallback import REPORT_HINT, check_transformers_knows, unnamed_type_constructor
from .kinds import FollowUp, follow_up_checks
from .layout import apply_layout, check_layout
from .optimize import optimize_model
from .option_checks import check_model_options, check_onnx_options
from .options import DEFAULT_CONVERTER, ExportOptions
from .quantize import ACCURACY_LEVEL, BLOCK_SIZE, QuantizeSettings, quantize_export, quantized_name
from .sentence_transformers import SentenceEmbeddingOnnxConfig
from .shared_weights import share_weights
from .timm_config import WALK_REPORT_HINT, walk_notes
from .validation import fused_attention_graph


@dataclass(frozen=True)
class OnnxOptions:
    """The ONNX backend's own options of a request (:attr:`ExportRequest.options`)."""

    opset: int | None = None
    #: The conversion path (``--exporter``): ``auto``, ``torchscript``, ``dynamo`` or ``tf2onnx``.
    converter: str = DEFAULT_CONVERTER
    optimize: str | None = None
    #: ``--quantize``: ``dynamic``, ``int8`` or ``int4`` files beside the validated float ones (see :mod:`.quantize`).
    quantize: str | None = None
    block_size: int | None = None
    accuracy_level: int | None = None
    quantize_lm_head: bool = True
    lm_head_bits: int | None = None

    def quantizing_options(self) -> dict[str, object]:
        """The weight-only quantization options asked for (their defaults left out), by command-line name."""
        asked = {
            "--block-size": self.block_size,
            "--accuracy-level": self.accuracy_level,
            "--no-quantize-lm-head": True if not self.quantize_lm_head else None,
            "--lm-head-bits": self.lm_head_bits,
        }
        return {name: value for name, value in asked.items() if value is not None}

    def quantize_settings(self) -> QuantizeSettings:
        """How ``--quantize`` quantizes (checked before loading: :func:`.option_checks.check_quantize_option`)."""
        return QuantizeSettings(
            mode=self.quantize or "dynamic",
            block_size=self.block_size or BLOCK_SIZE,
            accuracy_level=ACCURACY_LEVEL if self.accuracy_level is None else self.accuracy_level,
            lm_head=self.quantize_lm_head,
            lm_head_bits=self.lm_head_bits,
        )

    @classmethod
    def of(cls, request: ExportRequest) -> OnnxOptions:
        unknown = sorted(set(request.options) - set(OPTION_TYPES))
        if unknown:
            raise UnsupportedExportOptionError(
                f"The onnx backend has no option {', '.join(unknown)}; its options: {', '.join(sorted(OPTION_TYPES))}."
            )
        return cls(**request.options)


#: The ONNX options and their types (for a batch manifest's checks).
OPTION_TYPES: Mapping[str, tuple[type, ...]] = {
    "opset": (int,),
    "converter": (str,),
    "optimize": (str,),
    "quantize": (str,),
    "block_size": (int,),
    "accuracy_level": (int,),
    "quantize_lm_head": (bool,),
    "lm_head_bits": (int,),
}


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


@dataclass
class OnnxPlan:
    """One ONNX export, planned before loading; it keeps the export config and options once the model is loaded."""

    resolved: Resolved
    request: ExportRequest
    options_asked: OnnxOptions
    constructor: ConfigConstructor
    converter: Converter
    layout: str
    notes: tuple[str, ...] = ()
    #: The sentence-transformers pipeline exported whole (``None``: the model alone).
    pipeline: SentencePipeline | None = None
    #: Said after a failed export whose model the measured tables do not show passing (``None``: they do).
    unmeasured_hint: str | None = None
    config: OnnxConfig | None = None
    options: ExportOptions | None = None
    #: The loaded model's configuration object (a transformers config; ``None`` for a library without one, timm).
    model_config: Any = None
    posts: dict[str, Any] = field(default_factory=dict)

    @property
    def description(self) -> str:
        return f"sentence-transformers pipeline {self.pipeline.describe()}" if self.pipeline else ""

    def export_unloaded(self, progress: Progress) -> ExportResult | None:
        from .streamed.export import run_streamed_export, streaming_needed

        weights = streaming_needed(self.resolved, self.request)
        if weights is None:
            return None
        return run_streamed_export(self, progress, weights)

    def configure(self, model: Any) -> str:
        # The export config is built from the loaded model's config object where it has one (a sentence pipeline:
        # its transformer's), else from the checked config.json (timm's models carry no config object).
        self.model_config = getattr(transformer_model(model) if self.pipeline else model, "config", None)
        base = self.constructor(self.model_config if self.model_config is not None else self.resolved.reference.config)
        config = SentenceEmbeddingOnnxConfig(base, self.pipeline) if self.pipeline is not None else base
        request = self.request
        shapes = EXPORT_SHAPES.with_sizes(batch_size=request.batch_size, sequence_length=request.sequence_length)
        self.config, self.options = (
            config,
            resolve_options(
                config,
                opset=self.options_asked.opset,
                converter=self.options_asked.converter,
                dynamic_axes=request.dynamic_axes,
                dtype=request.dtype,
                shapes=shapes,
                framework=self.resolved.framework,
                optimize=self.options_asked.optimize,
            ),
        )
        return (
            f"export config {type(config).__name__}: inputs {', '.join(config.inputs)}; "
            f"outputs {', '.join(config.outputs)}; opset {self.options.opset}"
        )

    def _configured(self) -> tuple[OnnxConfig, ExportOptions]:
        assert self.config is not None and self.options is not None, "configure() first"
        return self.config, self.options

    def converting(self) -> str:
        _, options = self._configured()
        shapes = options.shapes
        return f"exporting with {options.converter} (batch {shapes.batch_size}, sequence {shapes.sequence_length})"

    def convert(self, model: Any, staging: Path) -> Converted:
        config, options = self._configured()
        self.posts = posts = export_components(
            model, config, staging, options, self.resolved.framework, staging / ".work"
        )
        shutil.rmtree(staging / ".work", ignore_errors=True)
        data_files = [p.external_data for p in posts.values() if p.external_data]
        extra = f"; weights in {', '.join(data_files)}" if data_files else ""
        extra += "".join(f"; {name}.onnx {p.note}" for name, p in posts.items() if p.note)
        extra += optimize(staging, config, self.options_asked.optimize)
        shared = share_weights(staging, list(config.components()))
        extra += f"; {shared.describe()}" if shared.data_file else ""
        line = (
            f"post-processed {', '.join(f'{name}.onnx' for name in posts)}: "
            f"{sum(len(p.renamed_dims) for p in posts.values())} dimension symbols renamed, "
            f"{sum(p.removed_initializers for p in posts.values())} duplicate initializers removed{extra}"
        )
        source = self.resolved.reference.local_directory()
        copied = copy_model_files(source, self.model_config, staging)
        files = [*(f"{name}.onnx" for name in posts), *data_files, *copied]
        files += [shared.data_file] if shared.data_file else []
        return Converted(sorted(files), line)

    def validate(self, model: Any, staging: Path) -> ValidationReport:
        config, options = self._configured()
        request = self.request
        if fused_attention_graph(staging, config):
            validation = validate_fused_attention(
                model, config, staging, self.resolved.framework, options.validation_shapes, request.atol
            )
        else:
            validation = validate_components(
                model, config, staging, self.resolved.framework, options.validation_shapes, request.atol
            )
        framework = self.resolved.framework
        converter = converter_for(framework)
        run = FollowUp(staging, config, model, framework, options, validation, request.generation_check, converter)
        validation.checks.extend(follow_up_checks(run))
        return validation

    def failure_hint(self) -> str | None:
        return (
            f"{self.notes[0]}, and it failed. {self.unmeasured_hint}" if self.unmeasured_hint and self.notes else None
        )

    def finish(self, model: Any, staging: Path, validation: ValidationReport, files: list[str]) -> list[str]:
        config, options = self._configured()
        source, task = self.resolved.reference.local_directory(), self.resolved.task
        if self.options_asked.quantize:
            settings = self.options_asked.quantize_settings()
            quantized = quantize_export(staging, config, settings, source, options.validation_shapes)
            validation.checks.append(quantized)
            if quantized.passed:
                files = sorted([*files, *quantized.files])
        if not validation.passed:
            return files
        if self.pipeline is None and isinstance(config, DecoderOnnxConfig) and genai.applies(config, task, self.layout):
            # onnxruntime-genai runs what was asked for: the quantized graph where --quantize wrote one
            asked = self.options_asked.quantize
            graph = f"{quantized_name('model', asked)}.onnx" if asked else "model.onnx"
            graph = graph if graph in files else "model.onnx"
            files = sorted([*files, *genai.write_genai_config(staging, config, self.resolved.model_type, graph)])
        return apply_layout(self.layout, staging, list(config.components()), files, source, self.request.dtype)


def optimize(staging: Path, config: OnnxConfig, level: str | None) -> str:
    """onnxruntime's graph optimization of every file, in place, before validation; what it did."""
    if not level:
        return ""
    reports = {
        name: optimize_model(staging / f"{name}.onnx", level, part) for name, part in config.components().items()
    }
    return "; optimized " + ", ".join(f"{name}.onnx {report.describe()}" for name, report in reports.items())


class OnnxBackend:
    """The ``onnx`` backend: its architecture table for core's registry, and its exports for the pipeline."""

    name = "onnx"
    distribution = "modelexport-onnx"
    option_types = OPTION_TYPES

    def register(self, registry: ExporterConfigRegistry) -> None:
        from .registration import backend as table
        from .timm_config import TIMM_TASKS, TimmOnnxConfig

        table.register(registry)
        registry.register(
            self.name,
            TIMM_MODEL_TYPE,
            TIMM_TASKS,
            TimmOnnxConfig,
            frameworks=("pt",),
            notes=TimmOnnxConfig.export_notes(),
            library="timm",
        )

    def check_request(self, request: ExportRequest) -> None:
        asked = OnnxOptions.of(request)
        check_onnx_options(
            dtype=request.dtype,
            converter=asked.converter,
            optimize=asked.optimize,
            quantize=asked.quantize,
            quantizing=asked.quantizing_options(),
        )

    def plan(self, resolved: Resolved, request: ExportRequest) -> OnnxPlan:
        """The export config constructor (a row of the table, or the family the config fits), every option
        checked against the model's config, the sentence pipeline read: nothing loaded, no framework imported."""
        asked = OnnxOptions.of(request)
        reference, task, model_type = resolved.reference, resolved.task, resolved.model_type
        library = resolved.library
        notes: tuple[str, ...] = ()
        unmeasured_hint = None
        constructor: ConfigConstructor
        if model_type_known(model_type, "onnx", library.name):
            constructor = TasksManager.get_exporter_config_constructor(
                "onnx", task=task, model_type=model_type, library_name=library.name
            )
            if library.registry_library == "transformers":  # the frameworks of its rows (timm's: PyTorch only)
                check_framework_supported(model_type, task, resolved.framework)
            if model_type == TIMM_MODEL_TYPE:  # one row for every timm model: its family's line of the walk
                require_timm()  # its registry says which family the architecture is
                architecture = str(reference.config.get("architecture", ""))
                notes = walk_notes(architecture, architecture_family(architecture))
                unmeasured_hint = WALK_REPORT_HINT if notes else None
        else:  # no row names it: tried through the family its config fits, and validation decides
            family = unnamed_type_constructor(model_type, reference.config, task)
            check_transformers_knows(model_type, reference.config)  # a typo (bret) fails here, not in the loader
            constructor, notes, unmeasured_hint = family, (family.note,), REPORT_HINT
        converter = converter_for(resolved.framework, require_available=False)
        check_model_options(  # still before loading: importing torch and transformers alone takes seconds
            opset=asked.opset,
            converter=asked.converter,
            dtype=request.dtype,
            framework_converter=converter,
            model_config=reference.config,
            constructor=constructor,
            framework_name=resolved.framework_plugin.display_name,
            sequence_length=request.sequence_length,
            with_past=task.uses_past,
        )
        pipeline = None
        if library.name == "sentence_transformers":  # the whole pipeline, read from its files
            require_library()
            pipeline = read_pipeline(reference_reader(reference))
        check_fixed_axes(request.dynamic_axes, task, pipeline is not None)
        layout = check_layout(request.layout, task, library.name, reference.files, request.dtype)
        if pipeline is None and genai.applies(None, task, layout):  # onnxruntime-genai: a config, or why not
            notes += tuple(filter(None, [genai.unsupported_note(model_type, reference.config)]))
        return OnnxPlan(resolved, request, asked, constructor, converter, layout, notes, pipeline, unmeasured_hint)


#: What the ``modelexport.backends`` entry point ``onnx`` names.
backend = OnnxBackend()
