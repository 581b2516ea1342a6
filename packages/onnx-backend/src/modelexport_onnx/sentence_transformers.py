"""sentence-transformers pipelines as one ONNX graph: the export config with the pipeline's outputs, and the check
of the export against the library's own ``SentenceTransformer.encode`` on real sentences.

The pipeline itself is read from the checkpoint's files by the library plugin
(:mod:`modelexport_pipeline.libraries.sentence_transformers`); the graph's pooling, dense and normalize steps are
built from what was read (:mod:`.converters.pt.sentence_pipeline`). The check is honest: ``encode`` shares nothing
with our graph but the weights, so a pipeline we misread fails the export instead of shipping.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from modelexport_core.errors import UnsupportedTaskError
from modelexport_pipeline.checks import Tolerance
from modelexport_pipeline.libraries.sentence_transformers import CHECK_SENTENCES, MIN_COSINE, SentencePipeline

from .config import AxisNames, InputSpec, OnnxConfig

_TOKENS: AxisNames = {0: "batch_size", 1: "sequence_length"}


class SentenceEmbeddingOnnxConfig(OnnxConfig):
    """The architecture's feature-extraction config (its inputs, opsets), with the pipeline's outputs.

    Composed rather than subclassed: every text encoder registered for ``default`` (bert, mpnet,
    xlm-roberta...) keeps its own inputs (with or without ``token_type_ids``) and opset.
    """

    OUTPUTS: ClassVar[dict[str, AxisNames]] = {"token_embeddings": _TOKENS, "sentence_embedding": {0: "batch_size"}}

    def __init__(self, base: OnnxConfig, pipeline: SentencePipeline) -> None:
        if base.task != "default" or len(base.components()) != 1:
            raise UnsupportedTaskError(
                f"A sentence-transformers pipeline exports from its transformer's feature-extraction config, "
                f"not {type(base).__name__} for {base.task}."
            )
        self.base = base
        self.pipeline = pipeline
        super().__init__(
            base.config,
            "default",
            int_dtype=base.int_dtype,
            float_dtype=base.float_dtype,
            min_opset=base.min_opset,
            atol=base.atol,
            names=base.names,
        )

    @property
    def default_opset(self) -> int:
        return self.base.default_opset

    def input_specs(self) -> list[InputSpec]:
        return self.base.input_specs()

    @property
    def outputs(self) -> dict[str, AxisNames]:
        return {name: dict(axes) for name, axes in self.OUTPUTS.items()}


@dataclass(frozen=True)
class SentenceCheck:
    """The exported graph's ``sentence_embedding`` against ``SentenceTransformer.encode`` on real sentences."""

    report_key: ClassVar[str] = "sentence_check"

    sentences: int
    #: The lowest cosine similarity between the two embeddings of one sentence.
    min_cosine: float
    #: Largest absolute difference from ``encode``'s (float32) embeddings.
    max_abs_diff: float
    #: The judged difference (from the library's float64 run where there is one) and its bound,
    #: derived like every output's in step 6 (:class:`~modelexport_onnx.validation.Tolerance`).
    error: float
    bound: float
    bound_source: str
    cosine_bound: float = MIN_COSINE
    #: Why no comparison was possible (shapes differ, values not finite).
    problem: str | None = None

    @property
    def passed(self) -> bool:
        return self.problem is None and self.min_cosine >= self.cosine_bound and self.error <= self.bound

    def describe(self) -> str:
        verdict = "" if self.passed else " DIFFERS"
        if self.problem is not None:
            return f"sentence_embedding vs SentenceTransformer.encode: {self.problem}{verdict}"
        return (
            f"sentence_embedding vs SentenceTransformer.encode on {self.sentences} sentences: "
            f"min cosine {self.min_cosine:.9f}, max abs diff {self.max_abs_diff:.2e} "
            f"(error {self.error:.2e} vs bound {self.bound:.2e}){verdict}"
        )

    def failure(self) -> str:
        return (
            "Sentence-embedding check failed: the exported pipeline's sentence_embedding differs from "
            f"SentenceTransformer.encode (cosine at least {self.cosine_bound}, difference within "
            f"{self.bound:.2e}: {self.bound_source}).\n  {self.describe()}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def check_sentence_embeddings(
    onnx_path: Path,
    model: Any,
    tolerance: Tolerance,
    library_embeddings: Callable[[Any, list[str]], Any],
    sentences: tuple[str, ...] = CHECK_SENTENCES,
) -> SentenceCheck:
    """Embed ``sentences`` with the export in onnxruntime and with the library's ``encode``; compare.

    Both sides get the library's own tokenization (one padded batch). The bound on the difference is
    step 6's: a multiple of the library's float32 error against its float64 run on these sentences.
    """
    import numpy as np

    from .validation import onnx_session, run_onnx

    library = library_embeddings(model, list(sentences))
    onnx = run_onnx(onnx_session(onnx_path), library.inputs)["sentence_embedding"]
    expected = library.encoded
    if onnx.shape != expected.shape or not np.isfinite(onnx).all():
        problem = f"ONNX gives {list(onnx.shape)}, encode {list(expected.shape)}" + (
            "" if np.isfinite(onnx).all() else ", not finite"
        )
        return SentenceCheck(len(sentences), math.nan, math.inf, math.inf, 0.0, "-", problem=problem)
    onnx64, expected64 = onnx.astype(np.float64), expected.astype(np.float64)
    norms = np.linalg.norm(onnx64, axis=-1) * np.linalg.norm(expected64, axis=-1)
    cosines = np.sum(onnx64 * expected64, axis=-1) / np.maximum(norms, 1e-30)
    judged = tolerance.judge(onnx, expected, library.float64, library.no_float64)
    return SentenceCheck(
        sentences=len(sentences),
        min_cosine=float(np.min(cosines)),
        max_abs_diff=float(judged["max_abs_diff"]),
        error=float(judged["error"]),
        bound=float(judged["bound"]),
        bound_source=str(judged["bound_source"]),
    )
