"""The programs people load our exports with, each installed where its own pins hold, made once and cached.

- optimum (``ORTModel*``) and sentence-transformers' ONNX backend: optimum-onnx 0.1.0 pins transformers < 4.58,
  ours is 5.x, so they run in a venv of their own (``constraints/optimum_client.txt``), driven by
  ``optimum_job.py`` through JSON on stdin and stdout.
- transformers.js: the npm package ``@huggingface/transformers``, run by node (``transformers_js_run.mjs``),
  installed with ``--ignore-scripts`` (onnxruntime-node's install script downloads from a host that cannot be
  reached; its CPU binaries ship inside the package).

Both live under ``MODELEXPORT_CLIENT_CACHE`` (default ``~/.cache/modelexport/clients``), keyed by what was
installed, and are made under a lock: the xdist workers share them, and a later run reuses them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
REPOSITORY = HERE.parent.parent
OPTIMUM_CONSTRAINTS = REPOSITORY / "constraints" / "optimum_client.txt"
OPTIMUM_PACKAGES = ("optimum-onnx", "transformers", "torch", "onnxruntime", "sentence-transformers")
TRANSFORMERS_JS = "@huggingface/transformers@4.3.2"


def cache_root() -> Path:
    return Path(os.environ.get("MODELEXPORT_CLIENT_CACHE") or Path.home() / ".cache" / "modelexport" / "clients")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def optimum_python() -> Path:
    """The python of the optimum client venv, made on first use (a minute or two: torch is a local wheel)."""
    constraints = OPTIMUM_CONSTRAINTS.read_text()
    folder = cache_root() / f"optimum-{sys.version_info.major}.{sys.version_info.minor}-{_digest(constraints)}"
    python = folder / "bin" / "python"
    with _locked(folder.with_suffix(".lock")):
        if not (folder / "ready").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "-c", str(OPTIMUM_CONSTRAINTS), *OPTIMUM_PACKAGES],
                check=True,
            )
            (folder / "ready").write_text("")
    return python


def transformers_js_dir() -> Path:
    """A folder with transformers.js installed in its node_modules and our runner beside it."""
    folder = cache_root() / f"transformers-js-{_digest(TRANSFORMERS_JS)}"
    with _locked(folder.with_suffix(".lock")):
        if not (folder / "ready").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            (folder / "package.json").write_text('{"name": "modelexport-client-tests", "private": true}\n')
            subprocess.run(
                ["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund", TRANSFORMERS_JS],
                cwd=folder,
                check=True,
                capture_output=True,
            )
            (folder / "ready").write_text("")
        shutil.copyfile(HERE / "transformers_js_run.mjs", folder / "run.mjs")  # ESM resolves packages beside it
    return folder


def _run(command: list[str], job: dict[str, Any], cwd: Path | None = None) -> dict[str, Any]:
    done = subprocess.run(
        command, input=json.dumps(job), capture_output=True, text=True, cwd=cwd, timeout=900, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"{command[0]} failed ({done.returncode}) on {job.get('kind')}:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_optimum(job: dict[str, Any]) -> dict[str, Any]:
    """One job (see ``optimum_job.py``) in the optimum client venv."""
    return _run([str(optimum_python()), str(HERE / "optimum_job.py")], job)


def run_transformers_js(job: dict[str, Any]) -> dict[str, Any]:
    """One job (see ``transformers_js_run.mjs``) in node with transformers.js."""
    folder = transformers_js_dir()
    return _run(["node", str(folder / "run.mjs")], job, cwd=folder)
