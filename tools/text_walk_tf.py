"""Measure which text ``(model type, task)`` pairs also export from TensorFlow: the registry's TF column.

``TF_USE_LEGACY_KERAS=1 .nox/tf/bin/python tools/text_walk_tf.py`` (the ``tf`` session's environment:
transformers 4.57, the last with TensorFlow classes, and tf2onnx) rewrites
``packages/onnx-backend/src/modelexport_onnx/text_architectures_tf.json`` (per model type, the tasks
that exported from TensorFlow and validated) and ``tools/text_walk_tf_failures.json`` (the pairs that
did not, and why). The registry advertises a TensorFlow export only where this walk measured one.

The walk covers every type of the PyTorch rows (``text_architectures.json`` and the hand-written text
rows of :mod:`modelexport_onnx.architectures`) that transformers 4.57 has a TensorFlow class for, and
exports it through the PyTorch row's family and options: the registry builds one config for both
frameworks. The tiny model is :func:`text_walk.tiny_config`'s, built with the TF auto class and the
tests' seed; each export is checked as ``tests/onnx_tf/test_tf_registry_walk.py`` checks it (names,
validation against TensorFlow on other shapes, an empty first cache) and ``-with-past`` language
models generate 20 greedy tokens against TensorFlow's ``generate``.

Each pair runs in a process of its own, two at a time, under a timeout: tf2onnx can hang.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from modelexport_onnx.families import Family

ROOT = Path(__file__).resolve().parents[1]
#: The tree's packages, put first on ``sys.path``: the ``tf`` session installs copies that may be stale.
SOURCES = (
    ROOT / "packages" / "onnx-backend" / "src",
    ROOT / "packages" / "core" / "src",
    ROOT / "packages" / "tf" / "src",
    ROOT / "src",
    ROOT / "tools",
)
TF_TABLE = ROOT / "packages" / "onnx-backend" / "src" / "modelexport_onnx" / "text_architectures_tf.json"
TF_FAILURES = ROOT / "tools" / "text_walk_tf_failures.json"
PT_TABLE = ROOT / "packages" / "onnx-backend" / "src" / "modelexport_onnx" / "text_architectures.json"
SEED = 0
#: Seconds one pair may take: TensorFlow builds and traces slower than PyTorch, encoder-decoders three files.
TIMEOUT = 240.0
PROCESSES = 2

#: Canonical base task -> the transformers 4.57 TensorFlow auto mapping that says a type has a head for it.
TF_TASK_MAPPINGS: Mapping[str, str] = {
    "default": "TF_MODEL_MAPPING_NAMES",
    "causal-lm": "TF_MODEL_FOR_CAUSAL_LM_MAPPING_NAMES",
    "masked-lm": "TF_MODEL_FOR_MASKED_LM_MAPPING_NAMES",
    "seq2seq-lm": "TF_MODEL_FOR_SEQ_TO_SEQ_CAUSAL_LM_MAPPING_NAMES",
    "sequence-classification": "TF_MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
    "token-classification": "TF_MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES",
    "question-answering": "TF_MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
    "multiple-choice": "TF_MODEL_FOR_MULTIPLE_CHOICE_MAPPING_NAMES",
}
#: The types the issue names first: with a time budget, the walk spends it on them before the others.
PRIORITY: tuple[str, ...] = (
    "blenderbot",
    "blenderbot-small",
    "convbert",
    "deberta",
    "esm",
    "flaubert",
    "longformer",
    "rembert",
    "roformer",
    "xlm",
)


def use_the_tree() -> None:
    """Import the tree's packages, not the installed copies, and check it did (a stale copy measures nothing)."""
    for source in reversed(SOURCES):
        if str(source) not in sys.path:
            sys.path.insert(0, str(source))
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")  # transformers' TF classes need Keras 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import modelexport_onnx

    if not Path(modelexport_onnx.__file__).resolve().is_relative_to(ROOT):
        raise SystemExit(f"modelexport_onnx comes from {modelexport_onnx.__file__}, not from {ROOT}")


