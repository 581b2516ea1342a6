"""Checks of the export options that run before the model is loaded, and before torch or transformers is imported.

A wrong option must fail in a fraction of a second with one line saying what to do: importing torch and
transformers alone takes seconds, loading a real model more, and some mistakes (``--opset 99`` with the
TorchScript exporter) otherwise end in a page of Torch IR. Everything here reads package metadata, the
plain ``config.json``, or device files; nothing imports a framework. The framework's limits (which
exporters convert its models, their opset floors and ceilings, fp16) are its converter's to say
(:mod:`.converters`). The export checks again later what only the loaded model or the framework itself
can tell precisely (``resolve_options``, CUDA for fp16).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from typing import Any

from modelexport_core.versions import version_text
from modelexport_pipeline.errors import UnsupportedExportOptionError
from modelexport_pipeline.option_checks import check_sequence_length

from .converters import Converter
from .options import CONVERTERS, DTYPES, OPTIMIZATION_LEVELS, QUANTIZATION_MODES


def check_onnx_options(
    *,
    dtype: str,
    converter: str,
    optimize: str | None,
    quantize: str | None,
    quantizing: Mapping[str, object] | None = None,
) -> None:
    """The ONNX options that need no model: dtype, converter (``--exporter``) name, optimization level and
    quantization mode (the shared ones, tolerance, report path and dummy sizes, are the pipeline's to check)."""
    if converter not in CONVERTERS:
        raise UnsupportedExportOptionError(f"Unknown exporter {converter!r}; choose one of {', '.join(CONVERTERS)}.")
    if dtype not in DTYPES:
        raise UnsupportedExportOptionError(f"Unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}.")
    if optimize is not None and optimize not in OPTIMIZATION_LEVELS:
        raise UnsupportedExportOptionError(
            f"Unknown optimization level {optimize!r}; choose one of {', '.join(OPTIMIZATION_LEVELS)}."
        )
    check_quantize_option(quantize, dtype)
    check_quantizing_options(quantize, quantizing or {})


def check_quantizing_options(quantize: str | None, asked: Mapping[str, object]) -> None:
    """The weight-only quantization's own options: only with ``--quantize int4``/``int8``, each within its range."""
    if asked and quantize not in ("int4", "int8"):
        raise UnsupportedExportOptionError(
            f"{', '.join(asked)} set(s) the weight-only quantization: give --quantize int4 or --quantize int8"
            + (f" (not {quantize})." if quantize else ".")
        )
    block = asked.get("--block-size")
    if block is not None and (not isinstance(block, int) or block < 16 or block > 256 or block & (block - 1)):
        raise UnsupportedExportOptionError(
            f"--block-size {block}: MatMulNBits takes a power of two from 16 to 256 (16, 32, 64, 128, 256)."
        )
    level = asked.get("--accuracy-level")
    if level is not None and level not in range(5):
        raise UnsupportedExportOptionError(f"--accuracy-level {level}: choose 0, 1, 2, 3 or 4.")
    head_bits = asked.get("--lm-head-bits")
    if head_bits is not None and head_bits not in (4, 8):
        raise UnsupportedExportOptionError(f"--lm-head-bits {head_bits}: choose 4 or 8.")
    if head_bits is not None and asked.get("--no-quantize-lm-head"):
        raise UnsupportedExportOptionError(
            "--lm-head-bits sets the bits of a quantized LM head, and --no-quantize-lm-head keeps it float32: "
            "give one of them."
        )


def check_quantize_option(quantize: str | None, dtype: str) -> None:
    """``--quantize``: a known mode, of float32 weights, with onnxruntime's quantization tools installed."""
    if quantize is None:
        return
    if quantize not in QUANTIZATION_MODES:
        raise UnsupportedExportOptionError(
            f"Unknown quantization {quantize!r}; choose one of {', '.join(QUANTIZATION_MODES)}."
        )
    if dtype != "fp32":
        raise UnsupportedExportOptionError(
            f"--quantize {quantize} quantizes float32 weights, and --dtype {dtype} was asked: leave out "
            "--dtype (or give --dtype fp32), or leave out --quantize."
        )
    if importlib.util.find_spec("onnxruntime") is None:
        raise UnsupportedExportOptionError(
            f'--quantize {quantize} needs onnxruntime: pip install ".[onnx]" (from a clone).'
        )


def check_model_options(
    *,
    opset: int | None,
    converter: str,
    dtype: str,
    framework_converter: Converter,
    model_config: Mapping[str, Any],
    constructor: Callable[[Any], Any],
    framework_name: str | None = None,
    sequence_length: int | None = None,
    with_past: bool = False,
) -> None:
    """The options that depend on the model's framework and architecture, from its ``config.json`` alone.

    ``constructor`` builds the architecture's export config; it accepts the plain ``config.json``
    dict. Where that fails for some architecture, only the checks that need it are skipped here:
    they run again after loading. The framework's own limits come from its converter.
    """
    check_sequence_length(sequence_length, model_config, with_past)
    shown = framework_name or framework_converter.framework
    names = framework_converter.names
    if converter != "auto" and converter not in names:
        raise UnsupportedExportOptionError(
            f"--exporter {converter} does not convert {shown} models, and this model is a {shown} one: use "
            f"--exporter {' or '.join(names)} (or leave the default, auto)."
        )
    if opset is not None and opset < 1:
        raise UnsupportedExportOptionError(f"--opset {opset} is not an ONNX opset: give a positive number.")
    config = _export_config(constructor, model_config) if opset is not None else None
    chosen = framework_converter.automatic(config) if converter == "auto" else converter
    if opset is not None:
        if chosen is not None:
            check_opset_floor(opset, getattr(config, "min_opset", 1), framework_converter.opset_floor(chosen), chosen)
        newest = onnx_max_opset()
        if opset > newest:
            raise UnsupportedExportOptionError(
                f"--opset {opset} is newer than the installed onnx ({version_text('onnx')}) knows: "
                f"use --opset {newest} or lower."
            )
    model_type = str(model_config.get("model_type", "") or "")
    framework_converter.check_options(opset=opset, name=chosen, dtype=dtype, model_type=model_type)


def check_opset_floor(opset: int, min_opset: int, converter_floor: int, converter: str) -> None:
    """Refuse an opset below the architecture's minimum or the converter's floor, saying which it is."""
    floor = max(min_opset, converter_floor)
    if opset < floor:
        why = (
            f"the {converter} exporter emits opset {converter_floor} at least"
            if opset < converter_floor and converter_floor >= min_opset
            else f"this architecture needs opset {floor} or newer"
        )
        raise UnsupportedExportOptionError(f"--opset {opset} is too low: {why}. Use --opset {floor} or higher.")


def _export_config(constructor: Callable[[Any], Any], model_config: Mapping[str, Any]) -> Any:
    """The export config built from the plain ``config.json``, or ``None`` where that architecture needs more."""
    try:
        return constructor(dict(model_config))
    except Exception:  # checked again after loading, from the real config
        return None


def onnx_max_opset() -> int:
    """The newest opset of the installed onnx (importing onnx is cheap: no framework)."""
    import onnx.defs

    return int(onnx.defs.onnx_opset_version())
