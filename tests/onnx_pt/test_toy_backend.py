"""A second backend through the whole pipeline: the toy plugin's ``toyformat`` (tests/plugins/modelexport-toy)
exports tiny PyTorch models with staging, the lock, the report, the record, failures and export-batch, importing
nothing from the ONNX backend."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from onnx_pt.tiny import TinyPtModels

TOY_PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "modelexport-toy"


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("hatchling", reason="building the toy plugin needs hatchling")
    target = tmp_path_factory.mktemp("toy-site")
    source = tmp_path_factory.mktemp("toy-src") / "modelexport-toy"
    shutil.copytree(TOY_PLUGIN, source)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*pip, "--target", str(target), str(source)], check=True, capture_output=True, text=True)
    return target


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tiny = TinyPtModels(tmp_path_factory.mktemp("tiny-toy"))
    return {"bert": tiny.directory("bert", "default"), "gpt2": tiny.directory("gpt2", "causal-lm")}


def _environment(site: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), *sys.path])}


def run(site: Path, code: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", textwrap.dedent(code), *args]
    return subprocess.run(command, capture_output=True, text=True, env=_environment(site))


EXPORT = """
    import json, sys
    from pathlib import Path
    from modelexport_core.model_source import ModelReference
    from modelexport_pipeline.request import ExportRequest
    from modelexport_pipeline.run import run_export
    model, out, task, options = sys.argv[1], Path(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
    request = ExportRequest(output_dir=out, backend="toyformat", task=task, report=out.with_suffix(".json"),
                            options=options)
    try:
        result = run_export(ModelReference.resolve(model), request, say=None)
    except Exception as error:
        print(json.dumps({"error": type(error).__name__, "message": str(error)}))
    else:
        print(json.dumps({"files": result.files, "backend": result.backend, "passed": result.validation.passed,
                          "onnx_imported": sorted(m for m in sys.modules if m.startswith("modelexport_onnx"))}))
"""


def export(site: Path, model: Path, out: Path, task: str, **options: object) -> dict[str, object]:
    done = run(site, EXPORT, str(model), str(out), task, json.dumps(options))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_a_second_backend_exports_through_the_pipeline(toy_site: Path, models: dict[str, Path], tmp_path: Path) -> None:
    for model_type, task in (("bert", "default"), ("gpt2", "causal-lm")):
        out = tmp_path / model_type
        seen = export(toy_site, models[model_type], out, task)
        assert seen["backend"] == "toyformat" and seen["passed"], seen
        assert seen["onnx_imported"] == []  # nothing of the ONNX backend was imported
        assert "model.pt" in seen["files"] and (out / "model.pt").is_file() and (out / "config.json").is_file()
        record = json.loads((out / "modelexport_export.json").read_text())
        assert record["backend"] == "toyformat" and record["files"] == seen["files"]
        assert json.loads(out.with_suffix(".json").read_text())["outputs"]  # the report
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left

    again = export(toy_site, models["bert"], tmp_path / "bert", "default")
    assert again["error"] == "OutputExistsError"  # the pipeline's own check, before loading


def test_a_broken_conversion_publishes_nothing(toy_site: Path, models: dict[str, Path], tmp_path: Path) -> None:
    seen = export(toy_site, models["bert"], tmp_path / "out", "default", break_weights=True)
    assert seen["error"] == "ValidationError", seen
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [tmp_path / "out.json"]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_export_leaves_nothing(
    toy_site: Path, models: dict[str, Path], tmp_path: Path, signum: int
) -> None:
    """Interrupted while its file sits in the staging folder: the pipeline removes the folder and the lock."""
    options = json.dumps({"pause_after_write": 120})
    command = [sys.executable, "-c", textwrap.dedent(EXPORT), str(models["bert"]), str(tmp_path / "out"), "default"]
    process = subprocess.Popen([*command, options], env=_environment(toy_site), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.rglob("model.pt")):  # the backend wrote its file, in staging
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    assert not (tmp_path / "out").exists()
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and ("KeyboardInterrupt" in stderr or "terminated by signal" in stderr), stderr
    assert list(tmp_path.iterdir()) == []  # no output, no staging folder, no lock


def test_a_backends_own_options_are_checked_before_loading(
    toy_site: Path, models: dict[str, Path], tmp_path: Path
) -> None:
    seen = export(toy_site, models["bert"], tmp_path / "out", "default", opset=17)
    assert seen["error"] == "UnsupportedExportOptionError" and "toyformat has no option opset" in str(seen["message"])
    seen = export(toy_site, models["bert"], tmp_path / "out", "causal-lm")
    assert seen["error"] == "UnsupportedTaskError", seen  # bert has no causal-lm row in the toy table


def test_export_batch_runs_the_toy_backend_and_resumes(toy_site: Path, models: dict[str, Path], tmp_path: Path) -> None:
    manifest = tmp_path / "batch.toml"
    manifest.write_text(
        textwrap.dedent(f"""
        [defaults]
        backend = "toyformat"

        [[models]]
        model = "{models["bert"]}"
        output = "bert"
        task = "default"

        [[models]]
        model = "{models["gpt2"]}"
        output = "gpt2"
        task = "causal-lm"
        """)
    )
    cli = "import sys; from modelexport.cli import main; sys.exit(main(sys.argv[1:]))"
    first = run(toy_site, cli, "export-batch", str(manifest), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["exported"] == 2
    assert (tmp_path / "bert" / "model.pt").is_file() and (tmp_path / "gpt2" / "model.pt").is_file()
    second = run(toy_site, cli, "export-batch", str(manifest), "--json")
    assert second.returncode == 0 and json.loads(second.stdout)["skipped"] == 2, second.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text(manifest.read_text().replace('task = "default"', 'task = "default"\nopset = 17'))
    refused = run(toy_site, cli, "export-batch", str(bad))
    assert refused.returncode == 2 and "unknown option 'opset'" in refused.stderr
