"""Which of the three text export families fits a model config, and with which options.

The registry of text models is measured, not hand-written: ``tools/text_walk.py`` builds a tiny
random model of every text model type transformers knows, asks :func:`text_family` how to export
it, and keeps the tasks that export and validate. The decision reads only the config (a
transformers config object or the plain ``config.json`` dict) and, where given, the names of the
model's ``forward`` parameters, so it needs no framework: nothing heavy is imported here.

* An encoder-decoder (``is_encoder_decoder``) exports as :class:`~.config.Seq2SeqOnnxConfig`; its
  cache has the decoder's layers and heads, which encoder-decoder configs name their own way
  (``decoder_layers``, ``num_decoder_layers``, ``d_kv``...), so the family says where to read them.
* A causal language model exports as :class:`~.config.DecoderOnnxConfig`, without
  ``position_ids`` when its forward takes none (ALiBi models: bloom, mpt).
* Anything else with token ids exports as :class:`~.config.TextEncoderOnnxConfig`, with
  ``token_type_ids`` only where the model has a vocabulary of several token types.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any, Literal

from .config import (
    ENCODER_TASKS,
    DecoderOnnxConfig,
    OnnxConfig,
    Seq2SeqOnnxConfig,
    TextEncoderOnnxConfig,
    VisionOnnxConfig,
)
from .media_config import AudioOnnxConfig, ImageTextOnnxConfig, TimeSeriesOnnxConfig

FamilyName = Literal["text-encoder", "decoder", "seq2seq", "vision", "audio", "image-text", "time-series"]

#: The config class of each family, by the name the measured table uses.
FAMILY_CLASSES: Mapping[FamilyName, type[OnnxConfig]] = {
    "text-encoder": TextEncoderOnnxConfig,
    "decoder": DecoderOnnxConfig,
    "seq2seq": Seq2SeqOnnxConfig,
    "vision": VisionOnnxConfig,
    "audio": AudioOnnxConfig,
    "image-text": ImageTextOnnxConfig,
    "time-series": TimeSeriesOnnxConfig,
}

#: The tasks each family is asked to export where transformers has a head for them. A task here that
#: the family's config has no outputs for (:func:`missing_tasks`) is one a config addition would open.
HEAD_TASKS: Mapping[FamilyName, tuple[str, ...]] = {
    "text-encoder": (*ENCODER_TASKS, "image-classification"),  # images read as tokens (ImageGPT)
    "decoder": (
        "default",
        "default-with-past",
        "causal-lm",
        "causal-lm-with-past",
        "sequence-classification",
        "token-classification",
        "question-answering",
        "multiple-choice",
    ),
    "seq2seq": (
        "default",
        "default-with-past",
        "seq2seq-lm",
        "seq2seq-lm-with-past",
        "sequence-classification",
        "token-classification",
        "question-answering",
        "vision2seq-lm",
        "vision2seq-lm-with-past",
        "speech2seq-lm",
        "speech2seq-lm-with-past",
    ),
    "vision": VisionOnnxConfig.SUPPORTED_TASKS,
    "audio": AudioOnnxConfig.SUPPORTED_TASKS,
    "image-text": ImageTextOnnxConfig.SUPPORTED_TASKS,
    "time-series": TimeSeriesOnnxConfig.SUPPORTED_TASKS,
}

#: Config keys that mark a model which reads more than text (or wraps other configs): no text family.
NOT_TEXT_KEYS = frozenset(
    {
        "vision_config",
        "audio_config",
        "text_config",
        "speech_config",
        "vq_config",
        "codec_config",
        "encoder_config",
        "decoder_config",
        "encoder",  # t5gemma (the encoder-decoder composite of two text models is recognised first)
        "decoder",
        "audio_encoder",
        "text_encoder",
        "image_size",
        "patch_size",
        "num_mel_bins",
        "sampling_rate",
        "input_feat_per_channel",
        "flow_head_config",  # text-to-speech: the tokens drive an audio head
    }
)
#: Forward parameters of models fed with something else than token ids.
NOT_TEXT_INPUTS = frozenset(
    {"pixel_values", "input_features", "input_values", "pixel_values_videos", "image", "images", "visual_feats"}
)
#: Forward parameters of a document model that reads the page beside its text (LayoutLMv3): the tokens' boxes
#: and the page image.
PAGE_INPUTS = frozenset({"bbox", "pixel_values"})
#: Config keys of such a model's page image (its fixed ``input_size`` and patches): no sign of an image model.
PAGE_IMAGE_KEYS = frozenset({"input_size", "patch_size"})
#: Where a config may keep the decoder's sizes, most specific first (encoder-decoders name their
#: decoder's; the ``names`` option of :class:`~.config.NormalizedConfig` points at the one found).
SEQ2SEQ_NAMES: Mapping[str, tuple[str, ...]] = {
    "num_layers": ("decoder_layers", "num_decoder_layers", "decoder_num_layers", "decoder_num_hidden_layers"),
    "num_heads": ("decoder_attention_heads", "num_decoder_attention_heads", "decoder_num_attention_heads", "num_heads"),
    "num_kv_heads": ("decoder_num_key_value_heads",),
    "head_dim": ("d_kv", "decoder_head_dim"),
    "hidden_size": ("d_model",),
}
#: The same for decoder-only models whose attribute names the usual fallbacks miss (mpt, dbrx: ``n_layers``).
DECODER_NAMES: Mapping[str, tuple[str, ...]] = {
    "num_layers": ("n_layers",),
    "num_heads": ("n_heads",),
    "num_kv_heads": ("num_kv_heads", "n_head_kv"),
    "hidden_size": ("d_model",),
}
#: The cache argument of a decoder's forward (transformers 5: ``cache``; 4.x: ``past_key_values``).
CACHE_ARGUMENTS = frozenset({"cache", "past_key_values"})


@dataclass(frozen=True)
class Family:
    """How to export a text model: the config class and the keyword arguments it is built with."""

    config_class: type[OnnxConfig]
    options: dict[str, Any]
    name: FamilyName

    @property
    def tasks(self) -> tuple[str, ...]:
        """The tasks this family's config exports today (see :func:`family_tasks`)."""
        return family_tasks(self)

    def build(self, config: Any, task: str) -> OnnxConfig:
        """The export config of ``task`` for the model ``config``."""
        return self.config_class(config, task, **self.options)


