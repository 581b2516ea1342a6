"""timm models as the PyTorch converter traces them: ``pixel_values`` in, the task's outputs as a tuple."""

from __future__ import annotations

from typing import Any

import torch


class TimmClassifier(torch.nn.Module):
    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.model(pixel_values),)


class TimmFeatures(torch.nn.Module):
    """timm's unpooled features (``forward_features``) and pooled ones (``forward_head(pre_logits=True)``)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.model.forward_features(pixel_values)
        return features, self.model.forward_head(features, pre_logits=True)


def export_module(model: Any, config: Any) -> torch.nn.Module:
    """What the converter traces and runs for a timm model's export of ``config.task``."""
    if config.task == "default":
        return TimmFeatures(model)
    return TimmClassifier(model)
