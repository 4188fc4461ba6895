/**
 * Moving transactions to workers without decoding them again. A transaction crosses as its
 * own properties, in a compact binary form, and is re-attached to its class's prototype in
 * the worker, sharing the worker's `Common`: decoding RLP costs ~35 µs per transaction here
 * (20 µs of it in the per-transaction `Common` copy), structured clone ~5 µs on the main
 * thread plus the same again in every worker, this ~1–2 µs, and each worker decodes only the
 * transactions it executes.
 *
 * Layout: u32 count | u32 end offset per transaction | per transaction: u8 type | u8 property
 * count | per property: u8 name index | value. Values are tagged (see `Tag`).
 */
import type { Common } from '@ethereumjs/common'
import {
  AccessList2930Tx,
  Blob4844Tx,
  EOACode7702Tx,
  FeeMarket1559Tx,
  LegacyTx,
  type TypedTransaction,
} from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'

import { ByteBuilder, readU256 } from '../codec.ts'
import type { Sender } from './crypto.ts'

/** Properties that never cross: the worker supplies its own. */
const SKIP = new Set(['common', 'txOptions', 'cache'])

/** Property names, by index. New names are appended, never reordered. */
const NAMES = [
  'type', 'nonce', 'gasLimit', 'gasPrice', 'to', 'value', 'data', 'v', 'r', 's', 'chainId', 'accessList',
  'maxPriorityFeePerGas', 'maxFeePerGas', 'maxFeePerBlobGas', 'blobVersionedHashes', 'authorizationList',
  'activeCapabilities', 'networkWrapperVersion', 'blobs', 'kzgCommitments', 'kzgProofs', 'cellProofs',
]
const NAME_INDEX = new Map(NAMES.map((n, i) => [n, i]))

const Tag = { Undefined: 0, U256: 1, Bytes: 2, Address: 3, Number: 4, True: 5, False: 6, Array: 7, Null: 8, String: 9, BigString: 10, U64: 11 } as const
const MAX_U64 = (1n << 64n) - 1n
const MAX_U256 = (1n << 256n) - 1n

const textEncoder = new TextEncoder()
const textDecoder = new TextDecoder()

function encodeValue(b: ByteBuilder, v: unknown): void {
  if (v === undefined) b.byte(Tag.Undefined)
  else if (v === null) b.byte(Tag.Null)
  else if (typeof v === 'bigint') {
    if (v >= 0n && v <= MAX_U64) {
      b.byte(Tag.U64)
      b.u64(v)
    } else if (v >= 0n && v <= MAX_U256) {
      b.byte(Tag.U256)
      b.u256(v)
    } else {
      b.byte(Tag.BigString)
      encodeString(b, v.toString())
    }
  } else if (v instanceof Address) {
    b.byte(Tag.Address)
    b.raw(v.bytes)
  } else if (v instanceof Uint8Array) {
    b.byte(Tag.Bytes)
    b.u32(v.length)
    b.raw(v)
  } else if (typeof v === 'number') {
    b.byte(Tag.Number)
    const at = b.reserve(8)
    b.dv.setFloat64(at, v, true)
  } else if (typeof v === 'boolean') b.byte(v ? Tag.True : Tag.False)
  else if (typeof v === 'string') {
    b.byte(Tag.String)
    encodeString(b, v)
  } else if (Array.isArray(v)) {
    b.byte(Tag.Array)
    b.u32(v.length)
    for (const x of v) encodeValue(b, x)
  } else {
    throw new Error(`cannot send a transaction property of type ${typeof v}`)
  }
}

function encodeString(b: ByteBuilder, s: string): void {
  const bytes = textEncoder.encode(s)
  b.u32(bytes.length)
  b.raw(bytes)
}

