"""genai_config.json from an export config: sizes from the model config, token ids from the generation config."""

from __future__ import annotations

import pytest
from modelexport_onnx.config import DecoderOnnxConfig
from modelexport_onnx.genai import genai_config, unsupported_note

LLAMA = {
    "model_type": "llama",
    "vocab_size": 99,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 512,
    "bos_token_id": 1,
    "eos_token_id": 2,
}


def test_sizes_and_tokens() -> None:
    written = genai_config(DecoderOnnxConfig(LLAMA, "causal-lm-with-past"), "llama", {"eos_token_id": [2, 7]})
    model = written["model"]
    assert (model["eos_token_id"], model["pad_token_id"], model["bos_token_id"]) == ([2, 7], 2, 1)
    assert model["context_length"] == 512 == written["search"]["max_length"]
    assert model["decoder"]["head_size"] == 8 and model["decoder"]["num_key_value_heads"] == 2


def test_without_position_ids_the_input_is_not_named() -> None:
    config = DecoderOnnxConfig(LLAMA, "causal-lm-with-past", position_ids=False)
    assert "position_ids" not in genai_config(config, "decoder")["model"]["decoder"]["inputs"]


def test_latent_attention_is_refused() -> None:
    mla = {**LLAMA, "model_type": "deepseek_v3", "kv_lora_rank": 16, "qk_rope_head_dim": 8}
    with pytest.raises(ValueError, match="one head size"):
        genai_config(DecoderOnnxConfig(mla, "causal-lm-with-past"), "decoder")


def test_an_unmeasured_type_is_said() -> None:
    assert "was not tried on no_such_type" in str(unsupported_note("no_such_type"))


def test_token_ids_beyond_the_vocabulary_are_said() -> None:
    from modelexport_onnx.genai import token_problem

    assert token_problem(LLAMA) is None
    assert "eos_token_id 50256 is beyond its vocabulary (99 tokens)" in str(
        token_problem({**LLAMA, "eos_token_id": 50256})
    )
    assert "no genai_config.json" in str(unsupported_note("llama", {**LLAMA, "eos_token_id": 50256}))
