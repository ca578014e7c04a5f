import assert from 'node:assert/strict'
import { test } from 'node:test'
import { MaestroError, open } from '../index.js'
import { rejection, runLifecycle, tempDb } from './fixtures/helpers.mjs'

test('the foundation lifecycle on a local store', async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    assert.equal(client.mode, 'local')
    assert.equal(client.location, db.path)
    await runLifecycle(client)
  } finally {
    db.cleanup()
  }
})

test('errors carry a stable code, details and a suggestion', async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    await client.createProject('errors')
    const err = await rejection(client.getTask('t-doesnotexist'))
    assert.ok(err instanceof MaestroError)
    assert.ok(err instanceof Error)
    assert.equal(err.code, 'task_not_found')
    assert.equal(err.message, "Task 't-doesnotexist' does not exist")
    assert.deepEqual(err.details, { taskId: 't-doesnotexist' })
    assert.match(err.suggestion, /maestro task list/)
    assert.equal(err.retryable, false)
    assert.equal(err.toJSON().error, 'task_not_found')

    assert.equal((await rejection(client.createTask('x', { priority: 'urgent' }))).code, 'invalid_priority')
    assert.equal((await rejection(client.createTask('  '))).code, 'missing_required_field')
    assert.equal((await rejection(client.listTasks({ status: 'done' }))).code, 'invalid_status')
    assert.equal((await rejection(client.updateTask('t-nope', { title: 'x' }))).code, 'task_not_found')
    assert.equal((await rejection(client.getSession('s-nope'))).code, 'session_not_found')
    // A value of the wrong type is rejected as invalid_argument, also a Promise rejection.
    const typed = await rejection(client.createTask(42))
    assert.ok(typed instanceof MaestroError)
    assert.equal(typed.code, 'invalid_argument')
  } finally {
    db.cleanup()
  }
})

test('without a session, session-bound calls reject with no_session_context', async () => {
  const db = tempDb()
  const saved = process.env.MAESTRO_SESSION_ID
  delete process.env.MAESTRO_SESSION_ID
  try {
    const client = await open(db.path)
    await client.createProject('sessions')
    assert.equal(client.sessionId, undefined)
    assert.equal((await rejection(client.claimNext())).code, 'no_session_context')
    assert.equal((await rejection(client.heartbeat())).code, 'no_session_context')
  } finally {
    if (saved !== undefined) process.env.MAESTRO_SESSION_ID = saved
    db.cleanup()
  }
})

test('open() resolves the store from MAESTRO_DB and takes the session from the options', async () => {
  const db = tempDb()
  const saved = process.env.MAESTRO_DB
  process.env.MAESTRO_DB = db.path
  try {
    const first = await open()
    assert.equal(first.location, db.path)
    const project = await first.createProject('env')
    const s = await first.registerSession({ name: 'env-worker' })
    const second = await open(undefined, { sessionId: s.id, projectId: project.id })
    assert.equal(second.sessionId, s.id)
    assert.equal(second.projectId, project.id)
    await second.createTask('from env')
    assert.equal((await second.claimNext()).sessionIds[0], s.id)
  } finally {
    if (saved === undefined) delete process.env.MAESTRO_DB
    else process.env.MAESTRO_DB = saved
    db.cleanup()
  }
})

test('the event loop keeps running during 1,000 creates', async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    await client.createProject('busy')
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    try {
      for (let i = 0; i < 1000; i++) await client.createTask(`task ${i}`)
    } finally {
      clearInterval(timer)
    }
    // A store call that ran on the JavaScript thread would resolve without ever yielding
    // to the timers phase, so the interval could not fire during the loop.
    assert.ok(ticks > 0, `the interval fired ${ticks} times`)
    assert.equal((await client.status()).tasks.total, 1000)
  } finally {
    db.cleanup()
  }
})

test('reads that complete at once still settle on a later turn of the event loop', async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    await client.createProject('reads')
    const task = await client.createTask('read me')
    // Never settled synchronously or in the same microtask checkpoint.
    let settled = false
    const pending = client.getTask(task.id).then(() => (settled = true))
    await Promise.resolve()
    await Promise.resolve()
    assert.equal(settled, false)
    await pending
    // So a loop of awaited reads lets timers run between them.
    let ticks = 0
    const timer = setInterval(() => ticks++, 1)
    try {
      const started = Date.now()
      let reads = 0
      while (reads < 1000 || Date.now() - started < 20) {
        assert.equal((await client.getTask(task.id)).id, task.id)
        assert.ok((await client.latestSeq()) >= 2)
        reads++
      }
    } finally {
      clearInterval(timer)
    }
    assert.ok(ticks > 0, `the interval fired ${ticks} times`)
    // Errors of such reads reject the same way.
    const err = await rejection(client.getSession('s-missing'))
    assert.equal(err.code, 'session_not_found')
  } finally {
    db.cleanup()
  }
})

test('reads and writes in flight together settle with their own results', async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    await client.createProject('mixed')
    const tasks = await Promise.all(Array.from({ length: 40 }, (_, i) => client.createTask(`task ${i}`)))
    const results = await Promise.all(
      tasks.flatMap((t) => [
        client.getTask(t.id),
        client.updateTask(t.id, { title: `${t.title} (renamed)` }),
        client.events({ since: 0, limit: 5 }),
      ]),
    )
    tasks.forEach((t, i) => {
      const [detail, updated, events] = results.slice(3 * i, 3 * i + 3)
      assert.equal(detail.id, t.id)
      assert.equal(updated.title, `${t.title} (renamed)`)
      assert.deepEqual(events.map((e) => e.seq), [1, 2, 3, 4, 5])
    })
    for (const t of tasks) assert.equal((await client.getTask(t.id)).title, `${t.title} (renamed)`)
  } finally {
    db.cleanup()
  }
})
