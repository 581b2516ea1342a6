"""The ``timm`` library: PyTorch Image Models, from the folder timm writes or its Hub repo.

timm saves a model as ``config.json`` (``architecture``, ``num_classes``, ``pretrained_cfg`` with the input size,
mean and standard deviation) beside ``model.safetensors`` (``timm.models.save_for_hf``, what ``push_to_hf_hub``
uploads). There is no ``model_type``: every timm model exports through one config, ``default-timm-config`` (as
optimum's registry names it), sized from ``pretrained_cfg``. The folder may be local (optimum's timm loader only
reads Hub ids: optimum#2423) or a cached Hub snapshot.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from modelexport_core.errors import ModelLoadError
from modelexport_core.model_source import ModelReference
from modelexport_core.tasks import Task

from ..errors import UnsupportedExportOptionError

#: The registry's model type of every timm model (optimum's ``_MODEL_TYPE_FOR_DEFAULT_CONFIG["timm"]``).
TIMM_MODEL_TYPE = "default-timm-config"
#: The weight files timm writes, in the order it reads them.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
#: How to install timm so that it runs here: timm needs torchvision, which has no CPU build for the local torch.
INSTALL_HINT = (
    'From the root of a modelexport clone: `pip install -c constraints/timm.txt ".[pt,onnx,timm]"` '
    "(timm with PyPI's torch 2.14.1 + torchvision 0.29.1, which run on CPU)."
)


def is_timm_config(config: Mapping[str, Any]) -> bool:
    """A timm ``config.json``: an ``architecture`` name and a ``pretrained_cfg``, and no transformers type."""
    return (
        isinstance(config.get("architecture"), str)
        and isinstance(config.get("pretrained_cfg"), Mapping)
        and not config.get("model_type")
    )


def require_timm() -> None:
    """timm (and the torchvision it imports) must be importable to load a timm model: say how, before loading."""
    missing = [name for name in ("timm", "torch", "torchvision") if importlib.util.find_spec(name) is None]
    if missing:
        raise UnsupportedExportOptionError(
            f"This is a timm model; loading it needs {', '.join(missing)}, not installed. {INSTALL_HINT}"
        )


def architecture_family(architecture: str) -> str | None:
    """The timm module that defines ``architecture`` (``efficientnet`` for ``efficientnet_lite0.ra_in1k``): the
    family the walk measures one model of. ``None`` where timm does not know the architecture. Imports timm."""
    import timm

    name = architecture.split(".")[0]
    if not timm.is_model(name):
        return None
    return str(timm.models.model_entrypoint(name).__module__).rsplit(".", 1)[-1]


def weights_file(directory: Path) -> Path:
    for name in WEIGHT_FILES:
        if (directory / name).is_file():
            return directory / name
    raise ModelLoadError(f"{directory} has no timm weights ({' or '.join(WEIGHT_FILES)}).")


def create_model(config: Mapping[str, Any], weights: Path | None) -> Any:
    """timm's own model of ``config`` in eval mode, with the weights of ``weights`` (``None``: random)."""
    import timm

    kwargs: dict[str, Any] = {}
    if isinstance(config.get("num_classes"), int):
        kwargs["num_classes"] = config["num_classes"]
    if isinstance(config.get("global_pool"), str):
        kwargs["global_pool"] = config["global_pool"]
    pretrained_cfg = dict(config.get("pretrained_cfg") or {})
    if weights is not None:
        pretrained_cfg["file"] = str(weights)
    model = timm.create_model(
        str(config["architecture"]),
        pretrained=weights is not None,
        pretrained_cfg_overlay=pretrained_cfg,
        **kwargs,
    )
    return model.eval()


class TimmLibrary:
    """The library plugin of timm."""

    name = "timm"
    priority = 20
    registry_library = "timm"
    default_model_type: str | None = TIMM_MODEL_TYPE
    #: What its folders are, for a message when ``--library`` names it and the files are not.
    folder_description = "a timm model folder (config.json with architecture and pretrained_cfg, as timm saves it)"
    tasks: tuple[str, ...] = ("image-classification", "default")

    def detects(self, files: Sequence[str], config: Mapping[str, Any] | None) -> bool:
        return config is not None and is_timm_config(config)

    def config_problem(self, config: Mapping[str, Any]) -> str | None:
        return None if is_timm_config(config) else "it has no timm 'architecture' and 'pretrained_cfg'"

    def model_type(self, config: Mapping[str, Any]) -> str:
        return TIMM_MODEL_TYPE

    def infer_task(self, reference: ModelReference) -> Task:
        """A model with a classifier classifies; one saved without (``num_classes`` 0) extracts features."""
        return Task.of("default" if reference.config.get("num_classes") == 0 else "image-classification")

    def load(self, reference: ModelReference, task: Task, framework: str, *, trust_remote_code: bool) -> Any:
        require_timm()
        directory = reference.local_directory()
        if directory is None:
            directory = reference.require_snapshot()
        return create_model(reference.config, weights_file(directory))


library = TimmLibrary()
