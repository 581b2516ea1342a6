"""Image and audio exports validated on real data: a spoken sentence and a photograph (:mod:`real_inputs`).

The registry walk validates every pair on random inputs of other shapes; here the same tiny models of the
families' representative types meet real data, as users' exports do, with the default options:

* CTC models: the logits of the spoken sentence within the bound derived from the model, and the greedy CTC
  decoding of the ONNX logits exactly PyTorch's;
* the other audio heads (one label per clip or per frame, speaker embeddings) on the same sentence;
* image models on the photograph, at their fixed size or, where the export keeps them dynamic, at the
  photograph's own proportions;
* zero-shot image classification: the ONNX export ranks the labels of the photograph exactly as PyTorch does;
* image-to-text reading patches (Pix2Struct): the encoder's states on the photograph's patches within the bound,
  and greedy decoding in onnxruntime exactly PyTorch's.

Each check is also shown failing: a broken export (one weight of the graph perturbed) is caught.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from modelexport_core import TasksManager, UnknownModelTypeError
from modelexport_onnx.export import export_components, reference_runner, resolve_options, validate_components
from modelexport_onnx.validation import onnx_session, run_onnx
from modelexport_pipeline.checks import Tolerance, ValidationReport, compare_outputs
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES
from onnx_pt.tiny import TinyPtModels
from real_inputs import ctc_greedy, photograph, photograph_patches, photograph_path, speech_waveform

#: CTC models of the wav2vec2 family, and the other heads of one of them.
CTC_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio", "unispeech-sat")
AUDIO_HEADS = ("audio-classification", "audio-frame-classification", "audio-xvector")
#: Image models: fixed size (vit), convolutional (convnext), interpolated positions (dinov2).
IMAGE_PAIRS = (("vit", "image-classification"), ("convnext", "image-classification"), ("dinov2", "default"))
ZERO_SHOT_TYPES = ("clip", "chinese-clip", "siglip", "metaclip-2")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyPtModels:
    return TinyPtModels(tmp_path_factory.mktemp("tiny-real-inputs"))


def _advertised(model_type: str, task: str) -> None:
    try:
        tasks = TasksManager.get_supported_tasks_for_model_type(model_type, "onnx", framework="pt")
    except UnknownModelTypeError:
        tasks = {}
    if task not in tasks:
        pytest.skip(f"{model_type} {task} is not advertised with this transformers (the walk measured another)")


def _export(tiny: TinyPtModels, model_type: str, task: str, out: Path) -> tuple[Any, Any]:
    _advertised(model_type, task)
    model = tiny.model(model_type, task)
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)(model.config)
    export_components(model, config, out, resolve_options(config), "pt", out / ".work")
    return model, config


def _validate(model: Any, config: Any, path: Path, inputs: dict[str, Any]) -> ValidationReport:
    report = validate_components(model, config, path.parent, "pt", EXPORT_SHAPES, inputs=inputs)
    assert report.outputs, "nothing was compared"
    return report


def _perturbed(path: Path) -> bytes:
    """The export with every weight matrix perturbed by 5% of its scale: a broken graph."""
    model = onnx.load(str(path))
    rng = np.random.default_rng(0)
    for weights in model.graph.initializer:
        array = onnx.numpy_helper.to_array(weights)
        if array.ndim >= 2 and array.dtype == np.float32:
            noise = rng.standard_normal(array.shape).astype(np.float32) * 0.05 * float(np.abs(array).max())
            weights.CopyFrom(onnx.numpy_helper.from_array(array + noise, weights.name))
    return model.SerializeToString()


def _broken_report(model: Any, config: Any, path: Path, inputs: dict[str, Any]) -> tuple[ValidationReport, Any]:
    outputs = run_onnx(onnx_session(_perturbed(path)), inputs)
    reference = reference_runner(model, config, "pt")(inputs)
    return compare_outputs(outputs, reference, Tolerance(), {}), outputs


@pytest.mark.parametrize("model_type", CTC_TYPES)
def test_ctc_on_real_speech(tiny: TinyPtModels, model_type: str, tmp_path: Path) -> None:
    model, config = _export(tiny, model_type, "audio-ctc", tmp_path)
    speech = speech_waveform()
    inputs = {"input_values": speech}
    report = _validate(model, config, tmp_path / "model.onnx", inputs)
    assert report.passed, report.table()
    onnx_logits = run_onnx(onnx_session(tmp_path / "model.onnx"), inputs)["logits"]
    torch_logits = np.asarray(reference_runner(model, config, "pt")(inputs).float32["logits"])
    assert onnx_logits.shape[1] > 100  # 3.4 s of speech: one frame per 20 ms
    blank = int(model.config.pad_token_id)
    assert ctc_greedy(onnx_logits, blank) == ctc_greedy(torch_logits, blank)
    assert len(ctc_greedy(torch_logits, blank)[0]) > 0

    broken, _ = _broken_report(model, config, tmp_path / "model.onnx", inputs)
    assert not broken.passed, broken.table()


@pytest.mark.parametrize("task", AUDIO_HEADS)
def test_audio_heads_on_real_speech(task: str, tmp_path: Path) -> None:
    # Weights of a trained model's scale: the random tiny x-vector head's outputs (~1e-7) would sit below
    # validation's absolute floor (1e-6), where no graph, broken or not, can be told apart.
    import torch
    from tiny_models import tiny_config

    _advertised("wav2vec2", task)
    hf_config = tiny_config("wav2vec2")
    hf_config.initializer_range = 0.5
    torch.manual_seed(0)
    model = TasksManager.get_model_class_for_task(task, "pt").from_config(hf_config).eval()
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type="wav2vec2")(model.config)
    export_components(model, config, tmp_path, resolve_options(config), "pt", tmp_path / ".work")
    speech = speech_waveform()
    batch = np.concatenate([speech, np.roll(speech, 4000, axis=1)])  # two clips: the batch axis is dynamic
    report = _validate(model, config, tmp_path / "model.onnx", {"input_values": batch})
    assert report.passed, report.table()
    broken, _ = _broken_report(model, config, tmp_path / "model.onnx", {"input_values": batch})
    assert not broken.passed, broken.table()


def _image_inputs(config: Any, model: Any) -> dict[str, Any]:
    spec = next(s for s in config.input_specs() if s.name == "pixel_values")
    channels = int(spec.axes[1])
    if isinstance(spec.axes[2], int):  # fixed by the export: the model's own size
        height, width = int(spec.axes[2]), int(spec.axes[3])
    else:  # dynamic: the photograph's proportions (640 x 427), kept small
        height, width = 96, 144
    return {"pixel_values": photograph(height, width, channels)}


def _needs_photograph() -> None:
    if photograph_path() is None:
        message = "the real photograph needs scikit-learn and Pillow (installed by the pt session)"
        if os.environ.get("MODELEXPORT_EXPECT_REAL") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.mark.parametrize(("model_type", "task"), IMAGE_PAIRS)
def test_image_models_on_a_photograph(tiny: TinyPtModels, model_type: str, task: str, tmp_path: Path) -> None:
    _needs_photograph()
    model, config = _export(tiny, model_type, task, tmp_path)
    inputs = _image_inputs(config, model)
    report = _validate(model, config, tmp_path / "model.onnx", inputs)
    assert report.passed, report.table()
    broken, _ = _broken_report(model, config, tmp_path / "model.onnx", inputs)
    assert not broken.passed, broken.table()


#: Label prompts, as token ids: the same for PyTorch and ONNX, distinct per label, padded to one length.
LABELS = ((5, 17, 23, 2), (5, 31, 2, 0), (5, 44, 9, 2), (5, 8, 61, 2))


@pytest.mark.parametrize("model_type", ZERO_SHOT_TYPES)
def test_zero_shot_ranks_the_labels_of_a_photograph(tiny: TinyPtModels, model_type: str, tmp_path: Path) -> None:
    _needs_photograph()
    model, config = _export(tiny, model_type, "zero-shot-image-classification", tmp_path)
    ids = np.array(LABELS, dtype=np.int64)
    inputs: dict[str, Any] = {"input_ids": ids, **_image_inputs(config, model)}
    names = {spec.name for spec in config.input_specs()}
    if "attention_mask" in names:
        inputs["attention_mask"] = (ids != 0).astype(np.int64)
    if "token_type_ids" in names:
        inputs["token_type_ids"] = np.zeros_like(ids)
    report = _validate(model, config, tmp_path / "model.onnx", inputs)
    assert report.passed, report.table()
    onnx_logits = run_onnx(onnx_session(tmp_path / "model.onnx"), inputs)["logits_per_image"]
    torch_logits = np.asarray(reference_runner(model, config, "pt")(inputs).float32["logits_per_image"])
    assert onnx_logits.shape == (1, len(LABELS))
    assert list(np.argsort(-onnx_logits[0])) == list(np.argsort(-torch_logits[0]))

    broken, _ = _broken_report(model, config, tmp_path / "model.onnx", inputs)
    assert not broken.passed, broken.table()


def test_pix2struct_reads_the_patches_of_a_photograph(tiny: TinyPtModels, tmp_path: Path) -> None:
    """Patches as Pix2Struct's processor cuts them (its grid of row and column indices, zero padding after the
    smaller image's patches) through the exported encoder, then 20 greedy tokens as PyTorch generates them."""
    from modelexport_core.plugins import get_framework
    from modelexport_onnx.generation import check_generation
    from modelexport_onnx.validation import validate

    _needs_photograph()
    model, config = _export(tiny, "pix2struct", "vision2seq-lm-with-past", tmp_path)
    width = int(model.config.vision_config.patch_embed_hidden_size)
    inputs = photograph_patches(patch_side=round((width // 3) ** 0.5), max_patches=48)
    assert inputs["flattened_patches"].shape == (2, 48, 2 + width) and 0 < inputs["attention_mask"][1].sum() < 48
    encoder = config.components()["encoder_model"]
    path = tmp_path / "encoder_model.onnx"
    report = validate(path, encoder, reference_runner(model, encoder, "pt"), EXPORT_SHAPES, Tolerance(), inputs=inputs)
    assert report.passed, report.table()
    sessions = {name: onnx_session(tmp_path / f"{name}.onnx") for name in config.components()}
    plugin = get_framework("pt")
    check = check_generation(sessions, config, lambda feed, n, pad: plugin.generate(model, feed, n, pad), inputs=inputs)
    assert check.new_tokens == 20 and check.equal, (check.onnx_tokens, check.reference_tokens)

    broken, _ = _broken_report(model, encoder, path, inputs)
    assert not broken.passed, broken.table()
