/**
 * Strategy benchmark (issue 6): each strategy on workloads built for it, side by side in one
 * run. Runners alternate round by round after warm-up, in an order that rotates each round;
 * every run gets freshly decoded transaction objects; times are medians; ratios are medians
 * of per-round ratios against the sequential strategy of the same round. All runners must
 * agree on the receipts root.
 *
 * Every executor keeps what it learns across blocks, as in real use: remembered conflicts, and
 * the adaptive strategy's measured throughput per strategy. The warm-up rounds (the same for
 * every runner) are as many as the adaptive strategy needs before it decides by measurements:
 * on a new executor it leaves one sequential and three parallel blocks unmeasured (JIT warm-up),
 * then measures three blocks each of its pick, sequential and the other parallel kind, 13
 * blocks in all; the timed rounds compare it settled (with its re-measurements), not while
 * it explores. Blocks under 100 transactions get ten times the rounds (they take milliseconds,
 * where scheduling noise is large).
 *
 *   npm run bench -- strategies [--workloads chains,counter,...] [--runs 11] [--warmup 16] [--threads 2] [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'

import { bytesToHex } from '@ethereumjs/util'

import { ParallelExecutor, type ExecutionMetrics, type Strategy } from '../ts/index.ts'
import * as W from '../__test__/support/workloads.ts'
import { freshBlocks } from './fresh.ts'
import { IDLE_MS, idle } from './idle.ts'

const args = process.argv.slice(2)
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const quick = args.includes('--quick')
const runs = Number(arg('runs', quick ? '3' : '11'))
// 13 blocks of adaptive exploring (see above), and a margin.
const warmup = Number(arg('warmup', '16'))
const threads = Number(arg('threads', '2'))
const scale = quick ? 0.25 : 1

const WORKLOADS: Record<string, { label: string; home: string; make: () => Promise<W.Workload> }> = {
  chains: {
    label: `same-sender chains and ERC-20 transfers (${Math.round(100 * scale)} senders x 20, each sender's together)`,
    home: 'dependency',
    make: () => W.chainsAndTokens(Math.round(100 * scale), 20, 'contiguous'),
  },
  interleaved: {
    label: `same-sender chains and ERC-20 transfers (${Math.round(100 * scale)} senders x 20, interleaved)`,
    home: 'dependency',
    make: () => W.chainsAndTokens(Math.round(100 * scale), 20, 'interleaved'),
  },
  onechain: { label: `fully dependent: one sender, ${Math.round(1000 * scale)} transfers`, home: 'sharded', make: () => W.senderChains(1, Math.round(1000 * scale)) },
  counter: { label: `fully dependent: ${Math.round(1000 * scale)} increments of one counter`, home: 'sharded', make: () => W.hotCounter(Math.round(1000 * scale)) },
  eth: { label: `${Math.round(2000 * scale)} independent ETH transfers`, home: 'optimistic', make: () => W.ethTransfers(Math.round(2000 * scale)) },
  erc20: { label: `${Math.round(2000 * scale)} ERC-20 transfers, distinct holders`, home: 'optimistic', make: () => W.erc20Transfers(Math.round(2000 * scale), 'distinct') },
  uniswap: { label: `${Math.round(1000 * scale)} Uniswap V2 swaps over 10 pools`, home: 'optimistic', make: () => W.uniswapSwaps(Math.round(1000 * scale), 10) },
  small: { label: '12 ETH transfers (a small block)', home: 'sequential', make: () => W.ethTransfers(12) },
}

const RUNNERS: { name: string; threads: number; strategy: Strategy }[] = [
  // Senders are recovered on the same native threads by every runner (see bench/blocks.ts).
  { name: 'sequential', threads, strategy: { kind: 'sequential' } },
  { name: 'optimistic', threads, strategy: { kind: 'optimistic' } },
  { name: 'dependency', threads, strategy: { kind: 'dependency' } },
  { name: 'sharded', threads, strategy: { kind: 'sharded' } },
  { name: 'adaptive', threads, strategy: { kind: 'adaptive' } },
  // A control: a second sequential executor. Its ratio to the first shows how far two runs of
  // the same code differ on this machine, the noise every other ratio carries.
  { name: 'sequential again', threads, strategy: { kind: 'sequential' } },
]

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]
}

interface Row {
  runner: string
  medianMs: number
  vsSequential: number
  reexecutionsPerTx: number
  picked?: string
  reason?: string
  /** What ran in the timed rounds (adaptive: its picks, re-measurements included). */
  ran: Record<string, number>
}

