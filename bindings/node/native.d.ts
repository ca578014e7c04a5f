// Declarations of the native addon, generated from the napi-derive type definitions by
// scripts/gen-native-dts.mjs (run by scripts/test-node). Do not edit by hand.

import type { Json, JsonObject, MaestroEvent, Page, Priority, Project, ProjectInit, ResyncRequired, Role, Session, SessionStatus, Skill, StatusReport, Subtask, Task, TaskDetail, TaskStatus, TimelineEntry } from './types'

/** A Maestro client over a local store (`open`) or a server (`connect`). */
export declare class NativeClient {
  /** `local` (a SQLite file) or `remote` (a server). */
  get mode(): 'local' | 'remote'
  /** The database path or the server URL. */
  get location(): string
  /** The acting session, recorded in timelines and used by `claimNext` and friends. */
  get sessionId(): string | null
  set sessionId(id: string | undefined | null)
  /** The project acted on (`undefined`: the store's default project). */
  get projectId(): string | null
  set projectId(id: string | undefined | null)
  createProject(name: string, options?: CreateProjectOptions | undefined | null): Promise<Json<Project>>
  /**
   * `maestro init`: the project called `name` if the store has one, else a new one (the
   * default project only when the store had none); never switches the default project.
   */
  initProject(name: string): Promise<Json<ProjectInit>>
  /** Makes the project `id` (or a unique prefix) names the store's default project. */
  useProject(id: string): Promise<Json<Project>>
  /** Every project, oldest first; `default` marks the store's default project. */
  listProjects(): Promise<Json<Project[]>>
  /** The project `id` names, else the client's project, else the store's default. */
  getProject(id?: string | undefined | null): Json<Project> | Promise<Json<Project>>
  createTask(title: string, options?: CreateTaskOptions | undefined | null): Promise<Json<Task>>
  /**
   * The task with its subtasks, dependency details, dependents and newest 50 timeline
   * entries (`timelineTotal` counts them all; `timeline()` pages the whole history).
   */
  getTask(id: string): Json<TaskDetail> | Promise<Json<TaskDetail>>
  /** A page of tasks: `{ items, nextCursor }`. */
  listTasks(options?: ListTasksOptions | undefined | null): Promise<Json<Page<Task>>>
  updateTask(id: string, changes: UpdateTaskOptions): Promise<Json<Task>>
  startTask(id: string, options?: ForceOptions | undefined | null): Promise<Json<Task>>
  completeTask(id: string, options?: ForceOptions | undefined | null): Promise<Json<Task>>
  blockTask(id: string, reason: string): Promise<Json<Task>>
  reopenTask(id: string): Promise<Json<Task>>
  cancelTask(id: string): Promise<Json<Task>>
  /** Deletes the task; resolves with the deleted task. */
  deleteTask(id: string): Promise<Json<Task>>
  /** The ready queue: pending tasks whose dependencies are completed, by priority then age. */
  readyTasks(options?: ReadyOptions | undefined | null): Promise<Json<Task[]>>
  /**
   * Assigns a pending task to a session (default: the client's) and starts it,
   * atomically. A task other sessions hold rejects with `task_claimed`, unless `force`
   * takes it over (its owners then get `claim_released`).
   */
  claimTask(id: string, sessionId?: string | undefined | null, options?: ForceOptions | undefined | null): Promise<Json<Task>>
  /** Claims the first ready task; rejects with `nothing_ready` when the queue is empty. */
  claimNext(sessionId?: string | undefined | null): Promise<Json<Task>>
  addProgress(taskId: string, message: string): Promise<Json<TimelineEntry>>
  addComment(taskId: string, message: string, options?: CommentOptions | undefined | null): Promise<Json<TimelineEntry>>
  /**
   * A page of the task's whole timeline, oldest first: `{ items, nextCursor }` (pass
   * `nextCursor` as `cursor` for the next page).
   */
  timeline(taskId: string, options?: TimelineOptions | undefined | null): Promise<Json<Page<TimelineEntry>>>
  createSubtask(taskId: string, title: string, options?: CreateSubtaskOptions | undefined | null): Promise<Json<Subtask>>
  listSubtasks(taskId: string): Promise<Json<Subtask[]>>
  updateSubtask(taskId: string, subtaskId: string, changes: UpdateSubtaskOptions): Promise<Json<Subtask>>
  completeSubtask(taskId: string, subtaskId: string): Promise<Json<Subtask>>
  deleteSubtask(taskId: string, subtaskId: string): Promise<Json<Subtask>>
  /** Registers a running agent (status `active`). Does not change the client's `sessionId`. */
  registerSession(options?: RegisterSessionOptions | undefined | null): Promise<Json<Session>>
  /** A page of sessions: `{ items, nextCursor }`. */
  listSessions(options?: ListSessionsOptions | undefined | null): Promise<Json<Page<Session>>>
  /** The session `id` names (default: the client's session). */
  getSession(id?: string | undefined | null): Json<Session> | Promise<Json<Session>>
  /**
   * Asks a host to launch an agent on the task; resolves with the session, `spawning` (or
   * `waiting` while the task's dependencies are open). A finished task, or one that
   * already has a live worker, is refused unless `force`; an unknown skill or agent
   * profile, or a missing `cwd`, at once.
   */
  spawnSession(taskId: string, options?: SpawnSessionOptions | undefined | null): Promise<Json<Session>>
  /**
   * Refreshes the session's lease (default: the client's session); rejects with
   * `session_lost` or `session_ended` when the session can no longer act.
   */
  heartbeat(id?: string | undefined | null): Promise<Json<Session>>
  /** Ends a session (default: the client's) with `completed` (default), `failed` or `stopped`. */
  endSession(id?: string | undefined | null, status?: 'completed' | 'failed' | 'stopped'): Promise<Json<Session>>
  /**
   * Every skill (the skills directory's overriding the bundled ones by name), highest
   * priority first.
   */
  listSkills(): Promise<Json<Skill[]>>
  /** The skill `name` names; rejects with `skill_not_found` listing the available ones. */
  getSkill(name: string): Promise<Json<Skill>>
  /**
   * The initial prompt of an agent (what `maestro skill prompt --task` prints): the skill
   * with its dependencies, then the task's context (or, for an orchestrator skill, the
   * project's), for the client's session and project.
   */
  skillPrompt(taskId?: string | undefined | null, options?: SkillPromptOptions | undefined | null): Promise<Json<string>>
  /** Counts by status and priority, the ready count and active sessions. */
  status(options?: StatusOptions | undefined | null): Promise<Json<StatusReport>>
  /** Events of the log after `since`, oldest first. */
  events(options?: EventsOptions | undefined | null): Json<MaestroEvent[]> | Promise<Json<MaestroEvent[]>>
  /** The seq of the latest event (0 when the log is empty). */
  latestSeq(): number | Promise<number>
  /**
   * Starts an event subscription (from now on unless `since` is given); `index.js` wraps
   * it as an async iterator.
   */
  subscribe(options?: SubscribeOptions | undefined | null): Promise<NativeSubscription>
}

