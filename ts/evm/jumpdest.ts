/**
 * A cache for ethereumjs's jump-destination analysis.
 *
 * Before the first JUMP of every call frame, ethereumjs's interpreter walks the whole contract
 * code once (`_getValidJumpDestinations`: the JUMPDEST map, every PUSH value as a bigint, and
 * the opcode entry of every byte). The result depends only on the code and the opcode table,
 * yet it is recomputed for every call: about 40 µs per ERC-20 transfer, far more for large
 * contracts. The EVM only reads the result, so it can be shared between calls.
 *
 * Scope: only code objects that our own state managers handed out (`markCode`) are cached, so
 * any other ethereumjs VM in the process behaves exactly as before. The patch is installed
 * once per thread, and not at all if ethereumjs's internals differ from what it expects.
 */
interface Analysis {
  jumps: Uint8Array
  pushes: Record<number, bigint>
  opcodesCached: unknown[]
}

type Analyze = (this: InterpreterLike, code: Uint8Array) => Analysis
interface InterpreterLike {
  _evm: { _opcodeMap: object }
  common: { isActivatedEIP(eip: number): boolean }
}

const cacheable = new WeakSet<Uint8Array>()
/** Per code object, per opcode table (a new table comes with a new hardfork or EIP set). */
const analyses = new WeakMap<Uint8Array, WeakMap<object, Analysis>>()
let installed: Promise<boolean> | undefined

/** Marks a code object as immutable and ours: its analysis may be cached. Returns it. */
export function markCode(code: Uint8Array): Uint8Array {
  if (code.length > 0) cacheable.add(code)
  return code
}

/** Installs the cache (once per thread); resolves to whether it is active. */
export function installJumpAnalysisCache(): Promise<boolean> {
  installed ??= install()
  return installed
}

async function install(): Promise<boolean> {
  let proto: { _getValidJumpDestinations?: Analyze & { cached?: true } }
  try {
    // Not exported by the package: imported by its file, beside the entry point.
    const url = new URL('./interpreter.js', import.meta.resolve('@ethereumjs/evm'))
    const mod = (await import(url.href)) as { Interpreter?: { prototype: typeof proto } }
    if (mod.Interpreter === undefined) return false
    proto = mod.Interpreter.prototype
  } catch {
    return false
  }
  const original = proto._getValidJumpDestinations
  if (typeof original !== 'function' || original.length !== 1) return false
  if (original.cached === true) return true
  const cached: Analyze & { cached?: true } = function (this: InterpreterLike, code: Uint8Array): Analysis {
    if (!cacheable.has(code)) return original.call(this, code)
    // EIP-8024 changes how immediates are skipped without necessarily changing the table.
    const table = this._evm._opcodeMap
    let byTable = analyses.get(code)
    if (byTable === undefined) {
      byTable = new WeakMap()
      analyses.set(code, byTable)
    }
    const key = this.common.isActivatedEIP(8024) ? eip8024Key(table) : table
    let a = byTable.get(key)
    if (a === undefined) {
      a = original.call(this, code)
      byTable.set(key, a)
    }
    return a
  }
  cached.cached = true
  proto._getValidJumpDestinations = cached
  return true
}

const eip8024Keys = new WeakMap<object, object>()
function eip8024Key(table: object): object {
  let k = eip8024Keys.get(table)
  if (k === undefined) {
    k = {}
    eip8024Keys.set(table, k)
  }
  return k
}
