"""The option checks every backend shares, before the model is loaded and before any framework is imported.

A wrong option must fail in a fraction of a second with one line saying what to do: importing torch and
transformers alone takes seconds, loading a real model more. Everything here reads the plain ``config.json`` or
the file system. A backend adds its own checks (:meth:`~modelexport_pipeline.backend.Backend.check_request`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import OutputNotWritableError, UnsupportedExportOptionError


def check_shared_options(
    *,
    atol: float | None,
    report: str | os.PathLike[str] | None,
    batch_size: int | None = None,
    sequence_length: int | None = None,
) -> None:
    """The options that need no model and mean the same to every backend: the tolerance, the report path and
    the dummy input's sizes."""
    check_dummy_size("--batch-size", batch_size, MAX_BATCH_SIZE)
    check_dummy_size("--sequence-length", sequence_length, MAX_SEQUENCE_LENGTH)
    if atol is not None and not (math.isfinite(atol) and atol >= 0):
        raise UnsupportedExportOptionError(
            f"--atol {atol} is not a tolerance: give a finite number >= 0 (such as 1e-4), or leave it out to "
            "use a bound derived from the model."
        )
    if report is not None:
        check_report_path(report)


#: The largest dummy batch traced: every row is a copy of the model's activations in memory at once.
MAX_BATCH_SIZE = 1024
#: The largest dummy sequence traced (a model's own position limit, where its config says, is checked with the model).
MAX_SEQUENCE_LENGTH = 32768

#: Model types whose position ids start after the padding id (RoBERTa's scheme): ``pad_token_id + 1`` positions of
#: ``max_position_embeddings`` are never a token's.
PADDING_OFFSET_POSITIONS = frozenset(
    {"roberta", "xlm-roberta", "camembert", "longformer", "xlm-roberta-xl", "data2vec-text", "roberta-prelayernorm"}
)


def check_dummy_size(option: str, value: int | None, largest: int) -> None:
    """A dummy input size: a whole number from 1 to ``largest`` (a typo of 20 digits fails here, not in torch)."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= largest:
        raise UnsupportedExportOptionError(
            f"{option} {value} is out of range: give a whole number from 1 to {largest} (or leave it out)."
        )


def position_limit(model_config: Mapping[str, Any]) -> int | None:
    """How many token positions the model embeds, from its ``config.json`` (``None``: no fixed table)."""
    text = model_config.get("text_config")
    config = text if isinstance(text, Mapping) and "max_position_embeddings" in text else model_config
    for key in ("max_position_embeddings", "n_positions"):
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            if str(config.get("model_type", model_config.get("model_type", ""))) in PADDING_OFFSET_POSITIONS:
                pad = config.get("pad_token_id")
                value -= (pad if isinstance(pad, int) else 1) + 1
            return value
    return None


def check_sequence_length(sequence_length: int | None, model_config: Mapping[str, Any], with_past: bool) -> None:
    """Refuse a dummy sequence (with a cache: plus the cached positions) longer than the model's position table."""
    limit = position_limit(model_config)
    if sequence_length is None or limit is None:
        return
    from .dummy_inputs import EXPORT_SHAPES

    past = EXPORT_SHAPES.past_sequence_length + 1 if with_past else 0  # validation's cache is one longer
    if sequence_length + past > limit:
        most = limit - past
        cached = f" with {past} cached positions" if past else ""
        raise UnsupportedExportOptionError(
            f"--sequence-length {sequence_length} is longer than this model embeds: its config has {limit} "
            f"positions{cached}. Give --sequence-length {most} or less (or leave it out)."
        )


def check_fixed_axes(dynamic_axes: bool, task: str, sentence_pipeline: bool = False) -> None:
    """``--no-dynamic-axes`` freezes every dimension, so it cannot meet what needs a dimension to vary: a cache that
    grows a token a step, or a sentence-transformers pipeline checked against ``encode`` on sentences of their own
    lengths."""
    if dynamic_axes:
        return
    if task.endswith("-with-past"):
        raise UnsupportedExportOptionError(
            f"--no-dynamic-axes cannot export {task}: its cache grows by a token each step, so its length cannot be "
            f"frozen. Export {task.removesuffix('-with-past')} with fixed axes, or keep dynamic axes."
        )
    if sentence_pipeline:
        raise UnsupportedExportOptionError(
            "--no-dynamic-axes cannot export a sentence-transformers pipeline, which is checked against encode on "
            "sentences of their own lengths: keep dynamic axes, or add --library transformers for the model alone."
        )


def check_report_path(report: str | os.PathLike[str]) -> None:
    """Refuse a ``--report`` path that cannot be written: a directory, a missing or read-only folder.

    The report is written after validation, minutes into a large export: a bad path must fail first.
    """
    path = Path(report).expanduser().absolute()
    if path.is_dir():
        raise OutputNotWritableError(
            f"--report {report} is a directory; give a file path, such as {path / 'report.json'}."
        )
    if not path.parent.is_dir():
        raise OutputNotWritableError(
            f"--report {report}: the folder {path.parent} does not exist; create it first or choose another path."
        )
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputNotWritableError(f"--report {report} cannot be written (permission denied); choose another path.")
