import { createBlock } from '@ethereumjs/block'
import { createTxFromRLP } from '@ethereumjs/tx'
import { ParallelExecutor } from '../ts/index.ts'
import * as W from '../__test__/support/workloads.ts'
const kind = process.argv[2] ?? 'eth'
const n = Number(process.argv[3] ?? 2000)
const rounds = Number(process.argv[4] ?? 20)
const wl = kind === 'eth' ? await W.ethTransfers(n) : kind === 'erc20' ? await W.erc20Transfers(n, 'distinct') : kind === 'counter' ? await W.hotCounter(n) : await W.uniswapSwaps(n, 10)
const raw = wl.block.transactions.map((tx) => tx.serialize())
const mk = () => createBlock({ header: wl.block.header, transactions: raw.map((r) => createTxFromRLP(r, { common: wl.common })), withdrawals: wl.block.withdrawals?.map((w) => w.toValue()) }, { common: wl.common })
const exs = {
  seq: await ParallelExecutor.create({ common: wl.common, strategy: { kind: 'sequential' } }),
  x1: await ParallelExecutor.create({ common: wl.common, threads: 1, strategy: { kind: 'optimistic' } }),
  x2: await ParallelExecutor.create({ common: wl.common, threads: 2, strategy: { kind: 'optimistic' } }),
}
const t: Record<string, number[]> = {}
const last: Record<string, any> = {}
for (let i = 0; i < rounds + 3; i++) {
  for (const [name, ex] of Object.entries(exs)) {
    const block = mk()
    const s = performance.now()
    const r = await ex.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, generate: true })
    if (i >= 3) (t[name] ??= []).push(performance.now() - s)
    last[name] = r.metrics
  }
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const out: string[] = []
for (const k of Object.keys(t)) out.push(`${k} ${med(t[k]).toFixed(0)}`)
out.push(`x2/seq paired ${med(t.seq.map((s, i) => s / t.x2[i])).toFixed(2)}`, `x1/seq ${med(t.seq.map((s, i) => s / t.x1[i])).toFixed(2)}`)
if (process.env.ALL) for (const k of Object.keys(t)) console.log(k, t[k].map((x) => x.toFixed(0)).join(" "))
console.log(out.join(' | '))
if (process.env.SHOW) for (const k of ['x1', 'x2']) console.log(k, JSON.stringify({ t: last[k].timings, w: { wall: last[k].workers.wallMs, busy: last[k].workers.busyMs }, re: last[k].reexecutions, val: last[k].validations, waits: last[k].dependencyWaits, peak: last[k].peakConcurrency }))
for (const ex of Object.values(exs)) await ex.close()
