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
type Handler = (runState: RunState) => unknown
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

/** ethereumjs's `accessStorageEIP2929` and SLOAD gas handler (set when the originals load). */
let accessStorage: ((runState: RunState, key: Uint8Array, isSstore: boolean, common: CommonLike, chargeGas: boolean) => bigint) | undefined
let originalSloadGas: GasHandler | undefined

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
  { op: 0x54, kind: 'gas', fast: sloadGas },
]

/** The fast handler for `op`, if there is one (exported for tests). */
export function fastHandler(op: number): Handler | undefined {
  return FAST.find((f) => f.op === op && f.kind === 'op')?.fast as Handler | undefined
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
    if (typeof h !== 'function' || h.length !== (f.kind === 'op' ? 1 : 3)) return undefined
    out.set(f, h)
  }
  accessStorage = access as typeof accessStorage
  originalSloadGas = gasHandlers.get(0x54) as GasHandler
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
