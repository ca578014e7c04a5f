// Types of maestro-sdk, the wrapper in index.js. The method signatures come from native.d.ts
// (generated from the Rust code), the result shapes from types.d.ts (SPEC §2).

import type { ClientOptions, NativeClient, ServeOptions, SubscribeOptions } from './native'
import type { ErrorCode, Json, MaestroEvent, ResyncRequired } from './types'

export * from './types'
export type {
  ClientOptions,
  CommentOptions,
  CreateProjectOptions,
  CreateSubtaskOptions,
  CreateTaskOptions,
  EventsOptions,
  ForceOptions,
  ListSessionsOptions,
  ListTasksOptions,
  ReadyOptions,
  RegisterSessionOptions,
  ServeOptions,
  SkillPromptOptions,
  SpawnSessionOptions,
  StatusOptions,
  SubscribeOptions,
  TimelineOptions,
  UpdateSubtaskOptions,
  UpdateTaskOptions,
} from './native'

/** Every failed call rejects with a MaestroError; `code` is stable (SPEC §3). */
export declare class MaestroError extends Error {
  name: 'MaestroError'
  code: ErrorCode
  /** Structured details, e.g. `{ taskId }` or the allowed values. */
  details: { [key: string]: unknown }
  /** What to do about it, when known. */
  suggestion: string | null
  /** Whether the same call may succeed if repeated. */
  retryable: boolean
  toJSON(): {
    success: false
    error: ErrorCode
    message: string
    details: { [key: string]: unknown }
    suggestion: string | null
    retryable: boolean
  }
}

/** What a subscription yields: events in seq order, or a resync notice from a server. */
export type SubscriptionItem = MaestroEvent | ResyncRequired

/** An event subscription: `for await (const event of subscription)`; `close()` stops it. */
export declare class Subscription implements AsyncIterableIterator<SubscriptionItem> {
  private constructor()
  /** 'connected', 'reconnecting' (a server connection is down or not yet up) or 'disconnected'. */
  readonly state: 'connected' | 'reconnecting' | 'disconnected'
  next(): Promise<IteratorResult<SubscriptionItem, undefined>>
  return(): Promise<IteratorResult<SubscriptionItem, undefined>>
  /** Stops the subscription; a pending `next()` resolves with `{ done: true }`. */
  close(): Promise<void>
  [Symbol.asyncIterator](): Subscription
}

/**
 * A native method returning JSON text of a `T` (or a plain value), at once or through a
 * Promise, becomes one that always returns a Promise of the `T` (or the value).
 */
type Parsed<F> = F extends (...args: infer A) => infer R ? (...args: A) => Promise<Decoded<Awaited<R>>> : F
type Decoded<R> = R extends Json<infer T> ? T : R
type NativeMethods = Omit<NativeClient, 'mode' | 'location' | 'sessionId' | 'projectId' | 'subscribe'>
type ClientMethods = { [K in keyof NativeMethods]: Parsed<NativeMethods[K]> }

/** A Maestro client over a local store (`open`) or a server (`connect`). */
export interface Client extends ClientMethods {}
export declare class Client {
  private constructor()
  /** 'local' (a SQLite file) or 'remote' (a server). */
  readonly mode: 'local' | 'remote'
  /** The database path or the server URL. */
  readonly location: string
  /** The acting session (default MAESTRO_SESSION_ID). */
  sessionId: string | undefined
  /** The project acted on (default MAESTRO_PROJECT_ID or config `projectId`, else the store's default). */
  projectId: string | undefined
  /** Events after `since` (default: from now on) in seq order, as an async iterator. */
  subscribe(options?: SubscribeOptions): Subscription
}

/**
 * Opens (creating if needed) a local store: `path`, else MAESTRO_DB, else the nearest
 * `.maestro/maestro.db` upward from the working directory, else `$MAESTRO_HOME/maestro.db`.
 */
export declare function open(path?: string | null, options?: ClientOptions): Promise<Client>

/**
 * A client of the Maestro server at `url` (default MAESTRO_API_URL, then config `apiUrl`),
 * sending `options.token` (default MAESTRO_TOKEN, then config `token`) as a bearer token.
 * Calls retry connection failures, timeouts and 5xx answers (MAESTRO_RETRIES,
 * MAESTRO_RETRY_DELAY); nothing is sent until the first call.
 */
export declare function connect(url?: string | null, options?: ClientOptions): Promise<Client>

/** A Maestro server (the one `maestro serve` runs) embedded in this process. */
export declare class Server {
  private constructor()
  /** The base URL to pass to connect(), e.g. http://127.0.0.1:40123. */
  readonly url: string
  readonly port: number
  /** The database file it serves. */
  readonly db: string
  /** Shuts the server down gracefully and waits for it; calling it again does nothing. */
  close(): Promise<void>
}

/**
 * Starts a Maestro server on a local store (resolved like open()) in this process.
 * `port: 0` (the default) picks a free port; a non-loopback `host` needs a `token`.
 */
export declare function serve(path?: string | null, options?: ServeOptions): Promise<Server>

/** Turns any error thrown by the native addon into a MaestroError. */
export declare function toMaestroError(err: unknown): MaestroError
