"""Our decoder exports in onnxruntime-genai, unchanged: ``onnxruntime_genai.Model(folder)`` reads the
``genai_config.json`` and tokenizer files the export writes, and its greedy generator gives PyTorch's tokens.

The real checkpoint (SmolLM2-135M-Instruct) is exported with default options (the task inferred: the cache is
the default, as in optimum); a sample of the genai walk's types (tools/genai_walk.py) runs from tiny models, one
under onnxruntime-genai's own type name and one as its generic ``decoder``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime_genai as og
import pytest
import torch
from modelexport_onnx.main_export import main_export

from modelexport.cli import main

NEW_TOKENS = 32
PROMPTS = ("The capital of France is", "def fibonacci(n):")


def genai_greedy(folder: Path, prompt: list[int], new_tokens: int) -> list[int]:
    model = og.Model(str(folder))
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(prompt) + new_tokens, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens(prompt)
    tokens: list[int] = []
    while not generator.is_done():
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    return tokens


def torch_greedy(model: torch.nn.Module, prompt: list[int], new_tokens: int) -> list[int]:
    with torch.inference_mode():
        out = model.generate(  # type: ignore[operator]
            torch.tensor([prompt]),
            attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
            max_new_tokens=new_tokens,
            do_sample=False,
        )
    return [int(t) for t in out[0, len(prompt) :]]


def test_real_smollm2_default_export_generates_pytorchs_tokens_in_genai(
    smollm2: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "smollm2"
    assert main(["export", "onnx", "-m", str(smollm2), str(out)]) == 0  # default options: the inferred task
    assert "task causal-lm-with-past" in capsys.readouterr().out
    written = json.loads((out / "genai_config.json").read_text())
    assert written["model"]["type"] == "llama" and written["model"]["decoder"]["num_key_value_heads"] == 3

    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2).eval()
    genai_tokenizer = og.Tokenizer(og.Model(str(out)))
    for text in PROMPTS:
        prompt = tokenizer(text).input_ids
        assert [int(t) for t in genai_tokenizer.encode(text)] == prompt  # its tokenizer reads our copied files
        expected = torch_greedy(model, prompt, NEW_TOKENS)
        assert genai_greedy(out, prompt, NEW_TOKENS) == expected, text


def test_real_smollm2_fused_generates_pytorchs_tokens_in_genai(smollm2: Path, tmp_path: Path) -> None:
    """--optimize O2: each layer's attention one GroupQueryAttention with the rotary inside, the graph as small as
    onnxruntime-genai's builder writes it; genai shares the cache buffer with it and generates PyTorch's tokens."""
    import onnx
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "fused"
    assert main(["export", "onnx", "-m", str(smollm2), str(out), "--optimize", "O2"]) == 0
    graph = onnx.load(str(out / "model.onnx"), load_external_data=False).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("GroupQueryAttention") == 30 and ops.count("SkipSimplifiedLayerNormalization") == 60
    assert len(ops) <= 350, len(ops)  # the builder's graph of SmolLM2: 342 nodes
    written = json.loads((out / "genai_config.json").read_text())
    assert written["search"]["past_present_share_buffer"] is True
    tokenizer = AutoTokenizer.from_pretrained(smollm2)
    model = AutoModelForCausalLM.from_pretrained(smollm2).eval()
    for text in PROMPTS:
        prompt = tokenizer(text).input_ids
        assert genai_greedy(out, prompt, NEW_TOKENS) == torch_greedy(model, prompt, NEW_TOKENS), text


@pytest.mark.parametrize(("model_type", "genai_type"), [("qwen2", "qwen2"), ("bloom", "decoder")])
def test_walk_types_generate_pytorchs_tokens_in_genai(model_type: str, genai_type: str, tmp_path: Path) -> None:
    import transformers
    from tiny_models import save_pt_model

    folder = save_pt_model(transformers.AutoModelForCausalLM, model_type, tmp_path / model_type)
    result = main_export(folder, tmp_path / "onnx", progress=None)
    assert result.task == "causal-lm-with-past" and "genai_config.json" in result.files
    assert json.loads((tmp_path / "onnx" / "genai_config.json").read_text())["model"]["type"] == genai_type
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    prompt = [int(t) for t in np.random.default_rng(0).integers(3, 90, 7)]
    expected = torch_greedy(model, prompt, 12)
    got = genai_greedy(tmp_path / "onnx", prompt, 12)
    assert got[: len(expected)] == expected


def test_real_smollm2_int4_is_judged_by_generation_and_runs_in_genai(
    smollm2: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--optimize O2 --quantize int4 on the real SmolLM2 (the fused graph, quantized): judged by greedy-token agreement
    and a paragraph's perplexity against the float export, and onnxruntime-genai (pointed at model_int4.onnx)
    generates what onnxruntime generates from it. A quantizer whose 4-bit scales are 1.5 times too large fails the
    judgement and publishes nothing."""
    import onnx
    from modelexport_onnx import quantize as quantization
    from modelexport_onnx.config import DecoderOnnxConfig
    from modelexport_onnx.generation import greedy_generate
    from modelexport_onnx.validation import onnx_session
    from onnx import numpy_helper
    from transformers import AutoConfig, AutoTokenizer

    out, report = tmp_path / "int4", tmp_path / "report.json"
    argv = ["--optimize", "O2", "--quantize", "int4", "--report", str(report)]
    assert main(["export", "onnx", "-m", str(smollm2), str(out), *argv]) == 0
    check = json.loads(report.read_text())["quantization"]
    metrics = {output["metric"]: output for output in check["outputs"]}
    assert check["passed"] and set(metrics) == {"greedy", "perplexity"}, check
    assert (
        metrics["greedy"]["count"] >= 64 * 5 and metrics["greedy"]["value"] >= quantization.MIN_GREEDY_AGREEMENT["int4"]
    )
    assert metrics["perplexity"]["value"] <= quantization.MAX_PERPLEXITY_RATIO["int4"]
    print(f"SmolLM2 int4: {check['outputs']}, {check['size_ratio']:.2f}x the float size")
    assert json.loads((out / "genai_config.json").read_text())["model"]["decoder"]["filename"] == "model_int4.onnx"

    prompt = AutoTokenizer.from_pretrained(smollm2)(PROMPTS[0]).input_ids
    config = DecoderOnnxConfig(AutoConfig.from_pretrained(smollm2), "causal-lm-with-past")
    ids = np.asarray([prompt], dtype=np.int64)
    quantized = onnx.load(str(out / "model_int4.onnx"), load_external_data=False).graph.node
    assert sum(node.op_type == "GroupQueryAttention" for node in quantized) == 30
    ours = greedy_generate(onnx_session(out / "model_int4.onnx"), config, ids, np.ones_like(ids), 16, 0)
    assert genai_greedy(out, prompt, 16) == [int(t) for t in ours[0, len(prompt) :]]

    def scales_off(source: Path, target: Path, float_bytes: int, settings: object) -> list[str]:
        files = quantization.quantize_blockwise(source, target, float_bytes, settings)  # type: ignore[arg-type]
        model = onnx.load(str(target))
        for tensor in model.graph.initializer:
            if tensor.name.endswith("_scales") and tensor.data_type == onnx.TensorProto.FLOAT:
                scaled = numpy_helper.to_array(tensor) * np.float32(1.5)
                tensor.CopyFrom(numpy_helper.from_array(scaled, tensor.name))
        onnx.save(model, str(target))
        return files

    monkeypatch.setitem(quantization.SCHEMES, "blockwise", scales_off)
    broken = tmp_path / "broken"
    assert main(["export", "onnx", "-m", str(smollm2), str(broken), "--quantize", "int4"]) == 1
    assert not broken.exists()
