"""Export configs: what an ONNX export of one ``(architecture, task)`` takes and gives.

A config is framework free. It knows the input and output names, which axis of each is
dynamic and under what name (``batch_size``, ``sequence_length``, ``num_choices``, the names
optimum uses), the opset range, and how to make numpy dummy inputs of any shape. Validation
derives each output's bound from the model itself (:mod:`.validation`); ``atol`` is the absolute
tolerance of comparisons between two exports (optimum's ``ATOL_FOR_VALIDATION``, kept by name).
Architectures are data (:mod:`.architectures`), not subclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar, Literal

from modelexport_core.errors import UnsupportedTaskError
from modelexport_core.tasks import Task
from modelexport_pipeline.cache_names import PAST_PREFIX, PRESENT_PREFIX, Attention, CacheName, cache_names
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, FLOAT_KINDS, DummyShapes, generate_array

AxisNames = dict[int, str]
#: The files of an encoder-decoder export, each exported with a config of its own.
Part = Literal["encoder", "decoder", "decoder_with_past"]
#: How a speech encoder reads audio (see :class:`Seq2SeqOnnxConfig`); ``None`` for text.
Speech = Literal["whisper", "frames", "waveform"]
#: How an image encoder reads the image (see :class:`Seq2SeqOnnxConfig`): ``pixels`` (``pixel_values``, a ViT
#: or Swin encoder) or ``patches`` (Pix2Struct's ``flattened_patches`` and their mask).
Vision = Literal["pixels", "patches"]
#: Whether a text encoder takes ``token_type_ids`` (``if-type-vocab``: when ``type_vocab_size > 0``).
TokenTypeIds = Literal["always", "never", "if-type-vocab"]

_INT_DTYPES = {"int64": "int64", "int32": "int32"}
_FLOAT_DTYPES = {"fp32": "float32", "fp16": "float16"}


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, the kind of values it holds and its axes (names are dynamic, ints fixed)."""

    name: str
    kind: str
    axes: tuple[str | int, ...]


def _as_attributes(config: Any) -> Any:
    """Let a plain ``config.json`` dict be read like a transformers config."""
    if isinstance(config, Mapping):
        return SimpleNamespace(**config)
    return config


