#!/usr/bin/env python3
"""Per-call overhead of the Python binding over the Rust facade, and bulk task creation.

    python bindings/python/bench/bench.py [--calls 20000] [--creates 10000]

1. ``get_task`` on a local store: the Rust facade alone (``n`` calls made in Rust exactly as
   the binding makes them: shared runtime, GIL released, no conversion) against ``n`` calls
   of ``Client.get_task`` from Python. The difference is what the binding adds per call
   (argument conversion, releasing and re-taking the GIL, wrapping the result).
2. ``create_task`` called 10,000 times in a Python loop on a local store.

Run it on an idle machine with the release wheel installed (scripts/test-python builds it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import maestro
from maestro import _native


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=5_000, help="calls per measurement")
    parser.add_argument("--creates", type=int, default=10_000, help="create_task calls")
    parser.add_argument("--runs", type=int, default=10, help="measurements of each kind")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, maestro {maestro.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        client = maestro.open(Path(tmp) / "bench.db")
        client.create_project("bench")
        dep = client.create_task("a dependency")
        task = client.create_task("the task", description="x" * 200, depends_on=[dep.id], labels=["a", "b"])
        for i in range(3):
            client.create_subtask(task.id, f"step {i}")
        client.add_progress(task.id, "some progress")
        n: int = args.calls

        # warm up both paths (connections, caches)
        _native._bench_facade_get_task(client, task.id, 1000)
        for _ in range(1000):
            client.get_task(task.id)

        def rust() -> float:
            """Mean seconds per facade call."""
            return _native._bench_facade_get_task(client, task.id, n) / n

        def python() -> float:
            """Mean seconds per `Client.get_task` call."""
            get = client.get_task
            tid = task.id
            start = time.perf_counter()
            for _ in range(n):
                get(tid)
            return (time.perf_counter() - start) / n

        # Interleaved, so that both see the same machine load.
        r_samples, p_samples = [], []
        for _ in range(args.runs):
            r_samples.append(rust())
            p_samples.append(python())
        r_min, r_med = min(r_samples), statistics.median(r_samples)
        p_min, p_med = min(p_samples), statistics.median(p_samples)
        print(f"get_task, Rust facade alone : {r_min * 1e6:7.2f} us/call (median {r_med * 1e6:.2f})")
        print(f"get_task, Python binding    : {p_min * 1e6:7.2f} us/call (median {p_med * 1e6:.2f})")
        print(f"binding overhead per call   : {(p_min - r_min) * 1e6:7.2f} us (median {(p_med - r_med) * 1e6:.2f})")

    with tempfile.TemporaryDirectory() as tmp:
        client = maestro.open(Path(tmp) / "bench.db")
        client.create_project("bench")
        start, cpu_start = time.perf_counter(), time.process_time()
        for i in range(args.creates):
            client.create_task(f"task {i}")
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        assert client.status().tasks.total == args.creates
        print(
            f"create_task x {args.creates}      : {elapsed:7.3f} s wall ({elapsed / args.creates * 1e6:.1f} us/call), "
            f"{cpu:.3f} s CPU of the process (all threads)"
        )


if __name__ == "__main__":
    main()
