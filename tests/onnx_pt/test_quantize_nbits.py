"""``--quantize int4`` and ``int8``: weight-only MatMulNBits files with the block size and accuracy level asked for,
the LM head kept float when asked, onnxruntime-genai pointed at the quantized graph, the transformers.js names,
and the options refused before loading where they make no sense. The real SmolLM2 is judged by generation and
perplexity in tests/real."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest
import transformers
from modelexport_onnx.quantize import lm_head_nodes
from modelexport_pipeline import run as pipeline_run
from tiny_models import save_pt_model

from modelexport.cli import main


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pt_model(transformers.AutoModelForCausalLM, "llama", tmp_path_factory.mktemp("nbits") / "llama")


def _nbits(path: Path) -> list[dict[str, int]]:
    model = onnx.load(str(path), load_external_data=False)
    return [
        {attribute.name: attribute.i for attribute in node.attribute}
        for node in model.graph.node
        if node.op_type == "MatMulNBits"
    ]


def test_int4_writes_matmulnbits_files_and_genai_reads_them(llama: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    assert (
        main(["export", "onnx", "-m", str(llama), str(tmp_path / "o"), "--quantize", "int4", "--report", str(report)])
        == 0
    )
    nodes = _nbits(tmp_path / "o" / "model_int4.onnx")
    head = [n for n in nodes if n["N"] == 99]  # the vocabulary: the LM head, at 8 bits by default
    body = [n for n in nodes if n["N"] != 99]
    assert len(head) == 1 and head[0]["bits"] == 8
    assert body and all(n["bits"] == 4 and n["block_size"] == 32 and n["accuracy_level"] == 4 for n in body)
    check = json.loads(report.read_text())["quantization"]
    assert check["passed"] and check["mode"] == "int4" and "4-bit, block 32" in check["settings"]
    assert "LM head 8-bit" in check["settings"]
    genai_config = json.loads((tmp_path / "o" / "genai_config.json").read_text())
    assert genai_config["model"]["decoder"]["filename"] == "model_int4.onnx"


def test_int8_with_its_block_size_and_accuracy_level_and_a_float_head(llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    argv = ["--quantize", "int8", "--block-size", "16", "--accuracy-level", "0", "--no-quantize-lm-head"]
    assert main(["export", "onnx", "-m", str(llama), str(out), *argv]) == 0
    nodes = _nbits(out / "model_int8.onnx")
    assert nodes and all(n["bits"] == 8 and n["block_size"] == 16 and n.get("accuracy_level", 0) == 0 for n in nodes)
    assert lm_head_nodes(onnx.load(str(out / "model_int8.onnx"), load_external_data=False))  # the head stayed float


def test_the_lm_head_at_4_bits(llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert main(["export", "onnx", "-m", str(llama), str(out), "--quantize", "int4", "--lm-head-bits", "4"]) == 0
    nodes = _nbits(out / "model_int4.onnx")
    assert nodes and all(n["bits"] == 4 for n in nodes) and any(n["N"] == 99 for n in nodes)


def test_int4_in_the_transformers_js_layout(llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert (
        main(["export", "onnx", "-m", str(llama), str(out), "--quantize", "int4", "--layout", "transformers.js"]) == 0
    )
    assert (out / "onnx" / "model_q4.onnx").is_file() and (out / "onnx" / "model.onnx").is_file()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--quantize", "int4", "--block-size", "48"], "a power of two from 16 to 256"),
        (["--quantize", "int4", "--block-size", "512"], "a power of two from 16 to 256"),
        (["--quantize", "dynamic", "--block-size", "64"], "give --quantize int4 or --quantize int8 (not dynamic)"),
        (["--accuracy-level", "0"], "give --quantize int4 or --quantize int8."),
        (["--no-quantize-lm-head"], "--no-quantize-lm-head set(s) the weight-only quantization"),
        (["--lm-head-bits", "4"], "--lm-head-bits set(s) the weight-only quantization"),
        (["--quantize", "int4", "--lm-head-bits", "4", "--no-quantize-lm-head"], "give one of them"),
        (["--quantize", "int4", "--dtype", "fp16"], "quantizes float32 weights"),
    ],
)
def test_refused_before_loading(
    options: list[str],
    message: str,
    llama: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(pipeline_run, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
    assert main(["export", "onnx", "-m", str(llama), str(tmp_path / "o"), *options]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "o").exists()
