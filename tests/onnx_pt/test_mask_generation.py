"""SAM's two files, chained as a user runs them, give the masks of the model's own ``forward``.

The registry walk validates each file against the module it was traced from; this checks those modules
against transformers: the image through ``vision_encoder``, its outputs and a prompt through
``prompt_encoder_mask_decoder``, against ``SamModel(pixel_values=..., input_points=..., input_labels=...)``,
with the labels a processor makes that the dummy inputs lack (-1: not a point, -10: padding). One type per
layout: SAM, SAM-HQ (intermediate states handed on), SAM 2 (feature maps handed on; SAM 3's tracker shares it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from modelexport_onnx.validation import onnx_session
from tiny_models import build_pt_model, save_pt_model, tiny_config

from modelexport.cli import main


@pytest.mark.parametrize(
    ("name", "model_class"),
    [("sam", "SamModel"), ("sam-hq", "SamHQModel"), ("sam2", "Sam2Model")],
)
def test_the_files_chained_give_the_models_masks(name: str, model_class: str, tmp_path: Path) -> None:
    cls = getattr(transformers, model_class)
    out = tmp_path / "onnx"
    assert main(["export", "onnx", "-m", str(save_pt_model(cls, name, tmp_path / name)), str(out)]) == 0
    side = int(tiny_config(name).prompt_encoder_config.image_size)
    rng = np.random.default_rng(3)
    pixel_values = rng.standard_normal((2, 3, side, side)).astype(np.float32)
    points = rng.uniform(0, side, size=(2, 2, 3, 2)).astype(np.float32)
    labels = np.array([[[1, 0, 1], [1, -1, -10]], [[0, 1, -10], [1, 1, 1]]], dtype=np.int64)

    encoder = onnx_session(out / "vision_encoder.onnx")
    embedded = encoder.run(None, {"pixel_values": pixel_values})
    decoder = onnx_session(out / "prompt_encoder_mask_decoder.onnx")
    feed = dict(zip([o.name for o in encoder.get_outputs()], embedded, strict=True))  # handed on by name
    outputs = decoder.run(None, {**feed, "input_points": points, "input_labels": labels})

    model = build_pt_model(cls, name)  # the saved weights: same seed
    with torch.no_grad():
        expected = model(
            pixel_values=torch.from_numpy(pixel_values),
            input_points=torch.from_numpy(points),
            input_labels=torch.from_numpy(labels),
        )
    names = [o.name for o in decoder.get_outputs()]
    assert names[:2] == ["iou_scores", "pred_masks"]
    assert outputs[1].shape == (2, 2, 3, 32, 32)  # three masks per prompt, 4 x the 8 x 8 embedding grid
    for name, got in zip(names, outputs, strict=True):  # SAM 2 also says whether the object is there
        want = getattr(expected, name).numpy()
        assert np.abs(want).max() > 0.1  # outputs large enough for the comparison to mean something
        np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max(), rtol=0, err_msg=name)
