"""One decoder file for every step of an encoder-decoder: ``decoder_model_merged.onnx``.

transformers.js (and optimum, when it finds one) runs an encoder-decoder with two files: the encoder and a decoder
that takes ``use_cache_branch``. False (the first step, with empty caches): the cross-attention keys and values
are computed from ``encoder_hidden_states``, as ``decoder_model.onnx`` does. True (every later step): they are
read from the cache, as ``decoder_with_past_model.onnx`` does, and passed on unchanged. The merged file is an ONNX
``If`` node whose two branches are those two graphs; a weight the two share (byte for byte) is stored once, in the
outer graph, which both branches read. Every ``present.*`` output comes in both branches, in the first file's
order (optimum's: layer by layer, self- then cross-attention).

The merge is checked on the spot (:func:`check_merged`): both branches must give what the two files give.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from modelexport_pipeline.cache_names import PAST_PREFIX, is_present, past_for_present
from modelexport_pipeline.errors import ExportError

USE_CACHE_BRANCH = "use_cache_branch"


def resave(source: Path, target: Path) -> str | None:
    """``source`` with its weights inside ``target`` (or in ``<target>_data`` beyond 2 GiB); the data file."""
    import onnx

    from .postprocess import save

    return save(onnx.load(str(source), load_external_data=True), target)


def _copy(message: Any) -> Any:
    copy = type(message)()
    copy.CopyFrom(message)
    return copy


def _tensor_key(tensor: Any) -> str:
    """What a weight holds (type, shape, bytes), whatever it is named."""
    copy = _copy(tensor)
    copy.name = ""
    return hashlib.sha256(copy.SerializeToString()).hexdigest()


def _rename_graph(graph: Any, mapping: dict[str, str], prefix: str, outer: set[str]) -> None:
    """Give every value of ``graph`` (and of its nested graphs) that is not ``outer`` a name under ``prefix``;
    ``mapping`` says where an initializer went."""

    def renamed(name: str) -> str:
        if not name or name in outer:
            return name
        if name not in mapping:
            mapping[name] = prefix + name
        return mapping[name]

    for node in graph.node:
        node.name = prefix + node.name if node.name else node.name
        node.input[:] = [renamed(name) for name in node.input]
        node.output[:] = [renamed(name) for name in node.output]
        for attribute in node.attribute:
            for nested in [attribute.g, *attribute.graphs] if attribute.HasField("g") else list(attribute.graphs):
                for value in nested.input:
                    value.name = renamed(value.name)
                _rename_graph(nested, mapping, prefix, outer)
                for value in nested.output:
                    value.name = renamed(value.name)
    for value in graph.value_info:
        value.name = renamed(value.name)
    for value in graph.output:
        value.name = renamed(value.name)


def _branch(model: Any, prefix: str, outer: set[str], shared: dict[str, str], keys: dict[str, Any]) -> Any:
    """``model``'s graph as a branch: no inputs (it reads the outer ones), weights moved out (``keys``), values
    renamed under ``prefix``."""
    graph = model.graph
    mapping: dict[str, str] = {}
    for tensor in list(graph.initializer):
        key = _tensor_key(tensor)
        if key not in shared:  # the first to hold these bytes names them in the outer graph
            shared[key] = tensor.name if tensor.name not in keys else prefix + tensor.name
            moved = type(tensor)()
            moved.CopyFrom(tensor)
            moved.name = shared[key]
            keys[moved.name] = moved
        mapping[tensor.name] = shared[key]
    del graph.initializer[:]
    _rename_graph(graph, mapping, prefix, outer)
    del graph.input[:]
    return graph


def merge_decoders(no_past: Path, with_past: Path, target: Path) -> str | None:
    """``decoder_model.onnx`` and ``decoder_with_past_model.onnx`` as one file at ``target``; its data file, if any."""
    import onnx
    from onnx import TensorProto, helper

    from .postprocess import save

    first = onnx.load(str(no_past), load_external_data=True)
    second = onnx.load(str(with_past), load_external_data=True)
    first_inputs = {value.name for value in first.graph.input}
    inputs = [_copy(v) for v in [*first.graph.input, *(v for v in second.graph.input if v.name not in first_inputs)]]
    outer = {value.name for value in inputs}
    outputs = [_copy(value) for value in first.graph.output]
    output_names = [value.name for value in outputs]
    cached_outputs = {value.name for value in second.graph.output}
    shared: dict[str, str] = {}
    weights: dict[str, Any] = {}
    else_branch = _branch(first, "no_past/", outer, shared, weights)
    then_graph = second.graph
    types = {value.name: value.type.tensor_type.elem_type for value in outputs}
    for name in output_names:  # the cross-attention entries a cached step passes on as they came
        if name not in cached_outputs:
            past = past_for_present(name)
            then_graph.node.append(helper.make_node("Identity", [past], [name], name=f"pass_on/{name}"))
            then_graph.output.append(helper.make_tensor_value_info(name, types[name], None))
    by_name = {value.name: value for value in then_graph.output}
    ordered = [by_name[name] for name in output_names]
    del then_graph.output[:]
    then_graph.output.extend(ordered)
    then_branch = _branch(second, "with_past/", outer, shared, weights)
    for branch in (else_branch, then_branch):
        for value in branch.output:  # the two branches' shapes differ (cache lengths): types only
            value.type.tensor_type.ClearField("shape")
    for value in outputs:  # a cache's length is the step's in one branch, the total in the other
        if is_present(value.name):
            value.type.tensor_type.shape.dim[2].dim_param = "present_sequence_length"
    condition = helper.make_tensor_value_info(USE_CACHE_BRANCH, TensorProto.BOOL, [1])
    node = helper.make_node(
        "If",
        [USE_CACHE_BRANCH],
        output_names,
        name="use_cache_branch",
        then_branch=then_branch,
        else_branch=else_branch,
    )
    graph = helper.make_graph(
        [node], "decoder_model_merged", [*inputs, condition], outputs, initializer=list(weights.values())
    )
    opsets: dict[str, int] = {}
    for model in (first, second):
        for opset in model.opset_import:
            opsets[opset.domain] = max(opsets.get(opset.domain, 0), opset.version)
    merged = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid(domain, version) for domain, version in opsets.items()],
        ir_version=max(first.ir_version, second.ir_version),
        producer_name=first.producer_name,
        producer_version=first.producer_version,
    )
    data = save(merged, target)
    check_merged(no_past, with_past, target)
    return data


def check_merged(no_past: Path, with_past: Path, merged: Path) -> None:
    """Both branches of ``merged`` against the two files, on the same random inputs: identical outputs, or
    :class:`ExportError`."""
    import numpy as np

    from .validation import onnx_session

    sessions = {name: onnx_session(path) for name, path in (("first", no_past), ("cached", with_past))}
    together = onnx_session(merged)
    rng = np.random.default_rng(0)

    def feed(session: Any) -> dict[str, Any]:
        """Random inputs of every dynamic size 2 (masks all ones)."""
        values = {}
        for meta in session.get_inputs():
            shape = [d if isinstance(d, int) else 2 for d in meta.shape]
            if meta.name.endswith("attention_mask"):
                values[meta.name] = np.ones(shape, dtype=np.int64)
            elif "int64" in meta.type:
                values[meta.name] = rng.integers(0, 4, size=shape, dtype=np.int64)
            else:
                values[meta.name] = rng.standard_normal(shape).astype(np.float32)
        return values

    for name, use_cache in (("first", False), ("cached", True)):
        session = sessions[name]
        inputs = feed(session)
        expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs), strict=True))
        full = dict(inputs)
        for meta in together.get_inputs():  # what this branch does not read: empty caches, any hidden states
            if meta.name not in full and meta.name != USE_CACHE_BRANCH:
                shape = [d if isinstance(d, int) else 2 for d in meta.shape]
                if meta.name.startswith(PAST_PREFIX):
                    shape[2] = 0
                full[meta.name] = np.zeros(shape, dtype=np.float32)
        full[USE_CACHE_BRANCH] = np.array([use_cache])
        got = dict(zip([o.name for o in together.get_outputs()], together.run(None, full), strict=True))
        for output, value in expected.items():
            if not np.allclose(got[output], value, atol=1e-5, rtol=1e-4):
                raise ExportError(f"decoder_model_merged.onnx differs from the {name} decoder on {output}.")
        for output in got:
            if (
                is_present(output)
                and output not in expected
                and not np.array_equal(got[output], full[past_for_present(output)])
            ):
                raise ExportError(f"decoder_model_merged.onnx does not pass {output} on from its cache.")