def _keys(config: Mapping[str, Any] | object) -> set[str]:
    """The keys the config itself holds (a config.json's), not the aliases of a config class's attribute map."""
    if isinstance(config, Mapping):
        return set(config)
    to_dict = getattr(config, "to_dict", None)
    if callable(to_dict):
        return set(to_dict())
    return set(vars(config))


def _get(config: Mapping[str, Any] | object, name: str, default: Any = None) -> Any:
    if isinstance(config, Mapping):
        return config.get(name, default)
    return getattr(config, name, default)


def _first_present(keys: set[str], candidates: tuple[str, ...]) -> str | None:
    return next((name for name in candidates if name in keys), None)


def is_text_config(
    config: Mapping[str, Any] | object,
    model_forward_parameters: Collection[str] | None = None,
    *,
    page_image: bool = False,
) -> bool:
    """Whether the config describes a model fed with token ids only (no image, audio or nested text model).

    ``page_image``: the page image of a document model (:func:`reads_page_image`) does not count as an image.
    """
    keys = _keys(config) - (PAGE_IMAGE_KEYS if page_image else frozenset())
    if "vocab_size" not in keys or keys & NOT_TEXT_KEYS:
        return False
    if model_forward_parameters is None:
        return True
    parameters = set(model_forward_parameters) - ({"pixel_values"} if page_image else set())
    return "input_ids" in parameters and not parameters & NOT_TEXT_INPUTS


def reads_page_image(config: Mapping[str, Any] | object, parameters: Collection[str] | None) -> bool:
    """A document model reading token ids, their boxes and the page image of a fixed ``input_size`` (LayoutLMv3).

    Told from the forward (``bbox`` and ``pixel_values`` beside ``input_ids``) and the config (``input_size``);
    without the forward, no model is one.
    """
    if parameters is None:
        return False
    return PAGE_INPUTS | {"input_ids"} <= set(parameters) and "input_size" in _keys(config)


def _seq2seq_names(keys: set[str]) -> dict[str, str]:
    names = {}
    for common, candidates in SEQ2SEQ_NAMES.items():
        found = _first_present(keys, candidates)
        if found is not None:
            names[common] = found
    return names


def _decoder_names(keys: set[str]) -> dict[str, str]:
    """Names only where the usual fallbacks would find nothing in a plain config.json."""
    from .config import NormalizedConfig

    names = {}
    for common, candidates in DECODER_NAMES.items():
        if _first_present(keys, NormalizedConfig.FALLBACKS.get(common, ())) is not None:
            continue
        found = _first_present(keys, candidates)
        if found is not None:
            names[common] = found
    return names


