"""One export at a time per output folder: a lock held from the first check of the folder to the publish.

Without it, two exports started at once into the same new folder both pass the "exists and is not
empty" check (made at the start), both publish (at the end), and the first one's success message is
false: its files are gone. The lock is an ``flock`` on a hidden file beside the folder
(``.<name>.modelexport-lock``), so the kernel releases it when its process dies, even by SIGKILL:
a lock is never stale. The file names its holder (process, host, command), which the refused export
quotes. It is removed by its holder on release; a process that locked a file since unlinked (it was
waiting on it) sees that the path no longer names its file and locks afresh.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from modelexport_core.interruption import removed_if_interrupted

from .errors import OutputLockedError, OutputNotWritableError

LOCK_SUFFIX = ".modelexport-lock"


def lock_path(output: Path) -> Path:
    """The lock file of ``output``: hidden, beside it (the folder itself may not exist yet)."""
    return output.parent / f".{output.name}{LOCK_SUFFIX}"


def _holder_text() -> str:
    return json.dumps(
        {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(), "command": " ".join(sys.argv)}
    )


def describe_holder(path: Path) -> str:
    """Who holds the lock, as its file says (it may be gone by the time it is read)."""
    try:
        holder = json.loads(path.read_text())
        started = time.strftime("%H:%M:%S", time.localtime(float(holder["since"])))
        return f"process {holder['pid']} on {holder['host']} since {started} ({holder['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another export"


def _open_locked(path: Path, wait: bool) -> int:
    """A descriptor of ``path`` holding its exclusive lock, or :class:`OutputLockedError` (``wait``: block)."""
    import fcntl

    while True:
        try:
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise OutputNotWritableError(f"Cannot create the lock {path}: {exc.strerror or exc}.") from exc
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(descriptor)
            raise OutputLockedError(
                f"{path.parent / path.name[1 : -len(LOCK_SUFFIX)]} is being written by {describe_holder(path)}. "
                "Wait for it to finish (or pass --wait to queue behind it), or choose another output directory."
            ) from None
        try:
            if os.fstat(descriptor).st_ino == os.stat(path).st_ino:
                return descriptor
        except FileNotFoundError:
            pass
        os.close(descriptor)  # the holder we waited for removed the file: lock the new one


@contextlib.contextmanager
def output_locked(output: Path, wait: bool = False, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold ``output``'s lock for the block; refuse at once if another process holds it (``wait``: queue).

    The folder's parent is created if needed (the lock file lives there), and removed again if the export left
    nothing in it.
    """
    output = output.expanduser().absolute()
    created = [folder for folder in output.parents if not folder.exists()]  # deepest first
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputNotWritableError(f"Cannot create {output.parent}: {exc.strerror or exc}.") from exc
    path = lock_path(output)
    try:
        descriptor = _open_locked(path, wait=False)
    except OutputLockedError:
        if not wait:
            raise
        if say is not None:
            say(f"waiting for {describe_holder(path)} to finish writing {output}")
        descriptor = _open_locked(path, wait=True)
    try:
        os.ftruncate(descriptor, 0)
        os.write(descriptor, _holder_text().encode())
        # Ours now (not while waiting: that file is another export's): the command exits from its signal
        # handler, past every finally, and removes what is registered.
        with removed_if_interrupted(path):
            yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()  # before the lock goes: a waiter re-checks the path and takes a new file
        os.close(descriptor)
        for folder in created:  # made only to hold the lock: gone again unless something was published in them
            try:
                folder.rmdir()
            except OSError:
                break


def remove_unheld_lock(output: Path) -> bool:
    """Remove ``output``'s lock file if no process holds it (left by a worker killed before it could remove it);
    whether it was removed."""
    import fcntl

    path = lock_path(output.expanduser().absolute())
    try:
        descriptor = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(descriptor)
        return False
    try:
        path.unlink()
    except OSError:
        return False
    finally:
        os.close(descriptor)
    return True
