// The same behaviour against a real Maestro server (the core's server, embedded with serve()).
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { after, before, test } from 'node:test'
import { MaestroError, connect, open, serve } from '../index.js'
import { rejection, runLifecycle, tempDb } from './fixtures/helpers.mjs'

const writer = fileURLToPath(new URL('./fixtures/writer.mjs', import.meta.url))
let db
let server

before(async () => {
  db = tempDb()
  server = await serve(db.path)
})

after(async () => {
  await server.close()
  db.cleanup()
})

test('serve() listens on a free loopback port', () => {
  assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/)
  assert.ok(server.port > 0)
  assert.equal(server.db, db.path)
})

test('the foundation lifecycle against a server', { timeout: 120_000 }, async () => {
  const client = await connect(server.url)
  assert.equal(client.mode, 'remote')
  assert.ok(client.location.startsWith(server.url))
  await runLifecycle(client)
  // The server wrote to its store: a local client on the same file sees the same tasks.
  const local = await open(db.path)
  assert.equal((await local.status()).tasks.total, (await client.status()).tasks.total)
})

test('errors from the server carry the same codes', async () => {
  const client = await connect(server.url)
  const err = await rejection(client.getTask('t-doesnotexist'))
  assert.ok(err instanceof MaestroError)
  assert.equal(err.code, 'task_not_found')
  assert.deepEqual(err.details, { taskId: 't-doesnotexist' })
  assert.match(err.suggestion, /maestro task list/)
  assert.equal((await rejection(client.createTask('x', { priority: 'urgent' }))).code, 'invalid_priority')
})

test('for await over a server subscription sees another process writing, in seq order', { timeout: 120_000 }, async () => {
  const client = await connect(server.url)
  const start = await client.latestSeq()
  const subscription = client.subscribe()
  // The subscription starts after `start` (read when subscribe() is called), so events
  // written before its connection is up are replayed, not lost.
  const first = subscription.next()
  const child = spawn(process.execPath, [writer, server.url, '20'], { stdio: 'inherit' })
  const exited = once(child, 'exit')

  const seen = [(await first).value]
  let created = seen[0].type === 'task:created' ? 1 : 0
  while (created < 20) {
    const { value, done } = await subscription.next()
    assert.equal(done, false)
    seen.push(value)
    if (value.type === 'task:created') created++
  }
  assert.equal(subscription.state, 'connected')
  await subscription.close()
  assert.equal(subscription.state, 'disconnected')
  assert.deepEqual((await exited)[0], 0)

  assert.deepEqual(seen.map((e) => e.seq), Array.from({ length: seen.length }, (_, i) => start + 1 + i))
  const titles = seen.filter((e) => e.type === 'task:created').map((e) => e.data.title.split(': ')[1])
  assert.deepEqual(titles, Array.from({ length: 20 }, (_, i) => String(i)))
})

test('a server with a token refuses clients without it', { timeout: 60_000 }, async () => {
  const secured = tempDb()
  const guarded = await serve(secured.path, { token: 'sesame' })
  try {
    const saved = process.env.MAESTRO_TOKEN
    delete process.env.MAESTRO_TOKEN
    try {
      const err = await rejection((await connect(guarded.url)).listProjects())
      assert.equal(err.code, 'unauthorized')
    } finally {
      if (saved !== undefined) process.env.MAESTRO_TOKEN = saved
    }
    const client = await connect(guarded.url, { token: 'sesame' })
    assert.equal((await client.createProject('guarded')).name, 'guarded')
  } finally {
    await guarded.close()
    secured.cleanup()
  }
})

test('an unreachable server rejects with a retryable network code', { timeout: 60_000 }, async () => {
  const gone = tempDb()
  const temporary = await serve(gone.path)
  const url = temporary.url
  await temporary.close()
  gone.cleanup()
  const saved = process.env.MAESTRO_RETRIES
  process.env.MAESTRO_RETRIES = '0'
  try {
    const client = await connect(url)
    const err = await rejection(client.listProjects())
    assert.ok(['connection_refused', 'network_error'].includes(err.code), err.code)
    assert.equal(err.retryable, true)
  } finally {
    if (saved === undefined) delete process.env.MAESTRO_RETRIES
    else process.env.MAESTRO_RETRIES = saved
  }
})
