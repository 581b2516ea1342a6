"""Flattening a model's named, possibly nested outputs into ``name.i.j`` -> array.

Frameworks return past key/values as tuples of tuples; exporters and validation speak of flat
names. Both framework plugins use this one walk with their own tensor test and conversion.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def flatten_outputs(
    outputs: Mapping[str, Any], is_tensor: Callable[[Any], bool], to_numpy: Callable[[Any], Any]
) -> dict[str, Any]:
    """``{"logits": t, "past": ((k, v),)}`` -> ``{"logits": a, "past.0.0": k, "past.0.1": v}``."""
    flat: dict[str, Any] = {}

    def add(name: str, value: Any) -> None:
        if is_tensor(value):
            flat[name] = to_numpy(value)
        elif isinstance(value, (tuple, list)):
            for i, item in enumerate(value):
                add(f"{name}.{i}", item)

    for name, value in outputs.items():
        add(name, value)
    return flat
