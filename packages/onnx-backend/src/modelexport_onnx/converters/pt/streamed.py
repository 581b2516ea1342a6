"""PyTorch's side of a model larger than memory: traced without its weights, run with them streamed per module.

The model is built with empty (meta) parameters, then each parameter becomes a placeholder of its shape that
holds one number (a scalar expanded: no memory), a different number for each so that the exporter does not
merge them as equal. TorchScript traces that model with ``export_params=False``: the parameters stay graph
inputs named after them, and :mod:`...streamed.weights` turns them into initializers from the safetensors
shards. The reference run loads each module's own parameters from the shards just before the module runs and
drops them right after, so PyTorch computes the real outputs holding one module's weights at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from modelexport_pipeline.errors import ExportError

from ...config import OnnxConfig

if TYPE_CHECKING:
    from ...streamed.weights import StoredTensor


def skeleton(model_class: Any, directory: Path, trust_remote_code: bool = False) -> torch.nn.Module:
    """The task's model for the configuration in ``directory``, with placeholder parameters (no weights read)."""
    import transformers

    try:
        from accelerate import init_empty_weights
    except ImportError:
        raise ExportError(
            "A model larger than the memory allowed is built without its weights through accelerate: "
            'pip install -c constraints/pt.txt accelerate (from a clone; `pip install ".[pt,onnx]"` brings it).'
        ) from None
    config = transformers.AutoConfig.from_pretrained(directory, trust_remote_code=trust_remote_code)
    build = getattr(model_class, "from_config", None) or model_class._from_config
    with init_empty_weights():  # parameters on meta, buffers (rotary tables...) computed for real
        model: torch.nn.Module = build(config)
    placeholders: dict[int, torch.nn.Parameter] = {}
    for module in model.modules():
        for name, parameter in list(module._parameters.items()):
            if parameter is None:
                continue
            if id(parameter) not in placeholders:
                value = torch.full((), float(len(placeholders) + 1), dtype=parameter.dtype)
                placeholders[id(parameter)] = torch.nn.Parameter(value.expand(parameter.shape), requires_grad=False)
            module._parameters[name] = placeholders[id(parameter)]
    tie = getattr(model, "tie_weights", None)
    if callable(tie):
        tie()
    return model.eval()


@contextlib.contextmanager
def weightless_shape_inference() -> Iterator[None]:
    """While the block runs, the TorchScript exporter's shape inference is not handed the parameters' values.

    It would turn every parameter into a contiguous array to propagate constants (the placeholders are one
    number expanded: each would take its full size, the whole model at once). The parameters' shapes are in
    the traced graph already; their values decide no shape of a transformer.
    """
    infer = torch._C._jit_pass_onnx_graph_shape_type_inference

    def without_values(graph: Any, params: Any, *args: Any) -> Any:
        return infer(graph, {}, *args)

    torch._C._jit_pass_onnx_graph_shape_type_inference = without_values
    try:
        yield
    finally:
        torch._C._jit_pass_onnx_graph_shape_type_inference = infer


def checkpoint_keys(
    module: torch.nn.Module, model: torch.nn.Module, index: Mapping[str, StoredTensor]
) -> dict[str, str]:
    """For each parameter name of ``module`` (the traced wrapper: its names are the graph's inputs), the
    checkpoint key holding its values: the model's own name for it, or a tied alias's."""
    aliases: dict[int, list[str]] = {}
    for name, parameter in model.named_parameters(remove_duplicate=False):
        aliases.setdefault(id(parameter), []).append(name)
    keys = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        found = [alias for alias in aliases.get(id(parameter), []) if alias in index]
        if not found:
            raise ExportError(
                f"The checkpoint holds no tensor for {', '.join(aliases.get(id(parameter), [name]))}: its keys do not "
                "follow this transformers version's parameter names, which a streamed export reads them by."
            )
        keys[name] = found[0]
    return keys


