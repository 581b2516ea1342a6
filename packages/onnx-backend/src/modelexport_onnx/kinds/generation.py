"""Language models with a cache: greedy tokens of the exported files against the framework's ``generate``."""

from __future__ import annotations

from collections.abc import Mapping

from modelexport_core.plugins import get_framework
from modelexport_pipeline.checks import FollowUpCheck, ValidationReport

from ..config import OnnxConfig
from ..generation import check_generation
from ..validation import fused_attention_graph, onnx_session
from . import FollowUp

#: The export command's own generation check: short, the test suite runs 20 tokens.
GENERATION_CHECK_TOKENS = 8
#: The prompts' lengths: the shorter one left-padded, as batched generation pads.
PROMPT_LENGTHS = (6, 3)
#: For a fused attention, which is defined on unpadded (or right-padded) batches only.
FUSED_PROMPT_LENGTHS = (6, 6)


def logits_bound(report: ValidationReport) -> float | None:
    """The largest bound validation allowed on a ``logits`` output (of any file)."""
    bounds = [c.bound for c in report.outputs if c.name.split(":")[-1] == "logits" and c.bound is not None]
    return max(bounds, default=None)


class GenerationKind:
    name = "generation"

    def applies(self, config: OnnxConfig) -> bool:
        return config.generates_tokens

    def export_modules(self) -> Mapping[str, str]:
        return {}

    def follow_up(self, run: FollowUp) -> FollowUpCheck | None:
        if not run.generation_check:
            return None
        plugin = get_framework(run.framework)
        sessions = {name: onnx_session(run.staging / f"{name}.onnx") for name in run.config.components()}
        model = run.model
        # A fused attention (onnxruntime's GroupQueryAttention) takes no left padding: prompts of one length
        lengths = FUSED_PROMPT_LENGTHS if fused_attention_graph(run.staging, run.config) else PROMPT_LENGTHS
        return check_generation(
            sessions,
            run.config,
            lambda inputs, n, pad: plugin.generate(model, inputs, n, pad),
            max_new_tokens=GENERATION_CHECK_TOKENS,
            lengths=lengths,
            logits_bound=logits_bound(run.validation),
        )
