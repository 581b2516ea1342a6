"""The two modules a SAM export traces (:mod:`modelexport_onnx.mask_generation_config`), on the model's own parts.

``VisionEncoder`` is ``get_image_embeddings`` plus the image-wide positional encoding the model's ``forward``
builds for its decoder (repeated per image); ``PromptMaskDecoder`` is the rest of ``forward`` when it is given
``image_embeddings``: the prompt encoder, then the mask decoder, with the positional encoding read from the input
instead of rebuilt. Chained, the two give ``forward(pixel_values=...)``'s ``iou_scores`` and ``pred_masks``.

Both take the config's inputs positionally (the dynamo exporter's shapes are given per argument) and return its
outputs in order.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


def default_multimask_output(model: torch.nn.Module) -> bool:
    """The model's own default for ``multimask_output`` (``True`` for SAM: three masks per prompt)."""
    parameter = inspect.signature(model.forward).parameters.get("multimask_output")
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return True
    return bool(parameter.default)


class VisionEncoder(torch.nn.Module):
    """``pixel_values`` -> the image embeddings, their positional encoding, and what the decoder also reads."""

    def __init__(self, model: Any, config: Any) -> None:
        super().__init__()
        self.model = model
        self.hq = config.hq
        self.high_resolution = config.high_resolution

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        (pixel_values,) = args
        embedded = self.model.get_image_embeddings(pixel_values)
        positional = self.model.get_image_wide_positional_embeddings().repeat(pixel_values.shape[0], 1, 1, 1)
        if self.hq:  # SAM-HQ: (embeddings, the global blocks' states); its decoder reads the first block's
            return embedded[0], positional, embedded[1][0]
        if self.high_resolution:  # SAM 2: feature maps finest first, the embeddings last
            return embedded[-1], positional, *embedded[:-1]
        return embedded, positional


class PromptMaskDecoder(torch.nn.Module):
    """Embeddings, points and labels -> ``iou_scores``, ``pred_masks`` (SAM 2: ``object_score_logits``)."""

    def __init__(self, model: Any, config: Any) -> None:
        super().__init__()
        self.model = model
        self.input_names = list(config.inputs)
        self.hq = config.hq
        self.high_resolution = config.high_resolution
        self.multimask_output = default_multimask_output(model)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.input_names, args, strict=True))
        sparse, dense = self.model.prompt_encoder(
            input_points=named["input_points"], input_labels=named["input_labels"], input_boxes=None, input_masks=None
        )
        extra: dict[str, Any] = {}
        if self.hq:
            extra = {"hq_token_only": False, "intermediate_embeddings": [named["intermediate_embeddings"]]}
        if self.high_resolution:
            features = sorted(name for name in named if name.startswith("high_resolution_features."))
            extra = {"high_resolution_features": [named[name] for name in features]}
        decoded = self.model.mask_decoder(
            image_embeddings=named["image_embeddings"],
            image_positional_embeddings=named["image_positional_embeddings"],
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=self.multimask_output,
            **extra,
        )
        masks, iou_scores = decoded[0], decoded[1]
        if self.high_resolution:  # SAM 2: masks, scores, the output tokens, whether the object is there
            return iou_scores, masks, decoded[3]
        return iou_scores, masks


def export_module(model: Any, config: Any) -> Any:
    """What the PyTorch converter traces and runs for one of SAM's files."""
    if config.component == "prompt_encoder_mask_decoder":
        return PromptMaskDecoder(model, config)
    return VisionEncoder(model, config)
