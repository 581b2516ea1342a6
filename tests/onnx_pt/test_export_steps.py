"""The steps of an export, each run alone on a tiny model: the pipeline resolves and loads, the ONNX backend's
plan configures, converts and validates."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from modelexport_core.model_source import ModelReference
from modelexport_onnx.backend import backend
from modelexport_onnx.main_export import onnx_request
from modelexport_pipeline import run as steps
from onnx_pt.tiny import TinyPtModels


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return TinyPtModels(tmp_path_factory.mktemp("tiny-steps")).directory("bert", "masked-lm")


def test_each_step_alone(bert: Path, tmp_path: Path) -> None:
    request = onnx_request(tmp_path / "out")
    resolved = steps.resolve(ModelReference.resolve(bert), request)
    assert (resolved.task, resolved.framework, resolved.model_type) == ("masked-lm", "pt", "bert")
    assert resolved.task.base == "masked-lm" and not resolved.task.uses_past
    assert resolved.library.name == "transformers" and resolved.framework_plugin.display_name == "PyTorch"
    plan = backend.plan(resolved, request)

    model = steps.load_model(resolved, request)
    assert type(model).__name__ == "BertForMaskedLM"

    plan.configure(model)
    config, options = plan.config, plan.options
    assert config is not None and options is not None
    assert list(config.outputs) == ["logits"]
    # TorchScript exports at opset 17 at least: layer norm is one LayerNormalization node there
    assert (options.converter, options.opset) == ("torchscript", max(config.default_opset, 17))

    staging = tmp_path / "staging"
    staging.mkdir()
    converted = plan.convert(model, staging)
    assert converted.files == ["config.json", "model.onnx"] and not (staging / ".work").exists()

    validation = plan.validate(model, staging)
    assert validation.passed and validation.checks == [], validation.table()


def test_the_validate_step_fails_a_file_of_another_model(bert: Path, tmp_path: Path) -> None:
    """The step judges the file it is given: the export of a differently initialised model fails."""
    import torch

    request = onnx_request(tmp_path / "out")
    resolved = steps.resolve(ModelReference.resolve(bert), request)
    plan = backend.plan(resolved, request)
    model = steps.load_model(resolved, request)
    plan.configure(model)
    other = steps.load_model(resolved, request)
    with torch.no_grad():
        other.cls.predictions.decoder.weight.mul_(1.5)
    (tmp_path / "staging").mkdir()
    plan.convert(other, tmp_path / "staging")
    validation = plan.validate(model, tmp_path / "staging")
    assert not validation.passed
    shutil.rmtree(tmp_path / "staging")
