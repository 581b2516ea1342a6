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


@pytest.fixture(scope="module")
def tts_sessions(tts: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The with-past export's files in onnxruntime, shared by the tests that only run them."""
    return export_split_model(tts, _config(tts), tmp_path_factory.mktemp("tts-onnx"))


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


def test_prenet_dropout_input_drops_units(tts: Any, tts_sessions: dict[str, Any]) -> None:
    """At the model's rate the exported prenet really drops units (the run differs from the rate-0 run)."""
    import numpy as np
    from modelexport_onnx.validation import run_onnx

    sessions = tts_sessions
    inputs = _config(tts).components()["decoder_model"].generate_dummy_inputs()
    off = run_onnx(sessions["decoder_model"], inputs)["spectrum"]
    on = run_onnx(sessions["decoder_model"], {**inputs, "prenet_dropout": np.array(0.5, dtype=np.float32)})["spectrum"]
    assert np.isfinite(on).all() and not np.allclose(on, off)


def test_a_misplaced_step_passes_validation_but_not_the_loop(
    tts: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A step module reading its frames in the wrong order is its own reference, so every file validates;
    chained against transformers' ``generate`` its spectrogram differs."""
    from modelexport_onnx.converters.pt.spectrogram import reference_spectrogram
    from modelexport_onnx.export import validate_components
    from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, validation_shapes_for

    original = spectrogram.prenet_states
    monkeypatch.setattr(
        spectrogram, "prenet_states", lambda prenet, frames, *rest: original(prenet, frames.flip(1), *rest)
    )
    config = _config(tts)
    sessions = export_split_model(tts, config, tmp_path)
    assert validate_components(tts, config, tmp_path, "pt", validation_shapes_for(EXPORT_SHAPES)).passed
    check = check_spectrogram_generation(sessions, config, lambda inputs, n: reference_spectrogram(tts, inputs, n))
    assert not check.passed and check.comparison.problem == "beyond bound"


def test_the_files_and_the_vocoder_speak_as_transformers(
    tts: Any, tts_sessions: dict[str, Any], tmp_path: Path
) -> None:
    """Encoder, decoder steps, postnet and the separately exported vocoder chained in onnxruntime give the
    waveform of transformers' ``generate(..., vocoder=...)`` (prenet dropout off on both sides)."""
    import numpy as np
    import torch
    from modelexport_onnx.converters.pt.spectrogram import prenet_dropout_off
    from modelexport_onnx.spectrogram_generation import check_inputs, generate_spectrogram
    from modelexport_onnx.validation import run_onnx

    vocoder = TinyPtModels(tmp_path / "tiny").model("speecht5-hifigan", "default")
    vocoder_config = TasksManager.get_exporter_config_constructor(
        "onnx", task="default", model_type="speecht5-hifigan"
    )(vocoder.config)
    vocoder_session = export_split_model(vocoder, vocoder_config, tmp_path / "vocoder")["model"]
    config = _config(tts)
    inputs = check_inputs(config)
    spectrogram = generate_spectrogram(tts_sessions, config, inputs, 6)
    waveform = run_onnx(vocoder_session, {"spectrogram": spectrogram})["waveform"]
    frames = config.reduction_factor
    with prenet_dropout_off(tts), torch.inference_mode():
        expected = tts.generate(
            torch.from_numpy(inputs["input_ids"]),
            attention_mask=torch.from_numpy(inputs["attention_mask"]),
            speaker_embeddings=torch.from_numpy(inputs["speaker_embeddings"]),
            threshold=frames + 1.0,
            maxlenratio=6.5 * frames / inputs["input_ids"].shape[1],
            vocoder=vocoder,
        ).numpy()
    assert waveform.shape == expected.shape == (2, 6 * frames * 16)  # 16 samples a frame
    assert np.abs(expected).max() > 0.1  # a waveform worth comparing
    np.testing.assert_allclose(waveform, expected, atol=1e-5, rtol=0)
