// The state the page mirrors, and how events change it. Plain data, no DOM.
//
// Consistency: the page loads a snapshot (REST) after `hello` and applies every event after
// the hello seq. Events that arrive while a snapshot loads wait in `pending` and are applied
// on top of it; a task event older than the task already held (by `version`) is skipped, so
// an event the snapshot already contains changes nothing.

import { PRIORITY_RANK, STATUS_LABEL, mergeStateText, mergeStepText, timelineText } from './format.js';

const FEED_MAX = 500;

export class Model {
  constructor() {
    this.projectId = null;
    this.projects = new Map();
    this.tasks = new Map();
    this.sessions = new Map();
    /** target branch → its merge queue ({target, entries}), for the current project. */
    this.merges = new Map();
    /** taskId → the last step of its running merge ({target, step, ts}). */
    this.mergeSteps = new Map();
    /** taskId → the newest progress entry seen live. */
    this.progress = new Map();
    /** The newest events, oldest first. */
    this.feed = [];
    /** Events received while a snapshot loads; `null` when none loads. */
    this.pending = null;
    /** The open task, see openDetail. */
    this.detail = null;
    /** What changed since the last render: 'tasks', 'sessions', 'merges', 'projects', 'feed', 'detail'
     * (the task view draws again on 'merges' too: a merge elsewhere moves its place in line). */
    this.dirty = new Set();
    /** Ids of tasks changed since the last render. */
    this.changedTasks = new Set();
    /** Events applied since the page loaded. */
    this.applied = 0;
    this.loaded = false;
  }

  touch(...what) {
    for (const w of what) this.dirty.add(w);
  }

  /** Events now wait until `loadSnapshot`. */
  beginLoad() {
    if (!this.pending) this.pending = [];
  }

  /** Replaces the mirrored state with a snapshot, then applies the events that waited. */
  loadSnapshot({ projects, tasks, sessions, merges = [] }) {
    if (projects) this.projects = new Map(projects.map((p) => [p.id, p]));
    this.tasks = new Map();
    for (const t of tasks) this.tasks.set(t.id, t);
    this.sessions = new Map(sessions.map((s) => [s.id, s]));
    this.merges = new Map(merges.map((q) => [q.target, { target: q.target, entries: q.entries }]));
    this.mergeSteps.clear();
    const waiting = this.pending ?? [];
    this.pending = null;
    for (const ev of waiting) this.apply(ev);
    this.loaded = true;
    this.changedTasks = new Set(this.tasks.keys());
    this.touch('tasks', 'sessions', 'merges', 'projects', 'detail');
  }

  /** Whether an event concerns the current project (project events always do). */
  relevant(ev) {
    return ev.type.startsWith('project:') || !ev.projectId || ev.projectId === this.projectId;
  }

  /** An event from the sync client: in seq order, each once. */
  receive(ev) {
    if (!this.relevant(ev)) return;
    this.feed.push(feedEntry(ev, this));
    if (this.feed.length > FEED_MAX * 2) this.feed.splice(0, this.feed.length - FEED_MAX);
    this.touch('feed');
    if (this.pending) this.pending.push(ev);
    else this.apply(ev);
  }

