import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { open } from '../index.js'
import { tempDb } from './fixtures/helpers.mjs'

const writer = fileURLToPath(new URL('./fixtures/writer.mjs', import.meta.url))

test('for await over subscribe() sees events written by another process, in seq order', { timeout: 60_000 }, async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    await client.createProject('events')
    const start = await client.latestSeq()
    const subscription = client.subscribe({ pollIntervalMs: 20 })

    const child = spawn(process.execPath, [writer, db.path, '25'], { stdio: 'inherit' })
    const exited = once(child, 'exit')

    const seen = []
    let created = 0
    for await (const event of subscription) {
      seen.push(event)
      if (event.type === 'task:created' && ++created === 25) break
    }
    const [code] = await exited
    assert.equal(code, 0)

    // Every event of the writer, none twice, none missing, in seq order.
    assert.deepEqual(seen.map((e) => e.seq), Array.from({ length: seen.length }, (_, i) => start + 1 + i))
    const titles = seen.filter((e) => e.type === 'task:created').map((e) => e.data.title.split(': ')[1])
    assert.deepEqual(titles, Array.from({ length: 25 }, (_, i) => String(i)))
    // break closed the subscription.
    assert.deepEqual(await subscription.next(), { done: true, value: undefined })
  } finally {
    db.cleanup()
  }
})

test('subscribe({ since }) replays the log, then delivers events of this process live', { timeout: 60_000 }, async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    const project = await client.createProject('replay')
    const other = await client.createProject('other')
    const a = await client.createTask('first')
    const subscription = client.subscribe({ since: 0, project: project.id })
    const replayed = []
    for (let i = 0; i < 3; i++) replayed.push((await subscription.next()).value)
    assert.deepEqual(replayed.map((e) => e.type), ['project:created', 'task:created', 'timeline:added'])
    assert.equal(replayed[1].data.id, a.id)

    await client.createTask('elsewhere', { projectId: other.id })
    const b = await client.createTask('second')
    const live = (await subscription.next()).value
    assert.equal(live.type, 'task:created')
    assert.equal(live.data.id, b.id, 'events of other projects are filtered out')
    assert.equal(live.projectId, project.id)
    await subscription.close()
  } finally {
    db.cleanup()
  }
})

test('close() ends a pending next()', { timeout: 60_000 }, async () => {
  const db = tempDb()
  try {
    const client = await open(db.path)
    await client.createProject('close')
    const subscription = client.subscribe({ pollIntervalMs: 5 })
    const pending = subscription.next()
    setTimeout(() => subscription.close(), 50)
    assert.deepEqual(await pending, { done: true, value: undefined })
    assert.deepEqual(await subscription.next(), { done: true, value: undefined })
  } finally {
    db.cleanup()
  }
})
