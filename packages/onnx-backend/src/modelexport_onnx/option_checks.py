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
import math
import os
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from .converters import Converter
from .errors import OutputNotWritableError, UnsupportedExportOptionError
from .options import CONVERTERS, DTYPES, OPTIMIZATION_LEVELS, QUANTIZATION_MODES


def check_plain_options(
    *,
    atol: float | None,
    dtype: str,
    converter: str,
    report: str | os.PathLike[str] | None,
    optimize: str | None = None,
    quantize: str | None = None,
    batch_size: int | None = None,
    sequence_length: int | None = None,
) -> None:
    """The options that need no model: tolerance, dtype, converter (``--exporter``) name, report path,
    optimization level, quantization mode and the dummy input's sizes."""
    check_dummy_size("--batch-size", batch_size, MAX_BATCH_SIZE)
    check_dummy_size("--sequence-length", sequence_length, MAX_SEQUENCE_LENGTH)
    if converter not in CONVERTERS:
        raise UnsupportedExportOptionError(f"Unknown exporter {converter!r}; choose one of {', '.join(CONVERTERS)}.")
    if dtype not in DTYPES:
        raise UnsupportedExportOptionError(f"Unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}.")
    if atol is not None and not (math.isfinite(atol) and atol >= 0):
        raise UnsupportedExportOptionError(
            f"--atol {atol} is not a tolerance: give a finite number >= 0 (such as 1e-4), or leave it out to "
            "use a bound derived from the model."
        )
    if optimize is not None and optimize not in OPTIMIZATION_LEVELS:
        raise UnsupportedExportOptionError(
            f"Unknown optimization level {optimize!r}; choose one of {', '.join(OPTIMIZATION_LEVELS)}."
        )
    check_quantize_option(quantize, dtype)
    if report is not None:
        check_report_path(report)


#: The largest dummy batch traced: every row is a copy of the model's activations in memory at once.
MAX_BATCH_SIZE = 1024
#: The largest dummy sequence traced (a model's own position limit, where its config says, is checked with the model).
MAX_SEQUENCE_LENGTH = 32768

#: Model types whose position ids start after the padding id (RoBERTa's scheme): ``pad_token_id + 1`` positions of
#: ``max_position_embeddings`` are never a token's.
PADDING_OFFSET_POSITIONS = frozenset(
    {"roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl", "data2vec-text", "roberta-prelayernorm"}
)


def check_dummy_size(option: str, value: int | None, largest: int) -> None:
    """A dummy input size: a whole number from 1 to ``largest`` (a typo of 20 digits fails here, not in torch)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= largest:
        raise UnsupportedExportOptionError(
            f"{option} {value} is out of range: give a whole number from 1 to {largest} (or leave it out)."
        )


def position_limit(model_config: Mapping[str, Any]) -> int | None:
    """How many token positions the model embeds, from its ``config.json`` (``None``: no fixed table)."""
    text = model_config.get("text_config")
    config = text if isinstance(text, Mapping) and "max_position_embeddings" in text else model_config
    for key in ("max_position_embeddings", "n_positions"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            if str(config.get("model_type", model_config.get("model_type", ""))) in PADDING_OFFSET_POSITIONS:
                pad = config.get("pad_token_id")
                value -= (pad if isinstance(pad, int) else 1) + 1
            return value
    return None


def check_sequence_length(sequence_length: int | None, model_config: Mapping[str, Any], with_past: bool) -> None:
    """Refuse a dummy sequence (with a cache: plus the cached positions) longer than the model's position table."""
    limit = position_limit(model_config)
    if sequence_length is None or limit is None:
        return
    from .dummy_inputs import EXPORT_SHAPES

    past = EXPORT_SHAPES.past_sequence_length + 1 if with_past else 0  # validation's cache is one longer
    if sequence_length + past > limit:
        most = limit - past
        cached = f" with {past} cached positions" if past else ""
        raise UnsupportedExportOptionError(
            f"--sequence-length {sequence_length} is longer than this model embeds: its config has {limit} "
            f"positions{cached}. Give --sequence-length {most} or less (or leave it out)."
        )


def check_fixed_axes(dynamic_axes: bool, task: str, sentence_pipeline: bool) -> None:
    """``--no-dynamic-axes`` freezes every dimension, so it cannot meet what needs a dimension to vary: a cache that
    grows a token a step, or a sentence-transformers pipeline checked against ``encode`` on sentences of their own
    lengths."""
    if dynamic_axes:
        return
    if task.endswith("-with-past"):
        raise UnsupportedExportOptionError(
            f"--no-dynamic-axes cannot export {task}: its cache grows by a token each step, so its length cannot be "
            f"frozen. Export {task.removesuffix('-with-past')} with fixed axes, or keep dynamic axes."
        )
    if sentence_pipeline:
        raise UnsupportedExportOptionError(
            "--no-dynamic-axes cannot export a sentence-transformers pipeline, which is checked against encode on "
            "sentences of their own lengths: keep dynamic axes, or add --library transformers for the model alone."
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
            f"--quantize {quantize} quantizes float32 weights to int8, and --dtype {dtype} was asked: leave out "
            "--dtype (or give --dtype fp32), or leave out --quantize."
        )
    if importlib.util.find_spec("onnxruntime") is None:
        raise UnsupportedExportOptionError(
            f'--quantize {quantize} needs onnxruntime: pip install ".[onnx]" (from a clone).'
        )


def check_report_path(report: str | os.PathLike[str]) -> None:
    """Refuse a ``--report`` path that cannot be written: a directory, a missing or read-only folder.

    The report is written after validation, minutes into a large export: a bad path must fail first.
    """
    path = Path(report).expanduser().absolute()
    if path.is_dir():
        raise OutputNotWritableError(
            f"--report {report} is a directory; give a file path, such as {path / 'report.json'}."
        )
    if not path.parent.is_dir():
        raise OutputNotWritableError(
            f"--report {report}: the folder {path.parent} does not exist; create it first or choose another path."
        )
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputNotWritableError(f"--report {report} cannot be written (permission denied); choose another path.")


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
                f"--opset {opset} is newer than the installed onnx ({_version('onnx')}) knows: use --opset {newest} "
                "or lower."
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


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"