  apply(ev) {
    const d = ev.data ?? {};
    this.applied += 1;
    switch (ev.type) {
      case 'project:created':
      case 'project:updated':
        this.projects.set(d.id, d);
        this.touch('projects');
        break;
      case 'task:created':
      case 'task:updated': {
        if (d.projectId !== this.projectId) break;
        const cur = this.tasks.get(d.id);
        if (cur && typeof cur.version === 'number' && d.version < cur.version) break;
        this.tasks.set(d.id, d);
        this.changedTasks.add(d.id);
        this.touch('tasks');
        if (this.detail?.id === d.id) this.touch('detail');
        break;
      }
      case 'task:deleted':
        if (this.tasks.delete(d.id)) {
          this.changedTasks.add(d.id);
          this.touch('tasks');
        }
        if (this.detail?.id === d.id) {
          this.detail.deleted = true;
          this.touch('detail');
        }
        break;
      case 'subtask:created':
      case 'subtask:updated':
      case 'subtask:deleted': {
        const det = this.detail;
        if (!det || det.id !== d.taskId) break;
        if (ev.type === 'subtask:deleted') {
          det.subtasks.delete(d.id);
          det.deletedSubtasks.add(d.id);
        } else if (!det.deletedSubtasks.has(d.id)) {
          putNewer(det.subtasks, d);
        }
        this.touch('detail');
        break;
      }
      case 'timeline:added': {
        if (d.type === 'progress') {
          const cur = this.progress.get(d.taskId);
          if (!cur || cur.id < d.id) {
            this.progress.set(d.taskId, d);
            this.changedTasks.add(d.taskId);
            this.touch('tasks');
          }
        }
        if (this.detail?.id === d.taskId) {
          this.detail.timeline.set(d.id, d);
          this.touch('detail');
        }
        break;
      }
      case 'session:created':
      case 'session:updated':
      case 'session:spawn_request':
        if (d.projectId !== this.projectId) break;
        this.sessions.set(d.id, d);
        this.touch('sessions');
        // Cards show their owners' names.
        for (const id of d.taskIds ?? []) this.changedTasks.add(id);
        this.touch('tasks');
        break;
      case 'merge:updated': {
        if (d.projectId !== this.projectId) break;
        // Each event carries the whole queue as it is after the change.
        this.merges.set(d.target, { target: d.target, entries: d.entries ?? [] });
        for (const e of d.entries ?? []) {
          if (e.state !== 'merging') this.mergeSteps.delete(e.taskId);
        }
        this.touch('merges');
        break;
      }
      case 'merge:step':
        if (d.projectId !== this.projectId) break;
        this.mergeSteps.set(d.taskId, { target: d.target, step: d.step, ts: ev.ts });
        this.touch('merges');
        break;
      default:
        break;
    }
  }

  /** Where a task stands in the merge queues: `[{target, position, entry}]` (position from 1, pending only). */
  mergeEntries(taskId) {
    const out = [];
    for (const q of this.merges.values()) {
      let position = 0;
      for (const e of q.entries) {
        if (isPendingMerge(e)) position += 1;
        if (e.taskId === taskId) out.push({ target: q.target, position: isPendingMerge(e) ? position : null, entry: e });
      }
    }
    return out;
  }

  /** Opens a task: its detail is loaded by the caller and merged with `fillDetail`. */
  openDetail(id) {
    if (this.detail?.id === id || this.detail?.requested === id) return this.detail;
    this.detail = {
      id,
      requested: id,
      task: null,
      subtasks: new Map(),
      deletedSubtasks: new Set(),
      timeline: new Map(),
      total: 0,
      hasMore: false,
      loaded: false,
      deleted: false,
      error: null,
    };
    this.touch('detail');
    return this.detail;
  }

  closeDetail() {
    this.detail = null;
  }

  /** Merges what the REST API returned into the open task (events may have come first). */
  fillDetail(det, detail, timeline) {
    if (this.detail !== det) return;
    det.id = detail.id;
    const cur = this.tasks.get(detail.id);
    const { subtasks, timeline: _recent, timelineTotal, dependencyDetails, dependents, ...task } = detail;
    det.task = cur && cur.version > task.version ? cur : task;
    det.dependencyDetails = dependencyDetails ?? [];
    det.dependents = dependents ?? [];
    for (const st of subtasks ?? []) if (!det.deletedSubtasks.has(st.id)) putNewer(det.subtasks, st);
    for (const e of timeline) det.timeline.set(e.id, e);
    det.total = timelineTotal ?? timeline.length;
    det.hasMore = det.total > det.timeline.size;
    det.loaded = true;
    det.error = null;
    this.touch('detail');
  }

  /** The open task as it is now: the live task of the board, else what was loaded. */
  detailTask() {
    const det = this.detail;
    if (!det) return null;
    const live = this.tasks.get(det.id);
    if (live && (!det.task || live.version >= det.task.version)) return live;
    return det.task;
  }

  /** Whether every dependency of `t` is completed (a pending task is then ready). */
  depsDone(t) {
    return (t.dependencies ?? []).every((id) => this.tasks.get(id)?.status === 'completed');
  }

  isReady(t) {
    return t.status === 'pending' && this.depsDone(t);
  }

