"""The ``modelexport`` command.

Sub-commands of core live here (``tasks``, ``infer-task``); a backend adds its own through
the ``modelexport.commands`` entry-point group (each entry names ``register(subparsers)``).
Every :class:`~modelexport_core.ModelExportError` becomes one ``error:`` line and exit
status 2 (a failed export or validation: 1), never a traceback.

Exit statuses: 0 done; 1 the export or its validation failed; 2 bad input (options, model, paths);
130 interrupted by Ctrl-C (SIGINT); 143 terminated (SIGTERM): 128 + the signal, as shells report it.
An interruption prints one ``interrupted`` line, whatever it interrupted (even an import).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from modelexport import _interrupts

if TYPE_CHECKING:
    from importlib import metadata

# Nothing heavier at import: the console script imports this module before ``entry`` installs the
# signal handlers, and a Ctrl-C before that ends in Python's own traceback.

COMMANDS_GROUP = "modelexport.commands"
EXPORT_COMMANDS_GROUP = "modelexport.export_commands"
EXIT_USAGE = 2
#: 128 + SIGPIPE, what a shell reports for a writer whose reader went away.
EXIT_BROKEN_PIPE = 141


def _silence_stdout() -> None:
    """Point stdout at /dev/null: its reader is gone, and the interpreter's last flush would fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def _report_interruption(exc: KeyboardInterrupt) -> int:
    """One ``interrupted`` line; the status is 128 + the signal (130 for Ctrl-C, 143 for SIGTERM).

    Only a program calling :func:`main` gets here: the command itself exits from its signal handler.
    """
    code = int(getattr(exc, "exit_code", 128 + signal.SIGINT))
    print(f"interrupted ({signal.Signals(code - 128).name})", file=sys.stderr)
    return code


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=False)]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        for row in [header, ["-" * w for w in widths], *rows]
    ]
    return "\n".join(lines)


def _autoclass_text(value: str | tuple[str, ...] | None) -> str:
    if value is None:
        return "-"
    return value if isinstance(value, str) else " | ".join(value)


def _tasks_rows(args: argparse.Namespace) -> list[dict[str, Any]]:
    from modelexport_core import TasksManager
    from modelexport_core.plugins import framework_plugins, get_framework
    from modelexport_core.tasks import base_task, synonyms_only

    plugins = [get_framework(args.framework, require_available=False)] if args.framework else framework_plugins()
    tasks: list[str]
    if args.model_type:
        tasks = list(
            TasksManager.get_supported_tasks_for_model_type(
                args.model_type, args.backend or "onnx", framework=args.framework
            )
        )
    else:
        tasks = list(TasksManager.get_all_tasks())
    rows = []
    for task in tasks:
        classes = {p.name: p.autoclass_table().get(base_task(task)) for p in plugins}
        if args.framework and classes[args.framework] is None:
            continue
        row: dict[str, Any] = {"task": task, "synonyms": synonyms_only(task), "autoclasses": classes}
        if args.backend and not args.model_type:
            row["model_types"] = TasksManager.get_supported_model_type_for_task(task, args.backend)
        rows.append(row)
    return rows


def _cmd_tasks(args: argparse.Namespace) -> int:
    rows = _tasks_rows(args)
    if args.json:
        notes = _notes(args)
        print(json.dumps({"tasks": rows, "notes": notes} if args.model_type else rows, indent=2))
        return 0
    frameworks = list(rows[0]["autoclasses"]) if rows else []
    header = ["TASK", "SYNONYMS", *[f"{name.upper()} CLASS" for name in frameworks]]
    if args.backend and not args.model_type:
        header.append(f"{args.backend.upper()} MODEL TYPES")
    table = []
    for row in rows:
        cells = [row["task"], ", ".join(row["synonyms"]) or "-"]
        cells += [_autoclass_text(row["autoclasses"][name]) for name in frameworks]
        if "model_types" in row:
            cells.append(str(len(row["model_types"])))
        table.append(cells)
    if args.model_type:
        print(f"Tasks that {args.backend or 'onnx'} exports for model type {args.model_type!r}:")
    print(_table(table, header))
    for note in _notes(args):
        print(f"note: {note}")
    return 0


