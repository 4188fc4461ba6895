/**
 * Jump-destination analysis for our own EVMs: the fast loop's JUMPDEST maps, and a cache for
 * ethereumjs's full analysis.
 *
 * Our interpreter loop (`interpreter.ts`), with our PUSH handlers (`opcodes.ts`), needs only a
 * code's JUMPDEST map: `jumpDestinations`, at the end of this file, one byte per byte of code,
 * kept for up to 16 MB of code. Everything below up to it serves frames that run ethereumjs's
 * own loop (a `step` listener, EOF, EIP-8024) or an EVM without our handlers.
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
 *
 * A miss runs our own analysis (`analyse`), which returns what ethereumjs's does in about 0.6
 * of the time (`npx tsx bench/jumpdest.ts`: 59.6 against 36.0 ns a byte of code, cache
 * bookkeeping included, over the oracle's 2,624 mainnet contracts). Replaying the 46 mainnet
 * blocks with the sequential strategy, the analyses of a pass took 1.10-1.60 s with
 * ethereumjs's and 0.49-0.53 s with ours (seven alternating passes in one process), of
 * 9-15 s a pass: the blocks hold 19 MB of code a pass, more than the cache keeps. (That was
 * while the fast loop used this analysis too; the JUMPDEST map alone takes 2.4 ns a byte in
 * the same benchmark, against 25.8 for this one and 35.6 for ethereumjs's, in one run.)
 */
import { readU256 } from '../codec.ts'
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
 * opcode entry per byte and a bigint per PUSH: with ethereumjs's analysis and the bound at 1,
 * 2 and 4 MB of code, the largest worker heap over the mainnet blocks (each run twice,
 * optimistic x2) was 189, 261 and 389 MB (with ours, 262 MB at 2 MB in one such run, against
 * 269 MB for ethereumjs's in the same session: the bound, not the analysis, sets it). Without
 * one every contract a worker had seen kept its analysis (431 MB there, and growing with the
 * contracts seen); with the table keyed by object, as before, a
 * hardfork change dropped them all (227 MB there, unbounded on a chain that stays on one).
 */
export const ANALYSED_CODE_BUDGET = 2 * 2 ** 20

/**
 * Values kept per code object, least recently used out first once the codes they were made
 * for pass `budget` bytes (a Map iterates in insertion order; a use deletes and sets again).
 */
class CodeLru<V> {
  private readonly kept = new Map<Uint8Array, V>()
  bytes = 0
  constructor(private readonly budget: number) {}

  /** The value kept for `code`, now the most recently used; undefined if none. */
  use(code: Uint8Array): V | undefined {
    const v = this.kept.get(code)
    if (v !== undefined) {
      this.kept.delete(code)
      this.kept.set(code, v)
    }
    return v
  }

  /** Keeps `v` for `code` (replacing any value), then drops the least recently used past the budget. */
  put(code: Uint8Array, v: V): void {
    if (!this.kept.delete(code)) this.bytes += code.length
    this.kept.set(code, v)
    if (this.bytes <= this.budget) return
    for (const [old] of this.kept) {
      if (this.bytes <= this.budget) break
      this.kept.delete(old)
      this.bytes -= old.length
    }
  }
}

/** Per code object, the analysis for one opcode table's contents (the latest asked for). */
const analyses = new CodeLru<{ key: object; analysis: Analysis }>(ANALYSED_CODE_BUDGET)
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
    const eip8024 = this.common.isActivatedEIP(8024)
    const table = tableKey(this._evm._opcodeMap)
    const key = eip8024 ? eip8024Key(table) : table
    const kept = analyses.use(code)
    if (kept !== undefined && kept.key === key) return kept.analysis
    const entry = { key, analysis: eip8024 ? original.call(this, code) : analyse(this._evm._opcodeMap as Entry[], code) }
    analyses.put(code, entry)
    return entry.analysis
  }
  cached.cached = true
  proto._getValidJumpDestinations = cached
  return true
}

type Entry = unknown

/**
 * ethereumjs's analysis (`Interpreter._getValidJumpDestinations` without EIP-8024), written for
 * speed; the result is the same: a 1 in `jumps` at every JUMPDEST outside push data, the
 * table's entry at every opcode position of `opcodesCached`, and at `pushes[i + 1]` the value
 * the PUSH at `i` pushes (its bytes past the end of the code read as zeros).
 *
 * ethereumjs converts every push through a hex string and keeps the values in an object keyed
 * by position; here values of up to six bytes are built as numbers, values below 2^16 are
 * shared, and `pushes` is an array as long as the code (the PUSH handler only indexes it).
 */
