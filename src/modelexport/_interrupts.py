"""Ctrl-C and SIGTERM for the command: one ``interrupted`` line and exit status 128 + signal, never a traceback.

Python's own handling is not enough for a command that spends its first seconds importing torch,
transformers and onnxruntime:

- SIGINT raises ``KeyboardInterrupt`` wherever the main thread is. Inside the import of a C extension
  the extension reports ``ImportError: initialization failed`` instead; inside a weakref callback or
  a ``__del__`` (importlib's module locks have one) Python prints "Exception ignored in ..." with a
  traceback, drops the exception, and the export carries on as if nothing had happened.
- SIGTERM kills the process outright, leaving no chance to clean up.

So both signals are remembered and raised as :class:`Interrupted`; whatever exception the command
then ends with is reported as the interruption (:func:`received`); an interruption Python dropped is
not printed, and is raised again shortly after, until the command has reported it.
"""

from __future__ import annotations

import _thread
import signal
import sys
import threading
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: How long a dropped interruption waits before it is raised again (time for clean-up code to finish).
RETRY_SECONDS = 0.5

_installed = False
_received: int | None = None
_reported = threading.Event()
_previous_unraisablehook = sys.unraisablehook


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by SIGINT or SIGTERM; its exit status is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.exit_code = 128 + signum


def received() -> int | None:
    """The first interrupting signal received since :func:`install` (``None``: none)."""
    return _received


def install() -> None:
    """Raise :class:`Interrupted` on SIGINT and SIGTERM from now on, in the main thread (the command only)."""
    global _installed
    _installed = True
    for signum in SIGNALS:
        signal.signal(signum, _on_signal)
    sys.unraisablehook = _unraisable


def reported() -> None:
    """The interruption was reported (or the command is done): ignore further signals, stop raising again.

    Only after :func:`install`: a program calling ``main`` keeps its own signal handling.
    """
    _reported.set()
    if not _installed:
        return
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _on_signal(signum: int, frame: Any) -> None:
    global _received
    if _received is None:
        _received = signum
        threading.Thread(
            target=_raise_until_reported, args=(signum,), name="modelexport-interrupt", daemon=True
        ).start()
    raise Interrupted(signum)


def _raise_until_reported(signum: int) -> None:
    """Signal the main thread again until the interruption reached the command (Python may have dropped it)."""
    while not _reported.wait(RETRY_SECONDS):
        _thread.interrupt_main(signal.Signals(signum))


def _unraisable(unraisable: Any) -> None:
    """Drop the "Exception ignored" report of an interruption: :func:`_raise_until_reported` raises it again."""
    if isinstance(unraisable.exc_value, Interrupted):
        return
    _previous_unraisablehook(unraisable)
