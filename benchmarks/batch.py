"""Issue 15's target: ``modelexport export-batch`` against a shell loop of ``optimum-cli``, same models, one run.

    python benchmarks/batch.py [--optimum-python PATH] [--json OUT.json] [--only-tiny]

Run it with an interpreter that has ``modelexport[pt,onnx]`` and the real checkpoints' packages (see the ``pt``
session of ``noxfile.py``); optimum-onnx 0.1.0 runs from its own venv (made under ``.bench/`` unless given).

The list: 20 tiny random models of 20 model types over the tasks both exporters have (text encoders and their
heads, decoders and encoder-decoders with their cache, image classifiers, speech to text), built with
``tests/tiny_models.py`` and saved with ``save_pretrained``; then three real checkpoints (all-MiniLM-L6-v2,
SmolLM2-135M-Instruct, whisper-base) obtained as ``targets.py`` obtains them. Each model's task is given
explicitly, by its pipeline name, which both tools accept. Everything runs offline.

Measured, wall time of the whole list and each model's outcome:

(a) ``modelexport export-batch MANIFEST``: one process exporting the models in turn (``--jobs 1``);
(b) ``modelexport export-batch MANIFEST --jobs 2``: two worker processes;
(c) a loop of ``optimum-cli export onnx --model M --task T OUT``, one process per model, as a user's shell
    script runs it.

Both tools validate their exports against PyTorch by default; both keep those checks. Before timing, both venvs
import their libraries once and every model file is read once, so that no run pays the disk cache for the
others. Target: (a) and (b) at most 0.25x the loop's wall time. A model failing in one tool stays in the list:
the measure is the list's wall time; the failures are printed with their error lines.

Prints one table, the per-model times (ours from the batch's summary JSON), and a profile of where the
sequential batch's time goes. Not a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _common import ROOT, print_table, reference_python

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
#: Issue 15: a batch of N models at most this fraction of the loop's wall time.
TARGET = 0.25
#: A model's export that takes longer than this (seconds) in the loop is stopped and counted failed.
TIMEOUT = 1800

#: Tiny models: (name, tiny config of tests/tiny_models.py, transformers auto class, task by pipeline name).
#: Model types and tasks that optimum-onnx 0.1.0 exports too; several heads per family, so the list is what a
#: team's model zoo holds rather than twenty copies of one graph.
TINY_MODELS = (
    ("bert-text-classification", "bert", "AutoModelForSequenceClassification", "text-classification"),
    ("roberta-fill-mask", "roberta", "AutoModelForMaskedLM", "fill-mask"),
    ("distilbert-question-answering", "distilbert", "AutoModelForQuestionAnswering", "question-answering"),
    ("albert-token-classification", "albert", "AutoModelForTokenClassification", "token-classification"),
    ("electra-feature-extraction", "electra", "AutoModel", "feature-extraction"),
    ("mobilebert-multiple-choice", "mobilebert", "AutoModelForMultipleChoice", "multiple-choice"),
    ("gpt2-text-generation-with-past", "gpt2", "AutoModelForCausalLM", "text-generation-with-past"),
    ("gpt-neo-text-generation-with-past", "gpt-neo", "AutoModelForCausalLM", "text-generation-with-past"),
    ("llama-text-generation-with-past", "llama", "AutoModelForCausalLM", "text-generation-with-past"),
    ("mistral-text-generation-with-past", "mistral", "AutoModelForCausalLM", "text-generation-with-past"),
    ("qwen2-text-generation-with-past", "qwen2", "AutoModelForCausalLM", "text-generation-with-past"),
    ("opt-text-generation", "opt", "AutoModelForCausalLM", "text-generation"),
    ("bloom-text-generation-with-past", "bloom", "AutoModelForCausalLM", "text-generation-with-past"),
    ("t5-text2text-generation-with-past", "t5", "AutoModelForSeq2SeqLM", "text2text-generation-with-past"),
    ("bart-text2text-generation-with-past", "bart", "AutoModelForSeq2SeqLM", "text2text-generation-with-past"),
    ("mbart-text2text-generation", "mbart", "AutoModelForSeq2SeqLM", "text2text-generation"),
    ("vit-image-classification", "vit", "AutoModelForImageClassification", "image-classification"),
    ("deit-image-classification", "deit", "AutoModelForImageClassification", "image-classification"),
    ("convnext-image-classification", "convnext", "AutoModelForImageClassification", "image-classification"),
    (
        "whisper-automatic-speech-recognition-with-past",
        "whisper-3000-frames",
        "AutoModelForSpeechSeq2Seq",
        "automatic-speech-recognition-with-past",
    ),
)

#: Tiny configs of this benchmark only, added to tests/tiny_models.py's table in this process: the tiny whisper
#: there reads 60 frames (30 positions), but optimum-cli feeds every whisper the feature extractor's default 3000
#: frames and fails on it; with 1500 positions (as every real whisper) both tools export the same model.
EXTRA_TINY_CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "whisper-3000-frames": ("whisper", {"max_source_positions": 1500})
}

#: Real checkpoints: (name in tests/real_models.py, task by pipeline name), as in targets.py's EXPORTS.
REAL_MODELS = (
    ("all-MiniLM-L6-v2", "feature-extraction"),
    ("SmolLM2-135M-Instruct", "text-generation-with-past"),
    ("whisper-base", "automatic-speech-recognition-with-past"),
)

#: What each venv imports to export (timed warm, for the profile; run once before timing, to warm the cache).
OUR_IMPORTS = "import torch, transformers, onnx, onnxruntime, modelexport_onnx.main_export"
OPTIMUM_IMPORTS = "import torch, transformers, onnx, onnxruntime, optimum.exporters.onnx.__main__"


@dataclass(frozen=True)
class Model:
    """One model of the list: its folder and the task both tools are given."""

    name: str
    folder: Path
    task: str


@dataclass
class Outcome:
    """One model's result in one run: how long it took, and the first line of its error when it failed."""

    ok: bool
    seconds: float
    error: str = ""
    #: A success with a caveat (optimum-cli exits 0 when its validation finds outputs outside its tolerance).
    warning: str = ""


