// The core's rules as a Node client meets them: ownership, leases, spawn checks, blocking, the
// paged timeline, projects and the subscription's default start. Most run on a local store and
// through an embedded server.
import assert from 'node:assert/strict'
import { realpathSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { test } from 'node:test'
import { MaestroError, connect, open, serve } from '../index.js'
import { bothModes, rejection, tempDb } from './fixtures/helpers.mjs'

// A lease short enough for a test to outlive it; the waits below are twice as long.
const LEASE_SECONDS = 0.3
const pastTheLease = () => sleep(2 * LEASE_SECONDS * 1000)

/** Runs `fn` with MAESTRO_LEASE_SECONDS set (read by open() and serve() when they start). */
async function withShortLease(fn) {
  const saved = process.env.MAESTRO_LEASE_SECONDS
  process.env.MAESTRO_LEASE_SECONDS = String(LEASE_SECONDS)
  try {
    return await fn()
  } finally {
    if (saved === undefined) delete process.env.MAESTRO_LEASE_SECONDS
    else process.env.MAESTRO_LEASE_SECONDS = saved
  }
}

bothModes(test, "a worker's writes to a task another session owns reject with task_claimed", async ({ client, worker }) => {
  const t = await client.createTask('owned')
  const [w1, w2] = [await worker('w1'), await worker('w2')]
  assert.deepEqual((await w1.claimTask(t.id)).sessionIds, [w1.sessionId])
  const writes = {
    start: () => w2.startTask(t.id),
    progress: () => w2.addProgress(t.id, 'mine now'),
    complete: () => w2.completeTask(t.id),
    block: () => w2.blockTask(t.id, 'in my way'),
    subtask: () => w2.createSubtask(t.id, 'extra step'),
    update: () => w2.updateTask(t.id, { title: 'renamed' }),
    claim: () => w2.claimTask(t.id),
  }
  for (const [name, write] of Object.entries(writes)) {
    const err = await rejection(write())
    assert.ok(err instanceof MaestroError, name)
    assert.equal(err.code, 'task_claimed', name)
    assert.deepEqual(err.details.sessionIds, [w1.sessionId], name)
    assert.ok(err.message.includes(w1.sessionId), name)
    assert.match(err.suggestion, /claim --next/, name)
  }
  const detail = await client.getTask(t.id)
  assert.deepEqual([detail.title, detail.status, detail.subtasks], ['owned', 'in_progress', []])
  assert.deepEqual(detail.timeline.filter((e) => e.actorSessionId === w2.sessionId), [])
  // The owner goes on; a client without a session may act on any task.
  await w1.addProgress(t.id, 'going on')
  await client.addProgress(t.id, 'a note from a person')
})

bothModes(test, 'force takes a task over and the previous owner gets claim_released', async ({ client, worker }) => {
  const t = await client.createTask('contested')
  const [w1, w2] = [await worker('w1'), await worker('w2')]
  const first = await w1.claimTask(t.id)
  const taken = await w2.claimTask(t.id, null, { force: true })
  assert.deepEqual(taken.sessionIds, [w2.sessionId])
  assert.ok(taken.claimEpoch > first.claimEpoch)
  const err = await rejection(w1.addProgress(t.id, 'a late write'))
  assert.equal(err.code, 'claim_released')
  assert.match(err.suggestion, /Stop working/)
  const overrides = (await client.timeline(t.id)).items.filter((e) => e.type === 'override')
  assert.deepEqual(
    overrides.map((e) => [e.action, e.sessionIds, e.actorSessionId]),
    [['claim', [w1.sessionId], w2.sessionId]],
  )
})

bothModes(test, 'an ended session is told so', async ({ client, worker }) => {
  const t = await client.createTask('t')
  const w = await worker('w')
  await w.claimTask(t.id)
  assert.equal((await w.endSession()).status, 'completed')
  for (const call of [() => w.addProgress(t.id, 'after the end'), () => w.heartbeat(), () => w.claimNext()]) {
    assert.equal((await rejection(call())).code, 'session_ended')
  }
})

test('a lost session is refused and its task is claimable again, with no host or server', { timeout: 60_000 }, async () => {
  const db = tempDb()
  try {
    await withShortLease(async () => {
      // The lease comes from MAESTRO_LEASE_SECONDS, as for the CLI.
      const client = await open(db.path)
      await client.createProject('leases')
      const t = await client.createTask('abandoned')
      const w1 = await open(db.path, { sessionId: (await client.registerSession({ name: 'w1' })).id })
      assert.equal((await w1.claimNext()).id, t.id)
      await pastTheLease()
      // The facade declares w1 lost before the next call and gives its task back.
      const w2 = await open(db.path, { sessionId: (await client.registerSession({ name: 'w2' })).id })
      const taken = await w2.claimNext()
      assert.deepEqual([taken.id, taken.sessionIds], [t.id, [w2.sessionId]])
      const lost = await client.getSession(w1.sessionId)
      assert.equal(lost.status, 'lost')
      assert.ok(lost.reason)
      const released = (await client.timeline(t.id)).items.filter((e) => e.type === 'released')
      assert.deepEqual(released.map((e) => e.sessionId), [w1.sessionId])
      for (const call of [() => w1.addProgress(t.id, 'still here?'), () => w1.heartbeat(), () => w1.claimNext(), () => w1.getTask(t.id)]) {
        const err = await rejection(call())
        assert.equal(err.code, 'session_lost')
        assert.ok(err.suggestion)
      }
    })
  } finally {
    db.cleanup()
  }
})

test("an embedded server releases a lost session's task", { timeout: 60_000 }, async () => {
  const db = tempDb()
  try {
    await withShortLease(async () => {
      const server = await serve(db.path)
      try {
        const client = await connect(server.url)
        await client.createProject('leases')
        const t = await client.createTask('abandoned')
        const w1 = await connect(server.url, { sessionId: (await client.registerSession({ name: 'w1' })).id })
        await w1.claimNext()
        await pastTheLease()
        // The server keeps the lease itself: a plain client sees the task back in the queue.
        assert.deepEqual((await client.readyTasks()).map((r) => r.id), [t.id])
        const detail = await client.getTask(t.id)
        assert.deepEqual([detail.status, detail.sessionIds], ['pending', []])
        assert.equal((await client.getSession(w1.sessionId)).status, 'lost')
        const w2 = await connect(server.url, { sessionId: (await client.registerSession({ name: 'w2' })).id })
        assert.equal((await w2.claimNext()).id, t.id)
        assert.equal((await rejection(w1.completeTask(t.id))).code, 'session_lost')
        // (Read as w2: a read refreshes its own session, so it outlives the short lease.)
        assert.deepEqual((await w2.getTask(t.id)).sessionIds, [w2.sessionId])
      } finally {
        await server.close()
      }
    })
  } finally {
    db.cleanup()
  }
})

bothModes(test, 'spawn requests are checked at once', async ({ client, db }) => {
  const a = await client.createTask('a')
  const b = await client.createTask('b', { dependsOn: [a.id] })
  assert.equal((await client.spawnSession(b.id)).status, 'waiting')
  // A folder under the spawn roots (by default the project's directory) is accepted...
  const spawned = await client.spawnSession(a.id, { agent: 'claude', cwd: process.cwd() })
  assert.equal(spawned.status, 'spawning')
  // ...and one outside them is refused at once, naming the roots.
  const outside = await rejection(client.spawnSession(a.id, { cwd: db.dir, force: true }))
  assert.equal(outside.code, 'invalid_argument')
  assert.deepEqual(outside.details.spawnRoots, [realpathSync(process.cwd())])
  const twice = await rejection(client.spawnSession(a.id))
  assert.equal(twice.code, 'task_claimed')
  assert.deepEqual(twice.details.sessionIds, [spawned.id])
  assert.equal((await client.spawnSession(a.id, { force: true })).status, 'spawning')
  const agent = await rejection(client.spawnSession(a.id, { agent: 'nosuch', force: true }))
  assert.equal(agent.code, 'invalid_argument')
  assert.ok(agent.details.available.includes('claude'))
  assert.equal((await rejection(client.spawnSession(a.id, { skill: 'nosuch', force: true }))).code, 'skill_not_found')
  const done = await client.createTask('done')
  await client.startTask(done.id)
  await client.completeTask(done.id)
  assert.equal((await rejection(client.spawnSession(done.id))).code, 'invalid_transition')
})

test('a spawn for a missing directory is refused', async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    await client.createProject('spawn')
    const t = await client.createTask('t')
    const err = await rejection(client.spawnSession(t.id, { cwd: `${db.dir}/nowhere` }))
    assert.equal(err.code, 'invalid_argument')
    assert.equal(err.details.field, 'cwd')
  } finally {
    db.cleanup()
  }
})

