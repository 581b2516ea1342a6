"""The task taxonomy: canonical names, synonyms, did-you-mean."""

from __future__ import annotations

import pytest
from modelexport_core import TasksManager, UnknownTaskError
from modelexport_core.tasks import base_task, task_modality, uses_past

TABLE = {
    "default": ["feature-extraction"],
    "causal-lm": ["text-generation"],
    "masked-lm": ["fill-mask"],
    "seq2seq-lm": ["text2text-generation"],
    "sequence-classification": ["text-classification"],
    "token-classification": [],
    "question-answering": [],
    "multiple-choice": [],
    "image-classification": [],
    "object-detection": [],
    "image-segmentation": [],
    "masked-im": [],
    "semantic-segmentation": [],
    "speech2seq-lm": ["automatic-speech-recognition"],
}
WITH_PAST = ["default", "causal-lm", "seq2seq-lm", "speech2seq-lm"]


def test_every_row_of_the_task_table_is_canonical() -> None:
    tasks = TasksManager.get_all_tasks()
    expected = set(TABLE) | {f"{t}-with-past" for t in WITH_PAST}
    assert set(tasks) == expected
    assert len(tasks) == len(expected)


@pytest.mark.parametrize(("task", "synonyms"), sorted(TABLE.items()))
def test_synonyms_map_to_canonical(task: str, synonyms: list[str]) -> None:
    assert TasksManager.map_from_synonym(task) == task
    for synonym in synonyms:
        assert TasksManager.map_from_synonym(synonym) == task
        assert TasksManager.synonyms_for_task(synonym) == {task, *synonyms}
    assert TasksManager.synonyms_for_task(task) == {task, *synonyms}


@pytest.mark.parametrize("task", WITH_PAST)
def test_with_past_synonyms(task: str) -> None:
    for synonym in TABLE[task]:
        assert TasksManager.map_from_synonym(f"{synonym}-with-past") == f"{task}-with-past"
    assert uses_past(f"{task}-with-past")
    assert base_task(f"{task}-with-past") == task
    assert not uses_past(task)


def test_names_are_normalized() -> None:
    assert TasksManager.map_from_synonym(" Fill_Mask ") == "masked-lm"


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("fill-mas", "fill-mask"), ("sequence-clasification", "sequence-classification"), ("causal_lmm", "causal-lm")],
)
def test_unknown_task_suggests_close_names(typo: str, suggestion: str) -> None:
    with pytest.raises(UnknownTaskError) as info:
        TasksManager.map_from_synonym(typo)
    message = str(info.value)
    assert f"Unknown task {typo!r}" in message
    assert f"Did you mean '{suggestion}'" in message
    assert isinstance(info.value, KeyError)  # code catching optimum's KeyError keeps working


def test_unknown_task_without_close_match_lists_tasks() -> None:
    with pytest.raises(UnknownTaskError, match="Known tasks: default, default-with-past"):
        TasksManager.map_from_synonym("zzzz")


def test_non_string_task_is_refused() -> None:
    with pytest.raises(UnknownTaskError, match="must be a string"):
        TasksManager.map_from_synonym(3)  # type: ignore[arg-type]


def test_modality() -> None:
    assert task_modality("fill-mask") == "text"
    assert task_modality("semantic-segmentation") == "vision"
    assert task_modality("automatic-speech-recognition-with-past") == "audio"
