"""PyTorch -> ONNX with ``torch.onnx``: the TorchScript exporter or the dynamo exporter.

The model is wrapped so that the graph takes the config's inputs positionally and returns
exactly the config's outputs, in order; its training flags are restored afterwards, whatever
happens (an eval-mode export of a module in training mode would otherwise flip it).
"""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import torch

from ..config import PAST_PREFIX, PRESENT_PREFIX, OnnxConfig
from ..errors import ExportError
from ..options import ExportOptions

TWO_GIB = 2 * 1024**3


def _cache_argument(model: torch.nn.Module) -> str:
    """transformers 5 calls the cache argument ``cache``; 4.x calls it ``past_key_values``."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters else "past_key_values"


def _returned_cache(outputs: Any) -> Any:
    """The cache a model returned: ``cache`` in transformers 5, ``past_key_values`` in 4.x.

    Only the name the output really has is read: in transformers 5 reading ``past_key_values`` logs a
    deprecation the user can do nothing about (it showed on every export, validation included).
    """
    return outputs["cache"] if "cache" in outputs else outputs.get("past_key_values")


def _layer_tensors(cache: Any, layer: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values of one layer of a transformers cache object (or legacy tuple)."""
    if isinstance(cache, (tuple, list)):
        return cache[layer][0], cache[layer][1]
    if hasattr(cache, "layers"):
        return cache.layers[layer].keys, cache.layers[layer].values
    return cache.key_cache[layer], cache.value_cache[layer]


class _ExportWrapper(torch.nn.Module):
    """Positional inputs in the config's order in, the config's outputs as a flat tuple out.

    Past key/values come in as ``past_key_values.{i}.key/value`` tensors and are handed to the
    model as a transformers cache; the returned cache goes out as ``present.{i}.key/value``.
    """

    def __init__(self, model: torch.nn.Module, config: OnnxConfig) -> None:
        super().__init__()
        self.model = model
        self.input_names = list(config.inputs)
        self.output_names = list(config.outputs)
        self.uses_past = config.uses_past
        self.is_generative = config.GENERATIVE
        self.cache_argument = _cache_argument(model)

    def _make_cache(self, past: list[torch.Tensor]) -> Any:
        from transformers import DynamicCache

        pairs = [(past[i], past[i + 1]) for i in range(0, len(past), 2)]
        return DynamicCache(ddp_cache_data=pairs, config=self.model.config)

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.input_names, args, strict=True))
        past = [named.pop(name) for name in self.input_names if name.startswith(PAST_PREFIX)]
        if self.uses_past:
            named[self.cache_argument] = self._make_cache(past)
            named["use_cache"] = True
        elif self.is_generative:  # no cache asked for: none computed, none returned
            named["use_cache"] = False
        outputs = self.model(**named, return_dict=True)
        cache = _returned_cache(outputs) if self.uses_past else None
        result = []
        for name in self.output_names:
            if name.startswith(PRESENT_PREFIX):
                _, layer, part = name.split(".")
                result.append(_layer_tensors(cache, int(layer))[0 if part == "key" else 1])
            elif name in outputs:
                result.append(outputs[name])
            else:
                raise ExportError(f"The model returned no {name!r} (it returned {', '.join(outputs)}).")
        return tuple(result)


