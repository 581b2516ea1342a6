"""`modelexport export-batch`: many models in one command, a failure reported while the others go on, a
second run resuming, N workers under a memory limit, and a worker killed mid-export retried."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import torch
import transformers
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.memory import expected_bytes, weight_bytes
from modelexport_pipeline.staging import RECORD_NAME

BATCH = [sys.executable, "-m", "modelexport", "export-batch"]


def manifest(zoo: Path, tmp_path: Path, *names: str, extra: str = "") -> Path:
    """A manifest exporting ``names`` of the zoo into ``tmp_path/out/<name>``."""
    blocks = [f'[[models]]\nmodel = "{zoo / name}"\noutput = "out/{name}"\n{extra}' for name in names]
    path = tmp_path / "zoo.toml"
    path.write_text("\n".join(blocks))
    return path


def run(path: Path, *options: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    done = subprocess.run([*BATCH, str(path), *options], capture_output=True, text=True, timeout=900)
    return done, json.loads(path.with_name(path.name + ".summary.json").read_text())


def statuses(summary: dict) -> dict[str, str]:
    return {model["name"]: model["status"] for model in summary["models"]}


def no_partial_files(parent: Path) -> bool:
    return not [p.name for p in parent.iterdir() if "modelexport-partial" in p.name or "modelexport-lock" in p.name]


def test_a_batch_exports_reports_a_failure_goes_on_and_a_second_run_resumes(zoo: Path, tmp_path: Path) -> None:
    path = manifest(zoo, tmp_path, "bert", "broken", "gpt2")
    first, summary = run(path)
    assert first.returncode == 1, first.stderr  # one model failed
    assert statuses(summary) == {"bert": "exported", "broken": "failed", "gpt2": "exported"}
    broken = summary["models"][1]
    assert "model_type" in broken["error"] and "Traceback" not in first.stderr
    for model in summary["models"]:
        assert model["seconds"] > 0 and model["peak_memory"] > 100 * 2**20
    assert 0 < summary["models"][0]["max_error"] < 1e-3
    # The table, the counts, and the bar with the model count and the current model (a log: one line per change).
    assert "MODEL" in first.stdout and "2 exported, 0 skipped, 1 failed" in first.stdout
    assert "/3  now: bert" in first.stderr and "broken: failed" in first.stderr
    out = tmp_path / "out"
    assert not (out / "broken").exists() and no_partial_files(out)

    # Each export is a real one: the ONNX file gives the model's numbers.
    ids = np.array([[5, 6, 7, 8]], dtype=np.int64)
    session = onnx_session(out / "bert" / "model.onnx")
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    onnx_hidden = session.run(["last_hidden_state"], feed)[0]
    model = transformers.AutoModel.from_pretrained(zoo / "bert").eval()
    with torch.no_grad():
        expected = model(input_ids=torch.from_numpy(ids)).last_hidden_state.numpy()
    np.testing.assert_allclose(onnx_hidden, expected, atol=1e-4)
    record = json.loads((out / "bert" / RECORD_NAME).read_text())
    assert record["revision"].startswith("files:") and "model.onnx" in record["files"]

    # Second run: the exported models are skipped, the broken one is tried again.
    second, summary = run(path)
    assert second.returncode == 1
    assert statuses(summary) == {"bert": "skipped", "broken": "failed", "gpt2": "skipped"}

    # Other options, or a changed source, and the model is exported again.
    path.write_text(path.read_text().replace('output = "out/gpt2"\n', 'output = "out/gpt2"\nopset = 18\n'))
    (zoo / "bert" / "config.json").touch()
    os.utime(zoo / "bert" / "config.json", (time.time() + 5, time.time() + 5))
    _, summary = run(path)
    assert statuses(summary) == {"bert": "exported", "broken": "failed", "gpt2": "exported"}
    assert json.loads((out / "gpt2" / RECORD_NAME).read_text())["options"] == {"opset": 18}


def test_a_folder_not_made_by_the_batch_is_not_replaced_without_overwrite(zoo: Path, tmp_path: Path) -> None:
    (tmp_path / "out" / "bert").mkdir(parents=True)
    (tmp_path / "out" / "bert" / "notes.txt").write_text("mine")
    done, summary = run(manifest(zoo, tmp_path, "bert"))
    assert done.returncode == 1 and "exists and is not empty" in summary["models"][0]["error"]
    assert [p.name for p in (tmp_path / "out" / "bert").iterdir()] == ["notes.txt"]


def _kill_when_staging(parent: Path, name: str, killed: list[int]) -> None:
    """Kill (SIGKILL) the process that starts staging ``name`` in ``parent``, once: its pid is in the folder's name."""
    prefix = f".{name}.modelexport-partial-"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not killed:
        for entry in parent.iterdir() if parent.is_dir() else []:
            if entry.name.startswith(prefix):
                pid = int(entry.name[len(prefix) :].split("-")[0])
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
        time.sleep(0.02)


def test_jobs_run_models_in_workers_and_a_killed_worker_s_model_is_retried(zoo: Path, tmp_path: Path) -> None:
    path = manifest(zoo, tmp_path, "bert", "gpt2", "classifier", "broken")
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_staging, args=(tmp_path / "out", "gpt2", killed), daemon=True)
    killer.start()
    done, summary = run(path, "--jobs", "2")
    killer.join(timeout=1)
    assert killed and killed[0] != os.getpid()
    assert done.returncode == 1, done.stderr
    assert statuses(summary) == {"bert": "exported", "gpt2": "exported", "classifier": "exported", "broken": "failed"}
    assert summary["models"][1]["attempts"] >= 2 and summary["scheduler"] == "2 workers"
    assert any(", " in line.split("now: ")[-1] for line in done.stderr.splitlines() if "now: " in line)  # 2 at once
    assert no_partial_files(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "gpt2" / "config.json").read_text())["model_type"] == "gpt2"


def test_max_memory_keeps_workers_under_the_limit(zoo: Path, tmp_path: Path) -> None:
    path = manifest(zoo, tmp_path, "bert", "classifier")
    one_at_a_time = expected_bytes(weight_bytes(zoo / "bert")) * 3 // 2  # room for one model, not two
    done, summary = run(path, "--jobs", "2", "--max-memory", str(one_at_a_time))
    assert done.returncode == 0, done.stderr
    assert statuses(summary) == {"bert": "exported", "classifier": "exported"}
    running = [line.split("now: ")[-1] for line in done.stderr.splitlines() if "now: " in line]
    assert running and not any(", " in names for names in running)  # never two at once
