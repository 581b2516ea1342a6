"""The TorchScript translations of symbolics.py (gated delta-nets, interleaved rotary embeddings) against PyTorch."""

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


class _InterleavedRotary(torch.nn.Module):
    """An interleaved rotary embedding as helium, glm and cohere apply it, then a cache concatenation."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.inv_freq = torch.arange(4, dtype=torch.float32) / 4

    def forward(self, positions: torch.Tensor, q: torch.Tensor, past: torch.Tensor) -> torch.Tensor:
        freqs = positions[:, :, None].float() * self.inv_freq
        cos = torch.cat((freqs, freqs), dim=-1).cos().unsqueeze(1)  # (batch, 1, sequence, 8)
        if self.dim == -1:
            cos = cos[..., : cos.shape[-1] // 2].repeat_interleave(2, dim=-1)
        else:  # along the sequence instead: the repeated axis is a dynamic one
            cos = cos[:, :, : cos.shape[2] // 2].repeat_interleave(2, dim=self.dim)
        rotated = torch.stack((-q[..., 1::2], q[..., 0::2]), dim=-1).flatten(-2)
        return torch.cat([past, q * cos + rotated], dim=-2)


@pytest.mark.parametrize("dim", [-1, 2])
def test_constant_repeat_interleave_keeps_rank_and_dynamic_axes(tmp_path: Path, dim: int) -> None:
    register()
    positions, q, past = torch.arange(6).expand(2, 6), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 4, 8)
    path = tmp_path / "interleave.onnx"
    torch.onnx.export(
        _InterleavedRotary(dim),
        (positions, q, past),
        str(path),
        input_names=["positions", "q", "past"],
        dynamic_axes={"positions": {0: "b", 1: "s"}, "q": {0: "b", 2: "s"}, "past": {0: "b", 2: "p"}},
        opset_version=17,
        dynamo=False,
    )
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    # other batch, sequence and past sizes than traced
    positions2, q2, past2 = torch.arange(10).expand(3, 10), torch.randn(3, 3, 10, 8), torch.randn(3, 3, 5, 8)
    feeds = {"positions": positions2.numpy(), "q": q2.numpy(), "past": past2.numpy()}
    (onnx_out,) = session.run(None, feeds)
    expected = _InterleavedRotary(dim)(positions2, q2, past2).numpy()
    np.testing.assert_allclose(onnx_out, expected, rtol=1e-5, atol=1e-5)


class _RepeatByTensor(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat_interleave(torch.tensor([1, 2, 3]), dim=0)


def test_repeat_interleave_by_a_tensor_of_counts_is_left_to_torch(tmp_path: Path) -> None:
    register()
    x = torch.randn(3, 4)
    path = tmp_path / "counts.onnx"
    torch.onnx.export(_RepeatByTensor(), (x,), str(path), input_names=["x"], opset_version=17, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"x": x.numpy()})
    np.testing.assert_allclose(onnx_out, _RepeatByTensor()(x).numpy())
