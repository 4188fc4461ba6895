import { createBlock } from '@ethereumjs/block'
import { createTxFromRLP } from '@ethereumjs/tx'
import { ParallelExecutor } from '../ts/index.ts'
import * as W from '../__test__/support/workloads.ts'
const kind = process.argv[2] ?? 'eth'
const wl = kind === 'eth' ? await W.ethTransfers(2000) : await W.erc20Transfers(2000, 'distinct')
const raw = wl.block.transactions.map((tx) => tx.serialize())
const mk = () => createBlock({ header: wl.block.header, transactions: raw.map((r) => createTxFromRLP(r, { common: wl.common })) }, { common: wl.common })
const seq = await ParallelExecutor.create({ common: wl.common, strategy: { kind: 'sequential' } })
for (let i = 0; i < 12; i++) {
  const block = mk()
  const t = performance.now()
  await seq.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, generate: true })
  console.log((performance.now() - t).toFixed(1))
}
await seq.close()
