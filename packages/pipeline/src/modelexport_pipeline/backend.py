"""The seam between the pipeline and a backend: what a backend implements to export through the whole pipeline.

The pipeline (:mod:`.run`) does what every export shares: the output lock, the request's shared checks, the
model resolved once (task, framework, library), loading through the library, the staging folder and its atomic
publish, the validation report, the record, the progress lines. A backend says what is its own: its option
checks, and per export an :class:`ExportPlan` that configures, converts, validates and lays out the files.

A backend's ``modelexport.backends`` entry point names one object that registers its export configs into core's
registry (:class:`~modelexport_core.registry.BackendPlugin`) and is this :class:`Backend`; the pipeline checks
that with ``isinstance`` after loading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from modelexport_core.errors import BackendNotInstalledError
from modelexport_core.plugins import get_backend

from .checks import ValidationReport
from .progress import Progress
from .request import ExportRequest, Resolved


@dataclass
class ExportResult:
    """What an export did: where, what, the files it published, its validation and timings."""

    output_dir: Path
    task: str
    framework: str
    model_type: str
    files: list[str]
    validation: ValidationReport
    timings: dict[str, float] = field(default_factory=dict)
    #: Whose view of the model was exported: ``transformers``, ``sentence_transformers`` (the whole pipeline)...
    library: str = "transformers"
    backend: str = "onnx"


@dataclass(frozen=True)
class Converted:
    """What step 4 and 5 wrote into the staging folder: every file's name, and what step 5 says."""

    files: list[str]
    line: str


@runtime_checkable
class ExportPlan(Protocol):
    """One export as its backend will do it, made from the resolved model before anything is loaded."""

    @property
    def notes(self) -> tuple[str, ...]:
        """What the user should know (a model type in no row of the table...): shown in step 1."""
        ...

    @property
    def description(self) -> str:
        """How step 1 describes what will be exported beyond task and framework (a sentence pipeline...), or ""."""
        ...

    @property
    def layout(self) -> str:
        """The layout the files are written in (never ``auto``); ``flat`` is the backend's plain one."""
        ...

    def export_unloaded(self, progress: Progress) -> ExportResult | None:
        """Steps 2 to 7 done another way (ONNX: weights streamed for a model beyond ``--max-memory``), or ``None``."""
        ...

    def configure(self, model: Any) -> str:
        """Step 3: the export config from the loaded model; what step 3 says."""
        ...

    def converting(self) -> str:
        """What step 4 says before converting."""
        ...

    def convert(self, model: Any, staging: Path) -> Converted:
        """Steps 4 and 5: the model's files converted and post-processed into ``staging``."""
        ...

    def validate(self, model: Any, staging: Path) -> ValidationReport:
        """Step 6: every output against the framework's own, then the follow-up checks of the export's kind."""
        ...

    def failure_hint(self) -> str | None:
        """Added to a conversion or validation error of a model the measured tables do not show passing (an
        architecture tried through a family, a timm family the walk saw fail): where to report it, what to try."""
        ...

    def finish(self, model: Any, staging: Path, validation: ValidationReport, files: list[str]) -> list[str]:
        """After validation passed, before publishing: files added (quantized variants) and laid out; all names."""
        ...


@runtime_checkable
class Backend(Protocol):
    """What a backend is to the pipeline."""

    #: The entry point's name: ``onnx``...
    name: str
    #: The distribution whose version the export's record names.
    distribution: str
    #: The backend's own options (:attr:`ExportRequest.options`) and their types, for a batch manifest's checks.
    option_types: Mapping[str, tuple[type, ...]]

    def check_request(self, request: ExportRequest) -> None:
        """The backend's checks of the options that need no model (called before the reference is looked at)."""
        ...

    def plan(self, resolved: Resolved, request: ExportRequest) -> ExportPlan:
        """The export of ``resolved``, its options checked against the model's config: nothing loaded yet."""
        ...


def export_backend(name: str) -> Backend:
    """The :class:`Backend` called ``name`` (its entry point's object, checked after loading)."""
    plugin = get_backend(name)
    if not isinstance(plugin, Backend):
        raise BackendNotInstalledError(
            f"The {name!r} backend registers export configs but cannot export through the pipeline: its entry "
            "point's object does not provide the Backend interface (name, distribution, option_types, "
            "check_request, plan). Reinstall or upgrade the package that provides it."
        )
    return plugin
