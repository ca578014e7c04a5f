// A worker agent: claim the next ready task, report progress, complete it; repeat until
// nothing is ready.
//
//   MAESTRO_DB=/tmp/demo.db node examples/node/worker.mjs
//
// The store is resolved like the CLI's (MAESTRO_DB, the nearest .maestro/maestro.db, ...).
// MAESTRO_SESSION_ID names the worker's session; without it the worker registers one.
import { MaestroError, open } from '../../bindings/node/index.js'

const client = await open()
if (!client.sessionId) {
  const session = await client.registerSession({ name: `node-worker-${process.pid}`, role: 'worker' })
  client.sessionId = session.id
}

let done = 0
let ended = false
for (;;) {
  try {
    const task = await client.claimNext()
    console.log(`claimed ${task.id}: ${task.title}`)
    await client.addProgress(task.id, `working on "${task.title}"`)
    for (const subtask of await client.listSubtasks(task.id)) {
      if (!subtask.completed) await client.completeSubtask(task.id, subtask.id)
    }
    await client.completeTask(task.id)
    console.log(`completed ${task.id}`)
    done++
  } catch (err) {
    if (!(err instanceof MaestroError)) throw err
    if (err.code === 'nothing_ready') break
    // The task was taken over: it is someone else's now.
    if (err.code === 'claim_released') continue
    // The session can no longer act (a lost one's tasks went back to the queue): stop.
    if (err.code === 'session_lost' || err.code === 'session_ended') {
      console.log(`stopping: ${err.message}`)
      ended = true
      break
    }
    throw err
  }
}

if (!ended) await client.endSession()
console.log(`nothing ready: ${done} task(s) completed by ${client.sessionId}`)
