"""The names of key/value cache inputs and outputs, written and read in one place.

Inputs are ``past_key_values.{layer}.key`` (decoder-only) or ``past_key_values.{layer}.{decoder|encoder}.key``
(encoder-decoders: self- and cross-attention); outputs the same under ``present.``. Export configs
write these names, converters read them to build and take apart the framework's cache objects, and
the generation loop feeds each step's ``present.*`` back as the next step's ``past_key_values.*``:
the layout of optimum's exports, which ONNX Runtime consumers already read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

PAST_PREFIX = "past_key_values."
PRESENT_PREFIX = "present."

Part = Literal["key", "value"]
Attention = Literal["decoder", "encoder"]
PARTS: tuple[Part, Part] = ("key", "value")


@dataclass(frozen=True)
class CacheName:
    """One cache tensor: its layer, key or value and, in encoder-decoders, which attention it feeds."""

    layer: int
    part: Part
    attention: Attention | None = None

    @classmethod
    def parse(cls, name: str) -> CacheName | None:
        """The cache tensor ``name`` stands for, ``None`` for any other input or output."""
        for prefix in (PAST_PREFIX, PRESENT_PREFIX):
            if name.startswith(prefix):
                fields = name[len(prefix) :].split(".")
                part = fields[-1]
                attention = fields[1] if len(fields) == 3 else None
                if fields[0].isdigit() and part in PARTS and attention in (None, "decoder", "encoder"):
                    return cls(int(fields[0]), part, cast("Attention | None", attention))
        return None

    @property
    def index(self) -> int:
        """0 for the key, 1 for the value: the position in a ``(key, value)`` pair."""
        return PARTS.index(self.part)

    def named(self, prefix: str) -> str:
        middle = f"{self.attention}." if self.attention else ""
        return f"{prefix}{self.layer}.{middle}{self.part}"

    @property
    def past(self) -> str:
        return self.named(PAST_PREFIX)

    @property
    def present(self) -> str:
        return self.named(PRESENT_PREFIX)


def cache_names(layers: int, attention: Attention | None = None) -> list[CacheName]:
    """Every cache tensor of ``layers`` layers, in graph order: layer by layer, key before value."""
    return [CacheName(layer, part, attention) for layer in range(layers) for part in PARTS]


def is_past(name: str) -> bool:
    return name.startswith(PAST_PREFIX)


def is_present(name: str) -> bool:
    return name.startswith(PRESENT_PREFIX)


def past_for_present(name: str) -> str:
    """The input that takes output ``name`` back at the next step: ``present.0.key`` -> ``past_key_values.0.key``."""
    return PAST_PREFIX + name[len(PRESENT_PREFIX) :]
