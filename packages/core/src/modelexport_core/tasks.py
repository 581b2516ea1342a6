"""The task taxonomy: canonical task names, their synonyms and past-key-values variants.

Canonical names are the legacy exporter names (``default``, ``masked-lm``, ``causal-lm``...);
the modern pipeline names are synonyms accepted by every function that takes a task. A task
ending in ``-with-past`` is its base task exported with a key/value cache.

A name is canonicalised once, where it enters, into a :class:`Task`: a ``str`` equal to the
canonical name, so code that holds one never parses it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import MappingProxyType
from typing import Any, final

from .errors import UnknownTaskError, UnsupportedTaskError, did_you_mean

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
    "audio-ctc": "audio",
    "audio-classification": "audio",
    "audio-frame-classification": "audio",
    "audio-xvector": "audio",
    "zero-shot-image-classification": "multimodal",
    "zero-shot-object-detection": "multimodal",
    "vision2seq-lm": "vision",
    "depth-estimation": "vision",
    "image-to-image": "vision",
    "keypoint-detection": "vision",
    "mask-generation": "vision",
    "text-to-audio": "text",
    "time-series-forecasting": "time-series",
    # offline reinforcement learning (Decision Transformer): states, actions and returns in, predictions out
    "reinforcement-learning": "reinforcement-learning",
}

#: Base tasks that also exist with a key/value cache. ``text-to-audio``: a decoder of audio codes (MusicGen) or of
#: spectrogram frames (SpeechT5) generates step by step, like a language model its tokens.
_TASKS_WITH_PAST: frozenset[str] = frozenset(
    {"default", "causal-lm", "seq2seq-lm", "speech2seq-lm", "vision2seq-lm", "text-to-audio"}
)

#: Modern (pipeline) name -> canonical base task.
_BASE_SYNONYMS: dict[str, str] = {
    "feature-extraction": "default",
    "text-generation": "causal-lm",
    "fill-mask": "masked-lm",
    "text2text-generation": "seq2seq-lm",
    "text-classification": "sequence-classification",
    "automatic-speech-recognition": "speech2seq-lm",
    "image-to-text": "vision2seq-lm",
    "text-to-speech": "text-to-audio",
    "pose-estimation": "keypoint-detection",
}

#: Names whose task the model type decides: the first task is the synonym's, the others are what a model type
#: that registers none of the earlier ones means by the name (``automatic-speech-recognition`` of a CTC model).
MODEL_TYPE_DECIDES: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {"automatic-speech-recognition": ("speech2seq-lm", "audio-ctc")}
)


@final
class Task(str):
    """A canonical task name, made only by :meth:`Task.of`.

    It is a ``str`` (equal to, hashing like and serialising as the canonical name), so it works
    as a dict key and in JSON; being a ``Task`` proves it was checked, so nothing parses it again.
    """

    __slots__ = ()

    def __new__(cls, *args: object, **kwargs: object) -> Task:
        raise TypeError("A Task is made by Task.of(name), which checks and canonicalises the name.")

    @classmethod
    def of(cls, name: str) -> Task:
        """The canonical task of ``name`` (canonical name or synonym, any case, ``_`` for ``-``).

        A ``Task`` is returned unchanged. Raises :class:`UnknownTaskError` with close matches
        for a name that is neither a task nor a synonym.
        """
        if isinstance(name, Task):
            return name
        if not isinstance(name, str):
            raise UnknownTaskError(f"A task name must be a string, got {type(name).__name__}.")
        key = name.strip().lower().replace("_", "-")
        task = _CANONICAL.get(key) or _SYNONYM_TO_TASK.get(key)
        if task is None:
            raise UnknownTaskError(
                f"Unknown task {name!r}.{did_you_mean(key, all_task_names())} "
                f"Known tasks: {', '.join(CANONICAL_TASKS)} (run `modelexport tasks` for synonyms)."
            )
        return task

    @classmethod
    def _make(cls, canonical: str) -> Task:
        """The one place a Task is built: from a name of the task table, at import."""
        return str.__new__(cls, canonical)

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        """Copies and pickles go through :meth:`of`, since ``Task(...)`` is refused."""
        return (Task.of, (str(self),))

    @property
    def base(self) -> Task:
        """This task without its ``-with-past`` suffix."""
        return _CANONICAL[self.removesuffix(WITH_PAST_SUFFIX)]

    @property
    def uses_past(self) -> bool:
        """Whether this is a key/value-cache variant."""
        return self.endswith(WITH_PAST_SUFFIX)

    @property
    def with_past(self) -> Task:
        """The key/value-cache variant of this task's base.

        Raises :class:`UnsupportedTaskError` for a task that is never exported with a cache.
        """
        variant = _CANONICAL.get(self.base + WITH_PAST_SUFFIX)
        if variant is None:
            with_cache = ", ".join(t.base for t in CANONICAL_TASKS if t.uses_past)
            raise UnsupportedTaskError(
                f"Task {self!r} has no {WITH_PAST_SUFFIX} variant: only {with_cache} export with a key/value cache."
            )
        return variant

    @property
    def modality(self) -> str:
        """``text``, ``vision``, ``audio``, ``multimodal``, ``time-series`` or ``reinforcement-learning`` (trajectories
        of states, actions and returns): what the task's models take."""
        return _BASE_TASKS[self.base]


