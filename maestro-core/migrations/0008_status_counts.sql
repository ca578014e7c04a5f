-- Maestro schema: task counts kept by the store, so `status` does not count every task.
--
-- `status` grouped all of a project's tasks by status, again by priority, and counted the
-- ready range: at 100,000 tasks three scans (one over the table itself, since no index holds
-- the priority) took 60-85 ms where a list or a claim takes 3-5 ms. `task_counts` holds the
-- number of tasks of each (project, status, priority, ready) — ready meaning pending with no
-- unfinished dependency, as `READY_CONDITION` — kept exact by triggers on every insert,
-- delete, and change of those columns (whatever statement makes it, including the deletes of
-- a cascade), so `status` reads a few rows.
--
-- Written to be applied again safely: the counts are rebuilt from the tasks each time.

CREATE TABLE IF NOT EXISTS task_counts (
    project_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    priority   TEXT NOT NULL,
    ready      INTEGER NOT NULL,
    n          INTEGER NOT NULL,
    PRIMARY KEY (project_id, status, priority, ready)
) WITHOUT ROWID;

DROP TRIGGER IF EXISTS task_counts_insert;
DROP TRIGGER IF EXISTS task_counts_delete;
DROP TRIGGER IF EXISTS task_counts_update;
DROP TRIGGER IF EXISTS task_counts_project_delete;
DROP TRIGGER IF EXISTS task_count_changes_apply;
DROP VIEW IF EXISTS task_count_changes;

DELETE FROM task_counts;
INSERT INTO task_counts (project_id, status, priority, ready, n)
SELECT project_id, status, priority, status = 'pending' AND open_deps = 0, COUNT(*)
  FROM tasks GROUP BY 1, 2, 3, 4;

-- One place that moves a count: the triggers below insert (key, +1 or -1) into this view.
CREATE VIEW task_count_changes (project_id, status, priority, ready, delta) AS
SELECT project_id, status, priority, ready, n FROM task_counts WHERE 0;

CREATE TRIGGER task_count_changes_apply INSTEAD OF INSERT ON task_count_changes
BEGIN
    INSERT INTO task_counts (project_id, status, priority, ready, n)
    VALUES (NEW.project_id, NEW.status, NEW.priority, NEW.ready, NEW.delta)
    ON CONFLICT (project_id, status, priority, ready) DO UPDATE SET n = n + excluded.n;
END;

CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks
BEGIN
    INSERT INTO task_count_changes VALUES (NEW.project_id, NEW.status, NEW.priority,
        NEW.status = 'pending' AND NEW.open_deps = 0, 1);
END;

CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks
BEGIN
    INSERT INTO task_count_changes VALUES (OLD.project_id, OLD.status, OLD.priority,
        OLD.status = 'pending' AND OLD.open_deps = 0, -1);
END;

-- Only when the row moves to another count: saving a task rewrites its status and priority
-- even when neither changed, and most `open_deps` shifts keep a task blocked.
CREATE TRIGGER task_counts_update
AFTER UPDATE OF project_id, status, priority, open_deps ON tasks
WHEN OLD.project_id IS NOT NEW.project_id OR OLD.status IS NOT NEW.status
  OR OLD.priority IS NOT NEW.priority
  OR (OLD.status = 'pending' AND OLD.open_deps = 0) IS NOT (NEW.status = 'pending' AND NEW.open_deps = 0)
BEGIN
    INSERT INTO task_count_changes VALUES (OLD.project_id, OLD.status, OLD.priority,
        OLD.status = 'pending' AND OLD.open_deps = 0, -1);
    INSERT INTO task_count_changes VALUES (NEW.project_id, NEW.status, NEW.priority,
        NEW.status = 'pending' AND NEW.open_deps = 0, 1);
END;

CREATE TRIGGER task_counts_project_delete AFTER DELETE ON projects
BEGIN
    DELETE FROM task_counts WHERE project_id = OLD.project_id;
END;
