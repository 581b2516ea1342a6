"""The batch manifest: which models to export, each with its output folder, task and options.

TOML, read by the standard library's ``tomllib``: people write these by hand next to a training
pipeline's configuration, and TOML gives them comments, a ``[defaults]`` table every model inherits,
typed values (``dynamic_axes = false`` is a boolean, not the string "false") and error positions;
a program writes ``[[models]]`` blocks as easily as JSON lines. Every mistake (an unknown option, a
wrong type, two models with one output folder) is found before the first model is loaded.

    [defaults]              # every model's options unless it sets its own
    optimize = "O2"

    [[models]]
    model = "sentence-transformers/all-MiniLM-L6-v2"   # Hub id or folder (relative: to the manifest)
    output = "onnx/minilm"                             # relative to the manifest's folder
    task = "feature-extraction"
    quantize = "dynamic"
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from modelexport_core.errors import ModelExportError

from ..backend import export_backend
from ..memory import parse_size
from ..request import ExportRequest

if sys.version_info >= (3, 11):
    import tomllib
else:  # the same parser, before it joined the standard library
    import tomli as tomllib


class ManifestError(ModelExportError, ValueError):
    """The manifest cannot be read, or an entry is wrong: nothing was exported."""


#: Options of an entry that are not :class:`ExportRequest` fields: where the model comes from.
SOURCE_KEYS = {"model": str, "output": str, "name": str, "revision": str, "subfolder": str, "cache_dir": str}
#: :class:`ExportRequest` fields a manifest does not set: the batch owns them.
BATCH_OWNED = {"output_dir", "report", "wait", "record", "options"}
_FIELD_DEFAULTS = {f.name: f.default for f in fields(ExportRequest) if f.name not in BATCH_OWNED}
#: The types of the options whose default is ``None`` (any other: a string); the rest have their default's type.
_TYPES_WHERE_NONE: dict[str, tuple[type, ...]] = {
    "batch_size": (int,),
    "sequence_length": (int,),
    "atol": (float, int),
    "max_memory": (int, str),  # bytes, or "8G" as on the command line
}
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    name: (type(default),) if default is not None else _TYPES_WHERE_NONE.get(name, (str,))
    for name, default in _FIELD_DEFAULTS.items()
}


@dataclass(frozen=True)
class BatchEntry:
    """One model of the batch, every option settled (defaults applied, paths absolute)."""

    name: str
    model: str
    output: Path
    options: dict[str, Any] = field(default_factory=dict)
    revision: str | None = None
    subfolder: str = ""
    cache_dir: str | None = None

    def request(self, *, overwrite: bool | None = None, record: dict[str, Any] | None = None) -> ExportRequest:
        """The single export this entry is (``overwrite`` forced when the batch redoes its own earlier output)."""
        options = dict(self.options)
        if overwrite is not None:
            options["overwrite"] = overwrite or bool(options.get("overwrite"))
        shared = {key: value for key, value in options.items() if key in _OPTION_TYPES}
        own = {key: value for key, value in options.items() if key not in _OPTION_TYPES}
        return ExportRequest(output_dir=self.output, record=record, options=own, **shared)


def read_manifest(path: Path) -> list[BatchEntry]:
    """Every entry of the manifest at ``path``, checked; :class:`ManifestError` naming the first problem."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ManifestError(f"Cannot read the manifest {path}: {exc.strerror or exc}.") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path} is not valid TOML: {exc}.") from exc
    unknown = set(document) - {"defaults", "models"}
    if unknown:
        raise ManifestError(
            f"{path}: unknown table(s) {', '.join(sorted(unknown))}; a manifest has [defaults] and [[models]]."
        )
    models = document.get("models")
    if not isinstance(models, list) or not models:
        raise ManifestError(f"{path} lists no models: add one [[models]] table per model (model = ..., output = ...).")
    defaults = document.get("defaults", {})
    if not isinstance(defaults, dict):
        raise ManifestError(f"{path}: [defaults] must be a table of options.")
    _check_options(defaults, f"{path} [defaults]", allow_source=False)
    entries = []
    for number, model in enumerate(models, 1):
        where = f"{path} model {number}"
        if not isinstance(model, dict):
            raise ManifestError(f"{where}: a [[models]] entry must be a table.")
        entries.append(_entry(dict(defaults) | _cli_names(model, where), path.parent, where))
    _refuse_shared_outputs(entries, path)
    return entries


