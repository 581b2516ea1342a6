"""PyTorch tests run only where the pt plugin and torch are installed (the nox sessions say which)."""

import importlib.util

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("modelexport_pt") is None:
    collect_ignore_glob = ["test_*.py"]
