"""PyTorch -> ONNX with ``torch.onnx``: the TorchScript exporter or the dynamo exporter.

The model is wrapped so that the graph takes the config's inputs positionally and returns
exactly the config's outputs, in order; its training flags are restored afterwards, whatever
happens (an eval-mode export of a module in training mode would otherwise flip it).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from ..config import OnnxConfig
from ..errors import ExportError
from ..options import ExportOptions

#: The dynamo exporter emits opset 18 and converts down poorly: it is its floor.
DYNAMO_MIN_OPSET = 18
TWO_GIB = 2 * 1024**3


class _SelectOutputs(torch.nn.Module):
    """Positional inputs in the config's order in, the config's outputs as a tuple out."""

    def __init__(self, model: torch.nn.Module, input_names: list[str], output_names: list[str]) -> None:
        super().__init__()
        self.model = model
        self.input_names = input_names
        self.output_names = output_names

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = self.model(**dict(zip(self.input_names, args, strict=True)), return_dict=True)
        missing = [name for name in self.output_names if name not in outputs]
        if missing:
            raise ExportError(f"The model returned no {', '.join(missing)} (it returned {', '.join(outputs)}).")
        return tuple(outputs[name] for name in self.output_names)


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


def convert(model: Any, config: OnnxConfig, path: Path, options: ExportOptions) -> None:
    """Export ``model`` to ``path`` with the exporter and opset of ``options``."""
    dummy = config.generate_dummy_inputs(options.shapes)
    input_names = list(config.inputs)
    output_names = list(config.outputs)
    args = tuple(torch.from_numpy(dummy[name]) for name in input_names)
    wrapper = _SelectOutputs(model, input_names, output_names).eval()
    exporter_arguments = _dynamo_arguments if options.exporter == "dynamo" else _torchscript_arguments
    with preserved_training_flags(model), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.eval()
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
            raise ExportError(f"torch.onnx ({options.exporter}) failed: {type(exc).__name__}: {exc}") from exc


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
            "The dynamo exporter needs onnxscript: `pip install modelexport-onnx[pt]` "
            "(or use the default TorchScript exporter)."
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
