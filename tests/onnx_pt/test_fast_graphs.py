"""Graphs that run fast: eager attention traced in place of SDPA, opset 17, and --optimize O2's fusions.

Each export here is validated against PyTorch (step 6), so a fusion or a traced path that changed the
numbers fails the export; the tests add what makes the graph fast and that the model is left as it was.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import transformers
from modelexport_core import TasksManager
from modelexport_onnx.converters.pt.attention import eager_attention
from modelexport_onnx.generation import GenerationCheck
from modelexport_onnx.main_export import main_export
from modelexport_onnx.optimize import optimize_model
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.errors import ValidationError
from tiny_models import save_pt_model


def _ops(path: Path) -> Counter[str]:
    return Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pt_model(transformers.AutoModel, "bert", tmp_path_factory.mktemp("bert"))


def test_sdpa_models_trace_eager_attention_and_keep_sdpa(bert: Path, tmp_path: Path) -> None:
    model = transformers.AutoModel.from_pretrained(bert).eval()
    if not model._can_set_attn_implementation():
        pytest.skip("this transformers picks BERT's attention class when it builds the model (4.x)")
    assert model.config._attn_implementation == "sdpa"
    with eager_attention(model):
        assert model.config._attn_implementation == "eager"
    assert model.config._attn_implementation == "sdpa"

    result = main_export(str(bert), tmp_path / "out", progress=None)
    ops = _ops(tmp_path / "out" / "model.onnx")
    # SDPA traced by TorchScript masks with Where(IsNaN(softmax)); eager attention adds the mask instead
    assert "IsNaN" not in ops and ops["Softmax"] == model.config.num_hidden_layers
    # opset 17: each layer norm one node
    assert ops["LayerNormalization"] == 2 * model.config.num_hidden_layers + 1
    assert result.validation.passed


def test_o2_fuses_an_encoder_and_validates_it(bert: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    result = main_export(str(bert), tmp_path / "out", optimize="O2", progress=lines.append)
    layers = transformers.AutoConfig.from_pretrained(bert).num_hidden_layers
    ops = _ops(tmp_path / "out" / "model.onnx")
    assert ops["Attention"] == layers and ops["SkipLayerNormalization"] == 2 * layers
    assert ops["EmbedLayerNormalization"] == 1 and "Softmax" not in ops
    step5 = next(line for line in lines if line.startswith("[5/7]"))
    assert f"-> {sum(ops.values())} nodes ({layers} Attention" in step5, step5
    assert result.validation.passed


def test_o2_fuses_a_decoders_rms_norms_and_generates_the_same_tokens(llama: Path, tmp_path: Path) -> None:
    result = main_export(str(llama), tmp_path / "out", task="causal-lm-with-past", optimize="O2", progress=None)
    layers = transformers.AutoConfig.from_pretrained(llama).num_hidden_layers
    ops = _ops(tmp_path / "out" / "model.onnx")
    assert ops["SimplifiedLayerNormalization"] + ops["SkipSimplifiedLayerNormalization"] == 2 * layers + 1
    generation = result.validation.check_of(GenerationCheck)
    assert generation is not None and generation.passed


def test_a_graph_nothing_fuses_in_says_so(tmp_path: Path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    path = tmp_path / "model.onnx"
    torch.onnx.export(model, (torch.zeros(1, 4),), str(path), input_names=["x"], dynamo=False)
    config = TasksManager.get_exporter_config_constructor("onnx", task="default", model_type="bert")(
        transformers.BertConfig(hidden_size=4, num_attention_heads=1)
    )
    report = optimize_model(path, "O2", config)
    assert not report.fused and "nothing fused" in report.describe()
    x = np.ones((1, 4), np.float32)
    assert np.allclose(onnx_session(path).run(None, {"x": x})[0], model(torch.from_numpy(x)).detach().numpy())


def test_a_wrong_fusion_fails_validation(bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fused graph is what step 6 validates: a fusion that computed another attention (here its bias
    off by a little) fails the export instead of shipping."""
    import modelexport_onnx.optimize as optimize
    from onnx import numpy_helper

    real_fuse = optimize._fuse

    def off_by_a_little(path: Path, config: object) -> dict[str, int]:
        counts = real_fuse(path, config)  # type: ignore[arg-type]
        model = onnx.load(str(path))
        bias = next(node.input[2] for node in model.graph.node if node.op_type == "Attention")
        tensor = next(t for t in model.graph.initializer if t.name == bias)
        tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) + 0.05, bias))
        onnx.save(model, str(path))
        return counts

    monkeypatch.setattr(optimize, "_fuse", off_by_a_little)
    with pytest.raises(ValidationError, match="differ"):
        main_export(str(bert), tmp_path / "out", optimize="O2", progress=None)
    assert not (tmp_path / "out").exists()
