-- Maestro schema, version 2: insertion order for tasks and sessions.
--
-- Ids are random and created_at has millisecond resolution, so ordering by (created_at, id)
-- put rows created within the same millisecond in random order: a plan of tasks created in
-- a loop came back shuffled from `task list` and the ready queue. `seq` records the order
-- of insertion (writers are serialized, so MAX(seq) + 1 is race-free); lists, the ready
-- queue and page cursors use it.

ALTER TABLE tasks ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET seq = o.n
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, rowid) AS n FROM tasks) AS o
WHERE o.id = tasks.id;
CREATE UNIQUE INDEX tasks_by_seq ON tasks(seq);
DROP INDEX tasks_by_project;
CREATE INDEX tasks_by_project ON tasks(project_id, seq);
DROP INDEX tasks_ready;
CREATE INDEX tasks_ready ON tasks(project_id, status, priority_rank, seq);

ALTER TABLE sessions ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET seq = o.n
FROM (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, rowid) AS n FROM sessions) AS o
WHERE o.id = sessions.id;
CREATE UNIQUE INDEX sessions_by_seq ON sessions(seq);
DROP INDEX sessions_by_project;
CREATE INDEX sessions_by_project ON sessions(project_id, seq);
