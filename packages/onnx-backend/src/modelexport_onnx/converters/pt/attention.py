"""The attention code TorchScript traces: transformers' eager attention in place of SDPA, during the trace only.

transformers loads models with ``attn_implementation="sdpa"``. TorchScript exports
``scaled_dot_product_attention`` with a boolean mask as ``Where(mask, 0, -inf)``, a softmax, then
``Where(IsNaN(p), 0, p)`` (a fully masked row would be NaN), with the scale split over query and key:
all-MiniLM-L6-v2 traced that way has 799 nodes (524 for optimum's export), runs 1.07x slower in
onnxruntime, and onnxruntime's transformer optimizer fuses none of its attention. The eager path
(``softmax(q k^T * scale + mask)`` with an additive mask) is the same computation in the same order,
traces to 516 nodes at opset 17 and fuses to one ``Attention`` per layer.

The switch is transformers' own (a model's configs carry ``_attn_implementation``, which its
attention functions read at run time) and is undone afterwards: the model the caller holds, and
the reference run validation compares against, keep their implementation. Validation thereby also
checks that the two paths agree on this model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

#: The implementation swapped out, and the one traced instead.
SWAPPED, TRACED = "sdpa", "eager"


def _switchable_configs(model: Any) -> list[Any]:
    """The configs of ``model`` and its sub-models whose attention is SDPA and may be set at run time."""
    from transformers import PreTrainedModel

    configs: dict[int, Any] = {}
    for module in model.modules():
        if not isinstance(module, PreTrainedModel) or not module._can_set_attn_implementation():
            continue
        config = module.config
        if getattr(config, "_attn_implementation", None) == SWAPPED:
            configs.setdefault(id(config), config)
    return list(configs.values())


@contextlib.contextmanager
def eager_attention(model: Any) -> Iterator[None]:
    """Trace transformers' eager attention instead of SDPA inside the block; restore SDPA on exit."""
    configs = _switchable_configs(model)
    for config in configs:
        config._attn_implementation_internal = TRACED
    try:
        yield
    finally:
        for config in configs:
            config._attn_implementation_internal = SWAPPED
