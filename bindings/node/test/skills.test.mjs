// Skills and initial prompts: the bundled skills, on-disk overrides from MAESTRO_SKILLS_DIR
// (read when the client is opened, like the CLI), errors, and the rendered prompt.
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { MaestroError, connect, open, serve } from '../index.js'
import { rejection, tempDb } from './fixtures/helpers.mjs'

const BUNDLED = ['maestro-cli', 'maestro-orchestrator', 'maestro-worker']

/** Runs `fn(dir)` with MAESTRO_SKILLS_DIR set to a fresh temporary folder. */
async function withSkillsDir(fn) {
  const dir = mkdtempSync(join(tmpdir(), 'maestro-skills-'))
  const saved = process.env.MAESTRO_SKILLS_DIR
  process.env.MAESTRO_SKILLS_DIR = dir
  try {
    await fn(dir)
  } finally {
    if (saved === undefined) delete process.env.MAESTRO_SKILLS_DIR
    else process.env.MAESTRO_SKILLS_DIR = saved
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Writes a skill folder `<dir>/<name>` with its manifest and SKILL.md. */
function writeSkill(dir, manifest, body) {
  const folder = join(dir, manifest.name)
  mkdirSync(folder, { recursive: true })
  writeFileSync(join(folder, 'manifest.json'), JSON.stringify(manifest, null, 2))
  writeFileSync(
    join(folder, 'SKILL.md'),
    `---\nname: ${manifest.name}\ndescription: ${manifest.description}\n---\n\n${body}\n`,
  )
  return folder
}

test('the bundled skills are listed with their manifest fields', async () => {
  await withSkillsDir(async () => {
    const db = tempDb()
    try {
      const client = await open(db.path)
      const skills = await client.listSkills()
      assert.deepEqual(skills.map((s) => s.name).sort(), BUNDLED)
      // Highest priority first.
      const priorities = skills.map((s) => s.priority)
      assert.deepEqual(priorities, [...priorities].sort((a, b) => b - a))
      const worker = skills.find((s) => s.name === 'maestro-worker')
      assert.equal(worker.type, 'role')
      assert.deepEqual(worker.assignTo, ['worker'])
      assert.deepEqual(worker.dependencies, ['maestro-cli'])
      assert.match(worker.version, /^\d+\.\d+\.\d+$/)
      assert.ok(worker.description.length > 0)
      assert.deepEqual(worker.source, { kind: 'bundled' })
      assert.match(worker.skillMd, /^---\nname: maestro-worker\n/)
      assert.equal((await client.getSkill('maestro-cli')).type, 'system')
      assert.deepEqual(await client.getSkill('maestro-worker'), worker)
    } finally {
      db.cleanup()
    }
  })
})

test('a skill in MAESTRO_SKILLS_DIR overrides the bundled one and adds new ones', async () => {
  await withSkillsDir(async (dir) => {
    const folder = writeSkill(
      dir,
      {
        name: 'maestro-worker',
        version: '9.9.9',
        description: 'Team worker rules',
        type: 'role',
        assignTo: ['worker'],
        priority: 60,
        dependencies: ['maestro-cli'],
      },
      'Always run the linter before completing: TEAM-OVERRIDE-MARKER.',
    )
    writeSkill(dir, { name: 'team-review', version: '1.0.0', description: 'Review rules', type: 'system' }, 'Review.')
    const db = tempDb()
    try {
      const client = await open(db.path)
      const skills = await client.listSkills()
      assert.deepEqual(skills.map((s) => s.name).sort(), [...BUNDLED, 'team-review'].sort())
      const worker = await client.getSkill('maestro-worker')
      assert.equal(worker.version, '9.9.9')
      assert.equal(worker.priority, 60)
      assert.deepEqual(worker.source, { kind: 'dir', path: folder })
      assert.deepEqual(worker.capabilities, [])
      assert.equal((await client.getSkill('team-review')).dependencies.length, 0)

      await client.createProject('override')
      const task = await client.createTask('Fix the login bug')
      const prompt = await client.skillPrompt(task.id)
      assert.match(prompt, /TEAM-OVERRIDE-MARKER/)
    } finally {
      db.cleanup()
    }
  })
})

test('an unknown skill rejects with skill_not_found and a suggestion', async () => {
  await withSkillsDir(async () => {
    const db = tempDb()
    try {
      const client = await open(db.path)
      const err = await rejection(client.getSkill('maestro-nope'))
      assert.ok(err instanceof MaestroError)
      assert.equal(err.code, 'skill_not_found')
      assert.equal(err.details.skill, 'maestro-nope')
      assert.deepEqual([...err.details.available].sort(), BUNDLED)
      assert.match(err.suggestion, /maestro skill list/)
      assert.match(err.suggestion, /maestro-worker/)

      await client.createProject('errors')
      const task = await client.createTask('x')
      const bad = await rejection(client.skillPrompt(task.id, { skill: 'maestro-nope' }))
      assert.equal(bad.code, 'skill_not_found')
      assert.ok(bad.suggestion)
      assert.equal((await rejection(client.skillPrompt('t-missing'))).code, 'task_not_found')
      // A worker skill needs a task.
      const noTask = await rejection(client.skillPrompt(null, { skill: 'maestro-worker' }))
      assert.equal(noTask.code, 'no_task_context')
    } finally {
      db.cleanup()
    }
  })
})

test('skillPrompt renders the skills, the task and the next commands', async () => {
  await withSkillsDir(async () => {
    const db = tempDb()
    try {
      const client = await open(db.path)
      const project = await client.createProject('prompts')
      const a = await client.createTask('Design the schema')
      const b = await client.createTask('Write the migrations', { dependsOn: [a.id], description: 'Use v2 tables' })
      const session = await client.registerSession({ name: 'w1', role: 'worker' })
      client.sessionId = session.id

      const prompt = await client.skillPrompt(b.id)
      assert.equal(typeof prompt, 'string')
      assert.match(prompt, /Write the migrations/)
      assert.match(prompt, /Use v2 tables/)
      assert.ok(prompt.includes(b.id))
      assert.ok(prompt.includes(session.id), 'the acting session is named')
      assert.match(prompt, /## Next commands/)
      assert.ok(prompt.includes(`maestro task claim ${b.id} --json`))
      assert.ok(prompt.includes(`maestro task complete ${b.id} --json`))
      assert.match(prompt, /Design the schema/, 'the dependency is listed')
      // The worker skill and its dependency are both in the prompt.
      const worker = await client.getSkill('maestro-worker')
      const cli = await client.getSkill('maestro-cli')
      for (const skill of [worker, cli]) {
        assert.ok(prompt.includes(`<!-- skill: ${skill.name} ${skill.version} -->`), `the prompt holds ${skill.name}`)
      }
      // An explicit skill is honoured; the orchestrator prompt lists the project's tasks.
      const orchestrator = await client.skillPrompt(null, { skill: 'maestro-orchestrator' })
      assert.ok(orchestrator.includes(project.name))
      assert.ok(orchestrator.includes(a.id) && orchestrator.includes(b.id))
      assert.equal(await client.skillPrompt(b.id, { skill: 'maestro-worker' }), prompt)
    } finally {
      db.cleanup()
    }
  })
})

test('a connected client renders prompts from the server and the local skills dir', async () => {
  await withSkillsDir(async (dir) => {
    writeSkill(
      dir,
      { name: 'team-worker', version: '1.0.0', description: 'Team', type: 'role', assignTo: ['worker'], dependencies: [] },
      'REMOTE-TEAM-MARKER',
    )
    const db = tempDb()
    const server = await serve(db.path)
    try {
      const client = await connect(server.url)
      await client.createProject('remote')
      const task = await client.createTask('Remote task')
      assert.ok((await client.listSkills()).some((s) => s.name === 'team-worker'))
      const prompt = await client.skillPrompt(task.id, { skill: 'team-worker' })
      assert.match(prompt, /REMOTE-TEAM-MARKER/)
      assert.match(prompt, /Remote task/)
    } finally {
      await server.close()
      db.cleanup()
    }
  })
})
