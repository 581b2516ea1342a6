"""The measured text table agrees with the walk that wrote it and with the registry that reads it.

``tools/text_walk.py`` exports a tiny model of every text model type of transformers' auto mappings
and writes the pairs that validated (``text_architectures.json``) and the others with why
(``tools/text_walk_failures.json``). The registry walk (``test_registry_walk.py``) exports every
advertised pair again; here: the table was made with this transformers, every pair the walk plans is
accounted for, and the registry advertises exactly what passed.
"""

from __future__ import annotations

import json
from importlib.metadata import version

import pytest
from modelexport_core import TasksManager
from modelexport_core.registry import normalize_model_type, registry

text_walk = pytest.importorskip("text_walk")

if int(version("transformers").split(".")[0]) < 5:
    pytest.skip("the table is measured with transformers 5", allow_module_level=True)

TABLE = json.loads(text_walk.TABLE.read_text(encoding="utf-8"))
FAILURES = json.loads(text_walk.FAILURES.read_text(encoding="utf-8"))
PASSED = {
    (model_type, task)
    for model_type, row in TABLE["types"].items()
    for task in [*row["tasks"], *(task for group in row.get("task_families", ()) for task in group["tasks"])]
}
FAILED = {(failure["model_type"], failure["task"]) for failure in FAILURES}


def test_the_table_was_measured_with_this_transformers() -> None:
    assert TABLE["transformers"] == version("transformers"), "run `python tools/text_walk.py` again"


def test_every_planned_pair_passed_or_failed_with_a_reason() -> None:
    planned, _skipped = text_walk.planned_pairs(text_walk.text_model_types())
    accounted = PASSED | FAILED
    assert not PASSED & FAILED
    missing = [pair for pair in planned if pair not in accounted]
    assert not missing, f"pairs the walk would export that neither file lists: {missing[:10]}"
    assert all(failure["reason"] for failure in FAILURES)


def test_every_row_has_the_family_and_options_the_walk_gives_now() -> None:
    stale = [
        model_type
        for model_type, row in TABLE["types"].items()
        if (family := text_walk.family_of(model_type)) is None
        or (family.name, family.options) != (row["family"], row["options"])
    ]
    assert not stale, f"rows the walk would now write otherwise (run it with --types): {stale}"


def test_the_registry_advertises_what_passed() -> None:
    TasksManager.get_supported_tasks_for_model_type("bert", "onnx")
    for model_type, task in sorted(PASSED):
        entry = (registry.entries_for("onnx", model_type) or {}).get(task)
        assert entry is not None and entry.supports_framework("pt"), (model_type, task)
    assert len({normalize_model_type(t) for t in TABLE["types"]}) >= 200
