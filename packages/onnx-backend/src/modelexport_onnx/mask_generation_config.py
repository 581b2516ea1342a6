"""Promptable mask generators (Segment Anything: SAM, SAM-HQ), exported as two files.

A user of SAM embeds an image once and then asks for masks many times, one prompt after another
(points clicked on the image). So the export is split where the model is: ``vision_encoder`` (the
heavy ViT, run once per image) and ``prompt_encoder_mask_decoder`` (light, run per prompt), the
split optimum and the ONNX ports of SAM use.

* ``vision_encoder``: ``pixel_values`` (batch, channels, image_size, image_size: fixed, 1024 for the
  released checkpoints) in; ``image_embeddings`` and ``image_positional_embeddings`` (the positional
  encoding of the embedding grid, the same for every image: handed on so the decoder file needs no
  copy of it) out.
* ``prompt_encoder_mask_decoder``: both embeddings, ``input_points`` (batch, point_batch_size,
  num_points, 2: x, y in pixels of the resized image) and ``input_labels`` (1: on the object,
  0: off it, -1: not a point, -10: padding) in; ``iou_scores`` and ``pred_masks`` (the low-resolution
  mask logits, 4 x the embedding grid) out, with the model's default ``multimask_output`` (three
  masks per prompt).

SAM-HQ (``hq``) also hands its first global-attention block's states from the encoder to the decoder
(``intermediate_embeddings``, channels last), which its high-quality mask token reads. SAM 2 (``high_resolution``)
hands on two finer feature maps (``high_resolution_features.0`` and ``.1``, 4 and 2 x the embedding grid) that its
decoder upsamples the masks with, and its decoder also says whether the object is in the image at all
(``object_score_logits``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, DummyShapes

from .config import AxisNames, InputSpec, NormalizedConfig, OnnxConfig, pixel_values_spec

#: The files of a mask-generation export, each exported with a config of its own.
Component = Literal["vision_encoder", "prompt_encoder_mask_decoder"]
COMPONENTS: tuple[Component, ...] = ("vision_encoder", "prompt_encoder_mask_decoder")
_BATCH: AxisNames = {0: "batch_size"}
_PROMPTS: AxisNames = {0: "batch_size", 1: "point_batch_size"}
_POINT_AXES = ("batch_size", "point_batch_size", "num_points")


class MaskGenerationOnnxConfig(OnnxConfig):
    """SAM-style promptable segmentation: an image encoder file and a prompt-and-mask-decoder file."""

    #: ``default`` (``AutoModel``) loads the same ``SamModel``: the same two files (optimum's feature extraction).
    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ("default", "mask-generation")
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4

    def __init__(
        self,
        config: Any,
        task: str = "mask-generation",
        *,
        component: Component | None = None,
        hq: bool = False,
        high_resolution: bool = False,
        **kwargs: Any,
    ) -> None:
        """``component``: which file this config exports (``None``: the whole export, see :meth:`components`).

        ``hq``: SAM-HQ, whose decoder also reads the encoder's ``intermediate_embeddings``.
        ``high_resolution``: SAM 2, whose decoder also reads two finer feature maps and scores the object.
        """
        if component is not None and component not in COMPONENTS:
            raise ValueError(f"component must be one of {COMPONENTS}, not {component!r}")
        self.component: Component | None = component
        self.hq = hq
        self.high_resolution = high_resolution
        self.options = kwargs
        kwargs.setdefault("sizes_from", "vision_config")
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(cls, *, hq: bool = False, high_resolution: bool = False, **options: Any) -> list[str]:
        notes = [
            "two files: vision_encoder (pixel_values fixed to the vision config's image_size) and "
            "prompt_encoder_mask_decoder (input_points in pixels of that image, input_labels 1/0/-1/-10)",
            "pred_masks: (batch_size, point_batch_size, 3, 4 x the embedding grid), low-resolution mask logits",
        ]
        if hq:
            notes.append("intermediate_embeddings: the encoder's first global-attention states, read by the decoder")
        if high_resolution:
            notes.append("high_resolution_features.0/.1: finer feature maps the decoder reads; object_score_logits out")
        return notes

    def components(self) -> dict[str, Self]:
        return {
            name: type(self)(
                self._config,
                self.task,
                component=name,
                hq=self.hq,
                high_resolution=self.high_resolution,
                **self.options,
            )
            for name in COMPONENTS
        }

    # --- sizes read from the model config ---------------------------------------------------------

    def _part(self, name: str) -> NormalizedConfig:
        return NormalizedConfig(self._config, self.names, part=name)

    def embedding_grid(self) -> int:
        """Side of the image embedding grid: the prompt encoder's ``image_size // patch_size`` (64 for SAM)."""
        prompt = self._part("prompt_encoder_config")
        return int(prompt.get("image_size")) // int(prompt.get("patch_size"))

    def prompt_image_size(self) -> int:
        """The side of the (resized, padded) image the points are given in (1024 for SAM)."""
        return int(self._part("prompt_encoder_config").get("image_size"))

    def embedding_channels(self) -> int:
        """The width of the image embeddings: the mask decoder's (256 for SAM and SAM 2)."""
        return int(self._part("mask_decoder_config").get("hidden_size"))

    def high_resolution_shapes(self) -> list[tuple[int, int, int]]:
        """SAM 2's finer feature maps: channels (the decoder's width / 8 and / 4), height, width (the backbone's)."""
        sizes = self._part("vision_config").get("backbone_feature_sizes")
        width = self.embedding_channels()
        return [(width // 8, int(sizes[0][0]), int(sizes[0][1])), (width // 4, int(sizes[1][0]), int(sizes[1][1]))]

    def _handed_on(self) -> list[InputSpec]:
        """What the encoder hands the decoder besides the embeddings and their positional encoding."""
        specs = []
        if self.hq:
            grid, width = self.embedding_grid(), int(self._part("vision_config").get("hidden_size"))
            specs.append(InputSpec("intermediate_embeddings", "float", ("batch_size", grid, grid, width)))
        if self.high_resolution:
            specs += [
                InputSpec(f"high_resolution_features.{i}", "float", ("batch_size", *shape))
                for i, shape in enumerate(self.high_resolution_shapes())
            ]
        return specs

    # --- inputs and outputs -------------------------------------------------------------------------

    def input_specs(self) -> list[InputSpec]:
        if self.component in (None, "vision_encoder"):
            return [pixel_values_spec(self._part("vision_config"), dynamic_size=False)]
        grid = self.embedding_grid()
        embeddings = ("batch_size", self.embedding_channels(), grid, grid)
        return [
            InputSpec("image_embeddings", "float", embeddings),
            InputSpec("image_positional_embeddings", "float", embeddings),
            *self._handed_on(),
            InputSpec("input_points", "points", (*_POINT_AXES, 2)),
            InputSpec("input_labels", "point_labels", _POINT_AXES),
        ]

    @property
    def outputs(self) -> dict[str, AxisNames]:
        if self.component in (None, "vision_encoder"):
            names = ["image_embeddings", "image_positional_embeddings", *(spec.name for spec in self._handed_on())]
            return {name: dict(_BATCH) for name in names}
        outputs = {"iou_scores": dict(_PROMPTS), "pred_masks": dict(_PROMPTS)}
        if self.high_resolution:
            outputs["object_score_logits"] = dict(_PROMPTS)
        return outputs

    def generate_dummy_inputs(self, shapes: DummyShapes = EXPORT_SHAPES, seed: int = 0, **sizes: int) -> dict[str, Any]:
        """Random floats for the image and embeddings; points inside the image, labels on (1) or off (0) the object."""
        import numpy as np

        shapes = shapes.with_sizes(**sizes)
        rng = np.random.default_rng(seed)
        inputs: dict[str, Any] = {}
        for spec in self.input_specs():
            shape = tuple(shapes.size_of(axis) for axis in spec.axes)
            if spec.kind == "points":
                points = rng.uniform(0, self.prompt_image_size(), size=shape)
                inputs[spec.name] = points.astype(self.dtype_of("float"))
            elif spec.kind == "point_labels":
                inputs[spec.name] = rng.integers(0, 2, size=shape).astype(self.dtype_of("int"))
            else:
                inputs[spec.name] = rng.standard_normal(size=shape).astype(self.dtype_of(spec.kind))
        return inputs
