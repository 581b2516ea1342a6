"""Helpers shared by the benchmarks: timing cold processes and the reference venv."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_VENV = ROOT / ".bench" / "optimum-venv"
#: The reference of comparisons: optimum's ONNX exporter (PyTorch only), CPU torch.
REFERENCE_REQUIREMENTS = ["torch==2.13.0", "optimum-onnx==0.1.0", "onnxruntime"]


def reference_python(explicit: str | None) -> Path:
    """The interpreter of the optimum venv: the one given, or ``.bench/optimum-venv`` (made on demand)."""
    if explicit:
        return Path(explicit)
    python = REFERENCE_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating the reference venv {REFERENCE_VENV} ({', '.join(REFERENCE_REQUIREMENTS)})", flush=True)
        venv.create(REFERENCE_VENV, with_pip=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *REFERENCE_REQUIREMENTS], check=True)
    return python


def time_process(argv: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one process, start to exit, in seconds; fails loudly if the process fails."""
    start = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, **(env or {})})
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"benchmark command failed ({argv}):\n{result.stderr[-2000:]}")
    return elapsed


def median(values: list[float]) -> float:
    return statistics.median(values)


def print_table(rows: list[list[str]], header: list[str]) -> None:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    sys.stdout.flush()
