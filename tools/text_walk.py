"""Measure which text ``(model type, task)`` pairs export to ONNX and validate: the registry's text table.

``python tools/text_walk.py`` rewrites ``packages/onnx-backend/src/modelexport_onnx/text_architectures.json``
(what the registry advertises beyond the hand-written rows) and ``tools/text_walk_failures.json`` (what
did not make it, and why). Nothing in the table is claimed: every pair in it was exported and checked.

For every text model type of transformers' auto mappings, a tiny random model is built per task with
a fixed seed (:func:`tiny_config`: the type's own config class, sizes shrunk generically), exported
through the family :func:`modelexport_onnx.families.text_family` picks for the type, and checked as the
registry walk test checks it: input and output names, validation against PyTorch on other shapes (within
the derived bounds and within the config's ``atol``), an empty first cache for decoders, and 20 greedy
tokens against PyTorch's ``generate`` for ``-with-past`` language models.

Each pair runs in a process of its own (forked from a server that imported torch once), two at a time,
under a timeout: a hang, a crash or a leak of one model cannot stall, kill or skew the walk.
"""

from __future__ import annotations

import argparse
import copy
import inspect
import json
import math
import multiprocessing
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from modelexport_onnx.config import OnnxConfig
    from modelexport_onnx.families import Family

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "packages" / "onnx-backend" / "src" / "modelexport_onnx" / "text_architectures.json"
FAILURES = ROOT / "tools" / "text_walk_failures.json"
SEED = 0
#: Seconds one pair may take (building, exporting, validating, generating) before it counts as a hang.
TIMEOUT = 180.0
#: Processes at once: the machine has two cores, and each pair runs single-threaded in torch.
PROCESSES = 2

#: Canonical base task -> the transformers auto mapping that says a model type has a head for it.
TASK_MAPPINGS: Mapping[str, str] = {
    "default": "MODEL_MAPPING_NAMES",
    "causal-lm": "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "masked-lm": "MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "seq2seq-lm": "MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "sequence-classification": "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "token-classification": "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
    "question-answering": "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
    "multiple-choice": "MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES",
    # where the classifier reads token ids (ImageGPT's colour clusters): the other image classifiers are media's
    "image-classification": "MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES",
}
#: Every task the walk knows, in the order the table lists them.
TASKS: tuple[str, ...] = (
    "default",
    "default-with-past",
    "causal-lm",
    "causal-lm-with-past",
    "masked-lm",
    "seq2seq-lm",
    "seq2seq-lm-with-past",
    "sequence-classification",
    "token-classification",
    "question-answering",
    "multiple-choice",
    "image-classification",
)
#: The sizes of the short-input validation: one sequence of one token (a generation step's input).
SHORT: Mapping[str, int] = {
    "batch_size": 1,
    "sequence_length": 1,
    "encoder_sequence_length": 1,
    "decoder_sequence_length": 1,
}
#: Tasks whose export generates text: checked token for token against PyTorch's ``generate``.

# --- which model types are text, and which tasks they have heads for -----------------------------


def _auto_mapping(base_task: str) -> Mapping[str, Any]:
    from transformers.models.auto import modeling_auto

    mapping: Mapping[str, Any] = getattr(modeling_auto, TASK_MAPPINGS[base_task])
    return mapping


def _mapping(base_task: str) -> Mapping[str, Any]:
    """The types transformers has a class of ``base_task`` for: its auto mapping, and for base models the towers
    that no auto mapping lists."""
    mapping = _auto_mapping(base_task)
    return {**mapping, **unmapped_towers()} if base_task == "default" else mapping


#: The suffix of the model types of a dual encoder's text tower (``siglip_text_model``, ``clip_text_model``).
TOWER_SUFFIX = "_text_model"


@cache
def unmapped_towers() -> dict[str, str]:
    """Text towers of dual encoders that no auto mapping lists (SigLIP's, Chinese-CLIP's...): type -> class name.

    transformers loads them by class (a checkpoint's ``architectures`` names it). Each is the class named after
    the tower's config (``SiglipTextConfig`` -> ``SiglipTextModel``) whose config class it is.
    """
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    mapped = set().union(*(_auto_mapping(base) for base in TASK_MAPPINGS))
    towers = {}
    for model_type, config_name in sorted(CONFIG_MAPPING_NAMES.items()):
        if model_type in mapped or not model_type.endswith(TOWER_SUFFIX):
            continue
        class_name = config_name.removesuffix("Config") + "Model"
        try:
            model_class = getattr(transformers, class_name, None)
            own = getattr(getattr(model_class, "config_class", None), "__name__", None) == config_name
        except Exception:  # a class whose module needs a missing extra library
            continue
        if isinstance(model_class, type) and own:
            towers[model_type] = class_name
    return towers


def head_tasks(model_type: str) -> tuple[str, ...]:
    """The canonical tasks transformers has a head for (with the ``-with-past`` variants of generative ones)."""
    tasks = []
    for task in TASKS:
        base = task.removesuffix("-with-past")
        if model_type in _mapping(base) and (task not in TOKEN_READING or _reads_tokens(model_type, task)):
            tasks.append(task)
    return tuple(tasks)


#: Tasks whose heads are text only where their class reads token ids (the others belong to the media walk).
TOKEN_READING = frozenset({"image-classification"})


def _reads_tokens(model_type: str, task: str) -> bool:
    try:
        return "input_ids" in head_forward_parameters(model_type, task)
    except Exception:  # a class whose module needs a missing extra library
        return False


