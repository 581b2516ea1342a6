"""The onnxruntime-genai walk: which decoder types of the text table onnxruntime-genai runs from our exports.

``python tools/genai_walk.py [--only TYPE ...]`` rewrites ``genai_architectures.json`` beside the ONNX backend's
other measured tables. Per decoder type (every type the text table exports as ``causal-lm-with-past``): a tiny
random model (the text walk's, same seed) exported with default options, a ``genai_config.json`` written for it
under onnxruntime-genai's own type name where it has one, else its generic ``decoder``, loaded with
``onnxruntime_genai.Model`` and asked for 12 greedy tokens after a 6-token prompt; passed when they are PyTorch's
``generate`` tokens. Each type runs in a process of its own under a timeout, two at a time.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
TABLE = ROOT / "packages" / "onnx-backend" / "src" / "modelexport_onnx" / "genai_architectures.json"
TEXT_TABLE = TABLE.with_name("text_architectures.json")
NEW_TOKENS = 12
PROMPT = [5, 17, 42, 8, 23, 61]
TIMEOUT = 300.0


def decoder_types() -> list[str]:
    types = json.loads(TEXT_TABLE.read_text())["types"]
    return sorted(t for t, row in types.items() if "causal-lm-with-past" in json.dumps(row))


def _generate_genai(folder: Path, prompt: list[int], new_tokens: int) -> list[int]:
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    # every token asked for: a random model may emit its end of sequence early (PyTorch's side: min_new_tokens)
    params.set_search_options(max_length=len(prompt) + new_tokens, min_length=len(prompt) + new_tokens, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens(prompt)
    tokens: list[int] = []
    while not generator.is_done():
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    return tokens


def try_type(model_type: str) -> dict[str, Any]:
    """One type: ``{"type": genai type}`` when it passed, ``{"why": ...}`` when not."""
    import torch
    from modelexport_onnx.genai import CONFIG_FILE, genai_config
    from modelexport_onnx.main_export import main_export
    from text_walk import build_model

    known_types = _genai_types()
    with tempfile.TemporaryDirectory() as work:
        model = build_model(model_type, "causal-lm")
        model.save_pretrained(Path(work) / "model")
        out = Path(work) / "onnx"
        try:
            main_export(Path(work) / "model", out, task="causal-lm-with-past", progress=None)
        except Exception as error:  # the export itself: the text table says it passes, so this is news
            return {"why": f"export: {type(error).__name__}: {str(error).splitlines()[0][:200]}"}
        from modelexport_core import TasksManager
        from modelexport_onnx.config import DecoderOnnxConfig

        constructor = TasksManager.get_exporter_config_constructor(
            "onnx", task="causal-lm-with-past", model_type=model_type
        )
        config = constructor(model.config)
        if not isinstance(config, DecoderOnnxConfig):
            return {"why": f"exported as {type(config).__name__}, not a decoder-only graph"}
        with torch.inference_mode():
            expected = model.generate(
                torch.tensor([PROMPT]),
                attention_mask=torch.ones(1, len(PROMPT), dtype=torch.long),
                max_new_tokens=NEW_TOKENS,
                min_new_tokens=NEW_TOKENS,
                do_sample=False,
                pad_token_id=0,
                # plain greedy, as onnxruntime-genai's generator: none of the generation config's processors
                forced_eos_token_id=None,
                forced_bos_token_id=None,
                suppress_tokens=None,
                begin_suppress_tokens=None,
                no_repeat_ngram_size=0,
                repetition_penalty=1.0,
            )[0, len(PROMPT) :].tolist()
        name = model_type.replace("-", "_")
        whys = []
        for genai_name in ([name] if name in known_types else []) + ["decoder"]:  # its own type, else the generic
            try:
                (out / CONFIG_FILE).write_text(json.dumps(genai_config(config, genai_name)))
                tokens = _generate_genai(out, PROMPT, NEW_TOKENS)
            except Exception as error:
                whys.append(f"{genai_name}: {type(error).__name__}: {str(error).splitlines()[0][:200]}")
                continue
            if tokens == expected:
                return {"type": genai_name, "tokens": NEW_TOKENS}
            whys.append(f"{genai_name}: greedy tokens {tokens} differ from PyTorch's {expected}")
        return {"why": "; ".join(whys)}


def _genai_types() -> set[str]:
    """onnxruntime-genai's model types, read from its library (it has no API listing them)."""
    import onnxruntime_genai

    library = next(Path(onnxruntime_genai.__file__).parent.glob("libonnxruntime-genai*"))
    found = subprocess.run(["strings", "-n", "3", str(library)], capture_output=True, text=True, check=True).stdout
    words = set(found.split())
    return {w for w in words if w.replace("_", "").isalnum() and w.islower()} & _CANDIDATES


#: The names onnxruntime-genai could have for a transformers type: the text table's decoder types, normalised.
_CANDIDATES = {t.replace("-", "_") for t in decoder_types()} | {"gptoss"}


def _child(model_type: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", model_type], capture_output=True, text=True, timeout=TIMEOUT
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"why": f"crashed: {tail[:200]}"}
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
    import onnxruntime_genai

    types = args.only or decoder_types()
    old = json.loads(TABLE.read_text()) if TABLE.is_file() else {"passed": {}, "failed": {}}
    passed = {k: v for k, v in old.get("passed", {}).items() if k not in types}
    failed = {k: v for k, v in old.get("failed", {}).items() if k not in types}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for model_type, result in zip(types, pool.map(_child, types), strict=True):
            if "type" in result:
                passed[model_type] = result
            else:
                failed[model_type] = result["why"]
            print(model_type, result, flush=True)
    TABLE.write_text(
        json.dumps(
            {
                "onnxruntime_genai": onnxruntime_genai.__version__,
                "passed": dict(sorted(passed.items())),
                "failed": dict(sorted(failed.items())),
            },
            indent=1,
        )
        + "\n"
    )
    print(f"{len(passed)} passed, {len(failed)} failed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
