"""The task taxonomy: canonical names, synonyms, did-you-mean."""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from modelexport_core import TasksManager, UnknownTaskError, UnsupportedTaskError
from modelexport_core import tasks as tasks_module
from modelexport_core.tasks import Task, base_task, map_from_synonym, task_modality, uses_past

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
    "audio-ctc": [],
    "audio-classification": [],
    "audio-frame-classification": [],
    "audio-xvector": [],
    "zero-shot-image-classification": [],
    "zero-shot-object-detection": [],
    "vision2seq-lm": ["image-to-text"],
    "depth-estimation": [],
    "image-to-image": [],
    "keypoint-detection": ["pose-estimation"],
    "mask-generation": [],
    "text-to-audio": ["text-to-speech"],
    "time-series-forecasting": [],
}
WITH_PAST = ["default", "causal-lm", "seq2seq-lm", "speech2seq-lm", "vision2seq-lm", "text-to-audio"]


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


# --- the Task value ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("fill-mask", "masked-lm"), (" Text_Generation-With_Past ", "causal-lm-with-past"), ("default", "default")],
)
def test_task_of_canonicalises(name: str, canonical: str) -> None:
    task = Task.of(name)
    assert isinstance(task, Task) and isinstance(task, str)
    assert task == canonical and hash(task) == hash(canonical)
    assert {canonical: 1}[task] == 1 and {task: 1}[canonical] == 1
    assert json.dumps({task: task}) == json.dumps({canonical: canonical})
    assert repr(task) == repr(canonical) and f"{task}" == canonical


def test_a_task_is_not_parsed_again(monkeypatch: pytest.MonkeyPatch) -> None:
    task = Task.of("fill-mask")
    monkeypatch.setattr(tasks_module, "_CANONICAL", {})  # any re-parse would now fail
    monkeypatch.setattr(tasks_module, "_SYNONYM_TO_TASK", {})
    assert Task.of(task) is task
    assert TasksManager.map_from_synonym(task) is task
    assert map_from_synonym(task) is task


def test_tasks_are_made_only_by_of() -> None:
    with pytest.raises(TypeError, match=r"Task\.of"):
        Task("masked-lm")
    task = Task.of("causal-lm-with-past")
    assert copy.copy(task) is task and copy.deepcopy(task) is task
    assert pickle.loads(pickle.dumps(task)) is task


def test_task_of_refuses_what_map_from_synonym_refuses() -> None:
    with pytest.raises(UnknownTaskError, match="Did you mean 'fill-mask'"):
        Task.of("fill-mas")
    with pytest.raises(UnknownTaskError, match="must be a string"):
        Task.of(3)  # type: ignore[arg-type]
    with pytest.raises(UnknownTaskError, match="Unknown task 'masked-lm-with-past'"):
        Task.of("masked-lm-with-past")


@pytest.mark.parametrize("base", WITH_PAST)
def test_task_past_variants(base: str) -> None:
    task = Task.of(base)
    assert not task.uses_past and task.base is task
    assert task.with_past == f"{base}-with-past" and task.with_past.uses_past
    assert task.with_past.base is task and task.with_past.with_past is task.with_past
    assert isinstance(task.with_past, Task) and isinstance(task.with_past.base, Task)


def test_task_without_a_past_variant() -> None:
    with pytest.raises(UnsupportedTaskError, match="'masked-lm' has no -with-past variant: only default, causal-lm"):
        Task.of("fill-mask").with_past  # noqa: B018


def test_task_modality_and_canonical_values() -> None:
    assert Task.of("automatic-speech-recognition-with-past").modality == "audio"
    assert Task.of("object-detection").modality == "vision"
    assert all(isinstance(t, Task) for t in TasksManager.get_all_tasks())
    assert isinstance(TasksManager.map_from_synonym("fill-mask"), Task)
    assert isinstance(base_task("text-generation-with-past"), Task)


def test_the_model_type_decides_what_speech_recognition_means() -> None:
    """``automatic-speech-recognition`` is an encoder-decoder's task for Whisper and CTC for wav2vec2."""
    from modelexport_core.tasks import task_for_model_type

    whisper = ["speech2seq-lm", "speech2seq-lm-with-past", "audio-classification"]
    wav2vec2 = ["default", "audio-ctc", "audio-classification"]
    assert task_for_model_type("automatic-speech-recognition", whisper) == "speech2seq-lm"
    assert task_for_model_type("automatic-speech-recognition-with-past", whisper) == "speech2seq-lm-with-past"
    assert task_for_model_type("automatic-speech-recognition", wav2vec2) == "audio-ctc"
    # CTC has no cache: the with-past name keeps its synonym's meaning, which the registry then refuses
    assert task_for_model_type("automatic-speech-recognition-with-past", wav2vec2) == "speech2seq-lm-with-past"
    assert task_for_model_type("automatic-speech-recognition", []) == "speech2seq-lm"
    assert task_for_model_type("fill-mask", wav2vec2) == "masked-lm"  # other names mean one task
    assert Task.of("audio-ctc").modality == "audio"
    assert Task.of("zero-shot-image-classification").modality == "multimodal"
    assert Task.of("time-series-forecasting").modality == "time-series"
