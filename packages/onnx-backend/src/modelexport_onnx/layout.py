"""Where the exported files go, and under which names: the layout of the program that will load them.

- ``flat`` (optimum's ``ORTModel*`` classes, onnxruntime itself): every file in the output folder, as exported.
- ``transformers.js``: the ONNX files under ``onnx/``, named as its loader reads them: ``model.onnx``;
  ``encoder_model.onnx`` and ``decoder_model_merged.onnx`` for encoder-decoders (one decoder for the first step
  and the cached ones, chosen by ``use_cache_branch``: :mod:`.merge`); a dtype variant as a suffix
  (``model_quantized.onnx`` for dynamic int8, ``model_int8.onnx`` and ``model_q4.onnx`` for weight-only int8 and
  int4, ``model_fp16.onnx``). Weights inside each file; one over protobuf's 2 GiB
  has its own ``<file>_data``, declared in ``config.json``'s ``transformers.js_config``. Config, tokenizer and
  processor files stay at the top.
- ``sentence-transformers``: a sentence-transformers checkpoint exported with ``--library transformers``: the
  transformer under ``onnx/`` (``SentenceTransformer(folder, backend="onnx")`` reads ``onnx/model.onnx``) beside the
  checkpoint's module files (``modules.json``, pooling, dense and normalize folders), so the library runs its
  own pooling on the exported transformer.

``auto`` is ``sentence-transformers`` for a checkpoint with ``modules.json`` exported as its transformer alone,
else ``flat``. What a layout cannot hold is refused before the model is loaded (:func:`check_layout`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelexport_pipeline.errors import UnsupportedExportOptionError
from modelexport_pipeline.libraries.sentence_transformers import MODULES_FILE

LAYOUTS = ("auto", "flat", "transformers.js", "sentence-transformers")

#: transformers.js's file-name suffix per variant of a file (``DEFAULT_DTYPE_SUFFIX_MAPPING`` in its loader).
TRANSFORMERS_JS_SUFFIXES = {"fp32": "", "fp16": "_fp16", "quantized": "_quantized", "int8": "_int8", "q4": "_q4"}
#: Our quantized files' suffixes (``--quantize dynamic``, ``int8``, ``int4``) and transformers.js's variant of each.
QUANTIZED_VARIANTS = {"_quantized": "quantized", "_int8": "int8", "_int4": "q4"}

#: Tasks whose export transformers.js runs as written: one file, or an encoder-decoder with its cache (its
#: generation loop feeds the cache back: a decoder without one would be given the last token alone).
_TRANSFORMERS_JS_GENERATING = {"causal-lm", "seq2seq-lm", "speech2seq-lm", "vision2seq-lm"}
_TRANSFORMERS_JS_UNSUPPORTED = {"text-to-audio"}

#: A sentence-transformers checkpoint's own files beside its modules' folders.
SENTENCE_FILES = ("modules.json", "config_sentence_transformers.json", "sentence_bert_config.json", "README.md")


def chosen_layout(layout: str, library: str, files: list[str]) -> str:
    """The layout ``auto`` stands for (the others stand for themselves)."""
    if layout != "auto":
        return layout
    return "sentence-transformers" if library == "transformers" and MODULES_FILE in files else "flat"


def check_layout(layout: str, task: str, library: str, files: list[str], dtype: str) -> str:
    """The layout to write, refusing before anything is loaded what it cannot hold."""
    if layout not in LAYOUTS:
        raise UnsupportedExportOptionError(f"Unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}.")
    chosen = chosen_layout(layout, library, files)
    base = task.removesuffix("-with-past")
    if chosen == "transformers.js":
        if base in _TRANSFORMERS_JS_UNSUPPORTED:
            raise UnsupportedExportOptionError(
                f"--layout transformers.js does not hold {task} exports (several models chained by our own loop); "
                "use the default layout."
            )
        if base in _TRANSFORMERS_JS_GENERATING and not task.endswith("-with-past"):
            raise UnsupportedExportOptionError(
                f"--layout transformers.js needs {task}-with-past: transformers.js generates with a cache, feeding "
                f"the model one new token a step. Export --task {task}-with-past."
            )
    if chosen == "sentence-transformers":
        if MODULES_FILE not in files:
            raise UnsupportedExportOptionError(
                f"--layout sentence-transformers needs a sentence-transformers checkpoint ({MODULES_FILE}); this "
                "model has none."
            )
        if library != "transformers" or base != "default" or task != base:
            raise UnsupportedExportOptionError(
                "--layout sentence-transformers holds the transformer of a sentence-transformers checkpoint for the "
                "library's ONNX backend: export it with --library transformers --task feature-extraction."
            )
        if dtype != "fp32":
            raise UnsupportedExportOptionError(
                "--layout sentence-transformers holds float32 exports: leave out --dtype."
            )
    return chosen


def apply_layout(
    layout: str, staging: Path, components: list[str], files: list[str], source: Path | None, dtype: str
) -> list[str]:
    """Move the exported files of ``staging`` into ``layout``; the files of the export afterwards."""
    if layout == "transformers.js":
        return _transformers_js(staging, components, files, dtype)
    if layout == "sentence-transformers":
        return _sentence_transformers(staging, files, source)
    return files


def _model_file(name: str) -> bool:
    """An ONNX file or the external weights of one (``model.onnx_data``, ``shared_weights.onnx_data``)."""
    return name.endswith((".onnx", "_data"))


def _transformers_js(staging: Path, components: list[str], files: list[str], dtype: str) -> list[str]:
    from .merge import merge_decoders, resave

    folder = staging / "onnx"
    folder.mkdir()
    written: list[str] = []
    variants = [("fp16" if dtype == "fp16" else "fp32", "")]
    variants += [
        (variant, ours)
        for ours, variant in QUANTIZED_VARIANTS.items()
        if any(name == f"{part}{ours}.onnx" for name in files for part in components)
    ]
    large: dict[str, int] = {}
    parts = [name for name in components if name != "decoder_with_past_model"]  # merged into decoder_model's
    for variant, ours in variants:
        suffix = TRANSFORMERS_JS_SUFFIXES[variant]
        for part in parts:
            source = staging / f"{part}{ours}.onnx"
            if part == "decoder_model" and "decoder_with_past_model" in components:
                target = folder / f"decoder_model_merged{suffix}.onnx"
                data = merge_decoders(source, staging / f"decoder_with_past_model{ours}.onnx", target)
            else:
                target = folder / f"{part}{suffix}.onnx"
                data = resave(source, target)
            written.append(f"onnx/{target.name}")
            if data is not None:
                written.append(f"onnx/{data}")
                large[target.name] = 1
    for name in filter(_model_file, files):
        (staging / name).unlink(missing_ok=True)
    if large:
        _declare_external_data(staging / "config.json", large)
    return sorted([name for name in files if not _model_file(name)] + written)


def _declare_external_data(config_path: Path, files: Mapping[str, int]) -> None:
    """Tell transformers.js which files keep their weights in ``<file>_data`` (one chunk each)."""
    config: dict[str, Any] = json.loads(config_path.read_text()) if config_path.is_file() else {}
    custom = dict(config.get("transformers.js_config") or {})
    custom["use_external_data_format"] = dict(files)
    config["transformers.js_config"] = custom
    config_path.write_text(json.dumps(config, indent=2) + "\n")


def _sentence_transformers(staging: Path, files: list[str], source: Path | None) -> list[str]:
    folder = staging / "onnx"
    folder.mkdir()
    moved = []
    for name in filter(_model_file, files):
        (staging / name).rename(folder / name)
        moved.append(f"onnx/{name}")
    kept = [name for name in files if f"onnx/{name}" not in moved]
    if source is None:
        return sorted(kept + moved)
    copied = [name for name in SENTENCE_FILES if (source / name).is_file() and name not in kept]
    for name in copied:
        shutil.copyfile(source / name, staging / name)
    for module in json.loads((source / MODULES_FILE).read_text()):
        path = str(module.get("path", "")) if isinstance(module, dict) else ""
        if not path or not (source / path).is_dir():
            continue  # the transformer itself sits at the top: config.json and the tokenizer are there already
        shutil.copytree(source / path, staging / path, dirs_exist_ok=True)
        copied += [p.relative_to(staging).as_posix() for p in (staging / path).rglob("*") if p.is_file()]
    return sorted(kept + moved + copied)
