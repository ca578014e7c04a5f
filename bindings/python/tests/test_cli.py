"""Interplay with the real `maestro` binary: its server, and events it writes.

The binary is $MAESTRO_BIN, else target/debug/maestro (scripts/test-python builds it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import maestro
from lifecycle import run_lifecycle

WAIT = 30.0
REPO = Path(__file__).resolve().parents[3]


def find_binary() -> Path | None:
    candidates = [os.environ.get("MAESTRO_BIN")]
    target = os.environ.get("CARGO_TARGET_DIR")
    if target:
        candidates.append(str(Path(target) / "debug" / "maestro"))
    candidates.append(str(REPO / "target" / "debug" / "maestro"))
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    return None


@pytest.fixture
def maestro_bin() -> Path:
    binary = find_binary()
    if binary is None:
        pytest.skip("the maestro binary is not built (cargo build -p maestro-cli, or set MAESTRO_BIN)")
    return binary


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    for var in ("MAESTRO_API_URL", "MAESTRO_TOKEN", "MAESTRO_SESSION_ID", "MAESTRO_PROJECT_ID", "MAESTRO_DB"):
        env.pop(var, None)
    return env


def cli(binary: Path, db: Path, *args: str) -> dict[str, object]:
    proc = subprocess.run(
        [str(binary), "--db", str(db), "--json", *args],
        capture_output=True, text=True, timeout=WAIT, env=cli_env(),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    assert out["success"] is True
    return out


@pytest.fixture
def served(maestro_bin: Path, db_path: Path) -> Iterator[str]:
    """`maestro serve` on a free loopback port; yields its URL."""
    proc = subprocess.Popen(
        [str(maestro_bin), "--db", str(db_path), "--json", "serve", "--addr", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=cli_env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "maestro serve printed nothing"
        yield str(json.loads(line)["data"]["url"])
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(WAIT) == 0
        finally:
            proc.kill()


def test_lifecycle_against_maestro_serve(served: str) -> None:
    c = maestro.connect(served)
    c.create_project("served by the binary")
    run_lifecycle(c)


def test_subscription_sees_what_the_cli_writes(client: maestro.Client, maestro_bin: Path, db_path: Path) -> None:
    since = client.latest_seq()
    with client.subscribe(since=since) as sub:
        created = cli(maestro_bin, db_path, "task", "create", "from the CLI", "--priority", "high")
        data = created["data"]
        assert isinstance(data, dict)
        events = [sub.next_event(timeout=WAIT) for _ in range(2)]
    assert [e.seq for e in events if e is not None] == [since + 1, since + 2]
    first = events[0]
    assert first is not None and first.type == "task:created" and first.data["id"] == data["id"]


def test_the_cli_reads_what_python_writes(client: maestro.Client, maestro_bin: Path, db_path: Path) -> None:
    t = client.create_task("from Python", labels=["py"], metadata={"k": 1})
    got = cli(maestro_bin, db_path, "task", "get", t.id)["data"]
    assert isinstance(got, dict)
    assert (got["id"], got["title"], got["labels"], got["metadata"], got["projectId"]) == (
        t.id, "from Python", ["py"], {"k": 1}, t.project_id,
    )
