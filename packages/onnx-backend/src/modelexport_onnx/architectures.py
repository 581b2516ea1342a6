"""The ONNX architecture table: one row per model type, data rather than a class each.

Each row names the config class, the keyword arguments that specialise it, the tasks that
transformers has a head for (and that the registry-walking test exports), and the opset the
architecture needs at least. Which converter traces an architecture is a framework fact: the
converters hold it (:mod:`.converters.pt`), not this table.

Two sources make the table. :data:`HAND_WRITTEN` holds the rows that need knowledge a walk cannot
find (speech front ends, fixed image sizes, TensorFlow tasks); ``text_architectures.json`` holds
what ``tools/text_walk.py`` measured: for every text model type of transformers' auto mappings,
the family its tiny random model exported through and the tasks that validated;
``media_architectures.json`` holds the same for image, audio and image-text types (``tools/media_walk.py``).
A hand-written row keeps its options and gains the measured tasks exported through the same config class.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from modelexport_core.registry import normalize_model_type
from modelexport_core.versions import major_version

from .config import (
    ENCODER_TASKS,
    DecoderOnnxConfig,
    OnnxConfig,
    Seq2SeqOnnxConfig,
    TextEncoderOnnxConfig,
    VisionOnnxConfig,
)
from .families import FAMILY_CLASSES
from .mask_generation_config import MaskGenerationOnnxConfig
from .media_config import AudioOnnxConfig, ImageTextOnnxConfig
from .reinforcement_learning import DecisionTransformerOnnxConfig
from .spectrogram_config import SPEECHT5_NAMES, TextToSpectrogramOnnxConfig, VocoderOnnxConfig
from .speech_synthesis import TextToSpeechOnnxConfig
from .text_to_audio import MusicgenOnnxConfig


@dataclass(frozen=True)
class Architecture:
    """How to export one model type: config class, the keyword arguments it is built with, tasks."""

    config_class: type[OnnxConfig]
    tasks: tuple[str, ...]
    #: Keyword arguments of ``config_class`` (``token_type_ids``, ``names``, ``speech``, ``dynamic_size``...).
    options: dict[str, Any] = field(default_factory=dict)
    min_opset: int | None = None
    #: The tasks that also export from TensorFlow (tf2onnx), each checked by the TF registry walk;
    #: the others export from PyTorch only.
    tf_tasks: tuple[str, ...] = ()
    #: Frameworks every task exports from, overriding the above (a third-party table may set it).
    frameworks: tuple[str, ...] | None = None
    #: Tasks exported with another config class or options than the row's: an encoder-decoder's standalone
    #: decoder (``BartForCausalLM``), a head that takes no position ids. Their tasks are also in ``tasks``.
    by_task: Mapping[str, Architecture] = field(default_factory=dict)
    #: Tasks advertised from TensorFlow alone: measured by the TensorFlow walk, but not from PyTorch with the
    #: installed transformers (the PyTorch walk measured another major version).
    tf_only: tuple[str, ...] = ()

    def for_task(self, task: str) -> Architecture:
        """The architecture ``task`` exports through."""
        return self.by_task.get(task, self)

    @property
    def notes(self) -> list[str]:
        """What the config class says a user should know about exports with these options."""
        return self.config_class.export_notes(**self.options)

    def frameworks_for(self, task: str) -> tuple[str, ...]:
        """The frameworks ``task`` exports from: the onnx backend has converters for ``pt`` and ``tf``."""
        if self.frameworks is not None:
            return self.frameworks
        if task in self.tf_only:
            return ("tf",)
        return ("pt", "tf") if task in self.tf_tasks else ("pt",)


_TEXT_ENCODER = TextEncoderOnnxConfig
_DECODER = DecoderOnnxConfig
DECODER_TASKS = ("causal-lm", "causal-lm-with-past", "default-with-past")
_SEQ2SEQ = Seq2SeqOnnxConfig
_VISION = VisionOnnxConfig
_TF_IMAGE = ("image-classification",)  # TensorFlow has no masked-im heads in the task table
_FIXED = {"dynamic_size": False}  # position embeddings sized for image_size: height/width fixed
SEQ2SEQ_TASKS = ("seq2seq-lm", "seq2seq-lm-with-past")
_SPEECH_TASKS = ("default", "default-with-past", "speech2seq-lm", "speech2seq-lm-with-past")
_WHISPER_AUDIO = {"audio_input": "whisper"}
_SPEECHT5_ASR = ("speech2seq-lm", "speech2seq-lm-with-past")
_TTS_TASKS = ("text-to-audio", "text-to-audio-with-past")
#: SAM's ``default`` (AutoModel: the same SamModel, optimum's feature extraction) is the same two files again; the
#: other types list ``mask-generation`` alone (the walk would export identical files twice: CI time).
_MASK_TASKS = ("mask-generation",)
_AUDIO_TASKS = ("default", "audio-ctc", "audio-classification", "audio-frame-classification", "audio-xvector")
_T5_NAMES = {
    "names": {
        "num_layers": "num_decoder_layers",
        "num_heads": "num_heads",
        "head_dim": "d_kv",
        "hidden_size": "d_model",
    }
}
_BART_NAMES = {
    "names": {"num_layers": "decoder_layers", "num_heads": "decoder_attention_heads", "hidden_size": "d_model"}
}

HAND_WRITTEN: dict[str, Architecture] = {
    "bert": Architecture(_TEXT_ENCODER, ENCODER_TASKS, tf_tasks=ENCODER_TASKS),
    "distilbert": Architecture(_TEXT_ENCODER, ENCODER_TASKS, {"token_type_ids": "never"}, tf_tasks=ENCODER_TASKS),
    "roberta": Architecture(_TEXT_ENCODER, ENCODER_TASKS, {"token_type_ids": "never"}, tf_tasks=ENCODER_TASKS),
    "xlm-roberta": Architecture(_TEXT_ENCODER, ENCODER_TASKS, {"token_type_ids": "never"}, tf_tasks=ENCODER_TASKS),
    "camembert": Architecture(_TEXT_ENCODER, ENCODER_TASKS, {"token_type_ids": "never"}, tf_tasks=ENCODER_TASKS),
    "albert": Architecture(_TEXT_ENCODER, ENCODER_TASKS, tf_tasks=ENCODER_TASKS),
    "electra": Architecture(_TEXT_ENCODER, ENCODER_TASKS, tf_tasks=ENCODER_TASKS),
    "deberta-v2": Architecture(
        _TEXT_ENCODER, ENCODER_TASKS, {"token_type_ids": "if-type-vocab"}, min_opset=12, tf_tasks=ENCODER_TASKS
    ),
    "mpnet": Architecture(_TEXT_ENCODER, ENCODER_TASKS, {"token_type_ids": "never"}, tf_tasks=ENCODER_TASKS),
    "mobilebert": Architecture(_TEXT_ENCODER, ENCODER_TASKS, tf_tasks=ENCODER_TASKS),
    # A document model reading the page beside its text (token boxes and the page image of a fixed input_size);
    # by hand so that its tasks are listed before the text walk measures the family's page_image option.
    "layoutlmv3": Architecture(
        _TEXT_ENCODER,
        ("default", "sequence-classification", "token-classification", "question-answering"),
        {"token_type_ids": "never", "bbox": True, "page_image": True},
    ),
    # Decoder-only models share one config: the cache layout is (batch, kv heads, length, head dim).
    "gpt2": Architecture(_DECODER, DECODER_TASKS, tf_tasks=DECODER_TASKS),
    "gpt-neo": Architecture(_DECODER, DECODER_TASKS),
    "gptj": Architecture(_DECODER, DECODER_TASKS, tf_tasks=DECODER_TASKS),
    "opt": Architecture(_DECODER, DECODER_TASKS, tf_tasks=DECODER_TASKS),
    "bloom": Architecture(_DECODER, DECODER_TASKS, {"position_ids": False}),  # ALiBi: no positions
    "llama": Architecture(_DECODER, DECODER_TASKS),
    "mistral": Architecture(_DECODER, DECODER_TASKS, tf_tasks=("causal-lm",)),  # TF mistral: no cache in a trace
    "qwen2": Architecture(_DECODER, DECODER_TASKS),
    "qwen3": Architecture(_DECODER, DECODER_TASKS),
    "phi3": Architecture(_DECODER, DECODER_TASKS),
    "gemma": Architecture(_DECODER, DECODER_TASKS),
    "gemma2": Architecture(_DECODER, DECODER_TASKS),
    # Encoder-decoders: one config, the cache names differ by architecture only.
    "t5": Architecture(_SEQ2SEQ, SEQ2SEQ_TASKS, _T5_NAMES, tf_tasks=SEQ2SEQ_TASKS),
    "mt5": Architecture(_SEQ2SEQ, SEQ2SEQ_TASKS, _T5_NAMES, tf_tasks=SEQ2SEQ_TASKS),
    "bart": Architecture(_SEQ2SEQ, SEQ2SEQ_TASKS, _BART_NAMES, tf_tasks=SEQ2SEQ_TASKS),
    "mbart": Architecture(_SEQ2SEQ, SEQ2SEQ_TASKS, _BART_NAMES, tf_tasks=SEQ2SEQ_TASKS),
    "marian": Architecture(_SEQ2SEQ, SEQ2SEQ_TASKS, _BART_NAMES, tf_tasks=SEQ2SEQ_TASKS),
    "pegasus": Architecture(_SEQ2SEQ, SEQ2SEQ_TASKS, _BART_NAMES, tf_tasks=SEQ2SEQ_TASKS),
    "m2m-100": Architecture(_SEQ2SEQ, SEQ2SEQ_TASKS, _BART_NAMES),
    # Vision: one config; per row the tasks and whether height and width stay dynamic.
    "vit": Architecture(_VISION, ("default", "image-classification", "masked-im"), _FIXED, tf_tasks=_TF_IMAGE),
    "deit": Architecture(_VISION, ("image-classification", "masked-im"), _FIXED, tf_tasks=_TF_IMAGE),
    "beit": Architecture(_VISION, ("image-classification", "semantic-segmentation"), _FIXED),
    "convnext": Architecture(_VISION, _TF_IMAGE, tf_tasks=_TF_IMAGE),
    "resnet": Architecture(_VISION, _TF_IMAGE, tf_tasks=_TF_IMAGE),
    "swin": Architecture(_VISION, ("image-classification", "masked-im"), _FIXED, tf_tasks=_TF_IMAGE),
    "mobilevit": Architecture(
        _VISION,
        ("image-classification", "semantic-segmentation"),
        _FIXED,
        tf_tasks=("image-classification", "semantic-segmentation"),
    ),  # unfolds patches
    "dinov2": Architecture(_VISION, ("default", "image-classification")),
    "efficientnet": Architecture(_VISION, ("image-classification",)),
    "regnet": Architecture(_VISION, _TF_IMAGE, tf_tasks=_TF_IMAGE),
    "detr": Architecture(_VISION, ("object-detection", "image-segmentation")),
    "yolos": Architecture(_VISION, ("object-detection",), _FIXED),
    "conditional-detr": Architecture(_VISION, ("object-detection",)),
    "table-transformer": Architecture(_VISION, ("object-detection",)),
    "segformer": Architecture(_VISION, ("semantic-segmentation",), tf_tasks=("semantic-segmentation",)),
    "dpt": Architecture(_VISION, ("semantic-segmentation",), _FIXED),
    # scene-text recognition (AutoModel loads the recogniser itself): characters, BPE tokens and word pieces
    "mgp-str": Architecture(_VISION, ("default",), {**_FIXED, "logit_heads": ("char", "bpe", "wp")}),
    # Speech encoder-decoders: the same config, the encoder reads log-mel features. Whisper's audio classifier
    # is its encoder with a head: the audio family, on Whisper's fixed 30-second features.
    "whisper": Architecture(
        _SEQ2SEQ,
        (*_SPEECH_TASKS, "audio-classification"),
        {"speech": "whisper", **_BART_NAMES},
        by_task={"audio-classification": Architecture(AudioOnnxConfig, ("audio-classification",), _WHISPER_AUDIO)},
    ),
    "speech-to-text": Architecture(_SEQ2SEQ, _SPEECH_TASKS, {"speech": "frames", **_BART_NAMES}),
    # SpeechT5: the recogniser reads a waveform (as the media walk measured); the speech synthesiser is a
    # text encoder, a spectrogram decoder run step by step and a postnet, one file each
    "speecht5": Architecture(
        _SEQ2SEQ,
        (*_SPEECHT5_ASR, *_TTS_TASKS),
        {"speech": "waveform", "names": SPEECHT5_NAMES},
        by_task=dict.fromkeys(_TTS_TASKS, Architecture(TextToSpectrogramOnnxConfig, _TTS_TASKS)),
    ),
    # its vocoder, a checkpoint of its own: the synthesiser's spectrogram in, the waveform out; FastSpeech2's is
    # the same network
    "speecht5-hifigan": Architecture(VocoderOnnxConfig, ("default",)),
    "fastspeech2-conformer-hifigan": Architecture(VocoderOnnxConfig, ("default",)),
    # the type both vocoders' configs wrote before transformers 5 (microsoft/speecht5_hifigan's config.json)
    "hifigan": Architecture(VocoderOnnxConfig, ("default",)),
    # Image-to-text reading flattened patches (no base model in transformers: no ``default``); a T5-like
    # decoder whose sizes are in text_config.
    "pix2struct": Architecture(
        _SEQ2SEQ,
        ("vision2seq-lm", "vision2seq-lm-with-past"),
        {"vision": "patches", "sizes_from": "text_config", "names": {"head_dim": "d_kv"}},
    ),
    # The most used speech encoders and dual encoder, by hand so that transformers 4.57 installs list them too
    # (the media walk measures them, and every other such type, with transformers 5).
    "wav2vec2": Architecture(AudioOnnxConfig, _AUDIO_TASKS),
    "wavlm": Architecture(AudioOnnxConfig, _AUDIO_TASKS),
    "hubert": Architecture(AudioOnnxConfig, _AUDIO_TASKS[:3]),
    "clip": Architecture(ImageTextOnnxConfig, ("default", "zero-shot-image-classification")),
    # SigLIP's text tower alone (optimum's siglip-text): no auto mapping lists it (the text walk finds such towers
    # by their config's class), so it is listed by hand too
    "siglip-text-model": Architecture(_TEXT_ENCODER, ("default",), {"token_type_ids": "never"}),
    # Offline reinforcement learning: a trajectory of states, actions and returns in (no auto mapping of a task
    # lists it, so no walk measures it)
    "decision-transformer": Architecture(DecisionTransformerOnnxConfig, ("default", "reinforcement-learning")),
    # Text to music: a T5 encoder, a decoder of several audio-code streams with a cache, EnCodec's decoder
    "musicgen": Architecture(MusicgenOnnxConfig, ("text-to-audio", "text-to-audio-with-past")),
    # Text to speech in one pass: the noise scales and speaking rate are graph inputs (.speech_synthesis).
    "vits": Architecture(TextToSpeechOnnxConfig, ("text-to-audio",)),
    # Promptable segmentation: an image encoder file and a prompt-and-mask-decoder file (no family fits it).
    "sam": Architecture(MaskGenerationOnnxConfig, ("default", "mask-generation")),
    "sam-hq": Architecture(MaskGenerationOnnxConfig, _MASK_TASKS, {"hq": True}),
    "sam2": Architecture(MaskGenerationOnnxConfig, _MASK_TASKS, {"high_resolution": True}),
    "sam3-tracker": Architecture(MaskGenerationOnnxConfig, _MASK_TASKS, {"high_resolution": True}),  # SAM 3's ViT
}

#: What the text walk measured (``python tools/text_walk.py`` writes it; a test keeps it honest).
MEASURED_TABLE = Path(__file__).with_name("text_architectures.json")
#: The tasks of those types that also exported from TensorFlow (``tools/text_walk_tf.py``, transformers 4.57).
MEASURED_TF_TABLE = Path(__file__).with_name("text_architectures_tf.json")
#: What the image, audio and image-text walk measured (``python tools/media_walk.py`` writes it).
MEASURED_MEDIA_TABLE = Path(__file__).with_name("media_architectures.json")


def measured_architectures(
    path: Path = MEASURED_TABLE, tf_path: Path | None = MEASURED_TF_TABLE, transformers_major: int | None = None
) -> dict[str, Architecture]:
    """The rows of the measured tables (none when a file is absent: that walk was never run).

    A PyTorch pair is advertised where the installed transformers has the major version the walk measured
    with (or none is installed: the registry still answers); with another one (transformers 4.57 for
    TensorFlow), only the TensorFlow walk's pairs are, from TensorFlow alone.
    """
    if not path.is_file():
        return {}
    table = json.loads(path.read_text(encoding="utf-8"))
    measured_major = int(str(table["transformers"]).split(".")[0])
    pytorch = transformers_major is None or transformers_major == measured_major
    tf_table = json.loads(tf_path.read_text(encoding="utf-8")) if tf_path and tf_path.is_file() else {"types": {}}
    tf_tasks = {normalize_model_type(name): tuple(tasks) for name, tasks in tf_table["types"].items()}
    rows: dict[str, Architecture] = {}
    for model_type, row in table["types"].items():
        name = normalize_model_type(model_type)
        by_task: dict[str, Architecture] = {}
        for group in row.get("task_families", ()):  # tasks exported with another family or options
            part = Architecture(FAMILY_CLASSES[group["family"]], tuple(group["tasks"]), dict(group["options"]))
            by_task.update(dict.fromkeys(part.tasks, part))
        tasks = tuple(row["tasks"]) + tuple(by_task)
        from_tf = tuple(task for task in tf_tasks.get(name, ()) if task in row["tasks"])
        family, options = FAMILY_CLASSES[row["family"]], dict(row.get("options", {}))
        if pytorch and tasks:
            rows[name] = Architecture(family, tasks, options, tf_tasks=from_tf, by_task=by_task)
        elif not pytorch and from_tf:
            rows[name] = Architecture(family, from_tf, options, tf_tasks=from_tf, tf_only=from_tf)
    return rows


def merged(hand: Mapping[str, Architecture], measured: Mapping[str, Architecture]) -> dict[str, Architecture]:
    """Hand-written rows, each with the measured tasks of the same config class added; then the measured rest."""
    table = dict(hand)
    for model_type, row in measured.items():
        known = table.get(model_type)
        if known is None:
            table[model_type] = row
        elif known.config_class is row.config_class:
            extra = tuple(task for task in row.tasks if task not in known.tasks)
            extra_tf = tuple(task for task in row.tf_tasks if task not in known.tf_tasks)
            table[model_type] = replace(
                known,
                tasks=known.tasks + extra,
                tf_tasks=known.tf_tasks + extra_tf,
                by_task={**row.by_task, **known.by_task},
                tf_only=known.tf_only + tuple(task for task in row.tf_only if task in extra),
            )
    return table


def combined(text: Mapping[str, Architecture], media: Mapping[str, Architecture]) -> dict[str, Architecture]:
    """The two measured tables as one: a type both list (Perceiver reads tokens, and images with an image
    classifier of its own) keeps its text row, with the media row's tasks exported through the media row's family."""
    table = {**media, **text}
    for model_type in text.keys() & media.keys():
        row, extra = text[model_type], media[model_type]
        tasks = tuple(task for task in extra.tasks if task not in row.tasks)
        by_task = {task: extra.for_task(task) for task in tasks}
        table[model_type] = replace(row, tasks=row.tasks + tasks, by_task={**by_task, **row.by_task})
    return table


_MAJOR = major_version("transformers")
ARCHITECTURES: dict[str, Architecture] = merged(
    HAND_WRITTEN,
    combined(
        measured_architectures(transformers_major=_MAJOR),
        measured_architectures(MEASURED_MEDIA_TABLE, tf_path=None, transformers_major=_MAJOR),
    ),
)
