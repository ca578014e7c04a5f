-- Maestro schema, version 3: the ready queue served from an index.
--
-- The ready queue tested every pending task's dependencies, so serving it, counting it and
-- claim_next (which skips every blocked task of higher priority) grew with the number of
-- pending tasks, blocked or not. `open_deps` counts the dependencies of a task that are not
-- completed, kept exact by every operation that adds or removes an edge, changes a status to
-- or from completed, or deletes an unfinished task; ready means
-- status = 'pending' AND open_deps = 0, one range of `tasks_ready`, already in queue order.
--
-- `seq` becomes per project (its MAX comes from the (project_id, seq) indexes), so inserts
-- maintain one index fewer: the global unique indexes on seq go.

ALTER TABLE tasks ADD COLUMN open_deps INTEGER NOT NULL DEFAULT 0;
UPDATE tasks SET open_deps = (
    SELECT COUNT(*) FROM task_deps d JOIN tasks x ON x.id = d.depends_on
    WHERE d.task_id = tasks.id AND x.status <> 'completed');

DROP INDEX tasks_ready;
CREATE INDEX tasks_ready ON tasks(project_id, status, open_deps, priority_rank, seq);
DROP INDEX tasks_by_seq;
DROP INDEX sessions_by_seq;