def _class_name(model_type: str) -> str:
    """The base model class (``AutoModel``'s), else the first head class of the type."""
    for base in TASK_MAPPINGS:
        name = _mapping(base).get(model_type)
        if name:
            return str(name if isinstance(name, str) else name[0])
    raise KeyError(f"{model_type!r} is in no text auto mapping")


@cache
def forward_parameters(model_type: str) -> tuple[str, ...]:
    """The names of the base model's ``forward`` parameters (read from the class: nothing is built)."""
    import transformers

    return _forward_names(getattr(transformers, _class_name(model_type)))


def _forward_names(model_class: Any) -> tuple[str, ...]:
    return tuple(name for name in inspect.signature(model_class.forward).parameters if name != "self")


@cache
def head_forward_parameters(model_type: str, task: str) -> tuple[str, ...]:
    """The names of the ``forward`` parameters of the type's class for ``task`` (its head, or the base model)."""
    import transformers

    name = _mapping(task.removesuffix("-with-past")).get(model_type)
    if not name:
        return forward_parameters(model_type)
    return _forward_names(getattr(transformers, str(name if isinstance(name, str) else name[0])))


#: Composite types and the text types of their parts: transformers' ``EncoderDecoderConfig`` has no defaults,
#: it is made of an encoder's config and a decoder's (bert2bert, the usual pairing of its examples).
COMPOSITE_PARTS: Mapping[str, tuple[str, str]] = {"encoder-decoder": ("bert", "bert")}


@cache
def default_config(model_type: str) -> Any:
    """The type's config with its defaults (the canonical checkpoint's sizes), quietly."""
    from transformers import CONFIG_MAPPING
    from transformers.utils import logging

    logging.set_verbosity_error()
    if model_type in COMPOSITE_PARTS:
        return composite_config(model_type, *(default_config(part) for part in COMPOSITE_PARTS[model_type]))
    return CONFIG_MAPPING[model_type]()


def composite_config(model_type: str, encoder: Any, decoder: Any) -> Any:
    """A composite type's config from its parts' configs (defaults or tiny), the decoder made one."""
    from transformers import CONFIG_MAPPING

    decoder = copy.deepcopy(decoder)  # defaults are cached: change a copy
    decoder.is_decoder, decoder.add_cross_attention = True, True
    config = CONFIG_MAPPING[model_type].from_encoder_decoder_configs(encoder, decoder)
    # generation starts from the decoder's start token and pads with the encoder's (bert2bert: [CLS], [PAD])
    config.decoder_start_token_id = decoder.bos_token_id if decoder.bos_token_id is not None else 1
    pad = getattr(encoder, "pad_token_id", None)  # an image encoder has none
    config.pad_token_id = pad if pad is not None else 0
    return config


def is_causal_lm(model_type: str) -> bool | None:
    """A causal language model first: a causal-LM head and no masked-LM one (BERT has both: an encoder).

    ``None`` for a type with neither head (the text model of a multimodal one, an embedding model):
    then :func:`~modelexport_onnx.families.text_family` decides from the config and the forward.
    """
    causal, masked = model_type in _mapping("causal-lm"), model_type in _mapping("masked-lm")
    return None if not causal and not masked else causal and not masked


def _family_overrides() -> dict[str, Family]:
    """Types whose config and base model say nothing of text while their text heads read token ids."""
    from modelexport_onnx.config import TextEncoderOnnxConfig
    from modelexport_onnx.families import Family

    # Perceiver's config serves text, images and audio alike, and its base model needs a preprocessor;
    # its masked-LM and classification heads embed token ids, and the masked-LM decodes fixed positions.
    perceiver = {"token_type_ids": "never", "decoded_positions": True}
    return {"perceiver": Family(TextEncoderOnnxConfig, perceiver, "text-encoder")}


@cache
def family_of(model_type: str) -> Family | None:
    """The export family of a model type, decided on its default config and base model's forward."""
    from modelexport_onnx.families import text_family

    overrides = _family_overrides()
    if model_type in overrides:
        return overrides[model_type]
    try:
        config, parameters = default_config(model_type), forward_parameters(model_type)
    except Exception:  # a config or model class that cannot even be made here (a missing extra library)
        return None
    return text_family(config, parameters, causal_lm=is_causal_lm(model_type))


def family_for(model_type: str, task: str) -> Family | None:
    """The family one pair exports through: the type's, or the decoder family for an encoder-decoder's
    standalone decoder (``BartForCausalLM``), which transformers files under the causal-LM tasks."""
    from modelexport_onnx.families import STANDALONE_DECODER_TASKS, standalone_decoder_family

    family = family_of(model_type)
    if family is not None and family.name == "seq2seq" and task in STANDALONE_DECODER_TASKS:
        return standalone_decoder_family(default_config(model_type))
    if (
        family is not None
        and family.name == "decoder"
        and family.options.get("position_ids", True)
        and "position_ids" not in head_forward_parameters(model_type, task)
    ):  # a head that takes no positions (falcon's question answering) while its base model does
        return replace(family, options={**family.options, "position_ids": False})
    return family


def text_model_types() -> list[str]:
    """Every model type of the text auto mappings whose config and forward are text only, sorted."""
    types = set().union(*(_mapping(base) for base in TASK_MAPPINGS))
    return sorted(t for t in types if family_of(t) is not None)


# --- tiny configs ------------------------------------------------------------------------------------

VOCAB = 99
HIDDEN = 32
LAYERS = 2
HEADS = 4
KV_HEADS = 2
HEAD_DIM = 8
INTERMEDIATE = 37
#: Mixture-of-experts weights go through grouped matmuls that want rows of 16-byte multiples.
EXPERT_INTERMEDIATE = 32
MAX_POSITIONS = 128
#: Small, yet longer than every sequence the walk feeds (16 traced + 7 past; 26 generated): the export
#: is checked where the window does not cut in, as the hand-written tiny configs of mistral and gemma2 are.
SLIDING_WINDOW = 64


