/**
 * Loads the native addon once per thread. When it cannot load (no prebuilt binary for this
 * platform, a broken build) or `PARALLEL_EVM_FORCE_JS=1` is set, callers get `null` and use
 * the pure-JS path; a one-line warning says why, once per process thread.
 */
import { createRequire } from 'node:module'

export type NativeBinding = typeof import('../binding/index.cjs')

let binding: NativeBinding | null | undefined
let reason: string | undefined

/** The environment variable that forces the pure-JS fallback. */
export const FORCE_JS_ENV = 'PARALLEL_EVM_FORCE_JS'

export function loadNative(): NativeBinding | null {
  if (binding !== undefined) return binding
  if (process.env[FORCE_JS_ENV] === '1') {
    binding = null
    reason = `${FORCE_JS_ENV}=1`
    warnOnce(`parallel-evm: ${reason}: using the sequential pure-JS path`)
    return binding
  }
  try {
    const require = createRequire(import.meta.url)
    binding = require('../binding/index.cjs') as NativeBinding
  } catch (e) {
    binding = null
    reason = e instanceof Error ? e.message.split('\n')[0] : String(e)
    warnOnce(`parallel-evm: native addon unavailable (${reason}); using the sequential pure-JS path`)
  }
  return binding
}

/** One warning per process, whichever thread loads first (workers never load without it). */
function warnOnce(message: string): void {
  const g = globalThis as { __parallelEvmWarned?: boolean }
  if (g.__parallelEvmWarned === true) return
  g.__parallelEvmWarned = true
  process.emitWarning(message)
}

/** Why the native addon is not in use, if it is not. */
export function nativeUnavailableReason(): string | undefined {
  loadNative()
  return reason
}
