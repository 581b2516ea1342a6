"""Task inference: which task a model was trained for.

Sources, most precise first: the model class (``BertForSequenceClassification``), the
``architectures`` of ``config.json``, the model card's ``pipeline_tag`` and, for a Hub
model, the Hub's ``pipeline_tag`` and transformers auto class. Class names are matched by
suffix against one table that serves model classes and auto classes alike
(``...ForMaskedLM`` and ``AutoModelForMaskedLM``), so no transformers import is needed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import hub
from .errors import HubUnavailableError, TaskInferenceError
from .model_source import ModelSource, read_config_file, read_pipeline_tag, resolve_model
from .tasks import PIPELINE_TAG_TO_TASK

#: Class-name suffix -> task, longest first. ``None`` marks a class we cannot export.
_SUFFIX_TO_TASK: tuple[tuple[str, str | None], ...] = (
    ("ForImageClassificationWithTeacher", "image-classification"),
    ("ForSequenceClassification", "sequence-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"),
    ("ForImageSegmentation", "image-segmentation"),
    ("ForUniversalSegmentation", "image-segmentation"),
    ("ForInstanceSegmentation", "image-segmentation"),
    ("ForSemanticSegmentation", "semantic-segmentation"),
    ("ForMaskedImageModeling", "masked-im"),
    ("ForSpeechSeq2Seq", "speech2seq-lm"),
    ("ForSeq2SeqLM", "seq2seq-lm"),
    ("ForConditionalGeneration", "conditional-generation"),  # resolved with the config below
    ("ForSegmentation", "image-segmentation"),
    ("ForMaskedLM", "masked-lm"),
    ("ForCausalLM", "causal-lm"),
    ("LMHeadModel", "causal-lm"),
    ("DoubleHeadsModel", None),
    ("WithLMHead", "masked-lm"),
    ("Model", "default"),
)

#: Config keys that only speech encoder-decoders have.
_SPEECH_CONFIG_KEYS = ("num_mel_bins", "input_feat_per_channel")


def task_from_class_name(class_name: str, config: Mapping[str, Any] | None = None) -> str | None:
    """The task of a model class or auto class name, ``None`` when it names none of ours."""
    name = class_name.removeprefix("TF").removeprefix("Flax")
    for suffix, task in _SUFFIX_TO_TASK:
        if name.endswith(suffix):
            if task == "conditional-generation":
                return _conditional_generation_task(config or {})
            return task
    return None


def _conditional_generation_task(config: Mapping[str, Any]) -> str | None:
    """``XForConditionalGeneration`` is seq2seq text, speech-to-text or (unsupported) vision."""
    if any(key in config for key in _SPEECH_CONFIG_KEYS):
        return "speech2seq-lm"
    if config.get("is_encoder_decoder") and "vision_config" not in config:
        return "seq2seq-lm"
    return None


def task_from_config(config: Mapping[str, Any]) -> str | None:
    """The task named by the ``architectures`` list of a parsed ``config.json``."""
    for architecture in config.get("architectures") or []:
        if isinstance(architecture, str):
            task = task_from_class_name(architecture, config)
            if task is not None:
                return task
    return None


def task_from_pipeline_tag(tag: str | None) -> str | None:
    """The task a Hub ``pipeline_tag`` stands for, if it is one of ours."""
    return PIPELINE_TAG_TO_TASK.get(tag) if tag else None


def _infer_from_directory(directory: os.PathLike[str], what: str) -> str:
    from pathlib import Path

    config = read_config_file(Path(directory))
    task = task_from_config(config) or task_from_pipeline_tag(read_pipeline_tag(Path(directory)))
    if task is None:
        architectures = config.get("architectures") or "none"
        raise TaskInferenceError(
            f"Cannot infer the task of {what}: its config.json names architectures {architectures} "
            "and its model card has no usable pipeline_tag. Pass the task explicitly "
            "(e.g. --task sequence-classification); `modelexport tasks` lists them."
        )
    return task


def infer_task_from_model(
    model: Any,
    subfolder: str = "",
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> str:
    """Infer the canonical task of ``model``.

    ``model`` may be a local directory, a Hub id, a model instance or a model class. A Hub id
    is looked up on the Hub, and in the local cache when offline or unreachable.
    """
    if not isinstance(model, (str, os.PathLike)):
        cls = model if isinstance(model, type) else type(model)
        config: dict[str, Any] = getattr(getattr(model, "config", None), "to_dict", dict)()
        task = task_from_class_name(cls.__name__, config)
        if task is None:
            raise TaskInferenceError(f"Cannot infer a task from the class {cls.__name__}; pass the task explicitly.")
        return task

    source = resolve_model(model, subfolder)
    if source.directory is not None:
        return _infer_from_directory(source.directory, repr(source.reference))
    return _infer_from_hub(source, revision, cache_dir)


def _infer_from_hub(source: ModelSource, revision: str | None, cache_dir: str | os.PathLike[str] | None) -> str:
    assert source.hub_id is not None
    if not hub.is_offline():
        try:
            info = hub.fetch_model_info(source.hub_id, revision)
        except HubUnavailableError:
            pass  # unreachable: the cache below may still know
        else:
            task = (
                task_from_pipeline_tag(info.pipeline_tag)
                or (task_from_class_name(info.auto_model, info.config) if info.auto_model else None)
                or task_from_config(info.config)
            )
            if task is not None:
                return task
            snapshot = hub.cached_snapshot(source.hub_id, cache_dir, revision)
            if snapshot is None:
                raise TaskInferenceError(
                    f"Cannot infer the task of {source.hub_id!r}: the Hub gives pipeline_tag "
                    f"{info.pipeline_tag!r} and auto class {info.auto_model!r}. Pass the task explicitly."
                )
    snapshot = hub.require_cached_snapshot(source.hub_id, cache_dir, revision)
    directory = snapshot / source.subfolder if source.subfolder else snapshot
    return _infer_from_directory(directory, repr(source.hub_id))
