"""The SPEC foundation lifecycle against a local database file."""

from __future__ import annotations

from pathlib import Path

import pytest

import maestro
from lifecycle import run_lifecycle


def test_lifecycle_on_a_local_file(client: maestro.Client) -> None:
    assert client.mode == "local"
    run_lifecycle(client)


def test_data_survives_reopening(client: maestro.Client, db_path: Path) -> None:
    t = client.create_task("persisted")
    again = maestro.open(str(db_path))
    assert again.get_task(t.id).title == "persisted"
    assert again.location == str(db_path)


def test_maestro_db_environment_variable_selects_the_store(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAESTRO_DB", str(db_path))
    c = maestro.open()
    assert c.location == str(db_path)
    c.create_project("via env")
    assert [p.name for p in maestro.open(db_path).list_projects()] == ["via env"]


def test_session_and_project_context_from_the_environment(
    client: maestro.Client, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = client.create_project("other")
    s = client.register_session(name="env-worker")
    monkeypatch.setenv("MAESTRO_SESSION_ID", s.id)
    monkeypatch.setenv("MAESTRO_PROJECT_ID", other.id)
    c = maestro.open(db_path)
    assert (c.session_id, c.project_id) == (s.id, other.id)
    t = c.create_task("in the other project")
    assert t.project_id == other.id
    assert c.claim_next().id == t.id
    assert c.get_task(t.id).timeline[-1].session_id == s.id
    # The default project does not see it.
    assert client.ready_tasks() == []


def test_update_task_and_optimistic_versions(client: maestro.Client) -> None:
    t = client.create_task("draft", metadata={"estimate": 3, "tags": ["a", None, 1.5, True]})
    assert t.metadata == {"estimate": 3, "tags": ["a", None, 1.5, True]}
    u = client.update_task(t.id, title="final", priority="low", labels=["x", "y"], expected_version=t.version)
    assert (u.title, u.priority, u.labels, u.version) == ("final", "low", ["x", "y"], t.version + 1)
    with pytest.raises(maestro.ConflictError) as err:
        client.update_task(t.id, title="stale", expected_version=t.version)
    assert err.value.code == "version_conflict"
    assert err.value.details["expectedVersion"] == t.version


def test_status_actions(client: maestro.Client) -> None:
    t = client.create_task("t")
    assert client.start_task(t.id).status == "in_progress"
    assert client.release_task(t.id, "handing over").status == "pending"
    assert client.cancel_task(t.id).status == "cancelled"
    assert client.reopen_task(t.id).status == "pending"
    deleted = client.delete_task(t.id)
    assert deleted.id == t.id
    with pytest.raises(maestro.NotFoundError):
        client.get_task(t.id)


def test_subtask_update_and_delete(client: maestro.Client) -> None:
    t = client.create_task("t")
    s1 = client.create_subtask(t.id, "one")
    s2 = client.create_subtask(t.id, "two")
    moved = client.update_subtask(t.id, s2.id, title="two!", order=1)
    assert (moved.title, moved.order) == ("two!", 1)
    assert [s.id for s in client.list_subtasks(t.id)] == [s2.id, s1.id]
    assert client.delete_subtask(t.id, s1.id).id == s1.id
    assert [s.id for s in client.list_subtasks(t.id)] == [s2.id]


def test_sessions(client: maestro.Client) -> None:
    t = client.create_task("t")
    orch = client.register_session(name="orchestrator", role="orchestrator")
    spawned = client.with_session(orch.id).spawn_session(t.id, agent="claude", skill="maestro-worker")
    assert spawned.status == "spawning"
    assert spawned.task_ids == [t.id]
    assert spawned.spawned_by == orch.id
    assert client.get_session(spawned.id).agent == "claude"
    assert client.heartbeat(orch.id).id == orch.id
    ended = client.end_session(orch.id, status="stopped")
    assert ended.status == "stopped" and ended.ended_at is not None
    active = client.list_sessions(active=True)
    assert [s.id for s in active] == [spawned.id]
    assert {s.id for s in client.list_sessions()} == {orch.id, spawned.id}


def test_comments_and_the_timeline_summary(client: maestro.Client) -> None:
    t = client.create_task("t")
    c = client.add_comment(t.id, "looks good", author="reviewer")
    assert (c.type, c.data["author"], c.message) == ("comment", "reviewer", "looks good")
    assert c.summary == "reviewer: looks good"
    page = client.timeline(t.id)
    assert [e.type for e in page] == ["created", "comment"] and page.next_cursor is None
    assert page[-1] == c


def test_projects(client: maestro.Client) -> None:
    default = client.get_project()
    other = client.create_project("other")
    assert client.get_project(other.id[:5]) == other
    assert [p.id for p in client.list_projects()] == [default.id, other.id]
    made_default = client.create_project("third", make_default=True)
    assert client.get_project().id == made_default.id
    assert client.with_project(other.id).get_project().id == other.id


def test_store_resolution_matches_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAESTRO_DB", raising=False)
    home = tmp_path / "home"
    monkeypatch.setenv("MAESTRO_HOME", str(home))
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work / "sub")
    # No project upward: the user store under $MAESTRO_HOME.
    assert maestro.open().location == str(home / "maestro.db")
    # The nearest .maestro/maestro.db upward from the working directory wins over it.
    maestro.open(work / ".maestro" / "maestro.db").create_project("here")
    nearest = maestro.open()
    assert nearest.location == str(work / ".maestro" / "maestro.db")
    assert nearest.get_project().name == "here"
    # MAESTRO_DB wins over both; a relative path is relative to the working directory.
    monkeypatch.setenv("MAESTRO_DB", "rel.db")
    assert maestro.open().location == str(work / "sub" / "rel.db")
