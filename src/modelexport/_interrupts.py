"""Ctrl-C and SIGTERM for the command: one ``interrupted`` line and exit status 128 + signal, never a traceback.

The command ends the process from the signal handler itself, after removing the folders its export
registered (``modelexport_core.interruption``). It never raises ``KeyboardInterrupt``, because a
command that spends its first seconds importing torch, transformers and onnxruntime cannot raise
safely wherever the main thread happens to be:

- inside the import of a C extension, the extension reports ``ImportError: initialization failed``;
- inside a weakref callback, a ``__del__`` (importlib's module locks have one) or a ctypes callback,
  Python prints "Exception ignored in ..." with a traceback, drops the exception and carries on;
- inside Python code that C++ runs (torch's pybind11 module initialisation during ``import torch``),
  the exception can cross a C++ frame that may not throw and the process aborts (exit -6,
  "terminate called after throwing an instance of 'pybind11::error_already_set'": CI saw it once).

SIGTERM, left alone, kills the process without a chance to clean up. Only the command installs
this (:func:`install`); a program calling ``main`` or the exporter keeps Python's own handling.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from modelexport_core import interruption

SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: The first interrupting signal (a second one while the first is held off changes nothing).
_received: int | None = None


def install() -> None:
    """End the command on SIGINT and SIGTERM from now on (the command only)."""
    for signum in SIGNALS:
        signal.signal(signum, _on_signal)


def ignore() -> None:
    """The command is done: a late signal must not cut the final flushing of its output."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_IGN)


def _on_signal(signum: int, frame: Any) -> None:
    global _received
    if _received is None:
        _received = signum
        interruption.run_when_safe(lambda: exit_interrupted(signum))


def exit_interrupted(signum: int) -> None:
    """Remove what the export left, print one line and leave now, without unwinding (nothing can catch it)."""
    interruption.remove_abandoned()
    try:
        sys.stdout.flush()
        print(f"interrupted ({signal.Signals(signum).name})", file=sys.stderr, flush=True)
    except (OSError, ValueError):  # a closed pipe: the status still says it
        pass
    os._exit(128 + signum)
