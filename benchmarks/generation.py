"""Generative exports: export time against optimum-cli, and generation speed in onnxruntime.

    python benchmarks/generation.py [--runs 3] [--new-tokens 64] [--optimum-python PATH]

Run it with an interpreter that has ``modelexport[pt,onnx]``. For a tiny llama
(``text-generation-with-past``) and a tiny t5 (``text2text-generation-with-past``), built from
configs with a fixed seed: the whole export command, ours against optimum-cli (optimum-onnx
0.1.0, own venv) -- target ours <= 0.5x; then greedy tokens per second at batch 1 with our
with-past export in onnxruntime (the loop of ``modelexport_onnx.generation``) against PyTorch
eager ``generate`` on the same weights -- aim >= 1.5x.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from _common import median, print_table, reference_python
from export_speed import measure, optimum_cli, ours_cli

BUILD = textwrap.dedent(
    """
    import sys, torch, transformers
    torch.manual_seed(0)
    kind, path = sys.argv[1], sys.argv[2]
    if kind == "llama":
        config = transformers.LlamaConfig(vocab_size=1000, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                                          pad_token_id=0, bos_token_id=1, eos_token_id=2)
        model = transformers.LlamaForCausalLM(config)
    else:
        config = transformers.T5Config(vocab_size=1000, d_model=64, d_ff=128, d_kv=16, num_layers=2, num_heads=4,
                                       decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
        model = transformers.T5ForConditionalGeneration(config)
    model.eval().save_pretrained(path)
    """
)

SPEED = textwrap.dedent(
    """
    import json, statistics, sys, time
    import numpy as np, torch, transformers
    from modelexport_core import TasksManager
    from modelexport_onnx.generation import greedy_generate, greedy_generate_seq2seq
    from modelexport_onnx.validation import onnx_session
    from modelexport_pt.loading import generate_greedy
    kind, model_dir, onnx_dir, new_tokens = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    torch.set_num_threads(2)
    task = "causal-lm-with-past" if kind == "llama" else "seq2seq-lm-with-past"
    model = TasksManager.get_model_from_task(task, model_dir)
    config = TasksManager.get_exporter_config_constructor("onnx", model, task=task)(model.config)
    folder = __import__("pathlib").Path(onnx_dir)
    sessions = {name: onnx_session(folder / f"{name}.onnx") for name in config.components()}
    ids = np.random.default_rng(0).integers(3, 1000, size=(1, 16)).astype(np.int64)
    mask = np.ones_like(ids)
    prompt = {"input_ids": ids, "attention_mask": mask}
    if kind == "llama":
        run_onnx = lambda: greedy_generate(sessions["model"], config, ids, mask, new_tokens, 0)
    else:
        run_onnx = lambda: greedy_generate_seq2seq(sessions, prompt, new_tokens, 0, 0)
    run_torch = lambda: generate_greedy(model, prompt, new_tokens, 0)
    same = bool((run_onnx()[:, -new_tokens:] == run_torch()[:, -new_tokens:]).all())
    times = {"onnx": [], "torch": []}
    for _ in range(7):
        for name, fn in (("onnx", run_onnx), ("torch", run_torch)):
            start = time.perf_counter(); fn(); times[name].append(time.perf_counter() - start)
    print(json.dumps({name: new_tokens / statistics.median(v) for name, v in times.items()} | {"same": same}))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--optimum-python", help="interpreter of a venv with optimum-onnx 0.1.0")
    args = parser.parse_args()
    reference = reference_python(args.optimum_python)
    rows = []
    with tempfile.TemporaryDirectory(prefix="modelexport-gen-bench-") as tmp:
        work = Path(tmp)
        for kind, task in (("llama", "text-generation-with-past"), ("t5", "text2text-generation-with-past")):
            model = work / kind
            subprocess.run([str(reference), "-c", BUILD, kind, str(model)], check=True, capture_output=True)
            ours, theirs = [], []
            for i in range(args.runs):
                ours.append(measure(sys.executable, ours_cli(model, work / f"ours-{kind}-{i}", task)))
                theirs.append(measure(str(reference), optimum_cli(reference, model, work / f"opt-{kind}-{i}", task)))
            o, t = median([r["seconds"] for r in ours]), median([r["seconds"] for r in theirs])
            rows.append([f"tiny {kind}: export command", f"{o:.2f} s", f"{t:.2f} s", f"{o / t:.2f}x", "<= 0.5x"])
            speed = subprocess.run(
                [sys.executable, "-c", SPEED, kind, str(model), str(work / f"ours-{kind}-0"), str(args.new_tokens)],
                capture_output=True,
                text=True,
                check=True,
            )
            result = json.loads(speed.stdout.strip().splitlines()[-1])
            rows.append(
                [
                    f"tiny {kind}: greedy tokens/s, batch 1",
                    f"{result['onnx']:.0f} (onnxruntime)",
                    f"{result['torch']:.0f} (PyTorch eager)",
                    f"{result['onnx'] / result['torch']:.2f}x faster",
                    ">= 1.5x",
                ]
            )
            if not result["same"]:
                rows.append([f"tiny {kind}: WARNING", "tokens differ", "", "", ""])
    print_table(rows, ["measure", "modelexport", "reference", "ratio", "target"])


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
