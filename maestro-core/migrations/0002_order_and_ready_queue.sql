-- Maestro schema, version 2: insertion order, and a ready queue served from an index.
--
-- Ids are random and created_at has millisecond resolution, so ordering by (created_at, id)
-- put rows created within the same millisecond in random order: a plan of tasks created in
-- a loop came back shuffled from `task list` and the ready queue. `seq` records the order
-- of insertion within a project (writers are serialized, so MAX(seq) + 1 is race-free);
-- lists, the ready queue and page cursors use it.
--
-- The ready queue tested every pending task's dependencies, so serving it (and counting
-- it) grew with the number of pending tasks, blocked or not. `open_deps` counts the
-- dependencies of a task that are not completed, kept up to date by every operation that
-- adds or removes an edge, changes a status to or from completed, or deletes a task;
-- ready means status = 'pending' AND open_deps = 0, one range of `tasks_ready`.

ALTER TABLE tasks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET seq = o.n
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, rowid) AS n FROM tasks) AS o
WHERE o.id = tasks.id;

ALTER TABLE tasks ADD COLUMN open_deps INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET open_deps = (
    SELECT COUNT(*) FROM task_deps d JOIN tasks x ON x.id = d.depends_on
    WHERE d.task_id = tasks.id AND x.status <> 'completed');

DROP INDEX tasks_by_project;
CREATE INDEX tasks_by_project ON tasks(project_id, seq);
DROP INDEX tasks_ready;
CREATE INDEX tasks_ready ON tasks(project_id, status, open_deps, priority_rank, seq);

ALTER TABLE sessions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET seq = o.n
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, rowid) AS n FROM sessions) AS o
WHERE o.id = sessions.id;
DROP INDEX sessions_by_project;
CREATE INDEX sessions_by_project ON sessions(project_id, seq);
