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
