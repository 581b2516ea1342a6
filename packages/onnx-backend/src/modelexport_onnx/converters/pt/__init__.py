"""The PyTorch converter: ``torch.onnx`` through TorchScript or dynamo, and the facts that choose between them.

This module imports neither torch nor transformers: the option checks ask it before the model is
loaded. :mod:`.convert` (imported by :meth:`PyTorchConverter.convert`) does the work.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from importlib import util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelexport_core.registry import normalize_model_type
from modelexport_core.versions import major_version, version_text
from modelexport_pipeline.errors import UnsupportedExportOptionError

from ...config import DecoderOnnxConfig, OnnxConfig
from .. import import_heavy

if TYPE_CHECKING:
    from modelexport_pipeline.checks import Reference

    from ...options import ExportOptions

#: The dynamo exporter emits opset 18 at least and converts down poorly: it is its floor.
DYNAMO_MIN_OPSET = 18
#: TorchScript's default: from opset 17 layer norm is one ``LayerNormalization`` node (before, six to eight),
#: which onnxruntime runs as one kernel; all-MiniLM-L6-v2 goes from 646 to 516 nodes (optimum's export: 524).
TORCHSCRIPT_PREFERRED_OPSET = 17

#: The highest opset torch 2.13's TorchScript exporter supports (``torch.onnx._constants.
#: ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET``): above it torch only warns that the opset "is not supported",
#: from 24 on it prints the whole graph to stdout and fails. Used when the installed torch's own
#: value cannot be read.
TORCHSCRIPT_MAX_OPSET = 20

#: Device files that show a GPU torch could use (NVIDIA's driver; AMD's ROCm, which torch also calls CUDA).
GPU_DEVICE_FILES = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd")

#: Model types TorchScript cannot trace, and why: ``auto`` exports them with dynamo.
TORCHSCRIPT_CANNOT_TRACE: dict[str, str] = {
    # the segmentation head pools adaptively over sizes TorchScript cannot see
    "beit": "its segmentation head pools adaptively over traced sizes",
    "data2vec-vision": "its segmentation head pools adaptively over traced sizes",
    # measured by tools/media_walk.py: TorchScript freezes the (batch x channels) rows of the patched series
    **dict.fromkeys(("patchtst", "patchtsmixer"), "its patching folds the channels into the batch at traced sizes"),
    # measured by tools/text_walk.py (transformers 5.24, torch 2.13): TorchScript fails, dynamo validates
    "fnet": "it mixes tokens with aten::fft_fftn",
    "tapas": "it pools cells with aten::scatter_reduce",
    **dict.fromkeys(
        ("axk2", "deepseek-v32", "glm-moe-dsa", "hy-v4", "hy-v4-vl-text", "dots3-note-text", "mistral-large4-text"),
        "its sparse-attention indexer uses an in-place aten::scatter TorchScript cannot alias",
    ),
    **dict.fromkeys(
        ("inkling-text", "inkling2-text", "inkling2-loop-text", "mimo-v2-flash"),
        "its attention traces to fixed sizes",
    ),
    "jetmoe": "its mixture of attention heads traces to the traced tokens' splits",
    "openai-privacy-filter": "its experts trace to the traced tokens' splits",
}

#: With transformers 4.x only (measured with 4.57): TorchScript freezes the batch size of these decoders' inputs.
#: transformers 5 traces them (the ``aten::diff`` of their positions translated in ``symbolics.py``).
TORCHSCRIPT_CANNOT_TRACE_BEFORE_5: dict[str, str] = dict.fromkeys(
    ("whisper", "vision-encoder-decoder", "moonshine", "speech-encoder-decoder"),
    "transformers 4.x traces its decoder to the traced batch size",
)

#: Model types the dynamo exporter cannot export, and why: ``--exporter dynamo`` is refused for them before
#: tracing (``auto`` picks TorchScript for them). The first item: the transformers major version from which dynamo
#: can (``None``: none yet).
DYNAMO_CANNOT_EXPORT: dict[str, tuple[int | None, str]] = {
    "vits": (5, "its duration spline checks its bounds with a Python `if` on tensor values, refused by torch.export"),
    # measured with torch 2.13 + onnxscript 0.7.2: torch.export stops at the data-dependent padding of EnCodec's
    # convolutions and, past it, the LSTM's lowering freezes the traced audio length in a Reshape
    "musicgen": (None, "EnCodec's decoder pads by data-dependent sizes and its LSTM lowers to the traced audio length"),
}

_FP16_ON_CPU = (
    "--dtype fp16 needs a CUDA GPU, and none is visible on this machine: PyTorch cannot produce fp16 "
    "reference outputs on CPU. Export in fp32 (the default) and convert the validated model afterwards "
    "(onnxconverter-common's float16.convert_float_to_float16)."
)


class PyTorchConverter:
    """``torchscript`` (fast: 0.1-0.3 s per tiny model) wherever it traces the model, else ``dynamo``."""

    framework = "pt"
    names: tuple[str, ...] = ("torchscript", "dynamo")
    required_modules: tuple[str, ...] = ("torch",)

    def automatic(self, config: OnnxConfig | None) -> str | None:
        """TorchScript, except where it cannot trace the model: then dynamo.

        transformers 4.x builds decoder-only attention masks with ``torch.vmap``; TorchScript fails on
        it and a vmap-free mask traces to fixed shapes, so those models go through dynamo there.
        """
        if config is None:
            return None
        if dynamo_only_reason(str(getattr(config.config, "model_type", ""))) is not None:
            return "dynamo"
        if isinstance(config, DecoderOnnxConfig) and (major_version("transformers") or 5) < 5:
            return "dynamo"
        return "torchscript"

    def opset_floor(self, name: str) -> int:
        return DYNAMO_MIN_OPSET if name == "dynamo" else 1

    def preferred_opset(self, name: str) -> int:
        return DYNAMO_MIN_OPSET if name == "dynamo" else TORCHSCRIPT_PREFERRED_OPSET

    def check_options(self, *, opset: int | None, name: str | None, dtype: str, model_type: str = "") -> None:
        if dtype == "fp16" and not gpu_visible():
            raise UnsupportedExportOptionError(_FP16_ON_CPU)
        if name == "dynamo":
            _refuse_dynamo(model_type)
        if opset is not None and name == "torchscript":
            ceiling = torchscript_max_opset()
            if opset > ceiling:
                raise UnsupportedExportOptionError(
                    f"--opset {opset} is beyond the TorchScript exporter: torch {version_text('torch')} emits "
                    f"opset {ceiling} at most. Use --opset {ceiling} or lower, or --exporter dynamo for a newer opset."
                )

    def export_notes(self, model_type: str) -> list[str]:
        notes = []
        reason = dynamo_only_reason(model_type)
        if reason is not None:
            notes.append(f"exported with dynamo (auto): TorchScript cannot trace it ({reason})")
        refusal = dynamo_refusal(model_type)
        if refusal is not None:
            notes.append(f"not with --exporter dynamo and this transformers: {refusal}")
        return notes

    def check_loaded(self, options: ExportOptions) -> None:
        if options.dtype == "fp16":
            import torch

            if not torch.cuda.is_available():
                raise UnsupportedExportOptionError(_FP16_ON_CPU)

    def convert(self, model: Any, config: OnnxConfig, path: Path, options: ExportOptions) -> str | None:
        note: str | None = import_heavy(self.framework, f"{__name__}.convert").convert(model, config, path, options)
        return note

    def run_reference(self, model: Any, config: OnnxConfig, inputs: Mapping[str, Any]) -> Reference:
        reference: Reference = import_heavy(self.framework, f"{__name__}.convert").run_reference(model, config, inputs)
        return reference

    def kind_module(self, name: str) -> Any:
        return import_heavy(self.framework, f"{__name__}.{name}")

    def streaming(self) -> Any:
        return import_heavy(self.framework, f"{__name__}.streamed")


converter = PyTorchConverter()


def dynamo_only_reason(model_type: str) -> str | None:
    """Why TorchScript cannot trace ``model_type`` (so ``auto`` picks dynamo), ``None`` when it can."""
    if not model_type:
        return None
    model_type = normalize_model_type(model_type)
    if (major_version("transformers") or 5) < 5 and model_type in TORCHSCRIPT_CANNOT_TRACE_BEFORE_5:
        return TORCHSCRIPT_CANNOT_TRACE_BEFORE_5[model_type]
    return TORCHSCRIPT_CANNOT_TRACE.get(model_type)


def _refuse_dynamo(model_type: str) -> None:
    refusal = dynamo_refusal(model_type)
    if refusal is not None:
        raise UnsupportedExportOptionError(
            f"--exporter dynamo cannot export {model_type} with transformers {version_text('transformers')}: "
            f"{refusal}. Use --exporter torchscript (the automatic choice)."
        )


def dynamo_refusal(model_type: str) -> str | None:
    """Why the dynamo exporter cannot export ``model_type`` with the installed transformers, ``None`` when it can."""
    found = DYNAMO_CANNOT_EXPORT.get(normalize_model_type(model_type)) if model_type else None
    major = major_version("transformers")
    if found is None or (found[0] is not None and (major is None or major >= found[0])):
        return None
    return found[1]


def gpu_visible() -> bool:
    """Whether a GPU device is visible, from device files alone (importing torch to ask takes seconds).

    Errs on the side of a GPU: the export checks ``torch.cuda.is_available()`` again once torch is loaded.
    """
    return any(os.path.exists(path) for path in GPU_DEVICE_FILES)


def torchscript_max_opset() -> int:
    """The highest opset the installed torch's TorchScript exporter declares, read from its source, not imported."""
    spec = util.find_spec("torch")  # a top-level spec: finding it imports nothing
    if spec is not None and spec.origin:
        constants = Path(spec.origin).parent / "onnx" / "_constants.py"
        try:
            found = re.search(r"^ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET\s*=\s*(\d+)", constants.read_text(), re.M)
        except OSError:
            found = None
        if found:
            return int(found.group(1))
    return TORCHSCRIPT_MAX_OPSET
