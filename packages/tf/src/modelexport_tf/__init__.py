"""modelexport-tf: the TensorFlow framework plugin (imports neither tensorflow nor transformers)."""

from .plugin import framework

__version__ = "0.1.0"
__all__ = ["framework"]
