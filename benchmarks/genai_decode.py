"""Decoders at run time: ours (fp32, fp32 ``--optimize O2``, int4) against onnxruntime-genai's own model builder
(fp32, int4), all in onnxruntime-genai, and optimum's export and ours in optimum's ``ORTModelForCausalLM``; one run
side by side on the same real checkpoint, as ratios (issue 28's targets).

    python benchmarks/genai_decode.py MODEL_FOLDER [--new-tokens 128] [--prompt-tokens 32] [--batch 1 4]
        [--repeats 3] [--optimum-python PATH]

Run it with an interpreter that has ``modelexport[pt,onnx]`` and ``onnxruntime-genai`` (the clients session's
packages); ``--optimum-python``: an interpreter with optimum-onnx (transformers < 4.58; see
``benchmarks/_common.py``), for optimum's rows. Per graph: the export's time and peak RSS (one process each), then
per batch size, in a process of its own: the time to first token after a ``--prompt-tokens`` prompt, greedy decode
steps per second over ``--new-tokens`` (best of ``--repeats``), the process's peak RSS, and the greedy tokens'
agreement with our fp32 export's (the share of positions before the first difference). The bandwidth column:
the bytes of weights one decode step reads (every matrix product's weight, the LM head included; an embedding
table is read a row per token) over a measured memory copy rate, as the tokens per second that would saturate it
at batch 1, and the share of it each graph reaches. Targets: fp32 O2 decode >= the builder's fp32, int4 >= the
builder's int4, at batch 1 and 4; int4 at least half the bandwidth limit at batch 1.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import print_table

PROMPT = (
    "The history of the river valley begins with the farmers who settled on its banks, built the first mills and "
    "traded grain with the towns downstream. Over the next centuries"
)


#: Runs one command and prints its peak RSS (KiB) last: the peak of that process alone, not of every child so far.
_MEASURED = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:]); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(done.returncode)"
)


def export(argv: list[str] | None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GiB) of the one export process, and why it failed ("" when it did not)."""
    if argv is None:
        return float("nan"), float("nan"), ""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _MEASURED, *argv], capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    peak = int(lines[-1]) / 2**20 if lines and lines[-1].isdigit() else float("nan")
    why = "" if done.returncode == 0 else (done.stderr.strip().splitlines() or ["failed"])[-1][:160]
    return seconds, peak, why


def _child(argv: list[str]) -> dict[str, Any]:
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1][:160]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def decode_genai(folder: str, prompt_tokens: int, new_tokens: int, batch: int, repeats: int) -> dict[str, Any]:
    """In this process: onnxruntime-genai's first-token time, best decode rate, peak RSS, first row's tokens."""
    import numpy as np
    import onnxruntime_genai as og

    model = og.Model(folder)
    prompt = list(og.Tokenizer(model).encode(PROMPT))[:prompt_tokens]
    best_rate, best_first, tokens = 0.0, float("inf"), []
    for _ in range(repeats):
        params = og.GeneratorParams(model)
        params.set_search_options(
            max_length=prompt_tokens + new_tokens, min_length=prompt_tokens + new_tokens, batch_size=batch
        )
        generator = og.Generator(model, params)
        started = time.perf_counter()
        generator.append_tokens(np.asarray([prompt] * batch, dtype=np.int32))
        generator.generate_next_token()
        best_first = min(best_first, time.perf_counter() - started)
        started, steps = time.perf_counter(), 0
        while not generator.is_done():
            generator.generate_next_token()
            steps += 1
        best_rate = max(best_rate, steps / (time.perf_counter() - started))
        tokens = [int(t) for t in generator.get_sequence(0)[prompt_tokens:]]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"first": best_first, "rate": best_rate, "peak": peak, "tokens": tokens}


def decode_optimum(folder: str, prompt_tokens: int, new_tokens: int, batch: int, repeats: int) -> dict[str, Any]:
    """In this process (optimum's venv): ``ORTModelForCausalLM.generate``, the first token timed alone."""
    import torch
    from optimum.onnxruntime import ORTModelForCausalLM
    from transformers import PreTrainedTokenizerFast

    # optimum's own export of a transformers 5 folder writes no tokenizer (its transformers cannot read it): the
    # tokenizer file of ours, the same checkpoint's
    files = [Path(folder) / "tokenizer.json", Path(folder).parent / "fp32" / "tokenizer.json"]
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(next(f for f in files if f.is_file())))
    model = ORTModelForCausalLM.from_pretrained(folder, use_cache=True, use_io_binding=False)
    ids = torch.tensor([tokenizer(PROMPT).input_ids[:prompt_tokens]] * batch)
    mask = torch.ones_like(ids)
    best_rate, best_first, tokens = 0.0, float("inf"), []
    for _ in range(repeats):
        started = time.perf_counter()
        model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=1, do_sample=False)
        first = time.perf_counter() - started
        started = time.perf_counter()
        out = model.generate(
            input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False
        )
        total = time.perf_counter() - started
        best_first = min(best_first, first)
        best_rate = max(best_rate, (new_tokens - 1) / max(total - first, 1e-9))
        tokens = [int(t) for t in out[0, prompt_tokens:]]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return {"first": best_first, "rate": best_rate, "peak": peak, "tokens": tokens}


