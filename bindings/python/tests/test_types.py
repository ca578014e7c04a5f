"""Result objects: attributes, to_dict(), repr, equality, timestamps."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import maestro


def test_to_dict_is_plain_json_ready_data(client: maestro.Client) -> None:
    a = client.create_task("A", labels=["x"], metadata={"k": {"nested": [1]}})
    b = client.create_task("B", depends_on=[a.id])
    client.create_subtask(b.id, "step")
    d = client.get_task(b.id).to_dict()
    json.dumps(d)  # plain data only
    assert d["id"] == b.id and d["status"] == "pending" and d["priority"] == "medium"
    assert d["task"]["id"] == b.id
    assert d["subtasks"][0]["title"] == "step"
    assert d["dependency_details"] == [{"id": a.id, "title": "A", "status": "pending"}]
    assert set(a.to_dict()) == {
        "id", "project_id", "title", "description", "status", "priority", "dependencies",
        "labels", "session_ids", "metadata", "version", "claim_epoch", "blocked_reason", "created_at",
        "updated_at", "started_at", "completed_at",
    }
    assert a.to_dict()["metadata"] == {"k": {"nested": [1]}}
    status = client.status().to_dict()
    assert status["tasks"]["total"] == 2 and status["sessions"] == {"active": 0, "total": 0}
    page = client.list_tasks().to_dict()
    assert {t["id"] for t in page["items"]} == {a.id, b.id} and page["next_cursor"] is None


def test_timestamps_are_rfc3339_utc_strings(client: maestro.Client) -> None:
    t = client.create_task("t")
    assert isinstance(t.created_at, str) and t.created_at.endswith("Z")
    parsed = datetime.fromisoformat(t.created_at.replace("Z", "+00:00"))
    assert parsed.tzinfo == timezone.utc
    assert t.started_at is None
    started = client.start_task(t.id)
    assert started.started_at is not None and started.updated_at >= t.updated_at


def test_repr_and_equality(client: maestro.Client) -> None:
    t = client.create_task("Write the parser")
    assert repr(t) == f"Task(id='{t.id}', title='Write the parser', status='pending', priority='medium')"
    assert client.get_task(t.id).task == t
    assert client.get_task(t.id).task != client.start_task(t.id)
    assert repr(client).startswith("Client(mode='local'")
    assert "Page(items=1" in repr(client.list_tasks())


def test_page_behaves_like_a_sequence(client: maestro.Client) -> None:
    ids = {client.create_task(f"t{i}").id for i in range(3)}
    page = client.list_tasks(limit=2)
    items = page.items
    assert len(page) == 2 and page[0] == items[0] and page[-1] == items[1]
    assert [t.id for t in page] == [t.id for t in items] and {t.id for t in items} < ids
    assert maestro.Page[maestro.Task] is maestro.Page


def test_results_are_immutable(client: maestro.Client) -> None:
    t = client.create_task("t")
    try:
        t.title = "changed"  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("a Task attribute could be assigned")
    assert t.title == "t"
