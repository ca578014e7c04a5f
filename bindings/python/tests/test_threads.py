"""Blocking calls release the GIL, so threads make progress in parallel."""

from __future__ import annotations

import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import maestro

WAIT = 30.0


# Holds the database's write lock until a line arrives on stdin. It runs in another process:
# SQLite's file locks do not exclude each other between two SQLite libraries of one process.
HOLD_LOCK = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def test_a_call_blocked_in_the_store_does_not_block_other_threads(
    client: maestro.Client, db_path: Path
) -> None:
    # Another process holds the write lock: the client's write waits in SQLite's busy
    # handler. While it waits, this thread must still run Python code to tell the holder to
    # let go, which it can only do if the waiting call released the GIL (otherwise the write
    # fails after the busy timeout).
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(db_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    try:
        assert holder.stdout.readline().strip() == "locked"
        result: dict[str, object] = {}

        def write() -> None:
            try:
                result["task"] = client.create_task("written after the lock")
            except maestro.MaestroError as e:
                result["error"] = e

        th = threading.Thread(target=write)
        th.start()
        th.join(0.3)
        assert th.is_alive(), f"the write did not wait for the lock: {result}"
        holder.stdin.write("release\n")
        holder.stdin.flush()
        assert holder.wait(WAIT) == 0
        th.join(WAIT)
    finally:
        holder.kill()
        holder.wait()
    assert not th.is_alive()
    assert "error" not in result, result
    assert isinstance(result["task"], maestro.Task)


def test_a_waiting_subscriber_does_not_block_writers(client: maestro.Client) -> None:
    since = client.latest_seq()
    sub = client.subscribe(since=since)
    got: list[maestro.Event | None] = []
    th = threading.Thread(target=lambda: got.append(sub.next_event(timeout=WAIT)))
    th.start()
    th.join(0.2)
    assert th.is_alive()
    t = client.create_task("while another thread waits")
    th.join(WAIT)
    sub.close()
    assert got and got[0] is not None and got[0].data["id"] == t.id


def test_concurrent_writers_lose_no_update(client: maestro.Client) -> None:
    n_threads, per_thread = 4, 50

    def work(i: int) -> list[str]:
        return [client.create_task(f"w{i}-{j}").id for j in range(per_thread)]

    with ThreadPoolExecutor(n_threads) as pool:
        ids = [tid for chunk in pool.map(work, range(n_threads)) for tid in chunk]
    assert len(set(ids)) == n_threads * per_thread
    assert client.status().tasks.total == n_threads * per_thread


def test_concurrent_claims_never_share_a_task(client: maestro.Client) -> None:
    for i in range(20):
        client.create_task(f"job {i}")
    sessions = [client.register_session(name=f"w{i}").id for i in range(4)]

    def drain(sid: str) -> list[str]:
        mine: list[str] = []
        while True:
            try:
                mine.append(client.claim_next(sid).id)
            except maestro.NotFoundError as e:
                assert e.code == "nothing_ready"
                return mine

    with ThreadPoolExecutor(len(sessions)) as pool:
        claimed = [t for chunk in pool.map(drain, sessions) for t in chunk]
    assert len(claimed) == 20 == len(set(claimed))
