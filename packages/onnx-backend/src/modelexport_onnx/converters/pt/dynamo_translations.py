"""ONNX translations for operators the dynamo exporter of ``torch.onnx`` lacks (its ``custom_translation_table``).

``aten._is_all_true``: transformers 5 checks conditions on tensors with ``torch_compilable_check``, which
under ``torch.export`` becomes ``torch._check_tensor_all``: ``_is_all_true`` feeding an assertion. The
exporter drops the assertion but has no translation for the reduction (VITS checks that its duration
spline's inputs lie inside the spline's bounds), so the whole export failed. It is "no element is false":
``Not(ReduceMax(Cast(Not(x))))``, a boolean scalar.
"""

from __future__ import annotations

from typing import Any

import torch


def translation_table() -> dict[Any, Any]:
    """The operator -> onnxscript function table handed to ``torch.onnx.export(..., dynamo=True)``."""
    from onnxscript import BOOL, INT64
    from onnxscript import opset18 as op

    def is_all_true(condition: Any) -> Any:
        any_false = op.ReduceMax(op.Cast(op.Not(condition), to=INT64.dtype), keepdims=0)
        return op.Not(op.Cast(any_false, to=BOOL.dtype))

    # torch reads the ONNX types from the annotations, which are strings under postponed evaluation
    is_all_true.__annotations__ = {"condition": BOOL, "return": BOOL}

    return {torch.ops.aten._is_all_true.default: is_all_true}
