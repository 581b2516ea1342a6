"""What a new user meets in the first hour, without any framework: registry answers for a pipeline name that
means two tasks, an unreachable Hub, a closed pipe, errors as JSON, and plain words."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from modelexport_core import TasksManager

from modelexport.cli import main

onnx_backend = pytest.mark.skipif(importlib.util.find_spec("modelexport_onnx") is None, reason="no onnx backend")


@onnx_backend
@pytest.mark.parametrize("suffix", ["", "-with-past"])
def test_a_pipeline_name_for_two_tasks_answers_with_both(suffix: str) -> None:
    """optimum's ``get_supported_model_type_for_task("automatic-speech-recognition", "onnx")`` lists the CTC
    models beside the encoder-decoders; so does ours, and the with-past name lists the with-past types."""
    asr = set(TasksManager.get_supported_model_type_for_task("automatic-speech-recognition" + suffix, "onnx"))
    seq2seq = set(TasksManager.get_supported_model_type_for_task("speech2seq-lm" + suffix, "onnx"))
    ctc = set(TasksManager.get_supported_model_type_for_task("audio-ctc", "onnx")) if not suffix else set()
    assert {"whisper"} <= seq2seq and (suffix or {"wav2vec2", "hubert"} <= ctc)
    assert asr == seq2seq | ctc


@pytest.mark.skipif(importlib.util.find_spec("modelexport_pt") is None, reason="the pt plugin holds the class table")
def test_a_pipeline_name_for_two_tasks_names_both_classes() -> None:
    names = TasksManager.get_autoclass_name("automatic-speech-recognition", "pt")
    assert names == ("AutoModelForSpeechSeq2Seq", "AutoModelForCTC")
    assert TasksManager.get_autoclass_name("speech2seq-lm", "pt") == "AutoModelForSpeechSeq2Seq"


@onnx_backend
def test_an_unreachable_hub_fails_at_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No network and HF_HUB_OFFLINE unset (the tests' Hub is a closed port): the export says the Hub could not be
    reached and the model is not cached, as fast as infer-task, instead of retrying for half a minute."""
    started = time.perf_counter()
    code = main(["export", "onnx", "-m", "someone/not-cached", str(tmp_path / "out")])
    took = time.perf_counter() - started
    err = capsys.readouterr().err
    assert code == 2 and "could not be reached" in err and "not in the Hugging Face cache" in err, err
    assert "has no config.json" not in err
    assert took < 5, f"{took:.1f} s"
    assert not (tmp_path / "out").exists()


def test_a_closed_pipe_is_no_traceback() -> None:
    """``modelexport tasks | head``: the reader leaves early; the command ends quietly."""
    process = subprocess.Popen(
        [sys.executable, "-c", "from modelexport.cli import entry; entry()", "tasks", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # before the command writes a byte
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) in (0, 141)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


@onnx_backend
def test_json_prints_an_error_document_when_the_export_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "taken"
    output.mkdir()
    (output / "file.txt").write_text("x")
    code = main(["export", "onnx", "-m", str(tmp_path), "--json", str(output)])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert code == 2
    assert document["error"]["type"] == "OutputExistsError" and document["error"]["exit_code"] == 2
    assert "--overwrite" in document["error"]["message"]
    assert captured.err.startswith("error: ") and len(captured.err.strip().splitlines()) == 1


@onnx_backend
@pytest.mark.skipif(importlib.util.find_spec("transformers") is None, reason="the check reads transformers' table")
def test_a_mistyped_model_type_suggests_the_known_ones_before_loading(
    model_dir: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = model_dir({"model_type": "bret", "hidden_size": 32, "num_hidden_layers": 2, "vocab_size": 99})  # type: ignore[operator]
    started = time.perf_counter()
    code = main(["export", "onnx", "-m", str(folder), "--task", "feature-extraction", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "Did you mean 'bert'" in err and "does not know model type 'bret'" in err, err
    assert time.perf_counter() - started < 5


@onnx_backend
def test_a_bound_far_exceeded_reads_as_a_multiple() -> None:
    from modelexport_pipeline.checks import OutputCheck, Tolerance, ValidationReport

    check = OutputCheck("logits", [1], [1], 7.45e-6, False, error=7.45e-6, bound=1e-30)
    report = ValidationReport(Tolerance(), {"batch_size": 1}, [check])
    assert "7.45e+24 times it" in report.summary() and "%" not in report.summary()
    within = OutputCheck("logits", [1], [1], 1e-6, True, error=1e-6, bound=1e-5)
    assert "(10% of it)" in ValidationReport(Tolerance(), {}, [within]).summary()
