-- Maestro's PostgreSQL schema, version 3: task counts kept by the store, as SQLite's
-- migration 0008, so `status` reads a few rows instead of counting every task.
--
-- `task_counts` holds the number of tasks of each (project, status, priority, ready) —
-- ready meaning pending with no unfinished dependency, as `READY_CONDITION` — kept exact by
-- row triggers on every insert, delete, and change of those columns of `tasks`, whatever
-- statement makes it (the deletes of a project's cascade included).
--
-- Contention: every write of the store already holds the event counter's row lock, so two
-- writers never move counts at once; the triggers add no lock a write does not hold, only
-- the rows of the counts it moves, each moved by one `INSERT … ON CONFLICT DO UPDATE` (a
-- decrement by `UPDATE`, since the row of a counted task exists). A copy (`maestro
-- migrate`), which inserts thousands of tasks in one transaction, turns the insert trigger
-- off in it and counts once at the end.
--
-- The table is locked first, so no task is written between the count below and the
-- triggers that keep it.

LOCK TABLE tasks IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE task_counts (
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    status     TEXT NOT NULL,
    priority   TEXT NOT NULL,
    ready      BOOLEAN NOT NULL,
    n          BIGINT NOT NULL,
    PRIMARY KEY (project_id, status, priority, ready)
);

INSERT INTO task_counts (project_id, status, priority, ready, n)
SELECT project_id, status, priority, status = 'pending' AND open_deps = 0, COUNT(*)
  FROM tasks GROUP BY 1, 2, 3, 4;

-- Moves a task between counts: out of OLD's (an UPDATE, since the row of a counted task
-- exists; it is gone only while its project is being deleted), into NEW's.
CREATE FUNCTION task_counts_follow() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE task_counts SET n = n - 1
         WHERE project_id = OLD.project_id AND status = OLD.status
           AND priority = OLD.priority
           AND ready = (OLD.status = 'pending' AND OLD.open_deps = 0);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        INSERT INTO task_counts (project_id, status, priority, ready, n)
        VALUES (NEW.project_id, NEW.status, NEW.priority,
                NEW.status = 'pending' AND NEW.open_deps = 0, 1)
        ON CONFLICT (project_id, status, priority, ready)
        DO UPDATE SET n = task_counts.n + 1;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counts_follow();

CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION task_counts_follow();

-- Only when the row moves to another count: saving a task rewrites its status and priority
-- even when neither changed, and most `open_deps` shifts keep a task blocked.
CREATE TRIGGER task_counts_update
    AFTER UPDATE OF project_id, status, priority, open_deps ON tasks
    FOR EACH ROW
    WHEN (OLD.project_id IS DISTINCT FROM NEW.project_id
       OR OLD.status IS DISTINCT FROM NEW.status
       OR OLD.priority IS DISTINCT FROM NEW.priority
       OR (OLD.status = 'pending' AND OLD.open_deps = 0)
          IS DISTINCT FROM (NEW.status = 'pending' AND NEW.open_deps = 0))
    EXECUTE FUNCTION task_counts_follow();