def _token_type_ids(config: Mapping[str, Any] | object, parameters: Collection[str] | None) -> str:
    """``always`` with several token types, ``never`` with one (RoBERTa) or none, ``if-type-vocab`` where the
    type's default has none but its checkpoints may (DeBERTa: ``type_vocab_size`` 0 or 2)."""
    if parameters is not None and "token_type_ids" not in parameters:
        return "never"
    size = _get(config, "type_vocab_size")
    if not isinstance(size, int) or isinstance(size, bool):
        return "never"
    if size >= 2:
        return "always"
    return "if-type-vocab" if size == 0 else "never"


def _looks_causal(config: Mapping[str, Any] | object, parameters: Collection[str] | None) -> bool:
    """Without transformers' task table: the architectures a checkpoint names; else a cache and no token types
    (read from the forward where given, else from the config: ``use_cache`` without ``type_vocab_size``)."""
    architectures = _get(config, "architectures") or ()
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return True
    if any(a.endswith("ForMaskedLM") for a in architectures):
        return False
    if parameters is None:
        return bool(_get(config, "use_cache", False)) and "type_vocab_size" not in _keys(config)
    return bool(CACHE_ARGUMENTS & set(parameters)) and "token_type_ids" not in parameters


def text_family(
    config: Mapping[str, Any] | object,
    model_forward_parameters: Collection[str] | None = None,
    *,
    causal_lm: bool | None = None,
) -> Family | None:
    """The family that exports this text model and its options; ``None`` for a model that is not text.

    ``model_forward_parameters``: the names of the base model's ``forward`` parameters (they decide
    ``position_ids`` and ``token_type_ids``). ``causal_lm``: whether the model type is a causal
    language model first (transformers has a causal-LM head and no masked-LM head for it); when not
    given, the config's ``architectures`` and the forward parameters decide.
    """
    if _get(config, "model_type") == COMPOSITE_SEQ2SEQ:
        return _composite_seq2seq(config)
    if _get(config, "text_config") is not None:
        return _text_path(config, model_forward_parameters, causal_lm)
    page_image = reads_page_image(config, model_forward_parameters)
    if not is_text_config(config, model_forward_parameters, page_image=page_image):
        return None
    keys = _keys(config)
    parameters = None if model_forward_parameters is None else set(model_forward_parameters)
    if _get(config, "is_encoder_decoder", False):
        names = _seq2seq_names(keys)
        return Family(Seq2SeqOnnxConfig, {"names": names} if names else {}, "seq2seq")
    if causal_lm if causal_lm is not None else _looks_causal(config, parameters):
        return _decoder_family(keys, parameters)
    token_type_ids = _token_type_ids(config, parameters)
    encoder: dict[str, Any] = {} if token_type_ids == "always" else {"token_type_ids": token_type_ids}
    if parameters is not None and "bbox" in parameters:  # token boxes on a page (LayoutLM, LiLT)
        encoder["bbox"] = True
    if page_image:  # and the page itself (LayoutLMv3)
        encoder["page_image"] = True
    return Family(TextEncoderOnnxConfig, encoder, "text-encoder")


#: transformers' encoder-decoder made of two text models (``EncoderDecoderModel``: bert2bert, roberta2gpt2...).
COMPOSITE_SEQ2SEQ = "encoder-decoder"


def _composite_seq2seq(config: Mapping[str, Any] | object) -> Family | None:
    """The encoder-decoder family for an ``encoder-decoder`` config whose two parts are text models."""
    parts = [_get(config, part) for part in ("encoder", "decoder")]
    if any(part is None or not is_text_config(part) for part in parts):
        return None
    return Family(Seq2SeqOnnxConfig, {"sizes_from": "decoder"}, "seq2seq")  # the cache is the decoder's


def _text_path(
    config: Mapping[str, Any] | object, parameters: Collection[str] | None, causal_lm: bool | None
) -> Family | None:
    """The decoder family for a multimodal causal LM (Gemma 3 and 4, Qwen 3.5, Llama 4...) fed text alone.

    Its language model is a decoder whose sizes are in ``text_config``; the image (or audio) inputs of its
    forward are optional and left out, so the export is the text path: ids, mask, positions and cache.
    """
    text = _get(config, "text_config")
    if text is None or not is_text_config(text) or _get(text, "is_encoder_decoder", False):
        return None
    if _get(config, "is_encoder_decoder", False):  # an image encoder and a text decoder (Pix2Struct): no text path
        return None
    if parameters is not None and "input_ids" not in parameters:
        return None
    architectures = _get(config, "architectures") or ()
    generates = any(a.endswith(("ForConditionalGeneration", "ForCausalLM")) for a in architectures)
    if not (causal_lm if causal_lm is not None else generates):
        return None
    return _decoder_family(_keys(text), parameters, sizes_from="text_config")


