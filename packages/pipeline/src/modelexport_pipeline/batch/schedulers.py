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
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from modelexport_core.errors import ModelExportError
from modelexport_core.interruption import exit_on_signals, stopped_if_interrupted

from .manifest import BatchEntry
from .runner import FAILED, EntryResult, expected_memory, export_entry

#: Ray's setting of its workers' niceness (15 by default: they crawl on a busy machine).
RAY_NICENESS = "RAY_worker_niceness"
#: Tries of a model whose worker died under it, before it is reported failed.
ATTEMPTS = 3
#: Seconds an interrupted batch waits for its workers to remove their staging folders and locks before it kills
#: them (a worker moving files into place finishes that first: an export is wholly published or not at all).
STOP_GRACE_SECONDS = 30.0


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
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no copied locks or threads of ours
    _quiet_resource_tracker()

    def stop() -> None:
        stop_workers()
        remove_leftovers(entries)

    with stopped_if_interrupted(stop):
        return _run_pools(entries, jobs, max_memory, events, needs, pending, context)


def remove_leftovers(entries: Sequence[BatchEntry]) -> None:
    """The staging folders and locks of workers that had to be killed (a worker that ends on its signal removes
    its own): beside each output, those of processes that are gone."""
    from ..output_lock import remove_unheld_lock
    from ..staging import remove_stale_staging

    for entry in entries:
        remove_stale_staging(entry.output.parent, entry.output.name)
        remove_unheld_lock(entry.output)


#: What multiprocessing's resource tracker says when an interrupted batch leaves without closing its pool's queues
#: (it then removes their semaphores itself): a warning per run, after the ``interrupted`` line, with nothing to do.
_TRACKER_WARNING = "ignore::UserWarning:multiprocessing.resource_tracker"


def _quiet_resource_tracker() -> None:
    """Silence the resource tracker's leaked-semaphore warning; set before the tracker starts, which reads it."""
    current = os.environ.get("PYTHONWARNINGS", "")
    if _TRACKER_WARNING not in current:
        os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [current, _TRACKER_WARNING]))


def _stop_resource_tracker() -> None:
    """Let multiprocessing's resource tracker remove the pool's semaphores and end, before this process does."""
    from multiprocessing import resource_tracker

    stop = getattr(resource_tracker._resource_tracker, "_stop", None)
    if callable(stop):
        stop()


def stop_workers(grace: float = STOP_GRACE_SECONDS) -> None:
    """End every worker process of this one (an interrupted batch): each removes its staging folder and lock on
    SIGTERM (:func:`_start_worker`) and is waited for; one still there after ``grace`` seconds is killed."""
    import time

    workers = multiprocessing.active_children()
    for worker in workers:
        worker.terminate()
    deadline = time.monotonic() + grace
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
        if worker.is_alive():
            worker.kill()
            worker.join(5)
    _stop_resource_tracker()


def _run_pools(
    entries: Sequence[BatchEntry],
    jobs: int,
    max_memory: int | None,
    events: Events,
    needs: dict[str, int],
    pending: list[BatchEntry],
    context: Any,
) -> list[EntryResult]:
    attempts = {entry.name: 0 for entry in entries}
    results: dict[str, EntryResult] = {}
    while pending:
        threads = max(1, (os.cpu_count() or 1) // jobs)
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(threads,)) as pool:
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


def _start_worker(threads: int) -> None:
    """A worker's start: its share of the cores, set before torch is imported (torch and its OpenMP read these
    once). Without it each of N workers runs as many threads as there are cores, and they slow each other down
    (2 workers on 2 cores: 0.69x the loop's time against 0.59x for one process in turn). On SIGINT (Ctrl-C reaches
    the whole process group) or SIGTERM (from the interrupted batch) it removes its staging folder and lock and
    ends, after a publish under way."""
    exit_on_signals()
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
    # a local instance started here is ours to shut down when the batch is interrupted (with its workers)
    ours = not ray.is_initialized() and address is None and not os.environ.get("RAY_ADDRESS")
    if not ray.is_initialized():
        if address is None and not os.environ.get("RAY_ADDRESS"):  # a local instance, ours: its workers export
            os.environ.setdefault(RAY_NICENESS, "0")  # at normal priority, as --jobs workers (Ray: 15)
        handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
        ray.init(address=address, log_to_driver=False)
        for signum, handler in handlers.items():  # Ray's own would end the command without stopping the batch
            if handler is not None and threading.current_thread() is threading.main_thread():
                signal.signal(signum, handler)
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

    def stop() -> None:
        stop_ray_tasks(ray, list(tasks), shutdown=ours)
        remove_leftovers(entries)

    with stopped_if_interrupted(stop):
        _gather(ray, tasks, results, events)
    return [results[entry.name] for entry in entries]


def stop_ray_tasks(ray: Any, refs: list[Any], shutdown: bool, grace: float = STOP_GRACE_SECONDS) -> None:
    """Cancel the batch's Ray tasks (an interrupted batch): asked first (each unwinds, removing its staging folder
    and lock), forced after ``grace`` seconds; then a local instance of ours is shut down with its workers."""
    for ref in refs:
        ray.cancel(ref, force=False)
    _, unfinished = ray.wait(refs, num_returns=len(refs), timeout=grace) if refs else ([], [])
    for ref in unfinished:
        ray.cancel(ref, force=True)
    if shutdown:
        ray.shutdown()


def _gather(ray: Any, tasks: dict[Any, BatchEntry], results: dict[str, EntryResult], events: Events) -> None:
    """Each task's result as it ends (waiting a second at a time: a signal is handled between waits)."""
    while tasks:
        done, _ = ray.wait(list(tasks), num_returns=1, timeout=1.0)
        if not done:
            continue
        entry = tasks.pop(done[0])
        try:
            result = ray.get(done[0])
        except ray.exceptions.RayError as error:  # the worker died on every try (or Ray itself failed)
            result = _died(entry, ATTEMPTS)
            result.error = f"{result.error}: {type(error).__name__}"
        results[entry.name] = result
        events.finished(result)
