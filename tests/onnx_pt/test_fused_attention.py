"""--optimize O2 on a decoder with its cache: each layer's attention one onnxruntime GroupQueryAttention.

Every export here is validated (a right-padded prompt and a cached step, against PyTorch's own attention) and
greedy-checked, so a fusion that computes another attention fails the export; the tests add the graph's shape,
the families' variants (rotary inside or not, sliding window, key/value heads), the refusals that
keep the plain graph with the reason said, and that a wrong fusion is caught.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
import transformers
from modelexport_core import TasksManager
from modelexport_onnx.converters.pt import fused_attention
from modelexport_onnx.generation import GenerationCheck, greedy_generate
from modelexport_onnx.main_export import main_export
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.errors import ValidationError

if int(transformers.__version__.split(".")[0]) < 5:
    # transformers 4.x decoders export through dynamo (their masks use torch.vmap, which TorchScript cannot trace):
    # the fused attention is traced by TorchScript, and says so (tested in the pt session)
    pytest.skip("decoders of transformers 4.x export through dynamo", allow_module_level=True)

#: Heads of 16 (onnxruntime's kernel takes multiples of 16), grouped 4 over 2, two layers.
SIZES: dict[str, Any] = {
    "vocab_size": 99,
    "hidden_size": 64,
    "intermediate_size": 37,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 128,
}


def _save(config: Any, directory: Path) -> Path:
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).eval().save_pretrained(directory)
    return directory


def _ops(path: Path) -> Counter[str]:
    return Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


def _attention_nodes(path: Path) -> list[Any]:
    return [n for n in onnx.load(str(path), load_external_data=False).graph.node if n.op_type == "GroupQueryAttention"]


def _attribute(node: Any, name: str) -> Any:
    return next((onnx.helper.get_attribute_value(a) for a in node.attribute if a.name == name), None)


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _save(transformers.LlamaConfig(**SIZES), tmp_path_factory.mktemp("fused") / "llama")


def test_a_llama_fuses_with_its_rotary_inside(llama: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    result = main_export(llama, tmp_path / "onnx", optimize="O2", progress=lines.append)
    assert result.task == "causal-lm-with-past" and result.validation.passed, result.validation.summary()
    graph = tmp_path / "onnx" / "model.onnx"
    nodes = _attention_nodes(graph)
    assert len(nodes) == SIZES["num_hidden_layers"]
    assert all(_attribute(n, "do_rotary") == 1 and _attribute(n, "kv_num_heads") == 2 for n in nodes)
    ops = _ops(graph)
    assert "Softmax" not in ops and ops["SkipSimplifiedLayerNormalization"] == 2 * SIZES["num_hidden_layers"]
    assert "attention fused: 2 GroupQueryAttention (rotary inside)" in next(x for x in lines if x.startswith("[5/7]"))
    # validated on what the operator is defined on: a prompt without a cache, a step after one
    names = {check.name.split(":")[0] for check in result.validation.outputs}
    assert names == {"prompt", "step"}
    generation = result.validation.check_of(GenerationCheck)
    assert generation is not None and generation.passed
    # onnxruntime-genai shares the cache buffer with the operator, and feeds no positions (the operator counts them)
    genai = json.loads((tmp_path / "onnx" / "genai_config.json").read_text())
    assert genai["search"]["past_present_share_buffer"] is True
    assert "position_ids" not in genai["model"]["decoder"]["inputs"]
    assert "position_ids" not in {i.name for i in onnx.load(str(graph), load_external_data=False).graph.input}


def test_the_fused_graph_generates_pytorchs_tokens_step_by_step(llama: Path, tmp_path: Path) -> None:
    """Twenty greedy tokens (the export checks eight), one prompt at a time as onnxruntime-genai feeds them."""
    main_export(llama, tmp_path / "onnx", optimize="O2", generation_check=False, progress=None)
    model = transformers.AutoModelForCausalLM.from_pretrained(llama).eval()
    session = onnx_session(tmp_path / "onnx" / "model.onnx")
    config = TasksManager.get_exporter_config_constructor("onnx", task="causal-lm-with-past", model_type="llama")(
        model.config
    )
    prompt = np.array([[5, 17, 42, 8, 23, 61, 7]], dtype=np.int64)
    mask = np.ones_like(prompt)
    produced = greedy_generate(session, config, prompt, mask, 20, 0)
    with torch.inference_mode():
        expected = model.generate(
            torch.from_numpy(prompt),
            attention_mask=torch.from_numpy(mask),
            max_new_tokens=20,
            min_new_tokens=20,
            do_sample=False,
            pad_token_id=0,
        )
    assert produced.tolist() == expected.tolist()


@pytest.mark.parametrize(
    ("model_type", "extra"),
    [
        # a window shorter than the validated sequences (11 tokens, 8 cached): the window's edge is checked
        ("mistral", {"sliding_window": 4}),
        ("gemma2", {"sliding_window": 4, "attn_logit_softcapping": None, "query_pre_attn_scalar": 20, "head_dim": 16}),
        ("qwen3", {"head_dim": 16}),  # query and key norms before the rotation
        ("gpt2", {}),  # no rotary embedding, biased projections, multi-head
    ],
)
def test_families_variants_fuse_and_validate(model_type: str, extra: dict[str, Any], tmp_path: Path) -> None:
    sizes = dict(SIZES)
    if model_type == "gpt2":
        sizes = {"vocab_size": 99, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128}
    config = transformers.AutoConfig.for_model(model_type, **sizes, **extra)
    folder = _save(config, tmp_path / model_type)
    result = main_export(folder, tmp_path / "onnx", optimize="O2", progress=None)
    assert result.validation.passed, result.validation.summary()
    generation = result.validation.check_of(GenerationCheck)
    assert generation is not None and generation.passed
    nodes = _attention_nodes(tmp_path / "onnx" / "model.onnx")
    assert len(nodes) == 2
    if extra.get("sliding_window", 64) < 64:
        windows = {_attribute(n, "local_window_size") for n in nodes}
        assert windows & {extra["sliding_window"]}, windows
    if model_type == "gpt2":
        assert all(_attribute(n, "do_rotary") in (None, 0) for n in nodes)


def test_a_window_with_a_softcap_keeps_the_plain_graph(tmp_path: Path) -> None:
    """onnxruntime's kernel caps the logits after masking the window (validated 0.2 off on gemma2's logits)."""
    extra = {"sliding_window": 4, "attn_logit_softcapping": 5.0, "head_dim": 16}
    folder = _save(transformers.AutoConfig.for_model("gemma2", **SIZES, **extra), tmp_path / "gemma2")
    lines: list[str] = []
    result = main_export(folder, tmp_path / "onnx", optimize="O2", progress=lines.append)
    assert result.validation.passed and not _attention_nodes(tmp_path / "onnx" / "model.onnx")
    assert "attention not fused (a sliding window with a logit softcap" in next(
        x for x in lines if x.startswith("[5/7]")
    )


def test_heads_the_kernel_cannot_compute_keep_the_plain_graph_and_say_why(tmp_path: Path) -> None:
    config = transformers.LlamaConfig(**{**SIZES, "hidden_size": 32})  # heads of 8
    folder = _save(config, tmp_path / "llama8")
    lines: list[str] = []
    result = main_export(folder, tmp_path / "onnx", optimize="O2", progress=lines.append)
    assert result.validation.passed
    assert not _attention_nodes(tmp_path / "onnx" / "model.onnx")
    step5 = next(x for x in lines if x.startswith("[5/7]"))
    assert "attention not fused (heads of 8: onnxruntime's GroupQueryAttention takes multiples of 16)" in step5


def test_a_wrong_fusion_fails_validation(llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator given another scale than the family's computes another attention: the export fails, and
    nothing is written."""
    real = fused_attention._symbolic

    def wrong_scale(g: Any, *values: Any) -> Any:
        outputs = real(g, *values)
        node = outputs[0].node()
        node.f_("scale", node.f("scale") * 1.5)
        return outputs

    monkeypatch.setattr(fused_attention, "_symbolic", wrong_scale)
    monkeypatch.setattr(fused_attention, "_registered", False)
    try:
        with pytest.raises(ValidationError):
            main_export(llama, tmp_path / "onnx", optimize="O2", progress=None)
    finally:
        torch.onnx.unregister_custom_op_symbolic(fused_attention.OPERATOR, 1)
        monkeypatch.undo()
        fused_attention._registered = False
    assert not (tmp_path / "onnx").exists()


