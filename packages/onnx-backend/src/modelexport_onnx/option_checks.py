"""Checks of the export options that run before the model is loaded, and before torch or transformers is imported.

A wrong option must fail in a fraction of a second with one line saying what to do: importing torch and
transformers alone takes seconds, loading a real model more, and some mistakes (``--opset 99`` with the
TorchScript exporter) otherwise end in a page of Torch IR. Everything here reads package metadata, the
plain ``config.json``, or device files; nothing imports a framework. The export checks again later
what only the loaded model or the framework itself can tell precisely (``resolve_options``, CUDA for fp16).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from importlib import metadata, util
from pathlib import Path
from typing import Any

from .errors import OutputNotWritableError, UnsupportedExportOptionError
from .options import DTYPES, EXPORTERS

#: Which exporters convert which framework's models (``auto`` fits every framework).
EXPORTERS_OF_FRAMEWORK: Mapping[str, tuple[str, ...]] = {"pt": ("torchscript", "dynamo"), "tf": ("tf2onnx",)}

#: The dynamo exporter emits opset 18 at least and converts down poorly: it is its floor.
DYNAMO_MIN_OPSET = 18

#: The highest opset torch 2.13's TorchScript exporter supports (``torch.onnx._constants.
#: ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET``): above it torch only warns that the opset "is not supported",
#: from 24 on it prints the whole graph to stdout and fails. Used when the installed torch's own
#: value cannot be read.
TORCHSCRIPT_MAX_OPSET = 20

#: Device files that show a GPU torch could use (NVIDIA's driver; AMD's ROCm, which torch also calls CUDA).
GPU_DEVICE_FILES = ("/proc/driver/nvidia/version", "/dev/nvidia0", "/dev/nvidiactl", "/dev/kfd")


def check_plain_options(
    *, atol: float | None, dtype: str, exporter: str, report: str | os.PathLike[str] | None
) -> None:
    """The options that need no model: tolerance, dtype (a GPU must be visible for fp16), exporter name, report path."""
    if exporter not in EXPORTERS:
        raise UnsupportedExportOptionError(f"Unknown exporter {exporter!r}; choose one of {', '.join(EXPORTERS)}.")
    if dtype not in DTYPES:
        raise UnsupportedExportOptionError(f"Unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}.")
    if atol is not None and not (math.isfinite(atol) and atol >= 0):
        raise UnsupportedExportOptionError(
            f"--atol {atol} is not a tolerance: give a finite number >= 0 (such as 1e-4), or leave it out to "
            "use a bound derived from the model."
        )
    if dtype == "fp16" and not gpu_visible():
        raise UnsupportedExportOptionError(
            "--dtype fp16 needs a CUDA GPU, and none is visible on this machine: PyTorch cannot produce fp16 "
            "reference outputs on CPU. Export in fp32 (the default) and convert the validated model afterwards "
            "(onnxconverter-common's float16.convert_float_to_float16)."
        )
    if report is not None:
        check_report_path(report)


def gpu_visible() -> bool:
    """Whether a GPU device is visible, from device files alone (importing torch to ask takes seconds).

    Errs on the side of a GPU: the export checks ``torch.cuda.is_available()`` again once torch is loaded.
    """
    return any(os.path.exists(path) for path in GPU_DEVICE_FILES)


def check_report_path(report: str | os.PathLike[str]) -> None:
    """Refuse a ``--report`` path that cannot be written: a directory, a missing or read-only folder.

    The report is written after validation, minutes into a large export: a bad path must fail first.
    """
    path = Path(report).expanduser().absolute()
    if path.is_dir():
        raise OutputNotWritableError(
            f"--report {report} is a directory; give a file path, such as {path / 'report.json'}."
        )
    if not path.parent.is_dir():
        raise OutputNotWritableError(
            f"--report {report}: the folder {path.parent} does not exist; create it first or choose another path."
        )
    if not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise OutputNotWritableError(f"--report {report} cannot be written (permission denied); choose another path.")


def check_model_options(
    *,
    opset: int | None,
    exporter: str,
    dtype: str,
    framework: str,
    model_config: Mapping[str, Any],
    constructor: Callable[[Any], Any],
    framework_name: str | None = None,
) -> None:
    """The options that depend on the model's framework and architecture, from its ``config.json`` alone.

    ``constructor`` builds the architecture's export config; it accepts the plain ``config.json``
    dict. Where that fails for some architecture, only the checks that need it are skipped here:
    they run again after loading.
    """
    shown = framework_name or framework
    exporters = EXPORTERS_OF_FRAMEWORK.get(framework)
    if exporter != "auto" and exporters is not None and exporter not in exporters:
        raise UnsupportedExportOptionError(
            f"--exporter {exporter} does not convert {shown} models, and this model is a {shown} one: use "
            f"--exporter {' or '.join(exporters)} (or leave the default, auto)."
        )
    if dtype == "fp16" and framework != "pt":
        raise UnsupportedExportOptionError(
            f"--dtype fp16 needs PyTorch on a CUDA GPU; {shown} models export in fp32 only (the default)."
        )
    if opset is None:
        return
    if opset < 1:
        raise UnsupportedExportOptionError(f"--opset {opset} is not an ONNX opset: give a positive number.")
    config = _export_config(constructor, model_config)
    chosen = _likely_exporter(exporter, framework, config)
    check_opset_floor(opset, getattr(config, "min_opset", 1), chosen)
    newest = onnx_max_opset()
    if opset > newest:
        raise UnsupportedExportOptionError(
            f"--opset {opset} is newer than the installed onnx ({_version('onnx')}) knows: use --opset {newest} "
            "or lower."
        )
    if chosen == "torchscript":
        ceiling = torchscript_max_opset()
        if opset > ceiling:
            picked = " (the one --exporter auto picks for this model)" if exporter == "auto" else ""
            raise UnsupportedExportOptionError(
                f"--opset {opset} is beyond the TorchScript exporter{picked}: torch {_version('torch')} emits "
                f"opset {ceiling} at most. Use --opset {ceiling} or lower, or --exporter dynamo for a newer opset."
            )


def opset_floor(min_opset: int, exporter: str | None) -> int:
    """The lowest opset an export may use: the architecture's minimum, and 18 with the dynamo exporter."""
    return max(min_opset, DYNAMO_MIN_OPSET if exporter == "dynamo" else 1)


