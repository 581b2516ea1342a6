"""The measured tables agree with the walks that wrote them and with the registry that reads them.

``tools/text_walk.py`` exports a tiny model of every text model type of transformers' auto mappings
and writes the pairs that validated (``text_architectures.json``) and the others with why
(``tools/text_walk_failures.json``); ``tools/media_walk.py`` does the same for image, audio and image-text
types (``media_architectures.json``). The registry walk (``test_registry_walk.py``) exports every advertised
pair again; here: each table was made with this transformers, every pair its walk plans is accounted for,
and the registry advertises exactly what passed.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version
from typing import Any

import pytest
from modelexport_core import TasksManager
from modelexport_core.registry import normalize_model_type, registry

pytest.importorskip("text_walk")

if int(version("transformers").split(".")[0]) < 5:
    pytest.skip("the tables are measured with transformers 5", allow_module_level=True)

#: The walks, and how many model types each table holds at least.
WALKS = {"text_walk": 200, "media_walk": 50}


@dataclass(frozen=True)
class Measured:
    walk: Any
    table: dict[str, Any]
    failures: list[dict[str, Any]]

    @property
    def passed(self) -> set[tuple[str, str]]:
        return {
            (model_type, task)
            for model_type, row in self.table["types"].items()
            for task in [*row["tasks"], *(task for group in row.get("task_families", ()) for task in group["tasks"])]
        }

    @property
    def failed(self) -> set[tuple[str, str]]:
        return {(failure["model_type"], failure["task"]) for failure in self.failures}


@cache
def measured(name: str) -> Measured:
    walk = importlib.import_module(name)
    return Measured(
        walk,
        json.loads(walk.DOMAIN.table.read_text(encoding="utf-8")),
        json.loads(walk.DOMAIN.failures.read_text(encoding="utf-8")),
    )


@pytest.mark.parametrize("name", WALKS)
def test_the_table_was_measured_with_this_transformers(name: str) -> None:
    assert measured(name).table["transformers"] == version("transformers"), f"run `python tools/{name}.py` again"


@pytest.mark.parametrize("name", WALKS)
def test_every_planned_pair_passed_or_failed_with_a_reason(name: str) -> None:
    walk = measured(name)
    planned, _skipped = walk.walk.DOMAIN.planned_pairs(walk.walk.DOMAIN.model_types(), None)
    accounted = walk.passed | walk.failed
    assert not walk.passed & walk.failed
    missing = [pair for pair in planned if pair not in accounted]
    assert not missing, f"pairs the walk would export that neither file lists: {missing[:10]}"
    assert all(failure["reason"] for failure in walk.failures)


@pytest.mark.parametrize("name", WALKS)
def test_every_row_has_the_family_and_options_the_walk_gives_now(name: str) -> None:
    walk = measured(name)
    stale = [
        model_type
        for model_type, row in walk.table["types"].items()
        if (family := walk.walk.DOMAIN.family_of(model_type)) is None
        or (family.name, family.options) != (row["family"], row["options"])
    ]
    assert not stale, f"rows the walk would now write otherwise (run it with --types): {stale}"


@pytest.mark.parametrize("name", WALKS)
def test_the_registry_advertises_what_passed(name: str) -> None:
    walk = measured(name)
    TasksManager.get_supported_tasks_for_model_type("bert", "onnx")
    for model_type, task in sorted(walk.passed):
        entry = (registry.entries_for("onnx", model_type) or {}).get(task)
        assert entry is not None and entry.supports_framework("pt"), (model_type, task)
    assert len({normalize_model_type(t) for t in walk.table["types"]}) >= WALKS[name]
