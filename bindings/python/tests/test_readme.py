"""The README's quick start is real code: run it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import maestro

README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MAESTRO_DB", "MAESTRO_SESSION_ID", "MAESTRO_PROJECT_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 2, "the quick start and the worker loop"
    scope: dict[str, object] = {"__name__": "readme"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), scope)
    assert (tmp_path / "demo.db").exists()
    # The worker loop did the task the quick start left, then found the queue empty.
    worker_2 = scope["worker_2"]
    assert isinstance(worker_2, maestro.Client)
    assert worker_2.status().tasks.by_status["completed"] == 2
    assert [t.status for t in worker_2.list_tasks(session_id=worker_2.session_id)] == ["completed"]
