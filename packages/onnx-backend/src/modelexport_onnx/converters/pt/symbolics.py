"""ONNX translations for operators the TorchScript exporter of ``torch.onnx`` lacks, registered before it runs.

``aten::linalg_solve_triangular`` (unit lower triangular, left side): gated delta-net layers (qwen3-next,
qwen3.5, olmo-hybrid, lara...) solve ``(I + N) X = B`` for every chunk of the sequence, ``N`` strictly
lower triangular of a fixed size ``n`` (the chunk, 64). Under the dynamo exporter transformers unrolls
a forward substitution instead: 63 steps a layer, minutes to export a two-layer model. ``N`` is
nilpotent (``N**n == 0``), so ``(I + N)**-1`` is the finite series ``sum((-N)**k for k < n)``, which
is the product of ``I + (-N)**(2**j)`` for ``j < ceil(log2 n)``: six squarings and products for 64,
exact in exact arithmetic. The validation compares it with PyTorch's solver like any other export.

``aten::repeat_interleave`` by one constant count: interleaved rotary embeddings (helium, glm, cohere,
ernie 4.5) repeat each cosine twice along the last axis. torch's own translation tiles and flattens through
a reshape whose output rank shape inference gets wrong (five axes for four), and the next concatenation or
reshape fails. Here it is an ``Unsqueeze``, an ``Expand`` and a ``Reshape`` to sizes read from the input,
which keeps the rank and every dynamic axis. Other repeats go to torch's translation.

Three operators TorchScript has no translation for at all, each of which alone sent its models to the slower
dynamo exporter (whisper's export took 109 s there): ``aten::diff`` (transformers 5 derives decoder positions
from it: whisper, moonshine, the vision and speech encoder-decoders), ``aten::expm1`` (apertus' xIELU
activation) and ``aten::rms_norm`` (diffllama's head norm). Each is its definition spelled in ONNX operators:
``x[1:] - x[:-1]`` along the axis after the prepended and appended values, ``exp(x) - 1``, and
``x / sqrt(mean(x**2) + eps) * weight`` over the normalized axes. The positions sum the differences of
a comparison with ``aten::cumsum``, which torch translates without its promotion of booleans and small
integers to int64 (``CumSum`` has no boolean kernel): the translation here casts first, as torch computes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

#: The lowest opset the translations need (MatMul, Neg, Mul, Add, Cast).
OPSET = 9

#: The opset of torch's own ``repeat_interleave`` translation, which this one replaces (Unsqueeze by input).
REPEAT_OPSET = 13

#: The opset of ``Slice`` with its bounds as inputs and ``ReduceMean`` as torch's helpers spell it.
SLICE_OPSET = 13

_registered = False


def register() -> None:
    """Register the translations with ``torch.onnx`` once per process (they apply to every later export)."""
    global _registered
    if _registered:
        return
    torch.onnx.register_custom_op_symbolic("aten::linalg_solve_triangular", _solve_unit_lower_triangular, OPSET)
    torch.onnx.register_custom_op_symbolic("aten::repeat_interleave", _repeat_interleave, REPEAT_OPSET)
    torch.onnx.register_custom_op_symbolic("aten::diff", _diff, SLICE_OPSET)
    torch.onnx.register_custom_op_symbolic("aten::cumsum", _cumsum, SLICE_OPSET)
    torch.onnx.register_custom_op_symbolic("aten::expm1", _expm1, OPSET)
    torch.onnx.register_custom_op_symbolic("aten::rms_norm", _rms_norm, SLICE_OPSET)
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


def _ints(g: Any, values: list[int]) -> Any:
    """A constant int64 vector (sizes, axes, bounds)."""
    return g.op("Constant", value_t=torch.tensor(values, dtype=torch.int64))


def _repeat_interleave(g: Any, value: Any, repeats: Any, dim: Any = None, output_size: Any = None) -> Any:
    from torch.onnx._internal.torchscript_exporter import symbolic_helper, symbolic_opset13

    count = None
    if symbolic_helper._is_constant(repeats):
        counts = torch.as_tensor(symbolic_helper._maybe_get_const(repeats, "t"))
        count = int(counts.item()) if counts.numel() == 1 else None
    rank = symbolic_helper._get_tensor_rank(value)
    axis = None if symbolic_helper._is_none(dim) else symbolic_helper._maybe_get_const(dim, "i")
    if not isinstance(count, int) or rank is None or not isinstance(axis, int):
        return symbolic_opset13.repeat_interleave(g, value, repeats, dim, output_size)
    axis = axis % rank

    shape = g.op("Shape", value)

    def sizes(start: int, end: int) -> Any:
        return g.op("Slice", shape, _ints(g, [start]), _ints(g, [end]), _ints(g, [0]))

    before, size, after = sizes(0, axis), sizes(axis, axis + 1), sizes(axis + 1, rank)
    unsqueezed = g.op("Unsqueeze", value, _ints(g, [axis + 1]))
    expanded = g.op("Expand", unsqueezed, g.op("Concat", before, size, _ints(g, [count]), after, axis_i=0))
    merged = g.op("Mul", size, _ints(g, [count]))
    return g.op("Reshape", expanded, g.op("Concat", before, merged, after, axis_i=0))


def _diff(g: Any, value: Any, n: Any, dim: Any, prepend: Any = None, append: Any = None) -> Any:
    from torch.onnx._internal.torchscript_exporter import symbolic_helper

    order = symbolic_helper._maybe_get_const(n, "i")
    axis = symbolic_helper._maybe_get_const(dim, "i")
    if order != 1 or not isinstance(axis, int):
        return symbolic_helper._unimplemented("diff", "only the first difference along a constant axis", value)
    parts = [part for part in (prepend, value, append) if part is not None and not symbolic_helper._is_none(part)]
    whole = g.op("Concat", *parts, axis_i=axis) if len(parts) > 1 else value
    axes = _ints(g, [axis])
    later = g.op("Slice", whole, _ints(g, [1]), _ints(g, [2**62]), axes)
    earlier = g.op("Slice", whole, _ints(g, [0]), _ints(g, [-1]), axes)
    return g.op("Sub", later, earlier)


def _expm1(g: Any, value: Any) -> Any:
    from torch.onnx._internal.torchscript_exporter import _type_utils

    one = g.op("Constant", value_t=torch.tensor(1.0, dtype=_type_utils.JitScalarType.from_value(value).dtype()))
    return g.op("Sub", g.op("Exp", value), one)


def _rms_norm(g: Any, value: Any, normalized_shape: Any, weight: Any = None, eps: Any = None) -> Any:
    from torch.onnx._internal.torchscript_exporter import _type_utils, symbolic_helper

    shape = symbolic_helper._maybe_get_const(normalized_shape, "is")
    if not isinstance(shape, list):
        return symbolic_helper._unimplemented("rms_norm", "a constant normalized shape", value)
    scalar = _type_utils.JitScalarType.from_value(value)
    epsilon = None if eps is None or symbolic_helper._is_none(eps) else symbolic_helper._maybe_get_const(eps, "f")
    if not isinstance(epsilon, float):
        epsilon = float(torch.finfo(scalar.dtype()).eps)  # torch's default: the dtype's machine epsilon
    axes = list(range(-len(shape), 0))
    squares = g.op("Mul", value, value)
    if symbolic_helper.GLOBALS.export_onnx_opset_version >= 18:
        mean = g.op("ReduceMean", squares, _ints(g, axes), keepdims_i=1)
    else:
        mean = g.op("ReduceMean", squares, axes_i=axes, keepdims_i=1)
    offset = g.op("Constant", value_t=torch.tensor(epsilon, dtype=scalar.dtype()))
    normed = g.op("Div", value, g.op("Sqrt", g.op("Add", mean, offset)))
    return normed if weight is None or symbolic_helper._is_none(weight) else g.op("Mul", normed, weight)


#: Inputs ``torch.cumsum`` sums in int64 (booleans and the integers narrower than it).
_PROMOTED_TO_INT64 = ("BOOL", "UINT8", "INT8", "INT16", "INT32")


def _cumsum(g: Any, value: Any, dim: Any, dtype: Any = None) -> Any:
    from torch.onnx._internal.torchscript_exporter import _type_utils, symbolic_helper

    axis = g.op("Constant", value_t=torch.tensor(symbolic_helper._get_const(dim, "i", "dim"), dtype=torch.int64))
    if dtype is not None and not symbolic_helper._is_none(dtype):
        target = _type_utils.JitScalarType(symbolic_helper._get_const(dtype, "i", "dtype"))
        value = g.op("Cast", value, to_i=target.onnx_type())
    elif _type_utils.JitScalarType.from_value(value).name in _PROMOTED_TO_INT64:
        value = g.op("Cast", value, to_i=_type_utils.JitScalarType.INT64.onnx_type())
    return g.op("CumSum", value, axis)
