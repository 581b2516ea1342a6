"""The `modelexport` command: tables, JSON, and errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import BERT_CONFIG

from modelexport.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tiny-bert-classifier"


def test_tasks_table_lists_every_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:2] == ["TASK", "SYNONYMS"]
    for task in ("default", "fill-mask", "speech2seq-lm-with-past", "automatic-speech-recognition"):
        assert task in out


def test_tasks_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tasks", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    by_task = {row["task"]: row for row in rows}
    assert by_task["masked-lm"]["synonyms"] == ["fill-mask"]
    assert len(rows) == 33  # 14 legacy base tasks + 13 of vision, audio and multimodal models + 6 with-past


def test_tasks_for_a_model_type(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("modelexport_onnx")
    assert main(["tasks", "--model-type", "distilbert", "--backend", "onnx", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["notes"] == []
    rows = listing["tasks"]
    assert [row["task"] for row in rows] == [
        "default",
        "masked-lm",
        "sequence-classification",
        "token-classification",
        "question-answering",
        "multiple-choice",
    ]
    assert main(["tasks", "--model-type", "distilbert"]) == 0
    assert "fill-mask" in capsys.readouterr().out


def test_tasks_with_backend_counts_model_types(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("modelexport_onnx")
    assert main(["tasks", "--backend", "onnx", "--json"]) == 0
    rows = {row["task"]: row for row in json.loads(capsys.readouterr().out)}
    assert "distilbert" in rows["multiple-choice"]["model_types"]


def test_infer_task_on_the_bundled_example(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer-task", str(EXAMPLE)]) == 0
    assert capsys.readouterr().out.strip() == "sequence-classification"
    assert main(["infer-task", str(EXAMPLE), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["synonyms"] == ["sequence-classification", "text-classification"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tasks", "--model-type", "distilbrt"], "Did you mean 'distilbert'"),
        (["tasks", "--framework", "nope"], "no plugin called 'nope'"),
        (["tasks", "--model-type", "bert", "--backend", "tflite"], "no plugin called 'tflite'"),
        (["infer-task", "/definitely/not/here"], "does not exist"),
        (["infer-task", "org/../../etc"], "valid Hugging Face Hub model id"),
    ],
)
def test_errors_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    if "--model-type" in argv and argv[-1] != "tflite":
        pytest.importorskip("modelexport_onnx")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert "Traceback" not in err


def test_bad_config_exits_non_zero(model_dir, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["infer-task", str(model_dir("{oops"))]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    assert main(["infer-task", str(model_dir(None, name="empty"))]) == 2
    assert "has no config.json" in capsys.readouterr().err


def test_offline_not_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    assert main(["infer-task", "org/not-cached"]) == 2
    assert "not in the Hugging Face cache" in capsys.readouterr().err


def test_console_script_in_a_real_process(model_dir) -> None:
    """The installed command: a real exit status and no traceback on bad input."""
    ok = subprocess.run(
        [sys.executable, "-m", "modelexport", "infer-task", str(model_dir(BERT_CONFIG))], capture_output=True, text=True
    )
    assert ok.returncode == 0 and ok.stdout.strip() == "sequence-classification"
    bad = subprocess.run(
        [sys.executable, "-m", "modelexport", "tasks", "--model-type", "bert", "--backend", "nope"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr and bad.stderr.startswith("error:")
    usage = subprocess.run([sys.executable, "-m", "modelexport", "no-such-command"], capture_output=True, text=True)
    assert usage.returncode == 2 and "invalid choice" in usage.stderr


def test_fixed_image_size_is_said_in_the_listing(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("modelexport_onnx")
    assert main(["tasks", "--model-type", "vit"]) == 0
    assert "note: height and width are fixed to the config's image_size" in capsys.readouterr().out
    assert main(["tasks", "--model-type", "convnext", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []
