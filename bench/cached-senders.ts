/**
 * Senders ethereumjs already recovered: 2,000 ETH transfers, every round a fresh copy of the
 * block, run as it comes (every sender recovered by us) and after `getSenderPublicKey()` on
 * each transaction (what a mempool or `block.validateData()` leaves behind: ethereumjs caches
 * the key, and we use it as ethereumjs's `runBlock` does). Medians of 9 rounds after 3
 * warm-ups, the two cases alternating; the analyse phase is where senders are recovered.
 *
 *   npx tsx bench/cached-senders.ts
 */
import { ParallelExecutor } from '../ts/index.ts'
import * as W from '../__test__/support/workloads.ts'
import { freshBlocks } from './fresh.ts'

const wl = await W.ethTransfers(2000)
const block = freshBlocks(wl)
const executors = {
  sequential: await ParallelExecutor.create({ common: wl.common, threads: 2, strategy: { kind: 'sequential' } }),
  'optimistic x2': await ParallelExecutor.create({ common: wl.common, threads: 2, strategy: { kind: 'optimistic', senderOrder: true } }),
}
const times: Record<string, number[]> = {}
for (let round = 0; round < 12; round++) {
  for (const cached of [false, true]) {
    for (const [name, ex] of Object.entries(executors)) {
      const b = block()
      // Not timed: ethereumjs's own recovery, as a mempool would have run it.
      if (cached) for (const tx of b.transactions) tx.getSenderPublicKey()
      await new Promise((r) => setTimeout(r, 30))
      const r = await ex.runBlock({ block: b, prestate: wl.prestate, skipBlockValidation: true, skipHardForkValidation: true, generate: true })
      if (round < 3) continue
      const key = `${name}, senders ${cached ? 'cached' : 'recovered'}`
      ;(times[`${key}: analyse`] ??= []).push(r.metrics.timings.analyze)
      ;(times[`${key}: total`] ??= []).push(r.metrics.timings.total)
    }
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
for (const [k, v] of Object.entries(times)) console.log(`${k.padEnd(48)} ${median(v).toFixed(1)} ms`)
for (const ex of Object.values(executors)) await ex.close()
