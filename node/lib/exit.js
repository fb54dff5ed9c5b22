'use strict'
// At process (or worker) exit, write out what open caches still hold queued
// (write-behind sets, writes kept during an outage while the disk is back),
// so leaving without close() loses nothing that could be written. Caches are
// held weakly: this never keeps one alive, and no handle keeps the process
// alive (an 'exit' listener does not).

const open = new Set()
let installed = false

function flushAll() {
  for (const ref of open) {
    const native = ref.deref()
    if (native === undefined) {
      open.delete(ref)
      continue
    }
    try {
      native.flushSync()
    } catch {
      // Exiting anyway: a cache that cannot flush has kept its writes in memory.
    }
  }
}

/** Remembers `native` until `forget` (returns the token to forget it by). */
function remember(native) {
  if (!installed) {
    process.on('exit', flushAll)
    installed = true
  }
  const ref = new WeakRef(native)
  open.add(ref)
  return ref
}

function forget(ref) {
  open.delete(ref)
}

module.exports = { remember, forget }
