"""``modelexport export-batch MANIFEST``: registered through the ``modelexport.commands`` entry point.

Importing this module is cheap; torch and transformers are imported by whoever exports (this process, each
worker, each Ray task), once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..arguments import positive, size


def register(commands: Any) -> None:
    """Add ``export-batch`` to ``modelexport``."""
    parser = commands.add_parser(
        "export-batch",
        help="export every model a manifest lists (resumable; in parallel or on Ray)",
        description="Export every model of MANIFEST (TOML: a [defaults] table and one [[models]] table per model "
        "with model, output and any option of 'export onnx') to ONNX, each validated and published atomically as "
        "'export onnx' does. A model that fails is reported and the others go on; a second run skips every model "
        "already exported from the same source revision with the same options.",
        epilog="Exit status: 0 every model exported or skipped; 1 some model failed; 2 bad manifest or options "
        "(nothing exported); 130 interrupted.",
    )
    parser.add_argument("manifest", metavar="MANIFEST", help="the manifest (.toml)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--jobs", "-j", type=positive, default=1, help="worker processes exporting at once (default 1)")
    where.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help="run each model as a Ray task on the cluster at ADDRESS (default: RAY_ADDRESS, else a local one); "
        "outputs must be on a filesystem every node shares",
    )
    parser.add_argument(
        "--max-memory",
        type=size,
        metavar="SIZE",
        help="memory the workers may use together, e.g. 16G (default: no limit); models start by expected memory",
    )
    parser.add_argument(
        "--summary", metavar="SUMMARY.json", help="where to write the JSON summary (default: MANIFEST.summary.json)"
    )
    parser.add_argument("--json", action="store_true", help="print the JSON summary instead of the table")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from .manifest import read_manifest
    from .report import ProgressBar, summary, table
    from .schedulers import Events, run_in_turn, run_in_workers, run_on_ray

    manifest = Path(args.manifest).expanduser().absolute()
    entries = read_manifest(manifest)
    if args.max_memory is not None:  # a model expected to need more than the whole allowance streams its weights
        entries = [replace(e, options={"max_memory": args.max_memory, **e.options}) for e in entries]
    summary_path = Path(args.summary) if args.summary else manifest.with_name(manifest.name + ".summary.json")
    bar = ProgressBar(len(entries))
    events = Events(bar.started_entry, bar.finished_entry)
    started = time.monotonic()
    if args.ray is not None:
        scheduler = "ray"
        results = run_on_ray(entries, args.ray or None, events)
    elif args.jobs > 1 or args.max_memory is not None:
        scheduler = f"{args.jobs} workers"
        results = run_in_workers(entries, args.jobs, args.max_memory, events)
    else:
        scheduler = "in turn"
        results = run_in_turn(entries, events)
    bar.close()
    document = summary(results, str(manifest), time.monotonic() - started, scheduler)
    summary_path.write_text(json.dumps(document, indent=2) + "\n")
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        print(table(results))
        print(
            f"{document['exported']} exported, {document['skipped']} skipped, {document['failed']} failed "
            f"in {document['seconds']:.1f} s ({scheduler}); summary in {summary_path}"
        )
    sys.stdout.flush()
    return 1 if document["failed"] else 0