#: The command line's names of options whose :class:`ExportRequest` field is named otherwise: a manifest takes
#: either (``--exporter`` is ``converter``; ``--no-dynamic-axes = true`` is ``dynamic_axes = false``).
CLI_NAMES: dict[str, str] = {
    "exporter": "converter",
    "no_dynamic_axes": "dynamic_axes",
    "no_generation_check": "generation_check",
}
#: Command-line names that negate their field's boolean.
_NEGATED = {"no_dynamic_axes", "no_generation_check"}
#: Options of ``export onnx`` that a batch sets itself, and why (``report``: the batch writes one summary).
_BATCH_SETS = {
    "report": "the batch writes one report for all models, MANIFEST.summary.json, with every model's validation",
    "wait": "the batch waits for nothing: it refuses two entries with one output, and a busy folder fails its model",
    "json": "the batch prints a table and writes MANIFEST.summary.json",
}
_ARTICLES = {"int": "an int", "float": "a float", "str": "a string", "bool": "a boolean (true or false)"}


def _cli_names(options: dict[str, Any], where: str) -> dict[str, Any]:
    """The options with the command line's names (and its dashes) turned into the request's field names."""
    renamed: dict[str, Any] = {}
    given: dict[str, str] = {}
    for key, value in options.items():
        name = key.replace("-", "_")
        if name in _BATCH_SETS:
            raise ManifestError(f"{where}: {key} is not a manifest option: {_BATCH_SETS[name]}.")
        field_name = CLI_NAMES.get(name, name)
        if field_name in renamed:
            raise ManifestError(f"{where}: {given[field_name]} and {key} are the same option; give it once.")
        given[field_name] = key
        if name in _NEGATED:
            if not isinstance(value, bool):
                raise ManifestError(f"{where}: {key} must be a boolean (true or false), not {value!r}.")
            value = not value
        renamed[field_name] = value
    return renamed


def _backend_options(name: object, where: str) -> dict[str, tuple[type, ...]]:
    """The options of the backend an entry exports to (``backend = "onnx"`` by default) and their types."""
    if not isinstance(name, str):
        raise ManifestError(f"{where}: backend must be a string, not {name!r}.")
    try:
        return dict(export_backend(name).option_types)
    except ModelExportError as error:
        raise ManifestError(f"{where}: {error}") from None


def _check_options(options: dict[str, Any], where: str, *, allow_source: bool) -> None:
    backend = options.get("backend", _FIELD_DEFAULTS["backend"])
    known = {
        **_OPTION_TYPES,
        **_backend_options(backend, where),
        **({k: (v,) for k, v in SOURCE_KEYS.items()} if allow_source else {}),
    }
    renamed = _cli_names(options, where)
    options.clear()
    options.update(renamed)
    for key, value in options.items():
        if key not in known:
            hint = " (it belongs in a [[models]] entry)" if key in SOURCE_KEYS else ""
            raise ManifestError(f"{where}: unknown option {key!r}{hint}; known: {', '.join(sorted(known))}.")
        types = known[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            wanted = " or ".join(_ARTICLES.get(t.__name__, t.__name__) for t in types)
            raise ManifestError(f"{where}: {key} must be {wanted}, not {value!r}.")


def _entry(table: Any, base: Path, where: str) -> BatchEntry:
    if not isinstance(table, dict):
        raise ManifestError(f"{where}: a [[models]] entry must be a table.")
    _check_options(table, where, allow_source=True)
    for key in ("model", "output"):
        if not table.get(key):
            raise ManifestError(f"{where}: {key} is missing; each model needs model = ... and output = ....")
    model = table.pop("model")
    local = base / model
    if not Path(model).is_absolute() and (model.startswith(".") or local.exists()):
        model = str(local.resolve())  # a folder beside the manifest; anything else is a Hub id or absolute path
    if "://" in table["output"]:
        raise ManifestError(
            f"{where}: output must be a local or shared-filesystem path, not a URL ({table['output']})."
        )
    output = Path(table.pop("output")).expanduser()
    output = (output if output.is_absolute() else base / output).resolve()
    if isinstance(table.get("max_memory"), str):  # "8G", as on the command line
        try:
            table["max_memory"] = parse_size(table["max_memory"])
        except ValueError as exc:
            raise ManifestError(f"{where}: max_memory: {exc}.") from None
    name = table.pop("name", None) or output.name
    source = {key: table.pop(key) for key in ("revision", "subfolder", "cache_dir") if key in table}
    return BatchEntry(name=name, model=model, output=output, options=table, **source)


def _refuse_shared_outputs(entries: list[BatchEntry], path: Path) -> None:
    """Two entries writing one folder would replace each other's files: refused before anything runs."""
    seen: dict[Path, BatchEntry] = {}
    names: dict[str, BatchEntry] = {}
    for entry in entries:
        if entry.output in seen:
            first, second = seen[entry.output], entry
            which = (
                f"models {first.name!r} and {second.name!r}"
                if first.name != second.name
                else f"two models named {first.name!r} ({first.model} and {second.model})"
            )
            raise ManifestError(f"{path}: {which} both write {entry.output}; give each model its own output folder.")
        if entry.name in names:
            raise ManifestError(f"{path}: two models are named {entry.name!r}; set name = ... on one of them.")
        seen[entry.output] = names[entry.name] = entry
