// Turns the type definitions napi-derive writes at build time (NAPI_TYPE_DEF_TMP_FOLDER, one
// JSON object per line) into native.d.ts, the declarations of the native addon.
//
//   node scripts/gen-native-dts.mjs <type-def file> <output .d.ts>

import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const [input, output] = process.argv.slice(2)
if (!input || !output) {
  console.error('usage: node scripts/gen-native-dts.mjs <type-def file> <output .d.ts>')
  process.exit(2)
}

const entries = readFileSync(input, 'utf8')
  .split('\n')
  .filter((line) => line.trim())
  .map((line) => JSON.parse(line))

const indent = (text) =>
  text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .map((l) => (l.startsWith('*') ? `   ${l}` : `  ${l}`))
    .join('\n')

const classes = new Map()
const interfaces = []
const functions = []
for (const e of entries) {
  switch (e.kind) {
    case 'struct': {
      const c = classes.get(e.name) ?? { doc: '', body: [] }
      c.doc = e.js_doc
      if (e.def) c.body.push(e.def)
      classes.set(e.name, c)
      break
    }
    case 'impl': {
      const c = classes.get(e.name) ?? { doc: '', body: [] }
      if (e.def) c.body.push(e.def)
      classes.set(e.name, c)
      break
    }
    case 'interface':
      interfaces.push(`${e.js_doc}export interface ${e.name} {\n${indent(e.def)}\n}`)
      break
    case 'fn':
      functions.push(`${e.js_doc}export declare ${e.def}`)
      break
    default:
      throw new Error(`unsupported type definition kind '${e.kind}' for ${e.name}`)
  }
}

const byName = (a, b) => (a.match(/(?:class|interface|function) (\w+)/)[1] < b.match(/(?:class|interface|function) (\w+)/)[1] ? -1 : 1)
const classDefs = [...classes.entries()].map(
  ([name, c]) => `${c.doc}export declare class ${name} {\n${indent(c.body.join('\n'))}\n}`,
)
const body = [...classDefs.sort(byName), ...interfaces.sort(byName), ...functions.sort(byName)].join('\n\n')

// Import the hand-written domain types (types.d.ts) that the definitions mention.
const here = dirname(fileURLToPath(import.meta.url))
const domain = [...readFileSync(join(here, '..', 'types.d.ts'), 'utf8').matchAll(/^export (?:type|interface) (\w+)/gm)]
  .map((m) => m[1])
  .filter((name) => new RegExp(`\\b${name}\\b`).test(body))
  .sort()

const header = [
  '// Declarations of the native addon, generated from the napi-derive type definitions by',
  '// scripts/gen-native-dts.mjs (run by scripts/test-node). Do not edit by hand.',
  '',
  `import type { ${domain.join(', ')} } from './types'`,
  '',
].join('\n')
writeFileSync(output, `${header}\n${body}\n`)