@dataclass
class Run:
    """One way of exporting the whole list: its wall time and every model's outcome."""

    label: str
    wall: float
    outcomes: dict[str, Outcome]
    #: The batch's own summary JSON (ours only): scheduler time and per-model details.
    summary: dict[str, Any] | None = None

    @property
    def succeeded(self) -> int:
        return sum(o.ok for o in self.outcomes.values())

    @property
    def failed(self) -> int:
        return len(self.outcomes) - self.succeeded

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "wall_seconds": self.wall,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "models": {name: vars(o) for name, o in self.outcomes.items()},
            "summary_seconds": None if self.summary is None else self.summary["seconds"],
            # ours: every model's row of the batch's summary (peak memory, validation error, the export's log lines)
            "summary_models": None if self.summary is None else self.summary["models"],
        }


def env() -> dict[str, str]:
    return {**os.environ, **OFFLINE}


def tiny_models(root: Path, limit: int | None) -> list[Model]:
    """The tiny random models, each saved into its own folder under ``root``."""
    sys.path.insert(0, str(ROOT / "tests"))
    import transformers
    from tiny_models import TINY_CONFIGS, save_pt_model

    transformers.utils.logging.disable_progress_bar()  # a bar per saved shard would bury the benchmark's lines
    for extra, (base, changes) in EXTRA_TINY_CONFIGS.items():
        model_type, kwargs = TINY_CONFIGS[base]
        TINY_CONFIGS[extra] = (model_type, {**kwargs, **changes})
    models = []
    for name, config, auto_class, task in TINY_MODELS[:limit]:
        folder = save_pt_model(getattr(transformers, auto_class), config, root / name)
        models.append(Model(name, folder, task))
    return models


def real_models(root: Path) -> list[Model]:
    """The real checkpoints as transformers folders, converted under ``root`` as targets.py does."""
    sys.path.insert(0, str(ROOT / "tests"))
    from real_models import REAL_CHECKPOINTS, checkpoint_dir

    return [Model(name, checkpoint_dir(REAL_CHECKPOINTS[name], root), task) for name, task in REAL_MODELS]


def warm_up(reference: Path, models: list[Model]) -> dict[str, float]:
    """Read every model file and import each venv's libraries once, so that the first timed run pays no cold
    disk cache the others don't; returns the warm import time of each venv (seconds), for the profile."""
    for model in models:
        for path in model.folder.rglob("*"):
            if path.is_file():
                path.read_bytes()
    imports = {}
    for label, python, code in (("ours", Path(sys.executable), OUR_IMPORTS), ("optimum", reference, OPTIMUM_IMPORTS)):
        subprocess.run([str(python), "-c", code], check=True, capture_output=True, env=env())
        start = time.perf_counter()
        subprocess.run([str(python), "-c", code], check=True, capture_output=True, env=env())
        imports[label] = time.perf_counter() - start
    return imports


