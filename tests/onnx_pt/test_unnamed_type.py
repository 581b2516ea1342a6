"""A model type that no row of the table names is tried through the family its config fits.

The model here is a ``--trust-remote-code`` one: its own configuration and modeling files (a GPT-2
under another name), a model type transformers and the registry have never heard of.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from modelexport_onnx.backend import OnnxPlan

from modelexport.cli import main

CONFIGURATION = """
from transformers import GPT2Config


class ToyGptConfig(GPT2Config):
    model_type = "toy-gpt"
"""
MODELING = """
from transformers import GPT2LMHeadModel

from .configuration_toy import ToyGptConfig


class ToyGptForCausalLM(GPT2LMHeadModel):
    config_class = ToyGptConfig
"""


@pytest.fixture(scope="module")
def remote_code_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny model whose classes live in its own folder (``auto_map``), as on the Hub."""
    import importlib.util
    import sys

    import torch

    directory = tmp_path_factory.mktemp("toy-gpt")
    (directory / "configuration_toy.py").write_text(textwrap.dedent(CONFIGURATION))
    (directory / "modeling_toy.py").write_text(textwrap.dedent(MODELING))
    package = "toy_gpt_remote"
    for name in ("configuration_toy", "modeling_toy"):  # import them once here, to build and save the model
        spec = importlib.util.spec_from_file_location(f"{package}.{name}", directory / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[f"{package}.{name}"] = module
        if name == "configuration_toy":
            sys.modules[package] = type(sys)(package)
        spec.loader.exec_module(module)
    config = sys.modules[f"{package}.configuration_toy"].ToyGptConfig(
        vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=128
    )
    torch.manual_seed(0)
    model = sys.modules[f"{package}.modeling_toy"].ToyGptForCausalLM(config).eval()
    model.save_pretrained(directory)
    saved = json.loads((directory / "config.json").read_text())
    saved["auto_map"] = {
        "AutoConfig": "configuration_toy.ToyGptConfig",
        "AutoModelForCausalLM": "modeling_toy.ToyGptForCausalLM",
    }
    saved["architectures"] = ["ToyGptForCausalLM"]
    (directory / "config.json").write_text(json.dumps(saved))
    return directory


def test_an_unnamed_type_exports_through_its_family(
    remote_code_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "onnx"
    argv = ["export", "onnx", "-m", str(remote_code_model), str(out), "--task", "causal-lm-with-past"]
    assert main([*argv, "--trust-remote-code"]) == 0
    printed = capsys.readouterr().out
    assert "'toy-gpt' is in no row of the table: exported through the decoder family; validation decides" in printed
    assert "greedy generation of 8 tokens x 2 prompts identical" in printed  # the cache works: same tokens
    assert (out / "model.onnx").is_file()


def test_an_unnamed_type_that_fails_says_what_was_tried(
    remote_code_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A graph that computes something else than the model (a weight changed while converting) fails
    validation; the error says the type was tried through a family, and how to report it."""
    import torch

    convert = OnnxPlan.convert

    def convert_another_model(plan: OnnxPlan, model: Any, *args: Any) -> Any:
        weight = model.lm_head.weight
        with torch.no_grad():
            saved = weight.clone()
            weight.mul_(1.5)
        try:
            return convert(plan, model, *args)
        finally:
            with torch.no_grad():
                weight.copy_(saved)

    monkeypatch.setattr(OnnxPlan, "convert", convert_another_model)
    out = tmp_path / "onnx"
    argv = ["export", "onnx", "-m", str(remote_code_model), str(out), "--task", "causal-lm", "--trust-remote-code"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Validation failed" in err
    assert "exported through the decoder family; validation decides, and it failed" in err
    assert "please report it" in err
    assert not out.exists()


def test_without_a_family_the_type_is_refused_before_loading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "odd"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "odd-points", "num_points": 32}))
    (model / "model.safetensors").write_bytes(b"")
    assert main(["export", "onnx", "-m", str(model), str(tmp_path / "out"), "--task", "default"]) == 2
    err = capsys.readouterr().err
    assert "'odd-points' is not supported by the onnx backend" in err and "please report it" in err


def test_an_unnamed_image_or_speech_type_is_tried_through_its_family() -> None:
    from modelexport_core.tasks import Task
    from modelexport_onnx.fallback import unnamed_type_constructor

    vision = unnamed_type_constructor("odd-vision", {"image_size": 32, "num_channels": 3}, Task.of("default"))
    assert vision.family.name == "vision" and "vision family" in vision.note
    speech = {"conv_dim": [32], "conv_kernel": [10], "conv_stride": [5], "hidden_size": 32}
    assert unnamed_type_constructor("odd-speech", speech, Task.of("audio-ctc")).family.name == "audio"
    dual = {"text_config": {}, "vision_config": {}, "logit_scale_init_value": 2.6}
    task = Task.of("zero-shot-image-classification")
    assert unnamed_type_constructor("odd-clip", dual, task).family.name == "image-text"
