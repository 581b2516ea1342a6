"""The PyTorch side of sentence-transformers exports: the module traced, and the library's own embeddings.

:class:`SentencePipelineModule` runs transformer -> pooling -> dense -> normalize on the ONNX input
names. The pooling and normalize arithmetic is ours, built from the pipeline read from the files
(:mod:`modelexport_onnx.sentence_transformers`); the weights are the ones the library loaded (its
transformers model, its ``Dense`` layers' linear maps and activations). Run eagerly, the same module
gives step 6's reference outputs; :func:`library_embeddings` gives what it is checked against besides:
``SentenceTransformer.encode``, code of the library's that shares nothing with ours but the weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from modelexport_pipeline.libraries.sentence_transformers import (
    DenseStep,
    NormalizeStep,
    PoolingMode,
    PoolingStep,
    TransformerStep,
)

from ...sentence_transformers import SentenceEmbeddingOnnxConfig
from .float64 import float64_unavailable, float64_weights


def pool(mode: PoolingMode, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One pooled vector per sentence from its token embeddings, padding (``mask == 0``) left out."""
    if mode == "cls":
        # The first real token (left padding skipped); int32: onnxruntime's ArgMax takes no int64. Picked by a
        # one-hot sum (exact: the other terms are zeros) rather than a gather, whose index shape would make the
        # embedding size a dynamic dimension of the traced graph.
        first = mask.to(torch.int32).argmax(dim=1)
        positions = torch.arange(tokens.size(1), device=tokens.device)
        pick = (positions.unsqueeze(0) == first.unsqueeze(1)).to(tokens.dtype)
        return (tokens * pick.unsqueeze(-1)).sum(dim=1)
    weights = mask.unsqueeze(-1).to(tokens.dtype)
    if mode == "max":
        return tokens.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    count = torch.clamp(weights.sum(dim=1), min=1e-9)
    total = (tokens * weights).sum(dim=1)
    return total / (count if mode == "mean" else torch.sqrt(count))


def normalize(x: torch.Tensor) -> torch.Tensor:
    """Unit L2 length along the last axis, as ``torch.nn.functional.normalize`` (eps 1e-12): dividing by the
    broadcast norm, not its ``expand_as``, keeps the embedding size a fixed dimension of the traced graph."""
    return x / torch.clamp(torch.linalg.vector_norm(x, ord=2, dim=-1, keepdim=True), min=1e-12)


class SentencePipelineModule(torch.nn.Module):
    """The config's inputs, positionally, in; ``token_embeddings`` and ``sentence_embedding`` out."""

    def __init__(self, model: Any, config: SentenceEmbeddingOnnxConfig) -> None:
        super().__init__()
        modules = dict(model.named_children())
        steps = config.pipeline.steps
        first = steps[0]
        assert isinstance(first, TransformerStep)
        library_transformer = modules[first.name]
        self.transformer = getattr(library_transformer, "auto_model", None) or library_transformer.model
        self.dense = torch.nn.ModuleDict({s.name: modules[s.name] for s in steps if isinstance(s, DenseStep)})
        self.steps = steps[1:]
        self.input_names = list(config.inputs)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        named = dict(zip(self.input_names, args, strict=True))
        features = {"token_embeddings": self.transformer(**named, return_dict=True)[0]}
        for step in self.steps:
            if isinstance(step, PoolingStep):
                pooled = [pool(mode, features["token_embeddings"], named["attention_mask"]) for mode in step.modes]
                features["sentence_embedding"] = torch.cat(pooled, dim=-1)
            elif isinstance(step, DenseStep):
                dense = self.dense[step.name]
                x = features["sentence_embedding"]
                out = dense.activation_function(dense.linear(x))
                if step.residual:
                    out = out + (x if step.in_features == step.out_features else dense.residual(x))
                features["sentence_embedding"] = out
            elif isinstance(step, NormalizeStep):
                features[step.key] = normalize(features[step.key])
        return features["token_embeddings"], features["sentence_embedding"]


@dataclass(frozen=True)
class LibraryEmbeddings:
    """The library's view of some sentences: its tokenization, ``encode``'s embeddings, and a float64 run."""

    #: ``input_ids``, ``attention_mask``... as int64 numpy arrays, one padded batch.
    inputs: dict[str, Any]
    #: ``SentenceTransformer.encode``'s float32 embeddings.
    encoded: Any
    #: The library's forward on the same inputs with its weights in float64 (``None`` when not possible).
    float64: Any | None
    no_float64: str | None = None


def library_embeddings(model: Any, sentences: list[str]) -> LibraryEmbeddings:
    """Tokenize and embed ``sentences`` with the library itself (a default prompt, if any, applied to both)."""
    prompt_name = getattr(model, "default_prompt_name", None)
    prompt = (getattr(model, "prompts", None) or {}).get(prompt_name) if prompt_name else None
    tokenize = getattr(model, "preprocess", None) or model.tokenize
    features = tokenize(sentences, prompt=prompt) if prompt else tokenize(sentences)
    tensors = {k: v for k, v in features.items() if isinstance(v, torch.Tensor)}
    inputs = {name: value.to(torch.int64).numpy() for name, value in tensors.items()}
    encoded = model.encode(sentences, batch_size=len(sentences), convert_to_numpy=True, prompt=prompt)
    no_float64 = float64_unavailable(model)
    float64 = None
    if no_float64 is None:
        try:
            with float64_weights(model), torch.inference_mode():
                float64 = model(dict(features))["sentence_embedding"].to(torch.float64).numpy()
        except Exception as error:
            no_float64 = f"the float64 run failed: {type(error).__name__}: {str(error).strip()[:200]}"
    return LibraryEmbeddings(inputs, encoded, float64, no_float64)


def export_module(model: Any, config: Any) -> Any:
    """What the PyTorch converter traces and runs for a sentence-transformers pipeline (the sentence kind's)."""
    return SentencePipelineModule(model, config)
