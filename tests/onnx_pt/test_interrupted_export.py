"""An export killed midway leaves no model.onnx and no partial file where the user looks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import transformers
from tiny_models import save_pt_model


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pt_model(transformers.AutoModelForMaskedLM, "bert", tmp_path_factory.mktemp("kill-bert"))


def start_and_kill(model_path: Path, output: Path, sig: int, at_step: str = "[4/7]") -> subprocess.CompletedProcess:
    process = subprocess.Popen(
        [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(model_path), str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith(at_step):
            os.kill(process.pid, sig)
            break
    stdout, stderr = process.communicate(timeout=120)
    assert any(line.startswith(at_step) for line in seen), "".join(seen) + stderr
    return subprocess.CompletedProcess(process.args, process.returncode, "".join(seen) + stdout, stderr)


def partial_dirs(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if "partial" in p.name]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_terminated_export_cleans_up(model_path: Path, tmp_path: Path, sig: int) -> None:
    output = tmp_path / "out"
    result = start_and_kill(model_path, output, sig)
    assert result.returncode != 0
    assert not output.exists()
    assert partial_dirs(tmp_path) == []
    assert "Traceback" not in result.stderr


def test_killed_export_leaves_nothing_visible_and_is_cleaned_next_time(model_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    result = start_and_kill(model_path, output, signal.SIGKILL)
    assert result.returncode == -signal.SIGKILL
    assert not output.exists()  # no model.onnx, no half-written folder under the name asked for
    assert all(name.startswith(".") for name in partial_dirs(tmp_path))
    rerun = subprocess.run(
        [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(model_path), str(output)],
        capture_output=True,
        text=True,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert (output / "model.onnx").is_file()
    assert partial_dirs(tmp_path) == []  # the dead process's staging folder was removed


def test_killed_overwrite_keeps_the_previous_export(model_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    first = subprocess.run(
        [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(model_path), str(output)],
        capture_output=True,
        text=True,
    )
    assert first.returncode == 0, first.stderr
    before = (output / "model.onnx").read_bytes()
    process = subprocess.Popen(
        [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(model_path), "--overwrite", str(output)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("[5/7]"):
            os.kill(process.pid, signal.SIGKILL)
            break
    process.communicate(timeout=120)
    assert (output / "model.onnx").read_bytes() == before
