/**
 * The state before a block: a plain prestate object (complete: an account it does not list
 * does not exist) or a caller's `StateManagerInterface` (read on demand).
 */
import type { StateManagerInterface } from '@ethereumjs/common'
import { Address } from '@ethereumjs/util'

import { InvalidInputError, StateReadError } from '../../errors.ts'
import { EMPTY_BYTES, EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT, byteKey, bytesEqual, hexBytes, setLength32, toHex, unpad } from '../bytes.ts'
import { keccak256 } from '../crypto.ts'
import type { Fields } from './journaled.ts'

/** Where values below an overlay come from. */
export interface BaseSource {
  /** True when every location is known up front (absent means absent). */
  readonly complete: boolean
  account(address: Uint8Array): Fields | Promise<Fields>
  storage(address: Uint8Array, slot: Uint8Array): Uint8Array | Promise<Uint8Array>
  code(address: Uint8Array, codeHash: Uint8Array): Uint8Array | Promise<Uint8Array>
}

/** One account of a prestate, in the `pre_state.json` format of the oracle's mainnet blocks. */
export interface PrestateAccount {
  /** Hex quantity (or bigint). */
  balance: string | bigint
  /** Integer, hex quantity or bigint. */
  nonce: number | string | bigint
  /** Hash of the account's code; the code comes from `bytecodes` (or `code`). */
  code_hash?: string
  /** The code itself, as hex (an alternative to `code_hash` + `bytecodes`). */
  code?: string
  /** Slot → value, both hex quantities. */
  storage?: Record<string, string | bigint>
}

/** Address → account. Accounts not listed do not exist. */
export type Prestate = Record<string, PrestateAccount>

/** Code by hash, as in the oracle's `bytecodes.json`. */
export type Bytecodes = Record<string, string> | Map<string, string | Uint8Array>

function quantity(v: unknown, path: string): bigint {
  if (typeof v === 'bigint') {
    if (v < 0n) throw new InvalidInputError(`${path}: negative`)
    return v
  }
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw new InvalidInputError(`${path}: not a non-negative integer: ${v}`)
    return BigInt(v)
  }
  if (typeof v === 'string' && v.length > 0) {
    if (v === '0x' || v === '0X') return 0n
    let x: bigint | undefined
    try {
      x = BigInt(v)
    } catch {
      x = undefined
    }
    if (x !== undefined && x >= 0n) return x
  }
  throw new InvalidInputError(`${path}: not a quantity: ${JSON.stringify(v)?.slice(0, 60)}`)
}

/** Exactly `bytes` bytes of 0x-hex. */
function fixedHex(v: unknown, bytes: number, path: string): Uint8Array {
  if (typeof v === 'string' && v.length === 2 + bytes * 2 && v[0] === '0' && (v[1] === 'x' || v[1] === 'X')) {
    try {
      return hexBytes(v)
    } catch {
      // reported below
    }
  }
  throw new InvalidInputError(`${path}: expected ${bytes} bytes of 0x-hex, got ${JSON.stringify(v)?.slice(0, 80)}`)
}

function word(v: bigint, path: string): Uint8Array {
  if (v >> 256n !== 0n) throw new InvalidInputError(`${path}: larger than 256 bits`)
  const b = Buffer.from(v.toString(16).padStart(64, '0'), 'hex')
  return new Uint8Array(b.buffer, b.byteOffset, 32)
}

/**
 * Code parsed from hex, with its hash, by the hex text. Blocks in a row share most of their
 * contracts, and the same code object keeps its cached jump analysis (`jumpdest.ts`), so a
 * contract is decoded, hashed and analysed once rather than once per block. Bounded by the
 * total code size; code objects are never written to.
 */
const parsedCode = new Map<string, { code: Uint8Array; hash: Uint8Array }>()
let parsedCodeBytes = 0
const PARSED_CODE_LIMIT = 64 * 2 ** 20

function parseCode(hex: string): { code: Uint8Array; hash: Uint8Array } | undefined {
  const known = parsedCode.get(hex)
  if (known !== undefined) return known
  let code: Uint8Array
  try {
    code = hexBytes(hex)
  } catch {
    return undefined
  }
  const parsed = { code, hash: code.length > 0 ? keccak256(code) : EMPTY_CODE_HASH }
  if (parsedCodeBytes + code.length > PARSED_CODE_LIMIT) {
    parsedCode.clear()
    parsedCodeBytes = 0
  }
  parsedCode.set(hex, parsed)
  parsedCodeBytes += code.length
  return parsed
}

