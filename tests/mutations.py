"""Mutations of exported ONNX graphs: the bugs an exporter could make, applied to real exports.

Validation must fail on every one of them with default options: a check that passes a correct
export is only half the proof, the other half is that it fails a wrong one. Each mutation finds
its target by the structure of the graph (which tensors feed which nodes) and by the model's
config, so it works on TorchScript and dynamo graphs alike, and says what it changed; where a
graph has no such target (no rotary table in a BERT) it raises :class:`NotApplicable`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper


class NotApplicable(LookupError):
    """The graph has nothing this mutation can change."""


class Graph:
    """An ONNX model with the maps mutations need: constants, producers and consumers of each tensor."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.graph = model.graph
        self.initializers = {i.name: i for i in self.graph.initializer}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for node in self.graph.node:
            for name in node.output:
                self.producer[name] = node
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def constant(self, name: str) -> np.ndarray | None:
        """The value of a tensor that is an initializer or a ``Constant`` node's output."""
        if name in self.initializers:
            return numpy_helper.to_array(self.initializers[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            for attribute in node.attribute:
                if attribute.name == "value":
                    return numpy_helper.to_array(attribute.t)
        return None

    def set_constant(self, name: str, value: np.ndarray) -> None:
        if name in self.initializers:
            self.initializers[name].CopyFrom(numpy_helper.from_array(value, name))
            return
        node = self.producer[name]
        for attribute in node.attribute:
            if attribute.name == "value":
                attribute.t.CopyFrom(numpy_helper.from_array(value))
                return
        raise KeyError(name)

    def constants(self) -> list[tuple[str, np.ndarray]]:
        """Every constant tensor, in graph order (initializers first)."""
        found = [(name, numpy_helper.to_array(tensor)) for name, tensor in self.initializers.items()]
        for node in self.graph.node:
            if node.op_type == "Constant":
                value = self.constant(node.output[0])
                if value is not None:
                    found.append((node.output[0], value))
        return found

    def uses(self, name: str) -> list[onnx.NodeProto]:
        """The nodes that use a tensor, looking through casts (an RMS norm casts its input first)."""
        found = []
        for node in self.consumers.get(name, []):
            found += self.uses(node.output[0]) if node.op_type in ("Cast", "Identity") else [node]
        return found

    def float_ranks(self) -> dict[str, int]:
        """The rank of every float tensor whose type shape inference can tell."""
        inferred = onnx.shape_inference.infer_shapes(self.model).graph
        ranks = {}
        for value in [*inferred.value_info, *inferred.input, *inferred.output]:
            tensor_type = value.type.tensor_type
            if tensor_type.elem_type == onnx.TensorProto.FLOAT and tensor_type.HasField("shape"):
                ranks[value.name] = len(tensor_type.shape.dim)
        return ranks

    def is_constant(self, name: str) -> bool:
        return name in self.initializers or getattr(self.producer.get(name), "op_type", None) == "Constant"

    def rename_everywhere(self, old: str, new: str) -> None:
        for node in self.graph.node:
            node.input[:] = [new if n == old else n for n in node.input]
            node.output[:] = [new if n == old else n for n in node.output]


def _config_value(config: Any, *names: str) -> Any:
    for name in names:
        value = getattr(config, name, None)
        if value is None and isinstance(getattr(config, "rope_parameters", None), dict):
            value = config.rope_parameters.get(name)
        if value is not None:
            return value
    return None


def _middle(items: list[Any], what: str) -> Any:
    if not items:
        raise NotApplicable(f"no {what}")
    return items[len(items) // 2]


#: Single-node norms (opset 17's layer norm; onnxruntime's fused ones after --optimize).
NORM_OPS = frozenset({"LayerNormalization", "SimplifiedLayerNormalization", "RMSNormalization"})


def dropped_residual_branch(graph: Graph, config: Any) -> str:
    """A residual ``x + f(x)`` of a middle layer returns ``x`` alone (the branch ``f`` is lost).

    Residual adds are recognised as adds of two computed float tensors of hidden states (rank 3, or 4
    for convolutional maps) where the stream ``x`` also feeds something else (the next norm) and so
    does the sum (the next layer's norm and residual), or the sum goes into a norm operator (a post-norm
    layer at opset 17+, where the norm is one ``LayerNormalization`` node).
    """
    ranks = graph.float_ranks()
    candidates = []
    for node in graph.graph.node:
        if node.op_type != "Add" or any(graph.is_constant(i) for i in node.input):
            continue
        if not all(ranks.get(i) in (3, 4) for i in [*node.input, node.output[0]]):
            continue
        shared = [i for i in node.input if len(graph.uses(i)) >= 2]
        sum_uses = graph.uses(node.output[0])
        if shared and (len(sum_uses) >= 2 or any(use.op_type in NORM_OPS for use in sum_uses)):
            candidates.append((node, shared[0]))
    node, stream = _middle(candidates, "residual add")
    node.op_type = "Identity"
    node.input[:] = [stream]
    return f"{node.name or node.output[0]}: x + f(x) -> x"


def rotary_base_off(graph: Graph, config: Any) -> str:
    """The rotary embedding's base (theta) 10 % too large: every position's angles drift."""
    theta = _config_value(config, "rope_theta")
    head_dim = _config_value(config, "head_dim") or (
        _config_value(config, "hidden_size") // _config_value(config, "num_attention_heads")
        if _config_value(config, "hidden_size")
        else None
    )
    if theta is None or head_dim is None:
        raise NotApplicable("no rotary embedding in the config")
    exponents = np.arange(0, head_dim, 2, dtype=np.float64) / head_dim
    expected = 1.0 / theta**exponents
    for name, value in graph.constants():
        matches = value.size == expected.size and value.dtype.kind == "f"
        if matches and np.allclose(value.reshape(-1), expected, rtol=1e-5):
            graph.set_constant(name, (1.0 / (1.1 * theta) ** exponents).astype(value.dtype).reshape(value.shape))
            return f"{name}: inverse frequencies of base {theta:g} -> {1.1 * theta:g}"
    raise NotApplicable("no inverse-frequency table in the graph")


#: The wrong epsilon of :func:`norm_epsilon_raised`. A wrong epsilon only matters against the variance of
#: what is normalised (~1): BERT's 1e-12 made 1e-10 changes no float32 output at all, so it would be no
#: bug to catch. 1e-3 changes outputs by ~1e-4 relative: small, but a real change.
WRONG_EPSILON = 1e-3


def norm_epsilon_raised(graph: Graph, config: Any) -> str:
    """Every layer norm's epsilon raised to :data:`WRONG_EPSILON` (a wrong constant in the exporter)."""
    eps = _config_value(config, "layer_norm_eps", "rms_norm_eps", "layer_norm_epsilon") or 1e-5
    factor = WRONG_EPSILON / eps
    changed = 0
    for node in graph.graph.node:
        if node.op_type in ("LayerNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization"):
            for attribute in node.attribute:
                if attribute.name == "epsilon" and np.isclose(attribute.f, eps, rtol=1e-3):
                    attribute.f *= factor
                    changed += 1
        elif node.op_type == "Add" and any(c.op_type == "Sqrt" for c in graph.consumers.get(node.output[0], [])):
            for name in node.input:
                value = graph.constant(name)
                if value is not None and value.size == 1 and np.isclose(float(value.reshape(-1)[0]), eps, rtol=1e-3):
                    graph.set_constant(name, (value * factor).astype(value.dtype))
                    changed += 1
    if not changed:
        raise NotApplicable(f"no layer-norm epsilon {eps:g}")
    return f"{changed} layer-norm epsilons {eps:g} -> {eps * factor:g}"


def _projection_weights(graph: Graph) -> list[tuple[str, int]]:
    """Weights of attention input projections (query, key, value): a MatMul or Gemm on a 2-D constant
    whose result, after an optional bias, is reshaped into heads. With the axis of their outputs."""
    found = []
    for node in graph.graph.node:
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
            continue
        weight, axis = node.input[1], 1
        producer = graph.producer.get(weight)
        if producer is not None and producer.op_type == "Transpose" and graph.is_constant(producer.input[0]):
            weight, axis = producer.input[0], 0
        if node.op_type == "Gemm" and any(a.name == "transB" and a.i == 1 for a in node.attribute):
            axis = 0
        value = graph.constant(weight)
        if value is None or value.ndim != 2:
            continue
        following = graph.consumers.get(node.output[0], [])
        if following and following[0].op_type == "Add" and len(following) == 1:
            following = graph.consumers.get(following[0].output[0], [])
        if any(c.op_type == "Reshape" for c in following):
            found.append((weight, axis))
    return found


def swapped_heads(graph: Graph, config: Any) -> str:
    """Two heads of a middle layer's attention projection swap places."""
    heads = _config_value(config, "num_attention_heads", "encoder_attention_heads", "num_heads")
    weight, axis = _middle(_projection_weights(graph), "attention projection")
    value = graph.constant(weight)
    assert value is not None
    width = value.shape[axis]
    head_dim = _config_value(config, "head_dim", "d_kv") or width // heads
    if width % head_dim or width // head_dim < 2:
        raise NotApplicable(f"{weight} of width {width} is not made of heads of {head_dim}")
    order = np.arange(width)
    order[:head_dim], order[head_dim : 2 * head_dim] = order[head_dim : 2 * head_dim].copy(), order[:head_dim].copy()
    graph.set_constant(weight, np.take(value, order, axis=axis))
    return f"{weight}: heads 0 and 1 swapped"


def shifted_positions(graph: Graph, config: Any) -> str:
    """Every position off by one: ``position_ids + 1``, or the position-embedding table read one row on."""
    if any(i.name == "position_ids" for i in graph.graph.input):
        shifted = "position_ids_shifted_by_one"
        one = helper.make_tensor("position_shift_one", onnx.TensorProto.INT64, [], [1])
        graph.graph.initializer.append(one)
        for node in graph.graph.node:
            node.input[:] = [shifted if n == "position_ids" else n for n in node.input]
        graph.graph.node.insert(0, helper.make_node("Add", ["position_ids", one.name], [shifted]))
        return "position_ids + 1"
    hidden = _config_value(config, "hidden_size", "d_model")
    lengths = {
        _config_value(config, name)
        for name in ("max_position_embeddings", "max_source_positions", "max_target_positions")
    }
    tables = []
    for name, value in graph.constants():
        if value.ndim in (2, 3) and value.shape[-1] == hidden and value.dtype.kind == "f":
            rows = value.shape[-2]
            # vision: a square grid of patches, after a class token or split from it by constant folding
            square = any(round(r**0.5) ** 2 == r for r in (rows, rows - 1)) and rows > 4
            if rows in lengths or (value.ndim == 3 and value.shape[0] == 1 and square):
                tables.append(name)
    if not tables:
        raise NotApplicable("no position input or position-embedding table")
    for name in tables:
        value = graph.constant(name)
        assert value is not None
        graph.set_constant(name, np.roll(value, -1, axis=-2))
    return f"{', '.join(tables)}: rows rolled by one position"


def cache_to_wrong_layer(graph: Graph, config: Any) -> str:
    """The keys a middle layer returns for the cache are written under the next layer's name."""
    present = [o.name for o in graph.graph.output if o.name.startswith("present.") and o.name.endswith(".key")]
    decoder = [name for name in present if ".encoder." not in name]
    if len(decoder) < 2:
        raise NotApplicable("no cache outputs")
    first = decoder[len(decoder) // 2 - 1]
    second = decoder[len(decoder) // 2]
    graph.rename_everywhere(first, "__swap__")
    graph.rename_everywhere(second, first)
    graph.rename_everywhere("__swap__", second)
    return f"{first} <-> {second}"


def _matmul_weights(graph: Graph) -> list[tuple[str, np.ndarray]]:
    """Every float32 weight matrix a MatMul or Gemm multiplies by (directly or through a Transpose)."""
    found: dict[str, np.ndarray] = {}
    for node in graph.graph.node:
        if node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
            continue
        weight = node.input[1]
        producer = graph.producer.get(weight)
        if producer is not None and producer.op_type == "Transpose":
            weight = producer.input[0]
        value = graph.constant(weight)
        if value is not None and value.ndim == 2 and value.dtype == np.float32 and min(value.shape) > 16:
            found.setdefault(weight, value)
    return list(found.items())


def perturbed_weight(graph: Graph, config: Any, relative: float = 1e-3) -> str:
    """A middle layer's weight matrix (of the most common large size) gets noise of ``relative`` times its spread."""
    weights = _matmul_weights(graph)
    if not weights:
        raise NotApplicable("no weight matrices")
    sizes = [v.size for _, v in weights]
    common = max(set(sizes), key=lambda size: (sizes.count(size), size))
    name, value = _middle([(n, v) for n, v in weights if v.size == common], "weight")
    noise = np.random.default_rng(0).standard_normal(value.shape) * relative * float(value.std())
    graph.set_constant(name, (value + noise).astype(np.float32))
    return f"{name} {list(value.shape)}: + N(0, ({relative:g} x its std)^2)"


def perturbed_conv_weight(graph: Graph, config: Any, relative: float = 1e-3) -> str:
    """The largest convolution kernel (a vocoder's, in speech synthesis) gets noise of ``relative`` times its spread.

    Not in :data:`MUTATIONS` (transformer checkpoints are checked through their weight matrices); for models
    made of convolutions."""
    kernels: dict[str, np.ndarray] = {}
    for node in graph.graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and len(node.input) > 1:
            value = graph.constant(node.input[1])
            if value is not None and value.dtype == np.float32:
                kernels.setdefault(node.input[1], value)
    if not kernels:
        raise NotApplicable("no convolution kernels")
    name, value = max(kernels.items(), key=lambda item: (item[1].size, item[0]))
    noise = np.random.default_rng(0).standard_normal(value.shape) * relative * float(value.std())
    graph.set_constant(name, (value + noise).astype(np.float32))
    return f"{name} {list(value.shape)}: + N(0, ({relative:g} x its std)^2)"


@dataclass(frozen=True)
class Mutation:
    name: str
    apply: Callable[[Graph, Any], str]


MUTATIONS: tuple[Mutation, ...] = (
    Mutation("dropped residual branch", dropped_residual_branch),
    Mutation("rotary base +10%", rotary_base_off),
    Mutation("layer-norm epsilon raised to 1e-3", norm_epsilon_raised),
    Mutation("two attention heads swapped", swapped_heads),
    Mutation("positions shifted by one", shifted_positions),
    Mutation("cache written to the wrong layer", cache_to_wrong_layer),
    Mutation("weight perturbed by 1e-3 of its scale", perturbed_weight),
)


def mutate(model: onnx.ModelProto, mutation: Mutation, config: Mapping[str, Any] | Any) -> tuple[onnx.ModelProto, str]:
    """A mutated copy of ``model`` and what changed (:class:`NotApplicable` when nothing could)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    what = mutation.apply(Graph(copy), config)
    return copy, what
