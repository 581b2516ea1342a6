"""PyTorch -> ONNX with ``torch.onnx`` (TorchScript or dynamo), and PyTorch's own reference run.

The model's training flags are restored afterwards, whatever happens (an eval-mode export of a
module in training mode would otherwise flip it).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from modelexport_pipeline.checks import Reference
from modelexport_pipeline.errors import ExportError

from ...config import OnnxConfig
from ...options import ExportOptions
from ...postprocess import PROTOBUF_LIMIT
from . import dynamo_only_reason, fused_attention
from .attention import eager_attention
from .dynamo_translations import translation_table
from .float64 import float64_unavailable, float64_weights, parameter_bytes
from .symbolics import register as register_symbolics
from .wrappers import PlainWrapper, preserved_training_flags, wrapper_for


def convert(model: Any, config: OnnxConfig, path: Path, options: ExportOptions) -> str | None:
    """Export ``model`` to ``path`` with the converter and opset of ``options``; a note when fusing was asked."""
    if options.converter not in ("torchscript", "dynamo"):
        raise ExportError(f"--exporter {options.converter} converts TensorFlow models; use torchscript or dynamo.")
    dummy = config.generate_dummy_inputs(options.shapes)
    input_names = list(config.inputs)
    output_names = list(config.outputs)
    args = tuple(torch.from_numpy(dummy[name]) for name in input_names)
    converter_arguments = _dynamo_arguments if options.converter == "dynamo" else _torchscript_arguments
    if options.converter == "torchscript":
        register_symbolics()
    note = f"attention not fused ({options.fusion_refusal}): the plain graph" if options.fusion_refusal else None
    # TorchScript traces transformers' eager attention (see .attention); dynamo's SDPA needs no detour.
    traced_attention: Any = eager_attention(model) if options.converter == "torchscript" else contextlib.nullcontext()
    if options.fuse_attention:
        with preserved_training_flags(model):
            wrapper = wrapper_for(model, config).eval()
            if isinstance(wrapper, PlainWrapper):
                verdict = fused_attention.verdict(model, wrapper, output_names, args)
            else:
                verdict = fused_attention.Verdict(f"{type(wrapper).__name__} exports this model its own way")
        note = verdict.describe()
        if verdict.refusal is None:
            fused_attention.register_symbolic()
            traced_attention = fused_attention.fused_path(model)
    with preserved_training_flags(model), traced_attention, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        wrapper = wrapper_for(model, config).eval()  # eval() reaches the model: inside the guard
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
                    **converter_arguments(wrapper, config, options),
                )
        except ExportError:
            raise
        except Exception as exc:
            hint = ""
            if options.converter == "torchscript" and "unordered_map::at" in str(exc):
                hint = (
                    " (transformers 4.x builds attention masks with torch.vmap, which TorchScript cannot trace: "
                    "use --exporter dynamo, the automatic choice for these models)"
                )
            # torch's first line, without the traced graph it quotes after "[Caused by"
            message = str(exc).strip().splitlines()[0].split(" [Caused by")[0][:500] if str(exc).strip() else ""
            raise ExportError(
                f"torch.onnx ({options.converter}) failed: {type(exc).__name__}: {message}{hint}"
            ) from exc
    reason = dynamo_only_reason(str(getattr(config.config, "model_type", "") or ""))
    if options.converter == "torchscript" and reason is not None:
        _check_consistent(path, reason)
    return note


def _check_consistent(path: Path, reason: str) -> None:
    """A TorchScript export forced on a type it cannot trace: refuse a graph whose shapes contradict each
    other (a size frozen in one node and not in the next), which onnxruntime would refuse to load."""
    import onnx

    try:
        onnx.shape_inference.infer_shapes(onnx.load(str(path), load_external_data=False), strict_mode=True)
    except Exception as exc:
        message = str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__
        raise ExportError(
            f"torch.onnx (torchscript) failed: the traced graph is inconsistent ({reason}): {message}; "
            "use --exporter dynamo, the automatic choice for this model"
        ) from exc


def _torchscript_arguments(wrapper: torch.nn.Module, config: OnnxConfig, options: ExportOptions) -> dict[str, Any]:
    return {
        "dynamic_axes": config.dynamic_axes if options.dynamic_axes else None,
        # Streamed weights: the parameters stay inputs named after them (no data, nothing folded into new ones).
        "do_constant_folding": not options.streamed,
        "export_params": not options.streamed,
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
        "custom_translation_table": translation_table(),
        "external_data": parameter_bytes(wrapper) >= PROTOBUF_LIMIT,
        "verbose": False,
    }


def run_outputs(model: Any, config: OnnxConfig, inputs: Mapping[str, Any], float64: bool) -> dict[str, Any]:
    """The wrapper run eagerly on ``inputs``, float inputs and weights in float64 when asked."""
    import numpy as np

    args = tuple(
        torch.from_numpy(
            inputs[name].astype(np.float64) if float64 and inputs[name].dtype == np.float32 else inputs[name]
        )
        for name in config.inputs
    )
    in_float64 = float64_weights(model) if float64 else contextlib.nullcontext()
    with preserved_training_flags(model), in_float64, torch.inference_mode():
        outputs = wrapper_for(model, config).eval()(*args)
    return {name: value.detach().cpu().numpy() for name, value in zip(config.outputs, outputs, strict=True)}


def run_reference(model: Any, config: OnnxConfig, inputs: Mapping[str, Any]) -> Reference:
    """PyTorch's outputs for ONNX-named numpy inputs, under the ONNX output names: float32, and float64.

    The float64 run measures how far float32 computation, PyTorch's own included, drifts on this
    model; it is skipped, and the reason kept, when the model cannot be held in float64 here or its
    own code assumes float32 (transformers 4.57's speech_to_text masks).
    """
    float32 = run_outputs(model, config, inputs, float64=False)
    no_float64 = float64_unavailable(model)
    if no_float64 is not None:
        return Reference(float32, None, no_float64)
    try:
        float64 = run_outputs(model, config, inputs, float64=True)
    except Exception as error:
        message = str(error).strip().splitlines()[0][:200] if str(error).strip() else ""
        return Reference(float32, None, f"the float64 run failed: {type(error).__name__}: {message}")
    return Reference(float32, float64)
