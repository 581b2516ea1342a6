"""The TorchScript translation of ``aten::linalg_solve_triangular`` (gated delta-nets) against PyTorch's solver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from modelexport_onnx.converters.pt.symbolics import register


class _Solve(torch.nn.Module):
    def __init__(self, upper: bool = False) -> None:
        super().__init__()
        self.upper = upper

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        decay = torch.ones(a.shape[-1], a.shape[-1]).tril()  # a broadcasting product hides the static size
        return torch.linalg.solve_triangular(a * decay, b, upper=self.upper, unitriangular=True)


def _export(module: torch.nn.Module, a: torch.Tensor, b: torch.Tensor, path: Path) -> None:
    register()
    torch.onnx.export(
        module,
        (a, b),
        str(path),
        input_names=["a", "b"],
        output_names=["x"],
        dynamic_axes={"a": {0: "batch", 1: "chunks"}, "b": {0: "batch", 1: "chunks"}},
        opset_version=14,
        dynamo=False,
    )


@pytest.mark.parametrize("n", [1, 2, 5, 64])
def test_unit_lower_triangular_solve_matches_torch(tmp_path: Path, n: int) -> None:
    generator = torch.Generator().manual_seed(n)
    a = torch.randn(2, 3, n, n, generator=generator) * 0.3
    b = torch.randn(2, 3, n, 4, generator=generator)
    _export(_Solve(), a, b, tmp_path / "solve.onnx")
    session = ort.InferenceSession(str(tmp_path / "solve.onnx"), providers=["CPUExecutionProvider"])
    # other batch and chunk counts than traced, and the diagonal ignored (unitriangular), as PyTorch does
    a2 = torch.randn(1, 5, n, n, generator=generator) * 0.3 + 7 * torch.eye(n)
    b2 = torch.randn(1, 5, n, 4, generator=generator)
    (onnx_x,) = session.run(None, {"a": a2.numpy(), "b": b2.numpy()})
    expected = _Solve()(a2, b2).numpy()
    np.testing.assert_allclose(onnx_x, expected, rtol=1e-4, atol=1e-4)
    assert np.abs(expected - b2.numpy()).max() > 1e-2 or n == 1  # the solve did something to compare


def test_other_triangular_solves_are_refused_not_mistranslated(tmp_path: Path) -> None:
    a, b = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 4, 2)
    with pytest.raises(torch.onnx.errors.SymbolicValueError, match="unit lower triangular"):
        _export(_Solve(upper=True), a, b, tmp_path / "upper.onnx")