class _Seq2SeqPartWrapper(torch.nn.Module):
    """One file of an encoder-decoder: the encoder, the first decoder step, or a cached decoder step."""

    def __init__(self, model: torch.nn.Module, config: OnnxConfig) -> None:
        super().__init__()
        self.model = model
        self.part = config.part  # type: ignore[attr-defined]
        self.input_names = list(config.inputs)
        self.output_names = list(config.outputs)
        self.uses_past = config.uses_past
        self.hidden_size = int(config.normalized.get("hidden_size"))  # type: ignore[attr-defined]
        self.cache_argument = _cache_argument(model)

    def _cache(self, named: dict[str, torch.Tensor]) -> Any:
        from transformers import DynamicCache, EncoderDecoderCache

        def pairs(kind: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
            names = [n for n in self.input_names if n.startswith(PAST_PREFIX) and f".{kind}." in n]
            return [(named[names[i]], named[names[i + 1]]) for i in range(0, len(names), 2)]

        return EncoderDecoderCache(
            DynamicCache(ddp_cache_data=pairs("decoder")), DynamicCache(ddp_cache_data=pairs("encoder"))
        )

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        named = dict(zip(self.input_names, args, strict=True))
        if self.part == "encoder":
            return (self.model.get_encoder()(**named, return_dict=True).last_hidden_state,)
        kwargs: dict[str, Any] = {"decoder_input_ids": named["input_ids"], "return_dict": True}
        if "encoder_attention_mask" in named:
            kwargs["attention_mask"] = named["encoder_attention_mask"]
        if self.part == "decoder":
            kwargs["encoder_outputs"] = (named["encoder_hidden_states"],)
            kwargs["use_cache"] = self.uses_past
        else:
            # The cross-attention keys and values come from the cache; the hidden states are only
            # looked at for their shape, so zeros of the right shape stand in.
            encoder_key = next(named[n] for n in self.input_names if n.endswith(".encoder.key"))
            batch, length = encoder_key.shape[0], encoder_key.shape[2]
            kwargs["encoder_outputs"] = (encoder_key.new_zeros((batch, length, self.hidden_size)),)
            kwargs[self.cache_argument] = self._cache(named)
            kwargs["use_cache"] = True
        outputs = self.model(**kwargs)
        cache = _returned_cache(outputs) if self.uses_past else None
        result = []
        for name in self.output_names:
            if name.startswith(PRESENT_PREFIX):
                _, layer, kind, part = name.split(".")
                sub = cache.self_attention_cache if kind == "decoder" else cache.cross_attention_cache
                result.append(_layer_tensors(sub, int(layer))[0 if part == "key" else 1])
            else:
                result.append(outputs[name])
        return tuple(result)


def _wrapper_for(model: torch.nn.Module, config: OnnxConfig) -> torch.nn.Module:
    if getattr(config, "part", None) is not None:
        return _Seq2SeqPartWrapper(model, config)
    return _ExportWrapper(model, config)


@contextlib.contextmanager
def preserved_training_flags(model: torch.nn.Module) -> Iterator[None]:
    """Restore every submodule's ``training`` flag on exit."""
    flags = {name: module.training for name, module in model.named_modules()}
    try:
        yield
    finally:
        for name, module in model.named_modules():
            if name in flags:
                module.training = flags[name]


def parameter_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def transformers_major() -> int:
    import transformers

    return int(transformers.__version__.split(".")[0])


def automatic_exporter(config: OnnxConfig) -> str:
    """TorchScript (fast), except where it cannot trace the model: then dynamo.

    transformers 4.x builds decoder-only attention masks with ``torch.vmap``; TorchScript fails on
    it and a vmap-free mask traces to fixed shapes, so those models go through dynamo there.
    """
    if config.exporter is not None:
        return config.exporter
    if not config.TORCHSCRIPT_ON_TRANSFORMERS_4 and transformers_major() < 5:
        return "dynamo"
    return "torchscript"


def convert(model: Any, config: OnnxConfig, path: Path, options: ExportOptions) -> None:
    """Export ``model`` to ``path`` with the exporter and opset of ``options``."""
    if options.exporter not in ("torchscript", "dynamo"):
        raise ExportError(f"--exporter {options.exporter} converts TensorFlow models; use torchscript or dynamo.")
    dummy = config.generate_dummy_inputs(options.shapes)
    input_names = list(config.inputs)
    output_names = list(config.outputs)
    args = tuple(torch.from_numpy(dummy[name]) for name in input_names)
    exporter_arguments = _dynamo_arguments if options.exporter == "dynamo" else _torchscript_arguments
    with preserved_training_flags(model), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = _wrapper_for(model, config).eval()  # eval() reaches the model: inside the guard
        try:
            # The dynamo exporter reports at length on stdout: keep the terminal for our progress lines.
            with contextlib.redirect_stdout(io.StringIO()):
                torch.onnx.export(
                    wrapper,
                    args,
                    str(path),
                    input_names=input_names,
                    output_names=output_names,
                    opset_version=options.opset,
                    **exporter_arguments(wrapper, config, options),
                )
        except ExportError:
            raise
        except Exception as exc:
            hint = ""
            if options.exporter == "torchscript" and "unordered_map::at" in str(exc):
                hint = (
                    " (transformers 4.x builds attention masks with torch.vmap, which TorchScript cannot trace: "
                    "use --exporter dynamo, the automatic choice for these models)"
                )
            message = str(exc).strip().splitlines()[0][:500] if str(exc).strip() else ""
            raise ExportError(f"torch.onnx ({options.exporter}) failed: {type(exc).__name__}: {message}{hint}") from exc


def run_reference(model: Any, config: OnnxConfig, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """PyTorch's own outputs for ONNX-named numpy inputs, under the ONNX output names.

    The same wrapper as the export maps names and builds the cache; the model runs eagerly.
    """
    args = tuple(torch.from_numpy(inputs[name]) for name in config.inputs)
    with preserved_training_flags(model), torch.inference_mode():
        outputs = _wrapper_for(model, config).eval()(*args)
    return {name: value.detach().cpu().numpy() for name, value in zip(config.outputs, outputs, strict=True)}


#: Keep this share of the machine's available memory free when the weights are held in float64.
_FLOAT64_MEMORY_SHARE = 0.5


def float64_unavailable(model: torch.nn.Module) -> str | None:
    """Why ``model`` cannot be run in float64 here (``None``: it can).

    The float64 run converts the weights in place (twice their float32 size while it runs), so it
    needs that much memory free; and it only makes sense for float32 weights.
    """
    dtypes = {p.dtype for p in model.parameters() if p.is_floating_point()}
    if dtypes - {torch.float32}:
        return f"weights are {', '.join(sorted(str(d) for d in dtypes))}, not float32"
    needed = 2 * parameter_bytes(model)
    available = _available_memory()
    if available is not None and needed > _FLOAT64_MEMORY_SHARE * available:
        return f"float64 weights need {needed / 2**30:.1f} GiB, {available / 2**30:.1f} GiB available"
    return None


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


@contextlib.contextmanager
def float64_weights(model: torch.nn.Module) -> Iterator[None]:
    """Hold the model's floating-point weights and buffers in float64, and restore them exactly on exit.

    float32 -> float64 -> float32 is exact, so the model leaves bit for bit as it came.
    """
    float32 = [
        (module, name, is_parameter)
        for module in model.modules()
        for is_parameter, tensors in ((True, module._parameters), (False, module._buffers))
        for name, tensor in tensors.items()
        if tensor is not None and tensor.dtype == torch.float32
    ]
    try:
        _cast(float32, torch.float64)
        yield
    finally:
        _cast(float32, torch.float32)


def _cast(tensors: list[tuple[torch.nn.Module, str, bool]], dtype: torch.dtype) -> None:
    with torch.no_grad():
        for module, name, is_parameter in tensors:
            if is_parameter:
                parameter = module._parameters[name]
                assert parameter is not None
                parameter.data = parameter.data.to(dtype)
            else:
                buffer = module._buffers[name]
                assert buffer is not None
                module._buffers[name] = buffer.to(dtype)


def run_reference_float64(model: Any, config: OnnxConfig, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The model's outputs computed in float64 on the same (float32) inputs: the reference that
    measures how far float32 computation, PyTorch's own included, drifts on this model."""
    import numpy as np

    args = tuple(
        torch.from_numpy(inputs[name].astype(np.float64) if inputs[name].dtype == np.float32 else inputs[name])
        for name in config.inputs
    )
    with preserved_training_flags(model), float64_weights(model), torch.inference_mode():
        outputs = _wrapper_for(model, config).eval()(*args)
    return {name: value.detach().cpu().numpy() for name, value in zip(config.outputs, outputs, strict=True)}


def _torchscript_arguments(wrapper: torch.nn.Module, config: OnnxConfig, options: ExportOptions) -> dict[str, Any]:
    return {
        "dynamic_axes": config.dynamic_axes if options.dynamic_axes else None,
        "do_constant_folding": True,
        "dynamo": False,
    }


def _dynamo_arguments(wrapper: torch.nn.Module, config: OnnxConfig, options: ExportOptions) -> dict[str, Any]:
    import importlib.util

    from torch.export import Dim

    if importlib.util.find_spec("onnxscript") is None:
        raise ExportError(
            "The dynamo exporter needs onnxscript: `pip install onnxscript` (or use the default TorchScript exporter)."
        )
    dynamic_shapes = None
    if options.dynamic_axes:
        # One entry: the wrapper's ``*args``, itself a tuple with one spec per input.
        dynamic_shapes = (tuple({axis: Dim.DYNAMIC for axis in config.inputs[name]} for name in config.inputs),)
    return {
        "dynamic_shapes": dynamic_shapes,
        "dynamo": True,
        "external_data": parameter_bytes(wrapper) >= TWO_GIB,
        "verbose": False,
    }
