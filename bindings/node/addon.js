'use strict'

// Where the native addon lives in the package: `maestro.<platform>-<arch>[-abi].node`, the
// napi-rs naming that lets one package carry the builds of several platforms side by side,
// or `index.node` (a development build copied by hand or by scripts/test-node).

/** The file name of this platform's addon, e.g. maestro.linux-x64-gnu.node. */
function platformAddon() {
  const { platform, arch } = process
  let abi = ''
  if (platform === 'linux') {
    const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
    abi = report && report.header && report.header.glibcVersionRuntime ? '-gnu' : '-musl'
  } else if (platform === 'win32') {
    abi = '-msvc'
  }
  return `maestro.${platform}-${arch}${abi}.node`
}

/** The addon files index.js tries, in order. */
function addonCandidates() {
  return [platformAddon(), 'index.node']
}

/** The name cargo gives the compiled library on this platform. */
function cargoLibrary() {
  switch (process.platform) {
    case 'darwin':
      return 'libmaestro_node.dylib'
    case 'win32':
      return 'maestro_node.dll'
    default:
      return 'libmaestro_node.so'
  }
}

module.exports = { platformAddon, addonCandidates, cargoLibrary }
