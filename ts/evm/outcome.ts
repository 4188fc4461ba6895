/**
 * What one transaction produced, in a form that crosses thread boundaries, and how it becomes
 * the `RunTxResult`, receipt and receipts-trie entry that ethereumjs's `runBlock` returns.
 */
import type { Block } from '@ethereumjs/block'
import { Hardfork, type Common } from '@ethereumjs/common'
import { EVMError, type Log } from '@ethereumjs/evm'
import { Capability, isBlob4844Tx, type TypedTransaction } from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { Bloom, encodeReceipt, type RunTxResult, type TxReceipt } from '@ethereumjs/vm'

/** A transaction's result, structured-cloneable. */
export interface TxOutcome {
  /** The recovered sender (20 bytes). */
  sender: Uint8Array
  /** The EVM exception (receipt status 0), if any. */
  error?: string
  executionGasUsed: bigint
  totalGasSpent: bigint
  blockGasSpent: bigint
  amountSpent: bigint
  minerValue: bigint
  gasRefund: bigint
  returnValue: Uint8Array
  logs: Log[]
  createdAddress?: Uint8Array
  blobGasUsed?: bigint
  /** The transaction's logs bloom (absent when it has no logs). */
  bloom?: Uint8Array
}

export function outcomeOf(r: RunTxResult, sender: Uint8Array): TxOutcome {
  const logs = r.execResult.logs ?? []
  return {
    sender,
    error: r.execResult.exceptionError?.error,
    executionGasUsed: r.execResult.executionGasUsed,
    totalGasSpent: r.totalGasSpent,
    blockGasSpent: r.blockGasSpent,
    amountSpent: r.amountSpent,
    minerValue: r.minerValue,
    gasRefund: r.gasRefund,
    returnValue: r.execResult.returnValue,
    logs,
    createdAddress: r.createdAddress?.bytes,
    blobGasUsed: r.blobGasUsed,
    bloom: logs.length > 0 ? r.bloom.bitvector : undefined,
  }
}

/** Builds the receipt as `generateTxReceipt` does. */
export function receiptOf(
  tx: TypedTransaction,
  o: TxOutcome,
  cumulativeGasUsed: bigint,
  common: Common,
  block: Block,
  /** The state root after the transaction (pre-Byzantium receipts); zeros if unknown. */
  stateRoot?: Uint8Array,
): TxReceipt {
  const base = {
    cumulativeBlockGasUsed: cumulativeGasUsed,
    bitvector: o.bloom ?? new Uint8Array(256),
    logs: o.logs,
  }
  const status = o.error !== undefined ? (0 as const) : (1 as const)
  if (!tx.supports(Capability.EIP2718TypedTransaction)) {
    if (common.gteHardfork(Hardfork.Byzantium)) return { status, ...base }
    // Pre-Byzantium receipts embed the state root after the transaction, which needs a trie:
    // the executor passes it when it has the caller's state manager.
    return { stateRoot: stateRoot ?? new Uint8Array(32), ...base }
  }
  if (isBlob4844Tx(tx)) {
    return { blobGasUsed: o.blobGasUsed ?? 0n, blobGasPrice: block.header.getBlobGasPrice(), status, ...base }
  }
  return { status, ...base }
}

export function encodedReceipt(tx: TypedTransaction, receipt: TxReceipt): Uint8Array {
  return encodeReceipt(receipt, tx.type)
}

/** The `RunTxResult` ethereumjs would have returned. */
export function runTxResultOf(o: TxOutcome, receipt: TxReceipt, common: Common): RunTxResult {
  return {
    execResult: {
      exceptionError: o.error !== undefined ? new EVMError(o.error as ConstructorParameters<typeof EVMError>[0]) : undefined,
      executionGasUsed: o.executionGasUsed,
      returnValue: o.returnValue,
      logs: o.logs,
      gasRefund: o.gasRefund,
      blobGasUsed: o.blobGasUsed,
    },
    createdAddress: o.createdAddress !== undefined ? new Address(o.createdAddress) : undefined,
    bloom: new Bloom(o.bloom ?? new Uint8Array(256), common),
    amountSpent: o.amountSpent,
    receipt,
    totalGasSpent: o.totalGasSpent,
    blockGasSpent: o.blockGasSpent,
    gasRefund: o.gasRefund,
    minerValue: o.minerValue,
    blobGasUsed: o.blobGasUsed,
  }
}
