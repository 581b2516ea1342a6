"""Patches of tf2onnx's process-global state, each undone when its conversion ends.

tf2onnx 1.17 reads its optimizers, its ``Node`` class and ``TF2ONNX_CATCH_ERRORS`` from process-wide
state; every patch here holds one lock, so two conversions in one process never see each other's.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from typing import Any

_OPTIMIZER_PATCH_LOCK = threading.RLock()


@contextlib.contextmanager
def safe_reshape_merging() -> Iterator[None]:
    """Keep tf2onnx from merging ``Reshape(Reshape(x, a), b)`` when ``b`` copies a dim with ``0``.

    tf2onnx 1.17's back-to-back optimizer rewrites the pair as ``Reshape(x, b)`` unconditionally; a
    ``0`` in ``b`` then copies a dim of ``x`` instead of the intermediate's. TensorFlow's
    multiple-choice models hit it: they flatten ``(batch, choices, seq)`` ids and mask to
    ``(batch * choices, seq)``, then reshape the mask to ``(0, 1, 1, -1)``. While converting, the
    merge only happens when ``b`` is a constant without zeros.
    """
    try:
        from tf2onnx.optimizer import back_to_back_optimizer as back_to_back
    except ImportError:  # another tf2onnx layout: nothing to guard
        yield
        return
    key = ("Reshape",)
    original = back_to_back._func_map.get(key)
    if original is None:
        yield
        return

    def guarded(graph: Any, node: Any, consumers: list[Any]) -> Any:
        if len(consumers) == 1 and consumers[0].type == "Reshape":
            shape = consumers[0].inputs[1]
            if shape is None or not shape.is_const() or 0 in shape.get_tensor_value(as_list=True):
                return []
        return original(graph, node, consumers)

    with _OPTIMIZER_PATCH_LOCK:
        back_to_back._func_map[key] = guarded
        try:
            yield
        finally:
            back_to_back._func_map[key] = original


@contextlib.contextmanager
def constants_synced_once() -> Iterator[None]:
    """Copy each constant's tensor into its ONNX node once, not after every tf2onnx optimizer pass.

    tf2onnx 1.17 rebuilds every node's protobuf after each of its ~36 optimizer passes; for a
    constant that copies the whole weight tensor, and protobuf keeps each copy in the message's
    arena until the model is freed: a 90 MB model (MiniLM) peaked at 7.4 GB and spent most of its
    conversion there. A constant whose value attribute, inputs and outputs are the very objects
    last written is skipped (tf2onnx replaces the attribute object whenever it changes a value;
    the cache holds a reference, so an identity match cannot be a recycled object).
    """
    try:
        from tf2onnx.graph import Node
    except ImportError:
        yield
        return
    original = Node.update_proto

    def update_proto(node: Any, external_tensor_storage: Any = None) -> Any:
        if external_tensor_storage is None and node.type == "Const" and not node.get_body_graphs():
            state = (node._attr.get("value"), tuple(node.input), tuple(node.output), node.name, node.domain)
            synced = node.__dict__.get("_modelexport_synced")
            if synced is not None and synced[0] is state[0] and synced[1:] == state[1:]:
                return None
            result = original(node, external_tensor_storage)
            node.__dict__["_modelexport_synced"] = state
            return result
        return original(node, external_tensor_storage)

    with _OPTIMIZER_PATCH_LOCK:
        Node.update_proto = update_proto
        try:
            yield
        finally:
            Node.update_proto = original


@contextlib.contextmanager
def optimizer_error_mode(catch_errors: bool) -> Iterator[None]:
    """tf2onnx's ``TF2ONNX_CATCH_ERRORS`` for one conversion.

    Catching errors, tf2onnx deep-copies the whole graph, weights included, before each of its ~36
    optimizer passes, so that a failing pass can be dropped: on MiniLM that doubled the conversion
    time and peak memory. Without it a failing pass fails the conversion (then retried with it).
    """
    key = "TF2ONNX_CATCH_ERRORS"
    with _OPTIMIZER_PATCH_LOCK:
        before = os.environ.get(key)
        os.environ[key] = "TRUE" if catch_errors else "FALSE"
        try:
            yield
        finally:
            if before is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = before
