"""``python -m modelexport``: the same as the ``modelexport`` command."""

from modelexport.cli import entry

entry()
