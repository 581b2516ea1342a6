"""Loading TensorFlow models and generating with them; tensorflow and transformers are imported lazily."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from modelexport_core.transformers_plugin import PLAIN_GREEDY_KWARGS, Pretrained


def prepare_import() -> None:
    """Before transformers (and with it TensorFlow) is imported: tf-keras behind ``tf.keras``, quiet logs."""
    quiet_tensorflow()


def quiet_tensorflow() -> None:
    # transformers refuses Keras 3: the tf-keras package must back `tf.keras`.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_model(model_class: type, model: str, **kwargs: Any) -> Any:
    """``model_class.from_pretrained`` for a TensorFlow checkpoint (``tf_model.h5``, no pickle)."""
    quiet_tensorflow()
    kwargs = {k: v for k, v in kwargs.items() if v is not None and v != ""}
    kwargs.setdefault("trust_remote_code", False)
    if _has_tf_weights(Path(model) / str(kwargs.get("subfolder", ""))):
        # transformers 4.57's TF loader prefers a model.safetensors beside tf_model.h5 and then fails
        # to read it ("'safe_open' object is not iterable"): the TensorFlow weights are the ones asked for.
        kwargs.setdefault("use_safetensors", False)
    return cast(Pretrained, model_class).from_pretrained(model, **kwargs)


def _has_tf_weights(directory: Path) -> bool:
    """Whether ``directory`` holds TensorFlow weights, by the plugin's own weight-file patterns."""
    import fnmatch

    from .plugin import framework

    if not directory.is_dir():
        return False
    names = [path.name for path in directory.iterdir()]
    return any(fnmatch.fnmatch(name, pattern) for name in names for pattern in framework.weight_files)


def generate_greedy(model: Any, inputs: Mapping[str, Any], max_new_tokens: int, pad_token_id: int) -> Any:
    """Plain greedy ``generate`` on numpy inputs: ``max_new_tokens`` argmax steps, numpy ids back.

    As for PyTorch, stopping at EOS and the logits processors a generation config may enable are
    switched off: the tokens depend on the model's logits alone.
    """
    quiet_tensorflow()
    import tensorflow as tf

    # TensorFlow's generate concatenates new int32 tokens to the prompt: ids and masks must be int32.
    tensors = {
        name: tf.constant(value.astype("int32") if value.dtype.kind in "iu" else value)
        for name, value in inputs.items()
    }
    output = model.generate(
        **tensors,
        max_new_tokens=max_new_tokens,
        pad_token_id=pad_token_id,
        **PLAIN_GREEDY_KWARGS,
    )
    return output.numpy().astype("int64")
