"""Decoder-with-past exports generate exactly PyTorch's greedy tokens, in a plain onnxruntime loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from modelexport_core import TasksManager
from modelexport_core.plugins import get_framework
from modelexport_core.registry import registry
from modelexport_onnx.export import export
from modelexport_onnx.generation import check_generation, greedy_generate, padded_prompts
from modelexport_onnx.validation import onnx_session
from onnx_pt.tiny import TinyPtModels, export_split_model, generation_check

TasksManager.get_supported_tasks_for_model_type("gpt2", "onnx")
DECODERS = sorted(e.model_type for e in registry.all_entries("onnx") if e.task == "causal-lm-with-past")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyPtModels:
    return TinyPtModels(tmp_path_factory.mktemp("tiny-gen"))


def exported(tiny: TinyPtModels, model_type: str, tmp_path: Path):
    model = tiny.model(model_type, "causal-lm-with-past")
    config = TasksManager.get_exporter_config_constructor("onnx", task="causal-lm-with-past", model_type=model_type)(
        model.config
    )
    result = export(model, config, tmp_path / "model.onnx")
    return model, config, onnx_session(result.path)


def test_every_advertised_decoder_is_here() -> None:
    assert set(DECODERS) >= {
        "gpt2",
        "gpt-neo",
        "gptj",
        "opt",
        "bloom",
        "llama",
        "mistral",
        "qwen2",
        "qwen3",
        "phi3",
        "gemma",
        "gemma2",
    }


@pytest.mark.parametrize("model_type", DECODERS)
def test_greedy_tokens_equal_pytorch_generate(tiny: TinyPtModels, model_type: str, tmp_path: Path) -> None:
    model, config, session = exported(tiny, model_type, tmp_path)
    plugin = get_framework("pt")
    check = check_generation(
        {"model": session},
        config,
        lambda inputs, n, pad: plugin.generate(model, inputs, n, pad),
        max_new_tokens=20,
        lengths=(7, 3),
    )
    assert check.batch == 2
    assert check.equal, (check.onnx_tokens, check.reference_tokens)
    assert check.new_tokens == 20


def test_grouped_query_attention_cache_has_kv_heads(tiny: TinyPtModels, tmp_path: Path) -> None:
    model, _config, session = exported(tiny, "llama", tmp_path)
    assert model.config.num_key_value_heads == 2 < model.config.num_attention_heads
    past = next(i for i in session.get_inputs() if i.name == "past_key_values.0.key")
    assert past.shape == ["batch_size", 2, "past_sequence_length", 8]
    present = next(o for o in session.get_outputs() if o.name == "present.0.key")
    assert present.shape[2] == "past_sequence_length + sequence_length"


def test_first_step_with_an_empty_cache_matches_no_cache(tiny: TinyPtModels, tmp_path: Path) -> None:
    model, config, session = exported(tiny, "qwen2", tmp_path)
    ids, mask = padded_prompts(99, (5, 5), 0)
    tokens = greedy_generate(session, config, ids, mask, 1, 0)
    with torch.no_grad():
        logits = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits
    np.testing.assert_array_equal(tokens[:, -1], logits[:, -1].argmax(-1).numpy())


def test_export_leaves_the_model_as_it_was(tiny: TinyPtModels, tmp_path: Path) -> None:
    model = tiny.model("gpt2", "causal-lm-with-past")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [m.training for m in model.modules()]
    config = TasksManager.get_exporter_config_constructor("onnx", task="causal-lm-with-past", model_type="gpt2")(
        model.config
    )
    try:
        export(model, config, tmp_path / "model.onnx")
        assert [m.training for m in model.modules()] == flags
        assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    finally:
        model.eval()


ENCODER_DECODERS = sorted(e.model_type for e in registry.all_entries("onnx") if e.task == "seq2seq-lm-with-past")


def test_every_advertised_encoder_decoder_is_here() -> None:
    assert set(ENCODER_DECODERS) >= {"t5", "mt5", "bart", "mbart", "marian", "pegasus", "m2m-100"}


@pytest.mark.parametrize("model_type", ENCODER_DECODERS)
def test_seq2seq_greedy_tokens_equal_pytorch_generate(tiny: TinyPtModels, model_type: str, tmp_path: Path) -> None:
    model = tiny.model(model_type, "seq2seq-lm-with-past")
    config = TasksManager.get_exporter_config_constructor("onnx", task="seq2seq-lm-with-past", model_type=model_type)(
        model.config
    )
    sessions = export_split_model(model, config, tmp_path)
    assert set(sessions) == {"encoder_model", "decoder_model", "decoder_with_past_model"}
    generation_check(model, config, sessions)