# --- which types, tasks and families -------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """How the registry exports a model type from PyTorch: the family, its options, and (when the measured
    table exists) the tasks it advertises; ``None`` means not known, so every family task is walked."""

    family: str
    options: dict[str, Any]
    tasks: tuple[str, ...] | None
    hand_written: bool = False

    def build_family(self) -> Family:
        from modelexport_onnx.families import FAMILY_CLASSES, Family

        return Family(FAMILY_CLASSES[self.family], self.options, self.family)  # type: ignore[index,arg-type]


def _tf_mapping(base_task: str) -> Mapping[str, Any]:
    from transformers.models.auto import modeling_tf_auto

    mapping: Mapping[str, Any] = getattr(modeling_tf_auto, TF_TASK_MAPPINGS[base_task])
    return mapping


def tf_head_tasks(model_type: str) -> tuple[str, ...]:
    """The canonical tasks transformers 4.57 has a TensorFlow head for (and the ``-with-past`` variants)."""
    from text_walk import TASKS

    return tuple(task for task in TASKS if model_type in _tf_mapping(task.removesuffix("-with-past")))


def tf_model_types() -> set[str]:
    """Every model type with a TensorFlow class in a text task's auto mapping."""
    return set().union(*(_tf_mapping(base) for base in TF_TASK_MAPPINGS))


@cache
def spellings() -> dict[str, str]:
    """Normalized model type (the registry's) -> transformers' spelling (``gpt-neo`` -> ``gpt_neo``)."""
    from modelexport_core.registry import normalize_model_type
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return {normalize_model_type(name): name for name in CONFIG_MAPPING_NAMES}


def measured_rows(path: Path = PT_TABLE) -> dict[str, Row]:
    """The PyTorch walk's rows, by transformers' spelling (none when it has not written its table yet)."""
    if not path.is_file():
        return {}
    types = json.loads(path.read_text(encoding="utf-8"))["types"]
    return {name: Row(row["family"], dict(row.get("options", {})), tuple(row["tasks"])) for name, row in types.items()}


def hand_written_rows(measured: Mapping[str, Row]) -> dict[str, Row]:
    """The hand-written text rows: their options win (the registry exports with them), their tasks gain the
    measured ones of the same family, as :func:`modelexport_onnx.architectures.merged` merges them."""
    from modelexport_onnx.architectures import HAND_WRITTEN
    from modelexport_onnx.families import FAMILY_CLASSES

    family_names = {config_class: name for name, config_class in FAMILY_CLASSES.items()}
    rows = {}
    for name, architecture in HAND_WRITTEN.items():
        family = family_names.get(architecture.config_class)
        if family is None or "speech" in architecture.options:
            continue
        model_type = spellings().get(name, name)
        tasks: tuple[str, ...] | None = None
        if measured:  # the PyTorch tasks are known: the hand-written ones and the measured ones
            row = measured.get(model_type)
            extra = row.tasks or () if row is not None and row.family == family else ()
            tasks = tuple(dict.fromkeys((*architecture.tasks, *extra)))
        rows[model_type] = Row(family, dict(architecture.options), tasks, hand_written=True)
    return rows


def _tf_call_parameters(model_type: str) -> tuple[str, ...]:
    import inspect

    import transformers

    name = next(_tf_mapping(base)[model_type] for base in TF_TASK_MAPPINGS if model_type in _tf_mapping(base))
    model_class = getattr(transformers, name if isinstance(name, str) else name[0])
    return tuple(p for p in inspect.signature(model_class.call).parameters if p not in ("self", "training"))


def fallback_row(model_type: str) -> Row | None:
    """Without the PyTorch walk's table: the family :func:`text_family` picks from 4.57's default config and
    the TensorFlow class's ``call`` (the same decision the PyTorch walk makes from ``forward``)."""
    from modelexport_onnx.families import text_family
    from text_walk import default_config

    causal, masked = model_type in _tf_mapping("causal-lm"), model_type in _tf_mapping("masked-lm")
    try:
        config, parameters = default_config(model_type), _tf_call_parameters(model_type)
    except Exception:
        return None
    family = text_family(config, parameters, causal_lm=None if not (causal or masked) else causal and not masked)
    return None if family is None else Row(family.name, family.options, None)


