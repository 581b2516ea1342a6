"""Image models' specs: ``pixel_values`` in, the task's outputs out."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import AxisNames, ExportSpec, InputSpec, NormalizedConfig

#: Where a config has no ``image_size``, exports of fixed-size models use this (documented).
DEFAULT_IMAGE_SIZE = 224
_BATCH = {0: "batch_size"}
#: Universal segmentation's answer per object query (``mask_queries``): a class and a mask each, no boxes.
MASK_QUERY_OUTPUTS: dict[str, AxisNames] = {"class_queries_logits": _BATCH, "masks_queries_logits": _BATCH}


class VisionSpec(ExportSpec):
    """Image models: ``pixel_values`` in, the task's outputs out.

    ``dynamic_size`` says whether height and width may change after export (convolutional
    models, models that interpolate position embeddings); otherwise they are fixed to the
    config's ``image_size`` and the registry listing says so.

    ``mask_queries`` says how the model segments an image: DETR answers with boxes and masks per
    object query (``logits``, ``pred_boxes``, ``pred_masks``); the mask classifiers of universal
    segmentation (MaskFormer, Mask2Former) answer with a class and a mask per query and no boxes
    (``class_queries_logits``: batch, queries, labels + 1 for "no object"; ``masks_queries_logits``:
    batch, queries, and a quarter of the image's height and width).

    ``logit_heads``: the model's ``logits`` is a tuple, one per head (MGP-STR reads text three ways:
    characters, BPE tokens, word pieces); each is an output of its own, ``{head}_logits``.

    ``masking_noise``: the model hides a random ``mask_ratio`` of its patches, ranked by noise it
    draws itself (ViT-MAE); the noise is an input instead, ``noise`` of (batch, patches): the
    export is then a function of its inputs (an ONNX random draw would be one of onnxruntime's
    generator), and noise increasing along the patches keeps the first ones, in their order.
    """

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = (
        "default",
        "image-classification",
        "masked-im",
        "object-detection",
        "image-segmentation",
        "semantic-segmentation",
        "depth-estimation",
        "image-to-image",
        "keypoint-detection",
    )
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        # feature extraction: the backbone's hidden states (one per patch and special token, or a feature map)
        "default": {"last_hidden_state": _BATCH},
        "image-classification": {"logits": _BATCH},
        "masked-im": {"reconstruction": _BATCH},
        "object-detection": {"logits": _BATCH, "pred_boxes": _BATCH},
        "image-segmentation": {"logits": _BATCH, "pred_boxes": _BATCH, "pred_masks": _BATCH},  # DETR
        "semantic-segmentation": {"logits": _BATCH},
        "depth-estimation": {"predicted_depth": _BATCH},
        "image-to-image": {"reconstruction": _BATCH},  # super-resolution: the upscaled image
        "keypoint-detection": {"heatmaps": _BATCH},  # pose estimation: one heatmap per keypoint
    }

    def __init__(
        self,
        config: Any,
        task: str = "image-classification",
        *,
        dynamic_size: bool = True,
        mask_queries: bool = False,
        masking_noise: bool = False,
        logit_heads: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        self.dynamic_size = dynamic_size
        self.mask_queries = mask_queries
        self.logit_heads = tuple(logit_heads)
        self.masking_noise = masking_noise
        if masking_noise and dynamic_size:
            raise ValueError("masking_noise ranks the patches of a fixed image size: it needs dynamic_size=False.")
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(cls, *, dynamic_size: bool = True, masking_noise: bool = False, **options: Any) -> list[str]:
        notes = []
        if not dynamic_size:
            size = DEFAULT_IMAGE_SIZE
            notes.append(f"height and width are fixed to the config's image_size ({size} when it has none)")
        if masking_noise:
            notes.append("noise (batch_size, patches) ranks the patches: the lowest (1 - mask_ratio) are kept")
        return notes

    @property
    def outputs(self) -> dict[str, AxisNames]:
        if self.mask_queries and self.task == "image-segmentation":
            return {name: dict(axes) for name, axes in MASK_QUERY_OUTPUTS.items()}
        if self.logit_heads:
            return {f"{head}_logits": dict(_BATCH) for head in self.logit_heads}
        return super().outputs

    def output_source(self, name: str) -> tuple[str, int | None]:
        heads = [f"{head}_logits" for head in self.logit_heads]
        return ("logits", heads.index(name)) if name in heads else (name, None)

    def image_size(self) -> tuple[int, int]:
        return image_size(self.normalized)

    def input_specs(self) -> list[InputSpec]:
        specs = [pixel_values_spec(self.normalized, self.dynamic_size)]
        if self.masking_noise:
            specs.append(InputSpec("noise", "float", ("batch_size", self._patches())))
        return specs

    def _patches(self) -> int:
        """The number of patches of a ``image_size`` image (the masking ranks that many)."""
        height, width = self.image_size()
        patch = self.normalized.get("patch_size") or 16
        patch_height, patch_width = (patch[0], patch[1]) if isinstance(patch, (list, tuple)) else (patch, patch)
        return (height // int(patch_height)) * (width // int(patch_width))


def image_size(normalized: NormalizedConfig) -> tuple[int, int]:
    """The config's ``image_size`` (of its vision part or backbone where it has one), as height and width."""
    size = next(
        (
            value
            for name in ("image_size", "vision_config.image_size", "backbone_config.image_size")
            if (value := normalized.get(name)) is not None
        ),
        None,
    )
    if size is None:
        return DEFAULT_IMAGE_SIZE, DEFAULT_IMAGE_SIZE
    if isinstance(size, (list, tuple)):
        return int(size[0]), int(size[1])
    return int(size), int(size)


def pixel_values_spec(normalized: NormalizedConfig, dynamic_size: bool, batch: str = "batch_size") -> InputSpec:
    """``pixel_values``: (batch, channels, height, width), the image size fixed unless ``dynamic_size``."""
    channels = int(normalized.get("num_channels") or 3)
    if dynamic_size:
        return InputSpec("pixel_values", "float", (batch, channels, "height", "width"))
    return InputSpec("pixel_values", "float", (batch, channels, *image_size(normalized)))
