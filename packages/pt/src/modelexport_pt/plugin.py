"""The ``pt`` framework plugin object, named by the ``modelexport.frameworks`` entry point."""

from __future__ import annotations

from modelexport_core.transformers_plugin import TransformersFramework

from .autoclasses import PT_TASK_TO_AUTOCLASS

framework = TransformersFramework(
    name="pt",
    display_name="PyTorch",
    distribution="modelexport-pt",
    priority=10,
    weight_files=(
        "model.safetensors",
        "model.safetensors.index.json",
        "model-*-of-*.safetensors",
        "pytorch_model.bin",
        "pytorch_model.bin.index.json",
        "pytorch_model-*-of-*.bin",
    ),
    required_modules=("torch", "transformers"),
    table=PT_TASK_TO_AUTOCLASS,
    loading="modelexport_pt.loading",
    base_class_paths=(("torch.nn", "Module"),),
)