bothModes(test, 'the block reason is a field, and blocking again records the new one', async ({ client }) => {
  const t = await client.createTask('t')
  assert.equal(t.blockedReason, null)
  await client.startTask(t.id)
  assert.equal((await client.blockTask(t.id, 'waiting for the DBA')).blockedReason, 'waiting for the DBA')
  assert.equal((await client.blockTask(t.id, 'the DBA is on holiday')).blockedReason, 'the DBA is on holiday')
  assert.equal((await client.getTask(t.id)).blockedReason, 'the DBA is on holiday')
  const reasons = (await client.timeline(t.id)).items.filter((e) => e.type === 'blocked').map((e) => e.reason)
  assert.deepEqual(reasons, ['waiting for the DBA', 'the DBA is on holiday'])
  assert.equal((await client.startTask(t.id)).blockedReason, null)
})

bothModes(test, 'getTask shows the newest 50 entries and timeline() pages the whole history', async ({ client }) => {
  const t = await client.createTask('a long history')
  for (let i = 0; i < 70; i++) await client.addProgress(t.id, `step ${i}`)
  const detail = await client.getTask(t.id)
  assert.equal(detail.timelineTotal, 71)
  assert.deepEqual(detail.timeline.map((e) => e.message), Array.from({ length: 50 }, (_, i) => `step ${i + 20}`))
  const pages = []
  let cursor
  do {
    const page = await client.timeline(t.id, { limit: 30, cursor })
    pages.push(page.items)
    cursor = page.nextCursor
  } while (cursor !== null)
  assert.deepEqual(pages.map((p) => p.length), [30, 30, 11])
  const entries = pages.flat()
  assert.equal(entries[0].type, 'created')
  assert.deepEqual(entries.slice(1).map((e) => e.message), Array.from({ length: 70 }, (_, i) => `step ${i}`))
  entries.forEach((e, i) => i > 0 && assert.ok(e.id > entries[i - 1].id, 'oldest first, no entry twice'))
  assert.deepEqual(entries.slice(-50), detail.timeline)
  assert.equal((await rejection(client.timeline(t.id, { limit: 0 }))).code, 'invalid_argument')
  assert.equal((await rejection(client.timeline(t.id, { cursor: 'not a cursor' }))).code, 'invalid_argument')
})

