"""An interrupted `export-batch`: Ctrl-C or SIGTERM at any time ends the workers (processes of ``--jobs``, Ray
tasks of ``--ray``), nothing is published after the ``interrupted`` line, no staging folder or lock is left, and
the next run resumes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.slow

BATCH = [sys.executable, "-m", "modelexport", "export-batch"]
NAMES = ("bert", "gpt2", "classifier")


def _manifest(zoo: Path, root: Path) -> Path:
    blocks = [f'[[models]]\nmodel = "{zoo / name}"\noutput = "out/{name}"\n' for name in NAMES]
    path = root / "zoo.toml"
    path.write_text("\n".join(blocks))
    (root / "out").mkdir()
    return path


def _staging_started(out: Path) -> bool:
    return any("modelexport-partial" in p.name for p in out.iterdir())


def _a_second_passed() -> bool:
    time.sleep(1.0)
    return True


def _published(out: Path) -> bool:
    return any((out / name / "model.onnx").exists() for name in NAMES)


def _listing(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*"))


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _alive(processes: list[psutil.Process]) -> list[str]:
    alive = []
    for process in processes:
        try:
            if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{process.pid} {' '.join(process.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return alive


def _interrupt(
    manifest: Path, options: list[str], when: Callable[[Path], bool], signum: int, timeout: float = 240
) -> None:
    out = manifest.parent / "out"
    process = subprocess.Popen(
        [*BATCH, str(manifest), *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    seen: dict[int, psutil.Process] = {}
    deadline = time.monotonic() + timeout
    while not when(out):
        assert process.poll() is None, f"the batch ended before the moment came: {process.communicate()}"
        assert time.monotonic() < deadline, "the moment never came"
        seen.update({child.pid: child for child in _descendants(process.pid)})
        time.sleep(0.05)
    seen.update({child.pid: child for child in _descendants(process.pid)})
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    ended = _listing(out)
    assert process.returncode == 128 + signum, err
    assert "interrupted" in err.splitlines()[-1] and "Traceback" not in err, err
    assert not _alive(list(seen.values())), f"still running after the command ended: {_alive(list(seen.values()))}"
    time.sleep(4)  # a worker left running would publish its model meanwhile
    assert _listing(out) == ended, "something was published after the command said interrupted"
    leftovers = [p.name for p in out.iterdir() if "modelexport-partial" in p.name or "modelexport-lock" in p.name]
    assert not leftovers, leftovers
    for name in NAMES:  # each model is there whole, or not at all
        folder = out / name
        assert not folder.exists() or {"model.onnx", "config.json"} <= {p.name for p in folder.iterdir()}


def _resumes(manifest: Path, options: list[str]) -> None:
    done = subprocess.run([*BATCH, str(manifest), *options], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    summary = json.loads(manifest.with_name(manifest.name + ".summary.json").read_text())
    assert {model["status"] for model in summary["models"]} <= {"exported", "skipped"}
    assert all((manifest.parent / "out" / name / "model.onnx").is_file() for name in NAMES)


@pytest.mark.parametrize(
    ("signum", "when"),
    [
        (signal.SIGINT, lambda out: _a_second_passed()),  # while the workers import torch
        (signal.SIGTERM, _staging_started),  # mid-export
        (signal.SIGTERM, _published),  # between two models
    ],
    ids=["sigint-importing", "sigterm-exporting", "sigterm-after-a-publish"],
)
def test_jobs(zoo: Path, tmp_path: Path, signum: int, when: Callable[[Path], bool]) -> None:
    manifest = _manifest(zoo, tmp_path)
    _interrupt(manifest, ["--jobs", "2"], when, signum)
    _resumes(manifest, ["--jobs", "2"])


def test_ray(zoo: Path, tmp_path: Path) -> None:
    """A local Ray instance started by the command: its tasks are cancelled and it is shut down with its workers."""
    pytest.importorskip("ray")
    manifest = _manifest(zoo, tmp_path)
    _interrupt(manifest, ["--ray"], _staging_started, signal.SIGTERM)
    _resumes(manifest, [])
