"""The steps of ``main_export``, each run alone on a tiny model: resolve, load, configure, convert, validate."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from modelexport_core.model_source import ModelReference
from modelexport_onnx import main_export as steps
from onnx_pt.tiny import TinyPtModels


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return TinyPtModels(tmp_path_factory.mktemp("tiny-steps")).directory("bert", "masked-lm")


def test_each_step_alone(bert: Path, tmp_path: Path) -> None:
    request = steps.ExportRequest(output_dir=tmp_path / "out")
    resolved = steps.resolve(ModelReference.resolve(bert), request)
    assert (resolved.task, resolved.framework, resolved.model_type) == ("masked-lm", "pt", "bert")
    assert resolved.task.base == "masked-lm" and not resolved.task.uses_past

    model = steps.load(resolved, request)
    assert type(model).__name__ == "BertForMaskedLM"

    config, options = steps.configure(resolved, model, request)
    assert list(config.outputs) == ["logits"]
    # TorchScript exports at opset 17 at least: layer norm is one LayerNormalization node there
    assert (options.converter, options.opset) == ("torchscript", max(config.default_opset, 17))

    staging = tmp_path / "staging"
    staging.mkdir()
    posts = steps.convert(model, config, options, resolved.framework, staging)
    assert list(posts) == ["model"] and not (staging / ".work").exists()

    validation = steps.validate(model, config, options, resolved.framework, staging, request)
    assert validation.passed and validation.generation is None, validation.table()
    assert steps.publish_files(resolved.reference, model, staging, posts) == ["config.json", "model.onnx"]


def test_the_validate_step_fails_a_file_of_another_model(bert: Path, tmp_path: Path) -> None:
    """The step judges the file it is given: the export of a differently initialised model fails."""
    import torch

    request = steps.ExportRequest(output_dir=tmp_path / "out")
    resolved = steps.resolve(ModelReference.resolve(bert), request)
    model = steps.load(resolved, request)
    config, options = steps.configure(resolved, model, request)
    other = steps.load(resolved, request)
    with torch.no_grad():
        other.cls.predictions.decoder.weight.mul_(1.5)
    (tmp_path / "staging").mkdir()
    steps.convert(other, config, options, resolved.framework, tmp_path / "staging")
    validation = steps.validate(model, config, options, resolved.framework, tmp_path / "staging", request)
    assert not validation.passed
    shutil.rmtree(tmp_path / "staging")