def _notes(args: argparse.Namespace) -> list[str]:
    """Notes a backend attaches to a model type's export (fixed image size, ...)."""
    if not args.model_type:
        return []
    from modelexport_core import TasksManager

    return TasksManager.get_export_notes(args.model_type, args.backend or "onnx")


def _cmd_infer_task(args: argparse.Namespace) -> int:
    from modelexport_core import TasksManager

    task = TasksManager.infer_task_from_model(
        args.model, subfolder=args.subfolder, revision=args.revision, cache_dir=args.cache_dir
    )
    if args.json:
        print(json.dumps({"model": args.model, "task": task, "synonyms": sorted(TasksManager.synonyms_for_task(task))}))
    else:
        print(task)
    return 0


def _entry_points(group: str) -> list[metadata.EntryPoint]:
    from importlib import metadata

    unique = {(ep.name, ep.value): ep for ep in metadata.entry_points(group=group)}
    return sorted(unique.values(), key=lambda ep: ep.name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelexport", description="Export Hugging Face transformers models to ONNX and more."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    tasks = sub.add_parser(
        "tasks",
        help="list tasks, their synonyms and model classes",
        description="List canonical tasks with their synonyms and AutoClasses; with "
        "--model-type, only the tasks a backend exports for that model type.",
    )
    tasks.add_argument("--model-type", help="a transformers model type (e.g. distilbert)")
    tasks.add_argument("--backend", help="export backend (default with --model-type: onnx)")
    tasks.add_argument("--framework", help="only tasks this framework can load (pt, tf, ...)")
    tasks.add_argument("--json", action="store_true", help="print JSON instead of a table")
    tasks.set_defaults(handler=_cmd_tasks)

    infer = sub.add_parser("infer-task", help="infer the task of a local model directory or Hub id")
    infer.add_argument("model", help="local directory or Hugging Face Hub id")
    infer.add_argument("--subfolder", default="", help="subfolder of the model repository")
    infer.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    infer.add_argument("--cache-dir", help="Hugging Face cache directory")
    infer.add_argument("--json", action="store_true", help="print JSON")
    infer.set_defaults(handler=_cmd_infer_task)

    export = sub.add_parser(
        "export",
        help="export a model to a format (installed backends)",
        description="Export a model with one of the installed backends.",
    )
    backends = export.add_subparsers(dest="backend", metavar="BACKEND")
    backends.required = True
    for ep in _entry_points(EXPORT_COMMANDS_GROUP):
        ep.load()(backends)
    for ep in _entry_points(COMMANDS_GROUP):
        ep.load()(sub)
    return parser


def _version() -> str:
    from modelexport_core.versions import installed_version

    return installed_version("modelexport") or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.handler(args) or 0)
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM turned into an exception (here or by a backend)
        return _report_interruption(exc)
    except BrokenPipeError:  # `modelexport tasks | head`: the reader has all it wanted
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except BaseException as exc:
        from modelexport_core.errors import ModelExportError

        if isinstance(exc, ModelExportError):
            print(f"error: {exc}", file=sys.stderr)
            return int(getattr(exc, "exit_code", EXIT_USAGE))
        raise


def entry() -> None:
    """Console-script entry: run, flush, and leave without tearing the interpreter down.

    Unloading torch and transformers at exit takes most of a second and has nothing left to
    do: every file was written and closed, every staging folder removed, before ``main`` returned.
    """
    import logging
    import os

    _interrupts.install()
    code = main()
    _interrupts.ignore()  # done: a late signal must not cut the flushing below
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            code = code or EXIT_BROKEN_PIPE
    os._exit(code)


if __name__ == "__main__":
    entry()