/** A validated prestate, indexed for lookups. */
export class PrestateSource implements BaseSource {
  readonly complete = true
  readonly accounts = new Map<string, { address: Uint8Array; fields: Fields & object }>()
  /** Address key + slot key → minimal value (zeros are not stored). */
  readonly slots = new Map<string, Uint8Array>()
  /** Non-zero slots per address key (to tell whether an account has storage). */
  readonly slotsByAddress = new Map<string, { slot: Uint8Array; value: Uint8Array }[]>()
  readonly codes = new Map<string, Uint8Array>()

  /** Parses and validates; throws `InvalidInputError` naming the first bad field. */
  constructor(prestate: Prestate, bytecodes?: Bytecodes) {
    if (prestate === null || typeof prestate !== 'object' || Array.isArray(prestate)) {
      throw new InvalidInputError('prestate: expected an object mapping addresses to accounts')
    }
    const lookupCode = (hash: string): string | Uint8Array | undefined => {
      if (bytecodes === undefined) return undefined
      return bytecodes instanceof Map ? (bytecodes.get(hash) ?? bytecodes.get(hash.toLowerCase())) : (bytecodes[hash] ?? bytecodes[hash.toLowerCase()])
    }
    for (const [addr, acc] of Object.entries(prestate)) {
      const path = `prestate[${addr}]`
      const address = fixedHex(addr, 20, `${path} (address)`)
      if (acc === null || typeof acc !== 'object') throw new InvalidInputError(`${path}: expected an account object`)
      const balance = quantity(acc.balance ?? 0n, `${path}.balance`)
      const nonce = quantity(acc.nonce ?? 0n, `${path}.nonce`)
      if (nonce >= 2n ** 64n) throw new InvalidInputError(`${path}.nonce: larger than 64 bits`)
      let codeHash: Uint8Array = EMPTY_CODE_HASH
      if (acc.code !== undefined) {
        const parsed = typeof acc.code === 'string' && acc.code.startsWith('0x') ? parseCode(acc.code) : undefined
        if (parsed === undefined) throw new InvalidInputError(`${path}.code: not 0x-hex bytes`)
        if (parsed.code.length > 0) {
          codeHash = parsed.hash
          this.codes.set(byteKey(codeHash), parsed.code)
        }
        if (acc.code_hash !== undefined && !bytesEqual(fixedHex(acc.code_hash, 32, `${path}.code_hash`), codeHash)) {
          throw new InvalidInputError(`${path}: code_hash does not match code`)
        }
      } else if (acc.code_hash !== undefined) {
        codeHash = fixedHex(acc.code_hash, 32, `${path}.code_hash`)
        if (!bytesEqual(codeHash, EMPTY_CODE_HASH)) {
          const given = lookupCode(acc.code_hash)
          if (given === undefined) throw new InvalidInputError(`${path}.code_hash: no bytecode for ${acc.code_hash}`)
          const parsed = typeof given === 'string' ? parseCode(given) : { code: given, hash: keccak256(given) }
          if (parsed === undefined) throw new InvalidInputError(`bytecodes[${acc.code_hash}]: not hex bytes`)
          if (!bytesEqual(parsed.hash, codeHash)) throw new InvalidInputError(`${path}.code_hash: the bytecode given for it has another hash`)
          this.codes.set(byteKey(codeHash), parsed.code)
        }
      }
      const addressKey = byteKey(address)
      const slots: { slot: Uint8Array; value: Uint8Array }[] = []
      if (acc.storage !== undefined) {
        if (acc.storage === null || typeof acc.storage !== 'object') throw new InvalidInputError(`${path}.storage: expected an object`)
        for (const [s, v] of Object.entries(acc.storage)) {
          const x = quantity(v, `${path}.storage[${s}]`)
          if (x === 0n) continue
          const slot = word(quantity(s, `${path}.storage key ${s}`), `${path}.storage key ${s}`)
          const value = unpad(word(x, `${path}.storage[${s}]`))
          this.slots.set(addressKey + byteKey(slot), value)
          slots.push({ slot, value })
        }
      }
      if (slots.length > 0) this.slotsByAddress.set(addressKey, slots)
      // Storage roots are not computed: "empty or not" is all execution observes (EIP-7610).
      const storageRoot = slots.length > 0 ? NONEMPTY_STORAGE_ROOT : EMPTY_STORAGE_ROOT
      this.accounts.set(addressKey, { address, fields: { nonce, balance, codeHash, storageRoot } })
    }
  }

