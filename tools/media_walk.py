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
    # DETR's segmenter and the universal ones (MaskFormer, Mask2Former): the pt plugin loads both kinds
    "image-segmentation": "MODEL_FOR_UNIVERSAL_SEGMENTATION_MAPPING_NAMES",
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
    family = config_family(model_type)
    if family is None:
        return None
    parameters = forward_parameters(model_type, _base_task(model_type))
    if family.name == "vision" and not fixed_size(model_type) and takes_any_size(model_type):
        family = replace(family, options={**family.options, "dynamic_size": True})
    if model_type in MIN_OPSET:
        family = replace(family, options={**family.options, "min_opset": MIN_OPSET[model_type]})
    if family.name == "vision" and "noise" in parameters and masks_by_noise(model_type):
        family = replace(family, options={**family.options, "masking_noise": True})
    if family.name == "vision" and classifies_mask_queries(model_type):
        family = replace(family, options={**family.options, "mask_queries": True})
    return family


@cache
def config_family(model_type: str) -> Family | None:
    """The family :func:`~modelexport_onnx.families.media_family` reads off the default config and the base
    model's forward, before the walk measures its options (nothing is built)."""
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
    return media_family(config, parameters, dual_encoder=dual_encoder)


@cache
def masks_by_noise(model_type: str) -> bool:
    """Whether the type's base model hides patches ranked by the ``noise`` it takes (ViT-MAE; Hiera's base model
    takes noise too but masks only in pre-training): two noises, two answers."""
    import torch

    try:
        model = build_model(model_type, "default")
        height, width = _pixels(model.config.image_size)
        patch_height, patch_width = _pixels(model.config.patch_size)
        patches = (height // patch_height) * (width // patch_width)
        pixel_values = torch.randn(1, int(model.config.num_channels), height, width)
        with torch.no_grad():
            first, second = (model(pixel_values=pixel_values, noise=torch.rand(1, patches))[0] for _ in range(2))
    except Exception:
        return False
    return first.shape != second.shape or not torch.equal(first, second)


def _pixels(size: Any) -> tuple[int, int]:
    """Height and width of a size given as one number or two."""
    return (int(size[0]), int(size[1])) if isinstance(size, (list, tuple)) else (int(size), int(size))


def classifies_mask_queries(model_type: str) -> bool:
    """Whether the type's segmenter classifies a mask per query (MaskFormer): it trains on ``mask_labels``
    and ``class_labels``, where DETR's trains on boxes (``labels``)."""
    if model_type not in mapping("image-segmentation"):
        return False
    try:
        return "mask_labels" in forward_parameters(model_type, "image-segmentation")
    except Exception:  # a class this transformers cannot import
        return False


def family_for(model_type: str, task: str) -> Family | None:
    """The family one pair exports through: the type's; a dual encoder's image classifier (CLIP's) reads its
    vision tower alone, through the vision family."""
    from modelexport_onnx.families import vision_head_of_dual_encoder

    family = family_of(model_type)
    if family is not None and family.name == "image-text" and task not in family.tasks:
        return vision_head_of_dual_encoder()
    if family is None and task != "default":
        return image_head_of_text_type(model_type, task)
    return family


def image_head_of_text_type(model_type: str, task: str) -> Family | None:
    """The vision family for an image head of a type the text walk owns (Perceiver reads tokens, and images with
    ``PerceiverForImageClassificationLearned``): the head's class takes ``pixel_values``, at the config's size."""
    from modelexport_onnx.config import VisionOnnxConfig
    from modelexport_onnx.families import Family

    if task not in VisionOnnxConfig.SUPPORTED_TASKS:
        return None
    try:
        reads_pixels = "pixel_values" in forward_parameters(model_type, task)
    except Exception:  # a class that cannot be imported here
        return None
    text = reads_pixels and text_walk.family_of(model_type) is not None
    return Family(VisionOnnxConfig, {"dynamic_size": False}, "vision") if text else None


def row_family(model_type: str) -> Family | None:
    """The family of a type's row in the table: the type's, else (a text type's image heads) its first head's."""
    return family_of(model_type) or next(
        (family for task in head_tasks(model_type) if (family := family_for(model_type, task)) is not None), None
    )


def media_model_types() -> list[str]:
    """Every model type of the walk's mappings whose config and forward fit an image, audio or image-text family,
    and the text types with an image head."""
    types = set().union(*(mapping(task) for task in TASKS if task != "default"))
    types |= {t for t in mapping("default") if _looks_media(t)}
    return sorted(t for t in types if row_family(t) is not None)


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
#: Widths of a convolutional stem whose first entry is the image's channels (HGNet's ``[3, 32, 48]``): that one
#: kept, the others shrunk as :data:`WIDTH_LISTS` (the last one is the first stage's input).
STEM_LISTS = frozenset({"stem_channels"})
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
    # its mask head reads the encoder's states with one channel per attention head: d_model + heads, a multiple of 8
    "detr": {"encoder_attention_heads": 8},
    # detectors that keep the encoder's top-k anchors as queries: their batch norms' weights are drawn with
    # initializer_range, and at 0.02 a tiny backbone's features fade to one value, every anchor scores the same and
    # PyTorch and onnxruntime break the ties of the top-k differently. Above it the scores part (measured: from
    # about 0.12); much above, the random boxes saturate and float32 rounding grows past the tolerance
    "rt_detr": {"initializer_range": 0.2},
    "rt_detr_v2": {"initializer_range": 0.2},
    "d_fine": {"initializer_range": 0.13},
    "deimv2": {"initializer_range": 0.13},
    # their HGNet backbone alone: at 0.02 the classifier's logits fade to 1e-19, which any export matches
    "hgnet_v2": {"initializer_range": 0.2},
    # the queries join the last num_blocks layers: within the tiny depth
    "eomt": {"num_blocks": 1},
    "eomt_dinov3": {"num_blocks": 1},
}
#: Types PyTorch runs at any image size whose export still freezes it (the walk's validation at another size
#: failed on a reshape of the traced size): exported at their config's image size.
FIXED_SIZE = frozenset(
    {"mobilevit", "donut-swin", "swin", "swinv2", "depth_anything", "data2vec-vision", "beit", "maskformer-swin"}
    | {"rt_detr", "rt_detr_v2", "deformable_detr"}  # anchors and sampling offsets of the traced feature maps
)


