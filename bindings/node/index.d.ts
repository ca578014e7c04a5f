// Types of maestro-sdk, the wrapper in index.js. The method signatures come from native.d.ts
// (generated from the Rust code), the result shapes from types.d.ts (SPEC §2).

import type { ClientOptions, NativeClient, SubscribeOptions } from './native'
import type { ErrorCode, MaestroEvent } from './types'

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

/** An event subscription: `for await (const event of subscription)`; `close()` stops it. */
export declare class Subscription implements AsyncIterableIterator<MaestroEvent> {
  private constructor()
  next(): Promise<IteratorResult<MaestroEvent, undefined>>
  return(): Promise<IteratorResult<MaestroEvent, undefined>>
  close(): Promise<void>
  [Symbol.asyncIterator](): Subscription
}

type ClientMethods = Omit<NativeClient, 'mode' | 'location' | 'sessionId' | 'projectId' | 'subscribe'>

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

/** Turns any error thrown by the native addon into a MaestroError. */
export declare function toMaestroError(err: unknown): MaestroError