/** What a runner ran in the timed rounds, most rounds first: `dependency ×8, optimistic ×3`. */
const ranText = (row: Row) =>
  Object.entries(row.ran)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${kind} ×${n}`)
    .join(', ')

async function benchmark(key: string): Promise<{ key: string; label: string; home: string; transactions: number; rows: Row[] }> {
  const spec = WORKLOADS[key]
  const wl = await spec.make()
  const fresh = freshBlocks(wl)
  const executors = await Promise.all(RUNNERS.map((r) => ParallelExecutor.create({ common: wl.common, threads: r.threads, strategy: r.strategy })))
  // Small blocks take milliseconds, where scheduling noise is large: run them more often.
  const rounds = wl.block.transactions.length < 100 ? runs * 10 : runs
  const times = RUNNERS.map(() => [] as number[])
  const metrics = RUNNERS.map(() => [] as ExecutionMetrics[])
  const roots = new Set<string>()
  try {
    for (let round = 0; round < warmup + rounds; round++) {
      // The order rotates each round, so that no runner always follows the same one.
      for (let j = 0; j < RUNNERS.length; j++) {
        const k = (j + round) % RUNNERS.length
        const block = fresh()
        // The rotation keeps each runner after the same neighbour: see idle.ts.
        await idle()
        const t = performance.now()
        const r = await executors[k].runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, generate: true })
        const ms = performance.now() - t
        roots.add(bytesToHex(r.receiptsRoot))
        if (round >= warmup) {
          times[k].push(ms)
          metrics[k].push(r.metrics)
        }
      }
    }
  } finally {
    await Promise.all(executors.map((x) => x.close()))
  }
  if (roots.size !== 1) throw new Error(`${key}: strategies disagree on the receipts root`)
  const n = wl.block.transactions.length
  const rows: Row[] = RUNNERS.map((r, k) => {
    const last = metrics[k].at(-1)!
    return {
      runner: r.name,
      medianMs: median(times[k]),
      vsSequential: median(times[0].map((s, i) => s / times[k][i])),
      reexecutionsPerTx: median(metrics[k].map((m) => m.reexecutions)) / n,
      ...(r.strategy.kind === 'adaptive' || last.decision !== undefined ? { picked: last.strategy, reason: last.decision?.reason } : {}),
      ran: metrics[k].reduce<Record<string, number>>((acc, m) => ((acc[m.strategy] = (acc[m.strategy] ?? 0) + 1), acc), {}),
    }
  })
  return { key, label: spec.label, home: spec.home, transactions: n, rows }
}

const started = performance.now()
const wanted = arg('workloads', Object.keys(WORKLOADS).join(',')).split(',')
const results = []
for (const key of wanted) {
  if (WORKLOADS[key] === undefined) throw new Error(`unknown workload ${key}`)
  process.stdout.write(`\n${WORKLOADS[key].label}: running…`)
  const r = await benchmark(key)
  results.push(r)
  const fixed = r.rows.filter((x) => x.runner !== 'adaptive' && x.runner !== 'sequential again')
  const best = fixed.reduce((a, b) => (b.vsSequential > a.vsSequential ? b : a))
  const adaptive = r.rows.find((x) => x.runner === 'adaptive')!
  console.log(` best fixed: ${best.runner}; adaptive picked ${adaptive.picked} (${adaptive.reason})`)
  console.table(
    r.rows.map((x) => ({
      runner: x.runner,
      'median ms': x.medianMs.toFixed(1),
      'x sequential': x.vsSequential.toFixed(2),
      'x best fixed': (x.vsSequential / best.vsSequential).toFixed(2),
      're-exec/tx': x.reexecutionsPerTx.toFixed(3),
      ran: ranText(x),
    })),
  )
}

const lines: string[] = []
const m = cpus()
lines.push(`Machine: ${m.length} × ${m[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GB, Node ${process.version}; ${new Date().toISOString()}; ${threads} threads for the parallel strategies; medians of ${runs} rounds after ${warmup} warm-up rounds, each run after a ${IDLE_MS} ms idle pause; ratios are medians of per-round ratios.`)
lines.push('')
lines.push('| workload (built for) | sequential | optimistic | dependency | sharded | adaptive (what it ran in the timed rounds) | adaptive / best fixed | control: sequential again |')
lines.push('|---|---|---|---|---|---|---|---|')
for (const r of results) {
  const v = (name: string) => r.rows.find((x) => x.runner === name)!
  const best = Math.max(...r.rows.filter((x) => x.runner !== 'adaptive' && x.runner !== 'sequential again').map((x) => x.vsSequential))
  const a = v('adaptive')
  lines.push(
    `| ${r.label} (${r.home}) | 1.00 | ${v('optimistic').vsSequential.toFixed(2)} | ${v('dependency').vsSequential.toFixed(2)} | ${v('sharded').vsSequential.toFixed(2)} | ${a.vsSequential.toFixed(2)} (${ranText(a)}) | ${(a.vsSequential / best).toFixed(2)} | ${v('sequential again').vsSequential.toFixed(2)} |`,
  )
}
lines.push('')
lines.push('Best fixed is the highest of four medians, which noise biases upward; the control column is the same sequential strategy measured again by a second executor.')
const text = lines.join('\n') + '\n'
console.log('\n' + text)
const dir = fileURLToPath(new URL('./results/', import.meta.url))
mkdirSync(dir, { recursive: true })
writeFileSync(`${dir}strategies.json`, JSON.stringify({ date: new Date().toISOString(), threads, runs, warmup, results }, null, 2))
writeFileSync(`${dir}strategies.md`, text)
console.log(`wrote bench/results/strategies.{json,md}; ${((performance.now() - started) / 1000).toFixed(0)} s`)
