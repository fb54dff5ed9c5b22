'use strict'
// The chaos API (`cache.faults`): inject disk faults into one cache at run
// time to rehearse an application against a failing disk.

const { typeError, codes } = require('./errors')

function triggerOf(trigger) {
  if (trigger === undefined || trigger === 'always') return ['always', undefined]
  if (trigger === 'once') return ['once', undefined]
  if (trigger !== null && typeof trigger === 'object') {
    if (typeof trigger.times === 'number') return ['times', trigger.times]
    if (typeof trigger.probability === 'number') return ['probability', trigger.probability]
  }
  throw typeError(
    codes.INVALID_ARGUMENT,
    "trigger must be 'always', 'once', { times: n } or { probability: p }",
  )
}

class Faults {
  #native

  constructor(native) {
    this.#native = native
  }

  /**
   * Arms a fault; returns its id. `op`: 'read' | 'write' | 'fsync' | 'rename'
   * | 'delete' | 'all'; `error`: 'eio' | 'enospc' | 'erofs' | 'eacces' |
   * 'corruption' (reads only) | 'delay' (with `delayMs`); `trigger`:
   * 'always' (default) | 'once' | { times } | { probability }.
   */
  inject({ op = 'all', error, delayMs, trigger } = {}) {
    if (typeof op !== 'string') throw typeError(codes.INVALID_ARGUMENT, 'fault op must be a string')
    if (typeof error !== 'string') throw typeError(codes.INVALID_ARGUMENT, 'fault error must be a string')
    if (delayMs !== undefined && typeof delayMs !== 'number') {
      throw typeError(codes.INVALID_ARGUMENT, 'delayMs must be a number')
    }
    const [kind, amount] = triggerOf(trigger)
    return this.#native.injectFault(op, error, delayMs, kind, amount)
  }

  /** Disarms one fault; false if it was not armed. */
  remove(id) {
    return this.#native.removeFault(id)
  }

  /** Disarms every fault. */
  clear() {
    this.#native.clearFaults()
  }

  /** Faults still armed. */
  get active() {
    return this.#native.faultsActive()
  }

  /** Faults injected so far. */
  get injected() {
    return this.#native.faultsInjected()
  }
}

module.exports = { Faults }
