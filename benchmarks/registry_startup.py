"""Cold-process time of the seed registry question, ours against optimum's, in one run.

    python benchmarks/registry_startup.py [--runs 15] [--optimum-python PATH]

Ours: ``from modelexport import TasksManager; TasksManager.get_supported_tasks_for_model_type(
"distilbert", "onnx")`` with the interpreter running this script (modelexport[onnx] installed).
optimum's: the same question in a venv holding optimum-onnx 0.1.0 (made under ``.bench/`` when
no interpreter is given); its registry is empty until ``optimum.exporters.onnx.model_configs``
is imported, so that import is part of it. Runs alternate between the two tools so that
machine noise hits both alike. Targets: ours <= 150 ms median and >= 20x faster.
"""

from __future__ import annotations

import argparse
import sys

from _common import median, print_table, reference_python, time_process

OURS = (
    "from modelexport import TasksManager\n"
    "tasks = TasksManager.get_supported_tasks_for_model_type('distilbert', 'onnx')\n"
    "assert 'masked-lm' in tasks\n"
)
OPTIMUM = (
    "import optimum.exporters.onnx.model_configs\n"
    "from optimum.exporters.tasks import TasksManager\n"
    "tasks = TasksManager.get_supported_tasks_for_model_type('distilbert', 'onnx')\n"
    "assert 'fill-mask' in tasks\n"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--optimum-python", help="interpreter of a venv with optimum-onnx 0.1.0")
    parser.add_argument("--skip-optimum", action="store_true", help="time ours only")
    args = parser.parse_args()

    reference = None if args.skip_optimum else reference_python(args.optimum_python)
    ours: list[float] = []
    theirs: list[float] = []
    time_process([sys.executable, "-c", OURS])  # warm the file cache once, for both
    if reference:
        time_process([str(reference), "-c", OPTIMUM])
    for _ in range(args.runs):
        ours.append(time_process([sys.executable, "-c", OURS]))
        if reference:
            theirs.append(time_process([str(reference), "-c", OPTIMUM]))

    ours_ms = median(ours) * 1000
    rows = [["modelexport", f"{ours_ms:.0f}", f"{min(ours) * 1000:.0f}", "1.0x"]]
    if theirs:
        theirs_ms = median(theirs) * 1000
        rows.append(
            [
                "optimum-onnx 0.1.0",
                f"{theirs_ms:.0f}",
                f"{min(theirs) * 1000:.0f}",
                f"{theirs_ms / ours_ms:.1f}x slower",
            ]
        )
    print(
        f"registry start-up: cold process, get_supported_tasks_for_model_type('distilbert', 'onnx'), "
        f"{args.runs} runs each"
    )
    print_table(rows, ["tool", "median ms", "min ms", "ratio"])
    verdict = [f"ours <= 150 ms: {'yes' if ours_ms <= 150 else 'NO'}"]
    if theirs:
        verdict.append(f">= 20x faster than optimum: {'yes' if median(theirs) / median(ours) >= 20 else 'NO'}")
    print("; ".join(verdict))


if __name__ == "__main__":
    main()
