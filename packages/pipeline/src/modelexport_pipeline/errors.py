"""Errors of an export, whatever the backend; all are :class:`~modelexport_core.ModelExportError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelexport_core.errors import ModelExportError

if TYPE_CHECKING:
    from .checks import ValidationReport


class ExportError(ModelExportError):
    """The conversion itself failed."""

    exit_code = 1


class UnsupportedExportOptionError(ModelExportError, ValueError):
    """An option this model, exporter or machine cannot honour (opset too low, fp16 on CPU...)."""


class OutputExistsError(ModelExportError, FileExistsError):
    """The output directory exists and holds files; ``--overwrite`` was not given."""


class OutputNotWritableError(ModelExportError, PermissionError):
    """The output directory cannot be created or written."""


class ValidationError(ExportError):
    """The exported model's outputs differ from the framework's beyond the tolerance."""

    def __init__(self, message: str, report: ValidationReport) -> None:
        super().__init__(message)
        self.report = report


class OutputLockedError(ModelExportError):
    """Another export is writing the same output directory right now (see :mod:`.output_lock`)."""
