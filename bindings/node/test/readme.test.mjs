// The README's JavaScript examples run as written (imported as 'maestro-sdk').
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { tempDb } from './fixtures/helpers.mjs'

const pkg = dirname(dirname(fileURLToPath(import.meta.url)))

test('the README examples run', { timeout: 60_000 }, () => {
  const readme = readFileSync(join(pkg, 'README.md'), 'utf8')
  const blocks = [...readme.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1])
  assert.equal(blocks.length, 3, 'the quick start, the worker loop and the events example')
  const dir = tempDb()
  try {
    mkdirSync(join(dir.dir, 'node_modules'))
    symlinkSync(pkg, join(dir.dir, 'node_modules', 'maestro-sdk'), 'dir')
    writeFileSync(join(dir.dir, 'readme.mjs'), blocks.join('\n'))
    const env = { ...process.env }
    for (const k of ['MAESTRO_DB', 'MAESTRO_SESSION_ID', 'MAESTRO_PROJECT_ID']) delete env[k]
    const run = spawnSync(process.execPath, ['readme.mjs'], { cwd: dir.dir, env, encoding: 'utf8', timeout: 50_000 })
    assert.equal(run.status, 0, run.stderr)
    assert.match(run.stdout, /task_not_found Run 'maestro task list'/)
    assert.match(run.stdout, /^2 completed$/m, 'the worker loop did the task the quick start left')
    assert.match(run.stdout, /task:updated/)
  } finally {
    dir.cleanup()
  }
})
