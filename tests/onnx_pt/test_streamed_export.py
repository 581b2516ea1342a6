"""A decoder larger than the memory its export may use: traced without its weights, the weights streamed from
its safetensors shards into model.onnx_data, validated layer by layer, and a broken layer caught."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from modelexport_onnx.main_export import main_export
from modelexport_onnx.streamed import export as streamed_export
from modelexport_onnx.streamed.weights import checkpoint_index
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.errors import ValidationError

pytestmark = pytest.mark.skipif(
    int(transformers.__version__.split(".")[0]) < 5,
    reason="a streamed export traces with TorchScript, which transformers 4.x decoders cannot go through",
)

#: ~2 GiB of float32 weights: 30 layers of 16.8M parameters.
BIG = {
    "vocab_size": 1024,
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 30,
    "num_attention_heads": 16,
    "num_key_value_heads": 16,
    "tie_word_embeddings": False,
}
SMALL = {
    **BIG,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 3,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}
SHARD_BYTES = 200 * 2**20


def write_random_checkpoint(directory: Path, sizes: dict[str, object], seed: int = 0) -> int:
    """A llama checkpoint from a random initialisation, written shard by shard (never the whole model in memory,
    as a training job's sharded save): config.json, model-*.safetensors and their index. Returns weight bytes."""
    from safetensors.torch import save_file

    config = transformers.LlamaConfig(**sizes, architectures=["LlamaForCausalLM"])
    with torch.device("meta"):
        shapes = {name: tuple(t.shape) for name, t in transformers.LlamaForCausalLM(config).state_dict().items()}
    directory.mkdir(parents=True)
    config.save_pretrained(directory)
    generator = torch.Generator().manual_seed(seed)
    shards: list[dict[str, torch.Tensor]] = [{}]
    total = 0
    for name, shape in shapes.items():
        if sum(t.numel() * 4 for t in shards[-1].values()) >= SHARD_BYTES:
            shards.append({})
        is_norm = name.endswith("norm.weight")
        tensor = torch.ones(shape) if is_norm else torch.randn(shape, generator=generator) * 0.02
        shards[-1][name] = tensor
        total += tensor.numel() * 4
    weight_map = {}
    for number, shard in enumerate(shards, 1):
        file = f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(directory / file), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(shard, file))
        shard.clear()
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    return total


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    directory = tmp_path_factory.mktemp("big") / "decoder"
    return directory, write_random_checkpoint(directory, BIG)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("small") / "decoder"
    write_random_checkpoint(directory, SMALL)
    return directory


#: Runs the modelexport command and, at exit, reports the process's peak resident memory from the kernel's own
#: count (VmHWM: since exec; ru_maxrss would include the pages of the test process the child was forked from).
LAUNCHER = """
import sys
from pathlib import Path
from modelexport.cli import main

code = main(sys.argv[1:])
hwm = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM"))
print("PEAK", int(hwm.split()[1]) * 1024, file=sys.stderr)
sys.exit(code)
"""


def run_under_limit(args: list[str], limit: int) -> tuple[subprocess.CompletedProcess[str], int]:
    """``modelexport args``, killed the moment its resident memory passes ``limit``; and its peak."""
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    over: list[int] = []

    def watch() -> None:
        status = Path(f"/proc/{process.pid}/status")
        while process.poll() is None:
            try:
                lines = status.read_text().splitlines()
            except OSError:
                return
            rss = next((int(line.split()[1]) * 1024 for line in lines if line.startswith("VmRSS")), 0)
            if rss > limit:
                over.append(rss)
                process.kill()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate()
    watcher.join()
    assert not over, f"killed at {over[0] / 2**20:.0f} MB, beyond the limit {limit / 2**20:.0f} MB:\n{stdout}\n{stderr}"
    peaks = [int(line.split()[1]) for line in stderr.splitlines() if line.startswith("PEAK ")]
    assert peaks, stderr
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr), peaks[-1]


