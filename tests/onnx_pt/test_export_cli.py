"""`modelexport export onnx` end to end: files, names, tokenizer, options, and every bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import transformers
from helpers import lay_out_hf_cache
from modelexport_onnx.validation import onnx_session
from tiny_models import save_pt_model

from modelexport.cli import main

WORDS = ["hello", "world", "the", "cat", "sat", "on", "mat", "a", "dog", "ran"]


def write_tokenizer(directory: Path) -> None:
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    vocab += [f"tok{i}" for i in range(99 - len(vocab))]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(directory / "vocab.txt"))
    tokenizer.save_pretrained(directory)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT classifier with a real tokenizer, as `save_pretrained` lays it out."""
    path = save_pt_model(
        transformers.AutoModelForSequenceClassification, "bert", tmp_path_factory.mktemp("bert-classifier")
    )
    write_tokenizer(path)
    return path


def test_export_writes_what_consumers_need(classifier: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "onnx"
    report = tmp_path / "report.json"
    assert main(["export", "onnx", "--model", str(classifier), str(out), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    for number in range(1, 8):
        assert f"[{number}/7]" in printed
    assert "validated against pt: max abs diff" in printed
    names = {p.name for p in out.iterdir()}
    assert {"model.onnx", "config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json"} <= names
    assert "model.onnx_data" not in names  # small models stay in one file
    assert json.loads(report.read_text())["passed"] is True

    # A consumer: tokenizer and config from the output folder, the model in onnxruntime.
    tokenizer = transformers.AutoTokenizer.from_pretrained(out)
    encoded = tokenizer(["the cat sat on the mat", "hello world"], padding=True, return_tensors="np")
    session = onnx_session(out / "model.onnx")
    logits = session.run(["logits"], {k: v.astype(np.int64) for k, v in encoded.items()})[0]
    model = transformers.AutoModelForSequenceClassification.from_pretrained(classifier).eval()
    with torch.no_grad():
        expected = model(**{k: torch.from_numpy(v.astype(np.int64)) for k, v in encoded.items()}).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    assert transformers.AutoConfig.from_pretrained(out).model_type == "bert"


def test_task_and_synonyms(classifier: Path, tmp_path: Path) -> None:
    assert main(["export", "onnx", "-m", str(classifier), "--task", "feature-extraction", str(tmp_path / "o")]) == 0
    graph = onnx.load(str(tmp_path / "o" / "model.onnx")).graph
    assert [o.name for o in graph.output] == ["last_hidden_state"]
    dims = [d.dim_param or d.dim_value for d in graph.output[0].type.tensor_type.shape.dim]
    assert dims == ["batch_size", "sequence_length", 32]


def test_dynamo_exporter_names_dims_like_torchscript(classifier: Path, tmp_path: Path) -> None:
    argv = ["export", "onnx", "-m", str(classifier), "--exporter", "dynamo", str(tmp_path / "d")]
    assert main(argv) == 0
    graph = onnx.load(str(tmp_path / "d" / "model.onnx")).graph
    for value in graph.input:
        assert [d.dim_param for d in value.type.tensor_type.shape.dim] == ["batch_size", "sequence_length"]
    assert not (tmp_path / "d" / "model.onnx.data").exists()
    assert graph.initializer  # weights inside the one file


def test_fixed_axes(classifier: Path, tmp_path: Path) -> None:
    argv = [
        "export",
        "onnx",
        "-m",
        str(classifier),
        "--no-dynamic-axes",
        "--batch-size",
        "1",
        "--sequence-length",
        "8",
        "--report",
        str(tmp_path / "r.json"),
        str(tmp_path / "f"),
    ]
    assert main(argv) == 0
    graph = onnx.load(str(tmp_path / "f" / "model.onnx")).graph
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 8]
    assert json.loads((tmp_path / "r.json").read_text())["shapes"] == {"batch_size": 1, "sequence_length": 8}


@pytest.mark.parametrize("level", ["O1", "O2", "O3"])
def test_optimized_exports_validate(classifier: Path, tmp_path: Path, level: str) -> None:
    assert main(["export", "onnx", "-m", str(classifier), "--optimize", level, str(tmp_path / level)]) == 0
    assert onnx_session(tmp_path / level / "model.onnx") is not None


def test_opset_choice(classifier: Path, tmp_path: Path) -> None:
    assert main(["export", "onnx", "-m", str(classifier), "--opset", "15", str(tmp_path / "o15")]) == 0
    model = onnx.load(str(tmp_path / "o15" / "model.onnx"))
    assert {o.domain: o.version for o in model.opset_import}[""] == 15  # not the default (17)


def test_hub_id_from_the_offline_cache(classifier: Path, hf_cache: Path, offline, tmp_path: Path) -> None:
    lay_out_hf_cache(hf_cache, "org/tiny-classifier", classifier)
    assert main(["export", "onnx", "-m", "org/tiny-classifier", str(tmp_path / "h")]) == 0
    assert {"model.onnx", "config.json", "vocab.txt"} <= {p.name for p in (tmp_path / "h").iterdir()}


# --- bad input -----------------------------------------------------------------------------


def test_existing_output_is_refused_then_overwritten_keeping_other_files(
    classifier: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "model.onnx").write_text("old")
    assert main(["export", "onnx", "-m", str(classifier), str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (out / "model.onnx").read_text() == "old"
    assert main(["export", "onnx", "-m", str(classifier), "--overwrite", str(out)]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert onnx.load(str(out / "model.onnx")).graph.output[0].name == "logits"
    assert [p.name for p in tmp_path.iterdir() if "partial" in p.name] == []


def test_empty_existing_directory_is_fine(classifier: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["export", "onnx", "-m", str(classifier), str(tmp_path / "empty")]) == 0


def test_validation_failure_leaves_nothing(classifier: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "never"
    report = tmp_path / "failed.json"
    argv = [
        "export",
        "onnx",
        "-m",
        str(classifier),
        "--task",
        "default",
        "--atol",
        "1e-30",
        "--report",
        str(report),
        str(out),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Validation failed" in err and "last_hidden_state" in err and "beyond atol" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["failed.json"]
    assert json.loads(report.read_text())["passed"] is False


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--opset", "9"], "too low"),
        (["--exporter", "dynamo", "--opset", "14"], "dynamo exporter emits opset 18"),
        (["--dtype", "fp16"], "fp16 needs a CUDA GPU"),
        (["--task", "causal-lm"], "Supported tasks for it: default, masked-lm"),
        (["--task", "fill-mas"], "Did you mean 'fill-mask'"),
        (["--framework", "jax"], "no plugin called 'jax'"),
    ],
)
def test_bad_options(classifier: Path, tmp_path: Path, capsys, extra: list[str], message: str) -> None:
    if "fp16" in extra and torch.cuda.is_available():
        pytest.skip("fp16 works where CUDA is available")
    assert main(["export", "onnx", "-m", str(classifier), *extra, str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_architecture_minimum_opset(tmp_path: Path, capsys) -> None:
    path = save_pt_model(transformers.AutoModel, "deberta-v2", tmp_path / "deberta")
    assert main(["export", "onnx", "-m", str(path), "--task", "default", "--opset", "11", str(tmp_path / "o")]) == 2
    assert "needs opset 12 or newer" in capsys.readouterr().err


def test_unwritable_output(classifier: Path, tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["export", "onnx", "-m", str(classifier), str(blocker / "out")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_model_inputs_are_checked_first(tmp_path: Path, capsys) -> None:
    assert main(["export", "onnx", "-m", str(tmp_path / "missing"), str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "noconfig").mkdir()
    assert main(["export", "onnx", "-m", str(tmp_path / "noconfig"), "--task", "default", str(tmp_path / "o")]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_python_api_through_the_facade(classifier: Path, tmp_path: Path) -> None:
    from modelexport import TasksManager
    from modelexport.onnx import ValidationError, export, main_export, validate_export

    model = TasksManager.get_model_from_task("text-classification", str(classifier))
    config = TasksManager.get_exporter_config_constructor("onnx", model, task="text-classification")(model.config)
    result = export(model, config, tmp_path / "single" / "classifier.onnx")
    assert result.path.name == "classifier.onnx" and result.framework == "pt"
    assert sorted(p.name for p in result.path.parent.iterdir()) == ["classifier.onnx"]  # no staging left
    assert validate_export(model, config, result.path).passed
    with pytest.raises(ValidationError) as failure:
        validate_export(model, config, result.path, atol=0.0, shapes=result.options.shapes.with_sizes(batch_size=5))
    assert failure.value.report.shapes["batch_size"] == 5

    lines: list[str] = []
    whole = main_export(str(classifier), tmp_path / "whole", progress=lines.append)
    assert whole.task == "sequence-classification" and whole.validation.passed
    assert len(lines) == 7 and "model.onnx" in whole.files


def test_decoder_with_past_export_checks_generation(llama: Path, tmp_path: Path, capsys) -> None:
    report = tmp_path / "r.json"
    argv = [
        "export",
        "onnx",
        "-m",
        str(llama),
        "--task",
        "text-generation-with-past",
        "--report",
        str(report),
        str(tmp_path / "o"),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "greedy generation of 8 tokens x 2 prompts identical" in out
    data = json.loads(report.read_text())
    assert data["generation"]["equal"] is True and data["passed"] is True
    graph = onnx.load(str(tmp_path / "o" / "model.onnx")).graph
    assert [i.name for i in graph.input][:3] == ["input_ids", "attention_mask", "position_ids"]
    assert graph.input[3].name == "past_key_values.0.key" and graph.output[1].name == "present.0.key"
    assert (tmp_path / "o" / "generation_config.json").exists()


def test_generation_check_can_be_skipped(llama: Path, tmp_path: Path, capsys) -> None:
    argv = [
        "export",
        "onnx",
        "-m",
        str(llama),
        "--task",
        "causal-lm-with-past",
        "--no-generation-check",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 0
    assert "greedy generation" not in capsys.readouterr().out


def test_generation_mismatch_fails_the_export(llama: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    import modelexport_onnx.generation as generation

    original = generation.greedy_generate
    monkeypatch.setattr(generation, "greedy_generate", lambda *a, **k: original(*a, **k) * 0 + 5)
    argv = ["export", "onnx", "-m", str(llama), "--task", "causal-lm-with-past", str(tmp_path / "o")]
    assert main(argv) == 1
    assert "Generation check failed" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_encoder_decoder_export_writes_three_files(tmp_path: Path, capsys) -> None:
    model_dir = save_pt_model(transformers.AutoModelForSeq2SeqLM, "bart", tmp_path / "bart")
    out = tmp_path / "o"
    assert main(["export", "onnx", "-m", str(model_dir), "--task", "text2text-generation-with-past", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "greedy generation of 8 tokens x 2 prompts identical" in printed
    names = {p.name for p in out.iterdir()}
    assert {
        "encoder_model.onnx",
        "decoder_model.onnx",
        "decoder_with_past_model.onnx",
        "config.json",
        "generation_config.json",
        "shared_weights.onnx_data",  # the weights the files hold alike (the decoder's, the embeddings), once
    } <= names
    assert "stored once in shared_weights.onnx_data" in printed
    with_past = onnx.load(str(out / "decoder_with_past_model.onnx")).graph
    assert "past_key_values.0.decoder.key" in [i.name for i in with_past.input]
    assert "past_key_values.1.encoder.value" in [i.name for i in with_past.input]
    assert [o.name for o in with_past.output][:2] == ["logits", "present.0.decoder.key"]
    assert main(["export", "onnx", "-m", str(model_dir), "--task", "seq2seq-lm", str(tmp_path / "np")]) == 0
    assert sorted(p.name for p in (tmp_path / "np").glob("*.onnx")) == ["decoder_model.onnx", "encoder_model.onnx"]
