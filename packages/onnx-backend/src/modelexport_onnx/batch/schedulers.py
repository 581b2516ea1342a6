"""Who exports the entries: this process in turn, N worker processes, or Ray tasks.

Each process pays the imports of torch and transformers once, however many models it exports. Workers are
given models by expected memory (:func:`.runner.expected_memory`): the largest first, and a model starts
only while the models running together are expected to fit in ``max_memory`` (a model larger than that alone
runs alone). A worker that dies (killed, out of memory) takes its model with it: the model is tried again
in a fresh worker, up to :data:`ATTEMPTS` times; its staging folder was hidden and is removed by the retry, and
the kernel released its output lock, so nothing partial is ever published.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from modelexport_core.errors import ModelExportError

from .manifest import BatchEntry
from .runner import FAILED, EntryResult, expected_memory, export_entry

#: Ray's setting of its workers' niceness (15 by default: they crawl on a busy machine).
RAY_NICENESS = "RAY_worker_niceness"
#: Tries of a model whose worker died under it, before it is reported failed.
ATTEMPTS = 3


class RayNotInstalledError(ModelExportError, ImportError):
    """``--ray`` without Ray installed."""


@dataclass
class Events:
    """What the schedulers tell the progress display."""

    started: Callable[[BatchEntry], None]
    finished: Callable[[EntryResult], None]


def run_in_turn(entries: Sequence[BatchEntry], events: Events) -> list[EntryResult]:
    """Every entry in this process, one after the other."""
    results = []
    for entry in entries:
        events.started(entry)
        result = export_entry(entry)
        events.finished(result)
        results.append(result)
    return results


def _died(entry: BatchEntry, attempts: int) -> EntryResult:
    return EntryResult(
        entry.name,
        str(entry.output),
        FAILED,
        error=f"the worker exporting it died {attempts} times (killed, or out of memory); nothing was published",
        attempts=attempts,
    )


def run_in_workers(
    entries: Sequence[BatchEntry], jobs: int, max_memory: int | None, events: Events
) -> list[EntryResult]:
    """The entries on ``jobs`` worker processes, never expected to need more than ``max_memory`` together."""
    needs = {entry.name: expected_memory(entry) for entry in entries}
    pending = sorted(entries, key=lambda e: needs[e.name], reverse=True)
    attempts = {entry.name: 0 for entry in entries}
    results: dict[str, EntryResult] = {}
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copied locks or threads of ours
    while pending:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_share_cores, initargs=(threads,)) as pool:
            running: dict[Future[EntryResult], BatchEntry] = {}
            broken = False
            while (pending or running) and not broken:
                for entry in list(pending):
                    used = sum(needs[e.name] for e in running.values())
                    fits = max_memory is None or used + needs[entry.name] <= max_memory or not running
                    if len(running) < jobs and fits:
                        pending.remove(entry)
                        attempts[entry.name] += 1
                        events.started(entry)
                        running[pool.submit(export_entry, entry)] = entry
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    entry = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken = True
                        pending.insert(0, entry)
                        continue
                    result.attempts = attempts[entry.name]
                    results[entry.name] = result
                    events.finished(result)
            if broken:  # every model in flight lost its worker: each is tried again, in a new pool
                pending[:0] = list(running.values())
                for entry in list(pending):
                    if attempts[entry.name] >= ATTEMPTS:
                        pending.remove(entry)
                        results[entry.name] = _died(entry, attempts[entry.name])
                        events.finished(results[entry.name])
    return [results[entry.name] for entry in entries]


def _share_cores(threads: int) -> None:
    """A worker's start: its share of the cores, set before torch is imported (torch and its OpenMP read these
    once). Without it each of N workers runs as many threads as there are cores, and they slow each other down
    (2 workers on 2 cores: 0.69x the loop's time against 0.59x for one process in turn)."""
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayNotInstalledError(
            '--ray needs Ray: pip install -c constraints/pt.txt ".[pt,ray]" from a clone.'
        ) from None
    return ray


def run_on_ray(entries: Sequence[BatchEntry], address: str | None, events: Events) -> list[EntryResult]:
    """Each entry as one Ray task declaring its expected memory, on the cluster at ``address`` (``None``: the
    one ``RAY_ADDRESS`` names, else a local one). A task whose worker dies is retried by Ray itself.

    Output folders must be paths every node sees alike (a shared filesystem): a task writes and publishes its
    own output there, exactly as a local export does.
    """
    ray = _ray()
    if not ray.is_initialized():
        if address is None and not os.environ.get("RAY_ADDRESS"):  # a local instance, ours: its workers export
            os.environ.setdefault(RAY_NICENESS, "0")  # at normal priority, as --jobs workers (Ray: 15)
        ray.init(address=address, log_to_driver=False)
    capacity = max((node["Resources"].get("memory", 0) for node in ray.nodes() if node["Alive"]), default=0)
    remote = ray.remote(export_entry)
    tasks: dict[Any, BatchEntry] = {}
    results: dict[str, EntryResult] = {}
    for entry in entries:
        need = expected_memory(entry)
        if capacity and need > capacity:
            results[entry.name] = EntryResult(
                entry.name, str(entry.output), FAILED, error=f"needs {need / 2**30:.1f} GiB; no Ray node has as much"
            )
            events.finished(results[entry.name])
            continue
        events.started(entry)
        options = {"memory": need, "num_cpus": 1, "max_retries": ATTEMPTS - 1, "name": f"export {entry.name}"}
        tasks[remote.options(**options).remote(entry)] = entry
    while tasks:
        done, _ = ray.wait(list(tasks), num_returns=1)
        entry = tasks.pop(done[0])
        try:
            result = ray.get(done[0])
        except ray.exceptions.RayError as error:  # the worker died on every try (or Ray itself failed)
            result = _died(entry, ATTEMPTS)
            result.error = f"{result.error}: {type(error).__name__}"
        results[entry.name] = result
        events.finished(result)
    return [results[entry.name] for entry in entries]
