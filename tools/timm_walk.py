"""The timm walk: one model per timm architecture family (module), random weights, exported and validated.

Writes ``timm_architectures.json`` beside the ONNX backend's other measured tables: the families that export
(with the model tried) and the ones that fail, with why. Run it where timm is installed (the ``timm`` nox
session's environment): ``python tools/timm_walk.py [--limit N] [--only FAMILY ...]``.

Per family the model is the one whose name says it is smallest (``atto``, ``pico``, ``nano``, ``tiny``...);
models with more than :data:`MAX_PARAMETERS` parameters are skipped for the next candidate, so the walk fits a
2-core machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

TABLE = Path(__file__).resolve().parents[1] / "packages/onnx-backend/src/modelexport_onnx/timm_architectures.json"
#: Size words in timm's names, smallest first.
SIZES = ("atto", "femto", "pico", "nano", "xxs", "xs", "tiny", "mini", "small", "s", "b0", "18", "base")
MAX_PARAMETERS = 60_000_000
CANDIDATES = 3


def rank(name: str) -> tuple[int, int, str]:
    parts = name.replace(".", "_").split("_")
    for position, size in enumerate(SIZES):
        if size in parts or any(part.endswith(size) for part in parts):
            return (position, len(name), name)
    return (len(SIZES), len(name), name)


def families() -> dict[str, list[str]]:
    import timm

    found: dict[str, list[str]] = {}
    for module in sorted(timm.list_modules()):
        names = sorted(timm.list_models(module=module), key=rank)
        if names:
            found[module] = names
    return found


def try_model(name: str, workdir: Path) -> dict[str, Any]:
    import timm
    from modelexport_onnx.main_export import main_export

    model = timm.create_model(name, pretrained=False)
    parameters = sum(p.numel() for p in model.parameters())
    if parameters > MAX_PARAMETERS:
        return {"model": name, "skipped": f"{parameters / 1e6:.0f}M parameters"}
    folder = workdir / name
    try:
        timm.models.save_for_hf(model, str(folder), safe_serialization=True)
    except RuntimeError:  # tensors shared between modules: safetensors refuses them, timm's .bin keeps them
        shutil.rmtree(folder, ignore_errors=True)
        timm.models.save_for_hf(model, str(folder), safe_serialization=False)
    started = time.perf_counter()
    result = main_export(str(folder), workdir / f"{name}-onnx", "image-classification", progress=None)
    return {
        "model": name,
        "parameters": parameters,
        "seconds": round(time.perf_counter() - started, 1),
        "passed": result.validation.passed,
    }


def cause(error: BaseException) -> str:
    text = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=0, help="families to try (0: all)")
    parser.add_argument("--only", nargs="*", default=[], help="these families only")
    parser.add_argument("--output", type=Path, default=TABLE)
    args = parser.parse_args()
    import timm

    table: dict[str, Any] = {"timm": timm.__version__, "passed": {}, "failed": {}}
    chosen = families()
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only}
    if args.limit:
        chosen = dict(list(chosen.items())[: args.limit])
    for family, names in chosen.items():
        with tempfile.TemporaryDirectory() as tmp:
            outcome: dict[str, Any] | None = None
            for name in names[:CANDIDATES]:
                try:
                    outcome = try_model(name, Path(tmp))
                except Exception as error:  # the walk records why and goes on
                    outcome = {"model": name, "why": cause(error), "trace": traceback.format_exc(limit=-3)[-600:]}
                    break
                if "skipped" not in outcome:
                    break
            shutil.rmtree(tmp, ignore_errors=True)
        assert outcome is not None
        key = "failed" if "why" in outcome or "skipped" in outcome else "passed"
        table[key][family] = {k: v for k, v in outcome.items() if k != "trace"}
        print(
            f"{family:24} {key:6} {outcome.get('model')} {outcome.get('why', outcome.get('skipped', ''))}", flush=True
        )
        args.output.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
