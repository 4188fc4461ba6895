import { createBlock } from '@ethereumjs/block'
import { createTxFromRLP } from '@ethereumjs/tx'
import { ParallelExecutor } from '../ts/index.ts'
import * as W from '../__test__/support/workloads.ts'
const kind = process.argv[2] ?? 'eth'
const n = Number(process.argv[3] ?? 2000)
const wl = kind === 'eth' ? await W.ethTransfers(n) : kind === 'erc20' ? await W.erc20Transfers(n, 'distinct') : kind === 'counter' ? await W.hotCounter(n) : await W.uniswapSwaps(n, 10)
const raw = wl.block.transactions.map((tx) => tx.serialize())
const mk = () => createBlock({ header: wl.block.header, transactions: raw.map((r) => createTxFromRLP(r, { common: wl.common })), withdrawals: wl.block.withdrawals?.map((w) => w.toValue()) }, { common: wl.common })
const ex = await ParallelExecutor.create({ common: wl.common, threads: Number(process.argv[5] ?? 2), strategy: { kind: (process.argv[4] ?? 'optimistic') as any } })
for (let i = 0; i < 10; i++) {
  const block = mk()
  const s = performance.now()
  await ex.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, generate: true })
  process.stdout.write((performance.now() - s).toFixed(0) + ' ')
}
await ex.close()
