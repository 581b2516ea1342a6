"""Task inference: which task a model was trained for.

Sources, most precise first: the model class (``BertForSequenceClassification``), the
``architectures`` of ``config.json``, the model card's ``pipeline_tag`` and, for a Hub
model, the Hub's ``pipeline_tag`` and transformers auto class. Class names are matched by
suffix against one table that serves model classes and auto classes alike
(``...ForMaskedLM`` and ``AutoModelForMaskedLM``), so no transformers import is needed.

Some class names do not say the task: ``XForConditionalGeneration`` (and ``MarianMTModel``) is
text-to-text, speech-to-text or image-to-text depending on the model. For those the model type's
registered tasks decide (the export registry that the backends fill), then hints of the config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import PluginLoadError, TaskInferenceError
from .model_source import ModelReference, read_config_file, read_pipeline_tag
from .registry import registry
from .tasks import MODEL_TYPE_DECIDES, PIPELINE_TAG_TO_TASK, Task, task_for_model_type

#: Table value of a class name that may be any generation task: resolved with the model type and config.
_GENERATION = "generation"

#: Class-name suffix -> task, most specific first. ``None`` marks a class we cannot export; a tuple, a class name
#: whose task the model type decides (the first of them that the model type registers; else the first).
_SUFFIX_TO_TASK: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    ("ForImageClassificationWithTeacher", "image-classification"),
    # wav2vec2 and its kin classify audio with a "...ForSequenceClassification" head
    ("ForSequenceClassification", ("sequence-classification", "audio-classification")),
    ("ForAudioClassification", "audio-classification"),
    ("ForAudioFrameClassification", "audio-frame-classification"),
    ("ForXVector", "audio-xvector"),
    ("ForCTC", "audio-ctc"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForImageClassification", "image-classification"),
    # OWL-ViT and OWLv2 detect what a text query names with an "...ForObjectDetection" class
    ("ForObjectDetection", ("object-detection", "zero-shot-object-detection")),
    ("ForImageSegmentation", "image-segmentation"),
    ("ForUniversalSegmentation", "image-segmentation"),
    ("ForInstanceSegmentation", "image-segmentation"),
    ("ForSemanticSegmentation", "semantic-segmentation"),
    ("ForMaskedImageModeling", "masked-im"),
    ("ForDepthEstimation", "depth-estimation"),
    ("ForImageSuperResolution", "image-to-image"),
    ("ForPoseEstimation", "keypoint-detection"),
    ("ForPrediction", "time-series-forecasting"),
    ("ForTextToSpeech", "text-to-audio"),
    ("VitsModel", "text-to-audio"),
    ("SamModel", "mask-generation"),
    ("SamHQModel", "mask-generation"),
    ("Sam2Model", "mask-generation"),  # SAM 2 and the models built on its decoder (transformers' mask-generation)
    ("Sam3TrackerModel", "mask-generation"),
    ("EdgeTamModel", "mask-generation"),
    ("ForSpeechSeq2Seq", "speech2seq-lm"),
    ("ForSpeechToText", "speech2seq-lm"),
    ("ForSeq2SeqLM", "seq2seq-lm"),
    ("ForTextToText", "seq2seq-lm"),
    ("ForConditionalGeneration", _GENERATION),
    ("MarianMTModel", _GENERATION),  # not every "...MTModel": FSMTModel is a base model
    ("SpeechEncoderDecoderModel", "speech2seq-lm"),
    ("VisionEncoderDecoderModel", "vision2seq-lm"),
    ("EncoderDecoderModel", "seq2seq-lm"),
    ("ForSegmentation", "image-segmentation"),
    ("ForMaskedLM", "masked-lm"),
    ("ForCausalLM", "causal-lm"),
    ("LMHeadModel", "causal-lm"),
    ("DoubleHeadsModel", None),
    ("WithLMHead", "masked-lm"),
    # CLIP and its kin: the dual encoder is what zero-shot image classification runs
    ("CLIPModel", ("zero-shot-image-classification", "default")),
    ("SiglipModel", ("zero-shot-image-classification", "default")),
    # a Decision Transformer plans actions: its base model is what the reinforcement-learning task runs
    ("DecisionTransformerModel", ("reinforcement-learning", "default")),
    # a vocoder (SpeechT5HifiGan): a spectrogram in, a waveform out; no auto class: it is its own base model
    ("HifiGan", "default"),
    ("Model", "default"),
)

#: The tasks a generation head can have; the registered tasks of its model type pick one.
_SEQ2SEQ, _SPEECH2SEQ, _VISION2SEQ = Task.of("seq2seq-lm"), Task.of("speech2seq-lm"), Task.of("vision2seq-lm")
_GENERATION_TASKS = frozenset({_SEQ2SEQ, _SPEECH2SEQ, _VISION2SEQ, Task.of("text-to-audio")})


@dataclass(frozen=True)
class _ConfigHint:
    """``task`` when the config sets every key of ``all_of`` and, if given, one of ``any_of``.

    A key is set when its value is neither missing, ``None`` nor ``False``. ``kind`` says what
    a model matching a hint without task is, for the error message.
    """

    task: Task | None
    all_of: tuple[str, ...]
    any_of: tuple[str, ...] = ()
    kind: str = ""

    def matches(self, config: Mapping[str, Any]) -> bool:
        def is_set(key: str) -> bool:
            value = config.get(key)
            return value is not None and value is not False

        return all(map(is_set, self.all_of)) and (not self.any_of or any(map(is_set, self.any_of)))


#: Config hints for a generation head whose model type's registered tasks do not decide; first match wins.
#: transformers writes only the keys that differ from the base config, so each family has a hint of its own.
_GENERATION_HINTS: tuple[_ConfigHint, ...] = (
    _ConfigHint(_VISION2SEQ, ("vision_config", "text_config"), ("is_encoder_decoder",)),  # pix2struct
    _ConfigHint(None, ("vision_config",), kind="an image-to-text model (its config has a vision_config)"),
    _ConfigHint(_SPEECH2SEQ, (), ("num_mel_bins", "input_feat_per_channel")),
    _ConfigHint(_SEQ2SEQ, ("is_encoder_decoder",)),
    _ConfigHint(_SEQ2SEQ, ("decoder_start_token_id",), ("d_model", "num_decoder_layers", "decoder_layers")),
    _ConfigHint(_SEQ2SEQ, ("num_decoder_layers",)),  # T5 family
    _ConfigHint(_SEQ2SEQ, ("encoder_layers", "decoder_layers")),  # BART family
)


def _table_row(class_name: str) -> tuple[str, str | tuple[str, ...] | None] | None:
    """The row of ``_SUFFIX_TO_TASK`` that ``class_name`` matches, ``None`` when none does."""
    name = class_name.removeprefix("TF").removeprefix("Flax")
    return next((row for row in _SUFFIX_TO_TASK if name.endswith(row[0])), None)


def task_from_class_name(class_name: str, config: Mapping[str, Any] | None = None) -> Task | None:
    """The task of a model class or auto class name, ``None`` when it names none of ours.

    ``config`` (a parsed ``config.json``) resolves the class names that do not say the task.
    """
    row = _table_row(class_name)
    if row is None:
        return None
    if row[1] == _GENERATION:
        return _generation_task(config or {})[0]
    if isinstance(row[1], tuple):
        return _task_of_model_type(row[1], (config or {}).get("model_type"))
    return Task.of(row[1]) if row[1] is not None else None


def _task_of_model_type(choices: tuple[str, ...], model_type: object) -> Task:
    """The first of ``choices`` that ``model_type`` registers (with any backend); the first one otherwise."""
    registered = _registered_tasks(model_type) if isinstance(model_type, str) and model_type else set()
    return next((Task.of(c) for c in choices if Task.of(c) in registered), Task.of(choices[0]))


def _generation_task(config: Mapping[str, Any]) -> tuple[Task | None, str]:
    """The task of a generation head, or ``None`` and why it cannot be told.

    The tasks registered for the config's ``model_type`` decide when they hold exactly one
    generation task; otherwise the first matching config hint does.
    """
    model_type = config.get("model_type")
    registered = (
        _registered_tasks(model_type) & _GENERATION_TASKS if isinstance(model_type, str) and model_type else set()
    )
    if len(registered) == 1:
        return next(iter(registered)), ""
    for hint in _GENERATION_HINTS:
        if hint.matches(config):
            return hint.task, f"it is {hint.kind}, which modelexport has no task for"
    if not isinstance(model_type, str) or not model_type:
        registry_says = "its config names no model_type"
    elif registered:
        registry_says = f"model type {model_type!r} is registered for both {' and '.join(sorted(registered))}"
    else:
        registry_says = f"no installed backend registers model type {model_type!r} for either"
    return None, (
        "it may be text-to-text (seq2seq-lm) or speech-to-text (speech2seq-lm): "
        f"{registry_says}, and its config sets none of the keys that tell them apart "
        "(is_encoder_decoder, num_mel_bins, decoder_start_token_id with d_model...)"
    )


def _registered_tasks(model_type: str) -> set[Task]:
    """The tasks (without ``-with-past``) that the installed backends register for ``model_type``."""
    from .plugins import backend_names, ensure_backend_loaded

    found: set[Task] = set()
    for backend in sorted({*backend_names(), *registry.backends()}):
        try:
            ensure_backend_loaded(backend)
        except PluginLoadError:  # a backend that does not load has no say; the config hints still apply
            continue
        found.update(Task.of(task).base for task in registry.entries_for(backend, model_type) or {})
    return found


def explain_class_name(class_name: str, config: Mapping[str, Any] | None = None) -> str | None:
    """Why the known class ``class_name`` gives no task, for an error message; else ``None``."""
    row = _table_row(class_name)
    if row is None:
        return None
    if row[1] is None:
        return f"{class_name} has no task that modelexport exports."
    if row[1] == _GENERATION:
        task, why = _generation_task(config or {})
        return f"{class_name} is a generation head and {why}." if task is None else None
    return None


def task_from_config(config: Mapping[str, Any]) -> Task | None:
    """The task named by the ``architectures`` list of a parsed ``config.json``."""
    for architecture in config.get("architectures") or []:
        if isinstance(architecture, str):
            task = task_from_class_name(architecture, config)
            if task is not None:
                return task
    return None


def task_from_pipeline_tag(tag: str | None, model_type: object = None) -> Task | None:
    """The task a Hub ``pipeline_tag`` stands for, if it is one of ours.

    A tag whose task the model type decides (``automatic-speech-recognition``: CTC or encoder-decoder) asks
    the tasks that ``model_type`` registers.
    """
    if not tag:
        return None
    task = PIPELINE_TAG_TO_TASK.get(tag)
    if task is None or tag not in MODEL_TYPE_DECIDES or not isinstance(model_type, str) or not model_type:
        return task
    return task_for_model_type(tag, _registered_tasks(model_type))


def _task_of_directory(directory: Path, config: Mapping[str, Any], what: str) -> Task:
    """The task that the config's architectures or the model card of ``directory`` name."""
    task = task_from_config(config) or task_from_pipeline_tag(read_pipeline_tag(directory), config.get("model_type"))
    if task is None:
        architectures = config.get("architectures") or "none"
        raise TaskInferenceError(
            f"Cannot infer the task of {what}: its config.json names architectures {architectures} "
            f"and its model card has no usable pipeline_tag.{_advice(config)}"
        )
    return task