def test_a_decoder_larger_than_the_memory_allowed_exports_within_it(big: tuple[Path, int], tmp_path: Path) -> None:
    source, weights = big
    limit = weights // 2
    output = tmp_path / "onnx"
    report = tmp_path / "report.json"
    args = ["export", "onnx", "-m", str(source), str(output), "--task", "text-generation"]
    args += ["--max-memory", str(limit), "--report", str(report)]
    done, peak = run_under_limit(args, limit)
    assert done.returncode == 0, done.stderr
    print(f"weights {weights / 2**30:.2f} GiB, limit {limit / 2**30:.2f} GiB, peak RSS {peak / 2**30:.2f} GiB")
    assert peak <= limit
    assert "streamed from the checkpoint" in done.stdout
    compared = json.loads(report.read_text())["outputs"]  # every layer's output and the logits, each within bound
    assert [c["name"] for c in compared] == [f"layers.{n}" for n in range(BIG["num_hidden_layers"])] + ["logits"]
    assert all(c["passed"] for c in compared)
    assert sorted(p.name for p in output.iterdir()) == [
        "config.json",
        "model.onnx",
        "model.onnx_data",
        "modelexport_export.json",
    ]
    assert (output / "model.onnx").stat().st_size < 2**20  # the graph; every weight is in the data file
    assert (output / "model.onnx_data").stat().st_size >= weights


def test_the_streamed_export_is_the_model_and_its_report_has_every_layer(small: Path, tmp_path: Path) -> None:
    """On a small model whole in memory too: the exported file run whole in onnxruntime gives PyTorch's logits."""
    output = tmp_path / "onnx"
    result = main_export(small, output, "text-generation", max_memory=2**20, progress=None)
    assert result.validation.passed
    assert [c.name for c in result.validation.outputs] == ["layers.0", "layers.1", "layers.2", "logits"]
    model = transformers.AutoModelForCausalLM.from_pretrained(small).eval()
    ids = np.array([[3, 14, 15, 92, 65, 35]], dtype=np.int64)
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "position_ids": np.arange(6)[None]}
    logits = onnx_session(output / "model.onnx").run(["logits"], feed)[0]
    with torch.no_grad():
        expected = model(input_ids=torch.from_numpy(ids)).logits.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)


def test_a_broken_layer_is_caught_and_named(small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: one weight of layer 1 scaled by 1.05 in the data file. Layer 0 still agrees, layer 1 does not;
    the export fails and publishes nothing."""
    attach = streamed_export.attach_weights
    key = "model.layers.1.mlp.down_proj.weight"
    stored = checkpoint_index(small)[key]

    def broken(onnx_path: Path, keys: dict[str, str], index: dict, data_name: str) -> list[str]:
        written = attach(onnx_path, keys, index, data_name)
        import onnx

        name = next(n for n, k in keys.items() if k == key)
        tensor = next(
            t for t in onnx.load(str(onnx_path), load_external_data=False).graph.initializer if t.name == name
        )
        offset = int(next(e.value for e in tensor.external_data if e.key == "offset"))
        with (onnx_path.parent / data_name).open("r+b") as data:
            data.seek(offset)
            values = np.frombuffer(data.read(stored.nbytes), dtype=np.float32) * np.float32(1.05)
            data.seek(offset)
            data.write(values.tobytes())
        return written

    monkeypatch.setattr(streamed_export, "attach_weights", broken)
    output = tmp_path / "onnx"
    with pytest.raises(ValidationError) as caught:
        main_export(small, output, max_memory=2**20, progress=None)
    verdicts = {check.name: check.passed for check in caught.value.report.outputs}
    assert verdicts["layers.0"] and not verdicts["layers.1"] and not verdicts["logits"]
    assert not output.exists()


def test_options_a_streamed_export_cannot_honour_are_refused_before_loading(small: Path, tmp_path: Path) -> None:
    with pytest.raises(Exception, match="cannot honour --optimize"):
        main_export(small, tmp_path / "onnx", max_memory=2**20, optimize="O2", progress=None)


def test_a_pickled_checkpoint_over_the_limit_is_refused_before_loading(
    small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pytorch_model.bin cannot be read tensor by tensor: over --max-memory it is refused, not loaded whole."""
    from modelexport_pipeline import run
    from modelexport_pipeline.errors import UnsupportedExportOptionError
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((small / "config.json").read_text())
    weights = {
        name: tensor for shard in sorted(small.glob("*.safetensors")) for name, tensor in load_file(shard).items()
    }
    torch.save(weights, pickled / "pytorch_model.bin")

    def no_loading(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(run, "load_model", no_loading)
    output = tmp_path / "onnx"
    with pytest.raises(UnsupportedExportOptionError, match=r"pytorch_model\.bin.*only safetensors checkpoints"):
        main_export(pickled, output, max_memory=2**20, progress=None)
    assert not output.exists()
    monkeypatch.undo()
    # Within the limit, the same folder is loaded whole and exports as usual.
    main_export(pickled, output, max_memory=2**34, progress=None)
    assert (output / "model.onnx").exists()
