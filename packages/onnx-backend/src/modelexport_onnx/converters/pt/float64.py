"""The second, float64 run of a PyTorch model that validation derives its bounds from.

The weights are cast in place for the run and restored exactly afterwards (float32 -> float64 ->
float32 is exact), so the model leaves bit for bit as it came; the run needs their float64 size
free, so it is skipped when memory is short.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

#: Keep this share of the machine's available memory free when the weights are held in float64.
_FLOAT64_MEMORY_SHARE = 0.5


def parameter_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


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
    """Hold the model's floating-point weights and buffers in float64, and restore them exactly on exit."""
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
