"""The ``tf`` framework plugin object, named by the ``modelexport.frameworks`` entry point."""

from __future__ import annotations

from modelexport_core.transformers_plugin import TransformersFramework

from .autoclasses import TF_TASK_TO_AUTOCLASS

framework = TransformersFramework(
    name="tf",
    display_name="TensorFlow",
    distribution="modelexport-tf",
    priority=20,
    weight_files=("tf_model.h5", "tf_model.h5.index.json", "tf_model-*-of-*.h5"),
    required_modules=("tensorflow", "tf_keras", "transformers"),
    table=TF_TASK_TO_AUTOCLASS,
    loading="modelexport_tf.loading",
    base_class_paths=(("tensorflow", "Module"),),
    class_prefix="TF",
)
