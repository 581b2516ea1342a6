"""Export specs: what an export of each model family takes and gives, shared by every backend.

A backend's configs subclass these with what is their own (``modelexport_onnx.config``: ``OnnxConfig`` adds the
opsets, ``TextEncoderOnnxConfig`` is ``TextEncoderSpec`` with it).
"""

from .base import (
    GENERATION_TASKS,
    HEAD_OUTPUTS,
    AxisNames,
    ExportSpec,
    InputSpec,
    NormalizedConfig,
    Part,
    as_attributes,
    dotted,
)
from .seq2seq import SINGLE_FILE_TASKS, Seq2SeqSpec, Speech, Vision, by_layer, vision_of
from .text import ENCODER_TASKS, DecoderSpec, TextEncoderSpec, TokenTypeIds
from .vision import DEFAULT_IMAGE_SIZE, MASK_QUERY_OUTPUTS, VisionSpec, image_size, pixel_values_spec

__all__ = [
    "DEFAULT_IMAGE_SIZE",
    "ENCODER_TASKS",
    "GENERATION_TASKS",
    "HEAD_OUTPUTS",
    "MASK_QUERY_OUTPUTS",
    "SINGLE_FILE_TASKS",
    "AxisNames",
    "DecoderSpec",
    "ExportSpec",
    "InputSpec",
    "NormalizedConfig",
    "Part",
    "Seq2SeqSpec",
    "Speech",
    "TextEncoderSpec",
    "TokenTypeIds",
    "Vision",
    "VisionSpec",
    "as_attributes",
    "by_layer",
    "dotted",
    "image_size",
    "pixel_values_spec",
    "vision_of",
]
