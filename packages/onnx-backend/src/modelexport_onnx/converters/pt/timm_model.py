"""timm models as the PyTorch converter traces them: ``pixel_values`` in, the task's outputs as a tuple.

Like every module the converter exports, ``forward`` takes the config's inputs as positional arguments
(``*args``, in the config's order): the dynamo exporter's dynamic shapes are given for them that way."""

from __future__ import annotations

from typing import Any

import torch


class TimmClassifier(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor]:
        (pixel_values,) = args
        return (self.model(pixel_values),)


class TimmFeatures(torch.nn.Module):
    """timm's unpooled features (``forward_features``) and pooled ones (``forward_head(pre_logits=True)``)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (pixel_values,) = args
        features = self.model.forward_features(pixel_values)
        return features, self.model.forward_head(features, pre_logits=True)


def export_module(model: Any, config: Any) -> torch.nn.Module:
    """What the converter traces and runs for a timm model's export of ``config.task``."""
    if config.task == "default":
        return TimmFeatures(model)
    return TimmClassifier(model)
