"""Our exports in transformers.js (node, offline), written with ``--layout transformers.js``: each family gives
PyTorch's answer there (greedy tokens, hidden states, logits, sentence embeddings), and the int8 file is the one
its ``q8`` dtype loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from client_envs import run_transformers_js
from modelexport_core.plugins import get_framework
from modelexport_onnx.main_export import main_export

pytestmark = pytest.mark.slow

PROMPTS = {"input_ids": [[5, 6, 7, 8, 9, 10], [0, 0, 11, 12, 13, 14]], "attention_mask": [[1] * 6, [0, 0, 1, 1, 1, 1]]}
NEW_TOKENS = 10


def _export(source: Path, out: Path, task: str, **options: Any) -> Path:
    result = main_export(source, out, task, layout="transformers.js", progress=None, **options)
    assert result.validation.passed
    assert all(name.startswith("onnx/") or not name.endswith(".onnx") for name in result.files), result.files
    return out


def _torch_greedy(folder: Path, task: str, inputs: dict[str, Any]) -> list[list[int]]:
    from modelexport_core import TasksManager

    model = TasksManager.get_model_from_task(task, str(folder), framework="pt")
    arrays = {name: np.asarray(value) for name, value in inputs.items()}
    tokens = get_framework("pt").generate(model, arrays, NEW_TOKENS, 0)
    return [list(map(int, row)) for row in np.asarray(tokens)]


def _plain(array: np.ndarray) -> dict[str, Any]:
    return {"dims": list(array.shape), "data": array.astype(np.float32).ravel().tolist()}


def _array(value: dict[str, Any]) -> np.ndarray:
    return np.asarray(value["data"], dtype=np.float32).reshape(value["dims"])


def test_text_generation(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    out = _export(tiny_dirs["gpt2"], tmp_path / "gpt2", "text-generation-with-past")
    assert (out / "onnx" / "model.onnx").is_file()
    got = run_transformers_js({"kind": "causal-lm", "model": str(out), **PROMPTS, "max_new_tokens": NEW_TOKENS})
    expected = _torch_greedy(tiny_dirs["gpt2"], "causal-lm-with-past", PROMPTS)
    assert got["tokens"] == expected


def test_text2text_generation(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    out = _export(tiny_dirs["t5"], tmp_path / "t5", "text2text-generation-with-past")
    assert {p.name for p in (out / "onnx").iterdir()} == {"encoder_model.onnx", "decoder_model_merged.onnx"}
    inputs = {"input_ids": [[5, 6, 7, 8, 1], [9, 10, 11, 1, 0]], "attention_mask": [[1] * 5, [1, 1, 1, 1, 0]]}
    got = run_transformers_js({"kind": "seq2seq", "model": str(out), **inputs, "max_new_tokens": NEW_TOKENS})
    expected = _torch_greedy(tiny_dirs["t5"], "seq2seq-lm-with-past", inputs)
    assert got["tokens"] == expected


def test_speech_recognition(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    out = _export(tiny_dirs["whisper"], tmp_path / "whisper", "automatic-speech-recognition-with-past")
    features = np.random.default_rng(0).standard_normal((1, 80, 60)).astype(np.float32)  # the tiny model's 60 frames
    got = run_transformers_js(
        {"kind": "speech", "model": str(out), "input_features": _plain(features), "max_new_tokens": NEW_TOKENS}
    )
    expected = _torch_greedy(tiny_dirs["whisper"], "speech2seq-lm-with-past", {"input_features": features})
    assert got["tokens"] == expected


def test_image_classification(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    import torch
    import transformers

    out = _export(tiny_dirs["vit"], tmp_path / "vit", "image-classification")
    pixels = np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32)
    got = _array(
        run_transformers_js({"kind": "image-classification", "model": str(out), "pixel_values": _plain(pixels)})[
            "logits"
        ]
    )
    model = transformers.AutoModelForImageClassification.from_pretrained(tiny_dirs["vit"])
    with torch.inference_mode():
        expected = model(pixel_values=torch.from_numpy(pixels)).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-4)


def test_feature_extraction_and_its_int8_file(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    import torch
    import transformers

    out = _export(tiny_dirs["bert"], tmp_path / "bert", "feature-extraction", quantize="dynamic")
    assert {p.name for p in (out / "onnx").iterdir()} == {"model.onnx", "model_quantized.onnx"}
    inputs = {"input_ids": [[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]], "attention_mask": [[1] * 5, [1, 1, 1, 1, 0]]}
    got = _array(run_transformers_js({"kind": "feature-extraction", "model": str(out), **inputs})["last_hidden_state"])
    model = transformers.AutoModel.from_pretrained(tiny_dirs["bert"])
    with torch.inference_mode():
        expected = model(**{k: torch.tensor(v) for k, v in inputs.items()}).last_hidden_state.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5, rtol=1e-4)
    # dtype q8 loads model_quantized.onnx: its answer is onnxruntime's on that file, not the float one
    from modelexport_onnx.validation import onnx_session

    q8 = run_transformers_js({"kind": "feature-extraction", "model": str(out), "dtype": "q8", **inputs})
    session = onnx_session(out / "onnx" / "model_quantized.onnx")
    feeds = {
        i.name: np.asarray(inputs.get(i.name, np.zeros_like(inputs["input_ids"])), dtype=np.int64)
        for i in session.get_inputs()
    }
    int8 = session.run(["last_hidden_state"], feeds)[0]
    np.testing.assert_allclose(_array(q8["last_hidden_state"]), int8, atol=1e-5)
    assert not np.allclose(int8, expected, atol=1e-6)  # it is the quantized file that ran


def test_real_minilm_embeddings(minilm: Path, tmp_path: Path) -> None:
    """all-MiniLM-L6-v2's transformer, exported for transformers.js: its feature-extraction pipeline (tokenizer,
    mean pooling, normalization) gives SentenceTransformer.encode's embeddings."""
    from sentence_transformers import SentenceTransformer

    out = _export(minilm, tmp_path / "minilm", "feature-extraction", library="transformers")
    sentences = ["A man is eating food.", "The new movie is awesome, and everyone loved it!", "Paris"]
    got = _array(
        run_transformers_js({"kind": "feature-extraction", "model": str(out), "sentences": sentences})["embeddings"]
    )
    expected = SentenceTransformer(str(minilm), device="cpu").encode(sentences, convert_to_numpy=True)
    cosines = np.sum(got * expected, axis=1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(expected, axis=1))
    assert cosines.min() > 0.99999, cosines
    np.testing.assert_allclose(got, expected, atol=2e-5)


def test_real_smollm2_generates_pytorchs_tokens(smollm2: Path, tmp_path: Path) -> None:
    """SmolLM2-135M-Instruct (30 layers, grouped-query attention) exported for transformers.js: its greedy tokens on
    real prompts are PyTorch's."""
    from transformers import AutoTokenizer

    out = _export(smollm2, tmp_path / "smollm2", "text-generation-with-past")
    tokenizer = AutoTokenizer.from_pretrained(smollm2, padding_side="left")
    encoded = tokenizer(["The capital of France is", "def fibonacci(n):\n    "], return_tensors="np", padding=True)
    prompts = {name: encoded[name].astype(np.int64).tolist() for name in ("input_ids", "attention_mask")}
    got = run_transformers_js({"kind": "causal-lm", "model": str(out), **prompts, "max_new_tokens": NEW_TOKENS})
    expected = _torch_greedy(smollm2, "causal-lm-with-past", prompts)
    assert got["tokens"] == expected, (tokenizer.batch_decode(got["tokens"]), tokenizer.batch_decode(expected))
