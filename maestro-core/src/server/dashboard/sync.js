// The page's sync client: the reconnect logic of the core's SyncClient (remote/sync.rs).
//
// It reconnects with bounded exponential backoff and jitter, resubscribes after the last
// seq it received (so every event is delivered exactly once and in seq order), sends a
// `ping` every heartbeat and treats two silent intervals as a dead connection, and passes
// `resync_required` on so the page reloads what it mirrors. Its state is `connected`,
// `reconnecting` or `disconnected` (closed for good: closed by the page, refused by the
// server, or the reconnect limit reached).

export const PROTOCOL_VERSION = 1;

export const DEFAULTS = Object.freeze({
  baseDelay: 200, // ms before the first retry; each further retry doubles it
  maxDelay: 5000, // upper bound of one delay
  jitter: 0.5, // randomized fraction of each delay
  heartbeat: 15000, // a ping this often; no traffic for twice as long = dead
  stable: 2000, // a connection that lasts this long resets the backoff
  connectTimeout: 10000, // socket open and `hello` within this long
  maxReconnects: Infinity, // consecutive failed attempts before giving up
});

/**
 * The delay before retry number `attempt` (0 for the first): `base * 2^attempt` capped at
 * `maxDelay`, of which the `jitter` fraction is scaled by `r` (uniform in [0, 1]). The same
 * rule as RetryPolicy::delay in the core.
 */
export function backoffDelay(attempt, r, o = DEFAULTS) {
  const capped = Math.min(o.baseDelay * 2 ** Math.min(attempt, 62), o.maxDelay);
  const jitter = Number.isFinite(o.jitter) ? Math.min(Math.max(o.jitter, 0), 1) : 0;
  const rr = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 1;
  return Math.min(Math.max(capped * (1 - jitter * (1 - rr)), 0), o.maxDelay);
}

/**
 * What the client has received: the resume point. `onFrame` says what a frame means:
 * `{event}` (a new event, in order), `{resync: {lastSeq, oldest}, since}` (reload, then
 * subscribe again after `since`), or `null` (nothing to deliver: a duplicate, a pong).
 */
export class Tracker {
  constructor(lastSeq = null) {
    this.lastSeq = lastSeq;
  }

  onFrame(frame) {
    if (typeof frame?.type !== 'string') return null;
    if (frame.type.includes(':')) {
      if (typeof frame.seq !== 'number') return null;
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return null;
      this.lastSeq = frame.seq;
      return { event: frame };
    }
    if (frame.type === 'resync_required') {
      // The events after our resume point were pruned, or the server's log is behind us
      // (another database): reload, and resume at `oldest`.
      const lastSeq = this.lastSeq ?? 0;
      const since = Math.max((frame.oldest ?? 1) - 1, 0);
      this.lastSeq = since;
      return { resync: { lastSeq, oldest: frame.oldest }, since };
    }
    return null;
  }
}

/** A failure that retrying cannot fix (credentials, another protocol version). */
export class Fatal extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/**
 * Follows `/ws`. Callbacks: `onHello({seq, first})` (first = no resume point yet: load the
 * state, the events after `seq` follow), `onEvent(event)`, `onResync({lastSeq, oldest})`,
 * `onState(state, info)` with info `{attempt, delay, error}`.
 *
 * `url()` and `protocols()` are read at every attempt (the token may change); `probe()`
 * runs after a failed attempt and rejects with a Fatal when retrying cannot help (a browser
 * is not told why a WebSocket handshake failed, so a 401 is found by asking the REST API).
 */
export class SyncClient {
  constructor({ url, protocols = () => [], probe = async () => {}, options = {}, ...callbacks }) {
    this.url = url;
    this.protocols = protocols;
    this.probe = probe;
    this.o = { ...DEFAULTS, ...options };
    this.cb = callbacks;
    this.tracker = new Tracker(null);
    this.state = 'reconnecting';
    this.ws = null;
    this.failures = 0;
    this.failedReconnects = 0;
    this.timers = new Set();
    this.closed = false;
    this.lastError = null;
  }

  get lastSeq() {
    return this.tracker.lastSeq;
  }

  start() {
    this.closed = false;
    this.attempt();
  }

  /** Starts again after `disconnected` (after a login, or the Retry button). */
  restart() {
    if (this.ws) return;
    this.clearTimers();
    this.failures = 0;
    this.failedReconnects = 0;
    this.setState('reconnecting', { attempt: 1, delay: 0 });
    this.start();
  }

