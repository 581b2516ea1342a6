"""The ``sentence_transformers`` library: a checkpoint's embedding pipeline, read from its files, and its loader.

A sentence-transformers folder (``modules.json``) describes a pipeline: a transformers model, then
pooling (mean, CLS or max, per ``1_Pooling/config.json``), optional ``Dense`` layers and ``Normalize``.
Its users want the sentence embedding that pipeline produces, not token states: so the export runs
the whole pipeline in one graph, with outputs ``token_embeddings`` and ``sentence_embedding`` (as
optimum does with ``--library-name sentence_transformers``).

The pipeline is read here from the files alone (no framework), and the graph's pooling, dense and
normalize steps are built from what was read, on the transformer and dense weights the library
loaded (by the backend's converter). That makes the extra check honest: the export is
compared with the library's own ``SentenceTransformer.encode`` on real sentences, code that shares
nothing with ours but the weights, so a pipeline we misread (CLS pooling for mean, a missing
``Normalize``) fails the export instead of shipping.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from modelexport_core import TasksManager, hub
from modelexport_core.errors import UnsupportedTaskError
from modelexport_core.model_source import ModelReference
from modelexport_core.tasks import Task
from modelexport_core.transformers_library import TransformersLibrary

from ..errors import UnsupportedExportOptionError

#: The file that makes a folder a sentence-transformers checkpoint: its modules, in order.
MODULES_FILE = "modules.json"

#: ``--library`` values: ``auto`` picks ``sentence_transformers`` when the folder has ``modules.json``.
LIBRARIES = ("auto", "transformers", "sentence_transformers")

PoolingMode = Literal["cls", "max", "mean", "mean_sqrt_len_tokens"]
#: Pooling modes the graph implements, in the order the library concatenates legacy boolean modes.
POOLING_MODES: tuple[PoolingMode, ...] = ("cls", "max", "mean", "mean_sqrt_len_tokens")
#: The library's legacy ``pooling_mode_*`` keys (sentence-transformers < 5.4 writes these), in its order.
_LEGACY_POOLING_KEYS = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}
#: The feature names a step may read or write; the graph's two outputs.
EmbeddingKey = Literal["token_embeddings", "sentence_embedding"]
_KEYS: tuple[EmbeddingKey, ...] = ("token_embeddings", "sentence_embedding")

#: Real sentences of different lengths (padding is exercised), embedded by ONNX and by ``encode``.
CHECK_SENTENCES = (
    "A man is eating food.",
    "The new movie is awesome, and everyone in the cinema laughed at its ending.",
    "Paris is the capital of France.",
    "How do I export a sentence-transformers model to ONNX?",
    "The quick brown fox jumps over the lazy dog while the farmer watches from his old wooden porch.",
)
#: Below this cosine similarity between an ONNX and an ``encode`` embedding of one sentence, the export fails.
MIN_COSINE = 0.9999


@dataclass(frozen=True)
class TransformerStep:
    name: str


@dataclass(frozen=True)
class PoolingStep:
    name: str
    modes: tuple[PoolingMode, ...]


@dataclass(frozen=True)
class DenseStep:
    name: str
    in_features: int
    out_features: int
    #: The activation's class as the library names it (``torch.nn.modules.activation.Tanh``).
    activation: str
    residual: bool = False


@dataclass(frozen=True)
class NormalizeStep:
    name: str
    key: EmbeddingKey = "sentence_embedding"


Step = TransformerStep | PoolingStep | DenseStep | NormalizeStep


@dataclass(frozen=True)
class SentencePipeline:
    """The modules of a sentence-transformers checkpoint, in order: a transformer first, pooling after it."""

    steps: tuple[Step, ...]

    def describe(self) -> str:
        """``Transformer -> Pooling(mean) -> Normalize``: what the progress line shows."""
        parts = []
        for step in self.steps:
            if isinstance(step, PoolingStep):
                parts.append(f"Pooling({'+'.join(step.modes)})")
            elif isinstance(step, DenseStep):
                parts.append(f"Dense({step.in_features}->{step.out_features}, {step.activation.rsplit('.', 1)[-1]})")
            else:
                parts.append(type(step).__name__.removesuffix("Step"))
        return " -> ".join(parts)


#: Reads a file of the checkpoint by its path inside the folder; ``None`` when it has no such file.
FileReader = Callable[[str], str | None]


def folder_reader(directory: Path) -> FileReader:
    def read(name: str) -> str | None:
        path = directory / name
        return path.read_text(encoding="utf-8") if path.is_file() else None

    return read


def _json(read: FileReader, name: str, required: bool) -> dict[str, Any] | list[Any] | None:
    text = read(name)
    if text is None:
        if required:
            raise UnsupportedExportOptionError(f"The sentence-transformers checkpoint has no {name}.")
        return None
    try:
        parsed: dict[str, Any] | list[Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnsupportedExportOptionError(
            f"{name} of the sentence-transformers checkpoint is not JSON: {exc}"
        ) from exc
    return parsed


def _module_config(read: FileReader, path: str) -> dict[str, Any]:
    found = _json(read, f"{path}/config.json" if path else "config.json", required=False)
    return found if isinstance(found, dict) else {}


def pooling_modes(config: dict[str, Any]) -> tuple[str, ...]:
    """The modes of a ``Pooling`` config, new (``pooling_mode``) or legacy (``pooling_mode_*_tokens``) format.

    Like the library: legacy modes concatenate in its fixed order, and none set means mean.
    """
    mode = config.get("pooling_mode")
    if isinstance(mode, str):
        return (mode,)
    if isinstance(mode, list):
        return tuple(str(m) for m in mode)
    legacy = tuple(name for key, name in _LEGACY_POOLING_KEYS.items() if config.get(key))
    return legacy or ("mean",)


def _embedding_key(value: Any, module: str, default: EmbeddingKey = "sentence_embedding") -> EmbeddingKey:
    key = default if value is None else value
    for known in _KEYS:
        if key == known:
            return known
    raise UnsupportedExportOptionError(f"{module} acts on {key!r}; the export supports {' and '.join(_KEYS)} only.")


def _step(entry: dict[str, Any], read: FileReader) -> Step:
    kind = str(entry.get("type", "")).rsplit(".", 1)[-1]
    name, path = str(entry.get("name", entry.get("idx", ""))), str(entry.get("path", ""))
    if kind == "Transformer":
        if path not in ("", "."):
            raise UnsupportedExportOptionError(
                f"The transformer of this sentence-transformers checkpoint is in {path}/, not the folder itself: "
                f"export {path}/ with --library transformers."
            )
        return TransformerStep(name)
    config = _module_config(read, path)
    if kind == "Pooling":
        modes = pooling_modes(config)
        unknown = [m for m in modes if m not in POOLING_MODES]
        if unknown:
            raise UnsupportedExportOptionError(
                f"Pooling mode {', '.join(unknown)} is not exported yet (supported: {', '.join(POOLING_MODES)}); "
                "--library transformers exports the transformer alone."
            )
        return PoolingStep(name, tuple(m for p in modes for m in POOLING_MODES if m == p))
    if kind == "Dense":
        source = _embedding_key(config.get("module_input_name"), "Dense")
        if source != "sentence_embedding" or _embedding_key(config.get("module_output_name"), "Dense") != source:
            raise UnsupportedExportOptionError("Only a Dense module from sentence_embedding to itself is exported yet.")
        return DenseStep(
            name,
            int(config["in_features"]),
            int(config["out_features"]),
            str(config.get("activation_function", "torch.nn.modules.activation.Tanh")),
            bool(config.get("use_residual", False)),
        )
    if kind == "Normalize":
        key = _embedding_key(config.get("module_input_name"), "Normalize")
        if _embedding_key(config.get("module_output_name"), "Normalize", key) != key:
            raise UnsupportedExportOptionError("A Normalize module writing to another feature is not exported yet.")
        return NormalizeStep(name, key)
    raise UnsupportedExportOptionError(
        f"The sentence-transformers module {entry.get('type')!r} is not exported yet (supported: Transformer, "
        "Pooling, Dense, Normalize); --library transformers exports the transformer alone."
    )


def read_pipeline(read: FileReader) -> SentencePipeline:
    """The pipeline ``modules.json`` describes, each module's settings read from its folder's ``config.json``."""
    entries = _json(read, MODULES_FILE, required=True)
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise UnsupportedExportOptionError(f"{MODULES_FILE} is not a list of modules.")
    steps = tuple(_step(e, read) for e in sorted(entries, key=lambda e: int(e.get("idx", 0))))
    if not steps or not isinstance(steps[0], TransformerStep) or any(isinstance(s, TransformerStep) for s in steps[1:]):
        raise UnsupportedExportOptionError(f"{MODULES_FILE} must start with its one Transformer module.")
    poolings = [i for i, s in enumerate(steps) if isinstance(s, PoolingStep)]
    if len(poolings) != 1 or any(isinstance(s, DenseStep) for s in steps[: poolings[0]]):
        raise UnsupportedExportOptionError(f"{MODULES_FILE} must have one Pooling module, before any Dense module.")
    return SentencePipeline(steps)


def reference_reader(reference: ModelReference) -> FileReader:
    """The checkpoint's files: from its folder (local, or the cached Hub snapshot), else fetched from the Hub
    one by one (``modules.json`` and the small configs: the weights are left to the load step)."""
    directory = reference.local_directory()
    if directory is not None:
        return folder_reader(directory)
    hub_id = reference.source.hub_id
    assert hub_id is not None  # neither local nor cached: a Hub model

    def read(name: str) -> str | None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            path = hf_hub_download(
                hub_id,
                name,
                subfolder=reference.subfolder or None,
                revision=reference.pinned_revision(),
                cache_dir=str(hub.hub_cache_dir(reference.cache_dir)),
                endpoint=hub.hub_endpoint(),
            )
        except EntryNotFoundError:
            return None
        return Path(path).read_text(encoding="utf-8")

    return read


def load_sentence_transformer(reference: ModelReference, *, trust_remote_code: bool = False) -> Any:
    """The library's own ``SentenceTransformer`` on CPU: the model exported, and the reference checked against.

    It loads from where the transformers loaders would (the local folder; offline, the cached snapshot).
    """
    from sentence_transformers import SentenceTransformer

    if reference.subfolder and reference.source.directory is None:
        raise UnsupportedExportOptionError(
            "sentence-transformers loads a pipeline from a whole repository, not a Hub subfolder: download it and "
            "export the folder, or use --library transformers."
        )
    from transformers.utils import logging

    location, revision, cache_dir = TasksManager._load_location(reference)
    bars = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()  # no weight-loading bar between the progress lines
    try:
        model = SentenceTransformer(
            str(reference.source.directory or location),
            device="cpu",
            revision=revision,
            cache_folder=cache_dir,
            local_files_only=hub.is_offline(),
            trust_remote_code=trust_remote_code,
        )
    finally:
        if bars:
            logging.enable_progress_bar()
    return model.eval()


def chosen_library(library: str, files: list[str], task: str, framework: str) -> str:
    """The library whose view of the checkpoint is exported: ``auto`` is sentence-transformers where the folder
    describes a pipeline (``modules.json``) and the export is the plain feature extraction of a PyTorch model."""
    if library not in LIBRARIES:
        raise UnsupportedExportOptionError(f"Unknown library {library!r}; choose one of {', '.join(LIBRARIES)}.")
    has_modules = MODULES_FILE in files
    if library == "auto":
        return "sentence_transformers" if has_modules and task == "default" and framework == "pt" else "transformers"
    if library == "sentence_transformers":
        if not has_modules:
            raise UnsupportedExportOptionError(
                f"--library sentence_transformers needs a sentence-transformers checkpoint ({MODULES_FILE}); "
                "this model has none."
            )
        if task != "default":
            raise UnsupportedTaskError(
                f"--library sentence_transformers exports sentence embeddings (task feature-extraction), not {task}."
            )
        if framework != "pt":
            raise UnsupportedExportOptionError("sentence-transformers models are PyTorch models: use --framework pt.")
    return library


def require_library() -> None:
    """The library is the reference the export is validated against: refuse early when it is missing."""
    if importlib.util.find_spec("sentence_transformers") is None:
        raise UnsupportedExportOptionError(
            "This is a sentence-transformers checkpoint (modules.json): its export is the whole embedding pipeline, "
            "validated against the library's own SentenceTransformer.encode, so it needs the library: "
            "pip install -c constraints/pt.txt sentence-transformers. Or export the transformer alone "
            "(last_hidden_state) with --library transformers."
        )


def transformer_model(model: Any) -> Any:
    """The transformers model inside a loaded ``SentenceTransformer`` (its first module's)."""
    first = model[0]
    return getattr(first, "auto_model", None) or first.model


class SentenceTransformersLibrary(TransformersLibrary):
    """The library plugin: a folder with ``modules.json`` is a sentence-transformers pipeline over a transformers
    model, whose configuration, registry rows and model types are transformers'; it exports sentence embeddings."""

    name = "sentence_transformers"
    priority = 10
    #: What its folders are, for a message when ``--library`` names it and the files are not.
    folder_description = "a sentence-transformers checkpoint (modules.json)"
    tasks: tuple[str, ...] = ("default",)

    def detects(self, files: Sequence[str], config: Mapping[str, Any] | None) -> bool:
        return MODULES_FILE in files

    def infer_task(self, reference: ModelReference) -> Task:
        return Task.of("default")

    def load(self, reference: ModelReference, task: Task, framework: str, *, trust_remote_code: bool) -> Any:
        require_library()
        return load_sentence_transformer(reference, trust_remote_code=trust_remote_code)


library = SentenceTransformersLibrary()