def _decoder_family(keys: set[str], parameters: Collection[str] | None, **options: Any) -> Family:
    """The decoder family for a config with ``keys``: no ``position_ids`` where the forward takes none, the
    names of the sizes where the usual ones are missing."""
    if parameters is not None and "position_ids" not in parameters:
        options["position_ids"] = False
    names = _decoder_names(keys)
    if names:
        options["names"] = names
    return Family(DecoderOnnxConfig, options, "decoder")


#: The tasks an encoder-decoder type's standalone decoder (``BartForCausalLM``...) exports through the decoder family.
STANDALONE_DECODER_TASKS = ("causal-lm", "causal-lm-with-past")


def standalone_decoder_family(config: Mapping[str, Any] | object) -> Family:
    """The decoder family for the decoder half of an encoder-decoder, run alone as a causal LM.

    Its sizes are the decoder's (``decoder_layers``, ``decoder_attention_heads``, ``d_model``), which the
    config's generic names may not give (``num_hidden_layers`` is BART's encoder depth); it takes no
    ``position_ids`` (positions follow from the cache length).
    """
    names = _seq2seq_names(_keys(config))
    return Family(DecoderOnnxConfig, {"position_ids": False, **({"names": names} if names else {})}, "decoder")


#: A config that every family can be built from, to ask a config class which tasks it has outputs for.
_PROBE = SimpleNamespace(
    vocab_size=8, hidden_size=8, num_hidden_layers=1, num_attention_heads=1, type_vocab_size=2, d_model=8
)


@cache
def _exports(name: FamilyName, task: str) -> bool:
    """Whether the family's config class accepts ``task`` and defines the outputs of every file it exports."""
    try:
        built = FAMILY_CLASSES[name](_PROBE, task)
        for part in built.components().values():
            _ = part.outputs
    except Exception:  # UnsupportedTaskError, or outputs a config class does not define for the task
        return False
    return True


def family_tasks(family: Family | FamilyName) -> tuple[str, ...]:
    """The tasks of :data:`HEAD_TASKS` that the family's config class exports (has outputs for) today."""
    name = family if isinstance(family, str) else family.name
    return tuple(task for task in HEAD_TASKS[name] if _exports(name, task))


def missing_tasks(family: Family | FamilyName) -> tuple[str, ...]:
    """The tasks transformers may have a head for that the family's config cannot export yet."""
    name = family if isinstance(family, str) else family.name
    exported = family_tasks(name)
    return tuple(task for task in HEAD_TASKS[name] if task not in exported)


# --- images and sound ---------------------------------------------------------------------------------

#: Config keys of a waveform encoder's convolutional front end (wav2vec2 and its kin).
WAVEFORM_KEYS = frozenset({"conv_dim", "conv_kernel", "conv_stride"})


