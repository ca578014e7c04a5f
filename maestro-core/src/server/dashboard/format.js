// Formatting of times, money and counts; pure functions.

export const STATUSES = ['pending', 'in_progress', 'blocked', 'completed', 'cancelled'];

export const STATUS_LABEL = {
  pending: 'Pending',
  in_progress: 'In progress',
  blocked: 'Blocked',
  completed: 'Completed',
  cancelled: 'Cancelled',
};

export const PRIORITY_RANK = { high: 0, medium: 1, low: 2 };

/** "5 s ago", "3 min ago", "2 h ago", "4 d ago" from an RFC 3339 time. */
export function ago(ts, now = Date.now()) {
  if (!ts) return '';
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return String(ts);
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** A local date and time for tooltips. */
export function when(ts) {
  const t = Date.parse(ts);
  return Number.isNaN(t) ? String(ts ?? '') : new Date(t).toLocaleString();
}

/** 1234567 → "1.2M", 12345 → "12.3k". */
export function count(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  if (Math.abs(n) >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

/** 0.4213 → "$0.42", 0.0042 → "$0.0042". */
export function usd(n) {
  if (typeof n !== 'number' || !Number.isFinite(n)) return '';
  return n >= 0.01 || n === 0 ? `$${n.toFixed(2)}` : `$${n.toPrecision(2)}`;
}

/**
 * The text of a timeline entry; `names` may give `subtask(id)` and `session(id)` to show
 * titles and names instead of ids.
 */
export function timelineText(e, names = {}) {
  const sub = (id) => names.subtask?.(id) ?? id;
  const ses = (id) => names.session?.(id) ?? id;
  switch (e.type) {
    case 'created': return 'created';
    case 'status_changed': return `${STATUS_LABEL[e.from] ?? e.from} → ${STATUS_LABEL[e.to] ?? e.to}`;
    case 'progress': return e.message;
    case 'subtask_created': return `subtask added: ${sub(e.subtaskId)}`;
    case 'subtask_completed': return `subtask done: ${sub(e.subtaskId)}`;
    case 'blocked': {
      const d = e.details ?? {};
      if (e.reason === 'merge_conflict' && Array.isArray(d.paths)) return `blocked: merge conflict with ${d.target} in ${d.paths.join(', ')}`;
      if (e.reason === 'gate_failed') return `blocked: the merge gate failed on ${d.target ?? 'the target'}${d.exitCode != null ? ` (exit ${d.exitCode})` : ''}`;
      return `blocked: ${e.reason}`;
    }
    case 'merged': return `merged ${e.branch} into ${e.target} at ${String(e.commit).slice(0, 12)}`;
    case 'assigned': return `assigned to ${ses(e.sessionId)}`;
    case 'released': return `released from ${ses(e.sessionId)}${e.reason ? `: ${e.reason}` : ''}`;
    case 'comment': return `${e.author}: ${e.message}`;
    case 'override': return `${e.action} forced over ${(e.sessionIds ?? []).map(ses).join(', ')}`;
    default: return e.type;
  }
}

/** What a queue entry's state says, in words: `merged at 1a2b3c4d5e6f`, `conflict in a.rs`. */
export function mergeStateText(e) {
  switch (e.state) {
    case 'queued': return 'queued';
    case 'merging': return 'merging';
    case 'waiting': return `waiting: ${e.reason}`;
    case 'merged': return `merged at ${String(e.commit).slice(0, 12)}`;
    case 'conflict': return `conflict in ${(e.paths ?? []).join(', ') || 'the tree'}`;
    case 'gate_failed': return 'the merge gate failed';
    case 'failed': return `failed (${e.code}): ${e.message}`;
    default: return e.state;
  }
}

/** A step of a running merge (a `merge:step` event's `step`), in words. */
export function mergeStepText(s) {
  const short = (c) => String(c ?? '').slice(0, 12);
  switch (s.step) {
    case 'prepared': return `preparing (attempt ${s.attempt}) on ${short(s.targetCommit)}`;
    case 'built': return `built ${short(s.commit)}`;
    case 'gate_started': return `running the gate: ${s.command}`;
    case 'gate_passed': return `the gate passed in ${(s.millis / 1000).toFixed(1)} s`;
    case 'advancing': return `moving the target to ${short(s.to)}`;
    case 'advanced': return `target moved to ${short(s.to)}`;
    case 'tree_synced': return `checkout updated at ${s.path}`;
    case 'target_moved': return `the target moved to ${short(s.now)}: building again (attempt ${s.attempt})`;
    default: return s.step;
  }
}
