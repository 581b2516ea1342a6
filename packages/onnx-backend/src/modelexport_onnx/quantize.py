"""Dynamic int8 quantization of a validated export (``--quantize dynamic``), judged by its own metric on real text.

onnxruntime's dynamic quantization stores the weights of the matrix products (and embedding tables) as int8,
one scale per output channel, and quantizes activations to uint8 as each product runs. Each exported file
gets a ``<name>_quantized.onnx`` beside it (the name optimum's quantizer writes); the float files stay, so a
consumer picks either.

Quantized outputs cannot meet a float bound: int8 weights move every value by a fraction of a percent. So the
quantized files are judged on what a user of the model sees, against the float export that step 6 has just
validated against the framework, on the same inputs:

* hidden states and embeddings: the cosine similarity of each sentence's vector (token-level states are mean
  pooled over the attention mask, as sentence embeddings are) must be at least :data:`MIN_COSINE`;
* logits: the top-1 token or label must agree at :data:`MIN_TOP1_AGREEMENT` of the positions, a position where
  the float model's two best candidates are a near tie (:data:`NEAR_TIE_LOGIT_GAP`) not counting against it.

The inputs are real: fixed English sentences (:data:`CHECK_SENTENCES`) tokenized by the model's own tokenizer,
one sentence per run. Random token ids are not text (a real MiniLM's quantized embeddings of random ids are
0.986 cosine-similar to the float ones, of sentences 0.99+). Where the model reads no text, or its folder has
no tokenizer, the check runs on step 6's dummy inputs and says so. Encoder-decoders are run teacher-forced:
the decoder reads the float export's own greedy tokens, and each side its own encoder's states.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from modelexport_pipeline.cache_names import is_past, is_present
from modelexport_pipeline.dummy_inputs import DummyShapes
from modelexport_pipeline.libraries.sentence_transformers import CHECK_SENTENCES

from .config import DecoderOnnxConfig, OnnxConfig, Seq2SeqOnnxConfig
from .generation import greedy_generate, greedy_generate_seq2seq, positions_from_mask
from .shared_weights import share_weights
from .validation import fused_attention_feeds, fused_attention_graph, onnx_session, run_onnx

#: Below this cosine similarity between a quantized and a float embedding of one sentence, the quantized files
#: fail (the bound the issue tracker and optimum's quantization guides use for int8 embeddings).
MIN_COSINE = 0.99
#: The share of positions where the quantized top-1 token or label must be the float export's.
MIN_TOP1_AGREEMENT = 0.9
#: Where the float export's best logit leads the quantized model's pick by at most this (a probability ratio
#: of 1.1), either token is a fair top-1: the position does not count as a disagreement.
NEAR_TIE_LOGIT_GAP = 0.1
#: Timed runs of each model, after one warm-up, for the latency in the report.
LATENCY_RUNS = 5
#: Greedy tokens of the float export the decoders of encoder-decoders are teacher-forced with.
TEACHER_TOKENS = 8
#: Above this many bytes of float weights, the quantized file keeps its weights in an external data file too.
EXTERNAL_DATA_BYTES = 2**31
#: Inputs per weight scale of the blockwise scheme (onnxruntime's ``MatMulNBits`` takes 16 to 256).
BLOCK_SIZE = 32
#: Greedy tokens the float export generates after each check sentence; both files then read them teacher-forced,
#: and the quantized file's top-1 must be the float's (the first disagreement is where its own greedy run leaves).
GENERATED_TOKENS = 64
#: The weight-only modes' bounds for decoders, on real text: the share of the float export's greedy tokens the
#: quantized file ranks first too, and its perplexity on :data:`PARAGRAPH` as a multiple of the float export's.
MIN_GREEDY_AGREEMENT = {"int8": 0.95, "int4": 0.7}
MAX_PERPLEXITY_RATIO = {"int8": 1.02, "int4": 1.15}
#: A real paragraph, the text whose perplexity the float and the quantized decoder are compared on.
PARAGRAPH = (
    "The river rises in the hills to the north of the town and reaches the sea forty miles to the south. For most "
    "of the year it is slow and shallow, and children wade across it in summer to reach the woods on the far bank. "
    "In spring, when the snow melts, the water climbs over the stones of the old bridge, and the farmers move their "
    "animals to higher fields. The town council has talked for many years about building a wall along the river, "
    "but the cost has always been too high, and each spring the people simply wait for the water to go down again."
)
#: Files of a tokenizer's vocabulary: without one, a folder has no tokenizer of its own.
VOCABULARY_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
    "source.spm",
    "spm_char.model",
)
#: Token ids that stand for text (the rest of an input feed is empty caches and positions).
TEXT_INPUTS = frozenset({"input_ids", "attention_mask", "token_type_ids", "position_ids"})


@dataclass(frozen=True)
class QuantizedOutput:
    """The metric of one output of the quantized files against the float ones."""

    name: str
    #: ``cosine`` (the smallest over the sentences), ``top1`` (the share of positions that agree), ``greedy`` (the
    #: share of the float export's greedy tokens the quantized file ranks first) or ``perplexity`` (the quantized
    #: file's perplexity as a multiple of the float's: lower is better).
    metric: str
    value: float
    bound: float
    #: Vectors compared (cosine), positions counted (top-1, near ties left out; greedy) or tokens scored.
    count: int
    #: ``greedy``: the first generated token where the quantized file's top-1 differs, the smallest over the
    #: sentences (its own greedy run is the float's before it); ``perplexity``: the float export's perplexity.
    detail: float = 0.0

    @property
    def passed(self) -> bool:
        if self.metric == "perplexity":
            return self.count > 0 and self.value <= self.bound
        return self.count > 0 and self.value >= self.bound

    def describe(self) -> str:
        shown = {
            "cosine": f"min cosine {self.value:.4f}",
            "top1": f"top-1 agreement {self.value:.1%}",
            "greedy": f"greedy-token agreement {self.value:.1%} over {self.count} tokens (first difference at token "
            f"{int(self.detail)})",
            "perplexity": f"perplexity {self.value:.3f}x the float's ({self.detail:.2f}, {self.count} tokens)",
        }[self.metric]
        limit = "ABOVE" if self.metric == "perplexity" else "BELOW"
        return f"{self.name} {shown}" + ("" if self.passed else f" ({limit} {self.bound:g})")


@dataclass(frozen=True)
class QuantizationCheck:
    """The quantized files against the validated float ones: metrics, size and latency."""

    report_key: ClassVar[str] = "quantization"

    #: The scheme whose files were kept (or the last one tried): ``per-channel`` or ``blockwise``.
    scheme: str
    mode: str = "dynamic"
    #: What the models read: ``5 sentences tokenized by the model's tokenizer`` or the dummy inputs and why.
    inputs: str = ""
    #: The schemes tried first whose files missed the bound, with their metrics.
    rejected: tuple[str, ...] = ()
    #: The quantization in words (:meth:`QuantizeSettings.describe`): bits, block size, what stays float.
    settings: str = "int8 dynamic quantization"
    outputs: list[QuantizedOutput] = field(default_factory=list)
    #: The quantized files written (ONNX files and any external data), by name.
    files: list[str] = field(default_factory=list)
    float_bytes: int = 0
    quantized_bytes: int = 0
    #: Median latency of the float and the quantized first file on the check's longest input, in milliseconds.
    float_ms: float = 0.0
    quantized_ms: float = 0.0

    @property
    def passed(self) -> bool:
        return bool(self.outputs) and all(output.passed for output in self.outputs)

    @property
    def size_ratio(self) -> float:
        return self.quantized_bytes / self.float_bytes if self.float_bytes else float("nan")

    @property
    def latency_ratio(self) -> float:
        return self.quantized_ms / self.float_ms if self.float_ms else float("nan")

    def describe(self) -> str:
        verdict = "" if self.passed else " DIFFERS"
        metrics = ", ".join(output.describe() for output in self.outputs) or "no output to judge"
        tried = f" (after {'; '.join(self.rejected)})" if self.rejected else ""
        return (
            f"{self.settings}, {self.scheme}{verdict}: {metrics} on {self.inputs}{tried}; "
            f"{self.quantized_bytes / 1e6:.1f} MB ({self.size_ratio:.2f}x the float files), "
            f"latency {self.quantized_ms:.1f} ms ({self.latency_ratio:.2f}x)"
        )

    def failure(self) -> str:
        failed = "; ".join(output.describe() for output in self.outputs if not output.passed) or "nothing was judged"
        tried = "; ".join([*self.rejected, f"{self.scheme}: {failed}"])
        what = "every int8 scheme's files" if self.mode == "dynamic" else f"the {self.settings} files"
        return (
            f"Quantization check failed: {what} differ from the validated float export beyond the "
            f"task's bound on {self.inputs} ({tried}). The float export is fine: export without --quantize"
            + (", or with --quantize int8." if self.mode == "int4" else ".")
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "outputs": [{**asdict(output), "passed": output.passed} for output in self.outputs],
            "passed": self.passed,
            "size_ratio": self.size_ratio,
            "latency_ratio": self.latency_ratio,
        }


#: The data file of the weights several quantized files hold alike (the float files': ``SHARED_DATA_NAME``).
SHARED_QUANTIZED_NAME = "shared_weights_quantized.onnx_data"
#: Each ``--quantize`` mode's file-name suffix: optimum's ``_quantized`` for dynamic int8, the bits for the
#: weight-only ``MatMulNBits`` modes.
MODE_SUFFIXES = {"dynamic": "_quantized", "int8": "_int8", "int4": "_int4"}
#: The accuracy level of ``MatMulNBits`` on CPU: activations quantized to int8 per block, int8 products (4), the
#: fastest there; 0 (unset) to 3 compute in float32, float16, bfloat16.
ACCURACY_LEVEL = 4


#: The LM head's bits by default, in both weight-only modes (see :attr:`QuantizeSettings.lm_head_bits`).
LM_HEAD_BITS = 8
#: What ``--lm-head-bits`` takes.
LM_HEAD_BIT_CHOICES = (4, 8)


@dataclass(frozen=True)
class QuantizeSettings:
    """How ``--quantize`` quantizes: the mode and, for the ``MatMulNBits`` modes (``int4``, ``int8``), the block
    size, the accuracy level, and whether the language-model head is quantized. The embedding tables stay float32
    (onnxruntime's 4-bit ``GatherBlockQuantized`` needs opset 21, which TorchScript exports do not reach)."""

    mode: str = "dynamic"
    block_size: int = BLOCK_SIZE
    accuracy_level: int = ACCURACY_LEVEL
    #: The LM head (the ``MatMul`` giving ``logits``) quantized; ``False`` keeps it float32.
    lm_head: bool = True
    #: The LM head's bits (``None``: :data:`LM_HEAD_BITS`). It is read whole for every token; at 8 bits a real
    #: SmolLM2's int4 export kept its float perplexity (1.08x, 1.18x at 4 bits) for 14 MB more.
    lm_head_bits: int | None = None

    @property
    def bits(self) -> int:
        return 4 if self.mode == "int4" else 8

    @property
    def head_bits(self) -> int:
        return self.lm_head_bits if self.lm_head_bits is not None else LM_HEAD_BITS

    def describe(self) -> str:
        if self.mode == "dynamic":
            return "int8 dynamic quantization"
        head = f"LM head {self.head_bits}-bit" if self.lm_head else "LM head float32"
        return (
            f"{self.mode} weight-only quantization (MatMulNBits, {self.bits}-bit, block {self.block_size}, "
            f"accuracy level {self.accuracy_level}; {head}, embedding tables float32)"
        )


def quantized_name(name: str, mode: str = "dynamic") -> str:
    """``model`` -> ``model_quantized`` (optimum's name for a dynamic int8 file), ``model_int4``, ``model_int8``."""
    return f"{name}{MODE_SUFFIXES[mode]}"


def file_bytes(*paths: Path) -> int:
    """The size of ONNX files and of the external data files they name, a data file counted once however
    many files name it (the weights of an export's files shared in one, :mod:`.shared_weights`)."""
    import onnx

    counted: set[Path] = set()
    for path in paths:
        model = onnx.load(str(path), load_external_data=False)
        counted.add(path)
        counted.update(
            path.parent / str(entry.value)
            for tensor in model.graph.initializer
            for entry in tensor.external_data
            if entry.key == "location"
        )
    return sum(path.stat().st_size for path in counted)


@contextmanager
def quiet_logger(name: str) -> Iterator[None]:
    """A logger (``""``: the root) at ERROR for the duration: onnxruntime's quantizers talk through them."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def quantize_per_channel(source: Path, target: Path, float_bytes: int, settings: QuantizeSettings) -> list[str]:
    """onnxruntime's dynamic quantization of ``source`` into ``target``: int8 weights with a scale per output
    channel (per tensor, MiniLM's embeddings keep 0.94 cosine), each activation quantized to uint8 as a whole at
    run time (``MatMulInteger``, ``DynamicQuantizeLinear``); embedding tables too. The files written."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    before = set(os.listdir(target.parent))
    with quiet_logger(""):  # it advises "pre-processing" on the root logger, every time
        quantize_dynamic(
            source,
            target,
            per_channel=True,
            # 7-bit weights: on CPUs without VNNI (AVX2 only) onnxruntime's uint8 x int8 products add up in 16 bits
            # and saturate with 8-bit weights (MiniLM on an AVX2 EPYC: min cosine 0.988 on new sentences, 0.991
            # with 7 bits); the files are run on machines the export never sees, so always.
            reduce_range=True,
            weight_type=QuantType.QInt8,
            use_external_data_format=float_bytes > EXTERNAL_DATA_BYTES,
            # A fused graph (--optimize O2/O3) has com.microsoft operators whose outputs onnx's shape inference
            # cannot type; every activation here is float32, so that is the type to assume.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    return sorted((set(os.listdir(target.parent)) - before) | {target.name})


def lm_head_nodes(model: Any) -> list[str]:
    """The ``MatMul`` nodes whose product is the graph's ``logits`` (directly, or through a reshape or cast)."""
    producers = {output: node for node in model.graph.node for output in node.output}
    found: list[str] = []
    pending = [o.name for o in model.graph.output if o.name.endswith("logits")]
    while pending:
        node = producers.get(pending.pop())
        if node is None:
            continue
        if node.op_type == "MatMul":
            found.append(node.name)
        elif node.op_type in ("Reshape", "Cast", "Identity", "Add"):
            pending.append(node.input[0])
    return found


def quantize_blockwise(source: Path, target: Path, float_bytes: int, settings: QuantizeSettings) -> list[str]:
    """onnxruntime's ``MatMulNBits`` quantization: 8- or 4-bit weights (``settings.bits``) with a scale per block of
    ``settings.block_size`` inputs, activations quantized to int8 per block at run time (accuracy level 4). Finer
    than one scale per activation, it keeps the decoders whose activations have outliers (a real SmolLM2's
    MLP down-projections: 46% top-1 agreement quantized per tensor, 100% blockwise). Embedding tables stay float;
    the LM head is left float with ``settings.lm_head`` off."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer

    before = set(os.listdir(target.parent))
    model = onnx.load(str(source))
    head = lm_head_nodes(model)
    if settings.lm_head:
        untie_head(model, head)

    def scheme(bits: int) -> Any:
        return DefaultWeightOnlyQuantConfig(
            block_size=settings.block_size,
            is_symmetric=True,
            accuracy_level=settings.accuracy_level,
            bits=bits,
            op_types_to_quantize=("MatMul",),
        )

    with quiet_logger("onnxruntime.quantization"):  # a line per MatMul at INFO
        quantizer = MatMulNBitsQuantizer(model, nodes_to_exclude=head, algo_config=scheme(settings.bits))
        quantizer.process()
        model = quantizer.model.model
        if settings.lm_head and head:
            quantizer = MatMulNBitsQuantizer(model, nodes_to_include=head, algo_config=scheme(settings.head_bits))
            quantizer.process()
        quantizer.model.save_model_to_file(str(target), float_bytes > EXTERNAL_DATA_BYTES)
    return sorted((set(os.listdir(target.parent)) - before) | {target.name})


def untie_head(model: Any, head: list[str]) -> None:
    """Give an LM head that reads its weight through a ``Transpose`` of an initializer (tied to the embedding table)
    a weight of its own, which the quantizer (it reads initializers) can then quantize; the table stays as it is."""
    from onnx import numpy_helper

    initializers = {t.name: t for t in model.graph.initializer}
    producers = {output: node for node in model.graph.node for output in node.output}
    for node in model.graph.node:
        if node.name not in head or node.input[1] in initializers:
            continue
        transpose = producers.get(node.input[1])
        if transpose is None or transpose.op_type != "Transpose" or transpose.input[0] not in initializers:
            continue
        table = numpy_helper.to_array(initializers[transpose.input[0]])
        name = f"{node.name or 'lm_head'}.untied_weight"
        model.graph.initializer.append(numpy_helper.from_array(table.T.copy(), name))
        node.input[1] = name


#: The quantization schemes, by name (``--quantize dynamic`` tries two; ``int4`` and ``int8`` are blockwise).
SCHEMES: dict[str, Callable[[Path, Path, int, QuantizeSettings], list[str]]] = {
    "per-channel": quantize_per_channel,
    "blockwise": quantize_blockwise,
}


def scheme_order(config: OnnxConfig, mode: str = "dynamic") -> tuple[str, ...]:
    """The schemes to try, best first for the family: per-channel is smaller and faster (its embedding tables are
    int8 too) where it keeps the metric; token decoders start blockwise (quantized per tensor, the activations of
    their MLPs lose top-1 tokens: a real SmolLM2 keeps 46%, whisper-base's decoder 83% on real speech). The
    weight-only modes (``int4``, ``int8``) are blockwise only."""
    if mode != "dynamic":
        return ("blockwise",)
    decodes = isinstance(config, DecoderOnnxConfig | Seq2SeqOnnxConfig)
    return ("blockwise", "per-channel") if decodes else ("per-channel", "blockwise")


# --- the check's inputs ------------------------------------------------------------------------------------


def load_tokenizer(directory: Path | None) -> tuple[Any | None, str]:
    """The model's tokenizer from its folder, or ``None`` and why not (the check then says so).

    Only a folder with a vocabulary file counts: from ``config.json`` alone, transformers builds a tokenizer
    with an empty vocabulary that reads every word as unknown, which is no more text than random ids.
    """
    if directory is None:
        return None, "the model's files are not in a local folder"
    if not any((directory / name).is_file() for name in VOCABULARY_FILES):
        return None, "the model's folder has no tokenizer"
    try:
        from transformers import AutoTokenizer

        return AutoTokenizer.from_pretrained(str(directory)), ""
    except Exception as error:  # tokenizer files transformers cannot read here
        return None, f"the model's tokenizer does not load ({type(error).__name__})"


def text_feeds(
    session: Any, tokenizer: Any, sentences: tuple[str, ...], vocab_size: int | None
) -> tuple[list[dict[str, Any]], str]:
    """One feed per sentence, batch 1: its tokens, a full mask, positions, and an empty cache where asked; or
    no feeds and why, where the tokens are not the model's (beyond its vocabulary, or all unknown)."""
    import numpy as np

    feeds = []
    for sentence in sentences:
        encoded = tokenizer(sentence, return_tensors="np")
        ids = np.asarray(encoded["input_ids"], dtype=np.int64)
        if vocab_size is not None and int(ids.max()) >= vocab_size:
            return [], f"the tokenizer's ids reach {int(ids.max())}, beyond the model's {vocab_size} embeddings"
        feed: dict[str, Any] = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
        if "token_type_ids" in encoded:
            feed["token_type_ids"] = np.asarray(encoded["token_type_ids"], dtype=np.int64)
        feeds.append({**feed, **empty_cache(session, feed)})
    unknown = getattr(tokenizer, "unk_token_id", None)
    special = set(getattr(tokenizer, "all_special_ids", ()) or ()) - {unknown}
    words = [int(i) for feed in feeds for i in feed["input_ids"].ravel() if int(i) not in special]
    if unknown is not None and words and all(i == unknown for i in words):
        return [], "the tokenizer knows none of the sentences' words"
    return feeds, ""


def empty_cache(session: Any, feed: Mapping[str, Any]) -> dict[str, Any]:
    """``position_ids`` from the mask and a zero-length cache, for a decoder-with-past file read from the start."""
    import numpy as np

    names = {i.name for i in session.get_inputs()}
    extra: dict[str, Any] = {}
    if "position_ids" in names:
        extra["position_ids"] = positions_from_mask(feed["attention_mask"])
    for i in session.get_inputs():
        if is_past(i.name):
            extra[i.name] = np.zeros((1, i.shape[1], 0, i.shape[3]), dtype=np.float32)
    return extra


def reads_text(session: Any) -> bool:
    """Whether every input of ``session`` is text, positions or cache (else it reads images, audio...)."""
    return all(i.name in TEXT_INPUTS or is_past(i.name) for i in session.get_inputs())


# --- the metrics -------------------------------------------------------------------------------------------


@dataclass
class Tally:
    """Per output: the cosines and the top-1 agreements gathered over the check's runs."""

    cosines: dict[str, list[float]] = field(default_factory=dict)
    agreed: dict[str, int] = field(default_factory=dict)
    counted: dict[str, int] = field(default_factory=dict)
    #: Metrics judged whole (the generation check of the weight-only modes).
    judged: list[QuantizedOutput] = field(default_factory=list)

    def add(self, prefix: str, floats: Mapping[str, Any], quantized: Mapping[str, Any], mask: Any | None) -> None:
        """Compare the outputs of one run (``mask``: the tokens of token-level outputs, ``None`` for all)."""
        for name, value in floats.items():
            if is_present(name) or name not in quantized or value.dtype.kind != "f":
                continue
            key = f"{prefix}{name}"
            if name.split(".")[-1].endswith("logits"):
                agreed, counted = top1_agreement(value, quantized[name], mask)
                self.agreed[key] = self.agreed.get(key, 0) + agreed
                self.counted[key] = self.counted.get(key, 0) + counted
            else:
                self.cosines.setdefault(key, []).extend(row_cosines(value, quantized[name], mask))

    def results(self) -> list[QuantizedOutput]:
        results = list(self.judged)
        results += [
            QuantizedOutput(name, "cosine", min(values), MIN_COSINE, len(values))
            for name, values in self.cosines.items()
            if values
        ]
        for name, counted in self.counted.items():
            share = self.agreed[name] / counted if counted else 0.0
            results.append(QuantizedOutput(name, "top1", share, MIN_TOP1_AGREEMENT, counted))
        return results


def pooled_rows(value: Any, mask: Any | None) -> Any:
    """One vector per batch row, float64: token-level states mean-pooled over ``mask``, other shapes flattened."""
    import numpy as np

    value = np.asarray(value, dtype=np.float64)
    if value.ndim == 3 and mask is not None and mask.shape == value.shape[:2]:
        weights = mask.astype(np.float64)[..., None]
        return (value * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
    return value.reshape(value.shape[0], -1) if value.ndim > 1 else value.reshape(1, -1)


def row_cosines(floats: Any, quantized: Any, mask: Any | None) -> list[float]:
    """The cosine similarity of each batch row's vector, float against quantized."""
    import numpy as np

    a, b = pooled_rows(floats, mask), pooled_rows(quantized, mask)
    if a.shape != b.shape:
        return [float("-inf")]
    norms = np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1)
    both_zero = (np.linalg.norm(a, axis=-1) == 0) & (np.linalg.norm(b, axis=-1) == 0)
    cosines = np.where(both_zero, 1.0, np.sum(a * b, axis=-1) / np.maximum(norms, 1e-30))
    return [float(c) for c in cosines]


def top1_agreement(floats: Any, quantized: Any, mask: Any | None) -> tuple[int, int]:
    """Positions where the top-1 agrees, and positions counted (masked ones and near ties left out)."""
    import numpy as np

    if floats.shape != quantized.shape:
        return 0, 1
    scores = floats.reshape(-1, floats.shape[-1]).astype(np.float64)
    picked = quantized.reshape(-1, quantized.shape[-1]).argmax(axis=-1)
    best = scores.argmax(axis=-1)
    rows = np.arange(len(scores))
    gap = scores[rows, best] - scores[rows, picked]
    keep = (best == picked) | (gap > NEAR_TIE_LOGIT_GAP)
    if mask is not None and floats.ndim == 3 and mask.shape == floats.shape[:2]:
        keep &= mask.reshape(-1).astype(bool)
    return int(np.sum((best == picked) & keep)), int(np.sum(keep))


def median_ms(session: Any, feed: Mapping[str, Any]) -> float:
    """Median wall time of ``session`` on ``feed``, after one warm-up run, in milliseconds."""
    run_onnx(session, feed)
    times = []
    for _ in range(LATENCY_RUNS):
        started = time.perf_counter()
        run_onnx(session, feed)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# --- the whole step ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """A float file's session and its quantized twin's."""

    floats: Any
    quantized: Any

    def run(self, feed: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return run_onnx(self.floats, feed), run_onnx(self.quantized, feed)


def quantize_export(
    staging: Path,
    config: OnnxConfig,
    mode: str | QuantizeSettings,
    model_directory: Path | None,
    shapes: DummyShapes,
    sentences: tuple[str, ...] = CHECK_SENTENCES,
    inputs: tuple[Mapping[str, Any], str] | None = None,
) -> QuantizationCheck:
    """Quantize every file of the validated export in ``staging`` with the family's first scheme; judge the
    quantized files against the float ones; where they fail, the next scheme. The last failure is returned.

    ``inputs``: real inputs of the first file (a photograph, speech) and what they are, in place of the
    sentences (for models that read text) or the dummy inputs (the rest). A decoder quantized weight-only
    (``int4``, ``int8``) is judged by generation: the float export's greedy tokens after each sentence, and the
    perplexity of :data:`PARAGRAPH`.
    """
    settings = mode if isinstance(mode, QuantizeSettings) else QuantizeSettings(mode)
    names = list(config.components())
    floats = {name: onnx_session(staging / f"{name}.onnx") for name in names}
    tokenizer = None
    if inputs is not None:
        feeds, read = [dict(inputs[0])], inputs[1]
    else:
        fused = fused_attention_graph(staging, config)
        feeds, read, tokenizer = check_feeds(
            floats[names[0]], config, names[0], model_directory, shapes, sentences, fused
        )
    paragraph = None
    if settings.mode != "dynamic" and generates_text(config) and tokenizer is not None:
        paragraph = text_feeds(floats[names[0]], tokenizer, (PARAGRAPH,), None)[0][0]
        read += f", {GENERATED_TOKENS} greedy tokens after each, and a paragraph's perplexity"
    rejected: list[str] = []
    check: QuantizationCheck | None = None
    for scheme in scheme_order(config, settings.mode):
        check = quantize_with(scheme, staging, names, floats, feeds, config, settings, paragraph)
        check = replace(check, mode=settings.mode, inputs=read, rejected=tuple(rejected), settings=settings.describe())
        if check.passed:
            break
        rejected.append(f"{scheme}: " + ", ".join(output.describe() for output in check.outputs))
        for written in check.files:  # the next scheme writes its own
            (staging / written).unlink(missing_ok=True)
    assert check is not None
    check = replace(check, files=[f for f in check.files if (staging / f).exists()])
    if (
        settings.mode != "dynamic"
        and settings.lm_head
        and _float_lm_head(staging / f"{quantized_name(names[-1], settings.mode)}.onnx")
    ):
        # a head whose weight the quantizer could not reach (neither an initializer nor a transposed one)
        described = f"LM head {settings.head_bits}-bit"
        check = replace(check, settings=check.settings.replace(described, "LM head float32 (its weight is computed)"))
    if not check.passed:
        return check
    quantized = [quantized_name(name, settings.mode) for name in names]
    shared = share_weights(
        staging, quantized, SHARED_QUANTIZED_NAME.replace("_quantized", MODE_SUFFIXES[settings.mode])
    )
    if shared.data_file is None:
        return check
    return replace(
        check,
        files=sorted([*check.files, shared.data_file]),
        quantized_bytes=file_bytes(*(staging / f"{name}.onnx" for name in quantized)),
    )


def _float_lm_head(path: Path) -> bool:
    """Whether the quantized file at ``path`` still computes ``logits`` with a float ``MatMul``."""
    import onnx

    return path.is_file() and bool(lm_head_nodes(onnx.load(str(path), load_external_data=False)))


def generates_text(config: OnnxConfig) -> bool:
    """A decoder-only language model with its cache: judged by the tokens it generates."""
    return isinstance(config, DecoderOnnxConfig) and config.generates_tokens and len(config.components()) == 1


def check_feeds(
    session: Any,
    config: OnnxConfig,
    name: str,
    model_directory: Path | None,
    shapes: DummyShapes,
    sentences: tuple[str, ...],
    fused: bool = False,
) -> tuple[list[dict[str, Any]], str, Any | None]:
    """The check's inputs to the first file, what they are in words (real sentences where it reads text), and the
    tokenizer that made them (``None``: dummy inputs; ``fused``: those a fused attention is defined on)."""
    tokenizer, why_not = load_tokenizer(model_directory) if reads_text(session) else (None, "")
    if tokenizer is not None:
        vocab_size = config.normalized.get("vocab_size")
        feeds, why_not = text_feeds(session, tokenizer, sentences, vocab_size if isinstance(vocab_size, int) else None)
        if feeds:
            return feeds, f"{len(sentences)} sentences tokenized by the model's tokenizer", tokenizer
    words = "dummy inputs (" + (why_not or "the model does not read text") + ")"
    if fused:
        return [inputs for _, inputs in fused_attention_feeds(config, shapes).values()], words, None
    feed = dict(config.components()[name].generate_dummy_inputs(shapes, seed=5))
    return [feed], words, None


def quantize_with(
    scheme: str,
    staging: Path,
    names: list[str],
    floats: Mapping[str, Any],
    feeds: list[dict[str, Any]],
    config: OnnxConfig,
    settings: QuantizeSettings | None = None,
    paragraph: Mapping[str, Any] | None = None,
) -> QuantizationCheck:
    """Every file quantized with ``scheme``, then judged on ``feeds`` against the float sessions (by generation,
    with ``paragraph``'s perplexity, where it is given)."""
    settings = settings or QuantizeSettings()
    files: list[str] = []
    for name in names:
        source, target = staging / f"{name}.onnx", staging / f"{quantized_name(name, settings.mode)}.onnx"
        files += SCHEMES[scheme](source, target, file_bytes(source), settings)
    float_bytes = file_bytes(*(staging / f"{name}.onnx" for name in names))
    quantized_files = [staging / f"{quantized_name(name, settings.mode)}.onnx" for name in names]
    quantized_bytes = file_bytes(*quantized_files)
    pairs = {name: Pair(floats[name], onnx_session(path)) for name, path in zip(names, quantized_files, strict=True)}
    tally = Tally()
    if paragraph is not None:
        judge_generation(pairs[names[0]], feeds, paragraph, tally, config, settings.mode)
    else:
        judge = judge_encoder_decoder if "encoder_model" in pairs else judge_single
        for feed in feeds:
            judge(pairs, feed, tally, config)
    first = pairs[names[0]]
    longest = max(feeds, key=lambda feed: sum(value.size for value in feed.values()))
    return QuantizationCheck(
        scheme=scheme,
        outputs=tally.results(),
        files=files,
        float_bytes=float_bytes,
        quantized_bytes=quantized_bytes,
        float_ms=median_ms(first.floats, longest),
        quantized_ms=median_ms(first.quantized, longest),
    )


def judge_generation(
    pair: Pair,
    feeds: list[dict[str, Any]],
    paragraph: Mapping[str, Any],
    tally: Tally,
    config: OnnxConfig,
    mode: str,
) -> None:
    """A decoder judged by what its users read: after each sentence, the float export's :data:`GENERATED_TOKENS`
    greedy tokens, read teacher-forced by both files, must be the quantized file's top-1 too (the first
    difference is where the quantized file's own greedy run would leave the float's); and the quantized file's
    perplexity on :data:`PARAGRAPH` must stay within a multiple of the float's."""
    import numpy as np

    agreed = counted = 0
    first_difference = GENERATED_TOKENS
    for feed in feeds:
        prompt = feed["input_ids"]
        generated = greedy_generate(pair.floats, config, prompt, feed["attention_mask"], GENERATED_TOKENS, 0)
        floats, quantized = pair.run(_whole_sequence(pair.floats, generated))
        start = prompt.shape[1] - 1  # the logits that predict the first generated token
        float_top = floats["logits"][0, start:-1].argmax(axis=-1)
        quantized_top = quantized["logits"][0, start:-1].argmax(axis=-1)
        same = float_top == quantized_top
        agreed, counted = agreed + int(same.sum()), counted + len(same)
        first_difference = min(first_difference, int(np.argmin(same)) if not same.all() else len(same))
    tally.judged.append(
        QuantizedOutput("logits", "greedy", agreed / counted, MIN_GREEDY_AGREEMENT[mode], counted, first_difference)
    )
    floats, quantized = pair.run(dict(paragraph))
    targets = paragraph["input_ids"][0, 1:]
    float_ppl, quantized_ppl = (_perplexity(out["logits"][0, :-1], targets) for out in (floats, quantized))
    tally.judged.append(
        QuantizedOutput(
            "logits", "perplexity", quantized_ppl / float_ppl, MAX_PERPLEXITY_RATIO[mode], len(targets), float_ppl
        )
    )


def _whole_sequence(session: Any, ids: Any) -> dict[str, Any]:
    import numpy as np

    feed: dict[str, Any] = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
    return {**feed, **empty_cache(session, feed)}


def _perplexity(logits: Any, targets: Any) -> float:
    """exp of the mean negative log-likelihood of ``targets`` under ``logits`` (float64)."""
    import numpy as np

    scores = np.asarray(logits, dtype=np.float64)
    scores -= scores.max(axis=-1, keepdims=True)
    log_probs = scores - np.log(np.exp(scores).sum(axis=-1, keepdims=True))
    return float(np.exp(-log_probs[np.arange(len(targets)), targets].mean()))


def judge_single(pairs: Mapping[str, Pair], feed: Mapping[str, Any], tally: Tally, config: OnnxConfig) -> None:
    """A one-file export (encoder, classifier, decoder read from an empty cache): both files on the same feed."""
    name, pair = next(iter(pairs.items()))
    floats, quantized = pair.run(feed)
    tally.add(prefix(pairs, name), floats, quantized, feed.get("attention_mask"))


def judge_encoder_decoder(pairs: Mapping[str, Pair], feed: Mapping[str, Any], tally: Tally, config: OnnxConfig) -> None:
    """Encoder-decoders, teacher-forced: each side's encoder, then each side's decoder on the float export's own
    greedy tokens (so one early difference does not make every later position differ)."""
    encoder_feed = {k: v for k, v in feed.items() if not is_past(k) and k != "position_ids"}
    float_states, quantized_states = pairs["encoder_model"].run(encoder_feed)
    tally.add("encoder_model:", float_states, quantized_states, None)
    start = getattr(config.config, "decoder_start_token_id", None)
    tokens = greedy_generate_seq2seq(
        {name: pair.floats for name, pair in pairs.items()},
        encoder_feed,
        TEACHER_TOKENS,
        int(start) if start is not None else 0,
        0,
    )
    decoder = pairs["decoder_model"]
    mask = encoder_feed.get("attention_mask")

    def decoder_feed(session: Any, states: Mapping[str, Any]) -> dict[str, Any]:
        fed = {"input_ids": tokens, "encoder_hidden_states": states["last_hidden_state"]}
        if mask is not None and "encoder_attention_mask" in {i.name for i in session.get_inputs()}:
            fed["encoder_attention_mask"] = mask
        return fed

    tally.add(
        "decoder_model:",
        run_onnx(decoder.floats, decoder_feed(decoder.floats, float_states)),
        run_onnx(decoder.quantized, decoder_feed(decoder.quantized, quantized_states)),
        None,
    )


def prefix(pairs: Mapping[str, Any], name: str) -> str:
    """``decoder_model:`` before output names where the export has several files, else nothing."""
    return f"{name}:" if len(pairs) > 1 else ""
