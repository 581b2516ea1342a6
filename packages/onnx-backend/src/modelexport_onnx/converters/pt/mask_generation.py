"""The two modules a SAM export traces (:mod:`modelexport_onnx.mask_generation_config`), on the model's own parts.

``VisionEncoder`` is ``get_image_embeddings`` plus the image-wide positional encoding the model's ``forward``
builds for its decoder (repeated per image); ``PromptMaskDecoder`` is the rest of ``forward`` when it is given
``image_embeddings``: the prompt encoder, then the mask decoder, with the positional encoding read from the input
instead of rebuilt. Chained, the two give ``forward(pixel_values=...)``'s ``iou_scores`` and ``pred_masks``.
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
    """``pixel_values`` -> the image embeddings, their positional encoding (and SAM-HQ's intermediate states)."""

    def __init__(self, model: Any, *, hq: bool = False) -> None:
        super().__init__()
        self.model = model
        self.hq = hq

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        (pixel_values,) = args  # positional like every traced wrapper: the dynamo exporter's shapes are per argument
        embedded = self.model.get_image_embeddings(pixel_values)
        # SAM-HQ returns its intermediate states too; its decoder reads the first global-attention block's
        image_embeddings, intermediate = (embedded[0], embedded[1][0]) if self.hq else (embedded, None)
        positional = self.model.get_image_wide_positional_embeddings()
        positional = positional.repeat(pixel_values.shape[0], 1, 1, 1)
        if intermediate is None:
            return image_embeddings, positional
        return image_embeddings, positional, intermediate


class PromptMaskDecoder(torch.nn.Module):
    """Embeddings, points and labels -> ``iou_scores``, ``pred_masks``: the prompt encoder, then the mask decoder."""

    def __init__(self, model: Any, *, hq: bool = False) -> None:
        super().__init__()
        self.model = model
        self.hq = hq
        self.multimask_output = default_multimask_output(model)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.hq:
            image_embeddings, positional, intermediate, points, labels = args
        else:
            (image_embeddings, positional, points, labels), intermediate = args, None
        sparse, dense = self.model.prompt_encoder(
            input_points=points, input_labels=labels, input_boxes=None, input_masks=None
        )
        extra: dict[str, Any] = {"hq_token_only": False, "intermediate_embeddings": [intermediate]} if self.hq else {}
        masks, iou_scores = self.model.mask_decoder(
            image_embeddings=image_embeddings,
            image_positional_embeddings=positional,
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=self.multimask_output,
            **extra,
        )[:2]
        return iou_scores, masks
