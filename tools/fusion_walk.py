"""The fused-attention walk: which decoder types of the text table ``--optimize O2`` fuses, and why not the others.

``python tools/fusion_walk.py [--only TYPE ...]`` rewrites ``fusion_architectures.json`` beside the ONNX backend's
other measured tables. Per decoder type (every type the text table exports as ``causal-lm-with-past``): the text
walk's tiny random model exported with ``--optimize O2``, validated (the fused graph on a right-padded prompt and a
cached step, against PyTorch's own attention) and greedy-checked. ``fused``: how many of its layers became one
``GroupQueryAttention`` and whether the rotary embedding went inside it; ``plain``: the export's reason for keeping
the traced attention (it still exports and validates); ``failed``: the export failed. Each type runs in a process of
its own under a timeout, two at a time.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
TABLE = ROOT / "packages" / "onnx-backend" / "src" / "modelexport_onnx" / "fusion_architectures.json"
TEXT_TABLE = TABLE.with_name("text_architectures.json")
TIMEOUT = 300.0
#: The walk's tiny models' heads: onnxruntime's GroupQueryAttention computes multiples of 16.
HEAD = 16


def decoder_types() -> list[str]:
    """The text table's types that export ``causal-lm-with-past`` as a decoder-only graph (not the text towers of
    multimodal models, which export their cache under ``default-with-past``)."""
    types = json.loads(TEXT_TABLE.read_text())["types"]
    return sorted(t for t, row in types.items() if "causal-lm-with-past" in json.dumps(row) and t not in TOWERS)


#: Text towers of multimodal types: no causal-lm head of their own (the genai walk finds the same).
TOWERS = ("emu3", "mllama")


def _with_heads_of(size: int) -> None:
    """The text walk's tiny models with heads of ``size`` (4 of them)."""
    import text_walk

    hidden = 4 * size
    text_walk.HIDDEN, text_walk.HEAD_DIM = hidden, size
    sizes = dict(text_walk.TINY_SIZES)
    for name in ("hidden_size", "n_embd", "d_model", "attention_hidden_size", "n_embed", "emb_dim"):
        sizes[name] = hidden
    for name in ("head_dim", "d_kv", "kv_channels", "attention_head_size"):
        sizes[name] = size
    sizes["rotary_dim"] = size // 2
    text_walk.TINY_SIZES = sizes


def _export(model_type: str) -> tuple[Any, list[str], Any]:
    import onnx
    from modelexport_onnx.main_export import main_export
    from text_walk import build_model

    lines: list[str] = []
    with tempfile.TemporaryDirectory() as work:
        build_model(model_type, "causal-lm").save_pretrained(Path(work) / "model")
        out = Path(work) / "onnx"
        result = main_export(
            Path(work) / "model", out, task="causal-lm-with-past", optimize="O2", progress=lines.append
        )
        graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
        return result, lines, collections.Counter(n.op_type for n in graph.node)


def try_type(model_type: str) -> dict[str, Any]:
    """One type: ``{"fused": ..., "rotary": ...}``, ``{"plain": why}`` or ``{"failed": why}``."""
    import text_walk

    original = text_walk.TINY_SIZES
    _with_heads_of(HEAD)
    try:
        result, lines, ops = _export(model_type)
    except Exception as error:
        # a config whose other sizes do not follow heads of 16 (latent attention's rotary width): the walk's own
        first = f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"
        text_walk.TINY_SIZES, text_walk.HIDDEN, text_walk.HEAD_DIM = original, 32, 8
        try:
            result, lines, ops = _export(model_type)
        except Exception as again:
            return {"failed": f"{type(again).__name__}: {str(again).splitlines()[0][:300]}"}
        if not ops["GroupQueryAttention"]:
            return {"plain": f"(heads of 8; with heads of {HEAD}: {first})", "validated": result.validation.passed}
    step = next((line for line in lines if line.startswith("[5/7]")), "")
    note = next((part.strip() for part in step.split(";") if "attention " in part and "fused" in part), "")
    if ops["GroupQueryAttention"]:
        rotary = "inside" if "rotary inside" in note else "traced" if "rotary as traced" in note else "none"
        return {"fused": ops["GroupQueryAttention"], "rotary": rotary, "nodes": sum(ops.values())}
    why = note.split("(", 1)[1].rsplit(")", 1)[0] if "(" in note else note or "no note"
    return {"plain": why, "validated": result.validation.passed}


def _child(model_type: str) -> dict[str, Any]:
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--child", model_type], capture_output=True, text=True, timeout=TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return {"failed": f"over {TIMEOUT:.0f} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"failed": f"crashed: {tail[:200]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="walk these types only (the table keeps the others' rows)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(try_type(args.child)))
        return 0
    import onnxruntime
    import transformers

    types = args.only or decoder_types()
    old = json.loads(TABLE.read_text()) if TABLE.is_file() else {}
    walked = set(decoder_types())
    rows = {
        kind: {k: v for k, v in old.get(kind, {}).items() if k not in types and k in walked}
        for kind in ("fused", "plain", "failed")
    }
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for model_type, result in zip(types, pool.map(_child, types), strict=True):
            if "fused" in result:
                rows["fused"][model_type] = {"layers": result["fused"], "rotary": result["rotary"]}
            elif "plain" in result:
                rows["plain"][model_type] = result["plain"]
            else:
                rows["failed"][model_type] = result["failed"]
            print(model_type, result, flush=True)
    versions = {"onnxruntime": onnxruntime.__version__, "transformers": transformers.__version__}
    TABLE.write_text(json.dumps({**versions, **{k: dict(sorted(v.items())) for k, v in rows.items()}}, indent=1) + "\n")
    print(", ".join(f"{len(v)} {k}" for k, v in rows.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
