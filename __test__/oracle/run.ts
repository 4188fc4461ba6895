/**
 * The oracle harness (`npm run test:oracle`): real mainnet blocks, blockchain tests and state
 * tests nobody here wrote, all through the ParallelExecutor with the optimistic strategy at
 * each thread count. Fixtures come from `$PARALLEL_EVM_FIXTURES` (default ../shared/oracle)
 * and are discovered by walking the folders. Prints pass counts per suite and hardfork and the
 * executor's metrics over the mainnet blocks; exits 1 on any failure.
 *
 *   npm run test:oracle [-- --suites mainnet,blockchain,state] [--threads 1,2,4] [--filter name]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import { ParallelExecutor } from '../../ts/index.ts'
import { runBlockchainTests } from './blockchain.ts'
import { FIXTURES, fixturesPresent, makeCommon, type SuiteResult } from './fixtures.ts'
import { runMainnet, type MainnetTotals } from './mainnet.ts'
import { runStateTests } from './state.ts'

const args = process.argv.slice(2)
const arg = (name: string, fallback?: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const suites = arg('suites', 'mainnet,blockchain,state')!.split(',')
const threadCounts = arg('threads', '1,2,4')!.split(',').map(Number)
const filter = arg('filter')

if (!fixturesPresent()) {
  console.log(`oracle: SKIPPED — no fixtures at ${FIXTURES} (set PARALLEL_EVM_FIXTURES to the oracle folder)`)
  process.exit(0)
}

const started = performance.now()
const log = (s: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${s}`)
const executors = new Map<number, ParallelExecutor>()
for (const threads of threadCounts) {
  executors.set(threads, await ParallelExecutor.create({ common: makeCommon(), threads, strategy: { kind: 'optimistic' } }))
}

const results: SuiteResult[] = []
let totals: MainnetTotals | undefined
try {
  if (suites.includes('mainnet')) {
    const r = await runMainnet(executors, log)
    results.push(r.suite)
    totals = r.totals
  }
  if (suites.includes('blockchain')) results.push(await runBlockchainTests(executors, filter, log))
  if (suites.includes('state')) results.push(await runStateTests(executors, filter, log))
} finally {
  for (const e of executors.values()) await e.close()
}

const lines: string[] = []
lines.push(`Oracle: ${FIXTURES}; optimistic strategy at ${threadCounts.join(', ')} threads (each case counted once per thread count)`)
lines.push('')
lines.push('| suite | hardfork | passed | total |')
lines.push('|---|---|---|---|')
let failed = 0
for (const r of results) {
  for (const [fork, c] of [...r.byFork].sort()) lines.push(`| ${r.suite} | ${fork} | ${c.passed} | ${c.total} |`)
  const passed = [...r.byFork.values()].reduce((a, c) => a + c.passed, 0)
  const total = [...r.byFork.values()].reduce((a, c) => a + c.total, 0)
  lines.push(`| **${r.suite}** | all | **${passed}** | **${total}** |`)
  failed += total - passed
}
if (totals !== undefined && totals.transactions > 0) {
  const maxThreads = Math.max(...threadCounts)
  lines.push('')
  lines.push(
    `Mainnet metrics at ${maxThreads} threads over ${totals.transactions} transactions: ` +
      `${(totals.reexecutions / totals.transactions).toFixed(3)} re-executions per transaction, ` +
      `${(totals.validationAborts / totals.transactions).toFixed(3)} validation aborts per transaction, ` +
      `${totals.dependencyWaits} dependency waits (${(totals.dependencyWaits / totals.transactions).toFixed(3)} per transaction).`,
  )
  lines.push(
    'Execution phase throughput: ' +
      [...totals.executeMs].map(([t, ms]) => `x${t} ${(Number(totals!.gas) / 1e6 / (ms / 1e3)).toFixed(1)} Mgas/s`).join(', ') +
      ' (all blocks summed; see bench/ for ratios against baselines).',
  )
}
for (const r of results) for (const n of r.notes) lines.push(`note: ${n}`)
const failures = results.flatMap((r) => r.failures)
if (failures.length > 0) {
  lines.push('')
  lines.push(`${failures.length} failures (first 25):`)
  for (const f of failures.slice(0, 25)) lines.push(`- ${f.suite}: ${f.name}: ${f.reason}`)
}
lines.push('')
lines.push(`Done in ${((performance.now() - started) / 1000).toFixed(0)} s.`)
const text = lines.join('\n')
console.log('\n' + text)
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url))
mkdirSync(dir, { recursive: true })
writeFileSync(`${dir}oracle-summary.md`, text + '\n')
process.exit(failed === 0 ? 0 : 1)