  /** The tasks that pass `f` ({text, priority, label, owner, ready}). */
  matches(t, f) {
    if (f.priority && t.priority !== f.priority) return false;
    if (f.label && !(t.labels ?? []).includes(f.label)) return false;
    if (f.owner && !(t.sessionIds ?? []).includes(f.owner)) return false;
    if (f.ready && !this.isReady(t)) return false;
    if (f.text) {
      const q = f.text.toLowerCase();
      const hay = `${t.id} ${t.title} ${t.description ?? ''} ${(t.labels ?? []).join(' ')}`.toLowerCase();
      if (!hay.includes(q)) return false;
    }
    return true;
  }

  /** Every label of the project's tasks, sorted. */
  labels() {
    const out = new Set();
    for (const t of this.tasks.values()) for (const l of t.labels ?? []) out.add(l);
    return [...out].sort();
  }

  /**
   * What the task's agents used, summed over its sessions that report a usage (each field
   * only when some session reports it); `null` when none does.
   */
  taskUsage(taskId) {
    let out = null;
    for (const s of this.sessions.values()) {
      if (!s.usage || !(s.taskIds ?? []).includes(taskId)) continue;
      out ??= { sessions: 0 };
      out.sessions += 1;
      for (const k of ['inputTokens', 'outputTokens', 'cachedInputTokens', 'costUsd', 'turns']) {
        if (typeof s.usage[k] === 'number') out[k] = (out[k] ?? 0) + s.usage[k];
      }
    }
    return out;
  }

  /** The session's display name. */
  sessionName(id) {
    const s = this.sessions.get(id);
    return s?.name || id;
  }
}

/** Still to be merged, or being merged (the rule of QueueState::is_pending). */
export function isPendingMerge(e) {
  return e.state === 'queued' || e.state === 'merging' || e.state === 'waiting';
}

function putNewer(map, item) {
  const cur = map.get(item.id);
  if (!cur || !cur.updatedAt || !item.updatedAt || item.updatedAt >= cur.updatedAt) map.set(item.id, item);
}

/** Column order: the ready queue's for pending (priority, then age), newest first for done. */
export function compareIn(status) {
  const byPriority = (a, b) => (PRIORITY_RANK[a.priority] ?? 1) - (PRIORITY_RANK[b.priority] ?? 1);
  const str = (x) => x ?? '';
  switch (status) {
    case 'pending':
      return (a, b) => byPriority(a, b) || str(a.createdAt).localeCompare(str(b.createdAt)) || a.id.localeCompare(b.id);
    case 'in_progress':
      return (a, b) => byPriority(a, b) || str(a.startedAt).localeCompare(str(b.startedAt)) || a.id.localeCompare(b.id);
    default:
      return (a, b) => str(b.updatedAt).localeCompare(str(a.updatedAt)) || a.id.localeCompare(b.id);
  }
}

/** One line of the activity feed. */
function feedEntry(ev, model) {
  const d = ev.data ?? {};
  let text = '';
  let taskId = null;
  switch (ev.type.split(':')[0]) {
    case 'task':
      taskId = d.id;
      text = `${d.title ?? d.id} — ${STATUS_LABEL[d.status] ?? d.status ?? ''}`;
      break;
    case 'timeline':
      taskId = d.taskId;
      text = `${model.tasks.get(d.taskId)?.title ?? d.taskId}: ${timelineText(d, { session: (id) => model.sessionName(id) })}`;
      break;
    case 'subtask':
      taskId = d.taskId;
      text = `${d.title ?? d.id}${d.completed ? ' (done)' : ''}`;
      break;
    case 'session':
      text = `${d.name || d.id} — ${d.status ?? ''}`;
      break;
    case 'project':
      text = d.name ?? d.id;
      break;
    case 'merge': {
      taskId = d.taskId;
      const title = model.tasks.get(d.taskId)?.title ?? d.taskId;
      if (ev.type === 'merge:step') text = `${title}: ${mergeStepText(d.step ?? {})}`;
      else {
        const e = (d.entries ?? []).find((x) => x.taskId === d.taskId);
        text = `${title} → ${d.target}: ${d.action}${e ? ` (${mergeStateText(e)})` : ''}`;
      }
      break;
    }
    default:
      text = d.id ?? '';
  }
  return { seq: ev.seq, type: ev.type, ts: ev.ts, text, taskId };
}
