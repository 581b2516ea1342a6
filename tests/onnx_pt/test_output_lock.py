"""Two exports into one output directory at once: never two success messages for one folder's files.

Before the lock, a tiny BERT and a tiny GPT-2 exported at once into the same new folder both exited 0
and both said "Exported ... to out", while the folder held GPT-2 alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import transformers
from modelexport_pipeline.output_lock import lock_path
from tiny_models import save_pt_model

EXPORT = [sys.executable, "-m", "modelexport", "export", "onnx"]

#: A process holding the lock of argv[1] until its stdin closes: the other export's "writer".
HOLDER = """
import sys
from pathlib import Path
from modelexport_pipeline.output_lock import output_locked
with output_locked(Path(sys.argv[1])):
    print("holding", flush=True)
    sys.stdin.read()
    (Path(sys.argv[1])).mkdir()
    (Path(sys.argv[1]) / "model.onnx").write_text("the holder's")
"""


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pt_model(transformers.AutoModel, "bert", tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def gpt2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pt_model(transformers.AutoModelForCausalLM, "gpt2", tmp_path_factory.mktemp("gpt2"))


def hold(output: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(output)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


def test_an_export_into_a_folder_being_written_fails_at_once_naming_the_writer(bert: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    holder = hold(output)
    try:
        started = time.monotonic()
        refused = subprocess.run([*EXPORT, "-m", str(bert), str(output)], capture_output=True, text=True)
        assert time.monotonic() - started < 30  # before the model is loaded, not after the export
    finally:
        holder.communicate("")
    assert refused.returncode == 2, refused.stderr
    assert f"is being written by process {holder.pid}" in refused.stderr
    assert "--wait" in refused.stderr and "Traceback" not in refused.stderr
    assert "[2/7]" not in refused.stdout  # nothing was loaded
    assert (output / "model.onnx").read_text() == "the holder's"  # untouched
    assert not lock_path(output).exists()  # the holder removed its lock file


def test_wait_queues_behind_the_writer_then_sees_its_files(bert: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    holder = hold(output)
    waiting = subprocess.Popen(
        [*EXPORT, "-m", str(bert), str(output), "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    time.sleep(3)
    assert waiting.poll() is None  # queued, not refused
    holder.communicate("")
    stdout, stderr = waiting.communicate(timeout=300)
    assert f"waiting for process {holder.pid}" in stdout
    # Its turn came after the holder published: the folder is no longer empty, and it says so.
    assert waiting.returncode == 2 and "exists and is not empty" in stderr


def test_two_exports_at_once_one_wins_and_the_other_says_it_lost(bert: Path, gpt2: Path, tmp_path: Path) -> None:
    output = tmp_path / "out"
    runs = [
        subprocess.Popen(
            [*EXPORT, "-m", str(model), str(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for model in (bert, gpt2)
    ]
    results = [(run.wait(timeout=600), *run.communicate()) for run in runs]
    succeeded = [i for i, (code, _, _) in enumerate(results) if code == 0]
    assert len(succeeded) == 1, results
    winner = ("bert", "gpt2")[succeeded[0]]
    code, _, stderr = results[1 - succeeded[0]]
    assert code == 2 and ("is being written by process" in stderr or "exists and is not empty" in stderr)
    assert f"Exported {winner}" in results[succeeded[0]][1]
    assert json.loads((output / "config.json").read_text())["model_type"] == winner
