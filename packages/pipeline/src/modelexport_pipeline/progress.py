"""The numbered progress lines of one export and its timings."""

from __future__ import annotations

import time
from collections.abc import Callable

#: Every export says the same seven steps: resolve, load, configure, convert, post-process, validate, publish.
STEPS = 7


class Progress:
    """The numbered progress lines and the timings of one export."""

    def __init__(self, say: Callable[[str], None] | None) -> None:
        self.say = say or (lambda line: None)
        self.started = time.perf_counter()
        self.timings: dict[str, float] = {}

    def step(self, number: int, text: str) -> None:
        self.say(f"[{number}/{STEPS}] {text}")

    def elapsed(self) -> float:
        return time.perf_counter() - self.started
