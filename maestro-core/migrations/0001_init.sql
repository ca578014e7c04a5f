-- Maestro schema, version 1. Never edit a shipped migration: add a new numbered file.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE projects (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE tasks (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    title         TEXT NOT NULL,
    description   TEXT NOT NULL DEFAULT '',
    status        TEXT NOT NULL,
    priority      TEXT NOT NULL,
    priority_rank INTEGER NOT NULL,
    labels        TEXT NOT NULL DEFAULT '[]',
    session_ids   TEXT NOT NULL DEFAULT '[]',
    metadata      TEXT NOT NULL DEFAULT '{}',
    version       INTEGER NOT NULL DEFAULT 1,
    claim_epoch   INTEGER NOT NULL DEFAULT 0,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    started_at    INTEGER,
    completed_at  INTEGER
);
CREATE INDEX tasks_by_project ON tasks(project_id, created_at, id);
CREATE INDEX tasks_ready ON tasks(project_id, status, priority_rank, created_at, id);

CREATE TABLE task_deps (
    task_id    TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    depends_on TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    PRIMARY KEY (task_id, depends_on)
) WITHOUT ROWID;
CREATE INDEX task_deps_reverse ON task_deps(depends_on);

CREATE TABLE subtasks (
    id           TEXT PRIMARY KEY,
    task_id      TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL DEFAULT '',
    completed    INTEGER NOT NULL DEFAULT 0,
    ord          INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX subtasks_by_task ON subtasks(task_id, ord);

CREATE TABLE timeline (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    data       TEXT NOT NULL,
    session_id TEXT,
    ts         INTEGER NOT NULL
);
CREATE INDEX timeline_by_task ON timeline(task_id, id);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    role       TEXT NOT NULL,
    skill      TEXT,
    agent      TEXT,
    task_ids   TEXT NOT NULL DEFAULT '[]',
    status     TEXT NOT NULL,
    spawned_by TEXT,
    pid        INTEGER,
    host       TEXT,
    cwd        TEXT,
    exit_code  INTEGER,
    reason     TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    ended_at   INTEGER,
    last_seen  INTEGER NOT NULL
);
CREATE INDEX sessions_by_project ON sessions(project_id, created_at, id);
CREATE INDEX sessions_by_status ON sessions(status);

-- The durable event log. AUTOINCREMENT: a seq is never reused, even after pruning.
CREATE TABLE events (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    type       TEXT NOT NULL,
    ts         INTEGER NOT NULL,
    project_id TEXT,
    data       TEXT NOT NULL
);

-- Results of idempotent operations, by op id / Idempotency-Key.
CREATE TABLE ops (
    id         TEXT PRIMARY KEY,
    result     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
