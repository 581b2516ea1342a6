"""Where a model comes from: a local directory, or a Hub id (online or from the cache).

:func:`resolve_model` turns what a user typed into a :class:`ModelSource` and refuses bad
input early with a typed error: a path that does not exist, a file where a directory is
expected, a Hub id with path tricks. :func:`read_model_config` reads and checks
``config.json``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import hub
from .errors import HubUnavailableError, InvalidModelConfigError, InvalidModelIdError, ModelNotFoundError

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)
_PIPELINE_TAG = re.compile(r"^pipeline_tag\s*:\s*['\"]?([A-Za-z0-9_-]+)['\"]?\s*$", re.MULTILINE)


@dataclass(frozen=True)
class ModelSource:
    """A resolved model reference: exactly one of ``local_dir`` and ``hub_id`` is set."""

    reference: str
    local_dir: Path | None = None
    hub_id: str | None = None
    subfolder: str = ""

    @property
    def is_local(self) -> bool:
        return self.local_dir is not None

    @property
    def directory(self) -> Path | None:
        """The local directory (with its subfolder) holding the model files, if local."""
        if self.local_dir is None:
            return None
        return self.local_dir / self.subfolder if self.subfolder else self.local_dir

    def __str__(self) -> str:
        return str(self.local_dir) if self.local_dir is not None else str(self.hub_id)


def _looks_like_path(reference: str) -> bool:
    return (
        reference.startswith(("/", "./", "../", "~", ".\\", "..\\"))
        or os.path.isabs(reference)
        or reference in {".", ".."}
    )


def resolve_model(model: str | os.PathLike[str], subfolder: str = "") -> ModelSource:
    """Resolve ``model`` to a local directory or a validated Hub id."""
    if subfolder and (".." in Path(subfolder).parts or os.path.isabs(subfolder)):
        raise ModelNotFoundError(f"Subfolder {subfolder!r} must be a relative path inside the model.")
    reference = os.fspath(model)
    if not reference.strip():
        raise InvalidModelIdError("The model is an empty string: pass a local directory or a Hub id.")
    path = Path(reference).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(
                f"{reference!r} is a file; a model is a directory holding config.json and weights."
            )
        return ModelSource(reference=reference, local_dir=path.resolve(), subfolder=subfolder)
    if _looks_like_path(reference):
        raise ModelNotFoundError(f"Model path {reference!r} does not exist.")
    return ModelSource(reference=reference, hub_id=hub.validate_hub_id(reference), subfolder=subfolder)


def parse_config_text(text: str, where: str) -> dict[str, Any]:
    """Parse and check the text of a ``config.json``."""
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidModelConfigError(f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}).") from exc
    if not isinstance(config, dict):
        raise InvalidModelConfigError(f"{where} must hold a JSON object, not {type(config).__name__}.")
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or not model_type:
        raise InvalidModelConfigError(
            f"{where} has no 'model_type': it is not a transformers model configuration "
            "(save the model with `save_pretrained`, which writes it)."
        )
    return config


def read_config_file(directory: Path) -> dict[str, Any]:
    """Read ``config.json`` of a local model directory."""
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise InvalidModelConfigError(
            f"{directory} has no config.json: it is not a transformers model directory "
            "(expected the output of `save_pretrained`)."
        )
    try:
        text = config_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidModelConfigError(f"{config_path} cannot be read: {exc}") from exc
    return parse_config_text(text, str(config_path))


def read_pipeline_tag(directory: Path) -> str | None:
    """The ``pipeline_tag`` of the model card front matter (README.md), if any."""
    readme = directory / "README.md"
    if not readme.is_file():
        return None
    try:
        text = readme.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    front = _FRONT_MATTER.match(text)
    if not front:
        return None
    tag = _PIPELINE_TAG.search(front.group(1))
    return tag.group(1) if tag else None


def local_directory(
    source: ModelSource, cache_dir: str | os.PathLike[str] | None = None, revision: str | None = None
) -> Path:
    """A local directory with the model's files: the directory itself, or a cached snapshot."""
    if source.directory is not None:
        return source.directory
    assert source.hub_id is not None
    snapshot = hub.require_cached_snapshot(source.hub_id, cache_dir, revision)
    return snapshot / source.subfolder if source.subfolder else snapshot


def read_model_config(
    model: str | os.PathLike[str] | ModelSource,
    cache_dir: str | os.PathLike[str] | None = None,
    revision: str | None = None,
) -> dict[str, Any]:
    """The parsed ``config.json`` of a local model, or of a Hub model (cache or download)."""
    source = model if isinstance(model, ModelSource) else resolve_model(model)
    if source.directory is not None:
        return read_config_file(source.directory)
    assert source.hub_id is not None
    snapshot = hub.cached_snapshot(source.hub_id, cache_dir, revision)
    if snapshot is not None and (snapshot / source.subfolder / "config.json").is_file():
        return read_config_file(snapshot / source.subfolder)
    if hub.is_offline():
        hub.require_cached_snapshot(source.hub_id, cache_dir, revision)  # raises the clear error
    from huggingface_hub import hf_hub_download

    try:
        path = hf_hub_download(
            source.hub_id,
            "config.json",
            subfolder=source.subfolder or None,
            revision=revision,
            cache_dir=str(hub.hub_cache_dir(cache_dir)),
            endpoint=hub.hub_endpoint(),
        )
    except Exception as exc:
        info_error = _classify_hub_error(exc, source.hub_id)
        raise info_error from exc
    return read_config_file(Path(path).parent)


def _classify_hub_error(exc: Exception, model_id: str) -> Exception:
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    if isinstance(exc, RepositoryNotFoundError):
        return ModelNotFoundError(f"The Hub has no accessible repository {model_id!r}.")
    if isinstance(exc, EntryNotFoundError):
        return InvalidModelConfigError(f"The Hub repository {model_id!r} has no config.json.")
    return HubUnavailableError(
        f"The Hub ({hub.hub_endpoint()}) could not be reached for {model_id!r} and it is not cached: {exc}"
    )


def list_model_files(
    source: ModelSource, cache_dir: str | os.PathLike[str] | None = None, revision: str | None = None
) -> list[str]:
    """Names of the files of a model (relative to the model folder and its subfolder)."""
    if source.directory is not None:
        if not source.directory.is_dir():
            raise ModelNotFoundError(f"{source.directory} does not exist.")
        return sorted(p.name for p in source.directory.iterdir())
    assert source.hub_id is not None
    if not hub.is_offline():
        try:
            info = hub.fetch_model_info(source.hub_id, revision)
        except HubUnavailableError:
            pass  # fall back to the cache below
        else:
            prefix = f"{source.subfolder.strip('/')}/" if source.subfolder else ""
            return sorted(f[len(prefix) :] for f in info.files if f.startswith(prefix) and "/" not in f[len(prefix) :])
    directory = local_directory(source, cache_dir, revision)
    return sorted(p.name for p in directory.iterdir())
