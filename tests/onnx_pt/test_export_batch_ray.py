"""`modelexport export-batch --ray` on a local Ray cluster the test starts (2 CPUs): one model fails on purpose,
one Ray worker is killed mid-export; the batch finishes, the killed model is retried, nothing partial is published."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from modelexport_pipeline.batch.schedulers import RAY_NICENESS
from test_export_batch import _kill_when_staging, manifest, no_partial_files, statuses

from modelexport.cli import main

ray = pytest.importorskip("ray", reason="Ray is the optional extra modelexport[ray]; the pt session installs it")


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    """A local cluster of 2 CPUs whose workers run at normal priority (Ray's default, nice 15, starves them while
    the other test worker keeps the cores busy)."""
    previous = os.environ.get(RAY_NICENESS)
    os.environ[RAY_NICENESS] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()
    if previous is None:
        os.environ.pop(RAY_NICENESS)
    else:
        os.environ[RAY_NICENESS] = previous


def test_a_batch_on_ray_survives_a_failure_and_a_killed_worker(
    cluster: None,
    zoo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = manifest(zoo, tmp_path, "bert", "broken", "gpt2")
    killed: list[int] = []
    killer = threading.Thread(target=_kill_when_staging, args=(tmp_path / "out", "gpt2", killed), daemon=True)
    killer.start()
    assert main(["export-batch", str(path), "--ray"]) == 1  # the broken model failed
    killer.join(timeout=1)
    assert killed and killed[0] != os.getpid()  # a Ray worker process died under gpt2's export
    summary = json.loads(path.with_name(path.name + ".summary.json").read_text())
    assert summary["scheduler"] == "ray"
    assert statuses(summary) == {"bert": "exported", "broken": "failed", "gpt2": "exported"}  # gpt2: retried by Ray
    assert "model_type" in summary["models"][1]["error"]
    assert no_partial_files(tmp_path / "out")
    assert json.loads((tmp_path / "out" / "gpt2" / "config.json").read_text())["model_type"] == "gpt2"
    assert "2 exported, 0 skipped, 1 failed" in capsys.readouterr().out
