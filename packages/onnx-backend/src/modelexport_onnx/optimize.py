"""Optional graph optimization with onnxruntime (``--optimize O1|O2|O3``), before validation.

- O1: onnxruntime's basic, provider-independent rewrites (constant folding, redundant nodes).
- O2: O1, then onnxruntime's transformer fusions (``onnxruntime.transformers.optimizer``): attention,
  embedding and skip layer norm, bias GELU for encoders; RMS norm (simplified layer norm), skip RMS norm,
  rotary embeddings and attention for decoders. Exact rewrites: the fused graph is validated against the
  framework with the same bounds as the plain export. ``com.microsoft`` operators: onnxruntime-only.
- O3: O2, then onnxruntime's layout optimizations for this machine's CPU (not portable to another).

Where no pattern fuses (an architecture whose graph onnxruntime's patterns do not match), the export
still gets O1's rewrites and a note saying nothing fused. The optimized model replaces each file.

A decoder with its cache comes to O2/O3 with its attention already one ``GroupQueryAttention`` a layer (the
converter traces it so, see ``converters/pt/fused_attention.py``). Here, after onnxruntime's fusions: the
reshapes into heads and back around the operator, identities by symbolic shapes, go with their shape arithmetic;
the query, key and value projections that read one input become one matrix product the operator takes packed;
and a weight onnxruntime's constant folding copied transposed (a head tied to the embedding table) is tied again.
SmolLM2-135M: 6896 nodes traced plainly, 342 fused (onnxruntime-genai's builder writes 342).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelexport_pipeline.errors import UnsupportedExportOptionError

from .config import DecoderOnnxConfig, OnnxConfig, Seq2SeqOnnxConfig
from .options import OPTIMIZATION_LEVELS
from .postprocess import save

#: Levels that run the transformer fusions.
FUSING_LEVELS = ("O2", "O3")


@dataclass(frozen=True)
class OptimizationReport:
    """What ``--optimize`` did to one file: the fused operators by type, or why nothing fused."""

    level: str
    fused: Mapping[str, int] = field(default_factory=dict)
    nodes_before: int = 0
    nodes_after: int = 0
    #: Why onnxruntime's fusions did not run to the end on this graph ("": they did).
    fusion_failure: str = ""

    def describe(self) -> str:
        if self.level not in FUSING_LEVELS:
            return f"{self.level}: {self.nodes_before} -> {self.nodes_after} nodes"
        if self.fusion_failure:
            failure = self.fusion_failure
            return f"{self.level}: onnxruntime's fusions failed on this graph ({failure}), basic rewrites only"
        if not self.fused:
            return f"{self.level}: nothing fused (no onnxruntime pattern matches), basic rewrites only"
        fused = ", ".join(f"{count} {op}" for op, count in sorted(self.fused.items()))
        return f"{self.level}: {self.nodes_before} -> {self.nodes_after} nodes ({fused})"


def fusion_model_type(config: OnnxConfig) -> str:
    """The onnxruntime optimizer's model type whose fusions fit ``config``'s family.

    ``gpt2`` covers decoder-only models (its fusions include RMS norm and rotary embeddings), ``bart``
    encoder-decoders, ``bert`` the rest (encoders, vision and speech encoders: self-attention blocks).
    """
    if isinstance(config, DecoderOnnxConfig):
        return "gpt2"
    if isinstance(config, Seq2SeqOnnxConfig):
        return "bart"
    return "bert"


def _attention_shape(config: OnnxConfig) -> tuple[int, int]:
    """Heads and hidden size from the model's config (0: let onnxruntime read them from the graph)."""
    model_config = config.config
    text = getattr(model_config, "text_config", None) or model_config
    heads = getattr(text, "num_attention_heads", 0)
    hidden = getattr(text, "hidden_size", 0)
    return (heads, hidden) if isinstance(heads, int) and isinstance(hidden, int) else (0, 0)