def _named(names: Iterable[str], value: int) -> dict[str, int]:
    return dict.fromkeys(names, value)


#: Generic size fields -> tiny value, set wherever a config has the field with an int value.
TINY_SIZES: Mapping[str, int] = {
    "vocab_size": VOCAB,
    **_named(("hidden_size", "n_embd", "d_model", "attention_hidden_size", "n_embed"), HIDDEN),
    **_named(("num_hidden_layers", "n_layer", "num_layers", "n_layers", "encoder_layers", "decoder_layers"), LAYERS),
    **_named(("num_decoder_layers", "decoder_num_layers", "num_encoder_layers"), LAYERS),
    **_named(("num_attention_heads", "n_head", "num_heads", "n_heads"), HEADS),
    **_named(("encoder_attention_heads", "decoder_attention_heads", "decoder_num_attention_heads"), HEADS),
    **_named(("num_decoder_attention_heads", "num_encoder_attention_heads"), HEADS),
    **_named(("num_key_value_heads", "num_kv_heads", "n_head_kv", "decoder_num_key_value_heads"), KV_HEADS),
    **_named(("intermediate_size", "ffn_dim", "encoder_ffn_dim", "decoder_ffn_dim", "d_ff", "n_inner"), INTERMEDIATE),
    **_named(("ffn_hidden_size", "decoder_intermediate_size"), INTERMEDIATE),
    **_named(("moe_intermediate_size", "shared_expert_intermediate_size", "shared_intermediate_size"), 16),
    **_named(("expert_ffn_hidden_size", "expert_intermediate_size"), 16),
    **_named(("head_dim", "d_kv", "kv_channels", "attention_head_size"), HEAD_DIM),
    **_named(("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"), 4),
    **_named(("num_experts_per_tok", "num_experts_per_token", "moe_topk", "moe_top_k", "moe_k"), 2),
    **_named(("n_shared_experts", "num_shared_experts", "moe_num_shared_experts"), 1),
    **_named(("n_group", "topk_group", "first_k_dense_replace"), 1),
    **_named(("max_position_embeddings", "n_positions", "n_ctx", "max_seq_len"), MAX_POSITIONS),
    **_named(("sliding_window", "sliding_window_size"), SLIDING_WINDOW),
    "embedding_size": 16,
    "rotary_dim": 4,
    # embedding tables beside the main one: at their defaults they held 100M+ of a "tiny" model's parameters
    # (xlm, flaubert: emb_dim 2048; gemma3n, gemma4: per-layer inputs of 262144 tokens; luke: 500000 entities)
    **_named(("emb_dim",), HIDDEN),
    **_named(
        ("vocab_size_per_layer_input", "entity_vocab_size", "shape_vocab_size", "pronunciation_vocab_size"), VOCAB
    ),
    **_named(("hidden_size_per_layer_input", "entity_emb_size", "shape_embed_dim", "pronunciation_embed_dim"), 16),
    "moe_hidden_size": 16,
    # multi-head latent attention (deepseek): the real proportions (128, 64, 128), key heads wider than values
    **{"q_lora_rank": 16, "kv_lora_rank": 16, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16},
    **{"qk_head_dim": 24, "index_head_dim": 8, "index_n_heads": 2},
    # linear attention and state-space layers of hybrid models
    **{"linear_key_head_dim": 8, "linear_value_head_dim": 8, "linear_num_key_heads": 2, "linear_num_value_heads": 4},
    **{"linear_head_dim": 8, "linear_num_heads": 4, "mamba_d_state": 8, "mamba_n_heads": 4, "mamba_d_head": 16},
    **{"mamba_chunk_size": 16, "state_size": 8, "time_step_rank": 8, "chunk_size": 16, "mamba_dt_rank": 8},
}
#: Fields set even where the default is ``None``: models read them unguarded (a real checkpoint has them).
FILL_NONE = frozenset({"vocab_size", "head_dim", "num_key_value_heads"})
#: Sizes that only shrink (a smaller default is the type's own choice: keep it).
ONLY_SHRINK = frozenset({"max_position_embeddings", "n_positions", "n_ctx", "max_seq_len", "sliding_window"})
#: Keys whose presence says the model routes tokens to experts.
EXPERT_KEYS = frozenset({"num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts"})
_ROPE = {"rope_type": "default", "rope_theta": 10000.0}

