"""The float64 reference run that validation bounds come from: the model comes back bit for bit, and it is
skipped (with the reason in the report) where it cannot run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from modelexport_core import TasksManager
from modelexport_onnx.converters.pt import convert as pt_convert
from modelexport_onnx.converters.pt import float64 as pt_float64
from modelexport_onnx.export import export_components, reference_runner, resolve_options, validate_components
from onnx_pt.tiny import TinyPtModels


def tiny_llama(tmp_path: Path) -> tuple[torch.nn.Module, object]:
    model = TinyPtModels(tmp_path).model("llama", "causal-lm-with-past")
    config = TasksManager.get_exporter_config_constructor("onnx", task="causal-lm-with-past", model_type="llama")(
        model.config
    )
    return model, config


def test_float64_run_leaves_the_model_bit_for_bit(tmp_path: Path) -> None:
    model, config = tiny_llama(tmp_path)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    parameters = {name: id(p) for name, p in model.named_parameters()}
    inputs = config.generate_dummy_inputs(seed=1)
    float64 = pt_convert.run_outputs(model, config, inputs, float64=True)
    assert all(value.dtype == np.float64 for value in float64.values())
    after = model.state_dict()
    assert all(
        after[name].dtype == tensor.dtype and torch.equal(after[name], tensor) for name, tensor in before.items()
    )
    assert {name: id(p) for name, p in model.named_parameters()} == parameters
    float32 = pt_convert.run_outputs(model, config, inputs, float64=False)
    assert set(float32) == set(float64)
    logits_gap = np.abs(float32["logits"].astype(np.float64) - float64["logits"]).max()
    assert 0 < logits_gap < 1e-4  # float32 rounding, and nothing else


def test_validation_takes_its_bounds_from_the_float64_run(tmp_path: Path) -> None:
    model, config = tiny_llama(tmp_path)
    options = resolve_options(config)
    export_components(model, config, tmp_path, options, "pt", tmp_path / ".work")
    report = validate_components(model, config, tmp_path, "pt", options.validation_shapes)
    assert report.passed, report.table()
    assert all(c.framework_error is not None and c.framework_error > 0 for c in report.outputs)
    assert all(c.bound_source.startswith(("float64", "floor")) for c in report.outputs)


def test_no_float64_where_it_does_not_fit_or_the_weights_are_not_float32(tmp_path: Path, monkeypatch) -> None:
    model, config = tiny_llama(tmp_path)
    assert pt_float64.float64_unavailable(model) is None
    monkeypatch.setattr(pt_float64, "_available_memory", lambda: 1024)
    reason = pt_float64.float64_unavailable(model)
    assert reason is not None and "available" in reason
    run = reference_runner(model, config, "pt")
    reference = run(config.generate_dummy_inputs(seed=1))
    assert reference.float64 is None and reference.no_float64 == reason
    monkeypatch.undo()
    half = model.to(torch.float16)
    assert "float16" in (pt_float64.float64_unavailable(half) or "")


def test_a_model_that_cannot_run_in_float64_falls_back_to_the_relative_bound(tmp_path: Path, monkeypatch) -> None:
    model, config = tiny_llama(tmp_path)

    run_outputs = pt_convert.run_outputs

    def float32_only(model: object, config: object, inputs: object, float64: bool) -> object:
        if float64:
            raise RuntimeError("value cannot be converted to type float without overflow")
        return run_outputs(model, config, inputs, float64)  # type: ignore[arg-type]

    monkeypatch.setattr(pt_convert, "run_outputs", float32_only)
    reference = reference_runner(model, config, "pt")(config.generate_dummy_inputs(seed=1))
    assert reference.float64 is None
    assert (
        reference.no_float64
        == "the float64 run failed: RuntimeError: value cannot be converted to type float without overflow"
    )
    assert set(reference.float32) == set(config.outputs)
