"""Decoder exports write onnxruntime-genai's genai_config.json (the client test runs it in onnxruntime-genai):
with the names and sizes of the graph written, only where the genai walk saw the type pass, and noted where not."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import transformers
from modelexport_onnx import genai
from modelexport_onnx.main_export import main_export
from tiny_models import save_pt_model

from modelexport.cli import main


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pt_model(transformers.AutoModelForCausalLM, "llama", tmp_path_factory.mktemp("genai") / "llama")


def test_the_default_decoder_export_has_its_cache_and_a_genai_config(llama: Path, tmp_path: Path) -> None:
    result = main_export(llama, tmp_path / "onnx", progress=None)
    assert result.task == "causal-lm-with-past" and "genai_config.json" in result.files
    written = json.loads((tmp_path / "onnx" / "genai_config.json").read_text())
    config = json.loads((llama / "config.json").read_text())
    decoder = written["model"]["decoder"]
    assert written["model"]["type"] == "llama" and written["model"]["vocab_size"] == config["vocab_size"]
    assert decoder["num_hidden_layers"] == config["num_hidden_layers"]
    assert decoder["num_key_value_heads"] == config["num_key_value_heads"]
    assert decoder["head_size"] == config["hidden_size"] // config["num_attention_heads"]
    graph = onnx.load(str(tmp_path / "onnx" / decoder["filename"]), load_external_data=False).graph
    layers = range(decoder["num_hidden_layers"])
    inputs = decoder["inputs"]
    expected_inputs = {inputs["input_ids"], inputs["attention_mask"], inputs["position_ids"]}
    expected_inputs |= {inputs[f"past_{part}_names"] % i for i in layers for part in ("key", "value")}
    assert {i.name for i in graph.input} == expected_inputs  # the names genai feeds are the graph's
    outputs = decoder["outputs"]
    expected_outputs = {outputs["logits"]} | {
        outputs[f"present_{p}_names"] % i for i in layers for p in ("key", "value")
    }
    assert {o.name for o in graph.output} == expected_outputs
    assert written["search"]["past_present_share_buffer"] is False  # the graph concatenates its cache


def test_no_genai_config_without_the_cache_or_in_another_layout(llama: Path, tmp_path: Path) -> None:
    plain = main_export(llama, tmp_path / "plain", task="text-generation", progress=None)
    assert plain.task == "causal-lm" and "genai_config.json" not in plain.files
    js = main_export(llama, tmp_path / "js", task="text-generation-with-past", layout="transformers.js", progress=None)
    assert not any(name.endswith("genai_config.json") for name in js.files)


def test_a_type_the_walk_did_not_see_pass_is_noted(
    llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    table = {"onnxruntime_genai": "0.18.0", "passed": {}, "failed": {"llama": "greedy tokens differ"}}
    monkeypatch.setattr(genai, "measured", lambda: table)
    assert main(["export", "onnx", "-m", str(llama), str(tmp_path / "onnx")]) == 0
    printed = capsys.readouterr().out
    assert "note: no genai_config.json: onnxruntime-genai 0.18.0 does not run llama (greedy tokens differ)" in printed
    assert not (tmp_path / "onnx" / "genai_config.json").exists()
