"""timm crossed with the other options: each combination exports and validates, or is refused before loading with
one line and nothing on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from modelexport_pipeline import run as pipeline_run

from modelexport.cli import main

EXPORTS = {
    "optimize O2": ["--optimize", "O2"],
    "quantize": ["--quantize", "dynamic"],
    "O2 + quantize": ["--optimize", "O2", "--quantize", "dynamic"],
    "features + quantize": ["--task", "feature-extraction", "--quantize", "dynamic"],
    "dynamo": ["--exporter", "dynamo"],
    "no dynamic axes": ["--no-dynamic-axes"],
    "transformers.js layout": ["--layout", "transformers.js"],
}
REFUSED = {
    "fp16 (no GPU)": (["--dtype", "fp16"], "needs a CUDA GPU"),
    "tf2onnx": (["--exporter", "tf2onnx"], "does not convert PyTorch models"),
    "sentence-transformers library": (["--library", "sentence_transformers"], "needs a sentence-transformers"),
    "transformers library": (["--library", "transformers"], "needs a transformers model folder"),
    "sentence-transformers layout": (["--layout", "sentence-transformers"], "needs a sentence-transformers"),
    "a text task": (["--task", "text-generation"], "A timm model exports image-classification, default"),
}


@pytest.fixture(scope="module")
def resnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import timm
    import torch

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("timm-options") / "resnet18"
    timm.models.save_for_hf(timm.create_model("resnet18", pretrained=False, num_classes=5), str(folder))
    return folder


@pytest.mark.parametrize("column", list(EXPORTS))
def test_exports(column: str, resnet: Path, tmp_path: Path) -> None:
    assert main(["export", "onnx", "-m", str(resnet), str(tmp_path / "o"), *EXPORTS[column]]) == 0
    assert any(path.suffix == ".onnx" for path in (tmp_path / "o").rglob("*.onnx"))


@pytest.mark.parametrize("column", list(REFUSED))
def test_refused_before_loading(
    column: str, resnet: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(pipeline_run, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
    options, message = REFUSED[column]
    assert main(["export", "onnx", "-m", str(resnet), str(tmp_path / "o"), *options]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
