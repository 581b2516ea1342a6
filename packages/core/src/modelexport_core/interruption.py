"""What an interrupted command undoes before it exits, and the moment it must not cut.

The ``modelexport`` command ends the process from its SIGINT/SIGTERM handler instead of raising
``KeyboardInterrupt``: an exception raised while C++ code runs Python code (torch's pybind11 module
initialisation does, during ``import torch``) can cross a C++ frame that may not throw, and the
process aborts ("terminate called after throwing an instance of 'pybind11::error_already_set'").
Exiting from the handler cannot be caught or dropped anywhere, but it skips every ``finally``; so the
code that writes files names here what must go (:func:`removed_if_interrupted`), and the code that
moves finished files into place holds the interruption off until they all are (:func:`finishing`):
an export is then either wholly in place or not there at all.

Only the command's handler acts on this state (:func:`run_when_safe`, :func:`remove_abandoned`); a
program calling the exporter keeps Python's own ``KeyboardInterrupt``, and ``finally`` blocks clean up
as usual.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

_removable: list[Path] = []
_stoppers: list[Callable[[], object]] = []
_finishing = 0
_pending: Callable[[], object] | None = None


@contextlib.contextmanager
def removed_if_interrupted(path: Path) -> Iterator[Path]:
    """Register ``path`` (a folder or a file, which may not exist yet) for removal if the command is interrupted."""
    _removable.append(path)
    try:
        yield path
    finally:
        _removable.remove(path)


@contextlib.contextmanager
def finishing() -> Iterator[None]:
    """Moving finished files into place: an interruption waits until the block is done."""
    global _finishing, _pending
    _finishing += 1
    try:
        yield
    finally:
        _finishing -= 1
        action, _pending = (_pending, None) if _finishing == 0 else (None, _pending)
        if action is not None:
            action()


def exit_on_signals(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """End this process on ``signals`` after removing what is registered (:func:`remove_abandoned`), never in the
    middle of a :func:`finishing` block: for a worker process of the command (its export batch), which has no
    line to print and must not publish after its parent said ``interrupted``."""

    def handler(signum: int, frame: object) -> None:
        for each in signals:
            signal.signal(each, signal.SIG_IGN)

        def leave() -> None:
            remove_abandoned()
            os._exit(128 + signum)

        run_when_safe(leave)

    for signum in signals:
        signal.signal(signum, handler)


def run_when_safe(action: Callable[[], object]) -> None:
    """Run ``action`` (the command's exit) now, or at the end of the :func:`finishing` block under way."""
    global _pending
    if _finishing:
        _pending = action
    else:
        action()


@contextlib.contextmanager
def stopped_if_interrupted(stop: Callable[[], object]) -> Iterator[None]:
    """Register ``stop`` (end the worker processes or tasks the block started, and wait for them) to run first
    if the command is interrupted: whatever they would publish after the ``interrupted`` line is never written."""
    _stoppers.append(stop)
    try:
        yield
    finally:
        _stoppers.remove(stop)


def remove_abandoned() -> None:
    """Stop what the command started, then remove every registered folder and file (from the interrupted
    command's signal handler)."""
    for stop in reversed(list(_stoppers)):
        with contextlib.suppress(Exception):  # the command is leaving: no traceback for what could not be stopped
            stop()
    for path in list(_removable):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
