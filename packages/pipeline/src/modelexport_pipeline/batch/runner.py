"""One batch entry exported in whatever process runs it: the batch's own, a ``--jobs`` worker or a Ray task.

:func:`export_entry` never raises for a model's fault: a failed export is a result (its message kept), so the
batch goes on. Each entry is staged, validated and published exactly as a single ``export onnx`` is, holding the
output folder's lock.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import asdict, dataclass, field
from typing import Any

from modelexport_core.errors import ModelExportError
from modelexport_core.model_source import ModelReference

from ..memory import expected_bytes, peak_bytes, reset_peak, weight_bytes
from ..run import run_export
from .manifest import BatchEntry
from .record import is_current, previous_record, wanted_record

EXPORTED, SKIPPED, FAILED = "exported", "skipped", "failed"


@dataclass
class EntryResult:
    """How one model of the batch went: what the summary's row and JSON say."""

    name: str
    output: str
    status: str
    seconds: float = 0.0
    #: The exporting process's peak resident memory while it exported this model (bytes).
    peak_memory: int | None = None
    #: The largest absolute difference between the ONNX outputs and the framework's.
    max_error: float | None = None
    error: str | None = None
    attempts: int = 1
    #: The export's progress lines (what ``export onnx`` prints), for reading a failure after the fact.
    log: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def expected_memory(entry: BatchEntry) -> int:
    """What exporting ``entry`` is expected to need: from its weight files, where they are at hand."""
    try:
        directory = ModelReference.resolve(
            entry.model, entry.subfolder, entry.revision, entry.cache_dir
        ).local_directory()
    except ModelExportError:
        directory = None
    return expected_bytes(weight_bytes(directory))


def export_entry(entry: BatchEntry) -> EntryResult:
    """Export one entry (or skip it: the output already holds this very export); failures come back as results."""
    started = time.perf_counter()
    result = EntryResult(entry.name, str(entry.output), FAILED)
    reset_peak()
    try:
        reference = ModelReference.resolve(entry.model, entry.subfolder, entry.revision, entry.cache_dir)
        wanted = wanted_record(entry, reference)
        previous = previous_record(entry.output)
        if is_current(previous, wanted, entry.output):
            result.status = SKIPPED
            result.log.append(f"skipped: {entry.output} holds this export ({wanted['revision']})")
        else:  # an earlier batch export of another revision or other options: ours to replace
            request = entry.request(overwrite=True if previous is not None else None, record=wanted)
            exported = run_export(reference, request, result.log.append)
            result.status = EXPORTED
            result.max_error = exported.validation.max_abs_diff
    except ModelExportError as error:
        result.error = str(error)
    except Exception as error:  # a bug of ours or of a library: reported with where it happened, the batch goes on
        where = traceback.extract_tb(error.__traceback__)[-1]
        result.error = f"{type(error).__name__}: {error} (at {where.filename}:{where.lineno})"
    result.seconds = time.perf_counter() - started
    result.peak_memory = peak_bytes()
    return result