def _session_optimize(path: Path, level: str) -> None:
    """onnxruntime's offline session optimization of ``path`` at ``level`` (a ``GraphOptimizationLevel``), in place."""
    import onnxruntime as ort

    optimized = path.with_name(path.stem + ".optimized.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
    options.optimized_model_filepath = str(optimized)
    options.log_severity_level = 3
    ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    os.replace(optimized, path)


def _node_count(path: Path) -> int:
    import onnx

    return len(onnx.load(str(path), load_external_data=False).graph.node)


def _fuse(path: Path, config: OnnxConfig) -> dict[str, int]:
    """onnxruntime's transformer fusions on ``path``, in place; the fused operators by type."""
    import onnx
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model as fuse_transformer

    model_type = fusion_model_type(config)
    heads, hidden = _attention_shape(config)
    quiet = logging.getLogger("onnxruntime.transformers")  # it logs every pattern it tried at WARNING
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        fused = fuse_transformer(
            onnx.load(str(path), load_external_data=True),
            model_type=model_type,
            num_heads=heads,
            hidden_size=hidden,
            optimization_options=FusionOptions(model_type),
            opt_level=0,
        )
    finally:
        quiet.setLevel(level)
    counts = {op: n for op, n in fused.get_fused_operator_statistics().items() if n}
    # the converter's fused attention (a decoder's, traced as the operator): reported with the rest
    attention = sum(1 for node in fused.model.graph.node if node.op_type == "GroupQueryAttention")
    if attention:
        counts["GroupQueryAttention"] = attention
    save(fused.model, path)
    return counts


#: Weights smaller than this are not worth a comparison (the copies the rewrites fold are the large tables).
RETIE_MIN_ELEMENTS = 1 << 20


def _retie_transposed(model: Any) -> int:
    """Undo onnxruntime's folding of a large weight's transpose into a second copy (a language-model head tied to
    the embedding table: 113 MB more for SmolLM2, and a head the weight-only quantizer would then quantize as if
    untied); the copy becomes a ``Transpose`` node again. Returns how many were re-tied."""
    import numpy as np
    from onnx import helper, numpy_helper

    large = [t for t in model.graph.initializer if len(t.dims) == 2 and t.dims[0] * t.dims[1] >= RETIE_MIN_ELEMENTS]
    pairs = [(a, b) for a in large for b in large if a is not b and list(a.dims) == list(reversed(b.dims))]
    if not pairs:
        return 0
    by_name = {t.name: t for t in model.graph.initializer}
    retied = 0
    for source, copy in pairs:
        if source.name not in by_name or copy.name not in by_name:
            continue
        if not np.array_equal(numpy_helper.to_array(by_name[copy.name]), numpy_helper.to_array(by_name[source.name]).T):
            continue
        model.graph.initializer.remove(by_name.pop(copy.name))
        model.graph.node.insert(0, helper.make_node("Transpose", [source.name], [copy.name], perm=[1, 0]))
        retied += 1
    return retied


def _symbolic_shapes(model: Any) -> dict[str, tuple[Any, ...]]:
    """Every value's shape in symbols (``batch_size``, ``sequence_length``...) and sizes, where onnxruntime's
    symbolic shape inference can tell it."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    inferred = SymbolicShapeInference.infer_shapes(model, auto_merge=False, guess_output_rank=False)
    shapes: dict[str, tuple[Any, ...]] = {}
    for value in [*inferred.graph.value_info, *inferred.graph.input, *inferred.graph.output]:
        if value.type.tensor_type.HasField("shape"):
            dims = tuple(d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim)
            if all(d not in (0, "") for d in dims):
                shapes[value.name] = dims
    return shapes


def _drop_identity_reshapes(model: Any) -> int:
    """Bypass every ``Reshape`` (or chain of them) whose output has its first input's shape, symbol for symbol,
    and remove the shape arithmetic only it used. A traced decoder reshapes each projection into heads and back
    around the fused attention: 4 reshapes and some 30 shape nodes a layer, which at int4 decode speed cost as
    much as the matrix products they surround. Returns how many nodes went."""
    try:
        shapes = _symbolic_shapes(_without_weights(model))
    except Exception:  # a graph the inference cannot follow: left as it is
        return 0
    producers = {output: node for node in model.graph.node for output in node.output}
    graph_outputs = {o.name for o in model.graph.output}
    replaced: dict[str, str] = {}
    for node in model.graph.node:
        if node.op_type != "Reshape" or node.output[0] in graph_outputs:
            continue
        source = node.input[0]
        while source in producers and producers[source].op_type == "Reshape":
            source = producers[source].input[0]
        shape = shapes.get(node.output[0])
        if shape is not None and shape == shapes.get(source):
            replaced[node.output[0]] = source
        elif source != node.input[0]:
            node.input[0] = source  # a reshape of a reshape is a reshape of the first one's input
    if not replaced:
        return 0

    def resolve(name: str) -> str:
        while name in replaced:
            name = replaced[name]
        return name

    for node in model.graph.node:
        for index, name in enumerate(node.input):
            if name in replaced:
                node.input[index] = resolve(name)
    before = len(model.graph.node)
    used = set(graph_outputs)
    kept = []
    for node in reversed(list(model.graph.node)):  # topological order: consumers after producers
        if any(o in used for o in node.output):
            kept.append(node)
            used.update(i for i in node.input if i)
    kept.reverse()
    del model.graph.node[:]
    model.graph.node.extend(kept)
    for tensor in [t for t in model.graph.initializer if t.name not in used]:
        model.graph.initializer.remove(tensor)
    return before - len(kept)


def _pack_attention_projections(model: Any) -> int:
    """One ``MatMul`` for a fused attention's query, key and value projections where they read the same input and
    feed the operator directly: their weights side by side, the product handed to ``GroupQueryAttention`` as its
    packed input (as onnxruntime-genai's builder writes it). One matrix product instead of three a layer; the
    weight-only quantizer then quantizes one weight. Returns how many layers were packed."""
    import numpy as np
    from onnx import helper, numpy_helper

    initializers = {t.name: t for t in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    consumers: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    packed = 0
    for attention in [n for n in model.graph.node if n.op_type == "GroupQueryAttention"]:
        found = [producers.get(name) for name in attention.input[:3]]
        projections = [p for p in found if p is not None and p.op_type == "MatMul" and p.input[1] in initializers]
        if len(projections) != 3:
            continue
        if len({p.input[0] for p in projections}) != 1 or any(len(consumers[p.output[0]]) != 1 for p in projections):
            continue
        weights = [numpy_helper.to_array(initializers[p.input[1]]) for p in projections]
        if any(w.ndim != 2 or w.shape[0] != weights[0].shape[0] or w.dtype != weights[0].dtype for w in weights):
            continue
        query = projections[0]
        name = f"{query.name or attention.name}.packed_qkv"
        model.graph.initializer.append(numpy_helper.from_array(np.concatenate(weights, axis=1), f"{name}.weight"))
        packed_node = helper.make_node("MatMul", [query.input[0], f"{name}.weight"], [f"{name}.output"], name=name)
        position = list(model.graph.node).index(query)
        for projection in projections:
            model.graph.node.remove(projection)
        model.graph.node.insert(position, packed_node)
        attention.input[0], attention.input[1], attention.input[2] = f"{name}.output", "", ""
        packed += 1
    if packed:
        used = {name for node in model.graph.node for name in node.input}
        for tensor in [t for t in model.graph.initializer if t.name not in used]:
            model.graph.initializer.remove(tensor)
    return packed


def _without_weights(model: Any) -> Any:
    """``model``'s graph with its large initializers as typed, shaped inputs instead: what shape inference reads of
    them (a decoder's weights are most of its bytes, and the inference copies the model it is given)."""
    from onnx import helper

    small = [t for t in model.graph.initializer if len(t.raw_data) <= LIGHT_INITIALIZER_BYTES]
    large = [
        helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
        for t in model.graph.initializer
        if len(t.raw_data) > LIGHT_INITIALIZER_BYTES
    ]
    graph = helper.make_graph(
        list(model.graph.node), model.graph.name, [*model.graph.input, *large], list(model.graph.output), small
    )
    return helper.make_model(graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)


#: Initializers up to this size stay in the copy shape inference reads (shapes, axes, small constants).
LIGHT_INITIALIZER_BYTES = 1 << 16


def _rewrite(path: Path, attention: bool) -> None:
    """The passes after onnxruntime's, on one load of ``path`` and one save: the re-tied weights; for a fused
    attention, the reshapes around it and its packed projections."""
    import onnx

    model = onnx.load(str(path))
    changed = _retie_transposed(model)
    if attention:
        changed += _drop_identity_reshapes(model)
        changed += _pack_attention_projections(model)
    if changed:
        save(model, path)


def optimize_model(path: Path, level: str, config: OnnxConfig | None = None) -> OptimizationReport:
    """Optimize ``path`` in place at ``level`` (``config``: the export's, for O2/O3's fusions).

    The fusions run on the exported graph as it is, before onnxruntime's own rewrites: after them the
    ``gpt2`` patterns rewire GPT-2's bias GELU into a cycle ("Graph is not a DAG"). Where a fusion still
    fails on some graph, the file keeps the basic rewrites and the report says why nothing fused.
    """
    if level not in OPTIMIZATION_LEVELS:
        choices = ", ".join(OPTIMIZATION_LEVELS)
        raise UnsupportedExportOptionError(f"Unknown optimization level {level!r}; choose one of {choices}.")
    before = _node_count(path)
    fused: dict[str, int] = {}
    failure = ""
    if level in FUSING_LEVELS and config is not None:
        try:
            fused = _fuse(path, config)
        except Exception as exc:  # onnxruntime's pattern code on a graph it does not expect: the file is untouched
            failure = f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}" if str(exc) else type(exc).__name__
    _session_optimize(path, "ORT_ENABLE_ALL" if level == "O3" else "ORT_ENABLE_BASIC")
    _rewrite(path, attention=bool(fused.get("GroupQueryAttention")))
    return OptimizationReport(level, fused, before, _node_count(path), failure)