def test_a_dry_run_that_differs_refuses_before_tracing(
    llama: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A family whose code around the attention call the fused path would change: refused in PyTorch first."""
    real = fused_attention.group_query_attention

    def off(*args: Any) -> Any:
        output, key, value = real(*args)
        return output * 1.01, key, value

    monkeypatch.setattr(fused_attention, "group_query_attention", off)
    lines: list[str] = []
    result = main_export(llama, tmp_path / "onnx", optimize="O2", progress=lines.append)
    assert result.validation.passed and not _attention_nodes(tmp_path / "onnx" / "model.onnx")
    assert "the fused path differs from the model's attention on logits" in next(
        x for x in lines if x.startswith("[5/7]")
    )


def test_the_model_is_left_as_it_was(llama: Path) -> None:
    model = transformers.AutoModelForCausalLM.from_pretrained(llama).eval()
    import transformers.models.llama.modeling_llama as modeling

    rotation = modeling.apply_rotary_pos_emb
    with fused_attention.fused_path(model):
        assert model.config._attn_implementation == fused_attention.IMPLEMENTATION
        assert modeling.apply_rotary_pos_emb is not rotation
    assert model.config._attn_implementation == "sdpa" and modeling.apply_rotary_pos_emb is rotation
    assert fused_attention.active() is None


def test_the_graph_around_the_operator_is_as_small_as_the_builders(llama: Path, tmp_path: Path) -> None:
    """No reshape into heads and back around the operator, one packed projection for query, key and value."""
    main_export(llama, tmp_path / "onnx", optimize="O2", generation_check=False, progress=None)
    graph = onnx.load(str(tmp_path / "onnx" / "model.onnx"), load_external_data=False).graph
    producers = {output: node for node in graph.node for output in node.output}
    for node in [n for n in graph.node if n.op_type == "GroupQueryAttention"]:
        assert list(node.input[1:3]) == ["", ""]  # key and value packed with the query
        assert producers[node.input[0]].op_type == "MatMul"
        consumer = next(n for n in graph.node if node.output[0] in n.input)
        assert consumer.op_type == "MatMul"  # straight into the output projection
    assert not any(n.op_type in ("Reshape", "Transpose") for n in graph.node)
    assert sum(n.op_type == "Shape" for n in graph.node) == 1  # the mask's width: the operator's total length


def test_a_transposed_copy_of_a_weight_is_tied_again(tmp_path: Path) -> None:
    """onnxruntime's constant folding writes a tied head's transposed table as a second weight: tied again, the
    file holds it once and computes the same."""
    from modelexport_onnx.optimize import RETIE_MIN_ELEMENTS, _retie_transposed
    from onnx import TensorProto, helper, numpy_helper

    rows, cols = 1024, RETIE_MIN_ELEMENTS // 1024
    table = np.random.default_rng(0).standard_normal((rows, cols)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["embedded"]),
            helper.make_node("MatMul", ["embedded", "head"], ["logits"]),
        ],
        "tied",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["n"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", rows])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(table.T.copy(), "head")],
    )
    path = tmp_path / "tied.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    ids = np.array([3, 7], dtype=np.int64)
    before = onnx_session(path).run(None, {"ids": ids})[0]
    model = onnx.load(str(path))
    assert _retie_transposed(model) == 1
    onnx.save(model, str(path))
    assert [t.name for t in model.graph.initializer] == ["table"] and model.graph.node[0].op_type == "Transpose"
    assert np.array_equal(onnx_session(path).run(None, {"ids": ids})[0], before)
    different = table.T.copy()
    different[0, 0] += 1  # a weight that is not the transpose stays
    graph.initializer[1].CopyFrom(numpy_helper.from_array(different, "head"))
    assert _retie_transposed(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])) == 0
