"""timm models: one export config for every architecture (optimum's ``default-timm-config``), sized by the
model's ``pretrained_cfg``.

``pixel_values`` (batch, channels, height, width) at the ``input_size`` the model was trained at (fixed: many
timm architectures, ViTs first, embed positions for one size); ``image-classification`` gives ``logits``,
``default`` (feature extraction) gives the unpooled features timm's ``forward_features`` returns
(``last_hidden_state``: a feature map or a token sequence, whatever the architecture's shape) and the pooled ones
``forward_head(pre_logits=True)`` returns (``pooler_output``). The module traced is :mod:`.kinds.timm`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from .config import AxisNames, InputSpec, OnnxConfig

#: The input size where ``pretrained_cfg`` has none (timm's own default).
DEFAULT_INPUT_SIZE = (3, 224, 224)
#: The registry rows: the model type of every timm model and the tasks it exports.
TIMM_TASKS = ("image-classification", "default")


def pretrained_cfg(config: Any) -> Mapping[str, Any]:
    cfg = config.get("pretrained_cfg") if isinstance(config, Mapping) else getattr(config, "pretrained_cfg", None)
    return cfg if isinstance(cfg, Mapping) else {}


class TimmOnnxConfig(OnnxConfig):
    """A timm image model: pixels in, logits or features out."""

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = TIMM_TASKS
    DEFAULT_ONNX_OPSET: ClassVar[int] = 17
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        "image-classification": {"logits": {0: "batch_size"}},
        "default": {"last_hidden_state": {0: "batch_size"}, "pooler_output": {0: "batch_size"}},
    }

    def __init__(self, config: Any, task: str = "image-classification", **kwargs: Any) -> None:
        super().__init__(config, task, **kwargs)
        size = pretrained_cfg(config).get("input_size") or DEFAULT_INPUT_SIZE
        self.input_size: tuple[int, int, int] = (int(size[0]), int(size[1]), int(size[2]))

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        return ["pixel_values at the model's pretrained_cfg input_size (fixed height and width)"]

    def input_specs(self) -> list[InputSpec]:
        return [InputSpec("pixel_values", "float", ("batch_size", *self.input_size))]