def _advice(config: Mapping[str, Any]) -> str:
    """Why the known classes of ``architectures`` give no task, then which task to pass."""
    architectures = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    notes = [note for note in (explain_class_name(a, config) for a in architectures) if note]
    undecided = any(row and row[1] == _GENERATION for row in map(_table_row, architectures)) and not any(
        hint.matches(config) for hint in _GENERATION_HINTS
    )
    example = "--task seq2seq-lm or --task speech2seq-lm" if undecided else "e.g. --task sequence-classification"
    return (
        "".join(" " + note for note in notes)
        + f" Pass the task explicitly ({example}); `modelexport tasks` lists them."
    )


def infer_task_from_model(
    model: Any,
    subfolder: str = "",
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Task:
    """Infer the canonical task of ``model``.

    ``model`` may be a local directory, a Hub id, a :class:`ModelReference`, a model instance or
    a model class. A Hub id is looked up on the Hub, and in the local cache when offline or
    unreachable.
    """
    if isinstance(model, (str, os.PathLike, ModelReference)):
        return infer_task(ModelReference.resolve(model, subfolder, revision, cache_dir))
    return _task_of_class(model if isinstance(model, type) else type(model), model)


def _task_of_class(cls: type, model: Any) -> Task:
    """The task named by a model's class, with its config (if it has one) for generation heads."""
    config: dict[str, Any] = getattr(getattr(model, "config", None), "to_dict", dict)()
    task = task_from_class_name(cls.__name__, config)
    if task is None:
        why = explain_class_name(cls.__name__, config)
        raise TaskInferenceError(
            f"Cannot infer a task from the class {cls.__name__}.{' ' + why if why else ''} Pass the task explicitly."
        )
    return task


def infer_task(reference: ModelReference) -> Task:
    """The canonical task of a resolved model: its library's answer (timm's folders say it their own way), for
    transformers its config and model card, or what the Hub says of it."""
    library = reference.library
    if library.registry_library != library.name or library.name == "transformers":
        return infer_transformers_task(reference)  # its own model types: transformers' reading (sentence-transformers)
    return library.infer_task(reference)


def infer_transformers_task(reference: ModelReference) -> Task:
    """The canonical task of a transformers model: its config and model card, or what the Hub says of it."""
    directory = reference.source.directory
    if directory is not None:
        return _task_of_directory(directory, reference.config, repr(reference.source.reference))
    return _infer_from_hub(reference)


def _infer_from_hub(reference: ModelReference) -> Task:
    """The Hub's pipeline tag, auto class or config first; else the cached snapshot."""
    info = reference.hub_info
    if info is not None:
        task = (
            task_from_pipeline_tag(info.pipeline_tag, info.config.get("model_type"))
            or (task_from_class_name(info.auto_model, info.config) if info.auto_model else None)
            or task_from_config(info.config)
        )
        if task is not None:
            return task
        if reference.snapshot() is None:
            raise TaskInferenceError(
                f"Cannot infer the task of {info.model_id!r}: the Hub gives pipeline_tag "
                f"{info.pipeline_tag!r} and auto class {info.auto_model!r}. Pass the task explicitly."
            )
    directory = reference.require_snapshot()
    return _task_of_directory(directory, read_config_file(directory), repr(reference.source.hub_id))
