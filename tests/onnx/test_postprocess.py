"""Post-processing on hand-built graphs: dimension names, tied weights, the 2 GB file layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from modelexport_onnx import postprocess as post  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

AXES = {"x": {0: "batch_size", 1: "sequence_length"}, "y": {0: "batch_size", 1: "sequence_length"}}


def tied_model(symbols: tuple[str, str] = ("s18", "s41"), size: int = 4) -> onnx.ModelProto:
    """y = (x @ W1) @ W2 with W1 and W2 identical copies (tied weights), dims named like dynamo does."""
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((size, size)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "tied",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [symbols[0], symbols[1], size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [symbols[0], symbols[1], size])],
        initializer=[numpy_helper.from_array(weight, "w1"), numpy_helper.from_array(weight.copy(), "w2")],
        value_info=[helper.make_tensor_value_info("h", TensorProto.FLOAT, [symbols[0], symbols[1], size])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(path: Path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_dims_are_named_everywhere() -> None:
    model = tied_model()
    renaming = post.name_dynamic_dims(model, AXES)
    assert renaming == {"s18": "batch_size", "s41": "sequence_length"}
    for value in [*model.graph.input, *model.graph.output, *model.graph.value_info]:
        assert [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim] == [
            "batch_size",
            "sequence_length",
            4,
        ]


def test_frozen_axes_are_reported() -> None:
    model = tied_model()
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 16
    assert post.frozen_axes(model, AXES) == ["x[1]=16"]


def test_a_weight_copied_through_identity_is_read_from_the_initializer(tmp_path: Path) -> None:
    """torch's exporter writes an identical constant as an Identity of the first: the consumer then reads the
    initializer itself (onnxruntime's quantizer requires a weight to be one), and the graph computes the same."""
    model = tied_model()
    graph = model.graph
    del graph.initializer[1]
    graph.node.insert(0, helper.make_node("Identity", ["w1"], ["w2"]))
    source = tmp_path / "raw.onnx"
    onnx.save(model, str(source))
    x = np.random.default_rng(1).standard_normal((3, 5, 4)).astype(np.float32)
    expected = run(source, x)
    report = post.postprocess(source, tmp_path / "model.onnx", AXES)
    assert report.removed_initializers == 1
    result = onnx.load(str(tmp_path / "model.onnx"))
    assert [n.op_type for n in result.graph.node] == ["MatMul", "MatMul"]
    assert result.graph.node[1].input[1] == "w1"
    np.testing.assert_array_equal(run(tmp_path / "model.onnx", x), expected)


def test_tied_weights_are_kept_once_and_the_model_still_computes(tmp_path: Path) -> None:
    source = tmp_path / "raw.onnx"
    onnx.save(tied_model(), str(source))
    x = np.random.default_rng(1).standard_normal((3, 5, 4)).astype(np.float32)
    expected = run(source, x)
    report = post.postprocess(source, tmp_path / "model.onnx", AXES)
    assert report.removed_initializers == 1
    result = onnx.load(str(tmp_path / "model.onnx"))
    assert [i.name for i in result.graph.initializer] == ["w1"]
    assert result.graph.node[1].input[1] == "w1"
    np.testing.assert_array_equal(run(tmp_path / "model.onnx", x), expected)


def test_unchanged_file_is_moved_not_rewritten(tmp_path: Path) -> None:
    model = tied_model(("batch_size", "sequence_length"))
    del model.graph.initializer[1]
    model.graph.node[1].input[1] = "w1"
    source = tmp_path / "work" / "raw.onnx"
    source.parent.mkdir()
    onnx.save(model, str(source))
    report = post.postprocess(source, tmp_path / "model.onnx", AXES)
    assert report == post.PostprocessReport({}, 0, None)
    assert not source.exists() and (tmp_path / "model.onnx").exists()


def test_models_over_the_limit_get_one_data_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(post, "MAX_SINGLE_FILE_BYTES", 10)  # stands for protobuf's 2 GiB
    source = tmp_path / "raw.onnx"
    onnx.save(tied_model(size=32), str(source))  # 4 KB weights: above the inline threshold
    out = tmp_path / "out"
    out.mkdir()
    report = post.postprocess(source, out / "model.onnx", AXES)
    assert report.external_data == "model.onnx_data"
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx", "model.onnx_data"]
    x = np.ones((1, 2, 32), dtype=np.float32)
    np.testing.assert_allclose(run(out / "model.onnx", x), run(source, x))


def lm_head_model(vocab: int = 300, hidden: int = 256, head_offset: float = 0.0) -> onnx.ModelProto:
    """logits = embed(ids) @ E.T as TorchScript traces a tied LM head: a Gather of the table ``E`` (vocab x
    hidden) and a MatMul with a second, transposed copy of it (``head_offset`` makes the copy differ)."""
    rng = np.random.default_rng(0)
    table = rng.standard_normal((vocab, hidden)).astype(np.float32)
    head = np.ascontiguousarray(table.T) + np.float32(head_offset)
    nodes = [helper.make_node("Gather", ["table", "ids"], ["h"]), helper.make_node("MatMul", ["h", "head"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "lm",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch_size", "sequence_length"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch_size", "sequence_length", vocab])],
        initializer=[numpy_helper.from_array(table, "table"), numpy_helper.from_array(head, "head")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_a_head_tied_to_the_embedding_transposed_is_stored_once(tmp_path: Path) -> None:
    model = lm_head_model()
    ids = np.array([[1, 7, 299]], dtype=np.int64)
    onnx.save(model, str(tmp_path / "src.onnx"))
    expected = ort.InferenceSession(str(tmp_path / "src.onnx")).run(None, {"ids": ids})[0]
    assert post.tie_transposed_initializers(model) == 1
    assert [t.name for t in model.graph.initializer] == ["table"]
    assert model.graph.node[0].op_type == "Transpose" and list(model.graph.node[0].output) == ["head"]
    onnx.checker.check_model(model)
    onnx.save(model, str(tmp_path / "tied.onnx"))
    assert (tmp_path / "tied.onnx").stat().st_size < (tmp_path / "src.onnx").stat().st_size * 0.55
    np.testing.assert_array_equal(
        ort.InferenceSession(str(tmp_path / "tied.onnx")).run(None, {"ids": ids})[0], expected
    )


def test_a_head_that_only_looks_tied_is_kept() -> None:
    """Same shapes, transposed, but one value apart: two weights, both kept."""
    model = lm_head_model()
    head = next(t for t in model.graph.initializer if t.name == "head")
    values = numpy_helper.to_array(head).copy()
    values[3, 5] += 1e-6
    head.CopyFrom(numpy_helper.from_array(values, "head"))
    assert post.tie_transposed_initializers(model) == 0
    assert len(model.graph.initializer) == 2
    assert post.tie_transposed_initializers(lm_head_model(head_offset=1.0)) == 0
