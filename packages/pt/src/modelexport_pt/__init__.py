"""modelexport-pt: the PyTorch framework plugin (imports neither torch nor transformers)."""

from .plugin import framework

__version__ = "0.1.0"
__all__ = ["framework"]
