"""Our exports in optimum's ``ORTModel*`` classes (optimum-onnx 0.1.0, in its own venv), as written by default:
each class generates or computes what the PyTorch model gives with the same transformers. The encoder-decoders
were the ones that failed: optimum reads their cache outputs by position, layer by layer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from client_envs import run_optimum
from modelexport_onnx.main_export import main_export

pytestmark = pytest.mark.slow

NEW_TOKENS = 10


def _export(source: Path, out: Path, task: str, **options: Any) -> Path:
    result = main_export(source, out, task, progress=None, **options)
    assert result.validation.passed
    return out


def test_seq2seq_generation(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    out = _export(tiny_dirs["t5"], tmp_path / "t5", "text2text-generation-with-past")
    inputs = {"input_ids": [[5, 6, 7, 8, 1], [9, 10, 11, 1, 0]], "attention_mask": [[1] * 5, [1, 1, 1, 1, 0]]}
    got = run_optimum(
        {"kind": "seq2seq", "export": str(out), "source": str(tiny_dirs["t5"]), **inputs, "max_new_tokens": NEW_TOKENS}
    )
    assert got["client"] == got["torch"]


def test_seq2seq_generation_from_the_merged_decoder(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    """The transformers.js layout's one decoder (``decoder_model_merged.onnx``) is optimum's merged decoder too."""
    out = _export(tiny_dirs["t5"], tmp_path / "t5", "text2text-generation-with-past", layout="transformers.js")
    inputs = {"input_ids": [[5, 6, 7, 8, 1]], "attention_mask": [[1] * 5]}
    job = {"kind": "seq2seq", "export": str(out / "onnx"), "source": str(tiny_dirs["t5"]), **inputs}
    (out / "onnx" / "config.json").write_bytes((out / "config.json").read_bytes())
    got = run_optimum({**job, "max_new_tokens": NEW_TOKENS})
    assert got["merged"] and got["client"] == got["torch"]


def test_speech_generation(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    out = _export(tiny_dirs["whisper"], tmp_path / "whisper", "automatic-speech-recognition-with-past")
    features = np.random.default_rng(0).standard_normal((2, 80, 60)).astype(np.float32).tolist()
    job = {"kind": "speech", "export": str(out), "source": str(tiny_dirs["whisper"]), "input_features": features}
    got = run_optimum({**job, "max_new_tokens": NEW_TOKENS, "generate": {"language": None}})
    assert got["client"] == got["torch"]


def test_causal_lm_generation(tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    out = _export(tiny_dirs["gpt2"], tmp_path / "gpt2", "text-generation-with-past")
    inputs = {
        "input_ids": [[5, 6, 7, 8, 9, 10], [0, 0, 11, 12, 13, 14]],
        "attention_mask": [[1] * 6, [0, 0, 1, 1, 1, 1]],
    }
    got = run_optimum(
        {
            "kind": "causal-lm",
            "export": str(out),
            "source": str(tiny_dirs["gpt2"]),
            **inputs,
            "max_new_tokens": NEW_TOKENS,
        }
    )
    assert got["client"] == got["torch"]


@pytest.mark.parametrize("family", ["bert", "vit"])
def test_encoders(family: str, tiny_dirs: dict[str, Path], tmp_path: Path) -> None:
    if family == "bert":
        task = "feature-extraction"
        inputs: dict[str, Any] = {
            "input_ids": [[2, 5, 6, 7, 3], [2, 8, 9, 3, 0]],
            "attention_mask": [[1] * 5, [1, 1, 1, 1, 0]],
        }
        inputs["token_type_ids"] = [[0] * 5, [0] * 5]
    else:
        task = "image-classification"
        inputs = {"pixel_values": np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32).tolist()}
    out = _export(tiny_dirs[family], tmp_path / family, task)
    got = run_optimum({"kind": task, "export": str(out), "source": str(tiny_dirs[family]), **inputs})
    np.testing.assert_allclose(np.asarray(got["client"]), np.asarray(got["torch"]), atol=1e-5, rtol=1e-4)


def test_real_whisper_base_transcribes_as_pytorch(whisper_base: Path, tmp_path: Path) -> None:
    """openai/whisper-base exported with its cache (default options otherwise): ORTModelForSpeechSeq2Seq.generate
    transcribes real speech to PyTorch's very tokens and text."""
    from ct2_checkpoint import read_wav_mono16k
    from real_inputs import DATA
    from transformers import WhisperFeatureExtractor

    out = _export(whisper_base, tmp_path / "whisper-base", "automatic-speech-recognition-with-past")
    speech = read_wav_mono16k(DATA / "speech.wav")
    extractor = WhisperFeatureExtractor.from_pretrained(whisper_base)
    features = extractor([speech, speech[: len(speech) // 2]], sampling_rate=16000, return_tensors="np")
    job = {
        "kind": "speech",
        "export": str(out),
        "source": str(whisper_base),
        "input_features": features["input_features"].astype(np.float32).tolist(),
        "max_new_tokens": 40,
        "generate": {"language": "en", "task": "transcribe"},
        "decode": True,
    }
    got = run_optimum(job)
    assert got["client"] == got["torch"], (got["client_text"], got["torch_text"])
    assert got["client_text"] == got["torch_text"]
    assert any(len(text.split()) >= 3 for text in got["client_text"]), got["client_text"]  # real words came out


def test_real_minilm_in_sentence_transformers_onnx_backend(minilm: Path, tmp_path: Path) -> None:
    """all-MiniLM-L6-v2 exported with --library transformers lands in the sentence-transformers layout
    (onnx/model.onnx beside its modules): SentenceTransformer(folder, backend="onnx") encodes as PyTorch does."""
    result = main_export(minilm, tmp_path / "st", "feature-extraction", library="transformers", progress=None)
    assert "onnx/model.onnx" in result.files and "modules.json" in result.files
    assert any(name.startswith("1_Pooling/") for name in result.files), result.files
    sentences = ["A man is eating food.", "The new movie is awesome, and everyone loved it!", "Paris"]
    got = run_optimum(
        {"kind": "sentence-transformers", "export": str(tmp_path / "st"), "source": str(minilm), "sentences": sentences}
    )
    assert got["backend"].startswith("ORTModel"), got["backend"]
    np.testing.assert_allclose(np.asarray(got["client"]), np.asarray(got["torch"]), atol=2e-5)
