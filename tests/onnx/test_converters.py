"""Converters are found per framework and imported only when used; a missing one says what to install."""

from __future__ import annotations

import importlib.util

import pytest
from modelexport_onnx.converters import converter_for
from modelexport_pipeline.errors import ExportError


def test_unknown_framework_has_no_converter() -> None:
    with pytest.raises(ExportError, match="no converter for framework 'jax'"):
        converter_for("jax")


@pytest.mark.parametrize(("framework", "modules"), [("tf", ("tensorflow", "tf2onnx")), ("pt", ("torch",))])
def test_missing_converter_dependencies_name_the_extra(framework: str, modules: tuple[str, ...]) -> None:
    if all(importlib.util.find_spec(m) is not None for m in modules):
        assert converter_for(framework).convert is not None
        return
    clone_install = rf"needs \w+, which is not installed\. From the root of a modelexport clone: .*\.\[{framework},"
    with pytest.raises(ExportError, match=clone_install):
        converter_for(framework)


def test_registry_says_which_frameworks_export_each_pair() -> None:
    from modelexport_core import TasksManager
    from modelexport_core.registry import registry

    TasksManager.get_supported_tasks_for_model_type("gpt2", "onnx")  # loads the backend

    def frameworks(model_type: str, task: str) -> set[str]:
        entry = registry.entries_for("onnx", model_type)[task]
        return {f for f in ("pt", "tf") if entry.supports_framework(f)}

    assert frameworks("gpt2", "causal-lm-with-past") == {"pt", "tf"}
    assert frameworks("vit", "image-classification") == {"pt", "tf"}
    assert frameworks("vit", "masked-im") == {"pt"}
    assert frameworks("llama", "causal-lm") == {"pt"}
    assert frameworks("mistral", "causal-lm") == {"pt", "tf"}
    assert frameworks("mistral", "causal-lm-with-past") == {"pt"}
