"""The binding on a real PostgreSQL database.

``MAESTRO_TEST_PG_URL`` names one (``postgres://…``); ``scripts/test-python`` starts a
throwaway cluster and sets it, with ``MAESTRO_TEST_PG_REQUIRED=1``, so there these tests
fail instead of skipping when the URL is missing. Each test works in a project of its own,
so a database given by the caller may be used again.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

import maestro
from lifecycle import run_lifecycle


def pg_url() -> str:
    url = os.environ.get("MAESTRO_TEST_PG_URL", "")
    if not url:
        if os.environ.get("MAESTRO_TEST_PG_REQUIRED") == "1":
            pytest.fail("MAESTRO_TEST_PG_URL is not set, and the PostgreSQL tests must run here")
        pytest.skip("no PostgreSQL: set MAESTRO_TEST_PG_URL=postgres://… to run these tests")
    return url


@pytest.fixture
def pg_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[maestro.Client]:
    """A client of the PostgreSQL database, acting on a new project of its own."""
    for var in ("MAESTRO_SESSION_ID", "MAESTRO_PROJECT_ID", "MAESTRO_DB"):
        monkeypatch.delenv(var, raising=False)
    url = pg_url()
    project = maestro.open(url).create_project(f"py-{uuid.uuid4().hex[:8]}")
    yield maestro.open(url, project_id=project.id)


def test_the_lifecycle_on_postgres(pg_client: maestro.Client) -> None:
    assert pg_client.location.startswith("postgres://")
    run_lifecycle(pg_client)


def test_create_claim_complete_round_trip_seen_by_another_client(pg_client: maestro.Client) -> None:
    task = pg_client.create_task("on postgres", priority="high")
    session = pg_client.register_session(name="pg-worker", role="worker")
    worker = pg_client.with_session(session.id)
    claimed = worker.claim_next()
    assert (claimed.id, claimed.status, claimed.session_ids) == (task.id, "in_progress", [session.id])
    assert worker.complete_task(task.id).status == "completed"

    # Another client (another process would do the same) reads what this one wrote.
    other = maestro.open(pg_url(), project_id=pg_client.project_id)
    assert other.get_task(task.id).status == "completed"
    status = other.status()
    assert (status.tasks.total, status.tasks.by_status["completed"], status.tasks.ready) == (1, 1, 0)

    with pytest.raises(maestro.NotFoundError) as missing:
        other.get_task("t-doesnotexist")
    assert missing.value.code == "task_not_found"
    assert missing.value.suggestion
    # A completed task may only be reopened: cancelling it is refused, naming what is allowed.
    with pytest.raises(maestro.ConflictError) as refused:
        other.cancel_task(task.id)
    assert refused.value.code == "invalid_transition"
    with pytest.raises(maestro.NotFoundError) as nothing:
        worker.claim_next()
    assert nothing.value.code == "nothing_ready"


def test_an_unreachable_database_raises_a_retryable_storage_error() -> None:
    with pytest.raises(maestro.MaestroError) as err:
        maestro.open("postgres://maestro@127.0.0.1:1/maestro").list_projects()
    assert err.value.code == "storage_error"
    assert err.value.retryable
    assert "127.0.0.1:1" in err.value.message
    assert err.value.suggestion
