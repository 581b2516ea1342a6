"""TensorFlow tests run only where the tf plugin and TensorFlow are installed (the nox sessions say which)."""

import importlib.util

if importlib.util.find_spec("tensorflow") is None or importlib.util.find_spec("modelexport_tf") is None:
    collect_ignore_glob = ["test_*.py"]