class OnnxConfig:
    """Base of every ONNX export config: inputs, outputs, dynamic axes and dummy inputs."""

    DEFAULT_ONNX_OPSET: ClassVar[int] = 14
    MIN_ONNX_OPSET: ClassVar[int] = 11
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-5
    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ()
    #: Whether the model generates (takes ``use_cache``; validation runs a generation loop).
    GENERATIVE: ClassVar[bool] = False
    #: Which file of an encoder-decoder this config exports (``None``: the whole model).
    part: Part | None = None

    #: Outputs of each task, with their dynamic axes.
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {}

    def __init__(
        self,
        config: Any,
        task: str = "default",
        *,
        int_dtype: str = "int64",
        float_dtype: str = "fp32",
        min_opset: int | None = None,
        atol: float | None = None,
        names: Mapping[str, str] | None = None,
        sizes_from: str | None = None,
    ) -> None:
        """``names``: the architecture's names of the common config attributes (see :class:`NormalizedConfig`).

        ``sizes_from``: the part of a composite config that holds the sizes (``text_config`` of a multimodal
        model exported for text, ``decoder`` of an encoder-decoder made of two models).
        """
        self._config = _as_attributes(config)
        self.task = Task.of(task)
        if self.SUPPORTED_TASKS and self.task not in self.SUPPORTED_TASKS:
            raise UnsupportedTaskError(
                f"{type(self).__name__} does not export task {task!r}; it supports {', '.join(self.SUPPORTED_TASKS)}."
            )
        if int_dtype not in _INT_DTYPES or float_dtype not in _FLOAT_DTYPES:
            raise ValueError(
                f"int_dtype must be one of {sorted(_INT_DTYPES)} and float_dtype one of {sorted(_FLOAT_DTYPES)}."
            )
        self.int_dtype = int_dtype
        self.float_dtype = float_dtype
        self.min_opset = max(min_opset or self.MIN_ONNX_OPSET, self.MIN_ONNX_OPSET)
        self.atol = atol if atol is not None else self.ATOL_FOR_VALIDATION
        self.names = dict(names or {})
        self.sizes_from = sizes_from
        #: The model config read under common names (``num_layers``, ``num_heads``...).
        self.normalized = NormalizedConfig(self._config, self.names, part=sizes_from)
        #: The config that holds the vocabulary and token ids: the part named by ``sizes_from``, or the whole.
        self._tokens_config = self.normalized.sources[0]

    @property
    def config(self) -> Any:
        """The model configuration (a transformers config, or the parsed config.json)."""
        return self._config

    @property
    def uses_past(self) -> bool:
        """Whether the export takes and returns a key/value cache."""
        return self.task.endswith("-with-past")

    @property
    def generates_tokens(self) -> bool:
        """Whether the export is a language-model head with a cache: what the greedy-generation check runs."""
        return self.GENERATIVE and self.uses_past and Task.of(self.task).base in GENERATION_TASKS

    @property
    def default_opset(self) -> int:
        return max(self.DEFAULT_ONNX_OPSET, self.min_opset)

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        """What a user should know about exports built with ``options`` (for the registry listing)."""
        return []

    # --- to be given by subclasses ------------------------------------------------------------

    def input_specs(self) -> list[InputSpec]:
        """The model inputs, in the order the exported graph takes them."""
        raise NotImplementedError

    def components(self) -> dict[str, OnnxConfig]:
        """The ONNX files of this export, by file stem: one ``model`` unless the model is split."""
        return {"model": self}

    def output_source(self, name: str) -> tuple[str, int | None]:
        """Where the model's output holds the export's output ``name``: under which name, and at which index
        where the model returns a tuple there (``None``: the value itself)."""
        return name, None

    # --- derived ---------------------------------------------------------------------------------

    @property
    def inputs(self) -> dict[str, AxisNames]:
        """Input name -> {axis index: dimension name}, all axes dynamic."""
        return {
            spec.name: {i: axis for i, axis in enumerate(spec.axes) if isinstance(axis, str)}
            for spec in self.input_specs()
        }

    @property
    def outputs(self) -> dict[str, AxisNames]:
        """Output name -> {axis index: dimension name}, for this config's task."""
        outputs = self.TASK_OUTPUTS.get(self.task)
        if outputs is None:
            raise UnsupportedTaskError(f"{type(self).__name__} has no outputs defined for task {self.task!r}.")
        return {name: dict(axes) for name, axes in outputs.items()}

    @property
    def dynamic_axes(self) -> dict[str, AxisNames]:
        """Every input and output with its dynamic axes (the ``torch.onnx`` argument)."""
        return {**self.inputs, **self.outputs}

    def dtype_of(self, kind: str) -> str:
        return _FLOAT_DTYPES[self.float_dtype] if kind in FLOAT_KINDS else _INT_DTYPES[self.int_dtype]

    def dimension_size(self, shapes: DummyShapes, axis: str | int) -> int:
        """The size of one input axis in dummy inputs of ``shapes``; a config whose inputs have a dimension of its
        own (MusicGen's ``batch_size * num_codebooks`` decoder rows) derives it here."""
        return shapes.size_of(axis)

    def generate_dummy_inputs(self, shapes: DummyShapes = EXPORT_SHAPES, seed: int = 0, **sizes: int) -> dict[str, Any]:
        """Numpy dummy inputs of the given shapes, keyed by input name."""
        import numpy as np

        shapes = shapes.with_sizes(**sizes)
        rng = np.random.default_rng(seed)
        return {
            spec.name: generate_array(
                f"position_ids+{shapes.past_sequence_length if self.uses_past else 0}"
                if spec.kind == "position_ids"
                else spec.kind,
                tuple(self.dimension_size(shapes, axis) for axis in spec.axes),
                self._tokens_config,
                self.dtype_of(spec.kind),
                rng,
            )
            for spec in self.input_specs()
        }


#: The tasks whose exports generate tokens (a language-model head); with a cache, the generation check runs.
GENERATION_TASKS = frozenset({"causal-lm", "seq2seq-lm", "speech2seq-lm", "vision2seq-lm"})
#: Outputs of the classification and extraction heads text models share, encoders and decoders alike.
HEAD_OUTPUTS: dict[str, dict[str, AxisNames]] = {
    "sequence-classification": {"logits": {0: "batch_size"}},
    "token-classification": {"logits": {0: "batch_size", 1: "sequence_length"}},
    "question-answering": {
        "start_logits": {0: "batch_size", 1: "sequence_length"},
        "end_logits": {0: "batch_size", 1: "sequence_length"},
    },
}

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


