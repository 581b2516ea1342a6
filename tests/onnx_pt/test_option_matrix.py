"""Every option that changes the graph, crossed with one tiny model per family: each cell exports and validates,
or is refused before the model is loaded, with one line that says why.

The matrix is data: a new option is a column of :data:`OPTIONS`, a new family a row of :data:`FAMILIES`, and a
refusal an entry of :data:`REFUSED` (the words its message must contain). A cell missing from ``REFUSED`` must
export and validate; a cell in it must raise a :class:`ModelExportError` with exit status 2 before ``load`` runs,
and leave nothing on disk.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from modelexport_core.errors import ModelExportError
from modelexport_onnx.main_export import main_export
from modelexport_pipeline import run as pipeline_run
from onnx_pt.tiny import TinyPtModels

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Family:
    """One model per family: how its folder is made, and the task it is exported for."""

    task: str
    make: Callable[[TinyPtModels, Path], Path]


def _tiny(model_type: str, task: str) -> Callable[[TinyPtModels, Path], Path]:
    return lambda tiny, root: tiny.directory(model_type, task)


def _encoder(tiny: TinyPtModels, root: Path) -> Path:
    from sentence_folders import tiny_bert

    return tiny_bert(root / "encoder")  # with its tokenizer: --quantize is judged on real sentences


def _sentence(tiny: TinyPtModels, root: Path) -> Path:
    from sentence_folders import sentence_folder

    return sentence_folder(root / "sentence-pipeline", "mean")


FAMILIES: dict[str, Family] = {
    "encoder": Family("feature-extraction", _encoder),
    "decoder": Family("text-generation-with-past", _tiny("gpt2", "causal-lm-with-past")),
    "encoder-decoder": Family("text2text-generation-with-past", _tiny("t5", "seq2seq-lm-with-past")),
    "speech": Family("automatic-speech-recognition-with-past", _tiny("whisper", "speech2seq-lm-with-past")),
    "vision": Family("image-classification", _tiny("vit", "image-classification")),
    "sentence": Family("feature-extraction", _sentence),
}
# sentence-transformers is installed by the pt session (its tests need it) and not by pt_tf
if (
    os.environ.get("MODELEXPORT_EXPECT_FRAMEWORKS") != "pt"
    and importlib.util.find_spec("sentence_transformers") is None
):
    del FAMILIES["sentence"]

#: Column name -> ``main_export`` keyword arguments. Pairs are columns too where two options meet in the code.
OPTIONS: dict[str, dict[str, Any]] = {
    "defaults": {},
    "optimize O1": {"optimize": "O1"},
    "optimize O2": {"optimize": "O2"},
    "optimize O3": {"optimize": "O3"},
    "quantize": {"quantize": "dynamic"},
    "optimize O2 + quantize": {"optimize": "O2", "quantize": "dynamic"},
    "dtype fp16": {"dtype": "fp16"},
    "no dynamic axes": {"dynamic_axes": False},
    "no dynamic axes + optimize O2": {"dynamic_axes": False, "optimize": "O2"},
    "exporter torchscript": {"converter": "torchscript"},
    "exporter dynamo": {"converter": "dynamo"},
    "exporter tf2onnx": {"converter": "tf2onnx"},
    "library transformers": {"library": "transformers"},
    "library sentence_transformers": {"library": "sentence_transformers"},
    "max-memory (streamed)": {"max_memory": 1024},
    "layout transformers.js": {"layout": "transformers.js"},
    "layout transformers.js + quantize": {"layout": "transformers.js", "quantize": "dynamic"},
    "layout transformers.js + optimize O2": {"layout": "transformers.js", "optimize": "O2"},
    "layout sentence-transformers": {"layout": "sentence-transformers"},
    "library transformers + layout sentence-transformers": {
        "library": "transformers",
        "layout": "sentence-transformers",
    },
}

_FP16 = "fp16"
_NOT_SENTENCE = "modules.json"
_STREAMED_DECODERS = "decoder-only language model"

#: (family, column) -> words the refusal must contain. Every other cell exports and validates.
REFUSED: dict[tuple[str, str], str] = {
    **{(family, "dtype fp16"): _FP16 for family in FAMILIES},  # float16 needs a CUDA device: none in CI
    **{(family, "library sentence_transformers"): _NOT_SENTENCE for family in FAMILIES if family != "sentence"},
    # streamed weights: decoder-only language models, one file, checked layer by layer
    **{(family, "max-memory (streamed)"): _STREAMED_DECODERS for family in ("encoder", "encoder-decoder", "speech")},
    ("vision", "max-memory (streamed)"): _STREAMED_DECODERS,
    ("sentence", "max-memory (streamed)"): "sentence-transformers pipeline",
    **{(family, "exporter tf2onnx"): "does not convert PyTorch models" for family in FAMILIES},
    # the sentence-transformers layout holds a sentence-transformers checkpoint's transformer, nothing else
    **{
        (family, "layout sentence-transformers"): "--layout sentence-transformers needs"
        for family in FAMILIES
        if family != "sentence"
    },
    **{
        (family, "library transformers + layout sentence-transformers"): "--layout sentence-transformers needs"
        for family in FAMILIES
        if family != "sentence"
    },
    ("sentence", "layout sentence-transformers"): "export it with --library transformers",
    # a cache grows a token a step; a pipeline is checked on sentences of their own lengths
    **{
        (family, column): "--no-dynamic-axes cannot export"
        for family in ("decoder", "encoder-decoder", "speech", "sentence")
        for column in ("no dynamic axes", "no dynamic axes + optimize O2")
    },
}

#: The pt session runs every cell; the pt_tf session (transformers 4.57, where decoders trace through dynamo) the
#: columns where options meet, for every family.
SAMPLED = ("defaults", "optimize O2 + quantize", "layout transformers.js", "no dynamic axes")
#: Families whose graphs onnxruntime's transformer fusions match (BERT's patterns; GPT-2's on the TorchScript graph
#: of transformers 5: transformers 4.57's decoders trace through dynamo, whose graph they do not match, and the
#: export then says nothing fused).
FUSING_FAMILIES = ("encoder", "sentence") + (
    ("decoder",) if os.environ.get("MODELEXPORT_EXPECT_FRAMEWORKS") == "pt" else ()
)

CELLS = [
    (family, column)
    for family in FAMILIES
    for column in OPTIONS
    if os.environ.get("MODELEXPORT_EXPECT_FRAMEWORKS") != "pt,tf" or column in SAMPLED
]


@pytest.fixture(scope="module")
def family_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("matrix-models")
    tiny = TinyPtModels(root / "tiny")
    return {name: family.make(tiny, root) for name, family in FAMILIES.items()}


@pytest.mark.parametrize(("family", "column"), CELLS, ids=[f"{f}-{c}" for f, c in CELLS])
def test_cell(
    family: str, column: str, family_dirs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[object] = []
    real_load = pipeline_run.load_model

    def counted_load(*args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(pipeline_run, "load_model", counted_load)
    output = tmp_path / "out"
    kwargs = {"progress": None, "generation_check": True, **OPTIONS[column]}
    refusal = REFUSED.get((family, column))
    if refusal is not None:
        with pytest.raises(ModelExportError) as caught:
            main_export(family_dirs[family], output, FAMILIES[family].task, **kwargs)
        message = str(caught.value)
        assert refusal in message, message
        assert getattr(caught.value, "exit_code", 2) == 2, message
        assert "\n" not in message.strip(), message
        assert not loads, "refused after the model was loaded"
        assert not output.exists()
        assert [p.name for p in tmp_path.iterdir()] == [], "something was left beside the output"
        return
    result = main_export(family_dirs[family], output, FAMILIES[family].task, **kwargs)
    assert result.validation.passed, result.validation.summary()
    assert all((output / name).is_file() for name in result.files)
    if "quantize" in OPTIONS[column]:
        assert any(name.endswith("_quantized.onnx") for name in result.files), result.files
    if OPTIONS[column].get("layout") or (family == "sentence" and column == "library transformers"):
        onnx_files = [name for name in result.files if name.endswith(".onnx")]
        assert onnx_files and all(name.startswith("onnx/") for name in onnx_files), result.files
    if OPTIONS[column].get("optimize") in ("O2", "O3") and family in FUSING_FAMILIES:
        assert _fused(output), "nothing fused"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "a staging folder or lock was left"


def _fused(output: Path) -> bool:
    import onnx

    path = output / "model.onnx" if (output / "model.onnx").is_file() else output / "onnx" / "model.onnx"
    domains = {node.domain for node in onnx.load(str(path), load_external_data=False).graph.node}
    return "com.microsoft" in domains


def test_overwrite_removes_what_the_earlier_export_wrote_and_keeps_the_rest(
    family_dirs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A BERT export with its int8 file and tokenizer, overwritten by a GPT-2 export: BERT's files go, a file the
    user put there stays, and the last progress line names both."""
    from modelexport.cli import main

    output = tmp_path / "out"
    assert main(["export", "onnx", "-m", str(family_dirs["encoder"]), "--quantize", "dynamic", str(output)]) == 0
    assert {"model_quantized.onnx", "vocab.txt", "tokenizer.json"} <= {p.name for p in output.iterdir()}
    (output / "notes.txt").write_text("mine")
    capsys.readouterr()
    decoder = family_dirs["decoder"]
    assert main(["export", "onnx", "-m", str(decoder), "--task", "causal-lm", "--overwrite", str(output)]) == 0
    names = {p.name for p in output.iterdir()}
    assert names == {"config.json", "generation_config.json", "model.onnx", "modelexport_export.json", "notes.txt"}
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("[7/7]"))
    assert "model_quantized.onnx" in line and "vocab.txt" in line and "kept 1 file(s)" in line and "notes.txt" in line


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("--batch-size", "99999999999999999999", "--batch-size 99999999999999999999 is out of range"),
        ("--batch-size", "0", "--batch-size"),
        ("--sequence-length", "65", "its config has 64 positions"),  # the tiny BERT embeds 64
        ("--sequence-length", "40000", "--sequence-length 40000 is out of range"),
    ],
)
def test_dummy_sizes_refused_before_loading(
    option: str,
    value: str,
    words: str,
    family_dirs: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelexport.cli import main

    monkeypatch.setattr(pipeline_run, "load_model", lambda *a, **k: pytest.fail("loaded the model"))
    with pytest.raises(SystemExit) if value == "0" else _no_raise() as exited:
        code = main(["export", "onnx", "-m", str(family_dirs["encoder"]), option, value, str(tmp_path / "out")])
    if exited is not None:
        code = int(exited.value.code or 0)
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert words in err[-1], err
    assert len(err) == 1 or err[0].startswith("usage:"), err  # argparse's own refusals print its usage first
    assert not (tmp_path / "out").exists()


class _no_raise:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
