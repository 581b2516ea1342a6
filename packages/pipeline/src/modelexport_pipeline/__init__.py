"""modelexport-pipeline: the export every backend and every model library shares.

:mod:`.run` is the export itself (resolve, load, configure, convert, validate, publish); :mod:`.backend` is what a
backend implements; :mod:`.request` the request and the model resolved once; :mod:`.staging`, :mod:`.output_lock`
and :mod:`.batch` publish atomically, alone, and many at once; :mod:`.checks` compares outputs and reports;
:mod:`.libraries` holds the model libraries beyond transformers. Importing the package imports none of them.
"""

from __future__ import annotations

__version__ = "0.1.0"
