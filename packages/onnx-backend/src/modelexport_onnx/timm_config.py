"""timm models: one export config for every architecture (optimum's ``default-timm-config``), sized by the
model's ``pretrained_cfg``.

``pixel_values`` (batch, channels, height, width) at the ``input_size`` the model was trained at (fixed: many
timm architectures, ViTs first, embed positions for one size); ``image-classification`` gives ``logits``,
``default`` (feature extraction) gives the unpooled features timm's ``forward_features`` returns
(``last_hidden_state``: a feature map or a token sequence, whatever the architecture's shape) and the pooled ones
``forward_head(pre_logits=True)`` returns (``pooler_output``). The module traced is :mod:`.kinds.timm`'s.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from .config import AxisNames, InputSpec, OnnxConfig

#: The input size where ``pretrained_cfg`` has none (timm's own default).
DEFAULT_INPUT_SIZE = (3, 224, 224)
#: The registry rows: the model type of every timm model and the tasks it exports.
TIMM_TASKS = ("image-classification", "default")


#: The timm walk's measured table (``tools/timm_walk.py``): per family, the model tried and whether it exported.
WALK_TABLE = Path(__file__).with_name("timm_architectures.json")
#: The walk's report request, for an export of a family it did not see pass that then fails.
WALK_REPORT_HINT = (
    "Please report it (the model name and this output) so that the timm walk can measure it; --exporter dynamo "
    "may trace what TorchScript cannot."
)


@functools.cache
def _walk() -> dict[str, Any]:
    table: dict[str, Any] = json.loads(WALK_TABLE.read_text())
    return table


def walk_notes(architecture: str, family: str | None) -> tuple[str, ...]:
    """What the timm walk measured of ``architecture``'s family, for the export's notes: nothing where the family
    passed; otherwise why it failed, why it was not tried, or that the walk has not seen it (a newer timm's)."""
    table = _walk()
    if family is None or family in table["passed"]:
        return ()
    failed = table["failed"].get(family)
    if failed is None:
        return (f"timm's {family} family ({architecture}) is not in the walk of timm {table['timm']}: not measured",)
    if "skipped" in failed:
        return (f"timm's {family} family is not measured: the walk skipped {failed['model']} ({failed['skipped']})",)
    why = str(failed["why"]).split(" [Caused by")[0]
    return (f"timm's {family} family failed the walk ({failed['model']}: {why[:200]})",)


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