def _deprecated(model_type: str) -> bool:
    """A type transformers 4.57 already keeps under ``models.deprecated`` (transfo-xl): gone from 5.x, so from
    the PyTorch table too."""
    from transformers.models.auto.configuration_auto import model_type_to_module_name

    return bool(model_type_to_module_name(model_type).startswith("deprecated."))


def rows_to_walk(model_types: Iterable[str] | None) -> dict[str, Row]:
    """The PyTorch rows of the types (default: all) that have a TensorFlow class."""
    measured = measured_rows()
    rows = {**measured, **hand_written_rows(measured)}
    tf_types = {t for t in tf_model_types() if not _deprecated(t)}
    wanted = set(model_types) if model_types is not None else set(rows) | (tf_types if not measured else set())
    walked = {}
    for model_type in sorted(wanted & tf_types):
        row = rows.get(model_type) or (None if measured else fallback_row(model_type))
        if row is not None:
            walked[model_type] = row
    return walked


def _priority(model_type: str, row: Row) -> tuple[int, int, str]:
    """The issue's types first, then the other types new to TensorFlow, then the hand-written rows."""
    named = PRIORITY.index(model_type) if model_type in PRIORITY else len(PRIORITY)
    return (int(row.hand_written), named, model_type)


@dataclass(frozen=True)
class PairResult:
    """What one pair gave: ``passed``, ``failed``, ``timeout``, ``skipped`` or ``not-walked`` (time budget)."""

    model_type: str
    task: str
    family: str
    status: str
    reason: str | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def planned_pairs(rows: Mapping[str, Row]) -> tuple[list[tuple[str, str]], list[PairResult]]:
    """The pairs to export, in priority order, and the ones skipped up front (with why)."""
    from modelexport_onnx.families import HEAD_TASKS, family_tasks

    pairs: list[tuple[str, str]] = []
    skipped: list[PairResult] = []
    for model_type, row in sorted(rows.items(), key=lambda item: _priority(*item)):
        for task in tf_head_tasks(model_type):
            why = None
            if task not in HEAD_TASKS[row.family]:  # type: ignore[index]
                continue  # not a task of the family at all (an encoder's causal-LM head): not asked for
            if task not in family_tasks(row.family):  # type: ignore[arg-type]
                why = "needs config outputs"
            elif row.tasks is not None and task not in row.tasks:
                why = "does not export from PyTorch"
            if why is None:
                pairs.append((model_type, task))
            else:
                skipped.append(PairResult(model_type, task, row.family, "skipped", why))
    return pairs, skipped


# --- one pair -----------------------------------------------------------------------------------------


def build_tf_model(model_type: str, task: str) -> Any:
    """The tiny random TensorFlow model of ``task``'s auto class, weights created, with the tests' seed."""
    import tensorflow as tf
    import transformers
    from modelexport_core.tasks import base_task
    from modelexport_tf.autoclasses import TF_TASK_TO_AUTOCLASS
    from text_walk import tiny_config

    names = TF_TASK_TO_AUTOCLASS[base_task(task)]
    auto_class = getattr(transformers, names if isinstance(names, str) else names[0])
    config = tiny_config(model_type)
    if config.architectures is None:  # 4.57's auto classes iterate it where a type maps to several classes
        config.architectures = []  # (funnel: TFFunnelModel, TFFunnelBaseModel); none named: the first
    tf.keras.utils.set_random_seed(SEED)
    model = auto_class.from_config(config)
    model(model.dummy_inputs, training=False)
    return model


def check_pair(model_type: str, task: str, row: Row, directory: Path) -> str | None:
    """Export one pair from TensorFlow into ``directory`` and check it; why it fails, or ``None``."""
    from text_walk import export_problem

    model = build_tf_model(model_type, task)
    return export_problem(model, row.build_family().build(model.config, task), directory, framework="tf")


