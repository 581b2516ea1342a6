"""Everything that talks to the Hugging Face Hub or its local cache.

Settings are read from the environment at call time (``HF_ENDPOINT``, ``HF_HUB_OFFLINE``,
``HF_HUB_CACHE``/``HF_HOME``), not when ``huggingface_hub`` happens to be imported, so a
process can point at a mirror or go offline after start-up. ``huggingface_hub`` itself is
imported only inside these functions.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import HubUnavailableError, InvalidModelIdError, ModelNotFoundError

_TRUE = {"1", "ON", "YES", "TRUE"}
_REPO_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^(?:{_REPO_PART}/)?{_REPO_PART}$")
DEFAULT_ENDPOINT = "https://huggingface.co"


def is_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` asks for no network access."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in _TRUE


def hub_endpoint() -> str:
    """The Hub address, ``HF_ENDPOINT`` when set."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or DEFAULT_ENDPOINT


def hub_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The Hugging Face hub cache folder (the one that holds ``models--org--name``)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface"
    )
    return Path(home).expanduser() / "hub"


def validate_hub_id(model_id: str) -> str:
    """Return ``model_id`` if it is a well-formed ``org/name`` (or ``name``) Hub id.

    Path tricks (``..``, absolute paths, backslashes, ``--``) are refused: a Hub id must never
    be usable to reach outside the cache.
    """
    if (
        not model_id
        or ".." in model_id
        or "--" in model_id
        or "\\" in model_id
        or model_id.startswith(("/", "~"))
        or not _REPO_ID.match(model_id)
    ):
        raise InvalidModelIdError(
            f"{model_id!r} is neither an existing local directory nor a valid Hugging Face Hub "
            "model id. A Hub id looks like 'organization/model-name' (letters, digits, '-', '_', "
            "'.'; no '..', no leading '/'); a local model must be an existing directory."
        )
    return model_id


@dataclass(frozen=True)
class HubModelInfo:
    """What the Hub says of a repository, as far as task and framework go."""

    model_id: str
    pipeline_tag: str | None = None
    auto_model: str | None = None
    files: tuple[str, ...] = ()
    config: dict[str, Any] = field(default_factory=dict)
    #: The commit the answer describes (the revision asked for, resolved).
    sha: str | None = None


def fetch_model_info(model_id: str, revision: str | None = None) -> HubModelInfo:
    """Ask the Hub's model-info API about ``model_id``.

    Raises :class:`ModelNotFoundError` when the repository does not exist and
    :class:`HubUnavailableError` when offline or unreachable.
    """
    validate_hub_id(model_id)
    if is_offline():
        raise HubUnavailableError(f"HF_HUB_OFFLINE is set: the Hub is not asked about {model_id!r}.")
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    api = HfApi(endpoint=hub_endpoint())
    try:
        info = api.model_info(model_id, revision=revision)
    except (RepositoryNotFoundError, GatedRepoError) as exc:
        raise ModelNotFoundError(
            f"{model_id!r} is not a local directory and the Hub ({hub_endpoint()}) has no "
            "accessible repository of that name (check the spelling, or log in for a private model)."
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelNotFoundError(f"The Hub repository {model_id!r} has no revision {revision!r}.") from exc
    except Exception as exc:  # connection refused, timeout, 5xx: treated as unreachable
        raise HubUnavailableError(
            f"The Hub ({hub_endpoint()}) could not be reached for {model_id!r}: {type(exc).__name__}: {exc}"
        ) from exc
    transformers_info = getattr(info, "transformers_info", None)
    auto_model = getattr(transformers_info, "auto_model", None) if transformers_info else None
    siblings = getattr(info, "siblings", None) or []
    config = getattr(info, "config", None) or {}
    return HubModelInfo(
        model_id=model_id,
        pipeline_tag=getattr(info, "pipeline_tag", None),
        auto_model=auto_model,
        files=tuple(s.rfilename for s in siblings),
        config=dict(config) if isinstance(config, dict) else {},
        sha=getattr(info, "sha", None),
    )


def cached_snapshot(
    model_id: str, cache_dir: str | os.PathLike[str] | None = None, revision: str | None = None
) -> Path | None:
    """The local snapshot folder of ``model_id`` in the Hugging Face cache, if there is one."""
    validate_hub_id(model_id)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        path = snapshot_download(
            model_id, revision=revision, cache_dir=str(hub_cache_dir(cache_dir)), local_files_only=True
        )
    except (LocalEntryNotFoundError, FileNotFoundError, OSError):
        return None
    snapshot = Path(path)
    return snapshot if snapshot.is_dir() else None


def not_cached_error(model_id: str, cache_dir: str | os.PathLike[str] | None = None) -> HubUnavailableError:
    """The error for a Hub model that is needed from the cache but is not in it, with what to do."""
    why = "HF_HUB_OFFLINE is set" if is_offline() else "the Hub could not be reached"
    return HubUnavailableError(
        f"{model_id!r} is not a local directory, {why}, and it is not in the Hugging Face "
        f"cache ({hub_cache_dir(cache_dir)}). Download it while online "
        f"(`hf download {model_id}`), or pass the path of a local copy."
    )
