// Type-checked (tsc --noEmit --strict) by scripts/test-node: the public API as a TypeScript
// user writes it. Not run; the behaviour is covered by the *.test.mjs files.

import { connect, open, serve, MaestroError, type Server, type SubscriptionItem, type Client, type MaestroEvent, type Page, type Project, type ProjectInit, type Skill, type SkillPromptOptions, type Task, type TaskDetail, type TimelineEntry } from '../index.js'

async function worker(client: Client): Promise<number> {
  let done = 0
  for (;;) {
    let task: Task
    try {
      task = await client.claimNext()
    } catch (err) {
      if (err instanceof MaestroError && err.code === 'nothing_ready') return done
      if (err instanceof MaestroError && (err.code === 'session_lost' || err.code === 'session_ended')) return done
      throw err
    }
    const entry: TimelineEntry = await client.addProgress(task.id, `working on ${task.title}`)
    if (entry.type === 'progress') console.log(entry.message.toUpperCase())
    const sub = await client.createSubtask(task.id, 'check', { description: 'verify' })
    await client.completeSubtask(task.id, sub.id)
    const finished: Task = await client.completeTask(task.id)
    const status: 'completed' = finished.status === 'completed' ? finished.status : 'completed'
    console.log(status)
    done++
  }
}

async function main(): Promise<void> {
  const client: Client = await open('/tmp/example.db', { sessionId: 's-1' })
  const mode: 'local' | 'remote' = client.mode
  client.sessionId = undefined
  const project = await client.createProject('typed', { makeDefault: true })
  const a = await client.createTask('A', { priority: 'high', labels: ['x'], metadata: { k: 1 } })
  await client.createTask('B', { dependsOn: [a.id], description: 'second' })
  const page = await client.listTasks({ status: 'pending', limit: 10, ready: true })
  const next: string | null = page.nextCursor
  const detail: TaskDetail = await client.getTask(a.id)
  const deps: string[] = detail.dependencyDetails.map((d) => d.status)
  const why: string | null = detail.blockedReason
  const total: number = detail.timelineTotal
  const history: Page<TimelineEntry> = await client.timeline(a.id, { limit: 10 })
  const more: Page<TimelineEntry> = await client.timeline(a.id, { cursor: history.nextCursor ?? undefined })
  for (const e of more.items) if (e.type === 'override') console.log(e.action, e.sessionIds.join(','))
  const init: ProjectInit = await client.initProject('typed')
  const chosen: Project = await client.useProject(init.project.id)
  const isDefault: boolean = chosen.default && init.created
  console.log(why, total, history.nextCursor, isDefault)
  await client.updateTask(a.id, { title: 'A2', addDependencies: [], expectedVersion: detail.version })
  await client.blockTask(a.id, 'waiting')
  await client.startTask(a.id, { force: true })
  const session = await client.registerSession({ name: 'w', role: 'worker' })
  await client.claimTask(a.id, session.id, { force: true })
  await client.spawnSession(a.id, { agent: 'claude', skill: 'maestro-worker', force: true })
  await client.heartbeat(session.id)
  await client.endSession(session.id, 'failed')
  const report = await client.status()
  const pending: number = report.tasks.byStatus.pending + report.tasks.byPriority.high
  const events: MaestroEvent[] = await client.events({ since: 0, limit: 5 })
  console.log(mode, project.name, next, deps, pending, events.length, await worker(client))

  const skills: Skill[] = await client.listSkills()
  const names: string[] = skills.filter((s) => s.type === 'system' || s.assignTo.includes('worker')).map((s) => s.name)
  const workerSkill: Skill = await client.getSkill('maestro-worker')
  const where: string = workerSkill.source.kind === 'dir' ? workerSkill.source.path : 'bundled'
  const promptOptions: SkillPromptOptions = { skill: workerSkill.name }
  const prompt: string = await client.skillPrompt(a.id, promptOptions)
  const orchestration: string = await client.skillPrompt(null, { skill: 'maestro-orchestrator' })
  console.log(names, workerSkill.priority + workerSkill.dependencies.length, where, prompt.length, orchestration.length)

  const subscription = client.subscribe({ since: events.at(-1)?.seq ?? 0, project: project.id })
  const state: 'connected' | 'reconnecting' | 'disconnected' = subscription.state
  for await (const item of subscription) {
    const any: SubscriptionItem = item
    if (item.type === 'resync_required') {
      const oldest: number = item.oldest
      console.log(oldest, any)
      continue
    }
    const seq: number = item.seq
    if (item.type === 'task:created' || seq > 100) break
  }
  await subscription.close()
  console.log(state)

  const server: Server = await serve('/tmp/served.db', { port: 0, token: 'secret' })
  const remote = await connect(server.url, { token: 'secret', sessionId: session.id })
  const remoteMode: 'local' | 'remote' = remote.mode
  console.log(remoteMode, server.port, server.db, (await remote.readyTasks({ limit: 3 })).length)
  await server.close()

  try {
    await client.getTask('t-missing')
  } catch (err) {
    if (err instanceof MaestroError) {
      const code: MaestroError['code'] = err.code
      console.log(code, err.details, err.suggestion ?? '', err.retryable)
    }
  }
}

// @ts-expect-error priorities are checked
void (async (c: Client) => c.createTask('x', { priority: 'urgent' }))

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})

// @ts-expect-error a prompt is a string
void (async (c: Client): Promise<number> => c.skillPrompt('t-1'))

// @ts-expect-error skill options are checked
void (async (c: Client) => c.skillPrompt('t-1', { skil: 'maestro-worker' }))

// @ts-expect-error results are typed, not `any`
void (async (c: Client): Promise<number> => (await c.getTask('t-1')).title)

// Short reads always return Promises of the parsed value, like every other method.
void ((c: Client): [Promise<TaskDetail>, Promise<number>, Promise<MaestroEvent[]>] => [
  c.getTask('t-1'),
  c.latestSeq(),
  c.events({ since: 0 }),
])

// @ts-expect-error a short read is not returned synchronously
void ((c: Client): number => c.latestSeq())
