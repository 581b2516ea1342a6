"""Weights held by several files of one export, stored once: on hand-built graphs run in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from modelexport_onnx.shared_weights import SHARED_DATA_NAME, share_weights  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

SIZE = 32  # a 32 x 32 float matrix: 4 KiB, above the sharing threshold
RNG = np.random.default_rng(0)
SHARED = RNG.standard_normal((SIZE, SIZE)).astype(np.float32)


def two_matmuls(first: np.ndarray, second: np.ndarray, names: tuple[str, str] = ("w1", "w2")) -> onnx.ModelProto:
    """y = (x @ first) @ second; the initializers named ``names``."""
    nodes = [helper.make_node("MatMul", ["x", names[0]], ["h"]), helper.make_node("MatMul", ["h", names[1]], ["y"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", SIZE])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", SIZE])],
        initializer=[numpy_helper.from_array(first, names[0]), numpy_helper.from_array(second, names[1])],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def run(path: Path) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": np.ones((2, SIZE), np.float32)})[0]


def write(directory: Path, models: dict[str, onnx.ModelProto]) -> dict[str, np.ndarray]:
    """Save the models as ``<name>.onnx``; their outputs before any sharing."""
    for name, model in models.items():
        onnx.save(model, str(directory / f"{name}.onnx"))
    return {name: run(directory / f"{name}.onnx") for name in models}


def total_bytes(directory: Path) -> int:
    return sum(path.stat().st_size for path in directory.iterdir())


def test_a_weight_in_two_files_is_stored_once_and_both_files_compute_as_before(tmp_path: Path) -> None:
    own = RNG.standard_normal((SIZE, SIZE)).astype(np.float32)
    other = RNG.standard_normal((SIZE, SIZE)).astype(np.float32)
    before = write(
        tmp_path,
        {
            "decoder_model": two_matmuls(SHARED, own),
            # the same matrix under another name, as a second conversion of the module names it
            "decoder_with_past_model": two_matmuls(SHARED.copy(), other, names=("onnx::MatMul_7", "w2")),
        },
    )
    size_before = total_bytes(tmp_path)

    result = share_weights(tmp_path, ["decoder_model", "decoder_with_past_model"])

    assert (result.data_file, result.tensors, result.saved_bytes) == (SHARED_DATA_NAME, 1, SHARED.nbytes)
    for name, expected in before.items():
        np.testing.assert_array_equal(run(tmp_path / f"{name}.onnx"), expected)
    loaded = {name: onnx.load(str(tmp_path / f"{name}.onnx"), load_external_data=False) for name in before}
    shared = [loaded["decoder_model"].graph.initializer[0], loaded["decoder_with_past_model"].graph.initializer[0]]
    assert [t.data_location for t in shared] == [TensorProto.EXTERNAL] * 2
    assert shared[0].external_data == shared[1].external_data  # one place in the data file
    assert all(m.graph.initializer[1].data_location == TensorProto.DEFAULT for m in loaded.values())  # own weights
    assert (tmp_path / SHARED_DATA_NAME).stat().st_size == SHARED.nbytes
    assert total_bytes(tmp_path) < size_before - SHARED.nbytes * 0.9


def test_same_names_other_bytes_are_not_shared(tmp_path: Path) -> None:
    changed = SHARED.copy()
    changed[3, 5] += 1e-3  # one value apart: the two files must keep their own matrices
    before = write(
        tmp_path,
        {
            "a": two_matmuls(SHARED, np.eye(SIZE, dtype=np.float32)),
            "b": two_matmuls(changed, np.eye(SIZE, dtype=np.float32) * 2),
        },
    )
    assert share_weights(tmp_path, ["a", "b"]).data_file is None
    assert not (tmp_path / SHARED_DATA_NAME).exists()
    assert not np.array_equal(before["a"], before["b"])
    for name, expected in before.items():
        np.testing.assert_array_equal(run(tmp_path / f"{name}.onnx"), expected)


def test_files_with_their_own_data_files_are_left_alone(tmp_path: Path) -> None:
    """Files over protobuf's limit already keep weights in data files of their own: not rewritten."""
    onnx.save(two_matmuls(SHARED, SHARED), str(tmp_path / "a.onnx"), save_as_external_data=True, location="a.onnx_data")
    write(tmp_path, {"b": two_matmuls(SHARED, SHARED)})
    stamps = {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()}
    assert share_weights(tmp_path, ["a", "b"]).data_file is None
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.iterdir()} == stamps


def test_one_file_is_not_rewritten(tmp_path: Path) -> None:
    write(tmp_path, {"model": two_matmuls(SHARED, SHARED.copy())})
    assert share_weights(tmp_path, ["model"]).data_file is None
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
