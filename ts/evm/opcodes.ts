/**
 * Faster handlers for some opcodes in our own EVMs.
 *
 * ethereumjs converts between stack words and bytes through hex strings: a word becomes 32
 * bytes by `setLengthLeft(bigIntToBytes(word), 32)` (a hex string, then bytes, then a left pad
 * that spreads both arrays into a JS array) and bytes become a word by `bytesToBigInt` (a hex
 * string parsed by `BigInt`). About 1.5 µs per MSTORE or SLOAD here, against 0.45 µs for four
 * 64-bit writes (`word32`, through the codec's `writeU256`; one micro-benchmark run over 1,000
 * words), and 1.8 against 0.5 µs to read 32 bytes as a word (`readWord`: four 64-bit reads).
 * In a CPU profile of the sequential strategy over the mainnet blocks, `setLength` was about
 * 5 % of the samples, most of it from MSTORE; after MSTORE and SLOAD, the next were MLOAD, the
 * LOG topics, SLOAD's gas (the slot key for the warm-slot check) and CALLDATALOAD.
 *
 * The replacements do what the originals do, with the conversion swapped; SLOAD's gas handler
 * is synchronous (ethereumjs's is `async` though it never waits), which the fast interpreter
 * loop (`interpreter.ts`) then does not await. They are installed per EVM
 * (`installFastHandlers`), never in ethereumjs's shared tables, and only over the original
 * handler: an entry that something else has replaced or wrapped is left alone, and if
 * ethereumjs's internals differ from what this expects nothing is installed.
 */
import { bytesToBigInt } from '@ethereumjs/util'

import { readU256, writeU256 } from '../codec.ts'
import { importEvmFile } from './internals.ts'
import { pushValue } from './jumpdest.ts'

/**
 * A word's bytes pass through here, both ways: one DataView for all instead of one per word
 * (writing 0.16 against 0.58 µs a word; reading, the copy in included, 0.29-0.51 against
 * 0.47-0.79 µs over five rounds of one micro-benchmark run).
 */
const scratch = new Uint8Array(32)
const scratchView = new DataView(scratch.buffer)

/** The 32-byte big-endian form of a stack word (0 <= v < 2^256), in a new array. */
export function word32(v: bigint): Uint8Array {
  writeU256(scratchView, 0, v)
  return scratch.slice()
}

/** The word that up to 32 big-endian bytes hold, read as if zeros followed a shorter array. */
export function readWord(bytes: Uint8Array): bigint {
  if (bytes.length !== 32) scratch.fill(0)
  scratch.set(bytes)
  return readU256(scratchView, 0)
}

interface RunState {
  opCode: number
  programCounter: number
  code: Uint8Array
  cachedPushes: unknown
  stack: { pop(): bigint; popN(n: number): bigint[]; peek(n?: number): bigint[]; push(v: bigint): void }
  memory: { write(offset: number, size: number, value: Uint8Array): void; read(offset: number, size: number, avoidCopy?: boolean): Uint8Array }
  interpreter: {
    storageLoad(key: Uint8Array): Promise<Uint8Array>
    getCallDataSize(): bigint
    getCallData(): Uint8Array
    log(data: Uint8Array, topicsCount: number, topics: Uint8Array[]): void
  }
}
interface CommonLike {
  isActivatedEIP(eip: number): boolean
}
type Handler = (runState: RunState, common: CommonLike) => unknown
type GasHandler = (runState: RunState, gas: bigint, common: CommonLike) => bigint | Promise<bigint>

function calldataload(runState: RunState): void {
  const pos = runState.stack.pop()
  if (pos > runState.interpreter.getCallDataSize()) {
    runState.stack.push(0n)
    return
  }
  const i = Number(pos)
  // Past the end of the call data reads as zeros.
  runState.stack.push(readWord(runState.interpreter.getCallData().subarray(i, i + 32)))
}

