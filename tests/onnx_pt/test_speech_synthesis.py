"""Text to speech (VITS): the noise scales and speaking rate are live graph inputs, padding is per row, and
validation (zero noise) fails an export whose weights differ.

The registry walk exports and validates the tiny VITS at zero noise; these tests check what it cannot see:
that the sampling really happens in the graph (two runs differ, the scale of the sound matches PyTorch's),
that each row of a padded batch is as long as it is alone, and that a mutated graph is caught.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import transformers
from modelexport_onnx.converters.pt.wrappers import wrapper_for
from modelexport_onnx.export import export, reference_runner, validate_export
from modelexport_onnx.speech_synthesis import TextToSpeechOnnxConfig, check_sampling
from modelexport_onnx.validation import onnx_session, run_onnx
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, validation_shapes_for
from mutations import Graph, perturbed_conv_weight
from onnx import helper, numpy_helper
from tiny_models import TINY_CONFIGS, build_pt_model

pytestmark = pytest.mark.slow
SHAPES = validation_shapes_for(EXPORT_SHAPES)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, TextToSpeechOnnxConfig, Path]:
    model = build_pt_model(transformers.VitsModel, "vits")
    config = TextToSpeechOnnxConfig(model.config)
    path = tmp_path_factory.mktemp("vits") / "model.onnx"
    export(model, config, path)
    return model, config, path


def _feed(config: TextToSpeechOnnxConfig, rows: int = 3, **controls: float) -> dict[str, Any]:
    inputs = config.generate_dummy_inputs(batch_size=rows, sequence_length=11, seed=3)
    for name, value in controls.items():
        inputs[name] = np.asarray(value, dtype=np.float32)
    return inputs


def _pytorch(model: Any, config: TextToSpeechOnnxConfig, inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    module = wrapper_for(model, config).eval()  # the speech-synthesis kind's module
    with torch.inference_mode():
        outputs = module(*(torch.from_numpy(inputs[name]) for name in config.inputs))
    return {name: value.numpy() for name, value in zip(config.outputs, outputs, strict=True)}


def test_graph_takes_the_sampling_controls(exported: tuple[Any, TextToSpeechOnnxConfig, Path]) -> None:
    _, _, path = exported
    graph = onnx.load(str(path)).graph
    scalars = {i.name for i in graph.input if not i.type.tensor_type.shape.dim}
    assert scalars == {"noise_scale", "noise_scale_duration", "speaking_rate"}
    waveform = next(o for o in graph.output if o.name == "waveform")
    assert [d.dim_param for d in waveform.type.tensor_type.shape.dim] == ["batch_size", "num_samples"]


def test_prior_noise_samples_like_pytorch(exported: tuple[Any, TextToSpeechOnnxConfig, Path]) -> None:
    """With the prior's noise on and the durations' off, the lengths are PyTorch's exactly and the sound's scale
    is PyTorch's (the generators differ, so the samples cannot); two runs differ: the noise is sampled in the graph."""
    model, config, path = exported
    check = check_sampling(path, config, reference_runner(model, config, "pt"), SHAPES)
    assert check.passed, check.describe()
    assert check.lengths_equal and check.runs_differ and 0.5 <= check.rms_ratio <= 2.0


def test_a_graph_with_the_noise_frozen_fails_the_sampling_check(
    exported: tuple[Any, TextToSpeechOnnxConfig, Path], tmp_path: Path
) -> None:
    """The exporter's likeliest mistake: ``noise_scale`` read as a constant (0). Zero-noise validation cannot see
    it; the sampling check does (two runs are identical)."""
    model, config, path = exported
    frozen = onnx.load(str(path))
    zero = helper.make_node("Constant", [], ["frozen_noise_scale"], value=numpy_helper.from_array(np.float32(0)))
    for node in frozen.graph.node:
        node.input[:] = ["frozen_noise_scale" if name == "noise_scale" else name for name in node.input]
    frozen.graph.node.insert(0, zero)
    onnx.save(frozen, str(tmp_path / "model.onnx"))
    assert validate_export(model, config, tmp_path / "model.onnx").passed  # zero noise: no difference
    check = check_sampling(tmp_path / "model.onnx", config, reference_runner(model, config, "pt"), SHAPES)
    assert not check.passed and not check.runs_differ, check.describe()