def check_opset_floor(opset: int, min_opset: int, exporter: str | None) -> None:
    """Refuse an opset below :func:`opset_floor`, saying which of the two limits it is."""
    floor = opset_floor(min_opset, exporter)
    if opset < floor:
        why = (
            "the dynamo exporter emits opset 18 at least"
            if opset < DYNAMO_MIN_OPSET <= floor
            else f"this architecture needs opset {floor} or newer"
        )
        raise UnsupportedExportOptionError(f"--opset {opset} is too low: {why}. Use --opset {floor} or higher.")


def _export_config(constructor: Callable[[Any], Any], model_config: Mapping[str, Any]) -> Any:
    """The export config built from the plain ``config.json``, or ``None`` where that architecture needs more."""
    try:
        return constructor(dict(model_config))
    except Exception:  # checked again after loading, from the real config
        return None


def _likely_exporter(exporter: str, framework: str, config: Any) -> str | None:
    """The exporter ``auto`` will pick, where it can be told without importing the framework (else ``None``).

    Mirrors ``automatic_exporter`` of ``converters.pt`` (which imports torch): the architecture's own
    choice, else dynamo for decoders on transformers 4.x, else TorchScript.
    """
    if exporter != "auto":
        return exporter
    if framework == "tf":
        return "tf2onnx"
    if framework != "pt" or config is None:
        return None
    if getattr(config, "exporter", None) is not None:
        return str(config.exporter)
    major = _major_version("transformers")
    if not getattr(config, "TORCHSCRIPT_ON_TRANSFORMERS_4", True) and major is not None and major < 5:
        return "dynamo"
    return "torchscript"


def onnx_max_opset() -> int:
    """The newest opset of the installed onnx (importing onnx is cheap: no framework)."""
    import onnx.defs

    return int(onnx.defs.onnx_opset_version())


def torchscript_max_opset() -> int:
    """The highest opset the installed torch's TorchScript exporter declares, read from its source, not imported."""
    spec = util.find_spec("torch")  # a top-level spec: finding it imports nothing
    if spec is not None and spec.origin:
        constants = Path(spec.origin).parent / "onnx" / "_constants.py"
        try:
            found = re.search(r"^ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET\s*=\s*(\d+)", constants.read_text(), re.M)
        except OSError:
            found = None
        if found:
            return int(found.group(1))
    return TORCHSCRIPT_MAX_OPSET


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def _major_version(distribution: str) -> int | None:
    found = re.match(r"\d+", _version(distribution))
    return int(found.group()) if found else None
