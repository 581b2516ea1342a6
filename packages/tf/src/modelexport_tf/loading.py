"""Loading and running TensorFlow models; tensorflow and transformers are imported lazily."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def quiet_tensorflow() -> None:
    # transformers refuses Keras 3: the tf-keras package must back `tf.keras`.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_model(model_class: type, model: str, **kwargs: Any) -> Any:
    """``model_class.from_pretrained`` for a TensorFlow checkpoint (``tf_model.h5``, no pickle)."""
    quiet_tensorflow()
    kwargs = {k: v for k, v in kwargs.items() if v is not None and v != ""}
    kwargs.setdefault("trust_remote_code", False)
    return model_class.from_pretrained(model, **kwargs)


def run_model(model: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Run ``model`` on numpy inputs; return numpy outputs flattened by name (``name.0.1``)."""
    quiet_tensorflow()
    import tensorflow as tf
    from modelexport_core.outputs import flatten_outputs

    tensors = {name: tf.constant(value) for name, value in inputs.items()}
    outputs = model(**tensors, training=False, return_dict=True)
    return flatten_outputs(outputs, lambda v: isinstance(v, (tf.Tensor, tf.Variable)), lambda v: v.numpy())