def _build_tables() -> tuple[dict[str, Task], dict[str, Task]]:
    """Canonical name -> Task in task-table order, and synonym -> Task (``-with-past`` ones too)."""
    canonical: dict[str, Task] = {}
    for name in _BASE_TASKS:
        canonical[name] = Task._make(name)
        if name in _TASKS_WITH_PAST:
            canonical[name + WITH_PAST_SUFFIX] = Task._make(name + WITH_PAST_SUFFIX)
    synonyms: dict[str, Task] = {}
    for synonym, name in _BASE_SYNONYMS.items():
        synonyms[synonym] = canonical[name]
        if name in _TASKS_WITH_PAST:
            synonyms[synonym + WITH_PAST_SUFFIX] = canonical[name + WITH_PAST_SUFFIX]
    return canonical, synonyms


_CANONICAL, _SYNONYM_TO_TASK = _build_tables()
CANONICAL_TASKS: tuple[Task, ...] = tuple(_CANONICAL.values())

#: Hub ``pipeline_tag`` values (synonyms, and tags that are not synonyms but still name one of our tasks).
PIPELINE_TAG_TO_TASK: MappingProxyType[str, Task] = MappingProxyType(
    {
        tag: Task.of(name)
        for tag, name in {
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
            "audio-classification": "audio-classification",
            "zero-shot-image-classification": "zero-shot-image-classification",
            "zero-shot-object-detection": "zero-shot-object-detection",
            "depth-estimation": "depth-estimation",
            "image-to-image": "image-to-image",
            "keypoint-detection": "keypoint-detection",
            "mask-generation": "mask-generation",
            "time-series-forecasting": "time-series-forecasting",
            "text-to-audio": "text-to-audio",
            "reinforcement-learning": "reinforcement-learning",
        }.items()
    }
)


def task_for_model_type(name: str, registered: Iterable[str]) -> Task:
    """The task ``name`` means for a model type that registers the tasks ``registered``.

    Most names mean one task whatever the model; a name of :data:`MODEL_TYPE_DECIDES` means the first of its
    tasks that the model type registers (``automatic-speech-recognition``: ``speech2seq-lm`` for Whisper,
    ``audio-ctc`` for wav2vec2), keeping a ``-with-past`` suffix where that task has the variant.
    """
    canonical = Task.of(name)
    key = name.strip().lower().replace("_", "-")
    past = key.endswith(WITH_PAST_SUFFIX)
    choices = MODEL_TYPE_DECIDES.get(key.removesuffix(WITH_PAST_SUFFIX))
    if choices is None:
        return canonical
    known = {Task.of(task) for task in registered}
    for choice in choices:
        task = Task.of(choice)
        candidate = _CANONICAL.get(task + WITH_PAST_SUFFIX) if past else task
        if candidate is not None and candidate in known:
            return candidate
    return canonical


def tasks_meant_by(name: str) -> tuple[Task, ...]:
    """Every task ``name`` can mean: one for most names; for a name of :data:`MODEL_TYPE_DECIDES` each of its tasks
    (``automatic-speech-recognition``: ``speech2seq-lm`` and ``audio-ctc``, as optimum answers), with a
    ``-with-past`` suffix kept where the task has the variant. A question about no model in particular gets all."""
    canonical = Task.of(name)
    key = name.strip().lower().replace("_", "-")
    past = key.endswith(WITH_PAST_SUFFIX)
    choices = MODEL_TYPE_DECIDES.get(key.removesuffix(WITH_PAST_SUFFIX))
    if choices is None:
        return (canonical,)
    meant = [_CANONICAL.get(Task.of(choice) + WITH_PAST_SUFFIX) if past else Task.of(choice) for choice in choices]
    return tuple(task for task in meant if task is not None)


def get_all_tasks() -> list[Task]:
    """Every canonical task, in task-table order."""
    return list(CANONICAL_TASKS)


def all_task_names() -> list[str]:
    """Every accepted name: canonical tasks and their synonyms."""
    return list(CANONICAL_TASKS) + list(_SYNONYM_TO_TASK)


def map_from_synonym(task: str) -> Task:
    """The canonical task of ``task`` (itself if already canonical); see :meth:`Task.of`."""
    return Task.of(task)


def synonyms_for_task(task: str) -> set[str]:
    """Every name that means ``task``: its canonical name and all of its synonyms."""
    canonical = Task.of(task)
    return {canonical, *(s for s, t in _SYNONYM_TO_TASK.items() if t == canonical)}


def synonyms_only(task: str) -> list[str]:
    """The synonyms of a task, without the task itself, sorted."""
    canonical = Task.of(task)
    return sorted(s for s, t in _SYNONYM_TO_TASK.items() if t == canonical)


def base_task(task: str) -> Task:
    """The canonical task without its ``-with-past`` suffix."""
    return Task.of(task).base


def uses_past(task: str) -> bool:
    """Whether ``task`` is a key/value-cache variant."""
    return Task.of(task).uses_past


def task_modality(task: str) -> str:
    """What kind of input the task's models take (see :attr:`Task.modality`)."""
    return Task.of(task).modality