def test_default_sampling_gives_consistent_lengths(exported: tuple[Any, TextToSpeechOnnxConfig, Path]) -> None:
    """PyTorch's own sampling (the config's scales): every output agrees on how long each row is."""
    model, config, path = exported
    outputs = run_onnx(onnx_session(path), _feed(config, **config.sampling_values()))
    upsampling = int(np.prod(model.config.upsample_rates))
    lengths = outputs["sequence_lengths"]
    assert outputs["waveform"].shape[1] == lengths.max() == outputs["spectrogram"].shape[2] * upsampling
    assert np.isfinite(outputs["waveform"]).all()


def test_speaking_rate_is_an_input(exported: tuple[Any, TextToSpeechOnnxConfig, Path]) -> None:
    """Twice the rate: about half the samples, and PyTorch's exactly."""
    model, config, path = exported
    session = onnx_session(path)
    normal = run_onnx(session, _feed(config))["sequence_lengths"]
    fast_inputs = _feed(config, speaking_rate=2.0)
    fast = run_onnx(session, fast_inputs)["sequence_lengths"]
    np.testing.assert_array_equal(fast, _pytorch(model, config, fast_inputs)["sequence_lengths"])
    assert (fast < normal).all() and (fast >= normal // 2).all()


def test_padded_rows_are_as_long_as_alone(exported: tuple[Any, TextToSpeechOnnxConfig, Path]) -> None:
    """Batch > 1: the last row is padded; each row's length is the one it has synthesised alone."""
    _, config, path = exported
    session = onnx_session(path)
    batch = _feed(config)
    assert batch["attention_mask"][-1, -1] == 0
    together = run_onnx(session, batch)["sequence_lengths"]
    for row in range(len(together)):
        real = batch["attention_mask"][row].astype(bool)
        alone = {**batch, "input_ids": batch["input_ids"][row : row + 1, real]}
        alone["attention_mask"] = batch["attention_mask"][row : row + 1, real]
        assert run_onnx(session, alone)["sequence_lengths"][0] == together[row]


def test_validation_fails_a_mutated_graph(exported: tuple[Any, TextToSpeechOnnxConfig, Path], tmp_path: Path) -> None:
    model, config, path = exported
    assert validate_export(model, config, path).passed
    mutant = onnx.load(str(path))
    what = perturbed_conv_weight(Graph(mutant), model.config)
    onnx.save(mutant, str(tmp_path / "model.onnx"))
    report = validate_export(model, config, tmp_path / "model.onnx", raise_on_failure=False)
    assert not report.passed, (what, report.table())


def test_several_speakers_take_a_speaker_id(tmp_path: Path) -> None:
    """A model of several speakers: ``speaker_id`` (one for the batch) picks the voice; validated like the rest."""
    model_type, tiny = TINY_CONFIGS["vits"]
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(model_type, **tiny, num_speakers=3, speaker_embedding_size=8)
    model = transformers.VitsModel(config).eval()
    onnx_config = TextToSpeechOnnxConfig(model.config)
    assert list(onnx_config.inputs)[-1] == "speaker_id"
    export(model, onnx_config, tmp_path / "model.onnx")
    report = validate_export(model, onnx_config, tmp_path / "model.onnx")
    assert report.passed, report.table()
    session = onnx_session(tmp_path / "model.onnx")
    inputs = _feed(onnx_config)
    voices = [run_onnx(session, {**inputs, "speaker_id": np.array([i])})["waveform"] for i in (0, 1)]
    assert voices[0].shape != voices[1].shape or not np.allclose(voices[0], voices[1])
