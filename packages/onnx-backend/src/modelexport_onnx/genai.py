"""onnxruntime-genai's configuration of a decoder export: ``genai_config.json``, so that
``onnxruntime_genai.Model(folder)`` and its generator run the folder as written.

onnxruntime-genai reads the model's graph names and sizes from ``genai_config.json`` (``model.decoder``: the file,
its inputs and outputs, heads and layers), the tokens that start, end and pad from its ``model`` section, and its
generation defaults from ``search``; the tokenizer from ``tokenizer.json`` and ``tokenizer_config.json``, which the
export copies. Which model types it runs, and under which of its ``model.type`` names (its own where it has one,
``decoder`` for its generic decoder-only model), is measured by ``tools/genai_walk.py``: each decoder type of the
text table exported tiny, loaded by onnxruntime-genai and generating PyTorch's greedy tokens
(``genai_architectures.json``). A type the walk did not see pass gets no ``genai_config.json``, and the export says
why.

``past_present_share_buffer`` is on where the graph's attention is onnxruntime's GroupQueryAttention (``--optimize
O2/O3`` on a decoder: it writes each step's keys into the buffer it reads the past from); otherwise off, the graph
concatenates its cache. The graph's own inputs decide whether ``position_ids`` is fed (a fused rotary computes the
positions itself, and the input is gone).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from modelexport_core.tasks import Task

from .config import DecoderOnnxConfig, OnnxConfig
from .validation import FUSED_ATTENTION

CONFIG_FILE = "genai_config.json"
#: The walk's measured table: per decoder model type, onnxruntime-genai's type name or why it failed.
TABLE = Path(__file__).with_name("genai_architectures.json")
#: Where a model config names no context length (onnxruntime-genai needs one: its longest generation).
DEFAULT_CONTEXT_LENGTH = 2048
_CONTEXT_NAMES = ("max_position_embeddings", "n_positions", "n_ctx", "seq_length", "max_sequence_length")


@functools.cache
def measured() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(TABLE.read_text()) if TABLE.is_file() else {"passed": {}, "failed": {}}
    return table


def applies(config: OnnxConfig | None, task: Task, layout: str) -> bool:
    """Whether onnxruntime-genai is a client of this export: a decoder language model with its cache, laid out flat
    (its loader reads the folder's top level)."""
    return (
        layout == "flat"
        and task.uses_past
        and task.base == "causal-lm"
        and (config is None or (isinstance(config, DecoderOnnxConfig) and len(config.components()) == 1))
    )


def genai_type(model_type: str) -> str | None:
    """onnxruntime-genai's ``model.type`` for ``model_type`` where the walk saw it generate PyTorch's tokens."""
    row = measured()["passed"].get(model_type)
    return None if row is None else str(row["type"])


def token_problem(model_config: Any) -> str | None:
    """Why onnxruntime-genai would refuse the model's token ids (it loads only ids within the vocabulary), or
    ``None``. A config whose ``eos_token_id`` lies beyond its ``vocab_size`` (a shrunk test model's) has no valid
    ``genai_config.json``."""
    values = _as_dict(model_config)
    vocab = values.get("vocab_size")
    if not isinstance(vocab, int):
        return None
    for name in ("bos_token_id", "eos_token_id", "pad_token_id"):
        ids = values.get(name)
        for token in ids if isinstance(ids, (list, tuple)) else [ids]:
            if isinstance(token, int) and not 0 <= token < vocab:
                return f"no {CONFIG_FILE}: its {name} {token} is beyond its vocabulary ({vocab} tokens)"
    return None


def unsupported_note(model_type: str, model_config: Any = None) -> str | None:
    """Why an export of ``model_type`` gets no ``genai_config.json`` (``None``: it gets one)."""
    table = measured()
    if model_type in table["passed"]:
        return None if model_config is None else token_problem(model_config)
    why = table["failed"].get(model_type)
    version = table.get("onnxruntime_genai", "?")
    if why is None:
        return f"no {CONFIG_FILE}: onnxruntime-genai {version} was not tried on {model_type} (tools/genai_walk.py)"
    return f"no {CONFIG_FILE}: onnxruntime-genai {version} does not run {model_type} ({why})"


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, (list, tuple)) and value else value


def _token(name: str, sources: tuple[Mapping[str, Any], ...]) -> Any:
    for source in sources:
        value = source.get(name)
        if value is not None and value != []:
            return value
    return None