function mload(runState: RunState): void {
  const pos = runState.stack.pop()
  runState.stack.push(readWord(runState.memory.read(Number(pos), 32, true)))
}

function mstore(runState: RunState): void {
  const [offset, word] = runState.stack.popN(2)
  // Memory copies what it is given: the scratch bytes will do.
  writeU256(scratchView, 0, word)
  runState.memory.write(Number(offset), 32, scratch)
}

async function sload(runState: RunState): Promise<void> {
  const key = runState.stack.pop()
  const value = await runState.interpreter.storageLoad(word32(key))
  runState.stack.push(value.length > 0 ? bytesToBigInt(value) : 0n)
}

function log(runState: RunState): void {
  const [memOffset, memLength] = runState.stack.popN(2)
  const topicsCount = runState.opCode - 0xa0
  const topics = runState.stack.popN(topicsCount).map((t) => word32(t))
  const data = memLength !== 0n ? runState.memory.read(Number(memOffset), Number(memLength)) : new Uint8Array(0)
  runState.interpreter.log(data, topicsCount, topics)
}

/**
 * PUSH1-PUSH32 read their value from the code, where ethereumjs's take it from the values its
 * jump analysis made for every PUSH of the code (`cachedPushes`), so that the fast loop's
 * analysis need not make them (`jumpDestinations` in `jumpdest.ts`). The same value: the bytes
 * after the opcode, past the end of the code read as zeros. Under stateless code-chunk gas
 * (EIP-6800/7864) ethereumjs's own, which charges for the chunks.
 */
function push(runState: RunState, common: CommonLike): void {
  if (common.isActivatedEIP(6800) || common.isActivatedEIP(7864)) {
    originalPush!(runState, common)
    return
  }
  const size = runState.opCode - 0x5f
  const pc = runState.programCounter
  let value: bigint | undefined
  // The fast loop hands the larger values it has seen in this code as a Map (ethereumjs's own
  // loop, an object of every value, which is not used here: the code says the same).
  const seen = size > 6 ? runState.cachedPushes : undefined
  if (seen instanceof Map) {
    value = seen.get(pc)
    if (value === undefined) seen.set(pc, (value = pushValue(runState.code, pc, size)))
  } else {
    value = pushValue(runState.code, pc, size)
  }
  runState.stack.push(value)
  runState.programCounter = pc + size
}

/** ethereumjs's `accessStorageEIP2929` and SLOAD gas handler (set when the originals load). */
let accessStorage: ((runState: RunState, key: Uint8Array, isSstore: boolean, common: CommonLike, chargeGas: boolean) => bigint) | undefined
let originalSloadGas: GasHandler | undefined
let originalPush: Handler | undefined

function sloadGas(runState: RunState, gas: bigint, common: CommonLike): bigint | Promise<bigint> {
  const key = runState.stack.peek()[0]
  // Stateless (Verkle, binary tree) access gas: ethereumjs's own.
  if (common.isActivatedEIP(6800) || common.isActivatedEIP(7864)) return originalSloadGas!(runState, gas, common)
  if (!common.isActivatedEIP(2929)) return gas
  return gas + accessStorage!(runState, word32(key), false, common, true)
}

type Fast = { op: number; kind: 'op'; fast: Handler } | { op: number; kind: 'gas'; fast: GasHandler }

const FAST: Fast[] = [
  { op: 0x35, kind: 'op', fast: calldataload },
  { op: 0x51, kind: 'op', fast: mload },
  { op: 0x52, kind: 'op', fast: mstore },
  { op: 0x54, kind: 'op', fast: sload },
  ...[0xa0, 0xa1, 0xa2, 0xa3, 0xa4].map((op): Fast => ({ op, kind: 'op', fast: log })),
  ...Array.from({ length: 32 }, (_, i): Fast => ({ op: 0x60 + i, kind: 'op', fast: push })),
  { op: 0x54, kind: 'gas', fast: sloadGas },
]

