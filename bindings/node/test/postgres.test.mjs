// The addon on a real PostgreSQL database. MAESTRO_TEST_PG_URL names one (postgres://…);
// scripts/test-node starts a throwaway cluster and sets it, with MAESTRO_TEST_PG_REQUIRED=1,
// so there these tests fail instead of skipping when the URL is missing. Each test works in
// a project of its own, so a database given by the caller may be used again.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { test } from 'node:test'
import { MaestroError, open } from '../index.js'
import { rejection } from './fixtures/helpers.mjs'

const url = process.env.MAESTRO_TEST_PG_URL || ''
const required = process.env.MAESTRO_TEST_PG_REQUIRED === '1'
const skip = url || required ? false : 'no PostgreSQL: set MAESTRO_TEST_PG_URL=postgres://… to run these tests'

/** A client of the database acting on a new project of its own. */
async function pgClient() {
  assert.ok(url, 'MAESTRO_TEST_PG_URL is not set, and the PostgreSQL tests must run here')
  const setup = await open(url)
  const project = await setup.createProject(`node-${randomUUID().slice(0, 8)}`)
  return open(url, { projectId: project.id })
}

test('create, claim and complete on PostgreSQL, seen by another client', { skip }, async () => {
  const client = await pgClient()
  const task = await client.createTask('on postgres', { priority: 'high' })
  const session = await client.registerSession({ name: 'pg-worker', role: 'worker' })
  client.sessionId = session.id
  const claimed = await client.claimNext()
  assert.equal(claimed.id, task.id)
  assert.equal(claimed.status, 'in_progress')
  assert.deepEqual(claimed.sessionIds, [session.id])
  assert.equal((await client.completeTask(task.id)).status, 'completed')

  // Another client (another process would do the same) reads what this one wrote.
  const other = await open(url, { projectId: client.projectId })
  assert.equal((await other.getTask(task.id)).status, 'completed')
  const status = await other.status()
  assert.equal(status.tasks.total, 1)
  assert.equal(status.tasks.byStatus.completed, 1)
  assert.equal(status.tasks.ready, 0)

  const missing = await rejection(other.getTask('t-doesnotexist'))
  assert.ok(missing instanceof MaestroError)
  assert.equal(missing.code, 'task_not_found')
  // A completed task may only be reopened: cancelling it is refused.
  assert.equal((await rejection(other.cancelTask(task.id))).code, 'invalid_transition')
  assert.equal((await rejection(client.claimNext())).code, 'nothing_ready')
})

test('an unreachable PostgreSQL database rejects with a retryable storage_error', async () => {
  const err = await rejection(open('postgres://maestro@127.0.0.1:1/maestro').then((c) => c.listProjects()))
  assert.ok(err instanceof MaestroError)
  assert.equal(err.code, 'storage_error')
  assert.equal(err.retryable, true)
  assert.match(err.message, /127\.0\.0\.1:1/)
  assert.ok(err.suggestion)
})
