/**
 * The oracle harness (`npm run test:oracle`): real mainnet blocks, blockchain tests and state
 * tests nobody here wrote, all through the ParallelExecutor: the optimistic strategy at 1, 2
 * and 4 threads, and every other strategy (optimistic with sender order, sequential,
 * dependency, sharded, adaptive) at 2.
 * Fixtures come from `$PARALLEL_EVM_FIXTURES` (default ../shared/oracle) and are discovered by
 * walking the folders. Prints pass counts per suite and hardfork and the executor's metrics
 * over the mainnet blocks per configuration; exits 1 on any failure.
 *
 *   npm run test:oracle [-- --suites mainnet,blockchain,state] [--filter name]
 *                       [--configs optimistic:1,optimistic:2,optimistic:4,dependency:2,...]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import { ParallelExecutor, type Strategy } from '../../ts/index.ts'
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
// `ordered` is the optimistic strategy with sender order (`senderOrder: true`).
const configs = arg('configs', 'optimistic:1,optimistic:2,optimistic:4,ordered:2,sequential:1,dependency:2,sharded:2,adaptive:2')!
  .split(',')
  .map((c) => {
    const [kind, threads] = c.split(':')
    const strategy = (kind === 'ordered' ? { kind: 'optimistic', senderOrder: true } : { kind }) as Strategy
    return { strategy, threads: Number(threads ?? 2), label: `${kind} x${threads ?? 2}` }
  })
const filter = arg('filter')

if (!fixturesPresent()) {
  console.log(`oracle: SKIPPED — no fixtures at ${FIXTURES} (set PARALLEL_EVM_FIXTURES to the oracle folder)`)
  process.exit(0)
}

const started = performance.now()
const log = (s: string) => console.log(`[${((performance.now() - started) / 1000).toFixed(0)}s] ${s}`)
const executors = new Map<string, ParallelExecutor>()
for (const c of configs) {
  executors.set(c.label, await ParallelExecutor.create({ common: makeCommon(), threads: c.threads, strategy: c.strategy }))
}

// The executor survives a failing pre-analysis by running without predictions, and warns:
// for the oracle, that is a bug to report.
const analysisFailures: string[] = []
process.on('warning', (w) => {
  if (w.message.includes('pre-analysis failed')) analysisFailures.push(w.message)
})

const results: SuiteResult[] = []
let totals: Map<string, MainnetTotals> | undefined
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
lines.push(`Oracle: ${FIXTURES}; configurations ${configs.map((c) => c.label).join(', ')} (each case counted once per configuration)`)
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
if (totals !== undefined && totals.size > 0) {
  lines.push('')
  lines.push('Mainnet metrics per configuration (all blocks summed):')
  lines.push('')
  lines.push('| configuration | re-executions / tx | validation aborts / tx | dependency aborts / tx | dependency waits / tx | hint waits / tx | execute phase Mgas/s | strategies run |')
  lines.push('|---|---|---|---|---|---|---|---|')
  for (const [label, { statistics: t, gas }] of totals) {
    const per = (x: number) => (x / Math.max(1, t.transactions)).toFixed(3)
    const picks = Object.entries(t.strategies).map(([k, v]) => `${k} ${v}`).join(', ')
    lines.push(`| ${label} | ${per(t.reexecutions)} | ${per(t.validationAborts)} | ${per(t.dependencyAborts)} | ${per(t.dependencyWaits)} | ${per(t.hintWaits)} | ${(Number(gas) / 1e6 / (t.timings.execute / 1e3)).toFixed(1)} | ${picks} |`)
  }
  lines.push('')
  lines.push(`(${[...totals.values()][0].statistics.transactions} transactions; see bench/ for speed ratios against baselines.)`)
}
for (const r of results) for (const n of r.notes) lines.push(`note: ${n}`)
const failures = results.flatMap((r) => r.failures)
for (const m of analysisFailures) failures.push({ suite: 'pre-analysis', name: 'warning', reason: m })
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
process.exit(failed === 0 && analysisFailures.length === 0 ? 0 : 1)