#: Per model type, what the generic shrinking gets wrong (keyword arguments of the config class).
OVERRIDES: Mapping[str, Mapping[str, Any]] = {
    "distilbert": {"dim": HIDDEN, "hidden_dim": INTERMEDIATE},
    "perceiver": {
        "num_latents": 8,
        "d_latents": HIDDEN,
        "num_self_attends_per_block": LAYERS,
        "num_self_attention_heads": HEADS,
        "num_cross_attention_heads": HEADS,
    },
    "squeezebert": {"embedding_size": HIDDEN, "intermediate_size": 36},  # grouped convolutions: 4 groups
    "dbrx": {
        "attn_config": {"kv_n_heads": KV_HEADS, "rope_theta": 10000.0, "clip_qkv": 8.0},
        "ffn_config": {"ffn_hidden_size": EXPERT_INTERMEDIATE, "moe_num_experts": 4, "moe_top_k": 2},
    },
    "dots1": {"n_routed_experts": 4, "num_experts_per_tok": 2, "n_shared_experts": 1},
    "deepseek_v2": {"num_experts_per_tok": 2},
    "longcat_flash": {"zero_expert_num": 2},
    # latent attention whose rope covers half of each query/key head: head_dim is the query/key width
    "mistral4": {"qk_nope_head_dim": 8, "qk_rope_head_dim": 8, "qk_head_dim": 16, "head_dim": 16, "v_head_dim": 16},
    "cohere_compass_text": {"rope_parameters": {"full_attention": _ROPE, "sliding_attention": _ROPE}},
    "gemma3n_text": {"num_kv_shared_layers": 0, "altup_num_inputs": 2, "laurel_rank": 4},
    "lfm2_moe": {"layer_types": ["conv", "full_attention"], "num_dense_layers": 1},
    "moshi": {"ffn_dim": 38},
    "zaya": {"num_experts_per_tok": 1},
    "xmod": {"languages": ["en_XX"], "default_language": "en_XX"},
    # six coordinate embeddings of hidden_size // 6 each are concatenated back to hidden_size
    "lilt": {"hidden_size": 48, "channel_shrink_ratio": 4},
    # four coordinate and two shape embeddings concatenated back to hidden_size; a 32-pixel page of 4 x 4 patches
    "layoutlmv3": {"coordinate_size": 6, "shape_size": 4, "input_size": 32, "patch_size": 8},
    "jamba": {"attn_layer_period": 2, "attn_layer_offset": 1, "expert_layer_period": 2, "expert_layer_offset": 1},
    "bamba": {"attn_layer_indices": [1], "mamba_n_heads": 4, "mamba_d_head": 16},
    "recurrent_gemma": {"block_types": ["recurrent", "attention"], "lru_width": HIDDEN, "attention_window_size": 64},
    "mamba2": {"num_heads": 8, "head_dim": 8, "n_groups": 1},
    "falcon_h1": {"mamba_d_ssm": 64, "mamba_n_heads": 4, "mamba_d_head": 16},
    "reformer": {
        "axial_pos_embds_dim": [16, 16],
        "axial_pos_shape": [8, 16],
        "attn_layers": ["local", "lsh"],
        "local_attn_chunk_length": 4,
        "lsh_attn_chunk_length": 4,
        "num_buckets": 4,
    },
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _layer_count(values: Mapping[str, Any]) -> int | None:
    for name in ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "decoder_layers"):
        if _is_int(values.get(name)):
            return int(values[name])
    return None


def _representative(items: Sequence[Any], count: int) -> list[Any]:
    """``count`` entries of a per-layer list, every distinct kind first (a sliding and a full layer)."""
    picked: list[int] = []
    for index, item in enumerate(items):
        if len(picked) < count and all(items[i] != item for i in picked):
            picked.append(index)
    for index in range(len(items)):
        if len(picked) < count and index not in picked:
            picked.append(index)
    return [items[i] for i in sorted(picked)]


def _sections(sections: Sequence[int], total: int) -> list[int]:
    """Split ``total`` in the proportions of ``sections`` (multimodal rope sections), largest remainders first."""
    whole = sum(sections)
    exact = [s * total / whole for s in sections]
    split = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: (split[i] - exact[i], i))
    for i in by_remainder[: total - sum(split)]:
        split[i] += 1
    return split


#: Where a multimodal rope (``mrope``) type's model falls back to when its config names no sections.
_DEFAULT_MROPE = [16, 24, 24]


