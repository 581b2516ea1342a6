"""The options of one export, checked once, shared by converters, validation and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from .dummy_inputs import EXPORT_SHAPES, DummyShapes

#: ``torchscript`` and ``dynamo`` convert PyTorch models, ``tf2onnx`` TensorFlow ones.
EXPORTERS = ("auto", "torchscript", "dynamo", "tf2onnx")
DTYPES = ("fp32", "fp16")
OPTIMIZATION_LEVELS = ("O1", "O2", "O3")
#: ``auto`` is TorchScript wherever it traces the model: on the registry walk it exports every
#: pair in 0.1-0.3 s per tiny model, where dynamo takes 3-10 s. Where TorchScript cannot
#: (decoders with transformers 4.x), ``auto`` is dynamo. See the README.
DEFAULT_EXPORTER = "auto"
IMAGE_DIMENSIONS = ("height", "width")


@dataclass(frozen=True)
class ExportOptions:
    opset: int
    exporter: str = DEFAULT_EXPORTER
    dynamic_axes: bool = True
    dtype: str = "fp32"
    shapes: DummyShapes = field(default=EXPORT_SHAPES)

    @property
    def validation_shapes(self) -> DummyShapes:
        """Shapes that differ from the traced ones in every dimension (the same ones if axes are fixed)."""
        if not self.dynamic_axes:
            return self.shapes
        return validation_shapes_for(self.shapes)


def validation_shapes_for(shapes: DummyShapes) -> DummyShapes:
    """Every dimension moved off its traced size: one larger, or smaller for sequence-like sizes."""
    changed = {}
    for f in fields(shapes):
        size = int(getattr(shapes, f.name))
        if f.name in IMAGE_DIMENSIONS:  # keep images a multiple of the usual 32-pixel stride
            changed[f.name] = size + 32
        else:
            changed[f.name] = size - 5 if size > 8 else size + 1
    return DummyShapes(**changed)
