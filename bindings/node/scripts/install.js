'use strict'

// The package's install step, so that a Node user needs no manual copy: the addon the
// package carries (`npm pack` puts this platform's build in the tarball) is used as is;
// without one, it is built from the Rust sources with cargo when they are there (an install
// from a checkout: `npm install ./bindings/node`); otherwise the install fails saying why.
//
//   node scripts/install.js           # npm runs this on install
//   node scripts/install.js --build   # always build (prepack: the addon the tarball carries)
//
// MAESTRO_NODE_PROFILE=debug builds the debug profile (what scripts/test-node uses);
// CARGO_TARGET_DIR is honoured.

const { existsSync, copyFileSync } = require('node:fs')
const { join, resolve } = require('node:path')
const { spawnSync } = require('node:child_process')
const { platformAddon, addonCandidates, cargoLibrary } = require('../addon.js')

const pkg = resolve(__dirname, '..')
const workspace = resolve(pkg, '..', '..')
const build = process.argv.includes('--build')

function fail(message) {
  console.error(`maestro-sdk: ${message}`)
  process.exit(1)
}

if (!build) {
  if (process.env.MAESTRO_NODE_ADDON) process.exit(0)
  const present = addonCandidates().find((f) => existsSync(join(pkg, f)))
  if (present) {
    console.log(`maestro-sdk: using the prebuilt addon ${present}`)
    process.exit(0)
  }
}

const fromSource = existsSync(join(pkg, 'Cargo.toml')) && existsSync(join(workspace, 'Cargo.toml'))
if (!fromSource) {
  fail(
    `this package carries no addon for ${process.platform}-${process.arch} (${platformAddon()}), ` +
      'and the Rust sources to build one are not here. Install a package built for this platform, ' +
      'or build from a checkout of the repository: npm install <checkout>/bindings/node',
  )
}

const profile = process.env.MAESTRO_NODE_PROFILE === 'debug' ? 'debug' : 'release'
const args = ['build', '-p', 'maestro-node', '--locked']
if (profile === 'release') args.push('--release')
console.log(`maestro-sdk: building the addon: cargo ${args.join(' ')}`)
const run = spawnSync('cargo', args, { cwd: workspace, stdio: 'inherit' })
if (run.error) {
  fail(`cannot run cargo (${run.error.message}): install the Rust toolchain from https://rustup.rs`)
}
if (run.status !== 0) fail(`cargo ${args.join(' ')} failed (exit ${run.status})`)

const targetDir = process.env.CARGO_TARGET_DIR
  ? resolve(workspace, process.env.CARGO_TARGET_DIR)
  : join(workspace, 'target')
const built = join(targetDir, profile, cargoLibrary())
if (!existsSync(built)) fail(`cargo finished but ${built} is missing`)
copyFileSync(built, join(pkg, platformAddon()))
console.log(`maestro-sdk: installed ${platformAddon()}`)