def write_manifest(path: Path, models: list[Model], outputs: Path) -> Path:
    """The batch's manifest: one ``[[models]]`` table per model, absolute folders, the task by pipeline name
    (strings quoted as JSON, which TOML's basic strings read alike)."""
    blocks = [
        f"[[models]]\nname = {json.dumps(m.name)}\nmodel = {json.dumps(str(m.folder))}\n"
        f"output = {json.dumps(str(outputs / m.name))}\ntask = {json.dumps(m.task)}\n"
        for m in models
    ]
    path.write_text("\n".join(blocks))
    return path


def run_batch(label: str, manifest: Path, models: list[Model], *options: str) -> Run:
    """``modelexport export-batch`` over the manifest: its wall time, and each model's outcome from its summary."""
    argv = [sys.executable, "-m", "modelexport", "export-batch", str(manifest), *options]
    print(f"{label}: {' '.join(argv[2:])}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, env=env())
    wall = time.perf_counter() - start
    summary_path = manifest.with_name(manifest.name + ".summary.json")
    if done.returncode not in (0, 1) or not summary_path.is_file():  # 0: all exported, 1: some failed
        raise SystemExit(f"{label} failed as a whole (exit {done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.loads(summary_path.read_text())
    by_name = {m["name"]: m for m in summary["models"]}
    outcomes = {
        m.name: Outcome(
            by_name[m.name]["status"] == "exported",
            by_name[m.name]["seconds"],
            (by_name[m.name]["error"] or "").strip().splitlines()[0] if by_name[m.name]["error"] else "",
        )
        for m in models
    }
    print(f"{label}: {wall:.1f} s, {sum(o.ok for o in outcomes.values())}/{len(models)} exported", flush=True)
    return Run(label, wall, outcomes, summary)


def error_line(stderr: str) -> str:
    """The line of a failed optimum-cli process that says why: the exception's, else the last one."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line.split(":")[0] or line.startswith(("Exception", "KeyError", "ValueError")):
            return line
    return lines[-1] if lines else "(no output)"


def run_loop(reference: Path, models: list[Model], outputs: Path) -> Run:
    """One ``optimum-cli export onnx`` process per model, one after the other: the shell loop a user writes."""
    cli = str(reference.parent / "optimum-cli")
    print(f"optimum-cli loop: {len(models)} processes", flush=True)
    outcomes = {}
    start = time.perf_counter()
    for model in models:
        argv = [cli, "export", "onnx", "--model", str(model.folder), "--task", model.task, str(outputs / model.name)]
        began = time.perf_counter()
        try:
            done = subprocess.run(argv, capture_output=True, text=True, env=env(), timeout=TIMEOUT)
            ok, error = done.returncode == 0, "" if done.returncode == 0 else error_line(done.stderr)
            output = done.stdout + done.stderr
            caveat = next((line.strip() for line in output.splitlines() if "succeeded with the warning" in line), "")
        except subprocess.TimeoutExpired:
            ok, error, caveat = False, f"timed out after {TIMEOUT} s", ""
        outcomes[model.name] = Outcome(ok, time.perf_counter() - began, error, caveat)
    wall = time.perf_counter() - start
    print(f"optimum-cli loop: {wall:.1f} s, {sum(o.ok for o in outcomes.values())}/{len(models)} exported", flush=True)
    return Run("optimum-cli loop", wall, outcomes)


def verdict(ratio: float) -> str:
    return "met" if ratio <= TARGET else "NOT MET"


def report(models: list[Model], runs: dict[str, Run], imports: dict[str, float]) -> dict[str, Any]:
    """Print the table, the per-model times and the profile; return the numbers for ``--json``."""
    loop = runs["loop"]
    ratios = {key: runs[key].wall / loop.wall for key in ("sequential", "jobs2")}
    count = len(models)
    rows = [
        [
            f"{count} models, {runs[key].label}: wall time",
            f"{runs[key].wall:.1f} s",
            f"{loop.wall:.1f} s",
            f"{ratios[key]:.2f}x",
            f"<= {TARGET}x",
            verdict(ratios[key]),
        ]
        for key in ("sequential", "jobs2")
    ]
    rows += [
        [
            f"{count} models, {runs[key].label}: exported / failed",
            f"{runs[key].succeeded} / {runs[key].failed}",
            f"{loop.succeeded} / {loop.failed}",
            "-",
            "-",
            "-",
        ]
        for key in ("sequential", "jobs2")
    ]
    print()
    print_table(rows, ["measure", "modelexport", "optimum-cli loop", "ratio", "target", "verdict"])

    print()
    columns = ("sequential", "jobs2", "loop")

    def cell(outcome: Outcome) -> str:
        return f"{outcome.seconds:.1f} s" + ("" if outcome.ok else " FAILED")

    print_table(
        [[m.name, m.task, *(cell(runs[key].outcomes[m.name]) for key in columns)] for m in models],
        ["model", "task", "ours --jobs 1", "ours --jobs 2 (in parallel)", "optimum-cli process"],
    )
    failures = [
        (runs[key].label, name, o.error) for key in columns for name, o in runs[key].outcomes.items() if not o.ok
    ]
    if failures:
        print("\nfailures:")
        for label, name, error in failures:
            print(f"  {label}: {name}: {error}")
    warnings = [(runs[key].label, name, o.warning) for key in columns for name, o in runs[key].outcomes.items()]
    if any(warning for _, _, warning in warnings):
        print("\nexported with a warning:")
        for label, name, warning in warnings:
            if warning:
                print(f"  {label}: {name}: {warning}")

    sequential = runs["sequential"]
    assert sequential.summary is not None
    exporting = sum(o.seconds for o in sequential.outcomes.values())
    first = sequential.outcomes[models[0].name].seconds
    profile = {
        "wall_seconds": sequential.wall,
        "sum_of_model_seconds": exporting,
        "startup_seconds": sequential.wall - exporting,
        "before_and_after_models_seconds": sequential.wall - sequential.summary["seconds"],
        "first_model_seconds": first,
        "warm_import_seconds": imports,
        "optimum_mean_process_seconds": loop.wall / count,
    }
    print(
        f"\nprofile, ours in turn: {sequential.wall:.1f} s wall = {exporting:.1f} s exporting (sum of the summary's "
        f"per-model times) + {sequential.wall - exporting:.1f} s start-up, imports and between models; the first "
        f"model's {first:.1f} s includes importing torch and transformers (lazily, "
        f"{imports['ours']:.1f} s warm). The loop pays its imports ({imports['optimum']:.1f} s warm) in each of "
        f"its {count} processes ({loop.wall / count:.1f} s a model)."
    )
    return {
        "target_ratio": TARGET,
        "models": [{"name": m.name, "task": m.task, "folder": str(m.folder)} for m in models],
        "runs": {key: run.to_dict() for key, run in runs.items()},
        "ratios": ratios,
        "met": {key: r <= TARGET for key, r in ratios.items()},
        "profile": profile,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimum-python", help="interpreter of a venv with optimum-onnx 0.1.0")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument("--only-tiny", action="store_true", help="skip the real checkpoints (a quick run)")
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)  # the first N models only: a smoke check
    args = parser.parse_args()
    reference = reference_python(args.optimum_python)
    load_at_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="modelexport-batch-bench-") as tmp:
        work = Path(tmp)
        models = tiny_models(work / "tiny", args.limit)
        if not args.only_tiny and (args.limit is None or args.limit > len(models)):
            models += real_models(work / "checkpoints")[: None if args.limit is None else args.limit - len(models)]
        print(f"{len(models)} models: {', '.join(m.name for m in models)}", flush=True)
        imports = warm_up(reference, models)
        runs = {
            "sequential": run_batch(
                "export-batch --jobs 1",
                write_manifest(work / "sequential.toml", models, work / "out-sequential"),
                models,
            ),
            "jobs2": run_batch(
                "export-batch --jobs 2",
                write_manifest(work / "jobs2.toml", models, work / "out-jobs2"),
                models,
                "--jobs",
                "2",
            ),
            "loop": run_loop(reference, models, work / "out-optimum"),
        }
        numbers = report(models, runs, imports)
    # Other work on the machine skews wall times (the loop's and ours at different moments): said beside them.
    numbers["load_average_1min"] = {"start": load_at_start, "end": os.getloadavg()[0]}
    print(f"load average (1 min): {load_at_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end")
    if args.json:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
