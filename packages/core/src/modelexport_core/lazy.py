"""One helper for the lazy re-exports of the facade and the backends (module ``__getattr__``).

A package's ``__init__`` lists the public names and the module defining each; the name's module
is imported the first time the name is read, then the value is kept in the package's namespace
so later reads skip ``__getattr__``. Importing the package itself stays cheap.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any


def import_attr(name: str, exports: Mapping[str, str], namespace: dict[str, Any], *, needs: str | None = None) -> Any:
    """The value of the re-exported ``name`` of the module whose globals are ``namespace``.

    ``exports`` maps each public name to the module defining it. ``needs``: a sentence saying what to
    install, used when the defining module's own package is missing (an optional backend).
    """
    owner = str(namespace.get("__name__", "module"))
    module = exports.get(name)
    if module is None:
        raise AttributeError(f"module {owner!r} has no attribute {name!r}")
    try:
        value = getattr(importlib.import_module(module), name)
    except ModuleNotFoundError as exc:
        if needs is not None and exc.name and module.startswith(exc.name.split(".")[0]):
            raise ImportError(f"{owner} {needs}") from exc
        raise
    namespace[name] = value
    return value
