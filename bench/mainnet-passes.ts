/**
 * The oracle's mainnet blocks as a stream: passes over all of them in order, each block once a
 * pass, as a node meets a chain's blocks, by sequential, optimistic x2 (sender order) and the
 * default adaptive strategy in turn on each block, one executor each for the whole run.
 *
 * The blocks benchmark (`npm run bench -- blocks`) times every mainnet block on its own, after
 * warm-up runs of that same block: what its contracts cost once an executor has seen them.
 * Here each block comes after 45 others, so every cache that is smaller than the stream's code
 * (19 MB of contracts a pass) is tested as it would be on a chain. Prints the median pass time
 * per runner, the median of the per-pass ratios against sequential, and the largest JS heap a
 * worker had at the end of a block. The receipts root of every run is compared with the first
 * runner's.
 *
 *   npx tsx bench/mainnet-passes.ts [passes = 5] [runners = sequential,optimistic,adaptive]
 */
import { bytesToHex } from '@ethereumjs/util'

import { ParallelExecutor, type Strategy } from '../ts/index.ts'
import { makeCommon } from '../__test__/oracle/fixtures.ts'
import { loadMainnetBlock, mainnetBlocks } from '../__test__/oracle/mainnet.ts'
import { idle } from './idle.ts'

const WARMUP = 1
const passes = Number(process.argv[2] ?? 5)
const all: Record<string, Strategy> = {
  sequential: { kind: 'sequential' },
  optimistic: { kind: 'optimistic', senderOrder: true },
  adaptive: { kind: 'adaptive' },
}
const names = (process.argv[3] ?? 'sequential,optimistic,adaptive').split(',')
if (!(passes >= 1) || names.some((n) => all[n] === undefined)) {
  console.error('usage: npx tsx bench/mainnet-passes.ts [passes] [sequential,optimistic,adaptive]')
  process.exit(2)
}
const numbers = mainnetBlocks()
if (numbers.length === 0) {
  console.log('no mainnet fixtures: nothing to run')
  process.exit(0)
}
const fixtures = numbers.map((n) => loadMainnetBlock(n))
const executors = await Promise.all(names.map((n) => ParallelExecutor.create({ common: makeCommon(), threads: 2, strategy: all[n] })))
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const totals = names.map(() => [] as number[])
const heapMB = names.map(() => 0)
const began = performance.now()
try {
  for (let pass = 0; pass < WARMUP + passes; pass++) {
    const sums = names.map(() => 0)
    for (let b = 0; b < numbers.length; b++) {
      const f = fixtures[b]
      let root: string | undefined
      for (let i = 0; i < names.length; i++) {
        // A fresh Block each run: ethereumjs caches senders and hashes on the objects.
        const { block } = loadMainnetBlock(numbers[b])
        await idle()
        const t = performance.now()
        const r = await executors[i].runBlock({ block, prestate: f.prestate, bytecodes: f.bytecodes, blockchain: f.blockchain, skipBlockValidation: true, skipHardForkValidation: true, generate: true })
        sums[i] += performance.now() - t
        heapMB[i] = Math.max(heapMB[i], ...(r.metrics.workers?.heapUsedBytes ?? []).map((h) => h / 2 ** 20))
        const receipts = bytesToHex(r.receiptsRoot)
        root ??= receipts
        if (receipts !== root) throw new Error(`block ${numbers[b]}, ${names[i]}: receipts root ${receipts}, ${names[0]} gave ${root}`)
      }
    }
    if (pass >= WARMUP) sums.forEach((s, i) => totals[i].push(s))
    console.log(`pass ${pass + 1}${pass < WARMUP ? ' (warm-up)' : ''}: ${names.map((n, i) => `${n} ${sums[i].toFixed(0)} ms`).join(', ')}`)
  }
} finally {
  await Promise.all(executors.map((e) => e.close()))
}
console.log(`\n${numbers.length} mainnet blocks a pass, medians of ${passes} passes after ${WARMUP} warm-up (${((performance.now() - began) / 1000).toFixed(0)} s):`)
names.forEach((n, i) => {
  const ratio = median(totals[i].map((t, p) => totals[0][p] / t))
  const heap = heapMB[i] > 0 ? `, largest worker heap ${heapMB[i].toFixed(0)} MB` : ''
  console.log(`  ${n.padEnd(11)} ${median(totals[i]).toFixed(0).padStart(6)} ms a pass, ${ratio.toFixed(2)}x ${names[0]}${heap}`)
})
