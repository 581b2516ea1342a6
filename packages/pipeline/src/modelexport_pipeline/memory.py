"""Memory: a model's expected need (for scheduling) and the peak an export actually reached (for the summary)."""

from __future__ import annotations

import contextlib
import resource
import sys
from pathlib import Path

#: Files holding weights, whose sizes are a model's weight bytes.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".h5", ".msgpack", ".gguf", ".ckpt")
#: What an export process holds before any model: torch, transformers, onnx and onnxruntime imported (~430 MB
#: measured for issue 14) with room for the tokenizer and validation inputs.
BASE_BYTES = 600 * 2**20
#: Peak over weight bytes beyond the base, as measured on real checkpoints (SmolLM2-135M: 2.9 GB for 538 MB of
#: float32 weights; all-MiniLM-L6-v2: 827 MB for 91 MB): the model, its traced graph and the serialized protobuf.
PEAK_PER_WEIGHT_BYTE = 5.0


def weight_bytes(directory: Path | None) -> int:
    """Bytes of the weight files in a model folder (0 when the folder is not at hand: a Hub id not cached)."""
    if directory is None or not directory.is_dir():
        return 0
    return sum(p.stat().st_size for p in directory.rglob("*") if p.suffix in WEIGHT_SUFFIXES and p.is_file())


def expected_bytes(weights: int) -> int:
    """The memory an export of a model with ``weights`` bytes of weights is expected to peak at."""
    return BASE_BYTES + int(PEAK_PER_WEIGHT_BYTE * weights)


def reset_peak() -> None:
    """Start a new peak: Linux resets a process's high-water mark (VmHWM) when ``5`` is written to clear_refs."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_bytes() -> int:
    """The process's peak resident memory since :func:`reset_peak` (elsewhere: since it started)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def parse_size(text: str) -> int:
    """``8G``, ``512M``, ``1.5GiB`` or plain bytes."""
    units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    cleaned = text.strip().upper().removesuffix("IB").removesuffix("B")
    number, unit = (cleaned[:-1], cleaned[-1]) if cleaned and cleaned[-1] in units else (cleaned, "")
    try:
        value = float(number) * units[unit]
    except ValueError:
        raise ValueError(f"not a size: {text!r} (say 8G, 512M or a number of bytes)") from None
    if value <= 0:
        raise ValueError(f"a memory limit must be positive, not {text!r}")
    return int(value)
