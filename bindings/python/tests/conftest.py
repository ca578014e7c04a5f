"""Fixtures shared by the binding's tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import maestro


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A fresh database file."""
    return tmp_path / "maestro.db"


@pytest.fixture
def client(db_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[maestro.Client]:
    """A local client on a fresh store with one (default) project."""
    for var in ("MAESTRO_SESSION_ID", "MAESTRO_PROJECT_ID", "MAESTRO_DB"):
        monkeypatch.delenv(var, raising=False)
    c = maestro.open(db_path)
    c.create_project("demo")
    yield c


@pytest.fixture(params=["local", "remote"])
def any_client(
    request: pytest.FixtureRequest, client: maestro.Client, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[maestro.Client]:
    """The `client` store, opened directly ("local") or through an embedded server ("remote")."""
    if request.param == "local":
        yield client
        return
    for var in ("MAESTRO_API_URL", "MAESTRO_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with maestro.serve(db_path) as srv:
        yield maestro.connect(srv.url)
