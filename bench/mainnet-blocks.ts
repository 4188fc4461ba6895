/**
 * A closer look at chosen mainnet blocks of the oracle: sequential, optimistic x2 (sender
 * order), dependency x2 and the default adaptive strategy, round by round in that order after
 * warm-ups, each run after the idle pause. Prints, per block and strategy, the median wall
 * time, the median execute phase, and the median of the per-round ratios against the
 * sequential run of the same round; the receipts root of every run is compared with the
 * first. The blocks come from `$PARALLEL_EVM_FIXTURES` (default `../shared/oracle`).
 *
 *   npx tsx bench/mainnet-blocks.ts 13287210,12300570 [rounds = 5]
 */
import { bytesToHex } from '@ethereumjs/util'

import { ParallelExecutor, type Strategy } from '../ts/index.ts'
import { makeCommon } from '../__test__/oracle/fixtures.ts'
import { loadMainnetBlock } from '../__test__/oracle/mainnet.ts'
import { idle } from './idle.ts'

const WARMUP = 3
const numbers = (process.argv[2] ?? '').split(',').filter((n) => n !== '')
const rounds = Number(process.argv[3] ?? 5)
if (numbers.length === 0 || !(rounds >= 1)) {
  console.error('usage: npx tsx bench/mainnet-blocks.ts <block>[,<block>...] [rounds]')
  process.exit(2)
}

const runners: [string, Strategy][] = [
  ['sequential', { kind: 'sequential' }],
  ['optimistic x2', { kind: 'optimistic', senderOrder: true }],
  ['dependency x2', { kind: 'dependency' }],
  ['adaptive x2', { kind: 'adaptive' }],
]
const executors = await Promise.all(runners.map(([, strategy]) => ParallelExecutor.create({ common: makeCommon(), threads: 2, strategy })))
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

try {
  for (const n of numbers) {
    const fixture = loadMainnetBlock(n)
    const samples = runners.map(() => ({ wall: [] as number[], execute: [] as number[], ratio: [] as number[], picked: new Set<string>() }))
    let root: string | undefined
    for (let round = 0; round < WARMUP + rounds; round++) {
      let sequentialMs = NaN
      for (let i = 0; i < runners.length; i++) {
        // A fresh Block each run: ethereumjs caches senders and hashes on the objects.
        const { block } = loadMainnetBlock(n)
        await idle()
        const began = performance.now()
        const r = await executors[i].runBlock({
          block,
          prestate: fixture.prestate,
          bytecodes: fixture.bytecodes,
          blockchain: fixture.blockchain,
          skipBlockValidation: true,
          skipHardForkValidation: true,
          generate: true,
        })
        const ms = performance.now() - began
        const receipts = bytesToHex(r.receiptsRoot)
        root ??= receipts
        if (receipts !== root) throw new Error(`block ${n}, ${runners[i][0]}: receipts root ${receipts}, the first run gave ${root}`)
        if (i === 0) sequentialMs = ms
        if (round < WARMUP) continue
        samples[i].wall.push(ms)
        samples[i].execute.push(r.metrics.timings.execute)
        samples[i].ratio.push(sequentialMs / ms)
        samples[i].picked.add(r.metrics.strategy)
      }
    }
    console.log(`block ${n} (${fixture.block.transactions.length} transactions), medians of ${rounds} rounds after ${WARMUP} warm-ups:`)
    runners.forEach(([label], i) => {
      const s = samples[i]
      const picked = label.startsWith('adaptive') ? ` (ran: ${[...s.picked].join(', ')})` : ''
      console.log(`  ${label.padEnd(14)} ${median(s.wall).toFixed(1).padStart(8)} ms, execute ${median(s.execute).toFixed(1).padStart(7)} ms, ${median(s.ratio).toFixed(2)}x sequential${picked}`)
    })
  }
} finally {
  await Promise.all(executors.map((e) => e.close()))
}
