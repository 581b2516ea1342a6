"""ModelReference: a model resolved once, whose facts are each found once (the Hub's model info at most once)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from helpers import BERT_CONFIG, lay_out_hf_cache
from modelexport_core import (
    FrameworkNotInstalledError,
    HubUnavailableError,
    InvalidModelIdError,
    ModelNotFoundError,
    TasksManager,
)
from modelexport_core import framework as framework_module
from modelexport_core import inference as inference_module
from modelexport_core import model_source as model_source_module
from modelexport_core import tasks_manager as tasks_manager_module
from modelexport_core.framework import determine_framework
from modelexport_core.inference import infer_task
from modelexport_core.model_source import ModelReference
from modelexport_core.tasks import Task

API = "/api/models/"


def api_requests(hub: Any) -> list[str]:
    """The model-info requests the fake Hub answered (file downloads are not counted)."""
    return [r for r in hub.requests if r.startswith(API)]


@dataclass
class StandIn:
    """A framework plugin that owns ``model.safetensors`` and records what it is asked to load."""

    name: str = "aa"
    display_name: str = "AA-framework"
    distribution: str = "modelexport-aa"
    priority: int = 1
    weight_files: tuple[str, ...] = ("model.safetensors",)
    loads: list[tuple[type, str, dict[str, Any]]] = field(default_factory=list)

    def autoclass_table(self) -> Mapping[str, str]:
        return {"default": "AutoThing", "sequence-classification": "AutoThingForSequenceClassification"}

    def is_available(self) -> bool:
        return True

    def missing_requirements(self) -> list[str]:
        return []

    def resolve_class(self, names: str | tuple[str, ...]) -> type:
        return type(names if isinstance(names, str) else names[0], (), {})

    def load_model(self, model_class: type, model: str, **kwargs: Any) -> Any:
        self.loads.append((model_class, model, kwargs))
        return model_class()

    def owns_model(self, model: Any) -> bool:
        return False


@pytest.fixture
def stand_in(monkeypatch: pytest.MonkeyPatch) -> StandIn:
    """The only installed framework, whatever plugins this environment has."""
    plugin = StandIn()

    def get_framework(name: str, *, require_available: bool = True) -> Any:
        if name != plugin.name:
            raise FrameworkNotInstalledError(f"Framework {name!r} is not installed.")
        return plugin

    monkeypatch.setattr(framework_module, "framework_plugins", lambda: [plugin])
    monkeypatch.setattr(framework_module, "get_framework", get_framework)
    monkeypatch.setattr(tasks_manager_module, "get_framework", get_framework)
    return plugin


@pytest.fixture
def bert_on_hub(fake_hub: Any, hf_cache: Path) -> Any:
    """``org/bert`` on the fake Hub: a classifier with safetensors weights and a config to download."""
    fake_hub.add_model(
        "org/bert",
        pipeline_tag="text-classification",
        files=("config.json", "model.safetensors", "onnx/model.onnx"),
        contents={"config.json": json.dumps(BERT_CONFIG).encode()},
    )
    return fake_hub


def test_hub_model_info_is_asked_once(bert_on_hub: Any, stand_in: StandIn) -> None:
    reference = ModelReference.resolve("org/bert")
    assert bert_on_hub.requests == []  # resolving validates, it asks nothing
    assert infer_task(reference) == "sequence-classification"
    assert determine_framework(reference) == "aa"
    assert reference.files == ["config.json", "model.safetensors"]
    assert reference.config["architectures"] == ["BertForSequenceClassification"]
    assert reference.model_type == "bert"
    assert TasksManager.infer_task_from_model(reference) == "sequence-classification"
    assert TasksManager.determine_framework(reference) == "aa"
    assert TasksManager.get_model_config(reference) is reference.config
    assert api_requests(bert_on_hub) == ["/api/models/org/bert"]
    assert reference.hub_info is not None and reference.hub_info.pipeline_tag == "text-classification"


def test_the_string_functions_each_resolve_their_own_reference(bert_on_hub: Any, stand_in: StandIn) -> None:
    assert TasksManager.infer_task_from_model("org/bert") == "sequence-classification"
    assert TasksManager.determine_framework("org/bert") == "aa"
    assert api_requests(bert_on_hub) == ["/api/models/org/bert"] * 2  # one per call, no more


def test_loading_a_reference_resolves_nothing_again(
    bert_on_hub: Any, stand_in: StandIn, hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = ModelReference.resolve("org/bert", revision="main")
    assert infer_task(reference) == "sequence-classification"

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("resolved again")

    monkeypatch.setattr(model_source_module, "resolve_model", refuse)
    model = TasksManager.get_model_from_task("auto", reference)
    assert type(model).__name__ == "AutoThingForSequenceClassification"
    assert stand_in.loads[-1][1:] == (
        "org/bert",
        # the commit the Hub named for "main": the loader reads the files inference saw, and asks nothing
        {"subfolder": "", "revision": bert_on_hub.commit, "cache_dir": str(hf_cache), "trust_remote_code": False},
    )
    assert api_requests(bert_on_hub) == ["/api/models/org/bert/revision/main"]


def test_given_task_and_framework_nothing_is_inferred_or_detected(
    bert_on_hub: Any, stand_in: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("inferred or detected again")

    monkeypatch.setattr(inference_module, "infer_task", refuse)
    monkeypatch.setattr(framework_module, "framework_for_reference", refuse)
    reference = ModelReference.resolve("org/bert")
    TasksManager.get_model_from_task("text-classification", reference, framework="aa")
    assert stand_in.loads[-1][1] == "org/bert"
    assert bert_on_hub.requests == []


def test_local_directory_asks_nothing(fake_hub: Any, model_dir: Any, stand_in: StandIn) -> None:
    path = model_dir(BERT_CONFIG, files={"model.safetensors": b""})
    reference = ModelReference.resolve(str(path))
    assert infer_task(reference) == "sequence-classification"
    assert determine_framework(reference) == "aa"
    assert reference.model_type == "bert"
    assert reference.files == ["config.json", "model.safetensors"]
    assert reference.hub_info is None and reference.snapshot() is None
    assert reference.local_directory() == reference.require_local_directory() == path.resolve()
    TasksManager.get_model_from_task(None, reference)
    assert stand_in.loads[-1][1] == str(path.resolve())
    assert fake_hub.requests == []


def test_offline_asks_nothing(
    bert_on_hub: Any, hf_cache: Path, model_dir: Any, stand_in: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = lay_out_hf_cache(hf_cache, "org/bert", model_dir(BERT_CONFIG, files={"model.safetensors": b"w"}))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reference = ModelReference.resolve("org/bert", revision="main")
    assert reference.hub_info is None
    assert infer_task(reference) == "sequence-classification"
    assert determine_framework(reference) == "aa"
    assert reference.files == ["config.json", "model.safetensors"]
    assert reference.model_type == "bert"
    assert reference.snapshot() == reference.local_directory() == snapshot
    TasksManager.get_model_from_task(None, reference)
    assert stand_in.loads[-1][1] == str(snapshot)
    assert stand_in.loads[-1][2]["revision"] is None  # the snapshot folder is loaded as it is
    assert bert_on_hub.requests == []


def test_unreachable_hub_falls_back_to_the_cache(hf_cache: Path, model_dir: Any, stand_in: StandIn) -> None:
    # HF_ENDPOINT points at a closed local port: the Hub cannot be reached.
    lay_out_hf_cache(hf_cache, "org/cached", model_dir(BERT_CONFIG, files={"model.safetensors": b"w"}))
    reference = ModelReference.resolve("org/cached")
    assert reference.hub_info is None
    assert infer_task(reference) == "sequence-classification"
    assert determine_framework(reference) == "aa"


@pytest.mark.parametrize(
    ("model", "subfolder", "error"),
    [
        ("./not-here", "", ModelNotFoundError),
        ("org/../secret", "", InvalidModelIdError),
        ("", "", InvalidModelIdError),
        ("org/fine", "../..", ModelNotFoundError),
    ],
)
def test_bad_input_is_refused_before_any_request(fake_hub: Any, model: str, subfolder: str, error: type) -> None:
    with pytest.raises(error):
        ModelReference.resolve(model, subfolder)
    assert fake_hub.requests == []


def test_missing_repository_still_raises(fake_hub: Any) -> None:
    reference = ModelReference.resolve("org/missing")
    with pytest.raises(ModelNotFoundError, match="no accessible repository"):
        reference.hub_info  # noqa: B018
    with pytest.raises(ModelNotFoundError, match="no accessible repository"):
        infer_task(reference)
    with pytest.raises(ModelNotFoundError, match="no accessible repository"):
        reference.files  # noqa: B018


def test_hub_files_of_a_subfolder(fake_hub: Any) -> None:
    files = ("config.json", "encoder/config.json", "encoder/model.safetensors", "encoder/deeper/x.bin")
    fake_hub.add_model("org/parts", files=files)
    assert ModelReference.resolve("org/parts", subfolder="encoder").files == ["config.json", "model.safetensors"]


def test_a_missing_snapshot_is_looked_for_again(hf_cache: Path, model_dir: Any, offline: None) -> None:
    reference = ModelReference.resolve("org/later", subfolder="encoder")
    assert reference.snapshot() is None and reference.local_directory() is None
    with pytest.raises(HubUnavailableError, match="HF_HUB_OFFLINE is set.*hf download org/later"):
        reference.require_local_directory()
    source = model_dir(None)
    model_dir(BERT_CONFIG, name="model/encoder")
    snapshot = lay_out_hf_cache(hf_cache, "org/later", source)  # as a model load would have
    assert reference.snapshot() == reference.require_snapshot() == snapshot / "encoder"
    assert reference.snapshot(within_subfolder=False) == snapshot
    assert reference.config["model_type"] == "bert"


def test_a_reference_is_not_resolved_again(model_dir: Any) -> None:
    path = model_dir(BERT_CONFIG)
    reference = ModelReference.resolve(str(path), revision="v1")
    assert ModelReference.resolve(reference) is reference
    assert ModelReference.resolve(reference, "", "v1") is reference
    with pytest.raises(ValueError, match="revision='v2'"):
        TasksManager.infer_task_from_model(reference, revision="v2")
    with pytest.raises(ValueError, match="subfolder='encoder'"):
        ModelReference.resolve(reference, subfolder="encoder")


def test_inferred_tasks_are_task_values(model_dir: Any) -> None:
    task = TasksManager.infer_task_from_model(str(model_dir(BERT_CONFIG)))
    assert isinstance(task, Task) and task == "sequence-classification"
    assert Task.of(task) is task
