/**
 * EIP-7702 authorizations: what recovering an authority costs (ethereumjs's
 * `eoaCode7702RecoverAuthority`, which `runTx` calls, against our native recovery for the
 * pre-analysis), and a block of 200 sponsored delegations with 100 of the authorities sending
 * a transfer right behind their authorization (`delegations` in the test workloads), under
 * sequential, optimistic x2 (sender order) and dependency x2. Medians of 7 rounds after 3
 * warm-ups; every run's receipts root is compared with the first.
 *
 *   npx tsx bench/delegations.ts
 */
import { eoaCode7702RecoverAuthority } from '@ethereumjs/util'

import { ParallelExecutor } from '../ts/index.ts'
import { recoverAuthorities } from '../ts/evm/authorities.ts'
import * as W from '../__test__/support/workloads.ts'
import { freshBlocks } from './fresh.ts'
import { idle } from './idle.ts'

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const wl = await W.delegations(200, true)
const txs = wl.block.transactions
const items = txs.flatMap((tx) => (tx.type === 4 ? [...(tx as unknown as { authorizationList: Parameters<typeof eoaCode7702RecoverAuthority>[0][] }).authorizationList] : []))

const js: number[] = []
const native1: number[] = []
const native2: number[] = []
for (let round = 0; round < 10; round++) {
  let t = performance.now()
  for (const item of items) eoaCode7702RecoverAuthority(item)
  if (round >= 3) js.push(((performance.now() - t) * 1000) / items.length)
  t = performance.now()
  await recoverAuthorities(txs, 1)
  if (round >= 3) native1.push(((performance.now() - t) * 1000) / items.length)
  t = performance.now()
  await recoverAuthorities(txs, 2)
  if (round >= 3) native2.push(((performance.now() - t) * 1000) / items.length)
}
console.log(`${items.length} authorities, wall time per authority:`)
console.log(`  ethereumjs eoaCode7702RecoverAuthority (noble, what runTx runs)  ${median(js).toFixed(0)} µs`)
console.log(`  recoverAuthorities, 1 native thread (the pre-analysis)           ${median(native1).toFixed(0)} µs`)
console.log(`  recoverAuthorities, 2 native threads                             ${median(native2).toFixed(0)} µs`)

const block = freshBlocks(wl)
const executors: Record<string, ParallelExecutor> = {
  sequential: await ParallelExecutor.create({ common: wl.common, threads: 2, strategy: { kind: 'sequential' } }),
  'optimistic x2': await ParallelExecutor.create({ common: wl.common, threads: 2, strategy: { kind: 'optimistic', senderOrder: true } }),
  'dependency x2': await ParallelExecutor.create({ common: wl.common, threads: 2, strategy: { kind: 'dependency', remember: false } }),
}
const rows: Record<string, { ms: number[]; analyse: number[]; reexecutions: number[]; edges: number }> = {}
let root: string | undefined
for (let round = 0; round < 10; round++) {
  for (const [name, ex] of Object.entries(executors)) {
    const b = block()
    await idle()
    const t = performance.now()
    const r = await ex.runBlock({ block: b, prestate: wl.prestate, skipBlockValidation: true, skipHardForkValidation: true, generate: true })
    const ms = performance.now() - t
    const got = Buffer.from(r.receiptsRoot).toString('hex')
    if ((root ??= got) !== got) throw new Error(`${name}: receipts root differs`)
    if (round < 3) continue
    const row = (rows[name] ??= { ms: [], analyse: [], reexecutions: [], edges: r.metrics.profile?.predictedEdges ?? 0 })
    row.ms.push(ms)
    row.analyse.push(r.metrics.timings.analyze)
    row.reexecutions.push(r.metrics.reexecutions)
  }
}
const base = median(rows.sequential.ms)
console.log(`\n${txs.length} transactions (200 type 4); medians of 7:`)
for (const [name, row] of Object.entries(rows)) {
  console.log(
    `  ${name.padEnd(14)} ${median(row.ms).toFixed(1).padStart(7)} ms  x${(base / median(row.ms)).toFixed(2)} sequential  analyse ${median(row.analyse).toFixed(1)} ms  re-executions ${median(row.reexecutions)}  predicted edges ${row.edges}`,
  )
}
for (const ex of Object.values(executors)) await ex.close()