bothModes(test, 'initProject reuses a project by name and useProject switches the default', async ({ client }) => {
  const demo = await client.getProject()
  assert.deepEqual([demo.name, demo.default], ['demo', true])
  const again = await client.initProject('demo')
  assert.deepEqual([again.created, again.project.id], [false, demo.id])
  const other = await client.initProject('other')
  assert.equal(other.created, true)
  assert.equal(other.project.default, false)
  assert.equal((await client.getProject()).id, demo.id, 'init never switches the default project')
  const used = await client.useProject(other.project.id)
  assert.deepEqual([used.id, used.default], [other.project.id, true])
  assert.deepEqual(
    Object.fromEntries((await client.listProjects()).map((p) => [p.name, p.default])),
    { demo: false, other: true },
  )
  assert.equal((await client.createTask('lands in the new default')).projectId, other.project.id)
})

bothModes(test, 'subscribe() starts from now by default; since: 0 replays the log', async ({ client }) => {
  const before = await client.createTask('written before subscribing')
  const latest = await client.latestSeq()
  const live = client.subscribe()
  try {
    // Wait until the subscription is up, so the task below is written after it started.
    while (live.state !== 'connected') await sleep(10)
    const after = await client.createTask('written after')
    const { value } = await live.next()
    assert.deepEqual([value.seq, value.type, value.data.id], [latest + 1, 'task:created', after.id])
  } finally {
    await live.close()
  }
  const replay = client.subscribe({ since: 0 })
  const seen = []
  for await (const event of replay) {
    seen.push(event)
    if (event.seq === latest) break
  }
  assert.deepEqual(seen.map((e) => e.seq), Array.from({ length: latest }, (_, i) => i + 1))
  assert.ok(seen.some((e) => e.type === 'task:created' && e.data.id === before.id))
  assert.equal((await rejection(client.subscribe({ since: -1 }).next())).code, 'invalid_argument')
})