def _tiny_rope(rope: Mapping[str, Any], rotary_dim: int, mrope: bool) -> dict[str, Any]:
    """Rope parameters that fit the tiny head: factor lists and sections resized, scaling origin in range."""
    if rope and all(isinstance(v, Mapping) for v in rope.values()):  # one set of parameters per layer type
        return {kind: _tiny_rope(params, rotary_dim, mrope) for kind, params in rope.items()}
    tiny = dict(rope)
    rotary = max(int(rotary_dim * float(tiny.get("partial_rotary_factor", 1.0) or 1.0)), 2)
    for name in ("short_factor", "long_factor"):
        if isinstance(tiny.get(name), list):
            tiny[name] = tiny[name][: rotary // 2]
    if mrope or isinstance(tiny.get("mrope_section"), list):
        tiny["mrope_section"] = _sections(tiny.get("mrope_section") or _DEFAULT_MROPE, rotary // 2)
    if _is_int(tiny.get("original_max_position_embeddings")):
        tiny["original_max_position_embeddings"] = MAX_POSITIONS // 2
    return tiny


def _flat(values: Iterable[Any]) -> set[Any]:
    flat: set[Any] = set()
    for value in values:
        flat.update(value if isinstance(value, list) else [value])
    return flat


def _tiny_token_ids(values: Mapping[str, Any]) -> dict[str, Any]:
    """Special token ids moved into the tiny vocabulary (each out-of-range id to its own in-range one)."""
    spare = iter(range(VOCAB - 1, 2, -1))
    remapped: dict[int, int] = {}

    def fit(token: Any) -> Any:
        if not _is_int(token) or 0 <= token < VOCAB:
            return token
        if token not in remapped:
            remapped[token] = next(spare)
        return remapped[token]

    tiny = {}
    for name, value in sorted(values.items()):
        if name.endswith(("_token_id", "_token_ids", "_token_index")):
            fitted = [fit(v) for v in value] if isinstance(value, list) else fit(value)
            if fitted != value:
                tiny[name] = fitted
    return tiny


def _padding(values: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A padding token where the type has none (classification heads pool at the last non-pad token and
    refuse batches without one; fine-tuned checkpoints set it), and the decoder start of an encoder-decoder
    (T5 starts from its padding token: the convention transformers' own T5 checkpoints follow)."""
    tiny: dict[str, Any] = {}
    pad = kwargs.get("pad_token_id", values.get("pad_token_id"))
    if pad is None and "pad_token_id" in values:
        used = _flat(kwargs.get(n, values.get(n)) for n in ("bos_token_id", "eos_token_id", "unk_token_id"))
        pad = tiny["pad_token_id"] = next(i for i in range(VOCAB) if i not in used)
    start = kwargs.get("decoder_start_token_id", values.get("decoder_start_token_id"))
    if values.get("is_encoder_decoder") and start is None:
        tiny["decoder_start_token_id"] = pad if pad is not None else 0
    return tiny


def _sizes(values: Mapping[str, Any]) -> dict[str, Any]:
    """The generic size fields, tiny; per-layer size lists as one tiny size per tiny layer."""
    experts = any(_is_int(values.get(name)) for name in EXPERT_KEYS)
    kwargs: dict[str, Any] = {}
    for name, tiny in TINY_SIZES.items():
        if name not in values:
            continue
        value = values[name]
        if experts and tiny == INTERMEDIATE:
            tiny = EXPERT_INTERMEDIATE
        if isinstance(value, list) and value and all(_is_int(v) for v in value):
            kwargs[name] = [tiny] * LAYERS
        elif value == 0:  # a size of 0 switches a part off (no rope dims, no dense layers): keep it off
            continue
        elif (_is_int(value) or (value is None and name in FILL_NONE)) and not (name in ONLY_SHRINK and value <= tiny):
            kwargs[name] = tiny
    if "kv_lora_rank" in values and "num_key_value_heads" in kwargs:  # latent attention: a key/value per head
        kwargs["num_key_value_heads"] = HEADS
    return kwargs


def tiny_config_kwargs(model_type: str) -> dict[str, Any]:
    """The keyword arguments that make the type's config class tiny (only what differs from its defaults)."""
    config_class = type(default_config(model_type))
    values = default_config(model_type).to_dict()
    kwargs = _sizes(values)
    layers = _layer_count(values)
    if layers is not None and layers > LAYERS:
        for name, value in values.items():
            if isinstance(value, list) and len(value) == layers and name not in kwargs:
                kwargs[name] = _representative(value, LAYERS)
    if isinstance(values.get("rope_parameters"), Mapping):
        rotary = kwargs.get("qk_rope_head_dim", HEAD_DIM)
        mrope = "mrope_section" in getattr(config_class, "ignore_keys_at_rope_validation", ())
        kwargs["rope_parameters"] = _tiny_rope(values["rope_parameters"], rotary, mrope)
    kwargs.update(_tiny_token_ids(values))
    kwargs.update(_padding(values, kwargs))
    kwargs.update(OVERRIDES.get(model_type, {}))
    return kwargs


#: The parts of a multimodal config the text path builds but never runs (a tower of each is made all the same).
MODALITY_PARTS = ("vision_config", "audio_config", "vq_config")
#: Per multimodal type, what its tiny config needs beyond tiny parts (the image tower's geometry, mostly).
MULTIMODAL_OVERRIDES: Mapping[str, Mapping[str, Any]] = {
    # one 28-pixel image of 2 x 2 patches, pooled to one token
    "gemma3": {"mm_tokens_per_image": 1, "vision_config": {"image_size": 28, "patch_size": 14}},
}


def _multimodal_config(model_type: str) -> Any:
    """A multimodal type's config for its text path: the tiny config of its text model type, tiny towers."""
    from transformers import CONFIG_MAPPING

    config = default_config(model_type)
    text = config.text_config
    if text.model_type in CONFIG_MAPPING and text.model_type != model_type:
        text_values = tiny_config(text.model_type).to_dict()
    else:
        text_values = {**text.to_dict(), **_sizes(text.to_dict())}
    kwargs: dict[str, Any] = {"text_config": text_values}
    override = dict(MULTIMODAL_OVERRIDES.get(model_type, {}))
    for name in MODALITY_PARTS:
        part = getattr(config, name, None)
        if part is not None:
            values = part.to_dict() if hasattr(part, "to_dict") else dict(part)
            kwargs[name] = {**values, **_sizes(values), **override.pop(name, {})}
    # the text's own special tokens, inside the tiny vocabulary; image and audio tokens stay outside it, where
    # random text never holds them
    text_tokens = ("pad_token_id", "bos_token_id", "eos_token_id")
    kwargs.update(_tiny_token_ids({k: v for k, v in config.to_dict().items() if k in text_tokens}))
    kwargs.update(override)
    return type(config)(**kwargs)


def tiny_config(model_type: str) -> Any:
    """The type's config class with its sizes shrunk (hidden 32, 2 layers, 4 heads, 99 tokens...).

    Grouped-query attention (2 key/value heads for 4) where the config has key/value heads; a config
    class that refuses it (one that supports plain multi-head attention only) gets 4.
    """
    if model_type in COMPOSITE_PARTS:
        return composite_config(model_type, *(tiny_config(part) for part in COMPOSITE_PARTS[model_type]))
    if getattr(default_config(model_type), "text_config", None) is not None:
        return _multimodal_config(model_type)
    config_class = type(default_config(model_type))
    kwargs = tiny_config_kwargs(model_type)
    try:
        return config_class(**kwargs)
    except Exception:
        if kwargs.get("num_key_value_heads") != KV_HEADS:
            raise
        return config_class(**{**kwargs, "num_key_value_heads": HEADS})


def build_model(model_type: str, task: str) -> Any:
    """A tiny random model of ``task``'s auto class, with the tests' fixed seed, in eval mode."""
    import torch
    import transformers
    from modelexport_core.tasks import base_task
    from modelexport_pt.autoclasses import PT_TASK_TO_AUTOCLASS

    torch.manual_seed(SEED)
    if base_task(task) == "default" and model_type in unmapped_towers():  # no auto class: the tower's own
        return getattr(transformers, unmapped_towers()[model_type])(tiny_config(model_type)).eval()
    names = PT_TASK_TO_AUTOCLASS[base_task(task)]
    auto_class = getattr(transformers, names if isinstance(names, str) else names[0])
    return auto_class.from_config(tiny_config(model_type)).eval()


# --- one pair -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairResult:
    """What one ``(model type, task)`` pair gave: ``passed``, ``failed``, ``timeout`` or ``skipped``."""

    model_type: str
    task: str
    family: str | None
    status: str
    #: The first line of why it did not pass (``None`` when it passed).
    reason: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(error).__name__}: {line}"[:300]


def names_problem(directory: Path, config: OnnxConfig) -> str | None:
    """Where a file's inputs, outputs or dynamic dimensions differ from the config's (the test's check)."""
    import onnx

    for name, part in config.components().items():
        graph = onnx.load(str(directory / f"{name}.onnx"), load_external_data=False).graph
        if [i.name for i in graph.input] != list(part.inputs):
            return f"{name}: inputs {[i.name for i in graph.input]} instead of {list(part.inputs)}"
        if [o.name for o in graph.output] != list(part.outputs):
            return f"{name}: outputs {[o.name for o in graph.output]} instead of {list(part.outputs)}"
        for value in [*graph.input, *graph.output]:
            dims = value.type.tensor_type.shape.dim
            for axis, dim_name in part.dynamic_axes[value.name].items():
                if dims[axis].dim_param != dim_name:
                    return f"{name}: {value.name} axis {axis} is {dims[axis].dim_param or dims[axis].dim_value!r}"
    return None


def validation_problem(report: Any, atol: float | None = None) -> str | None:
    """Why a validation report fails: an output past its bound, or (``atol``) past the config's tolerance."""
    for check in report.outputs:
        if not check.passed:
            return f"{check.name}: {check.problem or 'beyond its bound'} (error {check.error}, bound {check.bound})"
        if atol is not None and check.max_abs_diff is not None and check.max_abs_diff > atol:
            return f"{check.name}: max abs diff {check.max_abs_diff:.2e} above the config's atol {atol:g}"
    return None if report.outputs else "no outputs were compared"


def generation_problem(model: Any, config: OnnxConfig, directory: Path, framework: str = "pt") -> str | None:
    """20 greedy tokens from the exported files against the framework's ``generate``: the same tokens, as the
    registry walk tests ask (a near tie counts as a failure here: the test would fail on it)."""
    from modelexport_core.plugins import get_framework
    from modelexport_onnx.generation import check_generation
    from modelexport_onnx.validation import onnx_session

    plugin = get_framework(framework)
    sessions = {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}
    check = check_generation(
        sessions, config, lambda inputs, n, pad: plugin.generate(model, inputs, n, pad), 20, (7, 3)
    )
    if check.equal:
        return None
    return f"generation differs from {plugin.display_name}'s: {check.first_difference}"


def export_problem(
    model: Any,
    config: OnnxConfig,
    directory: Path,
    *,
    framework: str = "pt",
    converter: str = "auto",
    short: Mapping[str, int] | None = None,
) -> str | None:
    """Export ``model`` through ``config`` into ``directory`` and check it as the registry walk tests do: the
    files' names and dimensions, validation on other shapes (and on ``short`` ones: one short sequence), an
    empty cache, greedy generation. Why it fails, or ``None``."""
    from modelexport_onnx.export import export_components, resolve_options, validate_components

    options = resolve_options(config, converter=converter, framework=framework)
    export_components(model, config, directory, options, framework, directory / ".work")
    problem = names_problem(directory, config)
    if problem is not None:
        return f"names: {problem}"
    shapes = options.validation_shapes
    problem = validation_problem(validate_components(model, config, directory, framework, shapes), config.atol)
    if problem is not None:
        return f"validation: {problem}"
    # One short sequence: a graph that baked in what the traced inputs did (the experts they reached, a
    # branch on their length) fails or differs here, where the traced-like validation shapes can pass.
    if short:
        report = validate_components(model, config, directory, framework, shapes.with_sizes(**short))
        problem = validation_problem(report, config.atol)
        if problem is not None:
            return f"validation on one short sequence: {problem}"
    if config.uses_past and len(config.components()) == 1:  # the first generation step: an empty cache
        empty = validate_components(model, config, directory, framework, shapes.with_sizes(past_sequence_length=0))
        problem = validation_problem(empty, config.atol)
        if problem is not None:
            return f"validation with an empty cache: {problem}"
    return generation_problem(model, config, directory, framework) if config.generates_tokens else None


def run_pair(domain: Domain, model_type: str, task: str, workdir: Path, converter: str = "auto") -> PairResult:
    """One pair, in this process: exceptions become the failure's reason."""
    start = time.perf_counter()
    family = domain.family_for(model_type, task)
    directory = workdir / f"{model_type}--{task}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        reason = domain.check_pair(model_type, task, directory, converter)
    except Exception as error:
        reason = _first_line(error)
        traceback.print_exc()  # shown with --debug (children's output is discarded otherwise)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    if reason is not None:  # the same reason on every run: no temporary paths
        reason = reason.replace(str(workdir), "<workdir>")
    return PairResult(
        model_type,
        task,
        family.name if family else None,
        "passed" if reason is None else "failed",
        reason,
        round(time.perf_counter() - start, 2),
    )


def _child(
    module: str, model_type: str, task: str, workdir: str, converter: str, debug: bool, connection: Connection
) -> None:
    """A pair in a process of its own: single-threaded torch, quiet (TorchScript prints whole graphs when it
    fails), the result sent back. ``module``: the walk's module, whose ``DOMAIN`` says how to check the pair."""
    import importlib
    import os
    import warnings

    import torch

    if not debug:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    try:
        result = run_pair(importlib.import_module(module).DOMAIN, model_type, task, Path(workdir), converter)
    except BaseException as error:  # anything at all must come back as a result
        result = PairResult(model_type, task, None, "failed", _first_line(error))
    connection.send(asdict(result))
    connection.close()


# --- the walk -------------------------------------------------------------------------------------


def walk(
    domain: Domain,
    model_types: Iterable[str],
    tasks: Iterable[str] | None,
    workdir: Path,
    *,
    processes: int = PROCESSES,
    timeout: float = TIMEOUT,
    progress: Callable[[PairResult], None] | None = None,
    converter: str = "auto",
    debug: bool = False,
) -> list[PairResult]:
    """Export and check every pair of ``model_types`` (and ``tasks``, default all), ``processes`` at a time.

    ``converter``: the exporter to force (``auto``, what the registry promises, by default).
    """
    pairs, results = domain.planned_pairs(model_types, tasks)
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "transformers", "onnx", "onnxruntime", "modelexport_onnx.export"])
    queue = list(reversed(pairs))
    running: dict[tuple[str, str], tuple[Any, Connection, float]] = {}
    while queue or running:
        while queue and len(running) < processes:
            model_type, task = queue.pop()
            receiver, sender = context.Pipe(duplex=False)
            process = context.Process(
                target=_child,
                args=(domain.module, model_type, task, str(workdir), converter, debug, sender),
                daemon=True,
            )
            process.start()
            sender.close()
            running[(model_type, task)] = (process, receiver, time.monotonic())
        time.sleep(0.05)
        for (model_type, task), (process, receiver, started) in list(running.items()):
            result = _collect(domain, model_type, task, process, receiver, started, timeout)
            if result is not None:
                del running[(model_type, task)]
                results.append(result)
                if progress is not None:
                    progress(result)
    return sorted(results, key=lambda r: (r.model_type, domain.tasks.index(r.task)))


def _collect(
    domain: Domain, model_type: str, task: str, process: Any, receiver: Connection, started: float, timeout: float
) -> PairResult | None:
    """The result of a finished pair process, a timeout for one running too long, ``None`` while it runs."""
    family = domain.family_for(model_type, task)
    name = family.name if family else None
    if receiver.poll():
        try:
            data = receiver.recv()
        except EOFError:
            data = None
        process.join(5)
        if data is not None:
            return PairResult(**data)
        return PairResult(model_type, task, name, "failed", f"the process died (exit code {process.exitcode})")
    if not process.is_alive():
        process.join()
        return PairResult(model_type, task, name, "failed", f"the process died (exit code {process.exitcode})")
    if time.monotonic() - started > timeout:
        process.kill()
        process.join()
        return PairResult(model_type, task, name, "timeout", f"timed out after {timeout:g} s", round(timeout, 2))
    return None


# --- the files it writes ---------------------------------------------------------------------------


def table(domain: Domain, results: Iterable[PairResult], version: str) -> dict[str, Any]:
    """The measured table: per model type with a passing task, its family, options and passing tasks."""
    passed: dict[str, list[str]] = {}
    for result in results:
        if result.passed:
            passed.setdefault(result.model_type, []).append(result.task)
    types: dict[str, dict[str, Any]] = {}
    for model_type in sorted(passed):
        family = domain.family_of(model_type)
        assert family is not None
        own = [task for task in passed[model_type] if domain.family_for(model_type, task) == family]
        order = domain.tasks.index
        row: dict[str, Any] = {"family": family.name, "options": family.options, "tasks": sorted(own, key=order)}
        # Tasks exported otherwise (an encoder-decoder's standalone decoder, a head without position ids)
        others: list[dict[str, Any]] = []
        for task in sorted((task for task in passed[model_type] if task not in own), key=order):
            other = domain.family_for(model_type, task)
            assert other is not None
            group = next((g for g in others if (g["family"], g["options"]) == (other.name, other.options)), None)
            if group is None:
                others.append({"family": other.name, "options": other.options, "tasks": [task]})
            else:
                group["tasks"].append(task)
        if others:
            row["task_families"] = others
        types[model_type] = row
    return {"transformers": version, "types": types}


def failures(results: Iterable[PairResult]) -> list[dict[str, Any]]:
    """Every pair that did not pass: failed, timed out, or skipped (with why)."""
    return [
        {"model_type": r.model_type, "task": r.task, "family": r.family, "status": r.status, "reason": r.reason}
        for r in results
        if not r.passed
    ]


def _merge(path: Path, fresh: dict[str, Any], walked: set[str]) -> dict[str, Any]:
    """A partial walk (``--types``) replaces its types' rows in an existing table and keeps the others."""
    if not path.is_file():
        return fresh
    old = json.loads(path.read_text(encoding="utf-8"))
    types = {t: row for t, row in old.get("types", {}).items() if t not in walked}
    types.update(fresh["types"])
    return {"transformers": fresh["transformers"], "types": dict(sorted(types.items()))}


def _merge_failures(domain: Domain, path: Path, fresh: list[dict[str, Any]], walked: set[str]) -> list[dict[str, Any]]:
    if not path.is_file():
        return fresh
    kept = [f for f in json.loads(path.read_text(encoding="utf-8")) if f["model_type"] not in walked]
    return sorted(kept + fresh, key=lambda f: (f["model_type"], domain.tasks.index(f["task"])))


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def _print_progress(result: PairResult) -> None:
    mark = {"passed": "ok", "failed": "FAIL", "timeout": "TIMEOUT"}.get(result.status, result.status)
    why = f"  {result.reason}" if result.reason else ""
    print(f"{mark:7} {result.seconds:6.1f}s {result.model_type} {result.task}{why}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None, domain: Domain | None = None) -> int:
    domain = domain or DOMAIN
    parser = argparse.ArgumentParser(description=domain.description)
    parser.add_argument("--types", nargs="+", help="model types to walk (transformers' spelling); default: all")
    parser.add_argument("--tasks", nargs="+", choices=domain.tasks, help="tasks to walk; default: all")
    parser.add_argument("--out", type=Path, default=domain.table, help="the measured table to write")
    parser.add_argument("--failures", type=Path, default=domain.failures, help="the failure report to write")
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per pair")
    parser.add_argument("--list", action="store_true", help="list the model types and their families, walk none")
    parser.add_argument(
        "--converter", default="auto", choices=("auto", "torchscript", "dynamo"), help="force an exporter (not written)"
    )
    parser.add_argument("--debug", action="store_true", help="show the children's output (tracebacks, graphs)")
    args = parser.parse_args(argv)

    import transformers

    model_types = args.types or domain.model_types()
    if args.list:
        for model_type in model_types:
            family = domain.family_of(model_type)
            print(model_type, family.name if family else "-", json.dumps(family.options if family else {}))
        return 0
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="walk-") as workdir:
        results = walk(
            domain,
            model_types,
            args.tasks,
            Path(workdir),
            processes=args.processes,
            timeout=args.timeout,
            progress=_print_progress,
            converter=args.converter,
            debug=args.debug,
        )
    fresh = table(domain, results, transformers.__version__)
    # What the registry promises is the automatic exporter on every task: a walk restricted otherwise
    # writes only where --out / --failures point elsewhere than the committed files.
    complete = args.tasks is None and args.converter == "auto"
    written = complete or (args.out != domain.table and args.failures != domain.failures)
    if written:
        walked = set(model_types)
        merge = args.types is not None
        _write_json(args.out, _merge(args.out, fresh, walked) if merge else fresh)
        _write_json(
            args.failures,
            _merge_failures(domain, args.failures, failures(results), walked) if merge else failures(results),
        )
    passed = sum(r.passed for r in results)
    print(
        f"{len(fresh['types'])} model types, {passed} of {len(results)} pairs passed in "
        f"{time.monotonic() - start:.0f} s" + ("" if written else " (restricted walk: not written)"),
        file=sys.stderr,
    )
    return 0


@dataclass(frozen=True)
class Domain:
    """What one walk measures: its tasks, the family each type exports through, its tiny models, and the files
    it writes. ``module`` names the module whose ``DOMAIN`` it is (a pair's process imports it)."""

    module: str
    description: str
    tasks: tuple[str, ...]
    model_types: Callable[[], list[str]]
    #: The tasks of :attr:`tasks` transformers has a head for, per model type.
    head_tasks: Callable[[str], tuple[str, ...]]
    family_of: Callable[[str], Family | None]
    family_for: Callable[[str, str], Family | None]
    #: A tiny random model of a task's class, in eval mode.
    build_model: Callable[[str, str], Any]
    table: Path
    failures: Path
    #: Why a type has no family of this walk (the skipped pairs' reason).
    no_family: str
    #: The sizes of the second validation, of one short sequence (none: no such check).
    short: Mapping[str, int] | None = None

    def planned_pairs(
        self, model_types: Iterable[str], tasks: Iterable[str] | None = None
    ) -> tuple[list[tuple[str, str]], list[PairResult]]:
        """The pairs to export, and the ones skipped up front (no family, or a task its family cannot export)."""
        from modelexport_onnx.families import HEAD_TASKS, family_tasks

        wanted = set(tasks) if tasks is not None else set(self.tasks)
        pairs: list[tuple[str, str]] = []
        skipped: list[PairResult] = []
        for model_type in model_types:
            for task in self.head_tasks(model_type):
                if task not in wanted:
                    continue
                family = self.family_for(model_type, task)
                if family is None:
                    skipped.append(PairResult(model_type, task, None, "skipped", self.no_family))
                elif task not in HEAD_TASKS[family.name]:
                    skipped.append(PairResult(model_type, task, family.name, "skipped", f"not a {family.name} task"))
                elif task not in family_tasks(family):
                    skipped.append(PairResult(model_type, task, family.name, "skipped", "needs config outputs"))
                else:
                    pairs.append((model_type, task))
        return pairs, skipped

    def check_pair(self, model_type: str, task: str, directory: Path, converter: str = "auto") -> str | None:
        """Export one pair into ``directory`` and check it as the registry walk test does; why it fails, or ``None``."""
        family = self.family_for(model_type, task)
        if family is None:
            return self.no_family
        model = self.build_model(model_type, task)
        config = family.build(model.config, task)
        return export_problem(model, config, directory, converter=converter, short=self.short)


#: The text walk.
DOMAIN = Domain(
    "text_walk",
    __doc__.splitlines()[0],
    TASKS,
    text_model_types,
    head_tasks,
    family_of,
    family_for,
    build_model,
    TABLE,
    FAILURES,
    no_family="not a text model (no family)",
    short=SHORT,
)

if __name__ == "__main__":
    sys.exit(main())
