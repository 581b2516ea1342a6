"""Resolving what the user typed, and every bad input around it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import BERT_CONFIG
from modelexport_core import (
    InvalidModelConfigError,
    InvalidModelIdError,
    ModelNotFoundError,
    TasksManager,
)
from modelexport_core.model_source import ModelReference, resolve_model


def test_local_directory_resolves(model_dir) -> None:
    path = model_dir(BERT_CONFIG)
    source = resolve_model(str(path))
    assert source.is_local and source.local_dir == path.resolve()
    assert ModelReference.resolve(path).config["model_type"] == "bert"


@pytest.mark.parametrize("hub_id", ["bert-base-uncased", "google/bert_uncased_L-2_H-128_A-2", "org/model.v1"])
def test_valid_hub_ids(hub_id: str) -> None:
    assert resolve_model(hub_id).hub_id == hub_id


def test_missing_path_is_reported(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        TasksManager.infer_task_from_model(str(missing))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model("./not-here")


def test_file_instead_of_directory(tmp_path: Path) -> None:
    file = tmp_path / "config.json"
    file.write_text("{}")
    with pytest.raises(ModelNotFoundError, match="is a file"):
        resolve_model(str(file))


def test_directory_without_config(model_dir) -> None:
    with pytest.raises(InvalidModelConfigError, match="has no config.json"):
        TasksManager.infer_task_from_model(str(model_dir(None)))


def test_config_that_is_not_json(model_dir) -> None:
    with pytest.raises(InvalidModelConfigError, match="is not valid JSON"):
        TasksManager.infer_task_from_model(str(model_dir("{not json")))


@pytest.mark.parametrize("config", ['{"architectures": ["BertModel"]}', '{"model_type": 3}', "[1, 2]"])
def test_config_without_model_type(model_dir, config: str) -> None:
    with pytest.raises(InvalidModelConfigError, match="model_type|JSON object"):
        ModelReference.resolve(model_dir(config)).config  # noqa: B018


@pytest.mark.parametrize(
    "bad_id",
    [
        "../../nowhere-xyz/passwd",
        "org/../secret",
        "/nowhere-xyz/passwd",
        "org\\model",
        "org--model",
        "a/b/c",
        "~root/x",
        "",
        "-bad",
    ],
)
def test_path_tricks_where_a_hub_id_is_expected(bad_id: str) -> None:
    with pytest.raises((InvalidModelIdError, ModelNotFoundError)) as info:
        TasksManager.infer_task_from_model(bad_id)
    message = str(info.value)
    assert "does not exist" in message or "valid Hugging Face Hub model id" in message or "empty string" in message


def test_dotdot_in_hub_id_is_a_typed_id_error() -> None:
    with pytest.raises(InvalidModelIdError, match="valid Hugging Face Hub model id"):
        resolve_model("org/..hidden")


def test_subfolder_cannot_escape(model_dir) -> None:
    with pytest.raises(ModelNotFoundError, match="relative path inside the model"):
        resolve_model(str(model_dir(BERT_CONFIG)), subfolder="../..")


def test_subfolder_is_read(model_dir, tmp_path: Path) -> None:
    root = model_dir(None)
    (root / "encoder").mkdir()
    (root / "encoder" / "config.json").write_text('{"model_type": "bert", "architectures": ["BertForMaskedLM"]}')
    assert TasksManager.infer_task_from_model(str(root), subfolder="encoder") == "masked-lm"
