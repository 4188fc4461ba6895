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
 *
 * The opcode table is part of the key by its contents, not by the object: ethereumjs builds a
 * new table on every hardfork change, so blocks that alternate between hardforks (replaying
 * history out of order, the benchmark's mainnet blocks) would otherwise analyse every
 * contract again after each change (in a profile of two passes over those blocks the
 * analysis took 6.3 % of the samples keyed by object, 4.6 % keyed by contents).
 */
import { importEvmFile } from './internals.ts'

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
/**
 * Bytes of code whose analyses are kept, least recently used first out. An analysis holds an
 * opcode entry per byte and a bigint per PUSH: with the bound at 1, 2 and 4 MB of code, the
 * largest worker heap over the mainnet blocks (each run twice, optimistic x2) was 189, 261
 * and 389 MB. Without one every contract a worker had seen kept its analysis (431 MB there,
 * and growing with the contracts seen); with the table keyed by object, as before, a
 * hardfork change dropped them all (227 MB there, unbounded on a chain that stays on one).
 */
export const ANALYSED_CODE_BUDGET = 2 * 2 ** 20

/** Per code object, the analysis for one opcode table's contents (the latest asked for). */
const analyses = new Map<Uint8Array, { key: object; analysis: Analysis }>()
let analysedBytes = 0
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
  type Proto = { _getValidJumpDestinations?: Analyze & { cached?: true } }
  const mod = await importEvmFile<{ Interpreter?: { prototype: Proto } }>('./interpreter.js')
  if (mod?.Interpreter === undefined) return false
  const proto = mod.Interpreter.prototype
  const original = proto._getValidJumpDestinations
  if (typeof original !== 'function' || original.length !== 1) return false
  if (original.cached === true) return true
  const cached: Analyze & { cached?: true } = function (this: InterpreterLike, code: Uint8Array): Analysis {
    if (!cacheable.has(code)) return original.call(this, code)
    // EIP-8024 changes how immediates are skipped without necessarily changing the table.
    const table = tableKey(this._evm._opcodeMap)
    const key = this.common.isActivatedEIP(8024) ? eip8024Key(table) : table
    const kept = analyses.get(code)
    // Delete and set again: the Map's order is then least recently used first.
    if (kept !== undefined) analyses.delete(code)
    else analysedBytes += code.length
    const entry = kept !== undefined && kept.key === key ? kept : { key, analysis: original.call(this, code) }
    analyses.set(code, entry)
    if (analysedBytes > ANALYSED_CODE_BUDGET) {
      for (const [old] of analyses) {
        if (analysedBytes <= ANALYSED_CODE_BUDGET) break
        analyses.delete(old)
        analysedBytes -= old.length
      }
    }
    return entry.analysis
  }
  cached.cached = true
  proto._getValidJumpDestinations = cached
  return true
}

/** One key object per distinct table contents; a table object maps to its contents' key. */
const tableKeys = new WeakMap<object, object>()
const keysByContents = new Map<string, object>()
const identityIds = new WeakMap<object, number>()

/**
 * The key of an opcode table (an array of `{ opcodeInfo, opHandler, gasHandler }` by opcode):
 * equal for two tables whose entries have equal primitive fields and the very same functions,
 * so that an analysis made with one (whose `opcodesCached` holds its entries) serves the other.
 */
function tableKey(table: object): object {
  let key = tableKeys.get(table)
  if (key !== undefined) return key
  const contents = describe(table, 0)
  key = keysByContents.get(contents)
  if (key === undefined) {
    key = {}
    keysByContents.set(contents, key)
  }
  tableKeys.set(table, key)
  return key
}

/** A string that equals another exactly when the two values are interchangeable here. */
function describe(v: unknown, depth: number): string {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'function') return `f${identityId(v)}`
    return `${typeof v}:${String(v)}`
  }
  // Deeper than entry → opcodeInfo → field: compare by identity.
  if (depth > 2) return `o${identityId(v)}`
  const parts: string[] = []
  for (const k of Object.keys(v)) parts.push(`${k}=${describe((v as Record<string, unknown>)[k], depth + 1)}`)
  return `{${parts.join(',')}}`
}

function identityId(f: object): number {
  let id = identityIds.get(f)
  if (id === undefined) {
    id = nextIdentityId++
    identityIds.set(f, id)
  }
  return id
}
let nextIdentityId = 0

const eip8024Keys = new WeakMap<object, object>()
function eip8024Key(table: object): object {
  let k = eip8024Keys.get(table)
  if (k === undefined) {
    k = {}
    eip8024Keys.set(table, k)
  }
  return k
}
