"""The export-config registry through the TasksManager, with the onnx backend installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from modelexport_core import (
    BackendNotInstalledError,
    TasksManager,
    UnknownModelTypeError,
    UnknownTaskError,
    UnsupportedTaskError,
    register_exporter_config,
    registry,
)
from modelexport_core.registry import normalize_model_type

pytest.importorskip("modelexport_onnx", reason="the onnx backend is not installed in this environment")

ENCODER_TASKS = [
    "default",
    "masked-lm",
    "sequence-classification",
    "token-classification",
    "question-answering",
    "multiple-choice",
]
BERT_FAMILY = [
    "bert",
    "distilbert",
    "roberta",
    "xlm-roberta",
    "camembert",
    "albert",
    "electra",
    "deberta-v2",
    "mpnet",
    "mobilebert",
]


def test_distilbert_tasks_are_exactly_its_heads() -> None:
    tasks = TasksManager.get_supported_tasks_for_model_type("distilbert", "onnx")
    assert list(tasks) == ENCODER_TASKS
    assert "causal-lm" not in tasks  # transformers has no DistilBertForCausalLM


@pytest.mark.parametrize("model_type", BERT_FAMILY)
def test_bert_family_is_registered(model_type: str) -> None:
    assert list(TasksManager.get_supported_tasks_for_model_type(model_type, "onnx")) == ENCODER_TASKS


def test_model_type_spellings_are_one() -> None:
    assert (
        TasksManager.get_supported_tasks_for_model_type("xlm_roberta", "onnx").keys()
        == TasksManager.get_supported_tasks_for_model_type("xlm-roberta", "onnx").keys()
    )
    assert normalize_model_type("Deberta_V2") == "deberta-v2"


def test_constructor_builds_a_config_for_its_task() -> None:
    constructor = TasksManager.get_exporter_config_constructor("onnx", task="fill-mask", model_type="bert")
    config = constructor({"model_type": "bert", "vocab_size": 30, "type_vocab_size": 2})
    assert config.task == "masked-lm"
    assert list(config.inputs) == ["input_ids", "attention_mask", "token_type_ids"]
    assert config.outputs == {"logits": {0: "batch_size", 1: "sequence_length"}}


def test_short_argument_order_is_accepted() -> None:
    constructor = TasksManager.get_exporter_config_constructor("distilbert", "onnx", "text-classification")
    config = constructor({"model_type": "distilbert", "vocab_size": 30})
    assert config.task == "sequence-classification"
    assert list(config.inputs) == ["input_ids", "attention_mask"]


def test_constructor_from_a_loaded_model_object() -> None:
    class FakeModel:
        class config:
            model_type = "roberta"

    constructor = TasksManager.get_exporter_config_constructor("onnx", FakeModel(), task="default")
    assert constructor({"vocab_size": 10}).task == "default"


def test_unsupported_task_lists_supported_ones() -> None:
    with pytest.raises(UnsupportedTaskError) as info:
        TasksManager.get_exporter_config_constructor("onnx", task="causal-lm", model_type="distilbert")
    assert "'distilbert'" in str(info.value)
    assert "Supported tasks for it: default, masked-lm, sequence-classification" in str(info.value)


def test_unknown_model_type_lists_close_matches() -> None:
    with pytest.raises(UnknownModelTypeError, match=r"Did you mean 'distilbert'"):
        TasksManager.get_supported_tasks_for_model_type("distilbrt", "onnx")
    # hundreds of measured types: the error says how to list them rather than printing them all
    count = len(registry.model_types("onnx"))
    with pytest.raises(UnknownModelTypeError, match=rf"{count} model types are supported: `modelexport tasks"):
        TasksManager.get_supported_tasks_for_model_type("nothing-like-it", "onnx")


def test_unknown_task_in_constructor_lookup() -> None:
    with pytest.raises(UnknownTaskError, match="Did you mean"):
        TasksManager.get_exporter_config_constructor("onnx", task="fill-msk", model_type="bert")


def test_unknown_backend_names_the_package() -> None:
    with pytest.raises(BackendNotInstalledError, match="no plugin called 'tflite'.*modelexport.backends"):
        TasksManager.get_supported_tasks_for_model_type("bert", "tflite")


def test_model_types_for_task() -> None:
    fill_mask = TasksManager.get_supported_model_type_for_task("fill-mask", "onnx")
    assert fill_mask == sorted(fill_mask)
    assert set(BERT_FAMILY) <= set(fill_mask)
    assert "gpt2" not in fill_mask  # a decoder has no masked-LM head


def test_decorator_registers_a_one_off_architecture() -> None:
    @register_exporter_config("onnx", "my-arch", "default", "fill-mask")
    class MyConfig:
        def __init__(self, config: object, task: str = "default") -> None:
            self.task = task

    try:
        tasks = TasksManager.get_supported_tasks_for_model_type("my_arch", "onnx")
        assert list(tasks) == ["default", "masked-lm"]
        assert tasks["masked-lm"]({}).task == "masked-lm"
    finally:
        registry.unregister_model_type("onnx", "my-arch")


def test_framework_filter_uses_the_framework_table() -> None:
    from modelexport_core.plugins import framework_names

    if not framework_names():
        pytest.skip("no framework plugin installed")
    name = framework_names()[0]
    tasks = TasksManager.get_supported_tasks_for_model_type("bert", "onnx", framework=name)
    assert set(tasks) <= set(ENCODER_TASKS)
    assert "default" in tasks


def test_registry_answers_without_heavy_imports() -> None:
    """The seed example runs in a fresh process and imports no framework or runtime."""
    code = textwrap.dedent(
        """
        import sys
        from modelexport import TasksManager
        tasks = TasksManager.get_supported_tasks_for_model_type("distilbert", "onnx")
        assert list(tasks)[0] == "default", tasks
        heavy = [m for m in ("torch", "tensorflow", "transformers", "onnxruntime", "onnx", "numpy",
                             "huggingface_hub") if m in sys.modules]
        print(",".join(heavy))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
