"""sentence-transformers checkpoints, fast: a tiny BERT saved by the library itself with each pipeline we export.

The folders are written by ``SentenceTransformer.save`` (the library's current file format: ``pooling_mode``,
its own module type names); the real MiniLM (legacy format) is in ``tests/real/test_sentence_transformers.py``.
Each export must give ``token_embeddings`` and ``sentence_embedding`` equal to ``SentenceTransformer.encode``'s.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import transformers
from modelexport_onnx.sentence_transformers import SentenceCheck
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.errors import UnsupportedExportOptionError, ValidationError
from modelexport_pipeline.libraries.sentence_transformers import (
    CHECK_SENTENCES,
    NormalizeStep,
    SentencePipeline,
    folder_reader,
    pooling_modes,
    read_pipeline,
)
from sentence_folders import sentence_folder, tiny_bert

from modelexport.cli import main

if os.environ.get("MODELEXPORT_EXPECT_FRAMEWORKS") == "pt":  # the pt session installs it (noxfile.py)
    import sentence_transformers  # noqa: F401
else:
    pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def mean_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sentence_folder(tmp_path_factory.mktemp("mean"), "mean")


def encode(folder: Path, sentences: list[str]) -> Any:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), device="cpu").encode(sentences, convert_to_numpy=True)


def onnx_embeddings(out: Path, folder: Path, sentences: list[str]) -> Any:
    encoded = transformers.AutoTokenizer.from_pretrained(out)(sentences, padding=True, return_tensors="np")
    session = onnx_session(out / "model.onnx")
    return session.run(["sentence_embedding"], {k: v.astype(np.int64) for k, v in encoded.items()})[0]


def test_default_export_is_the_pipeline(mean_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, report = tmp_path / "onnx", tmp_path / "report.json"
    assert main(["export", "onnx", "-m", str(mean_folder), str(out), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "sentence-transformers pipeline Transformer -> Pooling(mean) -> Normalize" in printed
    assert "sentence_embedding vs SentenceTransformer.encode on 5 sentences" in printed and "DIFFERS" not in printed
    graph = onnx.load(str(out / "model.onnx")).graph
    assert [o.name for o in graph.output] == ["token_embeddings", "sentence_embedding"]
    assert [i.name for i in graph.input] == ["input_ids", "attention_mask", "token_type_ids"]
    dims = [d.dim_param or d.dim_value for d in graph.output[1].type.tensor_type.shape.dim]
    assert dims == ["batch_size", 32]
    check = json.loads(report.read_text())["sentence_check"]
    assert check["passed"] and check["sentences"] == len(CHECK_SENTENCES) and check["min_cosine"] >= 0.9999

    sentences = ["a man is eating food", "paris is the capital of france", "the cat"]
    got, expected = onnx_embeddings(out, mean_folder, sentences), encode(mean_folder, sentences)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(got, axis=-1), 1.0, atol=1e-5)


def test_library_transformers_keeps_the_plain_export(mean_folder: Path, tmp_path: Path) -> None:
    """The transformer alone, in the layout sentence-transformers' ONNX backend reads (``onnx/model.onnx`` beside
    the modules), or flat when asked."""
    assert main(["export", "onnx", "-m", str(mean_folder), "--library", "transformers", str(tmp_path / "o")]) == 0
    assert [o.name for o in onnx.load(str(tmp_path / "o" / "onnx" / "model.onnx")).graph.output] == [
        "last_hidden_state"
    ]
    assert (tmp_path / "o" / "modules.json").is_file() and (tmp_path / "o" / "1_Pooling" / "config.json").is_file()
    flat = [
        "export",
        "onnx",
        "-m",
        str(mean_folder),
        "--library",
        "transformers",
        "--layout",
        "flat",
        str(tmp_path / "f"),
    ]
    assert main(flat) == 0
    assert [o.name for o in onnx.load(str(tmp_path / "f" / "model.onnx")).graph.output] == ["last_hidden_state"]
    assert not (tmp_path / "f" / "modules.json").exists()


@pytest.mark.parametrize(
    ("pooling", "dense", "normalize"),
    [("cls", False, True), ("max", False, False), (("mean", "max"), True, True), ("mean_sqrt_len_tokens", True, False)],
    ids=["cls", "max-unnormalized", "mean+max-dense", "sqrt-len-dense-unnormalized"],
)
def test_each_pipeline_matches_encode(
    pooling: str | tuple[str, ...], dense: bool, normalize: bool, tmp_path: Path
) -> None:
    from modelexport.onnx import main_export

    folder = sentence_folder(tmp_path, pooling, dense, normalize)
    result = main_export(str(folder), tmp_path / "onnx", progress=None)
    assert result.library == "sentence_transformers"
    check = result.validation.check_of(SentenceCheck)
    assert check is not None and check.passed and check.min_cosine >= 0.9999, check
    size = 16 if dense else 32 * (len(pooling) if isinstance(pooling, tuple) else 1)
    output = onnx.load(str(tmp_path / "onnx" / "model.onnx")).graph.output[1]
    assert [d.dim_param or d.dim_value for d in output.type.tensor_type.shape.dim] == ["batch_size", size]
    sentences = ["a man is eating food", "the cat sat on the mat", "france"]
    np.testing.assert_allclose(
        onnx_embeddings(tmp_path / "onnx", folder, sentences), encode(folder, sentences), atol=1e-5
    )


def test_a_misread_pipeline_fails_the_export(
    mean_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Our pipeline without its Normalize: step 6's numeric check passes (graph = our module), encode's does not."""
    from modelexport_onnx import backend as steps
    from modelexport_onnx.main_export import main_export

    read = steps.read_pipeline

    def without_normalize(reader: Any) -> SentencePipeline:
        pipeline = read(reader)
        return SentencePipeline(tuple(s for s in pipeline.steps if not isinstance(s, NormalizeStep)))

    monkeypatch.setattr(steps, "read_pipeline", without_normalize)
    with pytest.raises(ValidationError, match="Sentence-embedding check failed") as failure:
        main_export(str(mean_folder), tmp_path / "o", progress=None)
    report = failure.value.report
    check = report.check_of(SentenceCheck)
    assert all(c.passed for c in report.outputs) and check is not None and not check.passed
    assert not (tmp_path / "o").exists()


def test_pipeline_files_are_read_in_both_formats(tmp_path: Path) -> None:
    assert pooling_modes({"pooling_mode": "cls"}) == ("cls",)
    assert pooling_modes({"pooling_mode": ["mean", "max"]}) == ("mean", "max")
    legacy = {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": True, "pooling_mode_max_tokens": False}
    assert pooling_modes(legacy) == ("cls", "mean")  # the library's fixed order
    assert pooling_modes({"word_embedding_dimension": 8}) == ("mean",)

    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "lasttoken"}))
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UnsupportedExportOptionError, match="lasttoken is not exported yet"):
        read_pipeline(folder_reader(tmp_path))
    modules.append({"idx": 2, "name": "2", "path": "2_LSTM", "type": "sentence_transformers.models.LSTM"})
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "mean"}))
    (tmp_path / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(UnsupportedExportOptionError, match="LSTM.*--library transformers"):
        read_pipeline(folder_reader(tmp_path))


def test_library_sentence_transformers_needs_modules_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = tiny_bert(tmp_path / "plain")
    argv = ["export", "onnx", "-m", str(plain), "--library", "sentence_transformers", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "needs a sentence-transformers checkpoint (modules.json)" in capsys.readouterr().err
