"""The same client against a real server (the core's server on 127.0.0.1, port 0)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import maestro
from lifecycle import run_lifecycle

WAIT = 30.0


@pytest.fixture
def server(db_path: Path) -> Iterator[maestro.Server]:
    with maestro.serve(db_path) as srv:
        yield srv


@pytest.fixture
def remote(server: maestro.Server, monkeypatch: pytest.MonkeyPatch) -> maestro.Client:
    for var in ("MAESTRO_SESSION_ID", "MAESTRO_PROJECT_ID", "MAESTRO_TOKEN", "MAESTRO_API_URL"):
        monkeypatch.delenv(var, raising=False)
    c = maestro.connect(server.url)
    c.create_project("remote demo")
    return c


def test_lifecycle_against_a_server(remote: maestro.Client, server: maestro.Server) -> None:
    assert remote.mode == "remote"
    assert remote.location.startswith(server.url)
    run_lifecycle(remote)


def test_the_server_and_a_local_client_share_the_store(
    remote: maestro.Client, db_path: Path
) -> None:
    t = remote.create_task("over HTTP")
    assert maestro.open(db_path).get_task(t.id).title == "over HTTP"


def test_not_found_over_http_keeps_code_and_suggestion(remote: maestro.Client) -> None:
    with pytest.raises(maestro.NotFoundError) as err:
        remote.get_task("t-nothere")
    assert err.value.code == "task_not_found"
    assert err.value.details == {"taskId": "t-nothere"}
    assert err.value.suggestion


def test_connect_reads_maestro_api_url(server: maestro.Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAESTRO_API_URL", server.url)
    c = maestro.connect()
    assert c.mode == "remote"
    c.create_project("from env")
    assert [p.name for p in c.list_projects()] == ["from env"]


def test_token(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAESTRO_TOKEN", raising=False)
    with maestro.serve(db_path, token="s3cret") as srv:
        with pytest.raises(maestro.UnauthorizedError) as err:
            maestro.connect(srv.url).list_projects()
        assert err.value.code == "unauthorized"
        with pytest.raises(maestro.UnauthorizedError):
            maestro.connect(srv.url, token="wrong").list_projects()
        assert maestro.connect(srv.url, token="s3cret").list_projects() == []
        with pytest.raises(maestro.UnauthorizedError):
            maestro.connect(srv.url).subscribe()


def test_a_non_loopback_address_needs_a_token(db_path: Path) -> None:
    with pytest.raises(maestro.ValidationError) as err:
        maestro.serve(db_path, host="0.0.0.0")
    assert err.value.suggestion


def test_unreachable_server(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAESTRO_RETRIES", "1")
    monkeypatch.setenv("MAESTRO_RETRY_DELAY", "10")
    srv = maestro.serve(db_path)
    url = srv.url
    srv.close()
    with pytest.raises(maestro.UnavailableError) as err:
        maestro.connect(url).status()
    assert err.value.retryable
    assert err.value.suggestion


def test_subscribe_over_websocket_yields_events_of_other_processes(
    remote: maestro.Client, server: maestro.Server, db_path: Path
) -> None:
    since = remote.latest_seq()
    # One writer goes through the server, another writes the database file directly; the
    # server tails the log, so both arrive on the socket, in seq order.
    writer = textwrap.dedent(
        """
        import sys, maestro
        c = maestro.connect(sys.argv[1]) if sys.argv[1].startswith("http") else maestro.open(sys.argv[1])
        for i in range(5):
            c.create_task(f"{sys.argv[2]} {i}")
        """
    )
    with remote.subscribe(since=since) as sub:
        for target, name in ((server.url, "via server"), (str(db_path), "via file")):
            proc = subprocess.run(
                [sys.executable, "-c", writer, target, name], capture_output=True, text=True, timeout=WAIT * 2
            )
            assert proc.returncode == 0, proc.stderr
        events: list[maestro.Event] = []
        while len(events) < 20:
            ev = sub.next_event(timeout=WAIT)
            assert ev is not None, f"only {len(events)} of 20 events arrived"
            events.append(ev)
        assert sub.resync_required is None
    assert [e.seq for e in events] == list(range(since + 1, since + 21))
    titles = [e.data["title"] for e in events if e.type == "task:created"]
    assert titles == [f"via server {i}" for i in range(5)] + [f"via file {i}" for i in range(5)]


def test_async_subscription_over_websocket(remote: maestro.Client) -> None:
    import asyncio

    since = remote.latest_seq()

    async def main() -> list[int]:
        seqs: list[int] = []
        with remote.subscribe(since=since) as sub:
            await asyncio.to_thread(remote.create_task, "async remote")
            async for ev in sub:
                seqs.append(ev.seq)
                if len(seqs) == 2:
                    break
        return seqs

    assert asyncio.run(asyncio.wait_for(main(), WAIT)) == [since + 1, since + 2]
