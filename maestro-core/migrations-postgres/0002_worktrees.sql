-- Maestro's PostgreSQL schema, version 2: a git worktree per task and the merge queue, as
-- SQLite's migration 0006.
--
-- * tasks.worktree: the task's worktree (JSON: path, branch, base, baseCommit, repo,
--   mergedHead), once a host made one.
-- * sessions.no_worktree: the spawn asked to run in its directory itself.
-- * merge_queues: the queue of one target branch of a project (JSON), changed only inside
--   the operations of the engine.

ALTER TABLE tasks ADD COLUMN worktree TEXT;
ALTER TABLE sessions ADD COLUMN no_worktree BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE merge_queues (
    project_id TEXT COLLATE "C" NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    target     TEXT COLLATE "C" NOT NULL,
    queue      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (project_id, target)
);
