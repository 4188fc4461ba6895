/**
 * Moving transactions to workers without decoding them again. A transaction crosses as its
 * own fields (structured clone) and is re-attached to its class's prototype in the worker,
 * sharing the worker's `Common`: decoding RLP costs ~35 µs per transaction here, 20 µs of it
 * in the per-transaction `Common` copy, against ~1 µs for this.
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

import type { Sender } from './crypto.ts'

/** A transaction's own fields, `to` as bytes. */
export type TxFields = { type: number } & Record<string, unknown>

const SKIP = new Set(['common', 'txOptions', 'cache'])

export function txToFields(tx: TypedTransaction): TxFields {
  const out: Record<string, unknown> = {}
  for (const k of Object.keys(tx)) {
    if (SKIP.has(k)) continue
    const v = (tx as unknown as Record<string, unknown>)[k]
    // Functions (LegacyTx's keccakFunction) cannot cross; txFromFields restores them.
    if (typeof v === 'function') continue
    out[k] = v instanceof Address ? v.bytes : v
  }
  const unlimited = (tx as unknown as { txOptions?: { allowUnlimitedInitCodeSize?: boolean } }).txOptions?.allowUnlimitedInitCodeSize
  if (unlimited !== undefined) out.allowUnlimitedInitCodeSize = unlimited
  return out as TxFields
}

const PROTOTYPES: Record<number, object> = {
  0: LegacyTx.prototype,
  1: AccessList2930Tx.prototype,
  2: FeeMarket1559Tx.prototype,
  3: Blob4844Tx.prototype,
  4: EOACode7702Tx.prototype,
}

export function txFromFields(fields: TxFields, common: Common): TypedTransaction {
  const proto = PROTOTYPES[fields.type]
  if (proto === undefined) throw new Error(`unsupported transaction type ${fields.type}`)
  const { allowUnlimitedInitCodeSize, ...own } = fields
  const tx = Object.assign(Object.create(proto), own) as Record<string, unknown>
  if (own.to !== undefined) tx.to = new Address(own.to as Uint8Array)
  tx.common = common
  tx.txOptions = { common, allowUnlimitedInitCodeSize }
  tx.cache = {}
  if (fields.type === 0) tx.keccakFunction = common.customCrypto.keccak256 ?? keccak_256
  return tx as unknown as TypedTransaction
}

/**
 * A view of `tx` whose sender is already known, so `runTx` does not recover it again. The
 * original object (possibly frozen, possibly the caller's) is not modified.
 */
export function withSender(tx: TypedTransaction, sender: Sender): TypedTransaction {
  return Object.create(tx, {
    getSenderAddress: { value: () => sender.address },
    getSenderPublicKey: { value: () => sender.publicKey },
  }) as TypedTransaction
}
