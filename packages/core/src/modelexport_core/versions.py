"""Installed versions of distributions, asked in one place (the report, the records, the version gates)."""

from __future__ import annotations

import functools
import re
from importlib import metadata


@functools.cache
def installed_version(distribution: str) -> str | None:
    """The installed version of ``distribution``; ``None`` when it is not installed."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def version_text(distribution: str) -> str:
    """The version, or ``not installed``: for messages and reports."""
    return installed_version(distribution) or "not installed"


def major_version(distribution: str) -> int | None:
    """The major version number (``5`` for transformers 5.24); ``None`` when not installed or unreadable."""
    version = installed_version(distribution)
    if version is None:
        return None
    found = re.match(r"\d+", version)
    return int(found.group()) if found else None
