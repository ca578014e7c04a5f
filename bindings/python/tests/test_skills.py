"""Skills and initial prompts: bundled skills, on-disk overrides, prompts as the CLI renders them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import maestro
from test_cli import cli, maestro_bin  # noqa: F401  (maestro_bin is a fixture)

BUNDLED = {"maestro-cli", "maestro-worker", "maestro-orchestrator"}


@pytest.fixture
def skills_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty skills directory, so that skills installed on this machine do not leak in."""
    d = tmp_path / "skills"
    d.mkdir()
    monkeypatch.setenv("MAESTRO_SKILLS_DIR", str(d))
    return d


@pytest.fixture
def sk(db_path: Path, skills_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[maestro.Client]:
    """A local client reading `skills_dir`, on a fresh store with one project."""
    for var in ("MAESTRO_SESSION_ID", "MAESTRO_PROJECT_ID", "MAESTRO_DB"):
        monkeypatch.delenv(var, raising=False)
    c = maestro.open(db_path)
    c.create_project("demo")
    yield c


def write_skill(root: Path, name: str, *, version: str, body: str, deps: list[str]) -> Path:
    folder = root / name
    folder.mkdir()
    manifest = {
        "name": name,
        "version": version,
        "description": f"{name}, edited on disk",
        "type": "role",
        "assignTo": ["worker"],
        "priority": 50,
        "dependencies": deps,
        "config": {"style": "terse"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: \"{name}, edited on disk\"\n---\n\n{body}\n"
    )
    return folder


def test_bundled_skills_are_listed(sk: maestro.Client, skills_dir: Path) -> None:
    assert sk.skills_dir == str(skills_dir)
    skills = sk.list_skills()
    assert {s.name for s in skills} == BUNDLED
    assert all(isinstance(s, maestro.Skill) for s in skills)
    assert [s.priority for s in skills] == sorted((s.priority for s in skills), reverse=True)
    worker = sk.get_skill("maestro-worker")
    assert worker in skills
    assert worker.type == "role"
    assert worker.assign_to == ["worker"]
    assert worker.dependencies == ["maestro-cli"]
    assert worker.source == "bundled" and worker.path is None
    assert worker.version and worker.description
    assert worker.skill_md.startswith("---\n")
    assert not worker.instructions.startswith("---")
    assert worker.instructions in worker.skill_md
    assert sk.get_skill("maestro-cli").type == "system"
    d = worker.to_dict()
    assert d["name"] == "maestro-worker"
    assert d["type"] == "role" and d["source"] == "bundled" and d["path"] is None
    assert d["dependencies"] == ["maestro-cli"]
    assert isinstance(d["config"], dict)
    json.dumps(d)
    assert "maestro-worker" in repr(worker)


def test_an_on_disk_skill_overrides_the_bundled_one(sk: maestro.Client, skills_dir: Path) -> None:
    folder = write_skill(
        skills_dir, "maestro-worker", version="9.9.9", body="# Local worker rules", deps=["maestro-cli"]
    )
    write_skill(skills_dir, "house-style", version="1.0.0", body="# House style", deps=[])
    names = [s.name for s in sk.list_skills()]
    assert set(names) == BUNDLED | {"house-style"}
    assert len(names) == len(set(names))
    w = sk.get_skill("maestro-worker")
    assert (w.version, w.source, w.path) == ("9.9.9", "dir", str(folder))
    assert w.instructions == "# Local worker rules"
    assert w.config == {"style": "terse"}
    assert sk.get_skill("maestro-cli").source == "bundled"
    t = sk.create_task("Port the lexer")
    prompt = sk.skill_prompt(t.id)
    assert "# Local worker rules" in prompt
    # A skill of the directory can be asked for by name; its dependencies come along.
    assert "# House style" in sk.skill_prompt(t.id, skill="house-style")


def test_unknown_skill_is_not_found_with_a_suggestion(sk: maestro.Client) -> None:
    with pytest.raises(maestro.NotFoundError) as err:
        sk.get_skill("nope")
    e = err.value
    assert e.code == "skill_not_found"
    assert e.suggestion and "maestro skill list" in e.suggestion
    assert "maestro-worker" in e.suggestion
    assert set(e.details["available"]) == BUNDLED
    t = sk.create_task("T")
    with pytest.raises(maestro.NotFoundError) as err:
        sk.skill_prompt(t.id, skill="nope")
    assert err.value.code == "skill_not_found"


def test_a_broken_skill_on_disk_is_a_validation_error(sk: maestro.Client, skills_dir: Path) -> None:
    (skills_dir / "broken").mkdir()
    (skills_dir / "broken" / "manifest.json").write_text("{not json")
    (skills_dir / "broken" / "SKILL.md").write_text("---\nname: broken\ndescription: x\n---\n")
    with pytest.raises(maestro.ValidationError) as err:
        sk.list_skills()
    assert err.value.suggestion


def test_worker_prompt_has_the_task_and_the_next_commands(sk: maestro.Client) -> None:
    dep = sk.create_task("Design the schema")
    t = sk.create_task("Write the migrations", description="Use SQL files.", depends_on=[dep.id])
    prompt = sk.with_session("s-abc").skill_prompt(t.id)
    assert "Write the migrations" in prompt
    assert "Use SQL files." in prompt
    assert "Design the schema" in prompt
    assert "session s-abc" in prompt
    assert "## Next commands" in prompt
    assert f"maestro task complete {t.id} --json" in prompt
    with pytest.raises(maestro.NotFoundError) as err:
        sk.skill_prompt("t-missing")
    assert err.value.code == "task_not_found"


def test_without_a_task_the_prompt_is_the_orchestrators(sk: maestro.Client) -> None:
    t = sk.create_task("Plan the release")
    prompt = sk.skill_prompt()
    assert "# Orchestrating a project with Maestro" in prompt
    assert t.id in prompt
    with pytest.raises(maestro.MaestroError) as err:
        sk.skill_prompt(skill="maestro-worker")
    assert err.value.code == "no_task_context"


def test_the_prompt_is_the_clis(
    sk: maestro.Client, db_path: Path, skills_dir: Path, maestro_bin: Path  # noqa: F811
) -> None:
    write_skill(skills_dir, "maestro-worker", version="2.0.0", body="# Disk rules", deps=["maestro-cli"])
    t = sk.create_task("Same prompt everywhere", priority="high")
    out = cli(maestro_bin, db_path, "skill", "prompt", "--task", t.id)
    data = out["data"]
    assert isinstance(data, dict)
    assert data["prompt"] == sk.skill_prompt(t.id)
    assert "# Disk rules" in sk.skill_prompt(t.id)


def test_a_remote_client_reads_skills_locally_and_tasks_from_the_server(
    db_path: Path, skills_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in ("MAESTRO_SESSION_ID", "MAESTRO_PROJECT_ID", "MAESTRO_TOKEN", "MAESTRO_API_URL"):
        monkeypatch.delenv(var, raising=False)
    write_skill(skills_dir, "house-style", version="1.0.0", body="# House style", deps=[])
    with maestro.serve(db_path) as srv:
        remote = maestro.connect(srv.url)
        remote.create_project("remote demo")
        assert remote.skills_dir == str(skills_dir)
        assert {s.name for s in remote.list_skills()} == BUNDLED | {"house-style"}
        t = remote.create_task("Served task")
        prompt = remote.skill_prompt(t.id)
        assert "Served task" in prompt
        assert f"maestro task claim {t.id} --json" in prompt
