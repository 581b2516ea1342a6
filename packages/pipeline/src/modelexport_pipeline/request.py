"""What the user asked for, and the model resolved once against it: the values every step of an export reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from modelexport_core.libraries import LibraryPlugin
from modelexport_core.model_source import ModelReference
from modelexport_core.plugins import FrameworkPlugin
from modelexport_core.tasks import Task


@dataclass(frozen=True)
class ExportRequest:
    """Every option of one export, as given. The backend's own options (ONNX: ``opset``, ``converter``,
    ``optimize``, ``quantize``) are in :attr:`options`, checked by the backend; the rest mean the same to all."""

    output_dir: Path
    #: The backend the model becomes (an entry point of ``modelexport.backends``): ``onnx``...
    backend: str = "onnx"
    task: str = "auto"
    framework: str | None = None
    atol: float | None = None
    dynamic_axes: bool = True
    batch_size: int | None = None
    sequence_length: int | None = None
    dtype: str = "fp32"
    report: Path | None = None
    overwrite: bool = False
    trust_remote_code: bool = False
    generation_check: bool = True
    #: ``auto`` (from the files), or a library's name: ``transformers``, ``sentence_transformers``, ``timm``.
    library: str = "auto"
    #: ``--wait``: queue behind another export writing the same output directory instead of failing at once.
    wait: bool = False
    #: ``--layout``: where the files go and their names, for the program that loads them (the backend's layouts).
    layout: str = "auto"
    #: ``--max-memory`` (bytes): an export expected to peak beyond it streams the weights, where the backend can.
    max_memory: int | None = None
    #: Written as the export's record among the published files (a batch's note of what was exported from what).
    record: dict[str, Any] | None = None
    #: The backend's own options by name.
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """The model and what will be done with it, settled once before anything is loaded: the typed task, the
    framework and library plugins (the backend adds its own plan on top: its config constructor, converter...)."""

    reference: ModelReference
    task: Task
    framework_plugin: FrameworkPlugin
    library: LibraryPlugin
    model_type: str

    @property
    def framework(self) -> str:
        """The framework's name (``pt``, ``tf``)."""
        return self.framework_plugin.name
