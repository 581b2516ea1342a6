"""The same weights exported from PyTorch and from TensorFlow give the same ONNX outputs.

For every architecture the TensorFlow registry advertises, a tiny PyTorch model is saved and
TensorFlow loads it (``from_pt=True``); both are exported with their own converter, and the two
ONNX files are run on the same inputs (another batch size and length than the trace). For gpt2,
the greedy generation loop gives the same tokens from either export, and the same as both
frameworks' ``generate``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from modelexport_core import TasksManager
from modelexport_core.plugins import get_framework
from modelexport_core.registry import registry
from modelexport_onnx.export import export_components, resolve_options
from modelexport_onnx.generation import check_generation, greedy_generate, padded_prompts
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, validation_shapes_for
from tiny_models import save_pt_model

TasksManager.get_supported_tasks_for_model_type("bert", "onnx")
TF_TASKS: dict[str, set[str]] = {}
for _entry in registry.all_entries("onnx"):
    if _entry.supports_framework("tf") and _entry.supports_framework("pt"):  # both: the same weights compared
        TF_TASKS.setdefault(_entry.model_type, set()).add(_entry.task)
#: The task checked per architecture: the one that exercises the most of the model.
PREFERENCE = (
    "causal-lm-with-past",
    "seq2seq-lm-with-past",
    "causal-lm",
    "masked-lm",
    "semantic-segmentation",
    "image-classification",
    "default",
)
CHECKED = {model_type: next(t for t in PREFERENCE if t in tasks) for model_type, tasks in sorted(TF_TASKS.items())}


def load_both(model_type: str, task: str, directory: Path) -> tuple[Any, Any]:
    """A tiny PyTorch model saved with ``save_pretrained``, and TensorFlow's model loaded from those weights."""
    saved = save_pt_model(TasksManager.get_model_class_for_task(task, "pt"), model_type, directory)
    pt_model = TasksManager.get_model_from_task(task, str(saved), framework="pt")
    tf_model = TasksManager.get_model_class_for_task(task, "tf").from_pretrained(saved, from_pt=True)
    return pt_model, tf_model


def export_with(model: Any, config: Any, framework: str, directory: Path) -> dict[str, Any]:
    export_components(
        model, config, directory, resolve_options(config, framework=framework), framework, directory / ".w"
    )
    return {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}


def test_every_tensorflow_architecture_is_checked() -> None:
    assert len(CHECKED) >= 20
    assert {"gpt2", "t5", "bart", "bert", "segformer", "vit"} <= set(CHECKED)


@pytest.mark.parametrize("model_type", sorted(CHECKED))
def test_pytorch_and_tensorflow_exports_agree(model_type: str, tmp_path: Path) -> None:
    task = CHECKED[model_type]
    pt_model, tf_model = load_both(model_type, task, tmp_path / "weights")
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)(pt_model.config)
    from_pt = export_with(pt_model, config, "pt", tmp_path / "pt")
    from_tf = export_with(tf_model, config, "tf", tmp_path / "tf")
    shapes = validation_shapes_for(EXPORT_SHAPES)
    for name, part in config.components().items():
        assert [i.name for i in from_pt[name].get_inputs()] == [i.name for i in from_tf[name].get_inputs()]
        assert [o.name for o in from_pt[name].get_outputs()] == [o.name for o in from_tf[name].get_outputs()]
        padded = part.generate_dummy_inputs(shapes, seed=11)
        # Every output, where no token is padding.
        unpadded = {k: np.ones_like(v) if k.endswith("attention_mask") else v for k, v in padded.items()}
        compare(name, part, from_pt[name].run(None, unpadded), from_tf[name].run(None, unpadded), config.atol)
        # With padding: every output where the mask is not a model input (decoder files: the encoder mask
        # only hides states); else the outputs of real tokens. At padded positions the frameworks differ
        # by design: TensorFlow zeroes fully masked attention rows, TF OPT derives positions from the mask.
        outputs_pt = from_pt[name].run(None, padded)
        outputs_tf = from_tf[name].run(None, padded)
        mask = padded.get("attention_mask")
        if mask is None:
            compare(name, part, outputs_pt, outputs_tf, config.atol)
            continue
        compared = 0
        for output, a, b in zip(part.outputs, outputs_pt, outputs_tf, strict=True):
            a, b = real_tokens(a, mask), real_tokens(b, mask)
            if a is not None:
                compared += 1
                assert np.abs(a - b).max() <= config.atol, f"{name}:{output} (real tokens of a padded batch)"
        assert compared or part.outputs.keys() <= {"logits", "pooler_output"}, name


def real_tokens(values: Any, mask: Any) -> Any:
    """The entries of ``values`` that belong to unpadded tokens, or None when it has no token axis."""
    keep = mask.astype(bool)
    if values.ndim == 4 and values.shape[2] == mask.shape[1] and values.shape[0] == mask.shape[0]:
        return np.moveaxis(values, 2, 1)[keep]  # caches: (batch, heads, length, head dim)
    if values.ndim >= 2 and values.shape[0] == mask.shape[0] and values.shape[1] <= mask.shape[1]:
        if values.ndim == 2 and values.shape[1] != mask.shape[1]:
            return None  # (batch, labels): one value per sequence
        return values[keep[:, -values.shape[1] :]]  # new tokens come last when a past precedes them
    return None


def compare(name: str, part: Any, outputs_pt: list[Any], outputs_tf: list[Any], atol: float) -> None:
    for output, a, b in zip(part.outputs, outputs_pt, outputs_tf, strict=True):
        assert a.shape == b.shape, (name, output)
        assert np.isfinite(a).all(), (name, output)
        difference = float(np.abs(a - b).max()) if a.size else 0.0
        assert difference <= atol, f"{name}:{output} differs by {difference:.2e} (atol {atol})"


def test_gpt2_generates_the_same_tokens_from_either_export(tmp_path: Path) -> None:
    task = "causal-lm-with-past"
    pt_model, tf_model = load_both("gpt2", task, tmp_path / "weights")
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type="gpt2")(pt_model.config)
    from_pt = export_with(pt_model, config, "pt", tmp_path / "pt")["model"]
    from_tf = export_with(tf_model, config, "tf", tmp_path / "tf")["model"]
    ids, mask = padded_prompts(int(pt_model.config.vocab_size), (7, 3), 0, side="left")
    tokens_pt = greedy_generate(from_pt, config, ids, mask, 20, 0)
    tokens_tf = greedy_generate(from_tf, config, ids, mask, 20, 0)
    assert tokens_pt.shape == (2, ids.shape[1] + 20)
    np.testing.assert_array_equal(tokens_pt, tokens_tf)
    for framework, model in (("pt", pt_model), ("tf", tf_model)):  # and both frameworks agree with them
        plugin = get_framework(framework)
        check = check_generation(
            {"model": from_tf}, config, lambda inputs, n, pad, p=plugin, m=model: p.generate(m, inputs, n, pad), 20
        )
        assert check.equal, (framework, check.onnx_tokens, check.reference_tokens)