class TextEncoderOnnxConfig(OnnxConfig):
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


def _dotted(config: Any, path: str) -> Any:
    """``config.a.b`` for ``"a.b"``: a composite config's sizes live in its parts (``decoder.hidden_size``)."""
    value = config
    for attribute in path.split("."):
        value = value.get(attribute) if isinstance(value, Mapping) else getattr(value, attribute, None)
        if value is None:
            return None
    return value


class NormalizedConfig:
    """Reads a model config under the common names whatever the architecture calls them.

    ``names`` maps a common name (``num_layers``) to the architecture's attribute (``n_layer``);
    without an entry, the usual transformers names are tried in order.
    """

    FALLBACKS: ClassVar[dict[str, tuple[str, ...]]] = {
        "num_layers": ("num_hidden_layers", "n_layer", "num_layers"),
        "num_heads": ("num_attention_heads", "n_head", "num_heads"),
        "num_kv_heads": ("num_key_value_heads",),
        "hidden_size": ("hidden_size", "n_embd", "d_model"),
        "head_dim": ("head_dim",),
        "vocab_size": ("vocab_size",),
    }

    def __init__(self, config: Any, names: Mapping[str, str] | None = None, part: str | None = None) -> None:
        """``part``: a nested config read first (``text_config``, ``decoder``), the whole one after it."""
        self.config = config
        self.names = dict(names or {})
        self.part = part
        nested = None if part is None else _dotted(config, part)
        #: Where names are looked up, in order: the part (when the config has it), then the whole config.
        self.sources: tuple[Any, ...] = (config,) if nested is None else (_as_attributes(nested), config)

    def get(self, name: str) -> Any:
        candidates = ((self.names[name],) if name in self.names else ()) + self.FALLBACKS.get(name, (name,))
        for source in self.sources:
            for attribute in candidates:
                value = _dotted(source, attribute)
                if value is not None:
                    return value
        return None

    @property
    def num_layers(self) -> int:
        return int(self.get("num_layers"))

    @property
    def num_heads(self) -> int:
        return int(self.get("num_heads"))

    @property
    def num_kv_heads(self) -> int:
        # multi-query attention (gpt_bigcode, falcon-7b/40b's first architecture), and latent attention's
        # compressed cache: one key/value head
        if (self.get("multi_query") and not self.get("new_decoder_architecture")) or self.latent_attention:
            return 1
        value = self.get("num_kv_heads")
        return int(value) if value is not None else self.num_heads

    @property
    def latent_attention(self) -> bool:
        """Multi-head latent attention (DeepSeek V2/V3, MiniCPM3...): transformers caches the compressed
        latent, one "head" per layer: keys ``kv_lora_rank`` wide, values (the rotary part) ``qk_rope_head_dim``."""
        return self.get("kv_lora_rank") is not None and self.get("qk_rope_head_dim") is not None

    @property
    def key_head_dim(self) -> int:
        """The width of a cached key."""
        return int(self.get("kv_lora_rank")) if self.latent_attention else self.head_dim

    @property
    def value_head_dim(self) -> int:
        """The width of a cached value."""
        return int(self.get("qk_rope_head_dim")) if self.latent_attention else self.head_dim

    @property
    def head_dim(self) -> int:
        value = self.get("head_dim")
        return int(value) if value is not None else int(self.get("hidden_size")) // self.num_heads


_PAST = "past_sequence_length"
_TOTAL = "past_sequence_length + sequence_length"


class DecoderOnnxConfig(OnnxConfig):
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


#: Encoder-decoder tasks exported as one file (the model derives its decoder inputs itself).
SINGLE_FILE_TASKS = ("sequence-classification", "question-answering", "token-classification")
_ENC = "encoder_sequence_length"
_ENC_OUT = "encoder_output_length"
_DEC = "decoder_sequence_length"
_PAST_DEC = "past_decoder_sequence_length"
_TOTAL_DEC = "past_decoder_sequence_length + decoder_sequence_length"
#: The number of image patches a Pix2Struct encoder reads (its processor's ``max_patches``): dynamic.
_PATCHES = "max_patches"