def decoder_layers(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList]:
    """The list of repeated layers holding most of the weights (``model.layers``, ``transformer.h``...)."""
    lists = [(name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.ModuleList)]
    if not lists:
        raise ExportError(f"{type(model).__name__} has no list of layers to stream its validation through.")
    return max(lists, key=lambda item: sum(p.numel() for p in item[1].parameters()))


#: safetensors dtype -> torch dtype, for the tensors a streamed reference reads.
TORCH_TYPES = {
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F64": torch.float64,
    "I64": torch.int64,
    "I32": torch.int32,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}


class ShardReader:
    """One tensor at a time from the shards, read into memory of its own (not mapped: the pages of a mapped
    shard stay in the process's resident memory, and over a whole model add up to every weight)."""

    def __init__(self, index: Mapping[str, StoredTensor]) -> None:
        self.index = index

    def tensor(self, key: str) -> torch.Tensor:
        stored = self.index[key]
        with stored.shard.open("rb") as handle:
            handle.seek(stored.start)
            data = bytearray(handle.read(stored.nbytes))
        return torch.frombuffer(data, dtype=TORCH_TYPES[stored.dtype]).reshape(stored.shape)


@contextlib.contextmanager
def streamed_weights(model: torch.nn.Module, keys: Mapping[int, str], reader: ShardReader) -> Iterator[None]:
    """While the block runs, every module gets its own parameters from the shards as it starts, and gives them
    back (to the placeholders) as it ends: one module's weights in memory at a time."""

    def load(module: torch.nn.Module, args: Any) -> None:
        for name, parameter in list(module._parameters.items()):
            if parameter is not None and id(parameter) in keys:
                saved[(id(module), name)] = parameter
                module._parameters[name] = torch.nn.Parameter(reader.tensor(keys[id(parameter)]), requires_grad=False)

    def drop(module: torch.nn.Module, args: Any, output: Any) -> None:
        for name in list(module._parameters):
            placeholder = saved.pop((id(module), name), None)
            if placeholder is not None:
                module._parameters[name] = placeholder

    saved: dict[tuple[int, str], torch.nn.Parameter] = {}
    handles = []
    for module in model.modules():
        if any(p is not None for p in module._parameters.values()):
            handles += [module.register_forward_pre_hook(load), module.register_forward_hook(drop)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def streamed_reference(
    model: torch.nn.Module, config: OnnxConfig, inputs: Mapping[str, Any], index: Mapping[str, StoredTensor]
) -> tuple[list[Any], dict[str, Any]]:
    """PyTorch's outputs on ``inputs`` and each layer's output hidden states, with weights streamed per module."""
    from .convert import run_outputs

    keys = {id(p): key for p, key in _parameter_keys(model, index)}
    _, layers = decoder_layers(model)
    captured: list[Any] = []

    def keep(module: torch.nn.Module, args: Any, output: Any) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        captured.append(hidden.detach().cpu().numpy())

    handles = [layer.register_forward_hook(keep) for layer in layers]
    try:
        with streamed_weights(model, keys, ShardReader(index)):
            outputs = run_outputs(model, config, inputs, float64=False)
    finally:
        for handle in handles:
            handle.remove()
    return captured, outputs


def _parameter_keys(model: torch.nn.Module, index: Mapping[str, StoredTensor]) -> list[tuple[torch.nn.Parameter, str]]:
    by_name = checkpoint_keys(model, model, index)
    parameters = dict(model.named_parameters(remove_duplicate=False))
    return [(parameters[name], key) for name, key in by_name.items()]


def convert_weightless(model: Any, config: Any, path: Any, options: Any) -> None:
    """The model traced into ``path`` with its weights left out (they are streamed in afterwards)."""
    from .convert import convert

    with weightless_shape_inference():
        convert(model, config, path, options)


def export_wrapper(model: Any, config: Any) -> Any:
    """The module the converter traces for ``config`` (whose parameters name the checkpoint's tensors)."""
    from .wrappers import wrapper_for

    return wrapper_for(model, config)