/** The fast handler for `op`, if there is one (exported for tests). */
export function fastHandler(op: number): Handler | undefined {
  return FAST.find((f) => f.op === op && f.kind === 'op')?.fast as Handler | undefined
}

/**
 * Whether every PUSH1-PUSH32 of an opcode table is ours, which reads its value from the code:
 * then the fast loop may skip the pushed values of ethereumjs's analysis (`interpreter.ts`).
 * Checked on each frame's first jump (32 reads), not remembered: an entry can be replaced.
 */
export function pushesReadCode(table: readonly ({ opHandler: unknown } | undefined)[]): boolean {
  for (let op = 0x60; op <= 0x7f; op++) if (table[op]?.opHandler !== push) return false
  return true
}

/** The fast gas handler for `op`, if there is one (exported for tests). */
export function fastGasHandler(op: number): GasHandler | undefined {
  return FAST.find((f) => f.op === op && f.kind === 'gas')?.fast as GasHandler | undefined
}

interface EvmLike {
  _opcodeMap: ({ opHandler: unknown; gasHandler?: unknown } | undefined)[]
  _handlers: Map<number, unknown>
  _dynamicGasHandlers: Map<number, unknown>
  getActiveOpcodes(): unknown
}

/** ethereumjs's handler that each entry of `FAST` replaces, by the entry. */
let originals: Promise<Map<Fast, unknown> | undefined> | undefined

async function loadOriginals(): Promise<Map<Fast, unknown> | undefined> {
  const [functions, gas, eip2929] = await Promise.all([
    importEvmFile<{ handlers?: unknown }>('./opcodes/functions.js'),
    importEvmFile<{ dynamicGasHandlers?: unknown }>('./opcodes/gas.js'),
    importEvmFile<{ accessStorageEIP2929?: unknown }>('./opcodes/EIP2929.js'),
  ])
  const handlers = functions?.handlers
  const gasHandlers = gas?.dynamicGasHandlers
  const access = eip2929?.accessStorageEIP2929
  if (!(handlers instanceof Map) || !(gasHandlers instanceof Map) || typeof access !== 'function' || access.length !== 4) return undefined
  const out = new Map<Fast, unknown>()
  for (const f of FAST) {
    const h: unknown = (f.kind === 'op' ? handlers : gasHandlers).get(f.op)
    // The same parameters as ours: (runState), (runState, common) or (runState, gas, common).
    if (typeof h !== 'function' || h.length !== f.fast.length) return undefined
    out.set(f, h)
  }
  accessStorage = access as typeof accessStorage
  originalSloadGas = gasHandlers.get(0x54) as GasHandler
  originalPush = handlers.get(0x60) as Handler
  return out
}

/**
 * Installs the fast handlers into `evm`'s current opcode table and into every table it builds
 * later (ethereumjs builds a new one on each hardfork change). Resolves to whether it did.
 */
export async function installFastHandlers(evm: unknown): Promise<boolean> {
  originals ??= loadOriginals()
  const original = await originals
  const e = evm as EvmLike
  if (
    original === undefined ||
    !Array.isArray(e._opcodeMap) ||
    !(e._handlers instanceof Map) ||
    !(e._dynamicGasHandlers instanceof Map) ||
    typeof e.getActiveOpcodes !== 'function'
  ) {
    return false
  }
  const patch = () => {
    for (const f of FAST) {
      const entry = e._opcodeMap[f.op]
      if (entry === undefined) continue
      if (f.kind === 'op' && entry.opHandler === original.get(f)) {
        entry.opHandler = f.fast
        e._handlers.set(f.op, f.fast)
      } else if (f.kind === 'gas' && entry.gasHandler === original.get(f)) {
        entry.gasHandler = f.fast
        e._dynamicGasHandlers.set(f.op, f.fast)
      }
    }
  }
  const build = e.getActiveOpcodes
  e.getActiveOpcodes = function (this: EvmLike) {
    const opcodes = build.call(this)
    patch()
    return opcodes
  }
  patch()
  return true
}
