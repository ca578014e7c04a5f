"""Event subscription: iterator, async iterator, other writers, closing."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import maestro

WAIT = 30.0  # upper bound for anything to arrive; normal runs take milliseconds


def collect(sub: maestro.Subscription, n: int) -> list[maestro.Event]:
    events: list[maestro.Event] = []
    while len(events) < n:
        ev = sub.next_event(timeout=WAIT)
        assert ev is not None, f"only {len(events)} of {n} events arrived"
        events.append(ev)
    return events


def test_replays_then_streams_in_seq_order(client: maestro.Client) -> None:
    client.create_task("before")
    start = client.latest_seq()
    with client.subscribe(since=0) as sub:
        replayed = collect(sub, start)
        assert [e.seq for e in replayed] == list(range(1, start + 1))
        t = client.create_task("after")
        live = collect(sub, 1)[0]
        assert (live.seq, live.type, live.data["id"], live.data["title"]) == (start + 1, "task:created", t.id, "after")
        assert sub.last_seq == start + 1
    assert sub.closed
    assert sub.next_event(timeout=0.1) is None


def test_events_written_by_another_process(client: maestro.Client, db_path: Path) -> None:
    since = client.latest_seq()
    writer = textwrap.dedent(
        f"""
        import maestro
        c = maestro.open({str(db_path)!r})
        for i in range(20):
            c.create_task(f"from another process {{i}}")
        """
    )
    with client.subscribe(since=since) as sub:
        proc = subprocess.run([sys.executable, "-c", writer], capture_output=True, text=True, timeout=WAIT * 2)
        assert proc.returncode == 0, proc.stderr
        events = collect(sub, 40)  # task:created + timeline:added per task
    seqs = [e.seq for e in events]
    assert seqs == list(range(since + 1, since + 41))
    titles = [e.data["title"] for e in events if e.type == "task:created"]
    assert titles == [f"from another process {i}" for i in range(20)]


def test_project_filter(client: maestro.Client) -> None:
    other = client.create_project("other")
    since = client.latest_seq()
    with client.subscribe(since=since, project=other.id) as sub:
        client.create_task("default project")
        t = client.with_project(other.id).create_task("other project")
        ev = sub.next_event(timeout=WAIT)
        assert ev is not None and ev.type == "task:created" and ev.data["id"] == t.id
        assert ev.project_id == other.id


def test_iteration_ends_when_closed_from_another_thread(client: maestro.Client) -> None:
    since = client.latest_seq()
    sub = client.subscribe(since=since)
    client.create_task("one")
    got: list[int] = []

    def consume() -> None:
        for ev in sub:
            got.append(ev.seq)

    th = threading.Thread(target=consume)
    th.start()
    try:
        collect_deadline = threading.Event()
        # wait (bounded) until the consumer has seen the two events of the task
        for _ in range(int(WAIT / 0.01)):
            if len(got) >= 2:
                break
            collect_deadline.wait(0.01)
    finally:
        sub.close()
        th.join(WAIT)
    assert not th.is_alive(), "iteration did not end after close()"
    assert got == [since + 1, since + 2]


def test_async_iteration(client: maestro.Client) -> None:
    since = client.latest_seq()

    async def main() -> list[maestro.Event]:
        out: list[maestro.Event] = []
        with client.subscribe(since=since) as sub:
            await asyncio.to_thread(client.create_task, "async one")

            async def take() -> None:
                async for ev in sub:
                    out.append(ev)
                    if len(out) == 2:
                        return

            await asyncio.wait_for(take(), WAIT)
        return out

    events = asyncio.run(main())
    assert [e.seq for e in events] == [since + 1, since + 2]
    assert events[0].type == "task:created"


def test_a_cancelled_async_step_loses_no_event(client: maestro.Client) -> None:
    since = client.latest_seq()

    async def main() -> list[int]:
        with client.subscribe(since=since) as sub:
            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(sub.__anext__(), 0.05)
            client.create_task("after the cancelled step")
            first = await asyncio.wait_for(sub.__anext__(), WAIT)
            second = await asyncio.wait_for(sub.__anext__(), WAIT)
            return [first.seq, second.seq]

    assert asyncio.run(main()) == [since + 1, since + 2]


def test_async_iteration_ends_on_close(client: maestro.Client) -> None:
    async def main() -> int:
        sub = client.subscribe(since=client.latest_seq())
        asyncio.get_running_loop().call_later(0.1, sub.close)
        n = 0
        async for _ in sub:
            n += 1
        return n

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == 0


def test_poll_interval_must_be_positive(client: maestro.Client) -> None:
    with pytest.raises(maestro.ValidationError):
        client.subscribe(poll_interval=0)


def test_subscribe_starts_from_now_by_default(any_client: maestro.Client) -> None:
    before = any_client.create_task("written before subscribing")
    latest = any_client.latest_seq()
    with any_client.subscribe() as sub:
        assert sub.last_seq == latest
        after = any_client.create_task("written after")
        first = collect(sub, 1)[0]
    assert (first.seq, first.type, first.data["id"]) == (latest + 1, "task:created", after.id)
    # since=0 replays the whole log, the task written before included.
    with any_client.subscribe(since=0) as sub:
        replayed = collect(sub, latest)
    assert [e.seq for e in replayed] == list(range(1, latest + 1))
    assert before.id in {e.data.get("id") for e in replayed if e.type == "task:created"}


def test_since_must_not_be_negative(client: maestro.Client) -> None:
    with pytest.raises(maestro.ValidationError):
        client.subscribe(since=-1)
