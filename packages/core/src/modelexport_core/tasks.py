"""The task taxonomy: canonical task names, their synonyms and past-key-values variants.

Canonical names are the legacy exporter names (``default``, ``masked-lm``, ``causal-lm``...);
the modern pipeline names are synonyms accepted by every function that takes a task. A task
ending in ``-with-past`` is its base task exported with a key/value cache.
"""

from __future__ import annotations

from types import MappingProxyType

from .errors import UnknownTaskError, did_you_mean

WITH_PAST_SUFFIX = "-with-past"

#: Canonical tasks, in the order of the task table, each with its modality.
_BASE_TASKS: dict[str, str] = {
    "default": "text",
    "causal-lm": "text",
    "masked-lm": "text",
    "seq2seq-lm": "text",
    "sequence-classification": "text",
    "token-classification": "text",
    "question-answering": "text",
    "multiple-choice": "text",
    "image-classification": "vision",
    "object-detection": "vision",
    "image-segmentation": "vision",
    "masked-im": "vision",
    "semantic-segmentation": "vision",
    "speech2seq-lm": "audio",
}

#: Base tasks that also exist with a key/value cache.
_TASKS_WITH_PAST: frozenset[str] = frozenset({"default", "causal-lm", "seq2seq-lm", "speech2seq-lm"})

#: Modern (pipeline) name -> canonical base task.
_BASE_SYNONYMS: dict[str, str] = {
    "feature-extraction": "default",
    "text-generation": "causal-lm",
    "fill-mask": "masked-lm",
    "text2text-generation": "seq2seq-lm",
    "text-classification": "sequence-classification",
    "automatic-speech-recognition": "speech2seq-lm",
}

#: Hub ``pipeline_tag`` values that are not synonyms but still name one of our tasks.
PIPELINE_TAG_TO_TASK: MappingProxyType[str, str] = MappingProxyType(
    {
        **_BASE_SYNONYMS,
        "sentence-similarity": "default",
        "summarization": "seq2seq-lm",
        "translation": "seq2seq-lm",
        "token-classification": "token-classification",
        "question-answering": "question-answering",
        "multiple-choice": "multiple-choice",
        "image-classification": "image-classification",
        "object-detection": "object-detection",
        "image-segmentation": "image-segmentation",
        "zero-shot-classification": "sequence-classification",
    }
)


def _build_tables() -> tuple[tuple[str, ...], dict[str, str]]:
    canonical: list[str] = []
    synonyms: dict[str, str] = {}
    for task in _BASE_TASKS:
        canonical.append(task)
        if task in _TASKS_WITH_PAST:
            canonical.append(task + WITH_PAST_SUFFIX)
    for synonym, task in _BASE_SYNONYMS.items():
        synonyms[synonym] = task
        if task in _TASKS_WITH_PAST:
            synonyms[synonym + WITH_PAST_SUFFIX] = task + WITH_PAST_SUFFIX
    return tuple(canonical), synonyms


CANONICAL_TASKS, _SYNONYM_TO_TASK = _build_tables()
_CANONICAL_SET = frozenset(CANONICAL_TASKS)


def get_all_tasks() -> list[str]:
    """Every canonical task name, in task-table order."""
    return list(CANONICAL_TASKS)


def all_task_names() -> list[str]:
    """Every accepted name: canonical tasks and their synonyms."""
    return list(CANONICAL_TASKS) + list(_SYNONYM_TO_TASK)


def map_from_synonym(task: str) -> str:
    """Return the canonical name of ``task`` (itself if already canonical).

    Raises :class:`UnknownTaskError` with close matches for a name that is neither.
    """
    if not isinstance(task, str):
        raise UnknownTaskError(f"A task name must be a string, got {type(task).__name__}.")
    name = task.strip().lower().replace("_", "-")
    if name in _CANONICAL_SET:
        return name
    if name in _SYNONYM_TO_TASK:
        return _SYNONYM_TO_TASK[name]
    raise UnknownTaskError(
        f"Unknown task {task!r}.{did_you_mean(name, all_task_names())} "
        f"Known tasks: {', '.join(CANONICAL_TASKS)} (run `modelexport tasks` for synonyms)."
    )


def synonyms_for_task(task: str) -> set[str]:
    """Every name that means ``task``: its canonical name and all of its synonyms."""
    canonical = map_from_synonym(task)
    names = {canonical}
    names.update(s for s, t in _SYNONYM_TO_TASK.items() if t == canonical)
    return names


def synonyms_only(task: str) -> list[str]:
    """The synonyms of a canonical task, without the task itself, sorted."""
    canonical = map_from_synonym(task)
    return sorted(s for s, t in _SYNONYM_TO_TASK.items() if t == canonical)


def base_task(task: str) -> str:
    """The canonical task without its ``-with-past`` suffix."""
    canonical = map_from_synonym(task)
    return canonical.removesuffix(WITH_PAST_SUFFIX)


def uses_past(task: str) -> bool:
    """Whether ``task`` is a key/value-cache variant."""
    return map_from_synonym(task).endswith(WITH_PAST_SUFFIX)


def task_modality(task: str) -> str:
    """``text``, ``vision`` or ``audio``: what kind of input the task's models take."""
    return _BASE_TASKS[base_task(task)]
