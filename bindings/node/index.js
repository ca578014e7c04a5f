'use strict'

// maestro-sdk: the JavaScript face of the native addon.
//
// The addon does the work (store calls run on its tokio runtime and return a Promise; short
// reads that complete at once return their result, delivered here on a later turn of the
// event loop). This file only (1) loads the addon, (2) parses results, which cross as JSON text
// (JSON.parse builds them faster than N-API property by property), (3) turns native errors
// into MaestroError objects carrying `code`, `details`, `suggestion` and `retryable`, in one
// place, and (4) makes subscriptions async iterators.

const { existsSync } = require('node:fs')
const { join } = require('node:path')
const { addonCandidates } = require('./addon.js')

function loadAddon() {
  const override = process.env.MAESTRO_NODE_ADDON
  if (override) return require(override)
  const tried = []
  for (const name of addonCandidates()) {
    const file = join(__dirname, name)
    tried.push(file)
    if (existsSync(file)) return require(file)
  }
  throw new Error(
    `maestro-sdk: no native addon for ${process.platform}-${process.arch} (looked for ${tried.join(', ')}). ` +
      'Build it with: node scripts/install.js --build (in bindings/node of a checkout), or install a ' +
      'package built for this platform',
  )
}

const native = loadAddon()

// Must match `MARKER` in src/error.rs.
const MARKER = 'MAESTRO_ERROR:'

/** An error from Maestro: `code` is stable (e.g. 'task_not_found'), see SPEC §3. */
class MaestroError extends Error {
  constructor(body) {
    super(body.message || body.error)
    this.name = 'MaestroError'
    this.code = body.error
    this.details = body.details ?? {}
    this.suggestion = body.suggestion ?? null
    this.retryable = Boolean(body.retryable)
  }

  toJSON() {
    return {
      success: false,
      error: this.code,
      message: this.message,
      details: this.details,
      suggestion: this.suggestion,
      retryable: this.retryable,
    }
  }
}

/** Turns whatever the addon threw into a MaestroError (the one place errors are mapped). */
function toMaestroError(err) {
  if (err instanceof MaestroError) return err
  const message = err && typeof err.message === 'string' ? err.message : String(err)
  if (message.startsWith(MARKER)) {
    try {
      return new MaestroError(JSON.parse(message.slice(MARKER.length)))
    } catch {
      // Not valid JSON: fall through and report it as an internal error.
    }
  }
  // napi rejects arguments of the wrong type before any Maestro code runs.
  const argumentError = err && /^(InvalidArg|[A-Z][a-zA-Z]*Expected)$/.test(err.code || '')
  return new MaestroError({
    error: argumentError ? 'invalid_argument' : 'internal_error',
    message,
    details: err && err.code ? { nativeCode: err.code } : {},
    suggestion: argumentError ? 'Check the types of the arguments against index.d.ts' : null,
    retryable: false,
  })
}

/** A native result: JSON text is parsed, anything else is passed through. */
function decode(result) {
  return typeof result === 'string' ? JSON.parse(result) : result
}

function rethrow(err) {
  throw toMaestroError(err)
}

/**
 * Calls a native method and returns a Promise of its decoded result. A native method returns
 * a Promise, or, for a short read that completed at once, the result itself (or throws its
 * error): that one is settled on a later turn of the event loop (setImmediate), like any
 * I/O, so that a loop of awaited calls never keeps timers and I/O from running.
 */
function call(target, name, args) {
  let result
  try {
    result = target[name](...args)
  } catch (err) {
    return settleLater(() => rethrow(err))
  }
  if (result instanceof Promise) return result.then(decode, rethrow)
  return settleLater(() => decode(result))
}

function settleLater(settle) {
  return new Promise((resolve, reject) => {
    setImmediate(() => {
      try {
        resolve(settle())
      } catch (err) {
        reject(err)
      }
    })
  })
}

/** An event subscription: `for await (const event of subscription)`, `close()` to stop. */
class Subscription {
  #native
  #started = null
  #done = false

  constructor(nativePromise) {
    this.#native = nativePromise
    // A failed start is reported by the first next(); do not let it go unhandled meanwhile.
    nativePromise.then(
      (sub) => {
        this.#started = sub
      },
      () => {},
    )
  }

