"""Atomic output: everything is written in a hidden staging folder beside the target, then renamed.

An export that fails, is interrupted (SIGINT, SIGTERM) or is killed never leaves a
``model.onnx`` or a partial file where the user looks. A staging folder left by a killed
process (SIGKILL cannot be caught) is hidden, named after its process, and removed by the next
export into the same place once that process is gone.

The ``modelexport`` command exits from its signal handler (``modelexport_core.interruption`` says
why), so a staging folder is registered there before it exists, and publishing holds the
interruption off until every file is in place.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from modelexport_core.interruption import finishing, removed_if_interrupted
from modelexport_core.versions import version_text

from .errors import OutputExistsError, OutputNotWritableError

_PARTIAL_MARK = ".modelexport-partial-"

#: The record every export leaves in its output folder: what it was made from and which files it wrote. A later
#: ``--overwrite`` removes the files of the earlier export that the new one does not write (and only those); a
#: batch reads it to skip a model exported before with the same options.
RECORD_NAME = "modelexport_export.json"


def write_record(
    staging: Path,
    record: Mapping[str, Any] | None,
    source: str,
    files: list[str],
    backend: str,
    distribution: str,
) -> None:
    """The export's record in ``staging``, published with its files (a record always has its export)."""
    content = dict(record) if record is not None else {"source": source, **backend_stamp(backend, distribution)}
    (staging / RECORD_NAME).write_text(json.dumps({**content, "files": sorted(files)}, indent=2) + "\n")


def backend_stamp(backend: str, distribution: str) -> dict[str, str]:
    """Which backend wrote an export, at which version: a record's key (a newer backend redoes a batch's export)."""
    return {"backend": backend, distribution.replace("-", "_"): version_text(distribution)}


def read_record(folder: Path) -> dict[str, Any] | None:
    """The record of the export in ``folder`` (``None``: none, or unreadable)."""
    try:
        record = json.loads((folder / RECORD_NAME).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def recorded_files(folder: Path) -> set[str] | None:
    """The files the export recorded in ``folder`` wrote (``None``: no readable record there)."""
    record = read_record(folder)
    files = record.get("files") if record is not None else None
    return {str(name) for name in files} if isinstance(files, list) else None


@dataclass(frozen=True)
class Replacement:
    """What publishing into an existing folder does beside writing the new files."""

    #: Files the earlier export wrote that this one does not: removed (a stale ``model_quantized.onnx``...).
    removed: tuple[str, ...] = ()
    #: Files no export of ours wrote (by its record): kept.
    kept: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = []
        if self.removed:
            parts.append(f"removed {len(self.removed)} file(s) of the earlier export: {', '.join(self.removed)}")
        if self.kept:
            parts.append(f"kept {len(self.kept)} file(s) modelexport did not write: {', '.join(self.kept)}")
        return "; ".join(parts)


def replacement(staging: Path, output: Path) -> Replacement:
    """What publishing ``staging`` into ``output`` removes and keeps, from the two folders' records."""
    if not output.is_dir():
        return Replacement()
    new = recorded_files(staging) or {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
    new.add(RECORD_NAME)
    old = recorded_files(output)
    present = {p.relative_to(output).as_posix() for p in output.rglob("*") if p.is_file()}
    ours = (old or set()) | {RECORD_NAME}
    removed = sorted((ours & present) - new)
    kept = sorted(present - ours - new)
    return Replacement(tuple(removed), tuple(kept))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_staging(parent: Path, target_name: str) -> None:
    """Remove staging folders for ``target_name`` whose process no longer runs."""
    prefix = f".{target_name}{_PARTIAL_MARK}"
    if not parent.is_dir():
        return
    for entry in parent.iterdir():
        if not entry.name.startswith(prefix):
            continue
        pid_text = entry.name[len(prefix) :].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(entry, ignore_errors=True)


def check_output_dir(output: Path, overwrite: bool) -> None:
    """Refuse an existing, non-empty output without ``overwrite``, or an unwritable place."""
    if output.exists() and not output.is_dir():
        raise OutputExistsError(f"{output} exists and is a file; choose a directory path for the export.")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{output} exists and is not empty. Pass --overwrite to replace the exported files in it "
            "(other files are left alone), or choose another directory."
        )
    parent = output if output.is_dir() else _existing_ancestor(output)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputNotWritableError(f"Cannot write to {output}: {parent} is not writable.")


def _existing_ancestor(path: Path) -> Path:
    for candidate in [path, *path.parents]:
        if candidate.exists():
            if not candidate.is_dir():
                raise OutputNotWritableError(f"Cannot create {path}: {candidate} is a file.")
            return candidate
    return Path.cwd()


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM so that clean-up handlers run (exit status 128 + signal)."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.exit_code = 128 + signum


@contextlib.contextmanager
def _terminate_as_exception() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum)

    if callable(signal.getsignal(signal.SIGTERM)):  # the caller (the command) already raises on SIGTERM
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def staging_folder(parent: Path, target_name: str) -> Iterator[Path]:
    """A private hidden folder in ``parent`` for building ``target_name``; always removed on exit."""
    remove_stale_staging(parent, target_name)
    prefix = f".{target_name}{_PARTIAL_MARK}{os.getpid()}-"
    with _private_folder(parent, prefix) as staging, _terminate_as_exception():
        yield staging


@contextlib.contextmanager
def _private_folder(parent: Path, prefix: str) -> Iterator[Path]:
    """A new folder ``prefix<random>`` only we can enter (as ``mkdtemp``), registered before it exists."""
    while True:
        with removed_if_interrupted(parent / f"{prefix}{secrets.token_hex(4)}") as folder:
            try:
                folder.mkdir(mode=0o700)
            except FileExistsError:
                continue
            except OSError as exc:
                raise OutputNotWritableError(f"Cannot write in {parent}: {exc.strerror or exc}.") from exc
            try:
                yield folder
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            return


@contextlib.contextmanager
def staged_directory(output: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a private staging folder; on success its files land in ``output``, else it vanishes.

    A new ``output`` is created by renaming the staging folder (atomic); into an existing one
    each file is moved with ``os.replace`` (atomic per file), other files in it are untouched.
    """
    output = output.expanduser().absolute()
    check_output_dir(output, overwrite)
    parent = output.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritableError(f"Cannot create {parent}: {exc.strerror or exc}.") from exc
    with staging_folder(parent, output.name) as staging:
        yield staging
        with finishing():
            _publish(staging, output)


def _publish(staging: Path, output: Path) -> None:
    stale = replacement(staging, output).removed
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # it was made private
    if not output.exists():
        os.rename(staging, output)
        return
    for path in sorted(staging.rglob("*")):
        target = output / path.relative_to(staging)
        if path.is_dir():
            target.mkdir(exist_ok=True)
        else:
            os.replace(path, target)
    for name in stale:
        with contextlib.suppress(OSError):
            (output / name).unlink()
