"""Export a loaded model with its export config: convert, post-process, validate.

:func:`export` is the Python entry point for a model already in memory;
:func:`modelexport_onnx.main_export.main_export` does the whole job from a name.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from modelexport_core import TasksManager
from modelexport_core.interruption import finishing
from modelexport_pipeline.checks import Reference, Tolerance, ValidationReport, raise_if_failed
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, DummyShapes, validation_shapes_for
from modelexport_pipeline.errors import ExportError, UnsupportedExportOptionError
from modelexport_pipeline.staging import staging_folder

from .config import DecoderOnnxConfig, OnnxConfig
from .converters import converter_for
from .optimize import FUSING_LEVELS
from .option_checks import check_opset_floor
from .options import CONVERTERS, DEFAULT_CONVERTER, DTYPES, ExportOptions
from .postprocess import PostprocessReport, postprocess
from .validation import fused_attention_feeds, validate


@dataclass(frozen=True)
class ExportResult:
    path: Path
    framework: str
    options: ExportOptions
    postprocess: PostprocessReport
    seconds: float


def resolve_options(
    config: OnnxConfig,
    *,
    opset: int | None = None,
    converter: str = DEFAULT_CONVERTER,
    dynamic_axes: bool = True,
    dtype: str = "fp32",
    shapes: DummyShapes = EXPORT_SHAPES,
    framework: str = "pt",
    optimize: str | None = None,
) -> ExportOptions:
    """Check the options against the architecture, the framework's converter and the machine; fill the opset in.

    ``optimize``: the ``--optimize`` level; O2 and O3 trace a decoder's attention as one fused operator where the
    converter can (TorchScript on a decoder with its cache).
    """
    if converter not in CONVERTERS:
        raise UnsupportedExportOptionError(f"Unknown exporter {converter!r}; choose one of {', '.join(CONVERTERS)}.")
    if dtype not in DTYPES:
        raise UnsupportedExportOptionError(f"Unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}.")
    framework_converter = converter_for(framework)
    name = framework_converter.automatic(config) if converter == "auto" else converter
    assert name is not None  # a built config always decides
    floor = framework_converter.opset_floor(name)
    preferred = framework_converter.preferred_opset(name)
    chosen = opset if opset is not None else max(config.default_opset, config.min_opset, floor, preferred)
    check_opset_floor(chosen, config.min_opset, floor, name)
    model_type = str(getattr(config.config, "model_type", "") or "")
    framework_converter.check_options(opset=chosen, name=name, dtype=dtype, model_type=model_type)
    asked = optimize in FUSING_LEVELS and isinstance(config, DecoderOnnxConfig) and config.uses_past
    refusal = ""
    if asked and name != "torchscript":
        refusal = f"the {name} exporter: the fused attention is traced by TorchScript"
    elif asked and not dynamic_axes:  # the fused graph is validated on other sequence sizes than it was traced with
        refusal = "fixed axes: the fused attention is validated on other sequence lengths"
    elif asked and config.part is not None:
        refusal = "a part of a split export"
    options = ExportOptions(
        opset=chosen,
        converter=name,
        dynamic_axes=dynamic_axes,
        dtype=dtype,
        shapes=shapes,
        fuse_attention=asked and not refusal,
        fusion_refusal=refusal,
    )
    framework_converter.check_loaded(options)
    return options


def convert_to(
    model: Any, config: OnnxConfig, destination: Path, options: ExportOptions, framework: str, workdir: Path
) -> PostprocessReport:
    """Convert with the framework's converter into ``workdir``, post-process into ``destination``."""
    raw = workdir / "raw" / "model.onnx"
    raw.parent.mkdir(parents=True, exist_ok=True)
    note = converter_for(framework).convert(model, config, raw, options)
    report = replace(postprocess(raw, destination, config.dynamic_axes, options.dynamic_axes), note=note or "")
    if report.frozen:
        raise ExportError(
            f"The {options.converter} exporter fixed axes that must stay dynamic: {', '.join(report.frozen)}. "
            "Try the other exporter, or --no-dynamic-axes."
        )
    return report