def media_family(
    config: Mapping[str, Any] | object,
    model_forward_parameters: Collection[str] | None = None,
    *,
    dual_encoder: bool | None = None,
) -> Family | None:
    """The family that exports an image, audio or image-text model, decided on its config and forward.

    * a dual encoder of texts and images (``input_ids`` and ``pixel_values``, a ``text_config`` and a
      ``vision_config``): the image-text family, with the text tower's own inputs. ``dual_encoder``: whether
      the type scores texts against images (transformers files it under zero-shot image classification);
      when not given, a learnt logit scale in the config says so. A multimodal LLM is neither;
    * ``input_values`` of a spectrogram (``max_length`` frames of ``num_mel_bins``: AST) or of a waveform;
    * ``pixel_values`` alone: the vision family, image size fixed (the walk measures which types take any);
    * ``flattened_patches`` read by an encoder-decoder (Pix2Struct: a ``vision_config`` with a patch width, a
      T5-like ``text_config`` decoder): the encoder-decoder family, reading patches.
    """
    keys = _keys(config)
    if _get(config, "model_type") == COMPOSITE_VISION_SEQ2SEQ:
        return _vision_seq2seq(config)
    if _get(config, "model_type") == COMPOSITE_SPEECH_SEQ2SEQ:  # a wav2vec2-like encoder and a text decoder
        decoder = _get(config, "decoder")
        if decoder is None or not is_text_config(decoder):
            return None
        return Family(Seq2SeqOnnxConfig, {"speech": "waveform", "sizes_from": "decoder"}, "seq2seq")
    parameters = set(model_forward_parameters) if model_forward_parameters is not None else None
    if parameters is None:  # from the config alone (a model type no table names)
        parameters = set()
        if _reads_patches(config):
            parameters.add("flattened_patches")
        elif {"text_config", "vision_config"} <= keys:
            parameters |= {"input_ids", "pixel_values", "attention_mask"}
        elif keys >= WAVEFORM_KEYS or {"max_length", "num_mel_bins"} <= keys:
            parameters.add("input_values")
        elif {"image_size", "num_channels"} & keys:
            parameters.add("pixel_values")
        elif {"context_length", "num_input_channels"} <= keys:
            parameters.add("past_values")
    if "past_values" in parameters and {"context_length", "num_input_channels"} <= keys:
        return Family(TimeSeriesOnnxConfig, {}, "time-series")
    if "flattened_patches" in parameters:  # an encoder-decoder reads them (a multimodal LLM, Kosmos-2.5: no family)
        return _patches_seq2seq(config) if _reads_patches(config) else None
    if dual_encoder is None:
        dual_encoder = "logit_scale_init_value" in keys
    if {"text_config", "vision_config"} <= keys and not dual_encoder:
        return None  # an image-text model that is not a dual encoder: a multimodal LLM, a captioner...
    if {"input_ids", "pixel_values"} <= parameters and {"text_config", "vision_config"} <= keys:
        options: dict[str, Any] = {}
        if "attention_mask" not in parameters:
            options["attention_mask"] = False
        if "token_type_ids" in parameters:
            options["token_type_ids"] = True
        return Family(ImageTextOnnxConfig, options, "image-text")
    if "input_values" in parameters and _get(config, "is_encoder_decoder", False):  # Moonshine: a waveform in
        names = _seq2seq_names(keys)
        return Family(Seq2SeqOnnxConfig, {"speech": "waveform", **({"names": names} if names else {})}, "seq2seq")
    if "input_values" in parameters:
        if {"max_length", "num_mel_bins"} <= keys:
            return Family(AudioOnnxConfig, {"audio_input": "spectrogram"}, "audio")
        return Family(AudioOnnxConfig, {}, "audio")
    if "pixel_values" in parameters and "input_ids" not in parameters:
        return Family(VisionOnnxConfig, {"dynamic_size": False}, "vision")
    return None


#: transformers' speech-to-text model made of two (``SpeechEncoderDecoderModel``: wav2vec2 + BERT or GPT-2).
COMPOSITE_SPEECH_SEQ2SEQ = "speech-encoder-decoder"
#: transformers' image-to-text model made of two (``VisionEncoderDecoderModel``: ViT + GPT-2, TrOCR, Donut...).
COMPOSITE_VISION_SEQ2SEQ = "vision-encoder-decoder"


def _vision_seq2seq(config: Mapping[str, Any] | object) -> Family | None:
    """The encoder-decoder family reading an image, for a vision encoder and a text decoder."""
    decoder = _get(config, "decoder")
    if decoder is None or _get(config, "encoder") is None or not is_text_config(decoder):
        return None
    return Family(Seq2SeqOnnxConfig, {"vision": True, "sizes_from": "decoder"}, "seq2seq")


def _reads_patches(config: Mapping[str, Any] | object) -> bool:
    """Whether an encoder-decoder's vision config has a patch width (Pix2Struct's ``patch_embed_hidden_size``):
    its encoder reads flattened patches, not ``pixel_values``."""
    vision = _get(config, "vision_config")
    return (
        bool(_get(config, "is_encoder_decoder", False))
        and vision is not None
        and _get(vision, "patch_embed_hidden_size") is not None
    )


def _patches_seq2seq(config: Mapping[str, Any] | object) -> Family | None:
    """The encoder-decoder family reading flattened patches, its decoder's sizes in ``text_config`` (T5's names)."""
    text = _get(config, "text_config")
    if text is None or _get(config, "vision_config") is None or "vocab_size" not in _keys(text):
        return None
    names = _seq2seq_names(_keys(text))
    options: dict[str, Any] = {"vision": "patches", "sizes_from": "text_config"}
    return Family(Seq2SeqOnnxConfig, {**options, **({"names": names} if names else {})}, "seq2seq")


def vision_head_of_dual_encoder() -> Family:
    """The vision family for an image head on a dual encoder's vision tower (``CLIPForImageClassification``):
    ``pixel_values`` of the vision config's fixed ``image_size``."""
    return Family(VisionOnnxConfig, {"dynamic_size": False}, "vision")