  /** Closes for good: `disconnected`. */
  close(reason = 'closed') {
    this.closed = true;
    this.clearTimers();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onmessage = ws.onerror = ws.onopen = null;
      try {
        ws.close(1000, reason);
      } catch {
        // already closing
      }
    }
    this.setState('disconnected', { error: this.lastError });
  }

  /** Skips the wait of a pending reconnection (the network came back). */
  retryNow() {
    if (this.closed || this.ws || this.state !== 'reconnecting') return;
    this.clearTimers();
    this.attempt();
  }

  setState(state, info = {}) {
    if (this.state === state && state !== 'reconnecting') return;
    this.state = state;
    this.cb.onState?.(state, info);
  }

  later(fn, ms) {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  clearTimers() {
    for (const t of this.timers) {
      clearTimeout(t);
      clearInterval(t);
    }
    this.timers.clear();
  }

  send(frame) {
    if (this.ws && this.ws.readyState === 1) this.ws.send(JSON.stringify(frame));
  }

  attempt() {
    if (this.closed) return;
    let ws;
    try {
      ws = new WebSocket(this.url(), this.protocols());
    } catch (e) {
      // A token that cannot be a subprotocol, a bad URL: retrying will not help.
      this.fail(new Fatal('invalid_argument', `Cannot open the WebSocket: ${e.message}`));
      return;
    }
    this.ws = ws;
    let helloSeen = false;
    let connectedAt = null;
    let lastRx = Date.now();
    const timeout = this.later(() => {
      if (!helloSeen) ws.close(4000, 'no hello');
    }, this.o.connectTimeout);

    ws.onmessage = (msg) => {
      lastRx = Date.now();
      let frame;
      try {
        frame = JSON.parse(msg.data);
      } catch {
        return; // not ours; ignored like an unknown frame
      }
      if (!helloSeen) {
        if (frame.type !== 'hello') {
          this.fail(new Fatal('server_error', 'The server did not start with hello: is this a Maestro server?'));
          return;
        }
        if (frame.protocol !== PROTOCOL_VERSION) {
          this.fail(
            new Fatal(
              'invalid_argument',
              `The server speaks sync protocol ${frame.protocol}, this page ${PROTOCOL_VERSION}: reload the page`,
            ),
          );
          return;
        }
        helloSeen = true;
        clearTimeout(timeout);
        this.timers.delete(timeout);
        const first = this.tracker.lastSeq === null;
        if (first) this.tracker.lastSeq = frame.seq;
        this.send({ type: 'subscribe', since: this.tracker.lastSeq });
        connectedAt = Date.now();
        this.lastError = null;
        this.setState('connected', {});
        this.cb.onHello?.({ seq: frame.seq, first });
        const hb = setInterval(() => {
          if (Date.now() - lastRx >= this.o.heartbeat * 2) {
            ws.close(4001, 'no traffic');
            return;
          }
          this.send({ type: 'ping' });
        }, this.o.heartbeat);
        this.timers.add(hb);
        return;
      }
      const r = this.tracker.onFrame(frame);
      if (!r) return;
      if (r.event) this.cb.onEvent?.(r.event);
      else if (r.resync) {
        this.send({ type: 'subscribe', since: r.since });
        this.cb.onResync?.(r.resync);
      }
    };

    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.clearTimers();
      if (this.closed) return;
      const lasted = connectedAt === null ? 0 : Date.now() - connectedAt;
      // A connection that dies at once counts as a failed attempt, so a server that
      // accepts and drops is not hammered.
      if (connectedAt !== null && lasted >= this.o.stable) {
        this.failures = 0;
        this.failedReconnects = 0;
      } else {
        this.failures += 1;
        this.failedReconnects += 1;
      }
      const why = ev.reason ? `${ev.code} ${ev.reason}` : `code ${ev.code}`;
      this.lastError = connectedAt === null ? `Cannot connect (${why})` : `Connection lost (${why})`;
      if (connectedAt === null) {
        // Why did the handshake fail? Ask the REST API; a 401 is final.
        this.probe().then(
          () => this.scheduleRetry(),
          (e) => (e instanceof Fatal ? this.fail(e) : this.scheduleRetry()),
        );
      } else {
        this.scheduleRetry();
      }
    };
    ws.onerror = () => {
      // onclose follows and decides.
    };
  }

  scheduleRetry() {
    if (this.closed || this.ws) return;
    if (this.failedReconnects >= this.o.maxReconnects) {
      this.close('gave up');
      return;
    }
    const delay = this.failures > 0 ? backoffDelay(this.failures - 1, Math.random(), this.o) : 0;
    this.setState('reconnecting', { attempt: this.failures + 1, delay, error: this.lastError });
    this.later(() => this.attempt(), delay);
  }

  fail(e) {
    this.lastError = e.message;
    this.closed = true;
    const ws = this.ws;
    this.ws = null;
    this.clearTimers();
    if (ws) {
      ws.onclose = ws.onmessage = ws.onerror = null;
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
    }
    this.setState('disconnected', { error: e.message, code: e.code });
  }
}
