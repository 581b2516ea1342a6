"""An export of a Hub id resolves the model once: the Hub's model-info endpoint is asked at most once."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import FakeHub
from onnx_pt.tiny import TinyPtModels

from modelexport.cli import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyPtModels:
    return TinyPtModels(tmp_path_factory.mktemp("tiny-pt-hub"))


def serve(fake_hub: FakeHub, repo_id: str, directory: Path) -> None:
    contents = {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}
    fake_hub.add_model(repo_id, pipeline_tag="fill-mask", contents=contents)


def model_info_requests(fake_hub: FakeHub, repo_id: str) -> list[str]:
    return [path for path in fake_hub.requests if path.startswith(f"/api/models/{repo_id}")]


def test_a_hub_export_asks_for_model_info_at_most_once(
    tiny: TinyPtModels, fake_hub: FakeHub, hf_cache: Path, tmp_path: Path
) -> None:
    serve(fake_hub, "org/tiny-bert", tiny.directory("bert", "masked-lm"))
    out = tmp_path / "onnx"
    assert main(["export", "onnx", "-m", "org/tiny-bert", str(out)]) == 0  # task inferred, framework detected
    assert (out / "model.onnx").is_file() and (out / "config.json").is_file()
    asked = model_info_requests(fake_hub, "org/tiny-bert")
    assert len(asked) <= 1, asked  # task inference and framework detection share one answer
    assert any(path.endswith("/config.json") for path in fake_hub.requests)


def test_the_count_sees_a_second_resolution(tiny: TinyPtModels, fake_hub: FakeHub, hf_cache: Path) -> None:
    """The check above can fail: resolving the same id twice asks twice."""
    from modelexport_core import TasksManager

    serve(fake_hub, "org/tiny-bert-2", tiny.directory("bert", "masked-lm"))
    TasksManager.infer_task_from_model("org/tiny-bert-2")
    TasksManager.determine_framework("org/tiny-bert-2")
    assert len(model_info_requests(fake_hub, "org/tiny-bert-2")) == 2
