"""A Keras behaviour tf2onnx cannot convert, replaced while the model is traced."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def plain_grouped_convolutions(model: Any) -> Iterator[None]:
    """Trace grouped convolutions as plain ``Conv2D`` ops, which tf2onnx turns into grouped ONNX ``Conv``.

    Keras runs a grouped convolution inside an XLA-compiled ``tf.function`` (TensorFlow's CPU kernels
    lack them eagerly); traced, that is a ``PartitionedCall`` tf2onnx cannot convert (ConvNeXt's
    depthwise convolutions). In a graph the plain op is fine; eager runs keep the compiled path.
    """
    layers = [
        layer
        for layer in model.submodules
        if getattr(layer, "groups", 1) > 1 and hasattr(layer, "_jit_compiled_convolution_op")
    ]
    for layer in layers:
        layer.__dict__["_jit_compiled_convolution_op"] = layer.convolution_op
    try:
        yield
    finally:
        for layer in layers:
            layer.__dict__.pop("_jit_compiled_convolution_op", None)
