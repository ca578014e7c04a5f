"""Core errors become MaestroError subclasses carrying the error object's fields."""

from __future__ import annotations

from pathlib import Path

import pytest

import maestro


def test_not_found_carries_code_details_and_a_suggestion(client: maestro.Client) -> None:
    with pytest.raises(maestro.NotFoundError) as err:
        client.get_task("t-doesnotexist")
    e = err.value
    assert isinstance(e, maestro.MaestroError)
    assert e.code == "task_not_found"
    assert e.message == "Task 't-doesnotexist' does not exist" == str(e)
    assert e.details == {"taskId": "t-doesnotexist"}
    assert isinstance(e.suggestion, str) and e.suggestion
    assert "maestro task list" in e.suggestion
    assert e.retryable is False


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (lambda c: c.get_session("s-nope"), "session_not_found"),
        (lambda c: c.get_project("p-nope"), "project_not_found"),
        (lambda c: c.complete_subtask(c.create_task("t").id, "st-nope"), "subtask_not_found"),
    ],
)
def test_every_not_found_has_a_suggestion(client: maestro.Client, call, code: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(maestro.NotFoundError) as err:
        call(client)
    assert err.value.code == code
    assert err.value.suggestion


def test_validation_errors(client: maestro.Client) -> None:
    with pytest.raises(maestro.ValidationError) as err:
        client.create_task("t", priority="urgent")  # type: ignore[arg-type]
    assert err.value.code == "invalid_priority"
    assert err.value.details["allowed"] == ["high", "medium", "low"]
    with pytest.raises(maestro.ValidationError) as err:
        client.create_task("   ")
    assert err.value.code == "missing_required_field"
    with pytest.raises(maestro.ValidationError) as err:
        client.list_tasks(status="done")  # type: ignore[arg-type]
    assert err.value.code == "invalid_status"
    with pytest.raises(maestro.ValidationError) as err:
        client.claim_next()
    assert err.value.code == "no_session_context"
    assert err.value.suggestion and "MAESTRO_SESSION_ID" in err.value.suggestion


def test_invalid_transition_is_a_conflict(client: maestro.Client) -> None:
    t = client.create_task("t")
    client.cancel_task(t.id)
    with pytest.raises(maestro.ConflictError) as err:
        client.complete_task(t.id)
    assert err.value.code == "invalid_transition"


def test_no_project_context(tmp_path: Path) -> None:
    c = maestro.open(tmp_path / "empty.db")
    with pytest.raises(maestro.ValidationError) as err:
        c.create_task("t")
    assert err.value.code == "no_project_context"
    assert err.value.suggestion


def test_metadata_must_be_json(client: maestro.Client) -> None:
    with pytest.raises(TypeError):
        client.create_task("t", metadata={"when": object()})


def test_hierarchy_and_class_defaults() -> None:
    for cls in (
        maestro.NotFoundError,
        maestro.ValidationError,
        maestro.ConflictError,
        maestro.UnauthorizedError,
        maestro.UnavailableError,
        maestro.InternalError,
    ):
        assert issubclass(cls, maestro.MaestroError)
    assert issubclass(maestro.MaestroError, Exception)
    raised_by_python = maestro.ConflictError("raised by application code")
    assert raised_by_python.code == "internal_error"
    assert raised_by_python.suggestion is None
    assert raised_by_python.retryable is False