/**
 * A live event subscription; `next()` resolves with the next event in seq order, or `null`
 * once closed.
 */
export declare class NativeSubscription {
  /**
   * The next event (`{type, seq, ts, projectId, data}`), or `null` after `close()`. When
   * the log no longer holds the missed events (they were pruned) it yields
   * `{type: 'resync_required', lastSeq, oldest}`: reload what you mirror, then go on.
   */
  next(): Promise<Json<MaestroEvent | ResyncRequired> | null>
  /**
   * `connected`, `reconnecting` (a server connection is down and being retried) or
   * `disconnected` (closed).
   */
  get state(): 'connected' | 'reconnecting' | 'disconnected'
  /**
   * Stops the subscription: pending and later `next()` calls resolve with `null`, and a
   * server connection is closed.
   */
  close(): void
}

/** A running Maestro server on a local store; `close()` shuts it down gracefully. */
export declare class Server {
  /** The base URL to pass to `connect()`, e.g. `http://127.0.0.1:40123`. */
  get url(): string
  /** The port the server listens on. */
  get port(): number
  /** The database file it serves. */
  get db(): string
  /**
   * Shuts the server down gracefully (in-flight requests finish, WebSockets are closed)
   * and waits for it. Calling it again does nothing.
   */
  close(): Promise<void>
}

/** Options of `open` and `connect`. */
export interface ClientOptions {
  /** Bearer token for `connect` (default `MAESTRO_TOKEN`, then config `token`). */
  token?: string
  /** The acting session (default `MAESTRO_SESSION_ID`). */
  sessionId?: string
  /**
   * The project acted on (default `MAESTRO_PROJECT_ID`, then config `projectId`, else the
   * store's default project).
   */
  projectId?: string
}

/** Options of `addComment`. */
export interface CommentOptions {
  /** Who wrote it (default: the client's session id, else `user`). */
  author?: string
}

/** Options of `createProject`. */
export interface CreateProjectOptions {
  /** Make it the store's default project (the first project always is). */
  makeDefault?: boolean
}

/** Options of `createSubtask`. */
export interface CreateSubtaskOptions {
  description?: string
}

/** Options of `createTask`. */
export interface CreateTaskOptions {
  description?: string
  /** `high`, `medium` (default) or `low`. */
  priority?: Priority
  /** Ids (or unique prefixes) of the tasks this one depends on. */
  dependsOn?: Array<string>
  labels?: Array<string>
  metadata?: JsonObject
  projectId?: string
}

/** Options of `events`. */
export interface EventsOptions {
  /** Events with a greater seq (default 0: from the start). */
  since?: number
  /** At most this many (default 100, at most 1000). */
  limit?: number
  /** Only events of this project. */
  project?: string
}

/** Options of `startTask`, `completeTask` and `claimTask`. */
export interface ForceOptions {
  /**
   * Override the checks: start despite unfinished dependencies, complete a blocked task,
   * act on a task other sessions own (recorded as an `override` timeline entry); for
   * `claimTask`, take the task over from its owners (they get `claim_released`).
   */
  force?: boolean
}

