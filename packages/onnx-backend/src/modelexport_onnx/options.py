"""The options of one export, checked once, shared by converters, validation and the CLI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, DummyShapes, validation_shapes_for

#: The conversion paths (``--exporter`` on the command line): ``torchscript`` and ``dynamo`` convert
#: PyTorch models, ``tf2onnx`` TensorFlow ones; ``auto`` lets the framework's converter choose.
CONVERTERS = ("auto", "torchscript", "dynamo", "tf2onnx")
DTYPES = ("fp32", "fp16")
#: ``--optimize``: onnxruntime's graph optimizations (see :mod:`.optimize`).
OPTIMIZATION_LEVELS = ("O1", "O2", "O3")
#: ``--quantize``: onnxruntime's dynamic int8 quantization, or weight-only ``MatMulNBits`` at 8 or 4 bits
#: (see :mod:`.quantize`).
QUANTIZATION_MODES = ("dynamic", "int8", "int4")
Dtype = Literal["fp32", "fp16"]
#: ``auto`` is TorchScript wherever it traces the model: on the registry walk it exports every
#: pair in 0.1-0.3 s per tiny model, where dynamo takes 3-10 s. Where TorchScript cannot
#: (decoders with transformers 4.x), ``auto`` is dynamo. See the README.
DEFAULT_CONVERTER = "auto"


@dataclass(frozen=True)
class ExportOptions:
    opset: int
    #: The conversion path taken (never ``auto``: resolved by the framework's converter).
    converter: str
    dynamic_axes: bool = True
    dtype: str = "fp32"
    shapes: DummyShapes = field(default=EXPORT_SHAPES)
    #: Traced without the weights, which are streamed from the checkpoint (a model larger than the memory allowed).
    streamed: bool = False
    #: A decoder's attention traced as onnxruntime's ``GroupQueryAttention`` (``--optimize O2/O3`` with TorchScript;
    #: see ``converters/pt/fused_attention.py``). The converter still keeps the plain graph where it cannot fuse.
    fuse_attention: bool = False
    #: Why a decoder's attention is not fused though ``--optimize`` asked for the fusions ("": it is, or not asked).
    fusion_refusal: str = ""

    @property
    def validation_shapes(self) -> DummyShapes:
        """Shapes that differ from the traced ones in every dimension (the same ones if axes are fixed)."""
        if not self.dynamic_axes:
            return self.shapes
        return validation_shapes_for(self.shapes)
