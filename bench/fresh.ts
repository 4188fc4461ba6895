/**
 * Fresh copies of a workload's block for the benchmarks: every copy has new transaction
 * objects decoded from the block's bytes, so no run finds a sender, hash or other cache that
 * an earlier run filled in.
 */
import { createBlock, type Block } from '@ethereumjs/block'
import { createTxFromRLP } from '@ethereumjs/tx'

import type { Workload } from '../__test__/support/workloads.ts'

export function freshBlocks(wl: Workload): () => Block {
  const raw = wl.block.transactions.map((tx) => tx.serialize())
  return () =>
    createBlock(
      { header: wl.block.header, transactions: raw.map((r) => createTxFromRLP(r, { common: wl.common })), withdrawals: wl.block.withdrawals?.map((w) => w.toValue()) },
      { common: wl.common },
    )
}
