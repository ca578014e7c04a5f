// Prints Maestro events as they happen, then stops after `--max` events or `--seconds`.
//
//   MAESTRO_DB=/tmp/demo.db node examples/node/listener.mjs --since 0 --max 20 --seconds 10
//
// `--since N` replays the event log after seq N first; without it only new events show.
import { parseArgs } from 'node:util'
import { open } from '../../bindings/node/index.js'

const { values } = parseArgs({
  options: {
    since: { type: 'string' },
    max: { type: 'string', default: '100' },
    seconds: { type: 'string', default: '10' },
    project: { type: 'string' },
  },
})

const client = await open()
const subscription = client.subscribe({
  since: values.since === undefined ? undefined : Number(values.since),
  project: values.project,
})
const timer = setTimeout(() => subscription.close(), Number(values.seconds) * 1000)

let count = 0
for await (const event of subscription) {
  const what = event.data.title ?? event.data.name ?? event.data.message ?? event.data.type ?? event.data.id ?? ''
  console.log(`#${event.seq} ${event.type} ${what}`)
  if (++count >= Number(values.max)) break
}
clearTimeout(timer)
console.log(`${count} event(s)`)
