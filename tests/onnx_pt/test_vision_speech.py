"""Vision and speech specifics: preprocessor files, image sizes, mel bins, transcription equality."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import transformers
from modelexport_core import TasksManager, UnsupportedTaskError
from modelexport_onnx.config import DEFAULT_IMAGE_SIZE
from onnx_pt.tiny import export_split_model, generation_check
from tiny_models import TINY_CONFIGS, build_pt_model, save_pt_model

from modelexport.cli import main


def test_image_model_export_copies_the_preprocessor(tmp_path: Path, capsys) -> None:
    model_dir = save_pt_model(transformers.AutoModelForImageClassification, "convnext", tmp_path / "convnext")
    processor = {
        "image_processor_type": "ConvNextImageProcessor",
        "size": {"shortest_edge": 64},
        "do_normalize": True,
        "image_mean": [0.485, 0.456, 0.406],
        "image_std": [0.229, 0.224, 0.225],
    }
    (model_dir / "preprocessor_config.json").write_text(json.dumps(processor))
    out = tmp_path / "o"
    assert main(["export", "onnx", "-m", str(model_dir), str(out)]) == 0
    assert "image-classification" in capsys.readouterr().out
    assert {"model.onnx", "config.json", "preprocessor_config.json"} <= {p.name for p in out.iterdir()}
    pixel_values = onnx.load(str(out / "model.onnx")).graph.input[0]
    dims = [d.dim_param or d.dim_value for d in pixel_values.type.tensor_type.shape.dim]
    assert dims == ["batch_size", 3, "height", "width"]  # convolutional: any image size


def test_fixed_size_model_keeps_its_image_size(tmp_path: Path) -> None:
    model_dir = save_pt_model(transformers.AutoModelForImageClassification, "vit", tmp_path / "vit")
    report = tmp_path / "r.json"
    assert main(["export", "onnx", "-m", str(model_dir), "--report", str(report), str(tmp_path / "o")]) == 0
    graph = onnx.load(str(tmp_path / "o" / "model.onnx")).graph
    assert [d.dim_param or d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == ["batch_size", 3, 32, 32]
    assert json.loads(report.read_text())["shapes"] == {"batch_size": 3}


def test_config_without_image_size_uses_the_documented_default() -> None:
    constructor = TasksManager.get_exporter_config_constructor("onnx", task="image-classification", model_type="vit")
    config = constructor({"model_type": "vit", "num_channels": 3})
    assert config.inputs == {"pixel_values": {0: "batch_size"}}
    assert config.generate_dummy_inputs()["pixel_values"].shape == (2, 3, DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE)


@pytest.mark.parametrize(
    ("model_type", "task", "listed"),
    [
        ("vit", "fill-mask", "default, image-classification, masked-im"),
        ("bert", "image-classification", "default, masked-lm"),
    ],
)
def test_text_task_for_an_image_model_and_the_reverse(model_type: str, task: str, listed: str) -> None:
    with pytest.raises(UnsupportedTaskError, match=f"Supported tasks for it: {listed}"):
        TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)


@pytest.mark.slow
@pytest.mark.parametrize("mel_bins", [80, 128, 13])
def test_whisper_transcription_equals_pytorch(tmp_path: Path, mel_bins: int, monkeypatch) -> None:
    monkeypatch.setitem(TINY_CONFIGS, "whisper", ("whisper", {**TINY_CONFIGS["whisper"][1], "num_mel_bins": mel_bins}))
    model = build_pt_model(TasksManager.get_model_class_for_task("speech2seq-lm-with-past", "pt"), "whisper")
    config = TasksManager.get_exporter_config_constructor(
        "onnx", task="automatic-speech-recognition-with-past", model_type="whisper"
    )(model.config)
    sessions = export_split_model(model, config, tmp_path)
    features = sessions["encoder_model"].get_inputs()[0]
    assert features.name == "input_features" and features.shape == ["batch_size", mel_bins, 60]
    generation_check(model, config, sessions, lengths=(1, 1))


@pytest.mark.slow
def test_speech_to_text_transcription_equals_pytorch(tmp_path: Path) -> None:
    model = build_pt_model(TasksManager.get_model_class_for_task("speech2seq-lm-with-past", "pt"), "speech-to-text")
    config = TasksManager.get_exporter_config_constructor(
        "onnx", task="speech2seq-lm-with-past", model_type="speech_to_text"
    )(model.config)
    sessions = export_split_model(model, config, tmp_path)
    inputs = sessions["encoder_model"].get_inputs()
    assert [i.name for i in inputs] == ["input_features", "attention_mask"]
    assert inputs[0].shape == ["batch_size", "encoder_sequence_length", 12]  # frames are dynamic here
    assert sessions["encoder_model"].get_outputs()[0].shape[1] == "encoder_output_length"
    generation_check(model, config, sessions, lengths=(1, 1))
