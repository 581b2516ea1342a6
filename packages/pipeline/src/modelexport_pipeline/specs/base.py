"""The export spec: what an export of one ``(architecture, task)`` takes and gives, in any format.

A spec is framework and format free. It knows the input and output names, which axis of each is
dynamic and under what name (``batch_size``, ``sequence_length``, ``num_choices``, the names
optimum uses), and how to make numpy dummy inputs of any shape. Validation derives each output's
bound from the model itself; ``atol`` is the absolute tolerance of comparisons between two exports
(optimum's ``ATOL_FOR_VALIDATION``, kept by name). The model families' specs are in the modules
beside this one; a backend subclasses them with what is its own (``modelexport_onnx.config``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar, Literal, Self

from modelexport_core.errors import UnsupportedTaskError
from modelexport_core.tasks import Task

from ..dummy_inputs import EXPORT_SHAPES, FLOAT_KINDS, DummyShapes, generate_array

AxisNames = dict[int, str]
#: The files of an encoder-decoder export, each exported with a spec of its own.
Part = Literal["encoder", "decoder", "decoder_with_past"]

_INT_DTYPES = {"int64": "int64", "int32": "int32"}
_FLOAT_DTYPES = {"fp32": "float32", "fp16": "float16"}


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, the kind of values it holds and its axes (names are dynamic, ints fixed)."""

    name: str
    kind: str
    axes: tuple[str | int, ...]


def as_attributes(config: Any) -> Any:
    """Let a plain ``config.json`` dict be read like a transformers config."""
    if isinstance(config, Mapping):
        return SimpleNamespace(**config)
    return config


class ExportSpec:
    """What an export of one ``(architecture, task)`` takes and gives, whatever the format it is written in:
    inputs, outputs, dynamic axes, dummy inputs and the tolerance between two exports.

    A backend's config subclasses it with what is its own (the ONNX backend's ``OnnxConfig``: the opsets);
    options meant for a backend ride along in :attr:`backend_options`, so the parts of a split export
    (:meth:`components`) get them too.
    """

    ATOL_FOR_VALIDATION: ClassVar[float] = 1e-5
    SUPPORTED_TASKS: ClassVar[tuple[str, ...]] = ()
    #: Whether the model generates (takes ``use_cache``; validation runs a generation loop).
    GENERATIVE: ClassVar[bool] = False
    #: Which file of an encoder-decoder this config exports (``None``: the whole model).
    part: Part | None = None

    #: Outputs of each task, with their dynamic axes.
    TASK_OUTPUTS: ClassVar[dict[str, dict[str, AxisNames]]] = {}
    #: The names of the options a backend's subclass reads (a misspelled option is an error, not ignored).
    BACKEND_OPTIONS: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self,
        config: Any,
        task: str = "default",
        *,
        int_dtype: str = "int64",
        float_dtype: str = "fp32",
        atol: float | None = None,
        names: Mapping[str, str] | None = None,
        sizes_from: str | None = None,
        **backend_options: Any,
    ) -> None:
        """``names``: the architecture's names of the common config attributes (see :class:`NormalizedConfig`).

        ``sizes_from``: the part of a composite config that holds the sizes (``text_config`` of a multimodal
        model exported for text, ``decoder`` of an encoder-decoder made of two models).
        """
        unknown = sorted(set(backend_options) - self.BACKEND_OPTIONS)
        if unknown:
            raise TypeError(f"{type(self).__name__} got unexpected options: {', '.join(unknown)}.")
        self._config = as_attributes(config)
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
        self.atol = atol if atol is not None else self.ATOL_FOR_VALIDATION
        self.names = dict(names or {})
        self.sizes_from = sizes_from
        #: Options a backend reads (the ONNX backend: ``min_opset``), unread here.
        self.backend_options: dict[str, Any] = backend_options
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

    @classmethod
    def export_notes(cls, **options: Any) -> list[str]:
        """What a user should know about exports built with ``options`` (for the registry listing)."""
        return []

    # --- to be given by subclasses ------------------------------------------------------------

    def input_specs(self) -> list[InputSpec]:
        """The model inputs, in the order the exported graph takes them."""
        raise NotImplementedError

    def components(self) -> dict[str, Self]:
        """The files of this export, by file stem: one ``model`` unless the model is split."""
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


def dotted(config: Any, path: str) -> Any:
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
        nested = None if part is None else dotted(config, part)
        #: Where names are looked up, in order: the part (when the config has it), then the whole config.
        self.sources: tuple[Any, ...] = (config,) if nested is None else (as_attributes(nested), config)

    def get(self, name: str) -> Any:
        candidates = ((self.names[name],) if name in self.names else ()) + self.FALLBACKS.get(name, (name,))
        for source in self.sources:
            for attribute in candidates:
                value = dotted(source, attribute)
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
