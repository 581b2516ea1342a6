"""Measure which image, audio and image-text ``(model type, task)`` pairs export to ONNX and validate.

``python tools/media_walk.py`` rewrites ``packages/onnx-backend/src/modelexport_onnx/media_architectures.json``
and ``tools/media_walk_failures.json``, as ``tools/text_walk.py`` does for text (whose machinery runs the pairs:
one process each, two at a time, under a timeout).

For every model type of transformers' auto mappings of image, audio and image-text tasks, a tiny random
model is built per task (:func:`tiny_config`: the type's own config class, sizes shrunk generically, nested
configs too), exported through the family :func:`modelexport_onnx.families.media_family` picks, and validated
against PyTorch on other shapes: another batch size, and another image size or number of samples where the
export keeps them dynamic.

Whether an image model takes any image size is measured too (:func:`takes_any_size`): PyTorch runs the tiny
model on an image 32 pixels larger than its config's. Where it does, the export keeps height and width
dynamic and validation checks them at another size; where it does not, they are fixed to ``image_size``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import text_walk
from text_walk import Domain

if TYPE_CHECKING:
    from modelexport_onnx.families import Family

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "packages" / "onnx-backend" / "src" / "modelexport_onnx" / "media_architectures.json"
FAILURES = ROOT / "tools" / "media_walk_failures.json"
SEED = 0

#: Canonical base task -> the transformers auto mapping that says a model type has a head for it.
TASK_MAPPINGS: Mapping[str, str] = {
    "default": "MODEL_MAPPING_NAMES",
    "image-classification": "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "masked-im": "MODEL_FOR_MASKED_IMAGE_MODELING_MAPPING_NAMES",
    "object-detection": "MODEL_FOR_OBJECT_DETECTION_MAPPING_NAMES",
    "semantic-segmentation": "MODEL_FOR_SEMANTIC_SEGMENTATION_MAPPING_NAMES",
    "depth-estimation": "MODEL_FOR_DEPTH_ESTIMATION_MAPPING_NAMES",
    "image-to-image": "MODEL_FOR_IMAGE_TO_IMAGE_MAPPING_NAMES",
    "keypoint-detection": "MODEL_FOR_POSE_ESTIMATION_MAPPING_NAMES",
    "audio-ctc": "MODEL_FOR_CTC_MAPPING_NAMES",
    "audio-classification": "MODEL_FOR_AUDIO_CLASSIFICATION_MAPPING_NAMES",
    "audio-frame-classification": "MODEL_FOR_AUDIO_FRAME_CLASSIFICATION_MAPPING_NAMES",
    "audio-xvector": "MODEL_FOR_AUDIO_XVECTOR_MAPPING_NAMES",
    "zero-shot-image-classification": "MODEL_FOR_ZERO_SHOT_IMAGE_CLASSIFICATION_MAPPING_NAMES",
    "zero-shot-object-detection": "MODEL_FOR_ZERO_SHOT_OBJECT_DETECTION_MAPPING_NAMES",
    "time-series-forecasting": "MODEL_FOR_TIME_SERIES_PREDICTION_MAPPING_NAMES",
    # image-to-text: transformers 5 files it with the multimodal LLMs (which fit no family here)
    "vision2seq-lm": "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
    "vision2seq-lm-with-past": "MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES",
    # speech recognisers reading a waveform (Moonshine); Whisper and speech_to_text are hand-written rows
    "speech2seq-lm": "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
    "speech2seq-lm-with-past": "MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES",
}
#: Composite types and the types of their parts (an image encoder, a text decoder).
COMPOSITE_PARTS: Mapping[str, tuple[str, str]] = {
    "vision-encoder-decoder": ("vit", "gpt2"),
    "speech-encoder-decoder": ("wav2vec2", "gpt2"),
}
#: Heads that no auto mapping lists (transformers loads them by their class): per task, type -> class.
UNMAPPED_HEADS: Mapping[str, Mapping[str, str]] = {
    "time-series-forecasting": {"patchtst": "PatchTSTForPrediction", "patchtsmixer": "PatchTSMixerForPrediction"},
}
#: Tasks whose model types score texts against images (a dual encoder: the image-text family).
DUAL_ENCODER_TASKS = ("zero-shot-image-classification", "zero-shot-object-detection")
#: Every task the walk knows, in the order the table lists them.
TASKS: tuple[str, ...] = tuple(TASK_MAPPINGS)


def mapping(task: str) -> Mapping[str, Any]:
    from transformers.models.auto import modeling_auto

    mapping: Mapping[str, Any] = getattr(modeling_auto, TASK_MAPPINGS[task], {})
    return {**mapping, **UNMAPPED_HEADS.get(task, {})}


def model_class(model_type: str, task: str) -> Any:
    """The transformers class of ``task`` for ``model_type`` (its auto mapping's first)."""
    import transformers

    name = mapping(task)[model_type]
    return getattr(transformers, str(name if isinstance(name, str) else name[0]))


def head_tasks(model_type: str) -> tuple[str, ...]:
    """The tasks of :data:`TASKS` transformers has a class for (the base model: ``default``)."""
    return tuple(task for task in TASKS if model_type in mapping(task))


@cache
def default_config(model_type: str) -> Any:
    if model_type in COMPOSITE_PARTS:
        encoder, decoder = COMPOSITE_PARTS[model_type]
        return text_walk.composite_config(model_type, default_config(encoder), text_walk.default_config(decoder))
    return text_walk.default_config(model_type)


@cache
def forward_parameters(model_type: str, task: str) -> tuple[str, ...]:
    """The ``forward`` parameters of the type's class for ``task`` (read from the class: nothing is built)."""
    import inspect

    return tuple(n for n in inspect.signature(model_class(model_type, task).forward).parameters if n != "self")


def _base_task(model_type: str) -> str:
    """The task whose class decides the type's family: the base model's, else the first head's."""
    return "default" if model_type in mapping("default") else head_tasks(model_type)[0]


@cache
def family_of(model_type: str) -> Family | None:
    """The export family of a model type, on its default config and its base model's forward."""
    from modelexport_onnx.families import media_family, text_family

    try:
        config = default_config(model_type)
        parameters = forward_parameters(model_type, _base_task(model_type))
    except Exception:  # a config or class that cannot be made here (a missing extra library)
        return None
    if text_family(config, parameters) is not None:
        return None  # text: the text walk's
    # a type filed under zero-shot tasks is a dual encoder; elsewhere its config says (a learnt logit scale)
    dual_encoder = any(model_type in mapping(task) for task in DUAL_ENCODER_TASKS) or None
    family = media_family(config, parameters, dual_encoder=dual_encoder)
    if family is None:
        return None
    if family.name == "vision" and model_type not in FIXED_SIZE and takes_any_size(model_type):
        family = replace(family, options={**family.options, "dynamic_size": True})
    if model_type in MIN_OPSET:
        family = replace(family, options={**family.options, "min_opset": MIN_OPSET[model_type]})
    return family


def family_for(model_type: str, task: str) -> Family | None:
    """The family one pair exports through: the type's; a dual encoder's image classifier (CLIP's) reads its
    vision tower alone, through the vision family."""
    from modelexport_onnx.families import vision_head_of_dual_encoder

    family = family_of(model_type)
    if family is not None and family.name == "image-text" and task not in family.tasks:
        return vision_head_of_dual_encoder()
    return family


def media_model_types() -> list[str]:
    """Every model type of the walk's mappings whose config and forward fit an image, audio or image-text family."""
    types = set().union(*(mapping(task) for task in TASKS if task != "default"))
    types |= {t for t in mapping("default") if _looks_media(t)}
    return sorted(t for t in types if family_of(t) is not None)


def _looks_media(model_type: str) -> bool:
    """A cheap look at a base model's config before its forward is read: images, sound or both."""
    try:
        keys = set(default_config(model_type).to_dict())
    except Exception:
        return False
    return bool(keys & {"image_size", "num_channels", "conv_dim", "num_mel_bins", "vision_config"})


# --- tiny configs -----------------------------------------------------------------------------------

#: Scalar size fields -> tiny value.
TINY_SCALARS: Mapping[str, int] = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 37,
    "projection_dim": 32,  # as wide as the towers (OWL-ViT's box head reads both)
    "embed_dim": 16,
    "num_conv_pos_embeddings": 16,
    "num_conv_pos_embedding_groups": 4,
    "xvector_output_dim": 16,
    "classifier_proj_size": 16,
    "codevector_dim": 16,
    "proj_codevector_dim": 16,
    "output_hidden_size": 32,
    "vocab_size": 99,
    "max_position_embeddings": 64,
    "num_labels": 3,
    **dict.fromkeys(("encoder_num_hidden_layers", "decoder_num_hidden_layers"), 2),
    **dict.fromkeys(("encoder_num_attention_heads", "decoder_num_attention_heads"), 4),
    **dict.fromkeys(("encoder_num_key_value_heads", "decoder_num_key_value_heads"), 4),
    # encoder-decoders named the BART way (SpeechT5)
    **dict.fromkeys(("encoder_layers", "decoder_layers"), 2),
    **dict.fromkeys(("encoder_attention_heads", "decoder_attention_heads"), 4),
    **dict.fromkeys(("encoder_ffn_dim", "decoder_ffn_dim"), 37),
    "projection_size": 32,  # SigLIP's text head: as wide as the image embeddings (the vision hidden size)
    "num_queries": 10,  # detectors: fewer queries than the anchors of a tiny image
    "num_groups": 8,  # group norms over the tiny widths (multiples of 8)
    "window_size": 2,  # windowed attention (Swin): windows inside the tiny token grids
    # DPT-style necks reading a ViT backbone (Depth Anything): as wide as the tiny backbone
    "reassemble_hidden_size": 32,
    "fusion_hidden_size": 16,
    "head_hidden_size": 16,
}
#: Per-stage lists -> a tiny value for every stage (the number of stages is the architecture's).
TINY_LISTS: Mapping[str, int] = {
    "depths": 1,
    "num_heads": 1,
    "num_attention_heads": 1,  # per stage (PVT, GLPN)
    "conv_dim": 32,
    "tdnn_dim": 32,
}
#: Per-stage widths: divided by this, rounded up to a multiple of 8 (a real model's proportions between stages kept).
WIDTH_LISTS = frozenset(
    {
        "hidden_sizes",
        "embed_dims",
        "neck_hidden_sizes",
        # HGNet's stages (D-FINE's backbone), and the detector encoder reading the backbone's last stages
        "stage_in_channels",
        "stage_mid_channels",
        "stage_out_channels",
        "encoder_in_channels",
    }
)
WIDTH_DIVISOR = 16
#: Images: this many patches per side, at the type's own patch size.
PATCHES_PER_SIDE = 4
#: Per model type, what the generic shrinking gets wrong (keyword arguments of the config class).
OVERRIDES: Mapping[str, Mapping[str, Any]] = {
    # its segmentation head reads four backbone stages
    "beit": {"num_hidden_layers": 4, "out_indices": [1, 2, 3, 4], "out_features": None},
    "data2vec-vision": {"num_hidden_layers": 4, "out_indices": [1, 2, 3, 4], "out_features": None},
    # T5-like attention: hidden_size is num_heads x d_kv in both towers; patches of 4 x 4 pixels x 3 channels
    "pix2struct": {
        "text_config": {"num_heads": 4, "d_kv": 8},
        "vision_config": {"d_kv": 8, "patch_embed_hidden_size": 48},
    },
}
#: Types PyTorch runs at any image size whose export still freezes it (the walk's validation at another size
#: failed on a reshape of the traced size): exported at their config's image size.
FIXED_SIZE = frozenset(
    {"mobilevit", "donut-swin", "swin", "swinv2", "depth_anything", "data2vec-vision", "beit", "maskformer-swin"}
    | {"rt_detr", "rt_detr_v2", "deformable_detr"}  # anchors and sampling offsets of the traced feature maps
)
#: The opset a type's operators need (``grid_sample``: 16; ``col2im``: 18), where it is above the default.
MIN_OPSET: Mapping[str, int] = {
    "rt_detr": 16,
    "rt_detr_v2": 16,
    "d_fine": 16,
    "deformable_detr": 16,
    "mobilevitv2": 18,
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tiny_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments that make one (part of a) config tiny."""
    kwargs: dict[str, Any] = {}
    for name, tiny in TINY_SCALARS.items():
        if _is_int(values.get(name)) and values[name] > tiny:
            kwargs[name] = tiny
    if "vocab_size" in values and values["vocab_size"] is None:  # a CTC head needs its vocabulary's size
        kwargs["vocab_size"] = 32
    for name, tiny in TINY_LISTS.items():
        value = values.get(name)
        if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
            kwargs[name] = [tiny] * len(value)
    for name in WIDTH_LISTS:
        value = values.get(name)
        if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
            kwargs[name] = [-(-max(8, v // WIDTH_DIVISOR) // 8) * 8 for v in value]
    patch, size = values.get("patch_size"), values.get("image_size")
    # hierarchical models halve the token grid at every stage: room for each
    stages = len(values["depths"]) if isinstance(values.get("depths"), (list, tuple)) else 0
    side = max(PATCHES_PER_SIDE, 2**stages)
    if _is_int(patch) and _is_int(size) and size > side * patch:
        kwargs["image_size"] = side * patch
    elif isinstance(patch, (list, tuple)) and isinstance(size, (list, tuple)) and len(patch) == len(size):
        kwargs["image_size"] = [min(int(s), side * int(p)) for s, p in zip(size, patch, strict=True)]
    kwargs.update(_tiny_backbone_outputs(values, kwargs))
    backbone = values.get("backbone_config")
    timm = isinstance(backbone, Mapping) and backbone.get("model_type") == "timm_backbone"
    if values.get("use_timm_backbone") or timm:  # a timm backbone needs timm: transformers' own ResNet instead
        kwargs.update(TRANSFORMERS_BACKBONE)
    if values.get("num_input_channels") == 1 and "context_length" in values:
        kwargs["num_input_channels"] = 3  # a multivariate series: one channel would hide a frozen channel axis
    if _is_int(values.get("num_mel_bins")) and _is_int(values.get("max_length")):  # a spectrogram's size
        kwargs["max_length"] = min(int(values["max_length"]), 64)
    for name, value in values.items():  # nested configs (the towers of CLIP, a backbone) shrink the same way
        if name in kwargs:
            continue
        if isinstance(value, Mapping) and name.endswith("_config") and "model_type" in value:
            kwargs[name] = {**value, **_tiny_values(value)}
    return kwargs


#: A tiny ResNet backbone for detectors whose default backbone is timm's (DETR and its kin).
TRANSFORMERS_BACKBONE: Mapping[str, Any] = {
    "use_timm_backbone": False,
    "use_pretrained_backbone": False,
    "backbone": None,
    "backbone_config": {
        "model_type": "resnet",
        "embedding_size": 8,
        "hidden_sizes": [8, 8, 16, 16],
        "depths": [1, 1, 1, 1],
        "out_features": ["stage1", "stage2", "stage3", "stage4"],
    },
}


def _tiny_backbone_outputs(values: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Which layers a ViT-like backbone hands on, renumbered for the tiny depth: as many as before, the last ones.

    A backbone names its outputs by layer (``out_indices``, ``out_features``: ``stage12``; DPT's
    ``backbone_out_indices``); with fewer layers the same count of outputs is kept, the depth raised to hold them.
    """
    layers = kwargs.get("num_hidden_layers")
    if not _is_int(layers):
        return {}
    tiny: dict[str, Any] = {}
    for name in ("out_indices", "backbone_out_indices"):
        indices = values.get(name)
        if isinstance(indices, (list, tuple)) and indices and all(_is_int(i) for i in indices):
            count = len(indices)
            depth = max(int(layers), count)
            tiny["num_hidden_layers"] = depth
            if "stage_names" in values:
                tiny["stage_names"] = ["stem", *(f"stage{i}" for i in range(1, depth + 1))]
            first = 0 if name == "backbone_out_indices" else 1  # DPT counts layers from 0, backbones from 1
            tiny[name] = list(range(first + depth - count, first + depth))
            if name == "out_indices":
                tiny["out_features"] = None
    features = values.get("out_features")
    if "out_indices" not in tiny and isinstance(features, (list, tuple)) and features:
        tiny["out_features"] = None
        tiny["out_indices"] = [int(layers)]
    if "stage_names" in values and "stage_names" not in tiny:
        tiny["stage_names"] = ["stem", *(f"stage{i}" for i in range(1, int(layers) + 1))]
    return tiny


def tiny_config(model_type: str) -> Any:
    """The type's config class with its sizes shrunk (hidden 32, 2 layers, 4 heads, few channels...)."""
    if model_type in COMPOSITE_PARTS:
        encoder, decoder = COMPOSITE_PARTS[model_type]
        return text_walk.composite_config(model_type, tiny_config(encoder), text_walk.tiny_config(decoder))
    config = default_config(model_type)
    kwargs = _tiny_values(config.to_dict())
    for name, value in OVERRIDES.get(model_type, {}).items():  # a nested config's overrides amend its tiny values
        nested = kwargs.get(name)
        kwargs[name] = {**nested, **value} if isinstance(nested, Mapping) and isinstance(value, Mapping) else value
    values = {**copy.deepcopy(config.to_dict()), **kwargs}
    values.pop("model_type", None)
    return type(config)(**values)


def build_model(model_type: str, task: str) -> Any:
    """A tiny random model of ``task``'s class, with the tests' fixed seed, in eval mode."""
    import torch

    torch.manual_seed(SEED)
    return model_class(model_type, task)(tiny_config(model_type)).eval()


@cache
def takes_any_size(model_type: str) -> bool:
    """Whether PyTorch runs the type's tiny model on an image 32 pixels larger than its config's ``image_size``."""
    import torch
    from modelexport_onnx.config import NormalizedConfig, image_size

    try:
        model = build_model(model_type, _base_task(model_type))
        normalized = NormalizedConfig(model.config, part="vision_config")
        height, width = image_size(normalized)
        channels = int(normalized.get("num_channels") or 3)
        with torch.no_grad():
            model(pixel_values=torch.randn(1, channels, height + 32, width + 32))
    except Exception:
        return False
    return True


#: The media walk.
DOMAIN = Domain(
    "media_walk",
    __doc__.splitlines()[0],
    TASKS,
    media_model_types,
    head_tasks,
    family_of,
    family_for,
    build_model,
    TABLE,
    FAILURES,
    no_family="no image, audio or image-text family",
)

if __name__ == "__main__":
    sys.exit(text_walk.main(domain=DOMAIN))
