"""Every (model type, task) pair the ONNX registry advertises for TensorFlow exports with tf2onnx and validates.

Each export runs for real; its onnxruntime outputs are compared with TensorFlow's own on inputs of
another batch size and sequence length. Input, output and dimension names are the PyTorch export's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import assert_onnx_names
from modelexport_core import TasksManager
from modelexport_core.registry import registry
from modelexport_onnx.export import export_components, resolve_options, validate_components
from onnx_tf.tiny import TinyTfModels

TasksManager.get_supported_tasks_for_model_type("bert", "onnx")
ALL_PAIRS = sorted((e.model_type, e.task) for e in registry.all_entries("onnx") if e.supports_framework("tf"))


def _config_class(model_type: str, task: str) -> str:
    constructor = registry.entries_for("onnx", model_type)[task].constructor
    return str(constructor.architecture.for_task(task).config_class.__name__)


#: The ``tf`` session walks one model type per config class and task, and a second for each where the table has
#: one (two architectures of a family: a family-wide fault and one type's own both show); the ``pt_tf`` session,
#: with the same transformers and TensorFlow, one. The whole table is measured by ``tools/text_walk_tf.py`` and
#: walked in full with ``MODELEXPORT_FULL_WALK=1`` (CI's matrix keeps one full walk: PyTorch's, in ``pt``).
def _sample(per_family: int) -> list[tuple[str, str]]:
    chosen: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for pair in ALL_PAIRS:
        family = chosen.setdefault((_config_class(*pair), pair[1]), [])
        if len(family) < per_family:
            family.append(pair)
    return sorted(pair for pairs in chosen.values() for pair in pairs)


if os.environ.get("MODELEXPORT_FULL_WALK") == "1":
    PAIRS = ALL_PAIRS
elif os.environ.get("MODELEXPORT_EXPECT_FRAMEWORKS") == "pt,tf":
    PAIRS = _sample(1)
else:
    PAIRS = _sample(2)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyTfModels:
    return TinyTfModels(tmp_path_factory.mktemp("tiny-tf"))


def test_the_walk_covers_what_the_issue_asks() -> None:
    model_types = {model_type for model_type, _ in ALL_PAIRS}
    text = {"bert", "distilbert", "roberta", "xlm-roberta", "albert", "electra", "deberta-v2", "mpnet", "mobilebert"}
    assert text <= model_types
    assert {"gpt2", "gptj", "opt"} <= model_types
    assert {"t5", "bart", "marian"} <= model_types
    assert {"segformer", "vit", "convnext", "resnet"} <= model_types
    assert {task for _, task in PAIRS} == {task for _, task in ALL_PAIRS}
    tasks = {task for _, task in ALL_PAIRS}
    assert tasks >= {
        "default",
        "causal-lm",
        "causal-lm-with-past",
        "masked-lm",
        "question-answering",
        "seq2seq-lm",
        "seq2seq-lm-with-past",
        "sequence-classification",
        "token-classification",
        "multiple-choice",
        "semantic-segmentation",
        "image-classification",
    }


def test_every_tf_pair_has_a_tensorflow_class() -> None:
    """The registry never advertises a TensorFlow export transformers cannot build."""
    for model_type, task in ALL_PAIRS:
        assert task in TasksManager.get_supported_tasks_for_model_type(model_type, "onnx", framework="tf")


@pytest.mark.parametrize(("model_type", "task"), PAIRS)
def test_tf_export_validates(tiny: TinyTfModels, model_type: str, task: str, tmp_path: Path) -> None:
    model = tiny.model(model_type, task)
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)(model.config)
    options = resolve_options(config, framework="tf")
    assert options.converter == "tf2onnx"
    export_components(model, config, tmp_path, options, "tf", tmp_path / ".work")
    assert_onnx_names(tmp_path, config)
    shapes = options.validation_shapes
    report = validate_components(model, config, tmp_path, "tf", shapes, config.atol)
    assert report.passed, report.table()
    assert report.shapes["batch_size"] != 2
    if config.uses_past and len(config.components()) == 1:  # the first generation step: an empty cache
        empty = validate_components(
            model, config, tmp_path, "tf", shapes.with_sizes(past_sequence_length=0), config.atol
        )
        assert empty.passed, empty.table()
