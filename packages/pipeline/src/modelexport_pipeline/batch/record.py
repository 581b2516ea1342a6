"""Resuming: what a batch export was made from, recorded in its output, so a second run skips it.

A model is skipped when its output folder holds the record of an export from the same source revision
with the same options by the same modelexport version; anything else is exported again. The revision of a
Hub model is the commit of its cached snapshot; of a local folder, a fingerprint of its files' names, sizes
and modification times (reading every weight byte to hash it would cost as much as the export's own load).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from modelexport_core.model_source import ModelReference

from ..backend import export_backend
from ..staging import backend_stamp, read_record
from .manifest import BatchEntry


def folder_fingerprint(directory: Path) -> str:
    """A digest of every file's relative name, size and modification time under ``directory``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(directory)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return f"files:{digest.hexdigest()[:16]}"


def source_revision(reference: ModelReference) -> str:
    """The revision the export reads: the cached Hub commit, the asked revision, or the local folder's fingerprint."""
    if reference.source.is_local:
        directory = reference.local_directory()
        assert directory is not None
        return folder_fingerprint(directory)
    snapshot = reference.snapshot(within_subfolder=False)
    if snapshot is not None:
        return f"commit:{snapshot.name}"
    return f"revision:{reference.pinned_revision() or 'main'}"


def wanted_record(entry: BatchEntry, reference: ModelReference) -> dict[str, Any]:
    """What the output's record says once this entry is exported now."""
    options = {k: v for k, v in sorted(entry.options.items()) if k != "overwrite"}
    backend = export_backend(str(entry.options.get("backend", "onnx")))
    return {
        "source": entry.model,
        "subfolder": entry.subfolder,
        "revision": source_revision(reference),
        "options": options,
        **backend_stamp(backend.name, backend.distribution),
    }


def previous_record(output: Path) -> dict[str, Any] | None:
    """The record of an earlier batch export in ``output`` (``None``: none, or unreadable)."""
    return read_record(output)


def is_current(previous: dict[str, Any] | None, wanted: dict[str, Any], output: Path) -> bool:
    """Whether the earlier export is this one, and all its files are still there."""
    if previous is None:
        return False
    files = previous.get("files", [])
    same = {k: v for k, v in previous.items() if k != "files"} == wanted
    return same and isinstance(files, list) and all((output / str(name)).is_file() for name in files)
