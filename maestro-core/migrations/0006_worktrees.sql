-- Maestro schema, version 6: a git worktree per task and the merge queue (SPEC §11).
--
-- * tasks.worktree: the task's worktree (JSON: path, branch, base, baseCommit, repo,
--   mergedHead), once a host made one.
-- * sessions.no_worktree: the spawn asked to run in its directory itself.
-- * merge_queues: the queue of one target branch of a project (JSON: target, entries with
--   taskId, branch, title, state and its fields, runs, startedAt), changed only inside the
--   operations of the engine.

ALTER TABLE tasks ADD COLUMN worktree TEXT;
ALTER TABLE sessions ADD COLUMN no_worktree INTEGER NOT NULL DEFAULT 0;

CREATE TABLE merge_queues (
    project_id TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    target     TEXT NOT NULL,
    queue      TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (project_id, target)
) WITHOUT ROWID;