def weight_bytes_per_token(folder: Path) -> int:
    """Bytes of the weights one decode step reads: every initializer a matrix product reads (an embedding table read
    through a ``Gather`` only a row a token), from the graph genai runs."""
    import onnx
    from onnx import numpy_helper

    config = json.loads((folder / "genai_config.json").read_text())
    model = onnx.load(str(folder / config["model"]["decoder"]["filename"]))
    sizes = {t.name: numpy_helper.to_array(t).nbytes for t in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    read: set[str] = set()
    for node in model.graph.node:
        if node.op_type not in ("MatMul", "MatMulNBits", "Gemm"):
            continue
        for name in node.input[1:]:
            source = producers.get(name)
            if source is not None and source.op_type == "Transpose":  # a head tied to the table, transposed
                name = source.input[0]
            if name in sizes:
                read.add(name)
    return sum(sizes[name] for name in read)


def copy_bandwidth() -> float:
    """Bytes per second of a large memory copy (read and write counted once each), best of five."""
    import numpy as np

    source = np.ones(256 * 2**20 // 8)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return 2 * source.nbytes / best


def agreement(tokens: list[int], reference: list[int]) -> float:
    if not reference:
        return float("nan")
    same = next((i for i, (a, b) in enumerate(zip(tokens, reference, strict=False)) if a != b), len(reference))
    return same / len(reference)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, nargs="?")
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--optimum-python", help="an interpreter with optimum-onnx, for optimum's rows")
    parser.add_argument(
        "--work", type=Path, help="the exports' folder; those already in it are reused (their export not timed)"
    )
    parser.add_argument("--only", nargs="*", help="measure these graphs only (names as in the table)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, folder, prompt, new, batch, repeats = args.child
        run = decode_genai if kind == "genai" else decode_optimum
        print(json.dumps(run(folder, int(prompt), int(new), int(batch), int(repeats))))
        return 0
    if args.model is None:
        parser.error("the model folder is required")
    work = args.work or Path(tempfile.mkdtemp(prefix="genai-bench-"))
    ours = [sys.executable, "-m", "modelexport", "export", "onnx", "-m", str(args.model)]
    builder = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(args.model), "-e", "cpu"]
    cache = ["-c", str(work / "cache")]
    graphs: dict[str, tuple[list[str] | None, Path, str]] = {
        "ours fp32": ([*ours, str(work / "fp32")], work / "fp32", "genai"),
        "ours fp32 O2": ([*ours, str(work / "o2"), "--optimize", "O2"], work / "o2", "genai"),
        "ours int4 O2": ([*ours, str(work / "i4"), "--optimize", "O2", "--quantize", "int4"], work / "i4", "genai"),
        "ours int4 O2 head 4-bit": (
            [*ours, str(work / "i4h4"), "--optimize", "O2", "--quantize", "int4", "--lm-head-bits", "4"],
            work / "i4h4",
            "genai",
        ),
        "builder fp32": ([*builder, "-o", str(work / "b32"), "-p", "fp32", *cache], work / "b32", "genai"),
        "builder int4": ([*builder, "-o", str(work / "b4"), "-p", "int4", *cache], work / "b4", "genai"),
    }
    if args.optimum_python:
        optimum = [args.optimum_python, "-m", "optimum.exporters.onnx", "--model", str(args.model)]
        graphs["optimum's export, ORTModelForCausalLM"] = (
            [*optimum, "--task", "text-generation-with-past", str(work / "optimum")],
            work / "optimum",
            "optimum",
        )
        graphs["ours fp32, ORTModelForCausalLM"] = (None, work / "fp32", "optimum")  # the folder exported above
    bandwidth = copy_bandwidth()
    print(f"memory copy rate: {bandwidth / 1e9:.1f} GB/s", flush=True)
    header = [
        "graph",
        "export s",
        "export peak GiB",
        "batch",
        "first token ms",
        "decode steps/s",
        "run peak GiB",
        "greedy = ours fp32",
        "bandwidth limit tok/s (weights/token), share",
    ]
    rows: list[list[str]] = []
    reference: list[int] = []

    def add(row: list[str]) -> None:
        rows.append(row + [""] * (len(header) - len(row)))
        print(" | ".join(row), flush=True)  # as it comes: a later failure keeps what was measured

    for name, (argv, folder, client) in graphs.items():
        if args.only and name not in args.only:
            continue
        seconds, peak, why = export(None if folder.is_dir() else argv)
        if why:
            add([name, f"failed: {why}"])
            continue
        limit = ""
        if client == "genai":
            per_token = weight_bytes_per_token(folder)
            limit = f"{bandwidth / per_token:.0f} ({per_token / 2**20:.0f} MiB)"
        python = sys.executable if client == "genai" else args.optimum_python
        for batch in args.batch:
            child = [python, __file__, "--child", client, str(folder), str(args.prompt_tokens), str(args.new_tokens)]
            measured = _child([*child, str(batch), str(args.repeats)])
            if "error" in measured:
                add([name, f"{seconds:.1f}", f"{peak:.2f}", str(batch), f"failed: {measured['error']}"])
                continue
            if name == "ours fp32" and batch == args.batch[0]:
                reference = measured["tokens"]
            share = ""
            if limit and batch == 1:
                share = f"{measured['rate'] / (bandwidth / weight_bytes_per_token(folder)):.0%}"
            add(
                [
                    name,
                    f"{seconds:.1f}",
                    f"{peak:.2f}",
                    str(batch),
                    f"{measured['first'] * 1000:.0f}",
                    f"{measured['rate']:.1f}",
                    f"{measured['peak']:.2f}",
                    f"{agreement(measured['tokens'], reference):.0%}",
                    f"{limit} {share}".strip() if batch == 1 else "",
                ]
            )
    print_table(rows, header)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
