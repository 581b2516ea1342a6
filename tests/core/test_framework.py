"""determine_framework: argument, weight files, installed frameworks — with stand-in plugins."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import BERT_CONFIG, lay_out_hf_cache
from modelexport_core import FrameworkNotInstalledError, ModelNotFoundError, TasksManager
from modelexport_core import plugins as plugin_module
from modelexport_core.transformers_plugin import TransformersFramework


@dataclass
class Availability:
    installed: set[str] = field(default_factory=lambda: {"json"})


def make_plugin(name: str, priority: int, weights: tuple[str, ...], module: str) -> TransformersFramework:
    return TransformersFramework(
        name=name,
        display_name=name.upper() + "-framework",
        distribution=f"modelexport-{name}",
        priority=priority,
        weight_files=weights,
        required_modules=(module,),
        table={"default": "AutoModel"},
        loading="json",  # never imported: these tests load no model
    )


@pytest.fixture
def stand_ins(monkeypatch: pytest.MonkeyPatch):
    """Install two stand-in framework plugins; ``missing`` lists modules to pretend absent."""
    present = make_plugin("aa", 10, ("model.safetensors", "pytorch_model.bin"), "json")
    second = make_plugin("bb", 20, ("tf_model.h5",), "json")
    monkeypatch.setattr(plugin_module.plugins, "_frameworks", {"aa": present, "bb": second})

    def set_missing(*names: str) -> None:
        for plugin in (present, second):
            if plugin.name in names:
                object.__setattr__(plugin, "required_modules", ("surely_not_installed_module_xyz",))

    return set_missing


def test_explicit_framework_wins(stand_ins, model_dir) -> None:
    path = model_dir(BERT_CONFIG, files={"model.safetensors": b""})
    assert TasksManager.determine_framework(str(path), framework="bb") == "bb"


def test_weight_files_decide(stand_ins, model_dir) -> None:
    assert TasksManager.determine_framework(str(model_dir(BERT_CONFIG, files={"tf_model.h5": b""}))) == "bb"
    both = model_dir(BERT_CONFIG, files={"tf_model.h5": b"", "pytorch_model.bin": b""}, name="both")
    assert TasksManager.determine_framework(str(both)) == "aa"


def test_sharded_index_counts(stand_ins, model_dir) -> None:
    plugin_module.plugins._frameworks["bb"] = make_plugin("bb", 20, ("tf_model.h5", "tf_model.h5.index.json"), "json")
    path = model_dir(BERT_CONFIG, files={"tf_model.h5.index.json": "{}"})
    assert TasksManager.determine_framework(str(path)) == "bb"


def test_weights_of_a_missing_framework(stand_ins, model_dir) -> None:
    stand_ins("bb")
    path = model_dir(BERT_CONFIG, files={"tf_model.h5": b""})
    with pytest.raises(FrameworkNotInstalledError, match="BB-framework weights.*Install surely_not_installed"):
        TasksManager.determine_framework(str(path))


def test_both_weights_and_preferred_missing_uses_the_other(stand_ins, model_dir) -> None:
    stand_ins("aa")
    path = model_dir(BERT_CONFIG, files={"tf_model.h5": b"", "model.safetensors": b""})
    assert TasksManager.determine_framework(str(path)) == "bb"


def test_no_weights_takes_the_preferred_installed(stand_ins, model_dir) -> None:
    assert TasksManager.determine_framework(str(model_dir(BERT_CONFIG))) == "aa"
    stand_ins("aa")
    assert TasksManager.determine_framework(str(model_dir(BERT_CONFIG, name="other"))) == "bb"


def test_nothing_usable(stand_ins, model_dir) -> None:
    stand_ins("aa", "bb")
    with pytest.raises(FrameworkNotInstalledError, match="No framework can load"):
        TasksManager.determine_framework(str(model_dir(BERT_CONFIG)))


def test_framework_asked_for_but_not_installed(stand_ins, model_dir) -> None:
    path = model_dir(BERT_CONFIG)
    with pytest.raises(FrameworkNotInstalledError, match="Framework 'zz' is not installed.*no plugin called 'zz'"):
        TasksManager.determine_framework(str(path), framework="zz")
    stand_ins("bb")
    with pytest.raises(FrameworkNotInstalledError, match="needs surely_not_installed_module_xyz"):
        TasksManager.determine_framework(str(path), framework="bb")


def test_cached_hub_snapshot(stand_ins, model_dir, hf_cache: Path, offline) -> None:
    source = model_dir(BERT_CONFIG, files={"tf_model.h5": b"weights"})
    lay_out_hf_cache(hf_cache, "org/tf-only", source)
    assert TasksManager.determine_framework("org/tf-only") == "bb"


def test_hub_file_listing(stand_ins, fake_hub) -> None:
    fake_hub.add_model("org/pt-model", files=("config.json", "model.safetensors"))
    fake_hub.add_model("org/tf-model", files=("config.json", "tf_model.h5"))
    assert TasksManager.determine_framework("org/pt-model") == "aa"
    assert TasksManager.determine_framework("org/tf-model") == "bb"


def test_missing_path(stand_ins, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError):
        TasksManager.determine_framework(str(tmp_path / "missing"))


def test_model_objects_go_to_their_owner(stand_ins) -> None:
    class Plain:
        pass

    from modelexport_core import FrameworkNotDeterminedError

    with pytest.raises(FrameworkNotDeterminedError, match="Plain"):
        TasksManager.determine_framework(Plain())
