"""The baseline of bench/retirement.py: Evidently's own DataDriftPreset Report per model.

Run with the same parallelism the machine offers the audit: one spawned worker process per
CPU (Evidently's Report is CPU-bound Python, so processes, not threads, are what scale it).
Each worker opens the same governance home, runs one untimed warm-up Report, reports ready,
and once every worker is ready and the clock has started, takes models from a shared queue:
it reads the model's stored reference and current window as the audit does
(`get_reference`, `current_window`, `load_stored_frame`) and runs `drift.evidently_verdicts`
(the Report with its tests). Wall time runs from the start signal to the last model's
result. Each model's Report seconds and process CPU seconds (all the worker's threads) are
timed around the Report alone; the read is timed apart.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import statistics
import time
from datetime import datetime

READY_TIMEOUT_S = 600.0  # imports and the warm-up Report on a loaded machine


def stored_frames(gov, model: str, version: str, now: datetime):
    """The reference and current window the audit read for the model, read back from the store."""
    from governance.services.monitoring.references import get_reference, load_stored_frame
    from governance.services.monitoring.windows import current_window

    found, profile = get_reference(gov, model, version)
    window = current_window(gov, found, profile, drift_days=7, accuracy_days=30, now=now)
    return load_stored_frame(gov, profile.digest), window.features


def _worker(tasks, results, go, version: str, now: datetime, warm_up: str) -> None:
    """In a spawned process: warm up, wait for the start, then run Reports until told to stop."""
    from governance.bootstrap import open_governance
    from governance.ml import drift

    gov = open_governance()
    try:
        drift.evidently_verdicts(*stored_frames(gov, warm_up, version, now))  # untimed
        results.put(("ready", os.getpid()))
        go.wait()
        while (model := tasks.get()) is not None:
            wall, cpu = time.perf_counter(), time.process_time()
            frames = stored_frames(gov, model, version, now)
            read_s, read_cpu = time.perf_counter() - wall, time.process_time() - cpu
            wall, cpu = time.perf_counter(), time.process_time()
            verdicts = drift.evidently_verdicts(*frames)
            report_s, report_cpu = time.perf_counter() - wall, time.process_time() - cpu
            columns = [c.model_dump() for c in verdicts]
            results.put(("model", model, columns, read_s, read_cpu, report_s, report_cpu))
        results.put(("done", os.getpid(), time.process_time()))
    finally:
        gov.close()


def run(models: list[str], version: str, now: datetime, processes: int) -> dict:
    """Evidently's Report on `models` in `processes` spawned workers; timings and verdicts."""
    context = multiprocessing.get_context("spawn")
    tasks, results, go = context.Queue(), context.Queue(), context.Event()
    for model in models:
        tasks.put(model)
    for _ in range(processes):
        tasks.put(None)
    args = (tasks, results, go, version, now, models[0])
    workers = [context.Process(target=_worker, args=args, daemon=True) for _ in range(processes)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(processes):
            _expect(results, workers, "ready")
        began = time.perf_counter()
        go.set()
        found, done = [], []
        while len(found) < len(models) or len(done) < processes:
            message = _expect(results, workers, "model", "done")
            (found if message[0] == "model" else done).append(message)
            if message[0] == "model" and len(found) == len(models):
                wall = time.perf_counter() - began  # the last model's result is in
        worker_cpu = sum(message[2] for message in done)
    finally:
        for worker in workers:
            worker.join(timeout=30)
            if worker.is_alive():
                worker.kill()  # only the workers this function started
    return _summary(found, wall, worker_cpu, processes)


def _expect(results, workers, *kinds: str) -> tuple:
    """The next message, which must be one of `kinds`; RuntimeError if a worker died."""
    while True:
        try:
            message = results.get(timeout=5)
        except queue.Empty:
            dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"an Evidently worker exited with {dead[0]}") from None
            continue
        if message[0] not in kinds:
            raise RuntimeError(f"expected {' or '.join(kinds)} from a worker, got {message[0]!r}")
        return message


def _summary(found: list[tuple], wall: float, worker_cpu: float, processes: int) -> dict:
    report_s = [m[5] for m in found]
    report_cpu = [m[6] for m in found]
    return {
        "verdicts": {m[1]: m[2] for m in found},
        "models_measured": len(found),
        "processes": processes,
        "wall_s": wall,
        "report_seconds_mean": statistics.mean(report_s),
        "report_seconds_median": statistics.median(report_s),
        "report_seconds_max": max(report_s),
        "report_cpu_s_per_model": statistics.mean(report_cpu),
        "read_seconds_per_model": statistics.mean(m[3] for m in found),
        "read_cpu_s_per_model": statistics.mean(m[4] for m in found),
        "worker_processes_cpu_s": worker_cpu,
    }