def _as_dict(config: Any) -> dict[str, Any]:
    if isinstance(config, Mapping):
        return dict(config)
    to_dict = getattr(config, "to_dict", None)
    return dict(to_dict()) if callable(to_dict) else dict(vars(config))


def genai_config(
    config: DecoderOnnxConfig,
    model_type: str,
    generation: Mapping[str, Any] | None = None,
    filename: str = "model.onnx",
    *,
    position_ids: bool | None = None,
    share_buffer: bool = False,
) -> dict[str, Any]:
    """The ``genai_config.json`` of a decoder export of ``config`` (its sizes, its graph's names), for onnxruntime-
    genai's ``model_type``; token ids from the generation config where it has them (an instruct model's end of
    turn), else from the model config. ``position_ids``: whether the graph takes them (default: the config's);
    ``share_buffer``: the graph's attention updates a shared cache buffer (GroupQueryAttention)."""
    n = config.normalized
    if n.latent_attention:
        raise ValueError("onnxruntime-genai reads one head size for keys and values; latent attention has two.")
    sources = (dict(generation or {}), *(_as_dict(source) for source in n.sources))
    eos = _token("eos_token_id", sources)
    pad = _token("pad_token_id", sources)
    bos = _token("bos_token_id", sources)
    eos = eos if eos is not None else 0
    context = next((int(v) for name in _CONTEXT_NAMES if (v := n.get(name)) is not None), DEFAULT_CONTEXT_LENGTH)
    inputs = {"input_ids": "input_ids", "attention_mask": "attention_mask"}
    if config.position_ids if position_ids is None else position_ids:
        inputs["position_ids"] = "position_ids"
    return {
        "model": {
            "type": model_type,
            "bos_token_id": int(_first(bos)) if bos is not None else int(_first(eos)),
            "eos_token_id": [int(t) for t in eos] if isinstance(eos, (list, tuple)) else int(eos),
            "pad_token_id": int(_first(pad)) if pad is not None else int(_first(eos)),
            "vocab_size": int(n.get("vocab_size")),
            "context_length": context,
            "decoder": {
                "filename": filename,
                "session_options": {"log_id": "onnxruntime-genai", "provider_options": []},
                "head_size": n.head_dim,
                "hidden_size": int(n.get("hidden_size")),
                "num_attention_heads": n.num_heads,
                "num_key_value_heads": n.num_kv_heads,
                "num_hidden_layers": n.num_layers,
                "inputs": {
                    **inputs,
                    "past_key_names": "past_key_values.%d.key",
                    "past_value_names": "past_key_values.%d.value",
                },
                "outputs": {
                    "logits": "logits",
                    "present_key_names": "present.%d.key",
                    "present_value_names": "present.%d.value",
                },
            },
        },
        "search": {
            "do_sample": False,
            "num_beams": 1,
            "num_return_sequences": 1,
            "max_length": context,
            "min_length": 0,
            "past_present_share_buffer": share_buffer,
            "repetition_penalty": 1.0,
            "temperature": 1.0,
            "top_k": 1,
            "top_p": 1.0,
            "length_penalty": 1.0,
            "no_repeat_ngram_size": 0,
            "diversity_penalty": 0.0,
            "early_stopping": True,
        },
    }


def write_genai_config(
    staging: Path, config: DecoderOnnxConfig, model_type: str, filename: str = "model.onnx"
) -> list[str]:
    """Write ``genai_config.json`` into ``staging`` (beside the copied generation config) where the walk measured
    ``model_type``, for the graph ``filename`` (a quantized one where ``--quantize`` wrote it); the files written."""
    import onnx

    name = genai_type(model_type)
    if name is None or token_problem(config.config) is not None:
        return []
    generation_file = staging / "generation_config.json"
    generation = json.loads(generation_file.read_text()) if generation_file.is_file() else None
    graph = onnx.load(str(staging / filename), load_external_data=False).graph
    inputs = {i.name for i in graph.input}
    fused = any(node.op_type == FUSED_ATTENTION for node in graph.node)
    written = genai_config(
        config, name, generation, filename, position_ids="position_ids" in inputs, share_buffer=fused
    )
    (staging / CONFIG_FILE).write_text(json.dumps(written, indent=2) + "\n")
    return [CONFIG_FILE]