def export(
    model: Any,
    config: OnnxConfig,
    output: str | os.PathLike[str],
    *,
    opset: int | None = None,
    converter: str = DEFAULT_CONVERTER,
    dynamic_axes: bool = True,
    shapes: DummyShapes = EXPORT_SHAPES,
) -> ExportResult:
    """Export an already loaded ``model`` to the ONNX file ``output`` (atomically).

    ``config`` comes from ``TasksManager.get_exporter_config_constructor(...)(model.config)``.
    The file is written to a staging folder beside ``output`` and renamed into place.
    """
    if len(config.components()) > 1:
        raise UnsupportedExportOptionError(
            f"A {config.task} export is several files ({', '.join(config.components())}): "
            "use export_components(...) with a directory, or main_export(...)."
        )
    start = time.perf_counter()
    framework = TasksManager.determine_framework(model)
    options = resolve_options(
        config, opset=opset, converter=converter, dynamic_axes=dynamic_axes, shapes=shapes, framework=framework
    )
    output = Path(output).expanduser().absolute()
    output.parent.mkdir(parents=True, exist_ok=True)
    with staging_folder(output.parent, output.name) as staging:
        final = staging / "final" / output.name
        final.parent.mkdir()
        report = convert_to(model, config, final, options, framework, staging)
        with finishing():
            for produced in final.parent.iterdir():  # the model, and its data file when over 2 GiB
                os.replace(produced, output.parent / produced.name)
    return ExportResult(output, framework, options, report, time.perf_counter() - start)


def reference_runner(model: Any, config: OnnxConfig, framework: str) -> Callable[[Mapping[str, Any]], Reference]:
    """How to get the framework's own outputs for ONNX-named inputs, in float32 and, where it can, float64.

    The framework's converter knows the export's input and output conventions (caches as
    ``past_key_values.{i}.key``) and runs the model eagerly through them.
    """
    converter = converter_for(framework)
    return lambda inputs: converter.run_reference(model, config, inputs)


def validate_export(
    model: Any,
    config: OnnxConfig,
    onnx_path: str | os.PathLike[str],
    *,
    atol: float | None = None,
    shapes: DummyShapes | None = None,
    raise_on_failure: bool = True,
) -> ValidationReport:
    """Compare ``onnx_path`` run in onnxruntime with ``model`` run by its framework.

    Without ``atol``, each output's bound is derived from the model (see :mod:`.validation`).
    """
    report = validate(
        Path(onnx_path),
        config,
        reference_runner(model, config, TasksManager.determine_framework(model)),
        shapes or validation_shapes_for(EXPORT_SHAPES),
        Tolerance(atol=atol),
    )
    if raise_on_failure:
        raise_if_failed(report)
    return report


def export_components(
    model: Any, config: OnnxConfig, directory: Path, options: ExportOptions, framework: str, workdir: Path
) -> dict[str, PostprocessReport]:
    """Export every file of ``config`` (``model.onnx``, or the encoder and decoder files) into ``directory``."""
    return {
        name: convert_to(model, part, directory / f"{name}.onnx", options, framework, workdir / name)
        for name, part in config.components().items()
    }


def validate_components(
    model: Any,
    config: OnnxConfig,
    directory: Path,
    framework: str,
    shapes: DummyShapes,
    atol: float | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """Validate every file of ``config`` in ``directory``; one report, outputs named ``file:output`` when split.

    Without ``atol``, each output's bound is derived from the model (see :mod:`.validation`). ``inputs``: real
    inputs of a one-file export (speech, a photograph) instead of dummy ones of ``shapes``.
    """
    components = config.components()
    tolerance = Tolerance(atol=atol)
    merged = ValidationReport(tolerance=tolerance, shapes={})
    for name, part in components.items():
        report = validate(
            directory / f"{name}.onnx", part, reference_runner(model, part, framework), shapes, tolerance, inputs=inputs
        )
        prefix = "" if len(components) == 1 else f"{name}:"
        merged.outputs += [replace(check, name=prefix + check.name) for check in report.outputs]
        merged.shapes.update(report.shapes)
    return merged


def validate_fused_attention(
    model: Any, config: OnnxConfig, directory: Path, framework: str, shapes: DummyShapes, atol: float | None = None
) -> ValidationReport:
    """Validate a one-file decoder whose attention is fused on :func:`fused_attention_feeds`; outputs are named
    ``prompt:...`` and ``step:...``."""
    tolerance = Tolerance(atol=atol)
    merged = ValidationReport(tolerance=tolerance, shapes={})
    runner = reference_runner(model, config, framework)
    for feed, (feed_shapes, inputs) in fused_attention_feeds(config, shapes).items():
        report = validate(directory / "model.onnx", config, runner, feed_shapes, tolerance, inputs=inputs)
        merged.outputs += [replace(check, name=f"{feed}:{check.name}") for check in report.outputs]
        merged.shapes.update({f"{feed} {name}": size for name, size in report.shapes.items()})
    return merged