def fixed_size(model_type: str) -> bool:
    """Whether the type, or the backbone it reads the image with (MaskFormer's Swin), is in :data:`FIXED_SIZE`."""
    backbone = getattr(default_config(model_type), "backbone_config", None)
    return model_type in FIXED_SIZE or getattr(backbone, "model_type", None) in FIXED_SIZE


#: The opset a type's operators need (``grid_sample``: 16; ``col2im``: 18), where it is above the default.
MIN_OPSET: Mapping[str, int] = {
    "rt_detr": 16,
    "rt_detr_v2": 16,
    "d_fine": 16,
    "deimv2": 16,
    "deformable_detr": 16,
    "mask2former": 16,  # multi-scale deformable attention
    "mobilevitv2": 18,
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _tiny_width(width: int) -> int:
    """A width divided by :data:`WIDTH_DIVISOR`, rounded up to a multiple of 8."""
    return -(-max(8, width // WIDTH_DIVISOR) // 8) * 8


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
    for name in WIDTH_LISTS | STEM_LISTS:
        value = values.get(name)
        if isinstance(value, (list, tuple)) and value and all(_is_int(v) for v in value):
            widths = [_tiny_width(v) for v in value]
            kwargs[name] = [value[0], *widths[1:]] if name in STEM_LISTS else widths
    patch, size = values.get("patch_size"), values.get("image_size")
    # hierarchical models halve the token grid at every stage: room for each
    stages = len(values["depths"]) if isinstance(values.get("depths"), (list, tuple)) else 0
    side = max(PATCHES_PER_SIDE, 2**stages)
    if _is_int(patch) and _is_int(size) and size > side * patch:
        kwargs["image_size"] = side * patch
    elif isinstance(patch, (list, tuple)) and isinstance(size, (list, tuple)) and len(patch) == len(size):
        kwargs["image_size"] = [min(int(s), side * int(p)) for s, p in zip(size, patch, strict=True)]
    stride, unit = values.get("patch_stride"), values.get("masked_unit_size")
    if "image_size" in kwargs and isinstance(stride, (list, tuple)) and isinstance(unit, (list, tuple)):
        # Hiera: the token grid (image / patch_stride) is tiled by mask units: whole units per side
        sides = [int(s) * int(u) for s, u in zip(stride, unit, strict=True)]
        tiled = zip(kwargs["image_size"], sides, strict=True)
        kwargs["image_size"] = [max(side, int(size) // side * side) for size, side in tiled]
    kwargs.update(_tiny_backbone_outputs(values, kwargs))
    kwargs.update(_tiny_head_dim(values, kwargs))
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


def _tiny_head_dim(values: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A ``head_dim`` that still splits the width across the tiny number of heads.

    A config that names its heads' width (D-FINE: ``head_dim`` 32 with 8 decoder heads of a ``d_model`` of 256)
    checks that heads times ``head_dim`` is the width; the heads the walk shrank get the width's share.
    """
    head_dim: Any = values.get("head_dim")
    if not _is_int(head_dim):
        return {}
    for heads in ("num_attention_heads", "decoder_attention_heads", "encoder_attention_heads"):
        for width in ("hidden_size", "d_model"):
            old_heads: Any = values.get(heads)
            old_width: Any = values.get(width)
            if not (_is_int(old_heads) and _is_int(old_width)) or old_heads * head_dim != old_width:
                continue
            new_heads, new_width = kwargs.get(heads, old_heads), kwargs.get(width, old_width)
            if new_width % new_heads == 0:
                return {"head_dim": new_width // new_heads}
    return {}


def _tiny_backbone_outputs(values: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Which layers a ViT-like backbone hands on, renumbered for the tiny depth: as many as before, the last ones.

    A backbone names its outputs by layer (``out_indices``, ``out_features``: ``stage12``; DPT's
    ``backbone_out_indices``); with fewer layers the same count of outputs is kept, the depth raised to hold them.
    """
    layers: Any = kwargs.get("num_hidden_layers")
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
    if config_family(model_type) is None and text_walk.family_of(model_type) is not None:
        return text_walk.tiny_config(model_type)  # a text type's image head (Perceiver's): the text walk's tiny model
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
    row_family,
    family_for,
    build_model,
    TABLE,
    FAILURES,
    no_family="no image, audio or image-text family",
)

if __name__ == "__main__":
    sys.exit(text_walk.main(domain=DOMAIN))
