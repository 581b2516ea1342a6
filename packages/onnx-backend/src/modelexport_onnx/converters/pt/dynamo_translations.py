"""ONNX translations the dynamo exporter of ``torch.onnx`` lacks or gets wrong (its ``custom_translation_table``).

``aten._is_all_true``: transformers 5 checks conditions on tensors with ``torch_compilable_check``, which
under ``torch.export`` becomes ``torch._check_tensor_all``: ``_is_all_true`` feeding an assertion. The
exporter drops the assertion but has no translation for the reduction (VITS checks that its duration
spline's inputs lie inside the spline's bounds), so the whole export failed. It is "no element is false":
``Not(ReduceMax(Cast(Not(x))))``, a boolean scalar.

``aten::repeat_interleave.self_int`` by a count known only at run time: onnxscript 0.7.2's torchlib puts the
count on the axis before the repeated one, so its ``Expand`` broadcasts the wrong axis: the graph either fails in
onnxruntime or repeats nothing. SAM's mask decoder repeats each image's embeddings once per prompt
(``repeat_interleave(point_batch_size, 0)``) and hit it. Here the input gets a new axis after the repeated one,
is expanded to the count along it and folded back: the same ``Unsqueeze``, ``Expand``, ``Reshape`` as onnxscript,
with the count where it belongs. Validation compares the result with PyTorch like any other export.
"""

from __future__ import annotations

from typing import Any

import torch


def _ints(*values: int) -> Any:
    from onnxscript import opset18 as op

    return op.Constant(value_ints=list(values))


def is_all_true(condition: Any) -> Any:
    """``torch._is_all_true(condition)``: no element is false."""
    from onnxscript import BOOL, INT64
    from onnxscript import opset18 as op

    any_false = op.ReduceMax(op.Cast(op.Not(condition), to=INT64.dtype), keepdims=0)
    return op.Not(op.Cast(any_false, to=BOOL.dtype))


def repeat_interleave_self_int(self: Any, repeats: Any, dim: int | None = None, output_size: Any = None) -> Any:
    """``self.repeat_interleave(repeats, dim)``, ``repeats`` an int or a symbolic size (an int64 tensor)."""
    from onnxscript import opset18 as op

    if dim is None:  # torch repeats the flattened input
        self, dim = op.Reshape(self, _ints(-1)), 0
    axis = dim % len(self.shape)
    count = _ints(repeats) if isinstance(repeats, int) else op.Reshape(repeats, _ints(-1))
    before, after = op.Shape(self, end=axis + 1), op.Shape(self, start=axis + 1)
    spread = op.Expand(op.Unsqueeze(self, _ints(axis + 1)), op.Concat(before, count, after, axis=0))
    return op.Reshape(spread, op.Concat(op.Shape(self, end=axis), _ints(-1), after, axis=0))


def translation_table() -> dict[Any, Any]:
    """The operator -> onnxscript function table handed to ``torch.onnx.export(..., dynamo=True)``."""
    from onnxscript import BOOL

    # torch reads the ONNX types from the annotations, which are strings under postponed evaluation
    is_all_true.__annotations__ = {"condition": BOOL, "return": BOOL}
    return {
        torch.ops.aten._is_all_true.default: is_all_true,
        torch.ops.aten.repeat_interleave.self_int: repeat_interleave_self_int,
    }
