"""ONNX translations for operators the TorchScript exporter of ``torch.onnx`` lacks, registered before it runs.

``aten::linalg_solve_triangular`` (unit lower triangular, left side): gated delta-net layers (qwen3-next,
qwen3.5, olmo-hybrid, lara...) solve ``(I + N) X = B`` for every chunk of the sequence, ``N`` strictly
lower triangular of a fixed size ``n`` (the chunk, 64). Under the dynamo exporter transformers unrolls
a forward substitution instead: 63 steps a layer, minutes to export a two-layer model. ``N`` is
nilpotent (``N**n == 0``), so ``(I + N)**-1`` is the finite series ``sum((-N)**k for k < n)``, which
is the product of ``I + (-N)**(2**j)`` for ``j < ceil(log2 n)``: six squarings and products for 64,
exact in exact arithmetic. The validation compares it with PyTorch's solver like any other export.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

#: The lowest opset the translations need (MatMul, Neg, Mul, Add, Cast).
OPSET = 9

_registered = False


def register() -> None:
    """Register the translations with ``torch.onnx`` once per process (they apply to every later export)."""
    global _registered
    if _registered:
        return
    torch.onnx.register_custom_op_symbolic("aten::linalg_solve_triangular", _solve_unit_lower_triangular, OPSET)
    _registered = True


def _solve_unit_lower_triangular(g: Any, a: Any, b: Any, upper: Any, left: Any, unitriangular: Any) -> Any:
    from torch.onnx._internal.torchscript_exporter import _type_utils, symbolic_helper

    flags = [symbolic_helper._maybe_get_const(flag, "b") for flag in (upper, left, unitriangular)]
    n = _square_size(a, symbolic_helper._get_tensor_sizes)
    if flags != [False, True, True] or n is None:
        return symbolic_helper._unimplemented(
            "linalg_solve_triangular", "only a unit lower triangular system of a fixed size, solved on the left", a
        )
    onnx_type = _type_utils.JitScalarType.from_value(a).onnx_type()

    def constant(values: np.ndarray) -> Any:
        return g.op("Cast", g.op("Constant", value_t=torch.from_numpy(values)), to_i=onnx_type)

    identity = constant(np.eye(n, dtype=np.float32))
    # -N: the strictly lower triangle of ``a`` (its diagonal is taken as ones, whatever it holds), negated.
    power = g.op("Neg", g.op("Mul", a, constant(np.tril(np.ones((n, n), dtype=np.float32), -1))))
    inverse = g.op("Add", identity, power)
    for _ in range(1, max(1, math.ceil(math.log2(n)))):
        power = g.op("MatMul", power, power)
        inverse = g.op("MatMul", inverse, g.op("Add", identity, power))
    return g.op("MatMul", inverse, b)


def _square_size(value: Any, sizes_of: Any, depth: int = 3) -> int | None:
    """The fixed size ``n`` of the trailing ``n x n`` matrices of ``value``, or of what it was computed from.

    A broadcasting product loses the static sizes the tracer knew (``a = m @ k * decay`` is ``(*, *, *, *, *)``
    while ``decay`` is ``(*, *, *, 64, 64)``); the operands keep them.
    """
    sizes = sizes_of(value) or []
    if len(sizes) >= 2 and isinstance(sizes[-1], int) and sizes[-1] == sizes[-2]:
        return int(sizes[-1])
    if depth == 0:
        return None
    for operand in value.node().inputs():
        found = _square_size(operand, sizes_of, depth - 1)
        if found is not None:
            return found
    return None