function analyse(table: Entry[], code: Uint8Array): Analysis {
  const n = code.length
  const jumps = new Uint8Array(n)
  const pushes: bigint[] = new Array(n + 1)
  const opcodesCached: Entry[] = new Array(n)
  for (let i = 0; i < n; i++) {
    const op = code[i]
    opcodesCached[i] = table[op]
    if (op === 0x5b) {
      jumps[i] = 1
    } else if (op >= 0x60 && op <= 0x7f) {
      const size = op - 0x5f
      pushes[i + 1] = pushValue(code, i + 1, size)
      i += size
    }
  }
  return { jumps, pushes: pushes as unknown as Record<number, bigint>, opcodesCached }
}

/**
 * The fast loop's own analysis (`interpreter.ts`): only the JUMPDEST map, one byte per byte of
 * code, where ethereumjs's analysis also keeps an opcode entry per byte and every pushed value
 * (by their layout two 8-byte slots and a byte a byte of code, and a bigint per larger PUSH). The fast loop looks each opcode
 * up in the table and our PUSH handler (`opcodes.ts`) reads its value from the code, so this
 * is all it needs; ethereumjs's own loop still gets the full analysis above.
 *
 * Kept per code object of ours, least recently used out, up to `JUMP_MAP_BUDGET` bytes of code
 * (as many bytes of heap). Replaying a few mainnet blocks in turn, the 2 MB of full analyses
 * could not hold their contracts: a fifth of the frames analysed their code again, 1.2 MB a
 * block (about 10 % of a block's time in one scratch run with and without a 32 MB bound). A
 * code of another origin (init code, a test's EVM) is scanned on every frame: 2.4 ns a byte
 * in one run of `bench/jumpdest.ts`, nothing allocated but the map.
 */
export const JUMP_MAP_BUDGET = 16 * 2 ** 20

/**
 * A code's JUMPDEST map, and for a code of ours the values of its PUSH7-PUSH32 as they are
 * first executed, by position (a PUSH32 read from the code costs about 170 ns here, a lookup
 * about 25; smaller values are cheaper to read than to look up).
 */
export interface JumpMap {
  jumps: Uint8Array
  pushes?: Map<number, bigint>
}
const jumpMaps = new CodeLru<JumpMap>(JUMP_MAP_BUDGET)

/** The JUMPDEST map of `code` (a 1 at every JUMPDEST outside push data), without EIP-8024. */
export function jumpDestinations(code: Uint8Array): JumpMap {
  if (!cacheable.has(code)) return { jumps: scanJumps(code) }
  let map = jumpMaps.use(code)
  if (map === undefined) {
    map = { jumps: scanJumps(code), pushes: new Map() }
    jumpMaps.put(code, map)
  }
  return map
}

/** The bytes of code whose JUMPDEST maps are kept (for tests). */
export function jumpMapBytes(): number {
  return jumpMaps.bytes
}

function scanJumps(code: Uint8Array): Uint8Array {
  const n = code.length
  const jumps = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const op = code[i]
    if (op === 0x5b) jumps[i] = 1
    else if (op >= 0x60 && op <= 0x7f) i += op - 0x5f
  }
  return jumps
}

/** Pushed values below 2^16, made once (PUSH1 and PUSH2 are most pushes: jump targets, offsets). */
const small: bigint[] = new Array(1 << 16)
const scratch = new Uint8Array(32)
const scratchView = new DataView(scratch.buffer)

/** The big-endian value of `code[at, at + size)`, bytes past the end of the code read as 0. */
export function pushValue(code: Uint8Array, at: number, size: number): bigint {
  if (size <= 2 && at + size <= code.length) {
    // PUSH1 and PUSH2 whole: the shared value, without the general path's loops.
    const v = size === 1 ? code[at] : (code[at] << 8) | code[at + 1]
    return (small[v] ??= BigInt(v))
  }
  const available = Math.min(size, code.length - at)
  if (size <= 6) {
    let v = 0
    for (let k = 0; k < available; k++) v = v * 256 + code[at + k]
    for (let k = available; k < size; k++) v *= 256
    if (v < 1 << 16) return (small[v] ??= BigInt(v))
    return BigInt(v)
  }
  scratch.fill(0)
  scratch.set(code.subarray(at, at + available), 32 - size)
  return readU256(scratchView, 0)
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
