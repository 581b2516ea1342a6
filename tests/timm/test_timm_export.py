"""timm models from the folder timm writes: the library axis detects them, the registry answers with optimum's
``library_name``, and the export validates against timm's own forward on a real photograph preprocessed by the
model's ``pretrained_cfg``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from modelexport_core import TasksManager
from modelexport_onnx.main_export import main_export
from modelexport_onnx.validation import onnx_session
from real_inputs import photograph_path

#: One model per timm family of a sample of the walk (tools/timm_walk.py measures them all): a convolution
#: network, a vision transformer and a hybrid.
SAMPLE = ("resnet18", "vit_tiny_patch16_224", "mobilevitv2_050")


@pytest.fixture(scope="module")
def timm_folders(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import timm
    import torch

    torch.manual_seed(0)
    root = tmp_path_factory.mktemp("timm")
    folders = {}
    for name in SAMPLE:
        model = timm.create_model(name, pretrained=False, num_classes=7)
        timm.models.save_for_hf(model, str(root / name), safe_serialization=True)
        folders[name] = root / name
    return folders


def test_the_library_axis_answers_for_timm(timm_folders: dict[str, Path]) -> None:
    folder = timm_folders["resnet18"]
    assert TasksManager.infer_library_from_model(str(folder)) == "timm"
    assert TasksManager.infer_task_from_model(str(folder)) == "image-classification"
    assert set(TasksManager.get_supported_tasks_for_model_type("resnet18", "onnx", library_name="timm")) == {
        "image-classification",
        "default",
    }
    assert TasksManager.get_supported_model_type_for_task("image-classification", "onnx", library_name="timm") == [
        "default-timm-config"
    ]
    model = TasksManager.get_model_from_task("image-classification", str(folder), library_name="timm")
    assert type(model).__name__ == "ResNet" and model.num_classes == 7
    with pytest.raises(Exception, match="transformers"):
        TasksManager.get_model_class_for_task("image-classification", library="timm")


@pytest.mark.parametrize("name", SAMPLE)
def test_a_local_timm_folder_exports_and_matches_timm_on_a_photograph(
    name: str, timm_folders: dict[str, Path], tmp_path: Path
) -> None:
    import timm
    import torch
    from PIL import Image

    result = main_export(str(timm_folders[name]), tmp_path / "onnx", progress=None)
    assert (result.task, result.model_type, result.library) == ("image-classification", "default-timm-config", "timm")
    assert result.validation.passed and (tmp_path / "onnx" / "config.json").is_file()

    model = timm.create_model(name, pretrained=False, num_classes=7)
    model.load_state_dict(
        __import__("safetensors.torch", fromlist=["load_file"]).load_file(timm_folders[name] / "model.safetensors")
    )
    model.eval()
    path = photograph_path()
    assert path is not None, "the photograph needs scikit-learn and Pillow"
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    with Image.open(path) as image:
        pixels = transform(image.convert("RGB")).unsqueeze(0)
    with torch.inference_mode():
        expected = model(pixels).numpy()
    session = onnx_session(tmp_path / "onnx" / "model.onnx")
    (logits,) = session.run(None, {"pixel_values": pixels.numpy()})
    scale = float(np.abs(expected).max())
    assert np.abs(logits - expected).max() <= 2e-4 * scale + 1e-5
    assert int(logits.argmax()) == int(expected.argmax())


def test_feature_extraction_gives_timms_pooled_and_unpooled_features(
    timm_folders: dict[str, Path], tmp_path: Path
) -> None:
    import timm
    import torch

    result = main_export(str(timm_folders["resnet18"]), tmp_path / "f", "feature-extraction", progress=None)
    assert result.validation.passed
    model = timm.create_model(
        "resnet18",
        pretrained=True,
        num_classes=7,
        pretrained_cfg_overlay={"file": str(timm_folders["resnet18"] / "model.safetensors")},
    ).eval()
    x = torch.randn(2, 3, 224, 224)
    with torch.inference_mode():
        unpooled = model.forward_features(x)
        pooled = model.forward_head(unpooled, pre_logits=True)
    session = onnx_session(tmp_path / "f" / "model.onnx")
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"pixel_values": x.numpy()}), strict=True))
    assert outputs["last_hidden_state"].shape == tuple(unpooled.shape) == (2, 512, 7, 7)
    np.testing.assert_allclose(outputs["pooler_output"], pooled.numpy(), atol=1e-4, rtol=1e-4)


def test_a_timm_folder_refuses_transformers_as_its_library(timm_folders: dict[str, Path], tmp_path: Path) -> None:
    from modelexport_core.errors import ModelExportError

    with pytest.raises(ModelExportError, match="needs a transformers model folder"):
        main_export(str(timm_folders["resnet18"]), tmp_path / "o", library="transformers", progress=None)
    assert not (tmp_path / "o").exists()


def test_the_walk_table_is_measured() -> None:
    import modelexport_onnx

    table = json.loads((Path(modelexport_onnx.__file__).parent / "timm_architectures.json").read_text())
    assert len(table["passed"]) >= 30 and all("model" in row for row in table["passed"].values())
    assert all("why" in row or "skipped" in row for row in table["failed"].values())


def test_the_walk_says_what_it_measured_of_a_models_family(
    timm_folders: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table is read at export time: a family that passed exports without a note; one the walk saw fail is
    still tried, and its failure says the walk's verdict and what to do; one the walk never saw is noted."""
    import timm
    import torch
    from modelexport_onnx.timm_config import walk_notes
    from modelexport_pipeline.libraries.timm import architecture_family

    from modelexport.cli import main

    assert architecture_family("resnet18.a1_in1k") == "resnet" and architecture_family("no_such_net") is None
    assert main(["export", "onnx", "-m", str(timm_folders["resnet18"]), str(tmp_path / "resnet")]) == 0
    assert "walk" not in capsys.readouterr().err

    torch.manual_seed(0)
    folder = tmp_path / "halonet26t"  # byoanet: TorchScript cannot export its Unfold (the walk's failure)
    timm.models.save_for_hf(timm.create_model("halonet26t", pretrained=False), str(folder), safe_serialization=True)
    assert main(["export", "onnx", "-m", str(folder), str(tmp_path / "halonet")]) == 1
    err = capsys.readouterr().err
    assert "timm's byoanet family failed the walk" in err and "--exporter dynamo may trace" in err, err
    assert not (tmp_path / "halonet").exists()

    (note,) = walk_notes("new_net_tiny", "new_net")
    assert "new_net family (new_net_tiny) is not in the walk of timm" in note


def test_a_pickled_checkpoint_over_max_memory_is_refused_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """timm saves pytorch_model.bin where safetensors cannot hold its tensors: not streamable, so over
    --max-memory it is refused (loading it whole would break the limit), within it exported as usual."""
    import timm
    from modelexport_pipeline import run as pipeline_run

    from modelexport.cli import main

    folder = tmp_path / "resnet18-bin"
    timm.models.save_for_hf(timm.create_model("resnet18", pretrained=False), str(folder), safe_serialization=False)
    assert (folder / "pytorch_model.bin").exists() and not list(folder.glob("*.safetensors"))
    with monkeypatch.context() as patched:
        patched.setattr(pipeline_run, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
        assert main(["export", "onnx", "-m", str(folder), str(tmp_path / "o"), "--max-memory", "1M"]) == 2
    err = capsys.readouterr().err.strip()
    assert "pytorch_model.bin" in err and "only safetensors checkpoints are streamed" in err, err
    assert not (tmp_path / "o").exists()
    assert main(["export", "onnx", "-m", str(folder), str(tmp_path / "o"), "--max-memory", "4G"]) == 0
