/**
 * The retry policy measured: optimistic at two threads with and without `maxReexecutions: 0`
 * (past the first re-execution the rest of the block runs in order on one worker), against our
 * sequential strategy and one worker, on a block where every transaction depends on the one
 * before (1,000 increments of one counter) and on one with scattered conflicts (1,000 Uniswap
 * V2 swaps over 10 pools). Runners take turns; per-round ratios to sequential, medians.
 *
 *   npx tsx bench/retry.ts [--rounds 10] [--workloads counter,uniswap]
 */
import { ParallelExecutor, type Strategy } from '../ts/index.ts'
import * as W from '../__test__/support/workloads.ts'
import { freshBlocks } from './fresh.ts'
import { idle } from './idle.ts'

const args = process.argv.slice(2)
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const rounds = Number(arg('rounds', '10'))
const WARMUP = 3
const workloads: Record<string, () => Promise<W.Workload>> = {
  counter: () => W.hotCounter(1000),
  uniswap: () => W.uniswapSwaps(1000, 10),
}
const runners: { name: string; threads: number; strategy: Strategy }[] = [
  { name: 'sequential', threads: 2, strategy: { kind: 'sequential' } },
  { name: 'optimistic x1', threads: 1, strategy: { kind: 'optimistic', senderOrder: true } },
  { name: 'optimistic x2', threads: 2, strategy: { kind: 'optimistic', senderOrder: true } },
  { name: 'optimistic x2, maxReexecutions 0', threads: 2, strategy: { kind: 'optimistic', senderOrder: true, maxReexecutions: 0 } },
]
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

for (const key of arg('workloads', 'counter,uniswap').split(',')) {
  const wl = await workloads[key]()
  const fresh = freshBlocks(wl)
  const executors = await Promise.all(runners.map((r) => ParallelExecutor.create({ common: wl.common, threads: r.threads, strategy: r.strategy })))
  const ms: number[][] = runners.map(() => [])
  const reexecutions: number[][] = runners.map(() => [])
  const serial: number[] = runners.map(() => 0)
  let root: string | undefined
  try {
    for (let round = 0; round < WARMUP + rounds; round++) {
      for (let k = 0; k < runners.length; k++) {
        const block = fresh()
        await idle()
        const t = performance.now()
        const r = await executors[k].runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, skipHardForkValidation: true, generate: true })
        const elapsed = performance.now() - t
        const hex = Buffer.from(r.receiptsRoot).toString('hex')
        if ((root ??= hex) !== hex) throw new Error(`${runners[k].name} returned another receipts root on ${key}`)
        if (round < WARMUP) continue
        ms[k].push(elapsed)
        reexecutions[k].push(r.metrics.reexecutions)
        if (r.metrics.serialFrom !== undefined) serial[k]++
      }
    }
  } finally {
    for (const ex of executors) await ex.close()
  }
  console.log(`\n${wl.name} (${wl.block.transactions.length} txs), medians of ${rounds} rounds, x sequential:`)
  for (let k = 0; k < runners.length; k++) {
    const ratio = median(ms[0].map((s, i) => s / ms[k][i]))
    const extra = k === 0 ? '' : `  re-executions ${median(reexecutions[k])}, in order from a transaction in ${serial[k]}/${rounds} runs`
    console.log(`  ${runners[k].name.padEnd(34)} ${median(ms[k]).toFixed(0).padStart(5)} ms  ${ratio.toFixed(2)}x${extra}`)
  }
}
