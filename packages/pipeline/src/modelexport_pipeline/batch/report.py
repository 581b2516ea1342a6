"""What the batch shows: a progress bar while it runs, then a table and a JSON summary."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from .manifest import BatchEntry
from .runner import EXPORTED, FAILED, SKIPPED, EntryResult

BAR_WIDTH = 24


def _clock(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes // 60:d}:{minutes % 60:02d}:{seconds:02d}" if minutes >= 60 else f"{minutes:02d}:{seconds:02d}"


class ProgressBar:
    """``[#######.........] 7/23  1 failed  now: minilm, gpt2  00:42``, redrawn in place on a terminal.

    Elsewhere (a CI log, a pipe) each change is one line, so the log reads in order. A finished model
    always gets a line of its own above the bar: name, status, time, and the error of a failure.
    """

    def __init__(self, total: int, stream: TextIO | None = None) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.started = time.monotonic()
        self.running: list[str] = []
        self.finished: list[EntryResult] = []

    def line(self) -> str:
        done = len(self.finished)
        filled = BAR_WIDTH * done // max(self.total, 1)
        failed = sum(r.status == FAILED for r in self.finished)
        text = f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{self.total}"
        text += f"  {failed} failed" if failed else ""
        text += f"  now: {', '.join(self.running)}" if self.running else ""
        return f"{text}  {_clock(time.monotonic() - self.started)}"

    def _draw(self) -> None:
        if self.live:
            self.stream.write(f"\r\x1b[K{self.line()}")
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()

    def started_entry(self, entry: BatchEntry) -> None:
        self.running.append(entry.name)
        self._draw()

    def finished_entry(self, result: EntryResult) -> None:
        if result.name in self.running:
            self.running.remove(result.name)
        self.finished.append(result)
        about = f"{result.name}: {result.status} ({result.seconds:.1f} s)"
        if result.error:
            about += f": {result.error.splitlines()[0]}"
        self.stream.write(("\r\x1b[K" if self.live else "") + about + "\n")
        self._draw()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def _megabytes(value: int | None) -> str:
    return "-" if value is None else f"{value / 2**20:.0f} MB"


def table(results: Sequence[EntryResult]) -> str:
    """One row per model: status, time, peak memory, largest validation error, the error of a failure."""
    header = ["MODEL", "STATUS", "TIME", "PEAK MEMORY", "MAX ERROR", "ERROR"]
    rows = [
        [
            r.name,
            r.status + (f" (try {r.attempts})" if r.attempts > 1 else ""),
            f"{r.seconds:.1f} s",
            _megabytes(r.peak_memory),
            "-" if r.max_error is None else f"{r.max_error:.1e}",
            (r.error or "").splitlines()[0][:100] if r.error else "",
        ]
        for r in results
    ]
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def summary(results: Sequence[EntryResult], manifest: str, seconds: float, scheduler: str) -> dict[str, Any]:
    """The JSON summary: counts, wall time, and every model's result."""
    return {
        "manifest": manifest,
        "scheduler": scheduler,
        "seconds": seconds,
        "total": len(results),
        "exported": sum(r.status == EXPORTED for r in results),
        "skipped": sum(r.status == SKIPPED for r in results),
        "failed": sum(r.status == FAILED for r in results),
        "models": [r.to_dict() for r in results],
    }
