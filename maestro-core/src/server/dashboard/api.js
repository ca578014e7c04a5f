// The REST API of `maestro serve`, with the tab's bearer token.

const TOKEN_KEY = 'maestro.token';

/** The token of this tab (sessionStorage: gone when the tab closes). */
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || null;
  } catch {
    return null;
  }
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** A failed call: the server's error object (`code`, `message`, `suggestion`, `details`). */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error || (status === 0 ? 'network_error' : 'server_error');
    this.suggestion = body?.suggestion || '';
    this.details = body?.details || {};
  }
}

/** A random key for Idempotency-Key (crypto.randomUUID needs a secure context). */
export function randomId() {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

/** Calls the API; resolves with the parsed JSON body, rejects with an ApiError. */
export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const t = token();
  if (t) headers.Authorization = `Bearer ${t}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET') headers['Idempotency-Key'] = randomId();
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
    });
  } catch (e) {
    throw new ApiError(0, { message: `The server cannot be reached (${e.message})` });
  }
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, json);
  return json;
}

export const get = (path) => call('GET', path);
export const post = (path, body = {}) => call('POST', path, body);

/** `?a=1&b=x` from an object, leaving out empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : '';
}

/** Every item of a paged list (`{items, nextCursor}`), following the cursors. */
export async function all(path, params = {}) {
  const items = [];
  let cursor = null;
  for (;;) {
    const page = await get(path + query({ ...params, limit: 1000, cursor }));
    items.push(...page.items);
    if (!page.nextCursor) return items;
    cursor = page.nextCursor;
  }
}

/** `ws://host/ws` of the page's server. */
export function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/ws`;
}

/** Unpadded base64url of a UTF-8 string. */
export function base64url(text) {
  let bin = '';
  for (const b of new TextEncoder().encode(text)) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The WebSocket subprotocols: "maestro", and the token as "bearer.<base64url>". */
export function wsProtocols() {
  const t = token();
  return t ? ['maestro', `bearer.${base64url(t)}`] : ['maestro'];
}