def _first_line(error: BaseException) -> str:
    lines = [part.strip() for part in str(error).splitlines() if part.strip()] or [""]
    # TensorFlow's traced errors open with "in user code:" and end with the error itself
    line = lines[-1] if lines[0].endswith("in user code:") else lines[0]
    name = type(error).__name__
    return (line if line.startswith(f"{name}: ") else f"{name}: {line}")[:300]


def run_pair(model_type: str, task: str, row: Row, workdir: Path) -> PairResult:
    """One pair, in this process: exceptions become the failure's reason."""
    start = time.perf_counter()
    directory = workdir / f"{model_type}--{task}"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    try:
        reason = check_pair(model_type, task, row, directory)
    except Exception as error:
        reason = _first_line(error)
        traceback.print_exc()  # shown with --debug
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    status = "passed" if reason is None else "failed"
    return PairResult(model_type, task, row.family, status, reason, round(time.perf_counter() - start, 2))


def _child(model_type: str, task: str, row: Row, workdir: str, debug: bool, connection: Connection) -> None:
    """A pair in a process of its own: single-threaded TensorFlow, quiet unless ``debug``, the result sent back."""
    import warnings

    if not debug:
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
    warnings.simplefilter("ignore")
    try:
        use_the_tree()
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.get_logger().setLevel("ERROR")
        result = run_pair(model_type, task, row, Path(workdir))
    except BaseException as error:  # anything at all must come back as a result
        result = PairResult(model_type, task, row.family, "failed", _first_line(error))
    connection.send(asdict(result))
    connection.close()


# --- the walk -------------------------------------------------------------------------------------------


@dataclass
class Running:
    process: Any
    receiver: Connection
    started: float


def _collect(pair: tuple[str, str], family: str, running: Running, timeout: float) -> PairResult | None:
    """The result of a finished pair process, a timeout for one running too long, ``None`` while it runs."""
    if running.receiver.poll():
        try:
            data = running.receiver.recv()
        except EOFError:
            data = None
        running.process.join(5)
        if data is not None:
            return PairResult(**data)
        return PairResult(*pair, family, "failed", f"the process died (exit code {running.process.exitcode})")
    if not running.process.is_alive():
        running.process.join()
        return PairResult(*pair, family, "failed", f"the process died (exit code {running.process.exitcode})")
    if time.monotonic() - running.started > timeout:
        running.process.kill()
        running.process.join()
        return PairResult(*pair, family, "timeout", f"timed out after {timeout:g} s", round(timeout, 2))
    return None


def walk(
    rows: Mapping[str, Row],
    workdir: Path,
    *,
    processes: int = PROCESSES,
    timeout: float = TIMEOUT,
    budget: float | None = None,
    progress: Callable[[PairResult], None] | None = None,
    debug: bool = False,
) -> list[PairResult]:
    """Export and check every pair of ``rows``, ``processes`` at a time; once ``budget`` seconds have gone,
    no pair starts (the rest come back ``not-walked``). Processes are spawned: TensorFlow does not fork."""
    from text_walk import TASKS

    pairs, results = planned_pairs(rows)
    context = multiprocessing.get_context("spawn")
    queue = list(reversed(pairs))
    running: dict[tuple[str, str], Running] = {}
    start = time.monotonic()
    while queue or running:
        while queue and len(running) < processes and (budget is None or time.monotonic() - start < budget):
            pair = queue.pop()
            receiver, sender = context.Pipe(duplex=False)
            args = (*pair, rows[pair[0]], str(workdir), debug, sender)
            process = context.Process(target=_child, args=args, daemon=True)
            process.start()
            sender.close()
            running[pair] = Running(process, receiver, time.monotonic())
        if not running:
            break
        time.sleep(0.1)
        for pair, state in list(running.items()):
            result = _collect(pair, rows[pair[0]].family, state, timeout)
            if result is not None:
                del running[pair]
                results.append(result)
                if progress is not None:
                    progress(result)
    results += [PairResult(t, task, rows[t].family, "not-walked", "time budget spent") for t, task in queue]
    return sorted(results, key=lambda r: (r.model_type, TASKS.index(r.task)))