  account(address: Uint8Array): Fields {
    return this.accounts.get(byteKey(address))?.fields ?? null
  }

  storage(address: Uint8Array, slot: Uint8Array): Uint8Array {
    return this.slots.get(byteKey(address) + byteKey(slot)) ?? EMPTY_BYTES
  }

  code(_address: Uint8Array, codeHash: Uint8Array): Uint8Array {
    const c = this.codes.get(byteKey(codeHash))
    if (c === undefined) throw new InvalidInputError(`prestate: no code for hash ${Buffer.from(codeHash).toString('hex')}`)
    return c
  }
}

/**
 * Stands for "some non-empty storage root" in accounts read from a prestate, which has no
 * tries: only its difference from the empty root is ever observed.
 */
export const NONEMPTY_STORAGE_ROOT = keccak256(new TextEncoder().encode('parallel-evm: non-empty storage'))

/**
 * A read of the caller's state manager or blockchain. Where it throws (or rejects), the block
 * gets a `StateReadError` with the caller's error as the cause, so that no one takes a
 * database failure for an invalid block. `what` names the call, built only on failure.
 */
export function readCaller<T>(what: () => string, call: () => Promise<T>): Promise<T> {
  let p: Promise<T>
  try {
    p = call()
  } catch (e) {
    p = Promise.reject(e)
  }
  return p.catch((e: unknown) => {
    throw new StateReadError(`${what()} threw: ${e instanceof Error ? e.message : String(e)}`, undefined, { cause: e })
  })
}

/** Reads through to a caller's state manager, each location once per block. */
export class StateManagerSource implements BaseSource {
  readonly complete = false
  private readonly accountCache = new Map<string, Promise<Fields>>()
  private readonly storageCache = new Map<string, Promise<Uint8Array>>()
  private readonly codeCache = new Map<string, Promise<Uint8Array>>()

  constructor(readonly stateManager: StateManagerInterface) {}

  account(address: Uint8Array): Promise<Fields> {
    const key = byteKey(address)
    let p = this.accountCache.get(key)
    if (p === undefined) {
      p = readCaller(
        () => `the state manager's getAccount(${toHex(address)})`,
        () => this.stateManager.getAccount(new Address(address)),
      ).then((a) => (a === undefined ? null : { nonce: a.nonce, balance: a.balance, codeHash: a.codeHash, storageRoot: a.storageRoot }))
      this.accountCache.set(key, p)
    }
    return p
  }

  storage(address: Uint8Array, slot: Uint8Array): Promise<Uint8Array> {
    const key = byteKey(address) + byteKey(slot)
    let p = this.storageCache.get(key)
    if (p === undefined) {
      p = readCaller(
        () => `the state manager's getStorage(${toHex(address)}, ${toHex(slot)})`,
        () => this.stateManager.getStorage(new Address(address), setLength32(slot)),
      ).then(unpad)
      this.storageCache.set(key, p)
    }
    return p
  }

  code(address: Uint8Array, codeHash: Uint8Array): Promise<Uint8Array> {
    const key = byteKey(codeHash)
    let p = this.codeCache.get(key)
    if (p === undefined) {
      p = readCaller(
        () => `the state manager's getCode(${toHex(address)})`,
        () => this.stateManager.getCode(new Address(address)),
      ).then((code) => {
        // Code is looked up by its hash: code that does not hash to it would run as another
        // contract's, so the read fails instead (on the calling thread and for the workers alike).
        const got = keccak256(code)
        if (!bytesEqual(got, codeHash)) {
          throw new StateReadError(`the state manager's getCode(${toHex(address)}) returned code whose hash is ${toHex(got)}, not the account's code hash ${toHex(codeHash)}`)
        }
        return code
      })
      this.codeCache.set(key, p)
    }
    return p
  }
}
