"""The core's rules as a Python client meets them: ownership, leases, spawn checks, blocking,
the paged timeline and projects. Each test runs on a local store and through an embedded
server, unless it is about one of them."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import maestro

# A lease short enough for a test to outlive it; the waits below are at least twice as long.
LEASE = 0.3


def worker(client: maestro.Client, name: str) -> maestro.Client:
    """A client acting as a newly registered worker session."""
    return client.with_session(client.register_session(name=name, role="worker").id)


def test_a_worker_cannot_write_to_a_task_another_session_owns(any_client: maestro.Client) -> None:
    c = any_client
    t = c.create_task("owned")
    w1, w2 = worker(c, "w1"), worker(c, "w2")
    assert w1.claim_task(t.id).session_ids == [w1.session_id]
    writes = {
        "start": lambda: w2.start_task(t.id),
        "progress": lambda: w2.add_progress(t.id, "mine now"),
        "complete": lambda: w2.complete_task(t.id),
        "block": lambda: w2.block_task(t.id, "in my way"),
        "subtask": lambda: w2.create_subtask(t.id, "extra step"),
        "update": lambda: w2.update_task(t.id, title="renamed"),
        "claim": lambda: w2.claim_task(t.id),
    }
    for name, write in writes.items():
        with pytest.raises(maestro.TaskClaimedError) as err:
            write()
        e = err.value
        assert isinstance(e, maestro.ConflictError), name
        assert e.code == "task_claimed", name
        assert e.details["sessionIds"] == [w1.session_id], name
        assert w1.session_id is not None and w1.session_id in e.message, name
        assert e.suggestion and "claim --next" in e.suggestion, name
    # Nothing of it was written.
    detail = c.get_task(t.id)
    assert (detail.title, detail.status, detail.subtasks) == ("owned", "in_progress", [])
    assert [e.type for e in detail.timeline if e.session_id == w2.session_id] == []
    # The owner goes on; a person (no session) may act on any task.
    w1.add_progress(t.id, "going on")
    c.add_progress(t.id, "a note from a person")


def test_force_takes_a_task_over_and_fences_the_previous_owner_off(any_client: maestro.Client) -> None:
    c = any_client
    t = c.create_task("contested")
    w1, w2 = worker(c, "w1"), worker(c, "w2")
    first = w1.claim_task(t.id)
    taken = w2.claim_task(t.id, force=True)
    assert taken.session_ids == [w2.session_id]
    assert taken.claim_epoch > first.claim_epoch
    with pytest.raises(maestro.ClaimReleasedError) as err:
        w1.add_progress(t.id, "a late write")
    assert isinstance(err.value, maestro.ConflictError)
    assert err.value.code == "claim_released"
    assert err.value.suggestion and "Stop working" in err.value.suggestion
    overrides = [e for e in c.timeline(t.id) if e.type == "override"]
    assert [(e.data, e.session_id) for e in overrides] == [
        ({"action": "claim", "session_ids": [w1.session_id]}, w2.session_id)
    ]
    assert w1.session_id is not None and w1.session_id in overrides[0].summary


def test_an_ended_session_is_told_so(any_client: maestro.Client) -> None:
    c = any_client
    t = c.create_task("t")
    w = worker(c, "w")
    w.claim_task(t.id)
    w.end_session()
    for call in (lambda: w.add_progress(t.id, "after the end"), w.heartbeat, w.claim_next):
        with pytest.raises(maestro.SessionEndedError) as err:
            call()
        assert err.value.code == "session_ended"
    # Ended is final: the session cannot be ended again with another status.
    with pytest.raises(maestro.MaestroError):
        w.end_session(status="failed")


def wait_past_the_lease() -> None:
    """Waits (a bounded time) until any session silent since now is past its lease."""
    time.sleep(2 * LEASE)


def test_a_lost_session_is_refused_and_its_task_goes_back_to_the_queue(
    client: maestro.Client, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The client resolves the lease like the CLI: MAESTRO_LEASE_SECONDS.
    monkeypatch.setenv("MAESTRO_LEASE_SECONDS", str(LEASE))
    c = maestro.open(db_path)
    t = c.create_task("abandoned")
    w1 = worker(c, "w1")
    assert w1.claim_next().id == t.id
    wait_past_the_lease()
    # No host and no server: the facade declares w1 lost before the next call.
    w2 = worker(c, "w2")
    taken = w2.claim_next()
    assert (taken.id, taken.session_ids) == (t.id, [w2.session_id])
    assert w1.session_id is not None
    lost = c.get_session(w1.session_id)
    assert lost.status == "lost" and lost.reason
    released = [e for e in c.timeline(t.id) if e.type == "released"]
    assert [e.data["session_id"] for e in released] == [w1.session_id]
    calls = {
        "progress": lambda: w1.add_progress(t.id, "still here?"),
        "heartbeat": w1.heartbeat,
        "claim": w1.claim_next,
        "read": lambda: w1.get_task(t.id),
    }
    for name, call in calls.items():
        with pytest.raises(maestro.SessionLostError) as err:
            call()
        assert err.value.code == "session_lost", name
        assert err.value.suggestion, name


def test_an_embedded_server_releases_a_lost_sessions_task(
    client: maestro.Client, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAESTRO_LEASE_SECONDS", str(LEASE))
    for var in ("MAESTRO_API_URL", "MAESTRO_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with maestro.serve(db_path) as srv:
        c = maestro.connect(srv.url)
        t = c.create_task("abandoned")
        w1 = worker(c, "w1")
        w1.claim_next()
        wait_past_the_lease()
        # The server keeps the lease itself, before any read: a plain client sees the task
        # back in the queue.
        assert [r.id for r in c.ready_tasks()] == [t.id]
        detail = c.get_task(t.id)
        assert (detail.status, detail.session_ids) == ("pending", [])
        assert w1.session_id is not None and c.get_session(w1.session_id).status == "lost"
        w2 = worker(c, "w2")
        assert w2.claim_next().id == t.id
        with pytest.raises(maestro.SessionLostError) as err:
            w1.complete_task(t.id)
        assert err.value.code == "session_lost"
        # (Read as w2: a read refreshes its own session, so it outlives the short lease.)
        assert w2.get_task(t.id).session_ids == [w2.session_id]


def test_spawn_requests_are_checked_at_once(any_client: maestro.Client, tmp_path: Path) -> None:
    c = any_client
    a = c.create_task("a")
    b = c.create_task("b", depends_on=[a.id])
    waiting = c.spawn_session(b.id)
    assert waiting.status == "waiting"
    # A folder under the spawn roots (by default the project's directory) is accepted...
    spawned = c.spawn_session(a.id, agent="claude", cwd=str(Path.cwd()))
    assert spawned.status == "spawning"
    # ...and one outside them is refused at once, naming the roots.
    with pytest.raises(maestro.ValidationError) as outside:
        c.spawn_session(a.id, cwd=str(tmp_path), force=True)
    assert outside.value.details["spawnRoots"] == [str(Path.cwd().resolve())]
    with pytest.raises(maestro.TaskClaimedError) as err:
        c.spawn_session(a.id)
    assert err.value.details["sessionIds"] == [spawned.id]
    assert c.spawn_session(a.id, force=True).status == "spawning"
    with pytest.raises(maestro.ValidationError) as bad_agent:
        c.spawn_session(a.id, agent="nosuch", force=True)
    assert "claude" in str(bad_agent.value.details["available"])
    with pytest.raises(maestro.NotFoundError) as bad_skill:
        c.spawn_session(a.id, skill="nosuch", force=True)
    assert bad_skill.value.code == "skill_not_found"
    done = c.create_task("done")
    c.start_task(done.id)
    c.complete_task(done.id)
    with pytest.raises(maestro.ConflictError) as finished:
        c.spawn_session(done.id)
    assert finished.value.code == "invalid_transition"


def test_a_spawn_for_a_missing_directory_is_refused(client: maestro.Client, tmp_path: Path) -> None:
    t = client.create_task("t")
    with pytest.raises(maestro.ValidationError) as err:
        client.spawn_session(t.id, cwd=str(tmp_path / "nowhere"))
    assert err.value.details["field"] == "cwd"


def test_the_block_reason_is_a_field_and_blocking_again_records_the_new_one(
    any_client: maestro.Client,
) -> None:
    c = any_client
    t = c.create_task("t")
    assert t.blocked_reason is None
    c.start_task(t.id)
    assert c.block_task(t.id, "waiting for the DBA").blocked_reason == "waiting for the DBA"
    again = c.block_task(t.id, "the DBA is on holiday")
    assert again.blocked_reason == "the DBA is on holiday"
    assert c.get_task(t.id).blocked_reason == "the DBA is on holiday"
    reasons = [e.message for e in c.timeline(t.id) if e.type == "blocked"]
    assert reasons == ["waiting for the DBA", "the DBA is on holiday"]
    assert c.start_task(t.id).blocked_reason is None


def test_the_task_detail_shows_the_newest_entries_and_timeline_pages_them_all(
    any_client: maestro.Client,
) -> None:
    c = any_client
    t = c.create_task("a long history")
    for i in range(70):
        c.add_progress(t.id, f"step {i}")
    detail = c.get_task(t.id)
    assert detail.timeline_total == 71
    assert [e.message for e in detail.timeline] == [f"step {i}" for i in range(20, 70)]
    pages: list[maestro.Page[maestro.TimelineEntry]] = []
    cursor: str | None = None
    while True:
        page = c.timeline(t.id, limit=30, cursor=cursor)
        pages.append(page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert [len(p) for p in pages] == [30, 30, 11]
    entries = [e for p in pages for e in p]
    assert entries[0].type == "created"
    assert [e.message for e in entries[1:]] == [f"step {i}" for i in range(70)]
    assert [e.id for e in entries] == sorted({e.id for e in entries})
    assert entries[-50:] == detail.timeline
    with pytest.raises(maestro.ValidationError):
        c.timeline(t.id, limit=0)
    with pytest.raises(maestro.ValidationError):
        c.timeline(t.id, cursor="not a cursor")


def test_init_reuses_a_project_by_name_and_use_project_switches_the_default(
    any_client: maestro.Client,
) -> None:
    c = any_client
    demo = c.get_project()
    assert (demo.name, demo.default) == ("demo", True)
    again = c.init_project("demo")
    assert (again.created, again.project.id) == (False, demo.id)
    other = c.init_project("other")
    assert other.created and not other.project.default
    assert c.get_project().id == demo.id, "init never switches the default project"
    used = c.use_project(other.project.id[:6])
    assert (used.id, used.default) == (other.project.id, True)
    assert c.get_project().id == other.project.id
    assert {p.name: p.default for p in c.list_projects()} == {"demo": False, "other": True}
    assert c.create_task("lands in the new default").project_id == other.project.id
