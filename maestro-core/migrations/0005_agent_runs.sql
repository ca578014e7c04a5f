-- Maestro schema, version 5: what a host learns about an agent's run, and what a spawn asks.
--
-- * agent_session_id: the agent CLI's own session (thread) id, what a resume continues.
-- * usage: tokens, cost and turns of the run (JSON: inputTokens, outputTokens,
--   cachedInputTokens, costUsd, turns), summed by `status`.
-- * result: how the run ended (JSON: error kind or none, code, final message).
-- * budget: the spawn's limits (JSON: maxCostUsd, maxTokens); the host stops an agent past
--   them.
-- * resume_of: the session whose agent conversation this one continues.

ALTER TABLE sessions ADD COLUMN agent_session_id TEXT;
ALTER TABLE sessions ADD COLUMN usage TEXT;
ALTER TABLE sessions ADD COLUMN result TEXT;
ALTER TABLE sessions ADD COLUMN budget TEXT;
ALTER TABLE sessions ADD COLUMN resume_of TEXT;