/** Encodes every transaction of a block. Functions (LegacyTx's keccak) are restored in the worker. */
export function encodeTxs(txs: TypedTransaction[]): Uint8Array {
  const b = new ByteBuilder(txs.length * 256 + 64)
  b.u32(txs.length)
  const table = b.reserve(4 * txs.length)
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i] as unknown as Record<string, unknown>
    b.byte(txs[i].type)
    const countAt = b.reserve(1)
    let count = 0
    for (const k of Object.keys(tx)) {
      const v = tx[k]
      if (SKIP.has(k) || typeof v === 'function') continue
      let index = NAME_INDEX.get(k)
      if (index === undefined) throw new Error(`unknown transaction property ${k}`)
      b.byte(index)
      encodeValue(b, v)
      count++
    }
    b.buf[countAt] = count
    b.dv.setUint32(table + 4 * i, b.len, true)
  }
  return b.bytes().slice()
}

const PROTOTYPES: Record<number, object> = {
  0: LegacyTx.prototype,
  1: AccessList2930Tx.prototype,
  2: FeeMarket1559Tx.prototype,
  3: Blob4844Tx.prototype,
  4: EOACode7702Tx.prototype,
}

/** Reads transactions encoded by `encodeTxs`, one at a time. */
export class TxReader {
  private readonly dv: DataView
  readonly count: number
  /** Read position of `value` (a field rather than a closure made per transaction). */
  private at = 0

  constructor(private readonly bytes: Uint8Array) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    this.count = this.dv.getUint32(0, true)
  }

  /** Transaction `i`, re-attached to its class, sharing `common`. */
  tx(i: number, common: Common): TypedTransaction {
    this.at = i === 0 ? 4 + 4 * this.count : this.dv.getUint32(4 + 4 * (i - 1), true)
    const type = this.bytes[this.at++]
    const proto = PROTOTYPES[type]
    if (proto === undefined) throw new Error(`unsupported transaction type ${type}`)
    const tx = Object.create(proto) as Record<string, unknown>
    const count = this.bytes[this.at++]
    for (let k = 0; k < count; k++) {
      const name = NAMES[this.bytes[this.at++]]
      tx[name] = this.value()
    }
    tx.common = common
    tx.txOptions = { common }
    tx.cache = {}
    if (type === 0) tx.keccakFunction = common.customCrypto.keccak256 ?? keccak_256
    return tx as unknown as TypedTransaction
  }

  private value(): unknown {
    const { bytes, dv } = this
    const tag = bytes[this.at++]
    const at = this.at
    switch (tag) {
      case Tag.Undefined:
        return undefined
      case Tag.Null:
        return null
      case Tag.U64:
        this.at = at + 8
        return dv.getBigUint64(at, true)
      case Tag.U256:
        this.at = at + 32
        return readU256(dv, at)
      case Tag.Bytes: {
        const end = at + 4 + dv.getUint32(at, true)
        this.at = end
        return bytes.slice(at + 4, end)
      }
      case Tag.Address:
        this.at = at + 20
        return new Address(bytes.slice(at, at + 20))
      case Tag.Number:
        this.at = at + 8
        return dv.getFloat64(at, true)
      case Tag.True:
        return true
      case Tag.False:
        return false
      case Tag.String:
      case Tag.BigString: {
        const end = at + 4 + dv.getUint32(at, true)
        this.at = end
        const s = textDecoder.decode(bytes.subarray(at + 4, end))
        return tag === Tag.String ? s : BigInt(s)
      }
      case Tag.Array: {
        const n = dv.getUint32(at, true)
        this.at = at + 4
        const a: unknown[] = new Array(n)
        for (let j = 0; j < n; j++) a[j] = this.value()
        return a
      }
      default:
        throw new Error(`malformed transaction encoding (tag ${tag})`)
    }
  }
}

/**
 * A view of `tx` whose sender is already known, so `runTx` does not recover it again. The
 * original object (possibly frozen, possibly the caller's) is not modified: the view inherits
 * from it, and its two methods are plain assignments (0.33 against 3.8 µs a transaction for
 * `Object.create` with property descriptors, in one micro-benchmark run).
 */
export function withSender(tx: TypedTransaction, sender: Sender): TypedTransaction {
  const view = Object.create(tx) as { getSenderAddress(): Address; getSenderPublicKey(): Uint8Array }
  view.getSenderAddress = () => sender.address
  view.getSenderPublicKey = () => sender.publicKey
  return view as unknown as TypedTransaction
}
