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
    """One model input: its name, the kind of values it holds and its named axes."""

    name: str
    kind: str
    axes: tuple[str, ...]


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
        return {spec.name: dict(enumerate(spec.axes)) for spec in self.input_specs()}

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
                spec.kind,
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
