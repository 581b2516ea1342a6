"""Where a model comes from: a local directory, or a Hub id (online or from the cache).

:meth:`ModelReference.resolve` turns what a user typed into a :class:`ModelReference`, refusing
bad input early with a typed error (a path that does not exist, a file where a directory is
expected, a Hub id with path tricks) before anything slow. The reference then answers what task
inference, framework detection, export configs and model loading all ask about the model (the
Hub's model info, the file names, ``config.json``, the cached snapshot), each at most once.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from . import hub
from .errors import HubUnavailableError, InvalidModelConfigError, InvalidModelIdError, ModelNotFoundError
from .hub import HubModelInfo
from .libraries import LibraryPlugin, config_problem, detect_library

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
    problem = config_problem(config)  # every installed library is asked: timm's configs have no model_type
    if problem is not None:
        raise InvalidModelConfigError(
            f"{where}: {problem}, so it is not a model configuration modelexport reads "
            "(save a transformers model with `save_pretrained`, a timm model with `timm.models.push_to_hf_hub`'s "
            "`save_for_hf`, which write it)."
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


def _classify_hub_error(exc: Exception, model_id: str) -> Exception:
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    if isinstance(exc, LocalEntryNotFoundError):  # an EntryNotFoundError too: the Hub did not answer, offline
        return hub.not_cached_error(model_id)
    if isinstance(exc, RepositoryNotFoundError):
        return ModelNotFoundError(f"The Hub has no accessible repository {model_id!r}.")
    if isinstance(exc, EntryNotFoundError):
        return InvalidModelConfigError(f"The Hub repository {model_id!r} has no config.json.")
    return HubUnavailableError(
        f"The Hub ({hub.hub_endpoint()}) could not be reached for {model_id!r} and it is not cached: {exc}"
    )


def _file_names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


class ModelReference:
    """One model, resolved once, answering what every step of an export asks about it.

    Task inference, framework detection, the export config and model loading all need the same
    facts; each is computed on first use and kept, so an online export asks the Hub's model-info
    endpoint once and reads ``config.json`` once. Build it with :meth:`resolve`. The answers
    (``files``, ``config``) are shared: do not mutate them.
    """

    def __init__(
        self, source: ModelSource, revision: str | None = None, cache_dir: str | os.PathLike[str] | None = None
    ) -> None:
        self._source = source
        self._revision = revision
        self._cache_dir = cache_dir
        self._snapshot_root: Path | None = None

    @classmethod
    def resolve(
        cls,
        model: str | os.PathLike[str] | ModelReference,
        subfolder: str = "",
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> ModelReference:
        """Validate ``model`` now (typed errors, no network) and return its reference.

        A ``ModelReference`` is returned as it is, so that functions taking either a name or a
        reference resolve once; arguments contradicting it are refused rather than ignored.
        """
        if isinstance(model, ModelReference):
            model._refuse_other(subfolder, revision, cache_dir)
            return model
        return cls(resolve_model(model, subfolder), revision, cache_dir)

    def _refuse_other(self, subfolder: str, revision: str | None, cache_dir: str | os.PathLike[str] | None) -> None:
        """Raise ``ValueError`` if an argument given with this reference names another model location."""
        conflicts = [
            f"{name}={asked!r} (it has {held!r})"
            for name, asked, held in (
                ("subfolder", subfolder or None, self.subfolder),
                ("revision", revision, self.revision),
                ("cache_dir", cache_dir, self.cache_dir),
            )
            if asked is not None and (held is None or os.fspath(asked) != os.fspath(held))
        ]
        if conflicts:
            raise ValueError(
                f"{self!r} is already resolved; it cannot be used with {', '.join(conflicts)}. "
                "Resolve the model again with those arguments."
            )

    @property
    def source(self) -> ModelSource:
        return self._source

    @property
    def revision(self) -> str | None:
        return self._revision

    @property
    def cache_dir(self) -> str | os.PathLike[str] | None:
        return self._cache_dir

    @property
    def subfolder(self) -> str:
        return self._source.subfolder

    def __repr__(self) -> str:
        return f"ModelReference({str(self._source)!r}, subfolder={self.subfolder!r}, revision={self.revision!r})"

    def __str__(self) -> str:
        return str(self._source)

    @cached_property
    def hub_info(self) -> HubModelInfo | None:
        """What the Hub says of the model; ``None`` for a local directory, offline or unreachable.

        :class:`ModelNotFoundError` (no such repository or revision) propagates: the cache
        cannot make up for a model that does not exist.
        """
        if self._source.hub_id is None or hub.is_offline():
            return None
        try:
            return hub.fetch_model_info(self._source.hub_id, self.revision)
        except HubUnavailableError:
            return None  # callers fall back to the cache

    def pinned_revision(self) -> str | None:
        """The revision to load: the commit the Hub named if it was already asked, else the one given.

        Loading that commit reads the very files task inference and framework detection saw, and
        spares the framework's loader its own model-info request to resolve the revision.
        """
        info: HubModelInfo | None = self.__dict__.get("hub_info")  # asked already (cached_property)?
        return info.sha if info is not None and info.sha else self.revision

    @cached_property
    def files(self) -> list[str]:
        """Names of the model's files (in its subfolder), from the Hub when it answers, else on disk."""
        directory = self._source.directory
        if directory is not None:
            if not directory.is_dir():
                raise ModelNotFoundError(f"{directory} does not exist.")
            return _file_names(directory)
        info = self.hub_info
        if info is None:
            return _file_names(self.require_snapshot())
        prefix = f"{self.subfolder.strip('/')}/" if self.subfolder else ""
        return sorted(f[len(prefix) :] for f in info.files if f.startswith(prefix) and "/" not in f[len(prefix) :])

    @cached_property
    def config(self) -> dict[str, Any]:
        """The checked ``config.json``: local, from the cached snapshot, else downloaded into the cache."""
        if self._source.directory is not None:
            return read_config_file(self._source.directory)
        snapshot = self.snapshot()
        if snapshot is not None and (snapshot / "config.json").is_file():
            return read_config_file(snapshot)
        if snapshot is None and (hub.is_offline() or self.hub_info is None):
            # the one model-info request failed at once (no network): downloading would retry for half a minute
            raise self._not_cached()
        return read_config_file(self._download_config())

    def config_at_hand(self) -> dict[str, Any] | None:
        """:attr:`config` when reading it asks no server (read already, a local folder, a cached snapshot)."""
        if "config" in self.__dict__ or self._source.directory is not None:
            return self.config
        snapshot = self.snapshot()
        return self.config if snapshot is not None and (snapshot / "config.json").is_file() else None

    def _download_config(self) -> Path:
        """Fetch ``config.json`` into the Hub cache; the folder that holds it."""
        from huggingface_hub import hf_hub_download

        assert self._source.hub_id is not None
        try:
            path = hf_hub_download(
                self._source.hub_id,
                "config.json",
                subfolder=self.subfolder or None,
                revision=self.revision,
                cache_dir=str(hub.hub_cache_dir(self.cache_dir)),
                endpoint=hub.hub_endpoint(),
            )
        except Exception as exc:
            raise _classify_hub_error(exc, self._source.hub_id) from exc
        return Path(path).parent

    @property
    def model_type(self) -> str:
        """The model's type in the registry: the ``model_type`` of :attr:`config`, or what its library calls it
        (timm: ``default-timm-config``)."""
        return self.library.model_type(self.config)

    @cached_property
    def library(self) -> LibraryPlugin:
        """The library whose model this is (sentence-transformers, timm, transformers...), from its files."""
        return detect_library(self.files, self.config_at_hand())

    def snapshot(self, *, within_subfolder: bool = True) -> Path | None:
        """The cached Hub snapshot (in the subfolder unless told otherwise); ``None`` if not cached.

        A snapshot once found is kept; a missing one is looked for again on each call, since a
        model load may have downloaded it meanwhile. Always ``None`` for a local directory.
        """
        if self._snapshot_root is None and self._source.hub_id is not None:
            self._snapshot_root = hub.cached_snapshot(self._source.hub_id, self.cache_dir, self.revision)
        root = self._snapshot_root
        if root is None or not within_subfolder or not self.subfolder:
            return root
        return root / self.subfolder

    def require_snapshot(self, *, within_subfolder: bool = True) -> Path:
        """Like :meth:`snapshot`, raising :class:`HubUnavailableError` (with what to do) when not cached."""
        snapshot = self.snapshot(within_subfolder=within_subfolder)
        if snapshot is None:
            raise self._not_cached()
        return snapshot

    def local_directory(self) -> Path | None:
        """A folder with the model's files: the local directory, or the cached snapshot, or ``None``."""
        return self._source.directory or self.snapshot()

    def require_local_directory(self) -> Path:
        """Like :meth:`local_directory`, raising :class:`HubUnavailableError` when not cached."""
        return self._source.directory or self.require_snapshot()

    def _not_cached(self) -> HubUnavailableError:
        assert self._source.hub_id is not None
        return hub.not_cached_error(self._source.hub_id, self.cache_dir)
