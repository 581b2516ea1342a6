"""Export configs: what an ONNX export of one ``(architecture, task)`` takes and gives.

A config is framework free. It knows the input and output names, which axis of each is
dynamic and under what name (``batch_size``, ``sequence_length``, ``num_choices``, the names
optimum uses), the opset range, the validation tolerance, and how to make numpy dummy
inputs of any shape. Architectures are data (:mod:`.architectures`), not subclasses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

from modelexport_core.errors import UnsupportedTaskError
from modelexport_core.tasks import map_from_synonym

from .dummy_inputs import EXPORT_SHAPES, DummyShapes, generate_array

AxisNames = dict[int, str]

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
    ) -> None:
        self._config = _as_attributes(config)
        self.task = map_from_synonym(task)
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

    @property
    def config(self) -> Any:
        """The model configuration (a transformers config, or the parsed config.json)."""
        return self._config

    @property
    def uses_past(self) -> bool:
        """Whether the export takes and returns a key/value cache."""
        return self.task.endswith("-with-past")

    @property
    def default_opset(self) -> int:
        return max(self.DEFAULT_ONNX_OPSET, self.min_opset)

    # --- to be given by subclasses ------------------------------------------------------------

    def input_specs(self) -> list[InputSpec]:
        """The model inputs, in the order the exported graph takes them."""
        raise NotImplementedError

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
        return _FLOAT_DTYPES[self.float_dtype] if kind == "float" else _INT_DTYPES[self.int_dtype]

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
                tuple(shapes.size_of(axis) for axis in spec.axes),
                self._config,
                self.dtype_of(spec.kind),
                rng,
            )
            for spec in self.input_specs()
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

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ENCODER_TASKS
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {
        "default": {"last_hidden_state": _TOKENS},
        "masked-lm": {"logits": _TOKENS},
        "sequence-classification": {"logits": {0: "batch_size"}},
        "token-classification": {"logits": _TOKENS},
        "question-answering": {"start_logits": _TOKENS, "end_logits": _TOKENS},
        "multiple-choice": {"logits": {0: "batch_size", 1: "num_choices"}},
    }

    def __init__(self, config: Any, task: str = "default", *, token_type_ids: str = "always", **kwargs: Any) -> None:
        """``token_type_ids``: ``always``, ``never`` or ``if-type-vocab`` (when ``type_vocab_size > 0``)."""
        if token_type_ids not in {"always", "never", "if-type-vocab"}:
            raise ValueError(f"token_type_ids must be 'always', 'never' or 'if-type-vocab', not {token_type_ids!r}.")
        self.token_type_ids = token_type_ids
        super().__init__(config, task, **kwargs)

    def _uses_token_type_ids(self) -> bool:
        if self.token_type_ids == "if-type-vocab":
            return int(getattr(self._config, "type_vocab_size", 0) or 0) > 0
        return self.token_type_ids == "always"

    def input_specs(self) -> list[InputSpec]:
        axes = _CHOICE_AXES if self.task == "multiple-choice" else _TEXT_AXES
        specs = [InputSpec("input_ids", "token_ids", axes), InputSpec("attention_mask", "attention_mask", axes)]
        if self._uses_token_type_ids():
            specs.append(InputSpec("token_type_ids", "token_type_ids", axes))
        return specs


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

    def __init__(self, config: Any, names: Mapping[str, str] | None = None) -> None:
        self.config = config
        self.names = dict(names or {})

    def get(self, name: str) -> Any:
        candidates = ((self.names[name],) if name in self.names else ()) + self.FALLBACKS.get(name, (name,))
        for attribute in candidates:
            value = getattr(self.config, attribute, None)
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
        value = self.get("num_kv_heads")
        return int(value) if value is not None else self.num_heads

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

    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ("causal-lm", "causal-lm-with-past", "default-with-past")
    GENERATIVE: ClassVar[bool] = True
    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-4

    def __init__(
        self,
        config: Any,
        task: str = "causal-lm",
        *,
        position_ids: bool = True,
        names: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.position_ids = position_ids
        super().__init__(config, task, **kwargs)
        self.normalized = NormalizedConfig(self._config, names)

    def _mask_axes(self) -> tuple[str, ...]:
        return ("batch_size", _TOTAL if self.uses_past else "sequence_length")

    def _past_axes(self, total: bool) -> tuple[str | int, ...]:
        n = self.normalized
        return ("batch_size", n.num_kv_heads, _TOTAL if total else _PAST, n.head_dim)

    def input_specs(self) -> list[InputSpec]:
        specs = [
            InputSpec("input_ids", "token_ids", _TEXT_AXES),
            InputSpec("attention_mask", "attention_mask", self._mask_axes()),
        ]
        if self.position_ids:
            specs.append(InputSpec("position_ids", "position_ids", _TEXT_AXES))
        if self.uses_past:
            for i in range(self.normalized.num_layers):
                for part in ("key", "value"):
                    specs.append(InputSpec(f"past_key_values.{i}.{part}", "float", self._past_axes(total=False)))
        return specs

    @property
    def outputs(self) -> dict[str, AxisNames]:
        main = "last_hidden_state" if self.task.startswith("default") else "logits"
        outputs: dict[str, AxisNames] = {main: {0: "batch_size", 1: "sequence_length"}}
        if self.uses_past:
            for i in range(self.normalized.num_layers):
                for part in ("key", "value"):
                    outputs[f"present.{i}.{part}"] = {0: "batch_size", 2: _TOTAL}
        return outputs
