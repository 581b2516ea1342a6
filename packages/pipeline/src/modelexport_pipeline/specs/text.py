"""Text models' specs: encoder-only (the BERT family) and decoder-only (with or without a key/value cache)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from ..cache_names import cache_names
from .base import HEAD_OUTPUTS, AxisNames, ExportSpec, InputSpec

#: Whether a text encoder takes ``token_type_ids`` (``if-type-vocab``: when ``type_vocab_size > 0``).
TokenTypeIds = Literal["always", "never", "if-type-vocab"]
#: The tasks of encoder-only text models that transformers has heads for.
ENCODER_TASKS = (
    "default",
    "masked-lm",
    "sequence-classification",
    "token-classification",
    "question-answering",
    "multiple-choice",
)
_TEXT_AXES = ("batch_size", "sequence_length")
_CHOICE_AXES = ("batch_size", "num_choices", "sequence_length")
_TOKENS = {0: "batch_size", 1: "sequence_length"}


class TextEncoderSpec(ExportSpec):
    """Encoder-only text models (the BERT family): ids, mask and optionally token types."""

    #: ``image-classification``: a classifier of images read as tokens (ImageGPT's colour-cluster ids).
    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = (*ENCODER_TASKS, "image-classification")
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        "default": {"last_hidden_state": _TOKENS},
        "image-classification": {"logits": {0: "batch_size"}},
        "masked-lm": {"logits": _TOKENS},
        "sequence-classification": {"logits": {0: "batch_size"}},
        "token-classification": {"logits": _TOKENS},
        "question-answering": {"start_logits": _TOKENS, "end_logits": _TOKENS},
        "multiple-choice": {"logits": {0: "batch_size", 1: "num_choices"}},
    }

    def __init__(
        self,
        config: Any,
        task: str = "default",
        *,
        token_type_ids: TokenTypeIds = "always",
        bbox: bool = False,
        page_image: bool = False,
        decoded_positions: bool = False,
        **kwargs: Any,
    ) -> None:
        """``token_type_ids``: ``always``, ``never`` or ``if-type-vocab`` (when ``type_vocab_size > 0``).

        ``bbox``: the model also reads each token's box on the page (LayoutLM, LiLT): ``bbox`` of
        (batch, sequence, 4) ``x0, y0, x1, y1`` coordinates.

        ``page_image``: the model also reads the page itself (LayoutLMv3): ``pixel_values`` of (batch,
        channels, ``input_size``, ``input_size``), fixed (its patch position table and visual boxes are sized
        for ``input_size``), where the config embeds images (``visual_embed``). The image's patches (and
        their [CLS]) follow the text in the encoder's states: ``last_hidden_state`` and the question-answering
        logits are that many positions longer than the text; token-classification logits cover the text only.

        ``decoded_positions``: the masked-LM head answers on a fixed number of positions, the config's
        ``max_position_embeddings``, whatever the input's length (Perceiver decodes from its latents
        with one query per position): that axis of ``logits`` is fixed, the first ``sequence_length``
        rows are the input's.
        """
        if token_type_ids not in {"always", "never", "if-type-vocab"}:
            raise ValueError(f"token_type_ids must be 'always', 'never' or 'if-type-vocab', not {token_type_ids!r}.")
        self.token_type_ids: TokenTypeIds = token_type_ids
        self.bbox = bbox
        self.page_image = page_image
        self.decoded_positions = decoded_positions
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(cls, *, decoded_positions: bool = False, page_image: bool = False, **options: Any) -> list[str]:
        if decoded_positions:
            return ["masked-lm logits: (batch_size, max_position_embeddings, vocab_size), the input's positions first"]
        if page_image:
            return [
                "pixel_values: (batch_size, num_channels, input_size, input_size), fixed; bbox: (batch_size, "
                "sequence_length, 4) boxes x0 <= x1, y0 <= y1 on a 0-1000 page; the image's patches follow the text "
                "in last_hidden_state and the question-answering logits"
            ]
        return []

    @property
    def outputs(self) -> dict[str, AxisNames]:
        outputs = super().outputs
        if self.decoded_positions and self.task == "masked-lm":
            outputs["logits"] = {0: "batch_size"}
        if self._reads_page_image() and self.task in ("default", "question-answering"):
            tokens = f"sequence_length + {self.image_tokens()}"  # the text, then the image's [CLS] and patches
            outputs = {name: {**axes, 1: tokens} for name, axes in outputs.items()}
        return outputs

    def _reads_page_image(self) -> bool:
        """Whether the export takes ``pixel_values``: asked for, and the config embeds images."""
        return self.page_image and bool(getattr(self._config, "visual_embed", True))

    def page_image_size(self) -> int:
        """The side of the page image the model reads (``input_size``: its patch grid is sized for it)."""
        return int(self.normalized.get("input_size"))

    def image_tokens(self) -> int:
        """The encoder states the page image adds: one per patch, and its [CLS]."""
        side = self.page_image_size() // int(self.normalized.get("patch_size"))
        return side * side + 1

    def _uses_token_type_ids(self) -> bool:
        if self.token_type_ids == "if-type-vocab":
            return int(getattr(self._config, "type_vocab_size", 0) or 0) > 0
        return self.token_type_ids == "always"

    def input_specs(self) -> list[InputSpec]:
        axes = _CHOICE_AXES if self.task == "multiple-choice" else _TEXT_AXES
        specs = [InputSpec("input_ids", "token_ids", axes)]
        if self.bbox:
            specs.append(InputSpec("bbox", "bbox", (*axes, 4)))
        specs.append(InputSpec("attention_mask", "attention_mask", axes))
        if self._uses_token_type_ids():
            specs.append(InputSpec("token_type_ids", "token_type_ids", axes))
        if self._reads_page_image():
            channels, side = int(self.normalized.get("num_channels") or 3), self.page_image_size()
            specs.append(InputSpec("pixel_values", "float", ("batch_size", channels, side, side)))
        return specs


_PAST = "past_sequence_length"
_TOTAL = "past_sequence_length + sequence_length"


class DecoderSpec(ExportSpec):
    """Decoder-only text models, with or without a key/value cache.

    With past, inputs are ``input_ids``, ``attention_mask`` (over past and new tokens),
    ``position_ids`` where the architecture takes them, and ``past_key_values.{i}.key/value``;
    outputs are ``logits`` (or ``last_hidden_state``) and ``present.{i}.key/value``. Grouped-query
    attention shows in the cache shapes: ``num_key_value_heads``, not the query heads.
    """

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = (
        "default",
        "default-with-past",
        "causal-lm",
        "causal-lm-with-past",
        *HEAD_OUTPUTS,
    )
    GENERATIVE: ClassVar[bool] = True
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4

    def __init__(
        self,
        config: Any,
        task: str = "causal-lm",
        *,
        position_ids: bool = True,
        **kwargs: Any,
    ) -> None:
        self.position_ids = position_ids
        super().__init__(config, task, **kwargs)

    def _mask_axes(self) -> tuple[str, ...]:
        return ("batch_size", _TOTAL if self.uses_past else "sequence_length")

    def _past_axes(self, total: bool, part: str = "key") -> tuple[str | int, ...]:
        n = self.normalized
        width = n.value_head_dim if part == "value" else n.key_head_dim
        return ("batch_size", n.num_kv_heads, _TOTAL if total else _PAST, width)

    def input_specs(self) -> list[InputSpec]:
        specs = [
            InputSpec("input_ids", "token_ids", _TEXT_AXES),
            InputSpec("attention_mask", "attention_mask", self._mask_axes()),
        ]
        if self.position_ids:
            specs.append(InputSpec("position_ids", "position_ids", _TEXT_AXES))
        if self.uses_past:
            specs += [
                InputSpec(name.past, "float", self._past_axes(total=False, part=name.part))
                for name in cache_names(self.normalized.num_layers)
            ]
        return specs

    @property
    def outputs(self) -> dict[str, AxisNames]:
        if self.task in HEAD_OUTPUTS:  # classification and extraction heads: no cache
            return {name: dict(axes) for name, axes in HEAD_OUTPUTS[self.task].items()}
        main = "last_hidden_state" if self.task.startswith("default") else "logits"
        outputs: dict[str, AxisNames] = {main: {0: "batch_size", 1: "sequence_length"}}
        if self.uses_past:
            for name in cache_names(self.normalized.num_layers):
                outputs[name.present] = {0: "batch_size", 2: _TOTAL}
        return outputs
