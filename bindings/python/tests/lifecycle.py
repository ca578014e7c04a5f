"""The foundation lifecycle of the SPEC, run against any client (local file or server)."""

from __future__ import annotations

import pytest

import maestro


def run_lifecycle(client: maestro.Client) -> None:
    # A <- B <- C: B depends on A, C on B.
    a = client.create_task("A: schema", priority="high", labels=["db"])
    b = client.create_task("B: migrations", depends_on=[a.id])
    c = client.create_task("C: queries", description="the read path", depends_on=[b.id[:6]])
    assert c.dependencies == [b.id]
    assert (a.status, a.priority, a.labels) == ("pending", "high", ["db"])

    assert [t.id for t in client.ready_tasks()] == [a.id]

    with pytest.raises(maestro.ConflictError) as err:
        client.start_task(b.id)
    assert err.value.code == "dependencies_incomplete"
    assert a.id in str(err.value.details)
    assert err.value.suggestion

    with pytest.raises(maestro.ConflictError) as err:
        client.update_task(a.id, add_dependencies=[c.id])
    assert err.value.code == "dependency_cycle"

    session = client.register_session(name="worker-1", role="worker")
    assert session.status == "active" and session.role == "worker"
    worker = client.with_session(session.id)
    assert worker.session_id == session.id

    claimed = worker.claim_next()
    assert claimed.id == a.id
    assert claimed.status == "in_progress"
    assert claimed.session_ids == [session.id]
    assert claimed.started_at is not None

    entry = worker.add_progress(a.id, "tables drafted")
    assert (entry.type, entry.message, entry.session_id) == ("progress", "tables drafted", session.id)

    s1 = worker.create_subtask(a.id, "write DDL")
    s2 = worker.create_subtask(a.id, "review indexes", description="composite ones")
    assert (s1.order, s2.order) == (1, 2)
    done = worker.complete_subtask(a.id, s1.id)
    assert done.completed and done.completed_at is not None
    assert [s.completed for s in worker.list_subtasks(a.id)] == [True, False]

    completed = worker.complete_task(a.id)
    assert completed.status == "completed" and completed.completed_at is not None
    # Completing again is a successful no-op.
    assert worker.complete_task(a.id).status == "completed"

    assert [t.id for t in client.ready_tasks()] == [b.id]

    blocked = worker.block_task(b.id, "waiting for the DBA")
    assert blocked.status == "blocked"

    with pytest.raises(maestro.NotFoundError) as missing:
        worker.claim_next()
    assert missing.value.code == "nothing_ready"

    status = client.status()
    assert status.tasks.total == 3
    assert status.tasks.by_status["completed"] == 1
    assert status.tasks.by_status["blocked"] == 1
    assert status.tasks.by_status["pending"] == 1
    assert status.tasks.by_status["in_progress"] == 0
    assert status.tasks.by_priority["high"] == 1
    assert status.tasks.ready == 0
    assert status.sessions.active == 1

    detail = client.get_task(a.id)
    assert detail.id == a.id and detail.task.id == a.id
    assert [s.title for s in detail.subtasks] == ["write DDL", "review indexes"]
    assert [d.id for d in detail.dependents] == [b.id]
    types = [e.type for e in detail.timeline]
    for expected in ("created", "assigned", "status_changed", "progress", "subtask_created", "subtask_completed"):
        assert expected in types, types
    progress = [e for e in detail.timeline if e.type == "progress"]
    assert progress[0].data == {"message": "tables drafted"}

    c_detail = client.get_task(c.id)
    assert [(d.id, d.status) for d in c_detail.dependency_details] == [(b.id, "blocked")]
    assert c_detail.description == "the read path"

    page = client.list_tasks(limit=2)
    assert len(page) == 2 and page.next_cursor is not None
    rest = client.list_tasks(limit=2, cursor=page.next_cursor)
    assert len(rest) == 1 and rest.next_cursor is None
    assert {t.id for t in list(page) + list(rest)} == {a.id, b.id, c.id}
    assert [t.id for t in client.list_tasks(status="blocked")] == [b.id]

    events = client.events(since=0, limit=1000)
    seqs = [e.seq for e in events]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert "task:created" in {e.type for e in events}
