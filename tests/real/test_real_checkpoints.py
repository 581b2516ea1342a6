"""Real pretrained checkpoints, one per family, exported with DEFAULT options: they must pass, and
every mutation of their exported graphs must fail validation.

Tiny random models have small outputs and shallow graphs: a fixed tolerance that fits them fails
real models (float32 rounding grows with depth and magnitude), and a bound loose enough for real
models could pass a broken graph. So both directions are tested on the real thing: the export of
each real checkpoint validates with the bound derived from the model, its greedy generation on real
prompts equals the framework's, and each mutation of :mod:`mutations` applied to its graph is caught.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from ct2_checkpoint import read_wav_mono16k
from modelexport_core import TasksManager
from modelexport_core.plugins import get_framework
from modelexport_onnx.export import reference_runner, validate_components
from modelexport_onnx.generation import GenerationCheck, check_generation
from modelexport_onnx.kinds.generation import logits_bound
from modelexport_onnx.main_export import main_export
from modelexport_onnx.quantize import quantize_export
from modelexport_onnx.validation import onnx_session, run_onnx, used_dimensions
from modelexport_pipeline.checks import Tolerance, compare_outputs
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, validation_shapes_for
from mutations import MUTATIONS, NotApplicable, mutate
from real_inputs import photograph
from real_models import REAL_CHECKPOINTS, RealCheckpoint, checkpoint_dir

DATA = Path(__file__).resolve().parent.parent / "data"

#: Which mutations find a target in each checkpoint's graphs (all of them must then be caught).
EXPECTED_MUTATIONS = {
    "all-MiniLM-L6-v2": {
        "dropped residual branch",
        "layer-norm epsilon raised to 1e-3",
        "two attention heads swapped",
        "positions shifted by one",
        "weight perturbed by 1e-3 of its scale",
    },
    "SmolLM2-135M-Instruct": {m.name for m in MUTATIONS},
    "whisper-base": {m.name for m in MUTATIONS} - {"rotary base +10%"},
    # the encoder alone: no cache to misplace
    "whisper-base-audio-classification": {m.name for m in MUTATIONS}
    - {"rotary base +10%", "cache written to the wrong layer"},
    "dinov2-small": {
        "dropped residual branch",
        "layer-norm epsilon raised to 1e-3",
        "two attention heads swapped",
        "positions shifted by one",
        "weight perturbed by 1e-3 of its scale",
    },
}


@pytest.fixture(scope="session")
def shared_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for converted checkpoints, shared by the xdist workers of this run."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "real-checkpoints"


def real_dir(checkpoint: RealCheckpoint, shared_root: Path) -> Path:
    if not checkpoint.installed():
        message = f"{checkpoint.name}: install {checkpoint.missing()} (see noxfile.py, session pt)"
        if os.environ.get("MODELEXPORT_EXPECT_REAL") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return checkpoint_dir(checkpoint, shared_root)


def real_prompts(checkpoint: RealCheckpoint, directory: Path) -> dict[str, Any]:
    """Inputs a user would give: tokenized sentences (left-padded for a decoder), or real speech."""
    if checkpoint.family == "decoder":
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(directory, padding_side="left")
        texts = ["The capital of France is", "def fibonacci(n):\n    "]
        encoded = tokenizer(texts, return_tensors="np", padding=True)
        return {"input_ids": encoded["input_ids"].astype(np.int64), "attention_mask": encoded["attention_mask"]}
    from transformers import WhisperFeatureExtractor

    extractor = WhisperFeatureExtractor.from_pretrained(directory)
    speech = read_wav_mono16k(DATA / "speech.wav")
    features = extractor([speech, speech[: len(speech) // 2]], sampling_rate=16000, return_tensors="np")
    return {"input_features": features["input_features"].astype(np.float32)}


def mutation_table(model: Any, config: Any, out: Path, hf_config: Any) -> list[dict[str, Any]]:
    """Apply every mutation to every file of the export; validate each mutant with default options."""
    tolerance = Tolerance()
    shapes = validation_shapes_for(EXPORT_SHAPES)
    rows = []
    for name, part in config.components().items():
        original = onnx.load(str(out / f"{name}.onnx"))
        inputs = part.generate_dummy_inputs(shapes, seed=1)
        reference = reference_runner(model, part, "pt")(inputs)
        dims = used_dimensions(part, shapes)
        assert compare_outputs(run_onnx(onnx_session(out / f"{name}.onnx"), inputs), reference, tolerance, dims).passed
        for mutation in MUTATIONS:
            try:
                mutant, what = mutate(original, mutation, hf_config)
            except NotApplicable:
                continue
            try:
                outputs = run_onnx(onnx_session(mutant.SerializeToString()), inputs)
            except Exception as error:  # a mutant onnxruntime refuses to run is caught too
                rows.append({"file": name, "mutation": mutation.name, "what": what, "caught": True, "by": repr(error)})
                continue
            report = compare_outputs(outputs, reference, tolerance, dims)
            failing = [c for c in report.outputs if not c.passed]
            worst = max(failing, key=lambda c: (c.error or np.inf) / (c.bound or 1.0), default=None)
            rows.append(
                {
                    "file": name,
                    "mutation": mutation.name,
                    "what": what,
                    "caught": not report.passed,
                    "by": None
                    if worst is None
                    else f"{worst.name}: {worst.error:.2e} > bound {worst.bound:.2e} ({len(failing)} outputs)",
                }
            )
    return rows


def record(name: str, result: dict[str, Any]) -> None:
    """Keep the measurements where ``MODELEXPORT_REAL_RESULTS`` points (for the README and benchmarks)."""
    folder = os.environ.get("MODELEXPORT_REAL_RESULTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(REAL_CHECKPOINTS))
def test_real_checkpoint(name: str, shared_root: Path, tmp_path: Path) -> None:
    checkpoint = REAL_CHECKPOINTS[name]
    directory = real_dir(checkpoint, shared_root)
    out = tmp_path / "onnx"

    # 1. Default options: the export validates against the bound derived from the model.
    # The transformers model alone: the mutations below run against its last_hidden_state (MiniLM is also a
    # sentence-transformers checkpoint, whose default export is the whole pipeline: test_sentence_transformers.py).
    result = main_export(directory, out, checkpoint.task, library="transformers", layout="flat", progress=None)
    report = result.validation
    assert report.passed, report.table()
    assert all(c.bound_source and c.error is not None and c.error <= c.bound for c in report.outputs)
    assert all(c.bound_source.startswith(("float64", "floor")) for c in report.outputs if c.bound_source)
    if checkpoint.task.endswith("-with-past"):
        generation = report.check_of(GenerationCheck)
        assert generation is not None and generation.equal, generation

    model = TasksManager.get_model_from_task(checkpoint.task, directory, framework="pt")
    config = TasksManager.get_exporter_config_constructor("onnx", task=checkpoint.task, model_type=result.model_type)(
        model.config
    )

    # 1a. An export stores each weight once, tied ones too (SmolLM2's LM head is its embedding table,
    # transposed), and those its files share (Whisper's decoder files, in shared_weights.onnx_data): no larger
    # than the checkpoint's float32 weights but for the graphs themselves (<1%).
    weights = sum(p.stat().st_size for p in directory.glob("*.safetensors"))
    if weights:
        float_files = [f for f in result.files if ".onnx" in f and "quantized" not in f]
        assert len(float_files) >= len(config.components()), result.files
        exported = sum((out / f).stat().st_size for f in float_files)
        print(f"{name}: ONNX {exported / 1e6:.1f} MB for {weights / 1e6:.1f} MB of weights")
        assert exported <= 1.01 * weights, (exported, weights)

    # 1b. Real data for image and audio models: the photograph, the spoken sentence.
    if checkpoint.family in ("image", "audio"):
        real = (
            {"pixel_values": photograph(224, 224)}
            if checkpoint.family == "image"
            else real_prompts(checkpoint, directory)
        )
        on_real = validate_components(model, config, out, "pt", EXPORT_SHAPES, inputs=real)
        assert on_real.outputs and on_real.passed, on_real.table()

    # 2. Greedy generation on real prompts: the ONNX tokens are exactly PyTorch's.
    generation = None
    if checkpoint.task.endswith("-with-past"):
        plugin = get_framework("pt")
        sessions = {part: onnx_session(out / f"{part}.onnx") for part in config.components()}
        check = check_generation(
            sessions,
            config,
            lambda inputs, n, pad: plugin.generate(model, inputs, n, pad),  # type: ignore[attr-defined]
            max_new_tokens=20,
            inputs=real_prompts(checkpoint, directory),
            logits_bound=logits_bound(report),
        )
        assert check.new_tokens == 20
        assert check.equal, check.to_dict()
        generation = check.to_dict()

    # 3. Every mutation of the exported graphs fails validation.
    rows = mutation_table(model, config, out, model.config)

    # 4. --quantize dynamic's int8 files keep the task's metric on real inputs (the sentences its check
    # tokenizes itself; the photograph or the speech here), against the float files validated in step 1.
    real_inputs = None
    if checkpoint.family in ("image", "audio", "speech encoder-decoder"):
        real_inputs = (
            ({"pixel_values": photograph(224, 224)}, "the photograph")
            if checkpoint.family == "image"
            else (real_prompts(checkpoint, directory), "spoken sentences")
        )
    quantized = quantize_export(out, config, "dynamic", directory, EXPORT_SHAPES, inputs=real_inputs)
    print(f"{name}: {quantized.describe()}")
    assert quantized.passed, quantized.failure()
    assert "sentences tokenized" in quantized.inputs or real_inputs is not None, quantized.inputs
    # int8 is a quarter of float32; the blockwise scheme of decoders keeps embedding tables float (whisper's,
    # stored once for both decoder files, is a third of its float files)
    assert quantized.size_ratio < (0.3 if quantized.scheme == "per-channel" else 0.7), quantized.size_ratio
    record(
        name,
        {
            "outputs": [c.__dict__ for c in report.outputs],
            "timings": result.timings,
            "generation": generation,
            "mutations": rows,
            "quantization": quantized.to_dict(),
        },
    )
    assert {row["mutation"] for row in rows} == EXPECTED_MUTATIONS[name], rows
    missed = [row for row in rows if not row["caught"]]
    assert not missed, json.dumps(missed, indent=1)