# --- the files it writes ----------------------------------------------------------------------------------


def table(results: Iterable[PairResult]) -> dict[str, Any]:
    """Per model type with a passing task, the tasks that exported from TensorFlow, sorted."""
    import tensorflow as tf
    import transformers
    from text_walk import TASKS

    passed: dict[str, list[str]] = {}
    for result in results:
        if result.passed:
            passed.setdefault(result.model_type, []).append(result.task)
    types = {t: sorted(passed[t], key=TASKS.index) for t in sorted(passed)}
    return {"transformers": transformers.__version__, "tensorflow": tf.__version__, "types": types}


def failures(results: Iterable[PairResult]) -> list[dict[str, Any]]:
    """Every pair that did not pass: failed, timed out, skipped or not walked, with why."""
    return [
        {"model_type": r.model_type, "task": r.task, "family": r.family, "status": r.status, "reason": r.reason}
        for r in results
        if not r.passed
    ]


def merge(path: Path, fresh: dict[str, Any], walked: set[str]) -> dict[str, Any]:
    """A partial walk (``--types``) replaces its types' entries in an existing table and keeps the others."""
    if not path.is_file():
        return fresh
    types = {t: tasks for t, tasks in json.loads(path.read_text(encoding="utf-8"))["types"].items() if t not in walked}
    types.update(fresh["types"])
    return {**fresh, "types": dict(sorted(types.items()))}


def merge_failures(path: Path, fresh: list[dict[str, Any]], walked: set[str]) -> list[dict[str, Any]]:
    from text_walk import TASKS

    if not path.is_file():
        return fresh
    kept = [f for f in json.loads(path.read_text(encoding="utf-8")) if f["model_type"] not in walked]
    return sorted(kept + fresh, key=lambda f: (f["model_type"], TASKS.index(f["task"])))


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


def _print_progress(result: PairResult) -> None:
    mark = {"passed": "ok", "failed": "FAIL", "timeout": "TIMEOUT"}.get(result.status, result.status)
    why = f"  {result.reason}" if result.reason else ""
    print(f"{mark:7} {result.seconds:6.1f}s {result.model_type} {result.task}{why}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", nargs="+", help="model types to walk (transformers' spelling); default: all")
    parser.add_argument("--processes", type=int, default=PROCESSES)
    parser.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per pair")
    parser.add_argument("--budget", type=float, help="seconds after which no pair starts (the rest: not-walked)")
    parser.add_argument("--list", action="store_true", help="list the pairs the walk would export, export none")
    parser.add_argument("--debug", action="store_true", help="show the children's output (tracebacks)")
    args = parser.parse_args(argv)
    use_the_tree()

    rows = rows_to_walk(args.types)
    if args.list:
        pairs, skipped = planned_pairs(rows)
        for model_type, task in pairs:
            print(model_type, task, rows[model_type].family, json.dumps(rows[model_type].options))
        for result in skipped:
            print(result.model_type, result.task, "skipped:", result.reason)
        return 0
    if not PT_TABLE.is_file():
        print(f"{PT_TABLE.name} is missing: families from 4.57's configs, every task", file=sys.stderr)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="text-walk-tf-") as workdir:
        results = walk(
            rows,
            Path(workdir),
            processes=args.processes,
            timeout=args.timeout,
            budget=args.budget,
            progress=_print_progress,
            debug=args.debug,
        )
    fresh, failed = table(results), failures(results)
    if args.types is not None:
        fresh, failed = merge(TF_TABLE, fresh, set(rows)), merge_failures(TF_FAILURES, failed, set(rows))
    _write_json(TF_TABLE, fresh)
    _write_json(TF_FAILURES, failed)
    passed = sum(r.passed for r in results)
    print(
        f"{len(fresh['types'])} model types, {passed} of {len(results)} pairs passed from TensorFlow in "
        f"{time.monotonic() - start:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