  /** 'connected', 'reconnecting' (a server connection is down or not yet up) or 'disconnected'. */
  get state() {
    if (this.#done) return 'disconnected'
    return this.#started ? this.#started.state : 'reconnecting'
  }

  /** The next event, in seq order; `{ done: true }` once closed. */
  async next() {
    if (this.#done) return { done: true, value: undefined }
    let sub
    try {
      sub = await this.#native
    } catch (err) {
      this.#done = true
      throw toMaestroError(err)
    }
    const event = await call(sub, 'next', [])
    if (event === null || event === undefined) {
      this.#done = true
      return { done: true, value: undefined }
    }
    return { done: false, value: event }
  }

  /** Called by `break` in a `for await` loop: closes the subscription. */
  async return() {
    await this.close()
    return { done: true, value: undefined }
  }

  /** Stops the subscription; a pending `next()` resolves with `{ done: true }`. */
  async close() {
    this.#done = true
    try {
      ;(await this.#native).close()
    } catch {
      // It never started: nothing to close.
    }
  }

  [Symbol.asyncIterator]() {
    return this
  }
}

/** A Maestro client over a local store (`open`) or a server (`connect`). */
class Client {
  #native

  constructor(nativeClient) {
    if (!(nativeClient instanceof native.NativeClient)) {
      throw new TypeError('Use open() or connect() to create a Maestro client')
    }
    this.#native = nativeClient
  }

  /** 'local' or 'remote'. */
  get mode() {
    return this.#native.mode
  }

  /** The database path or the server URL. */
  get location() {
    return this.#native.location
  }

  /** The acting session (default MAESTRO_SESSION_ID). */
  get sessionId() {
    return this.#native.sessionId ?? undefined
  }

  set sessionId(id) {
    this.#native.sessionId = id ?? null
  }

  /** The project acted on (default MAESTRO_PROJECT_ID, else the store's default). */
  get projectId() {
    return this.#native.projectId ?? undefined
  }

  set projectId(id) {
    this.#native.projectId = id ?? null
  }

  /** Events after `since` (default: from now on), as an async iterator. */
  subscribe(options = {}) {
    return new Subscription(this.#native.subscribe(options))
  }

  /** @internal the native client, for methods defined below. */
  static native(client) {
    return client.#native
  }
}

// Every other method forwards to the native client with the same name and arguments.
const FORWARDED = [
  'createProject', 'initProject', 'useProject', 'listProjects', 'getProject',
  'createTask', 'getTask', 'listTasks', 'updateTask', 'startTask', 'completeTask', 'blockTask',
  'reopenTask', 'cancelTask', 'deleteTask', 'readyTasks', 'claimTask', 'claimNext',
  'addProgress', 'addComment', 'timeline',
  'createSubtask', 'listSubtasks', 'updateSubtask', 'completeSubtask', 'deleteSubtask',
  'registerSession', 'listSessions', 'getSession', 'spawnSession', 'heartbeat', 'endSession',
  'listSkills', 'getSkill', 'skillPrompt',
  'status', 'events', 'latestSeq',
]
for (const name of FORWARDED) {
  if (typeof native.NativeClient.prototype[name] !== 'function') {
    throw new Error(`maestro-sdk: the native addon lacks ${name}(); rebuild it`)
  }
  Object.defineProperty(Client.prototype, name, {
    value: { [name](...args) { return call(Client.native(this), name, args) } }[name],
    writable: true,
    configurable: true,
  })
}

/** A Maestro server (the one `maestro serve` runs) embedded in this process. */
class Server {
  #native

  constructor(nativeServer) {
    if (!(nativeServer instanceof native.Server)) {
      throw new TypeError('Use serve() to start a Maestro server')
    }
    this.#native = nativeServer
  }

  /** The base URL to pass to connect(), e.g. http://127.0.0.1:40123. */
  get url() {
    return this.#native.url
  }

  /** The port the server listens on. */
  get port() {
    return this.#native.port
  }

  /** The database file it serves. */
  get db() {
    return this.#native.db
  }

  /** Shuts the server down gracefully and waits for it; calling it again does nothing. */
  close() {
    return call(this.#native, 'close', [])
  }
}

/**
 * Opens a local store: `path`, else MAESTRO_DB, else the nearest `.maestro/maestro.db`
 * upward from the working directory, else `$MAESTRO_HOME/maestro.db`.
 */
async function open(path, options) {
  return new Client(await call(native, 'open', [path ?? null, options ?? null]))
}

/**
 * A client of the Maestro server at `url` (default MAESTRO_API_URL, then config `apiUrl`),
 * sending `options.token` (default MAESTRO_TOKEN, then config `token`) as a bearer token.
 */
async function connect(url, options) {
  return new Client(await call(native, 'connect', [url ?? null, options ?? null]))
}

/** Starts a Maestro server on a local store (resolved like open()) in this process. */
async function serve(path, options) {
  return new Server(await call(native, 'serve', [path ?? null, options ?? null]))
}

module.exports = { open, connect, serve, Client, Server, Subscription, MaestroError, toMaestroError }