/** Filters of `listSessions`. */
export interface ListSessionsOptions {
  /** Only sessions that have not ended. */
  active?: boolean
  status?: SessionStatus
  limit?: number
  cursor?: string
  projectId?: string
}

/** Filters of `listTasks`. */
export interface ListTasksOptions {
  status?: TaskStatus
  priority?: Priority
  label?: string
  /** Only tasks in the ready queue. */
  ready?: boolean
  /** Only tasks assigned to this session. */
  sessionId?: string
  /** Page size (default 100, at most 1000). */
  limit?: number
  /** The `nextCursor` of the previous page. */
  cursor?: string
  projectId?: string
}

/** Options of `readyTasks`. */
export interface ReadyOptions {
  limit?: number
  projectId?: string
}

/** Options of `registerSession`. */
export interface RegisterSessionOptions {
  name?: string
  /** `worker` (default) or `orchestrator`. */
  role?: Role
  skill?: string
  agent?: string
  taskIds?: Array<string>
  cwd?: string
  pid?: number
  host?: string
  projectId?: string
}

/** Options of `serve`. */
export interface ServeOptions {
  /** The address to listen on (default `127.0.0.1`); a non-loopback one needs a token. */
  host?: string
  /** The port (default 0: a free port, read it from `server.url`). */
  port?: number
  /** Clients must send `Authorization: Bearer <token>` (default `MAESTRO_TOKEN`). */
  token?: string
}

/** Options of `skillPrompt`. */
export interface SkillPromptOptions {
  /**
   * The skill to render (default: `maestro-worker` with a task, else
   * `maestro-orchestrator`).
   */
  skill?: string
}

/** Options of `spawnSession`. */
export interface SpawnSessionOptions {
  /** Agent profile the host launches (`claude`, `codex`, a configured name …). */
  agent?: string
  skill?: string
  name?: string
  role?: Role
  cwd?: string
  projectId?: string
  /** Spawn even for a finished task, or one that already has a live worker session. */
  force?: boolean
}

/** Options of `status`. */
export interface StatusOptions {
  projectId?: string
}

/** Options of `subscribe`. */
export interface SubscribeOptions {
  /**
   * Replay the events after this seq first (`0`: the whole log). Default: now, only
   * events from now on.
   */
  since?: number
  /** Only events of this project. */
  project?: string
  /** Local stores: how often to look for events written by other processes (default 100). */
  pollIntervalMs?: number
}

/** Options of `timeline`. */
export interface TimelineOptions {
  /** Page size (default 100, at most 1000). */
  limit?: number
  /** The `nextCursor` of the previous page. */
  cursor?: string
}

/** Changes of `updateSubtask`. */
export interface UpdateSubtaskOptions {
  title?: string
  description?: string
  completed?: boolean
  /** New position, from 1. */
  order?: number
}

/** Changes of `updateTask`; absent fields stay as they are. */
export interface UpdateTaskOptions {
  title?: string
  description?: string
  priority?: Priority
  status?: TaskStatus
  addDependencies?: Array<string>
  removeDependencies?: Array<string>
  /** Replaces the labels. */
  labels?: Array<string>
  /** Merged into the metadata (a `null` value removes the key). */
  metadata?: JsonObject
  /** Fail with `version_conflict` unless the task is at this version. */
  expectedVersion?: number
  /**
   * Skip the dependency and force-only transition checks, and write to a task other
   * sessions own (recorded as an `override` timeline entry).
   */
  force?: boolean
}

/**
 * A client of the Maestro server at `url` (default `MAESTRO_API_URL`, then config `apiUrl`),
 * e.g. `http://127.0.0.1:3000`, sending the token of the options (default `MAESTRO_TOKEN`,
 * then config `token`). Calls are retried per `MAESTRO_RETRIES` / `MAESTRO_RETRY_DELAY`;
 * nothing is sent until the first call. The server keeps the leases.
 */
export declare function connect(url?: string | undefined | null, options?: ClientOptions | undefined | null): Promise<NativeClient>

/**
 * Opens (creating and migrating if needed) a local SQLite store: `path`, else `MAESTRO_DB`,
 * else the nearest `.maestro/maestro.db` upward, else `$MAESTRO_HOME/maestro.db`. The rest
 * is the CLI's settings, resolved by the same core code: the session lease
 * (`MAESTRO_LEASE_SECONDS`, config `leaseSeconds`, default 120 s), the skills directory
 * (`MAESTRO_SKILLS_DIR`, else `~/.agents-ui/maestro-skills`, over the bundled skills) and the
 * agent profiles a spawn request may name (config `agents` and the built-in ones).
 */
export declare function open(path?: string | undefined | null, options?: ClientOptions | undefined | null): Promise<NativeClient>

/**
 * Starts a Maestro server on a local store (resolved like `open`, and kept with the same
 * settings: sessions silent past the lease are declared lost, and their tasks released,
 * before the next request that shows or changes tasks or sessions) in this process.
 */
export declare function serve(path?: string | undefined | null, options?: ServeOptions | undefined | null): Promise<Server>
