"""Text-to-spectrogram exports (SpeechT5's speech synthesiser): the files' layout, and that the loop check is
the evidence per-file validation cannot give (a step module that is its own reference passes validation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from modelexport_core import TasksManager
from modelexport_onnx.converters.pt import spectrogram
from modelexport_onnx.spectrogram_config import TextToSpectrogramOnnxConfig
from modelexport_onnx.spectrogram_generation import check_spectrogram_generation
from onnx_pt.tiny import TinyPtModels, export_split_model


@pytest.fixture(scope="module")
def tts(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return TinyPtModels(tmp_path_factory.mktemp("tts")).model("speecht5", "text-to-audio-with-past")


def _config(model: Any, task: str = "text-to-audio-with-past") -> TextToSpectrogramOnnxConfig:
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type="speecht5")(model.config)
    assert isinstance(config, TextToSpectrogramOnnxConfig)
    return config


def test_files_and_names(tts: Any) -> None:
    config = _config(tts)
    assert list(config.components()) == ["encoder_model", "decoder_model", "decoder_with_past_model", "postnet"]
    assert list(_config(tts, "text-to-speech").components()) == ["encoder_model", "decoder_model", "postnet"]
    step = config.components()["decoder_with_past_model"]
    assert list(step.inputs)[:4] == [
        "output_sequence",
        "speaker_embeddings",
        "encoder_attention_mask",
        "prenet_dropout",
    ]
    assert step.inputs["output_sequence"] == {
        0: "batch_size",
        1: "past_decoder_sequence_length + decoder_sequence_length",
    }
    assert list(step.outputs)[:2] == ["spectrum", "stop_probabilities"]
    assert all(name.endswith(".decoder.key") or name.endswith(".decoder.value") for name in list(step.outputs)[2:])
    dummy = step.generate_dummy_inputs()
    assert dummy["prenet_dropout"].shape == () and dummy["prenet_dropout"] == 0  # validated with the dropout off
    assert dummy["output_sequence"].shape == (2, 12, tts.config.num_mel_bins)


def test_prenet_dropout_input_drops_units(tts: Any, tmp_path: Path) -> None:
    """At the model's rate the exported prenet really drops units (the run differs from the rate-0 run)."""
    import numpy as np
    from modelexport_onnx.validation import run_onnx

    config = _config(tts, "text-to-audio")
    step = config.components()["decoder_model"]
    sessions = export_split_model(tts, config, tmp_path)
    inputs = step.generate_dummy_inputs()
    off = run_onnx(sessions["decoder_model"], inputs)["spectrum"]
    on = run_onnx(sessions["decoder_model"], {**inputs, "prenet_dropout": np.array(0.5, dtype=np.float32)})["spectrum"]
    assert np.isfinite(on).all() and not np.allclose(on, off)


def test_a_misplaced_step_passes_validation_but_not_the_loop(
    tts: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step module reading its frames in the wrong order is its own reference, so every file validates;
    chained against transformers' ``generate`` its spectrogram differs."""
    from modelexport_onnx.converters.pt.spectrogram import reference_spectrogram
    from modelexport_onnx.dummy_inputs import EXPORT_SHAPES, validation_shapes_for
    from modelexport_onnx.export import validate_components

    original = spectrogram.prenet_states
    monkeypatch.setattr(
        spectrogram, "prenet_states", lambda prenet, frames, *rest: original(prenet, frames.flip(1), *rest)
    )
    config = _config(tts)
    sessions = export_split_model(tts, config, tmp_path)
    assert validate_components(tts, config, tmp_path, "pt", validation_shapes_for(EXPORT_SHAPES)).passed
    check = check_spectrogram_generation(sessions, config, lambda inputs, n: reference_spectrogram(tts, inputs, n))
    assert not check.passed and check.comparison.problem == "beyond bound"