def vision_of(vision: bool | Vision | None) -> Vision | None:
    """The ``vision`` option as :data:`Vision` (``True``, as the measured table spells it, is ``pixels``)."""
    if vision is True:
        return "pixels"
    if vision in (None, False):
        return None
    if vision not in ("pixels", "patches"):
        raise ValueError(f"vision must be False, True, 'pixels' or 'patches', not {vision!r}")
    return vision


def by_layer(specs: list[InputSpec]) -> list[InputSpec]:
    """Cache specs ordered by layer, self-attention before cross-attention, key before value (stable otherwise)."""

    def position(spec: InputSpec) -> tuple[int, int, int]:
        cached = CacheName.parse(spec.name)
        if cached is None:
            return (-1, 0, 0)
        return (cached.layer, 0 if cached.attention in (None, "decoder") else 1, cached.index)

    return sorted(specs, key=position)


class Seq2SeqOnnxConfig(OnnxConfig):
    """Encoder-decoder text and speech models, exported as ``encoder_model``, ``decoder_model`` and, with past,
    ``decoder_with_past_model`` (the files ONNX Runtime generation loops of optimum-style exports read).

    The decoder of a with-past export also returns ``present.{i}.decoder/encoder.key/value`` so the
    first step fills the cache; ``decoder_with_past_model`` takes them back as
    ``past_key_values.{i}.decoder/encoder.key/value`` and returns the grown decoder cache.
    """

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = (
        "default",
        "default-with-past",
        "seq2seq-lm",
        "seq2seq-lm-with-past",
        "speech2seq-lm",
        "speech2seq-lm-with-past",
        "vision2seq-lm",
        "vision2seq-lm-with-past",
        *SINGLE_FILE_TASKS,
    )
    GENERATIVE: ClassVar[bool] = True
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4
    PARTS: ClassVar[tuple[Part, ...]] = ("encoder", "decoder", "decoder_with_past")

    def __init__(
        self,
        config: Any,
        task: str = "seq2seq-lm",
        *,
        part: Part | None = None,
        speech: Speech | None = None,
        vision: bool | Vision | None = False,
        **kwargs: Any,
    ) -> None:
        """``speech``: how the encoder reads audio features, ``None`` for text.

        * ``"whisper"``: ``input_features`` (batch, mel bins, frames), frames fixed to
          ``2 * max_source_positions``; no attention mask anywhere.
        * ``"frames"`` (speech_to_text): ``input_features`` (batch, frames, features per frame) and a
          frame ``attention_mask``, both dynamic; convolutions shorten the frames, so the encoder's
          output has its own length (``encoder_output_length``), and the decoders take the frame
          mask as ``encoder_attention_mask`` (the model shortens it itself).

        * ``"waveform"`` (Moonshine): ``input_values`` (batch, samples) of any length; the encoder's output
          has its own length (``encoder_sequence_length`` for the decoders); no attention mask (every sample
          counts: batch clips of one length).

        ``vision``: the encoder reads an image.

        * ``True`` or ``"pixels"`` (``VisionEncoderDecoderModel``: a ViT or Swin encoder, a text decoder):
          ``pixel_values`` of the encoder config's fixed ``image_size``; no attention mask anywhere.
        * ``"patches"`` (Pix2Struct): ``flattened_patches`` (batch, max_patches, 2 + patch pixels), each row a
          patch's row and column index (from 1; 0 on padding) then its pixels, and the patches'
          ``attention_mask``; ``max_patches`` is dynamic, the patch width (``patch_embed_hidden_size``) fixed.
          The decoders take the mask as ``encoder_attention_mask``; sizes come from ``sizes_from="text_config"``.
        """
        if part is not None and part not in self.PARTS:
            raise ValueError(f"part must be one of {self.PARTS}, not {part!r}")
        if speech not in (None, "whisper", "frames", "waveform"):
            raise ValueError(f"speech must be None, 'whisper', 'frames' or 'waveform', not {speech!r}")
        self.part = part
        self.speech: Speech | None = speech
        self.vision: Vision | None = vision_of(vision)
        self.options = kwargs
        super().__init__(config, task, **kwargs)

    @classmethod
    def export_notes(
        cls, *, speech: Speech | None = None, vision: bool | Vision | None = False, **options: Any
    ) -> list[str]:
        if vision_of(vision) == "patches":
            return [
                "flattened_patches: (batch_size, max_patches, 2 + patch_embed_hidden_size): each patch's row and "
                "column index (from 1, 0 on padding) then its pixels; max_patches dynamic, the patch size fixed",
                "attention_mask: (batch_size, max_patches), 1 on patches, 0 on padding; the decoders take it as "
                "encoder_attention_mask",
            ]
        if vision:
            return ["pixel_values: (batch_size, num_channels, height, width), fixed to the encoder's image_size"]
        if speech == "whisper":
            return ["input_features: (batch_size, num_mel_bins, 2 * max_source_positions frames), frames fixed"]
        if speech == "frames":
            return ["input_features: (batch_size, encoder_sequence_length frames, input_feat_per_channel)"]
        if speech == "waveform":
            return ["input_values: (batch_size, num_samples), 16 kHz mono, any length; no attention mask"]
        return []

    def components(self) -> dict[str, OnnxConfig]:
        if self.task in SINGLE_FILE_TASKS:  # a classifier reads the whole model at once: one file
            return {"model": self}
        parts = self.PARTS if self.uses_past else self.PARTS[:2]
        return {
            f"{part}_model": Seq2SeqOnnxConfig(
                self._config, self.task, part=part, speech=self.speech, vision=self.vision, **self.options
            )
            for part in parts
        }

    def encoder_hidden_size(self) -> int:
        """The width of the encoder's states: the encoder part's own where the model is made of two
        (an image encoder and a text decoder may differ), or its vision config's, else the model's."""
        own = _dotted(self._config, "vision_config.hidden_size" if self.vision == "patches" else "encoder.hidden_size")
        return int(own if own is not None else self.normalized.get("hidden_size"))

    def mel_frames(self) -> tuple[int, int]:
        """Whisper's input size: ``num_mel_bins`` by ``2 * max_source_positions`` frames (fixed)."""
        return int(self.normalized.get("num_mel_bins")), 2 * int(self.normalized.get("max_source_positions"))

    def encoder_output_length(self, frames: int) -> int:
        """How many encoder states ``frames`` feature frames give (stride-2 convolutions)."""
        for _ in range(int(getattr(self._config, "num_conv_layers", 0) or 0)):
            frames = (frames - 1) // 2 + 1
        return frames

    def patch_features(self) -> int:
        """The width of one of Pix2Struct's flattened patches: its row and column index, then its pixels."""
        width = _dotted(self._config, "vision_config.patch_embed_hidden_size")
        if width is None:
            raise ValueError("vision='patches' needs a vision_config with patch_embed_hidden_size (Pix2Struct's).")
        return 2 + int(width)

    def _encoder_states(self) -> str:
        """The dimension name of the encoder's output length."""
        if self.vision == "patches":
            return _PATCHES
        return _ENC_OUT if self.speech == "frames" else _ENC

    def _encoder_mask_length(self) -> str:
        """The dimension name of the encoder's attention mask (frames, tokens or patches), as the decoders take it."""
        return _PATCHES if self.vision == "patches" else _ENC

    def generate_dummy_inputs(self, shapes: DummyShapes = EXPORT_SHAPES, seed: int = 0, **sizes: int) -> dict[str, Any]:
        shapes = shapes.with_sizes(**sizes)
        if self.speech == "frames":  # the encoder states' length follows from the frames
            shapes = shapes.with_sizes(encoder_output_length=self.encoder_output_length(shapes.encoder_sequence_length))
        return super().generate_dummy_inputs(shapes, seed)

    def _cache(self, prefix: str, attention: Attention, length: str) -> list[InputSpec]:
        n = self.normalized
        axes = ("batch_size", n.num_kv_heads, length, n.head_dim)
        return [InputSpec(name.named(prefix), "float", axes) for name in cache_names(n.num_layers, attention)]

    def _layered_cache(self, prefix: str, decoder_length: str, encoder_length: str) -> list[InputSpec]:
        """Self- and cross-attention caches, layer by layer (``{i}.decoder.key``, ``{i}.decoder.value``,
        ``{i}.encoder.key``, ``{i}.encoder.value``): optimum's order, which its ``ORTModelForSeq2SeqLM`` and
        ``ORTModelForSpeechSeq2Seq`` read the outputs by (all decoder layers first fails there in a MatMul)."""
        return by_layer(self._cache(prefix, "decoder", decoder_length) + self._cache(prefix, "encoder", encoder_length))

    def input_specs(self) -> list[InputSpec]:
        states = self._encoder_states()
        if self.part in (None, "encoder"):
            if self.vision == "patches":
                return [
                    InputSpec(
                        "flattened_patches", "flattened_patches", ("batch_size", _PATCHES, self.patch_features())
                    ),
                    InputSpec("attention_mask", "attention_mask", ("batch_size", _PATCHES)),
                ]
            if self.vision == "pixels":
                return [pixel_values_spec(NormalizedConfig(self._config, part="encoder"), dynamic_size=False)]
            if self.speech == "whisper":
                return [InputSpec("input_features", "float", ("batch_size", *self.mel_frames()))]
            if self.speech == "waveform":
                return [InputSpec("input_values", "float", ("batch_size", "num_samples"))]
            if self.speech == "frames":
                features = int(self.normalized.get("input_feat_per_channel"))
                return [
                    InputSpec("input_features", "float", ("batch_size", _ENC, features)),
                    InputSpec("attention_mask", "attention_mask", ("batch_size", _ENC)),
                ]
            # A sequence classifier reads the decoder's state at the end-of-sequence token of each row, and
            # checks that every row has as many: the dummy rows end with one, as tokenized text does.
            ids = "token_ids_ending_eos" if self.task == "sequence-classification" else "token_ids"
            return [
                InputSpec("input_ids", ids, ("batch_size", _ENC)),
                InputSpec("attention_mask", "attention_mask", ("batch_size", _ENC)),
            ]
        specs = [InputSpec("input_ids", "token_ids", ("batch_size", _DEC))]
        if self.speech not in ("whisper", "waveform") and self.vision != "pixels":
            specs.append(
                InputSpec("encoder_attention_mask", "attention_mask", ("batch_size", self._encoder_mask_length()))
            )
        if self.part == "decoder":
            hidden = self.encoder_hidden_size()
            return [*specs, InputSpec("encoder_hidden_states", "float", ("batch_size", states, hidden))]
        return specs + self._layered_cache(PAST_PREFIX, _PAST_DEC, states)

    @property
    def outputs(self) -> dict[str, AxisNames]:
        states = self._encoder_states()
        if self.task in SINGLE_FILE_TASKS:
            return {
                name: {axis: _ENC if dim == "sequence_length" else dim for axis, dim in axes.items()}
                for name, axes in HEAD_OUTPUTS[self.task].items()
            }
        if self.part in (None, "encoder"):
            if (
                self.speech == "whisper" or self.vision == "pixels"
            ):  # a fixed input gives a fixed number of encoder states
                return {"last_hidden_state": {0: "batch_size"}}
            return {"last_hidden_state": {0: "batch_size", 1: states}}
        main = "last_hidden_state" if self.task.startswith("default") else "logits"  # base model: decoder states
        outputs: dict[str, AxisNames] = {main: {0: "batch_size", 1: _DEC}}
        if self.part == "decoder" and self.uses_past:
            for spec in self._layered_cache(PRESENT_PREFIX, _DEC, states):
                outputs[spec.name] = {0: "batch_size", 2: str(spec.axes[2])}
        elif self.part == "decoder_with_past":
            for spec in self._cache(PRESENT_PREFIX, "decoder", _TOTAL_DEC):
                outputs[spec.name] = {0: "batch_size", 2: _TOTAL_DEC}
        return outputs


#: Where a config has no ``image_size``, exports of fixed-size models use this (documented).
DEFAULT_IMAGE_SIZE = 224
_BATCH = {0: "batch_size"}
#: Universal segmentation's answer per object query (``mask_queries``): a class and a mask each, no boxes.
MASK_QUERY_OUTPUTS: dict[str, AxisNames] = {"class_queries_logits": _BATCH, "masks_queries_logits": _BATCH}


class VisionOnnxConfig(OnnxConfig):
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
