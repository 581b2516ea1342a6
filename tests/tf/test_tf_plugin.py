"""The TensorFlow plugin: every TF row gives a real class, tf_model.h5 checkpoints load and run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import transformers
from helpers import lay_out_hf_cache
from modelexport_core import TasksManager
from tiny_models import TASK_EXAMPLES, build_tf_model, save_tf_model, tiny_config

TF_TASKS = [
    "default",
    "causal-lm",
    "masked-lm",
    "seq2seq-lm",
    "sequence-classification",
    "token-classification",
    "question-answering",
    "multiple-choice",
    "semantic-segmentation",
    "image-classification",
    "audio-classification",
    "zero-shot-image-classification",
]


@pytest.fixture(scope="session")
def saved_tf_models(tmp_path_factory: pytest.TempPathFactory):
    cache: dict[str, Path] = {}

    def get(task: str) -> Path:
        if task not in cache:
            name, _ = TASK_EXAMPLES[task]
            cls = TasksManager.get_model_class_for_task(task, "tf")
            cache[task] = save_tf_model(cls, name, tmp_path_factory.mktemp(f"tf-{task}"))
        return cache[task]

    return get


def test_tf_table_is_the_documented_one() -> None:
    from modelexport_core.plugins import get_framework

    assert sorted(get_framework("tf").autoclass_table()) == sorted(TF_TASKS)


@pytest.mark.parametrize("task", TF_TASKS)
def test_every_tf_row_gives_the_real_class(task: str) -> None:
    name, expected_head = TASK_EXAMPLES[task]
    cls = TasksManager.get_model_class_for_task(task, "tf")
    assert cls is getattr(transformers, TasksManager.get_autoclass_name(task, "tf"))
    assert type(cls.from_config(tiny_config(name))).__name__ == "TF" + expected_head


@pytest.mark.parametrize("task", ["masked-lm", "causal-lm", "seq2seq-lm", "image-classification"])
def test_tf_checkpoint_is_detected_and_loaded(saved_tf_models, task: str) -> None:
    path = saved_tf_models(task)
    assert (path / "tf_model.h5").exists()
    assert TasksManager.determine_framework(str(path)) == "tf"
    model = TasksManager.get_model_from_task(task, str(path))
    name, head = TASK_EXAMPLES[task]
    assert type(model).__name__ == "TF" + head
    reference = build_tf_model(type(model), name)

    def by_name(m):  # weight names carry an instance prefix (``tf_bert_for_masked_lm_2/``): drop it
        return {w.name.split("/", 1)[-1]: w.numpy() for w in m.weights}

    loaded, expected = by_name(model), by_name(reference)
    assert loaded.keys() == expected.keys()
    for key, value in expected.items():
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


def test_framework_argument_forces_tf(saved_tf_models) -> None:
    assert TasksManager.determine_framework(str(saved_tf_models("masked-lm")), framework="tf") == "tf"


def test_load_from_the_offline_cache(saved_tf_models, hf_cache: Path, offline) -> None:
    lay_out_hf_cache(hf_cache, "org/tiny-tf-bert", saved_tf_models("sequence-classification"))
    assert TasksManager.determine_framework("org/tiny-tf-bert") == "tf"
    model = TasksManager.get_model_from_task("text-classification", "org/tiny-tf-bert")
    assert type(model).__name__ == "TFBertForSequenceClassification"


def test_tf_models_are_recognized() -> None:
    model = build_tf_model(transformers.TFAutoModelForTokenClassification, "bert")
    assert TasksManager.determine_framework(model) == "tf"
    assert TasksManager.infer_task_from_model(model) == "token-classification"
