-- Maestro schema, version 4: what the rules of the core need from the rows.
--
-- * task_claims: a session's claim on a task, with the claim epoch it holds. A write by a
--   session is checked against the epoch of its claim (the fence), instead of scanning the
--   timeline for `released` entries. Existing owners get a claim at the task's epoch.
-- * tasks.blocked_reason: the current block reason is a field of the task.
-- * ops: idempotency records are scoped to their caller and carry the operation's name and
--   a fingerprint of the request. Old records (unscoped) are dropped: they only served
--   retries, and those are over.
-- * sessions_live: the lease query (started sessions by last_seen) from one index.

CREATE TABLE task_claims (
    task_id    TEXT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
    session_id TEXT NOT NULL,
    epoch      INTEGER NOT NULL,
    released   TEXT,
    PRIMARY KEY (task_id, session_id)
) WITHOUT ROWID;

INSERT INTO task_claims (task_id, session_id, epoch, released)
SELECT t.id, j.value, t.claim_epoch, NULL FROM tasks t, json_each(t.session_ids) j;

-- Sessions released from a task before this version are fenced as before.
INSERT OR IGNORE INTO task_claims (task_id, session_id, epoch, released)
SELECT task_id, json_extract(data, '$.sessionId'), -1, json_extract(data, '$.reason')
FROM timeline WHERE json_extract(data, '$.type') = 'released';

ALTER TABLE tasks ADD COLUMN blocked_reason TEXT;
UPDATE tasks SET blocked_reason = (
    SELECT json_extract(data, '$.reason') FROM timeline
    WHERE timeline.task_id = tasks.id AND json_extract(data, '$.type') = 'blocked'
    ORDER BY id DESC LIMIT 1)
WHERE status = 'blocked';

DROP TABLE ops;
CREATE TABLE ops (
    key         TEXT PRIMARY KEY,
    op          TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    result      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX ops_by_age ON ops(created_at);

CREATE INDEX sessions_live ON sessions(status, last_seen);
