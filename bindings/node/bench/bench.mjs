// Per-call cost of the Node binding on a local store, the counterpart of bench/facade.rs:
//
//   node bench/bench.mjs        (after scripts/test-node has built the release addon)
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { open } from '../index.js'

const GETS = 20_000
const CREATES = 10_000

const dir = mkdtempSync(join(tmpdir(), 'maestro-node-bench-'))
try {
  const client = await open(join(dir, 'bench.db'))
  await client.createProject('bench')
  const task = await client.createTask('Benchmark task', {
    description: 'A task with subtasks and a timeline',
    labels: ['bench'],
  })
  for (let i = 0; i < 2; i++) await client.createSubtask(task.id, `subtask ${i}`)
  for (let i = 0; i < 3; i++) await client.addProgress(task.id, `progress ${i}`)
  for (let i = 0; i < 1_000; i++) await client.getTask(task.id)

  // CPU time of the process (all threads): a busy machine inflates wall time, not this.
  const cpuUs = (since) => {
    const d = process.cpuUsage(since)
    return d.user + d.system
  }

  let start = process.hrtime.bigint()
  let cpu = process.cpuUsage()
  for (let i = 0; i < GETS; i++) await client.getTask(task.id)
  const get = Number(process.hrtime.bigint() - start) / 1e3 / GETS
  console.log(
    `node getTask: ${get.toFixed(1)} us/call wall, ${(cpuUs(cpu) / GETS).toFixed(1)} us/call cpu (${GETS} sequential awaits)`,
  )

  start = process.hrtime.bigint()
  cpu = process.cpuUsage()
  for (let i = 0; i < GETS; i++) await client.latestSeq()
  const seq = Number(process.hrtime.bigint() - start) / 1e3 / GETS
  console.log(
    `node latestSeq: ${seq.toFixed(1)} us/call wall, ${(cpuUs(cpu) / GETS).toFixed(1)} us/call cpu (${GETS} sequential awaits)`,
  )

  start = process.hrtime.bigint()
  cpu = process.cpuUsage()
  for (let i = 0; i < CREATES; i++) await client.createTask(`task ${i}`)
  const create = Number(process.hrtime.bigint() - start) / 1e9
  console.log(
    `node createTask x${CREATES}: ${create.toFixed(2)} s wall (${((create * 1e6) / CREATES).toFixed(1)} us/call), ` +
      `${(cpuUs(cpu) / CREATES).toFixed(1)} us/call cpu`,
  )
} finally {
  rmSync(dir, { recursive: true, force: true })
}
