"""Export configs: the ONNX backend's side of what an export of one ``(architecture, task)`` takes and gives.

What an export takes and gives in any format (inputs, outputs, dynamic axes, dummy inputs) is the pipeline's
export spec (:mod:`modelexport_pipeline.specs`); an ONNX config is a spec with what is ONNX's own: the opset
range, from the architecture's floor (``min_opset``) to the default the export is written with. Each family's
config is its spec with that (``TextEncoderOnnxConfig`` is ``TextEncoderSpec`` with the opsets), under optimum's
names. Architectures are data (:mod:`.architectures`), not subclasses.
"""

from __future__ import annotations

from typing import ClassVar

from modelexport_pipeline.specs import (
    DEFAULT_IMAGE_SIZE,
    ENCODER_TASKS,
    GENERATION_TASKS,
    HEAD_OUTPUTS,
    MASK_QUERY_OUTPUTS,
    SINGLE_FILE_TASKS,
    AxisNames,
    DecoderSpec,
    ExportSpec,
    InputSpec,
    NormalizedConfig,
    Part,
    Seq2SeqSpec,
    Speech,
    TextEncoderSpec,
    TokenTypeIds,
    Vision,
    VisionSpec,
    by_layer,
    image_size,
    pixel_values_spec,
    vision_of,
)

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "ENCODER_TASKS",
    "GENERATION_TASKS",
    "HEAD_OUTPUTS",
    "MASK_QUERY_OUTPUTS",
    "SINGLE_FILE_TASKS",
    "AxisNames",
    "DecoderOnnxConfig",
    "InputSpec",
    "NormalizedConfig",
    "OnnxConfig",
    "Part",
    "Seq2SeqOnnxConfig",
    "Speech",
    "TextEncoderOnnxConfig",
    "TokenTypeIds",
    "Vision",
    "VisionOnnxConfig",
    "by_layer",
    "image_size",
    "pixel_values_spec",
    "vision_of",
]


class OnnxConfig(ExportSpec):
    """Base of every ONNX export config: an export spec with its opset range.

    ``min_opset`` (an option of the architecture's registry entry) raises the floor above the class's
    ``MIN_ONNX_OPSET``; the export is written at :attr:`default_opset` unless the user names one.
    """

    DEFAULT_ONNX_OPSET: ClassVar[int] = 14
    MIN_ONNX_OPSET: ClassVar[int] = 11
    BACKEND_OPTIONS: ClassVar[frozenset[str]] = frozenset({"min_opset"})

    @property
    def min_opset(self) -> int:
        """The lowest opset the architecture exports at."""
        return max(self.backend_options.get("min_opset") or self.MIN_ONNX_OPSET, self.MIN_ONNX_OPSET)

    @property
    def default_opset(self) -> int:
        """The opset an export is written at unless the user names one."""
        return max(self.DEFAULT_ONNX_OPSET, self.min_opset)


class TextEncoderOnnxConfig(TextEncoderSpec, OnnxConfig):
    """Encoder-only text models (the BERT family), in ONNX."""


class DecoderOnnxConfig(DecoderSpec, OnnxConfig):
    """Decoder-only text models, with or without a key/value cache, in ONNX."""


class Seq2SeqOnnxConfig(Seq2SeqSpec, OnnxConfig):
    """Encoder-decoder text, speech and image-to-text models, in ONNX (optimum's three files)."""


class VisionOnnxConfig(VisionSpec, OnnxConfig):
    """Image models, in ONNX."""
