// The JSON shapes of Maestro's domain model (SPEC §2): what every client method resolves with.
// Timestamps are RFC 3339 UTC strings; absent optional values are `null`.

export type TaskStatus = 'pending' | 'in_progress' | 'blocked' | 'completed' | 'cancelled'
export type Priority = 'high' | 'medium' | 'low'
/**
 * `waiting` (a spawn request for a task whose dependencies are open) → `spawning` → `starting`
 * → `active` → `completed` | `failed` | `stopped` | `lost` (silent past its lease); the last
 * four are final.
 */
export type SessionStatus = 'waiting' | 'spawning' | 'starting' | 'active' | 'completed' | 'failed' | 'stopped' | 'lost'
export type Role = 'orchestrator' | 'worker'
export type Timestamp = string
export type JsonObject = { [key: string]: unknown }
/** JSON text of a `T`, as the native addon returns it; index.js parses it into a `T`. */
export type Json<T> = string & { readonly __json?: T }

export interface Project {
  id: string
  name: string
  createdAt: Timestamp
  /** Whether it is the store's default project (the one clients without a project act on). */
  default: boolean
}

/** What `initProject` did: the project of that name, and whether it was created. */
export interface ProjectInit {
  project: Project
  /** `false` when a project of that name existed and was returned. */
  created: boolean
}

export interface Task {
  id: string
  projectId: string
  title: string
  description: string
  status: TaskStatus
  priority: Priority
  /** Ids of the tasks this one depends on. */
  dependencies: string[]
  labels: string[]
  /** Ids of the sessions the task is assigned to. */
  sessionIds: string[]
  metadata: JsonObject
  /** +1 on every change. */
  version: number
  /**
   * Fencing token: +1 when the task gets owners after having none, and when an owner's claim
   * is released or taken over.
   */
  claimEpoch: number
  /** Why the task is blocked (the latest reason), while it is. */
  blockedReason: string | null
  createdAt: Timestamp
  updatedAt: Timestamp
  startedAt: Timestamp | null
  completedAt: Timestamp | null
}

/** A dependency or dependent as shown by `getTask`. */
export interface DependencyRef {
  id: string
  title: string
  status: TaskStatus
}

/** A task with everything `getTask` shows. */
export interface TaskDetail extends Task {
  subtasks: Subtask[]
  dependencyDetails: DependencyRef[]
  /** Tasks that depend on this one. */
  dependents: DependencyRef[]
  /** The newest timeline entries (at most 50), oldest first; `timeline()` pages them all. */
  timeline: TimelineEntry[]
  /** How many entries the whole timeline has. */
  timelineTotal: number
}

export interface Subtask {
  id: string
  taskId: string
  title: string
  description: string
  completed: boolean
  order: number
  createdAt: Timestamp
  updatedAt: Timestamp
  completedAt: Timestamp | null
}

interface TimelineBase {
  id: number
  taskId: string
  timestamp: Timestamp
  /** The acting session, when known (`sessionId` names the session assigned or released). */
  actorSessionId: string | null
}

/** One entry of a task's append-only timeline, discriminated by `type`. */
export type TimelineEntry = TimelineBase &
  (
    | { type: 'created' }
    | { type: 'status_changed'; from: TaskStatus; to: TaskStatus }
    | { type: 'progress'; message: string }
    | { type: 'subtask_created'; subtaskId: string }
    | { type: 'subtask_completed'; subtaskId: string }
    | { type: 'blocked'; reason: string }
    | { type: 'assigned'; sessionId: string }
    | { type: 'released'; sessionId: string; reason: string }
    | { type: 'comment'; author: string; message: string }
    /** A write forced over the sessions that owned the task (`sessionIds`). */
    | { type: 'override'; action: string; sessionIds: string[] }
  )

export interface Session {
  id: string
  projectId: string
  name: string
  role: Role
  skill: string | null
  /** Agent profile (`claude`, `codex`, a configured name …). */
  agent: string | null
  taskIds: string[]
  status: SessionStatus
  spawnedBy: string | null
  pid: number | null
  host: string | null
  cwd: string | null
  exitCode: number | null
  /** Why the session failed or was lost, when known. */
  reason: string | null
  createdAt: Timestamp
  startedAt: Timestamp | null
  endedAt: Timestamp | null
  lastSeen: Timestamp
}

export type EventType =
  | 'project:created'
  | 'project:updated'
  | 'task:created'
  | 'task:updated'
  | 'task:deleted'
  | 'subtask:created'
  | 'subtask:updated'
  | 'subtask:deleted'
  | 'timeline:added'
  | 'session:created'
  | 'session:updated'
  | 'session:spawn_request'

/** One entry of the durable event log; `seq` is global, gap-free and increasing. */
export interface MaestroEvent {
  type: EventType
  seq: number
  ts: Timestamp
  projectId: string | null
  /** The entity after the change (for deletions: its id). */
  data: JsonObject
}

/**
 * Delivered by a subscription to a server that no longer retains the events after
 * `lastSeq` up to `oldest - 1`: reload what you mirror; events go on from `oldest`.
 */
export interface ResyncRequired {
  type: 'resync_required'
  lastSeq: number
  oldest: number
}

/** A page of a list; `nextCursor` is set when more remain. */
export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

export interface StatusReport {
  projectId: string
  tasks: {
    total: number
    byStatus: Record<TaskStatus, number>
    byPriority: Record<Priority, number>
    ready: number
  }
  sessions: { active: number; total: number }
}

export type SkillType = 'system' | 'role'

/** A skill (SPEC §7): its `manifest.json` fields, where it was loaded from and its `SKILL.md`. */
export interface Skill {
  name: string
  version: string
  description: string
  /** `system` skills apply to every agent, `role` skills to the roles in `assignTo`. */
  type: SkillType
  assignTo: Role[]
  /** Higher comes first when skills are composed. */
  priority: number
  capabilities: string[]
  /** Names of the skills this one needs. */
  dependencies: string[]
  config: JsonObject
  /** Compiled into the addon, or a folder of the skills directory (which overrides by name). */
  source: { kind: 'bundled' } | { kind: 'dir'; path: string }
  /** The whole `SKILL.md`, front matter included. */
  skillMd: string
}

/** Stable error codes (SPEC §3). */
export type ErrorCode =
  | 'task_not_found'
  | 'subtask_not_found'
  | 'session_not_found'
  | 'project_not_found'
  | 'skill_not_found'
  | 'not_found'
  | 'invalid_argument'
  | 'missing_required_field'
  | 'invalid_status'
  | 'invalid_priority'
  | 'ambiguous_id'
  | 'invalid_transition'
  | 'dependency_cycle'
  | 'dependencies_incomplete'
  | 'nothing_ready'
  | 'version_conflict'
  | 'task_claimed'
  | 'session_lost'
  | 'session_ended'
  | 'claim_released'
  | 'idempotency_key_reused'
  | 'no_task_context'
  | 'no_project_context'
  | 'no_session_context'
  | 'not_a_repository'
  | 'worktree_conflict'
  | 'unauthorized'
  | 'payload_too_large'
  | 'connection_refused'
  | 'network_error'
  | 'timeout'
  | 'server_error'
  | 'storage_error'
  | 'git_failed'
  | 'internal_error'
