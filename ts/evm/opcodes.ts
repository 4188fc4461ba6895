/**
 * Faster handlers for MSTORE and SLOAD in our own EVMs.
 *
 * ethereumjs turns the stack word into 32 bytes with `setLengthLeft(bigIntToBytes(word), 32)`:
 * a hex string, then bytes, then a left pad that spreads both arrays into a JS array. That
 * is about 1.5 µs per MSTORE or SLOAD here, against 0.45 µs for four 64-bit writes
 * (`word32`, through the codec's `writeU256`; one micro-benchmark run over 1,000 words), and
 * MSTORE is among the most frequent opcodes. In a CPU profile of the sequential strategy
 * over the mainnet blocks, `setLength` was about 5 % of the samples, most of it from MSTORE.
 *
 * The replacements do what the originals do, with the conversion swapped. They are installed
 * per EVM (`installFastHandlers`), never in ethereumjs's shared tables, and only over the
 * original handler: an entry that something else has replaced or wrapped is left alone, and
 * if ethereumjs's internals differ from what this expects nothing is installed.
 */
import { bytesToBigInt } from '@ethereumjs/util'

import { writeU256 } from '../codec.ts'
import { importEvmFile } from './internals.ts'

/** The 32-byte big-endian form of a stack word (0 <= v < 2^256). */
export function word32(v: bigint): Uint8Array {
  const out = new Uint8Array(32)
  writeU256(new DataView(out.buffer), 0, v)
  return out
}

interface RunState {
  stack: { pop(): bigint; popN(n: number): bigint[]; push(v: bigint): void }
  memory: { write(offset: number, size: number, value: Uint8Array): void }
  interpreter: { storageLoad(key: Uint8Array): Promise<Uint8Array> }
}
type Handler = (runState: RunState) => unknown

function mstore(runState: RunState): void {
  const [offset, word] = runState.stack.popN(2)
  runState.memory.write(Number(offset), 32, word32(word))
}

async function sload(runState: RunState): Promise<void> {
  const key = runState.stack.pop()
  const value = await runState.interpreter.storageLoad(word32(key))
  runState.stack.push(value.length > 0 ? bytesToBigInt(value) : 0n)
}

const FAST: [number, Handler][] = [
  [0x52, mstore],
  [0x54, sload],
]

/** The fast handler for `op`, if there is one (exported for tests). */
export function fastHandler(op: number): Handler | undefined {
  return FAST.find(([o]) => o === op)?.[1]
}

interface EvmLike {
  _opcodeMap: ({ opHandler: unknown } | undefined)[]
  _handlers: Map<number, unknown>
  getActiveOpcodes(): unknown
}

let originals: Promise<Map<number, unknown> | undefined> | undefined

async function loadOriginals(): Promise<Map<number, unknown> | undefined> {
  const handlers = (await importEvmFile<{ handlers?: unknown }>('./opcodes/functions.js'))?.handlers
  if (!(handlers instanceof Map)) return undefined
  const out = new Map<number, unknown>()
  for (const [op] of FAST) {
    const h: unknown = handlers.get(op)
    if (typeof h !== 'function' || h.length !== 1) return undefined
    out.set(op, h)
  }
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
  if (original === undefined || !Array.isArray(e._opcodeMap) || !(e._handlers instanceof Map) || typeof e.getActiveOpcodes !== 'function') {
    return false
  }
  const patch = () => {
    for (const [op, fast] of FAST) {
      const entry = e._opcodeMap[op]
      if (entry === undefined || entry.opHandler !== original.get(op)) continue
      entry.opHandler = fast
      e._handlers.set(op, fast)
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
