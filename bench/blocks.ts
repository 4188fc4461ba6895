/**
 * Block benchmark (issue 5). The same blocks, run by:
 *   - ethereumjs `runBlock` with its default MerkleStateManager (what pure-JS users run),
 *   - ethereumjs `runBlock` with the fastest pure-JS state manager we have (our in-memory
 *     journaled overlay),
 *   - parallel-evm's pure-JS fallback (PARALLEL_EVM_FORCE_JS=1, in a child process),
 *   - parallel-evm's sequential strategy, its optimistic strategy (with `senderOrder: true`,
 *     its fastest setting) at each thread count, and
 *     the default adaptive strategy (after untimed blocks to measure its candidates).
 * Our runners first run untimed settling blocks (`SETTLE`), then alternate round by round
 * through the warm-up and the timed rounds; every run gets freshly decoded transaction
 * objects (ethereumjs caches a frozen transaction's sender); times are medians; every ratio
 * comes from this one run; all runners must agree on the receipts root.
 *
 * For each parallel run: the ideal speedup min(threads, work / critical path of the block's
 * actual dependency graph) and the efficiency, measured / ideal. Also the machine's ceiling
 * for the workload: two independent sequential executions on two threads at once, against one
 * alone (on a 2-vCPU VM they slow each other down, which no engine can avoid).
 *
 *   npm run bench -- blocks [--workloads eth,erc20,uniswap,counter,mainnet] [--txs N]
 *                           [--runs 5] [--threads 1,2] [--quick] [--no-ceiling]
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

import type { Block } from '@ethereumjs/block'
import { bytesToHex } from '@ethereumjs/util'
import { createVM, runBlock } from '@ethereumjs/vm'

import { ParallelExecutor, type ParallelRunBlockResult, type Prestate } from '../ts/index.ts'
import { keccak256 } from '../ts/evm/crypto.ts'
import { OverlayStateManager } from '../ts/evm/state/overlay.ts'
import { PrestateSource } from '../ts/evm/state/sources.ts'
import { merkleFromPrestate } from '../__test__/support/evm.ts'
import * as W from '../__test__/support/workloads.ts'
import { loadMainnetBlock, mainnetBlocks } from '../__test__/oracle/mainnet.ts'
import { makeCommon } from '../__test__/oracle/fixtures.ts'
import { freshBlocks } from './fresh.ts'
import { IDLE_MS, idle } from './idle.ts'

const args = process.argv.slice(2)
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : fallback
}
const quick = args.includes('--quick')
const runs = Number(arg('runs', quick ? '3' : '5'))
const warmup = Number(arg('warmup', quick ? '2' : '3'))
const threadCounts = arg('threads', '1,2').split(',').map(Number)
const txOverride = args.includes('--txs') ? Number(arg('txs', '0')) : undefined
const ceiling = !args.includes('--no-ceiling')
/**
 * Untimed blocks before the warm-up rounds: for the adaptive runner to measure its
 * candidates, and, on a case with executors of its own, for every runner alike (see
 * `benchmarkCase`).
 */
const SETTLE = 10

/** A block to run: what every runner needs. */
interface Case {
  name: string
  common: ReturnType<typeof makeCommon>
  prestate: Prestate
  bytecodes?: Record<string, string>
  blockchain?: { getBlock(n: bigint | number): Promise<{ hash(): Uint8Array }> }
  /** A fresh copy of the block (new transaction objects). */
  block(): Block
}

function fromWorkload(wl: W.Workload): Case {
  return { name: wl.name, common: wl.common, prestate: wl.prestate, block: freshBlocks(wl) }
}

function fromMainnet(number: string): Case {
  const first = loadMainnetBlock(number)
  return {
    name: `mainnet ${number}`,
    common: first.common,
    prestate: first.prestate,
    bytecodes: first.bytecodes,
    blockchain: first.blockchain,
    block: () => loadMainnetBlock(number).block,
  }
}

const WORKLOADS: Record<string, { label: string; make: () => Promise<W.Workload> }> = {
  eth: { label: `(a) ${txOverride ?? 2000} independent ETH transfers`, make: () => W.ethTransfers(txOverride ?? 2000) },
  erc20: { label: `(b) ${txOverride ?? 2000} ERC-20 transfers on one token`, make: () => W.erc20Transfers(txOverride ?? 2000, 'distinct') },
  uniswap: { label: `(c) ${txOverride ?? 1000} Uniswap V2 swaps over 10 pools`, make: () => W.uniswapSwaps(txOverride ?? 1000, 10) },
  counter: { label: `(d) ${txOverride ?? 1000} increments of one counter`, make: () => W.hotCounter(txOverride ?? 1000) },
}

// ---------------------------------------------------------------------------------------
// Child modes: the pure-JS fallback (own process), and the machine-ceiling probe (a thread).

interface Timed {
  ms: number
  root: string
  result?: ParallelRunBlockResult
}

async function runOurs(ex: ParallelExecutor, c: Case): Promise<Timed> {
  const block = c.block()
  await idle()
  const t = performance.now()
  const result = await ex.runBlock({ block, prestate: c.prestate, bytecodes: c.bytecodes, blockchain: c.blockchain, skipBlockValidation: true, skipHardForkValidation: true, generate: true })
  return { ms: performance.now() - t, root: bytesToHex(result.receiptsRoot), result }
}

async function loadCase(key: string): Promise<Case> {
  return key.startsWith('mainnet:') ? fromMainnet(key.slice('mainnet:'.length)) : fromWorkload(await WORKLOADS[key].make())
}

// A baseline in a process of its own, so that its garbage (ethereumjs's Merkle tries make a
// lot) never competes with the runners measured in the parent.
if (args.includes('--baseline-child')) {
  const which = arg('baseline-child', 'fallback')
  const times: number[] = []
  let root = ''
  if (arg('case', '') === 'mainnet:all') {
    // One run over every mainnet block; the time is their sum.
    const runner = ethereumjsRunner(which, 'merkle')
    let total = 0
    for (const n of mainnetBlocks()) total += (await runner.run(fromMainnet(n))).ms
    console.log(JSON.stringify({ times: [total], root }))
    process.exit(0)
  }
  const c = await loadCase(arg('case', 'eth'))
  if (which === 'fallback') {
    const ex = await ParallelExecutor.create({ common: c.common, strategy: { kind: 'sequential' } })
    for (let i = 0; i < warmup + runs; i++) {
      const r = await runOurs(ex, c)
      if (i >= warmup) times.push(r.ms)
      root = r.root
    }
    await ex.close()
  } else {
    const runner = ethereumjsRunner(which, which === 'merkle' ? 'merkle' : 'memory')
    for (let i = 0; i < warmup + runs; i++) {
      const r = await runner.run(c)
      if (i >= warmup) times.push(r.ms)
      root = r.root
    }
  }
  console.log(JSON.stringify({ times, root }))
  process.exit(0)
}

if (!isMainThread && workerData?.ceiling === true) {
  // One sequential execution per thread; the parent starts them together.
  const c = await loadCase(workerData.case as string)
  const ex = await ParallelExecutor.create({ common: c.common, threads: 1, strategy: { kind: 'sequential' } })
  for (let i = 0; i < warmup; i++) await runOurs(ex, c)
  parentPort!.postMessage('ready')
  await new Promise((r) => parentPort!.once('message', r))
  const times: number[] = []
  for (let i = 0; i < runs; i++) times.push((await runOurs(ex, c)).ms)
  await ex.close()
  parentPort!.postMessage(median(times))
}

function baselineChild(which: string, caseKey: string, n: number, warm: number): { times: number[]; root: string } {
  const child = spawnSync(
    process.execPath,
    [...process.execArgv, fileURLToPath(import.meta.url), '--baseline-child', which, '--case', caseKey, '--runs', String(n), '--warmup', String(warm), ...(txOverride ? ['--txs', String(txOverride)] : [])],
    { env: { ...process.env, ...(which === 'fallback' ? { PARALLEL_EVM_FORCE_JS: '1' } : {}) }, encoding: 'utf8', maxBuffer: 1 << 26 },
  )
  if (child.status !== 0) throw new Error(`baseline ${which} failed: ${child.stderr}`)
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { times: number[]; root: string }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.floor(s.length / 2)]
}

/** 2 × (time alone) / (time with a twin on the other core): the best 2 threads can do here. */
async function machineCeiling(caseKey: string): Promise<number> {
  const once = async (n: number): Promise<number> => {
    const ws = Array.from({ length: n }, () => new Worker(new URL('../ts/pool/ts-worker-shim.mjs', import.meta.url), { workerData: { entry: import.meta.url, ceiling: true, case: caseKey } }))
    await Promise.all(ws.map((w) => new Promise((r) => w.once('message', r))))
    const results = ws.map((w) => new Promise<number>((r) => w.once('message', r)))
    ws.forEach((w) => w.postMessage('go'))
    const t = await Promise.all(results)
    await Promise.all(ws.map((w) => w.terminate()))
    return Math.max(...t)
  }
  const alone = await once(1)
  const together = await once(2)
  return (2 * alone) / together
}

// ---------------------------------------------------------------------------------------
// Runners.

interface Runner {
  name: string
  kind: 'ethereumjs' | 'sequential' | 'optimistic' | 'adaptive'
  threads: number
  run(c: Case): Promise<Timed>
  close?(): Promise<void>
}

function ethereumjsRunner(name: string, state: 'merkle' | 'memory'): Runner {
  return {
    name,
    kind: 'ethereumjs',
    threads: 0,
    async run(c) {
      const bytecodes = c.bytecodes ?? {}
      let sm
      if (state === 'merkle') {
        sm = await merkleFromPrestate(c.common, withCode(c.prestate, bytecodes))
      } else {
        sm = new OverlayStateManager(keccak256)
        sm.reset(new PrestateSource(c.prestate, bytecodes))
      }
      const vm = await createVM({ common: c.common.copy(), stateManager: sm, blockchain: c.blockchain as never, setHardfork: true })
      const block = c.block()
      await idle()
      const t = performance.now()
      const r = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true, skipHardForkValidation: true })
      return { ms: performance.now() - t, root: bytesToHex(r.receiptsRoot) }
    },
  }
}

/** Prestate accounts with their code inline (what merkleFromPrestate loads). */
function withCode(p: Prestate, bytecodes: Record<string, string>): Prestate {
  const out: Prestate = {}
  for (const [a, acc] of Object.entries(p)) {
    out[a] = acc.code_hash !== undefined && bytecodes[acc.code_hash] !== undefined ? { ...acc, code: bytecodes[acc.code_hash] } : acc
  }
  return out
}

async function oursRunner(name: string, kind: 'sequential' | 'optimistic' | 'adaptive', threads: number, common: Case['common']): Promise<Runner> {
  const strategy = kind === 'optimistic' ? { kind, senderOrder: true } : { kind }
  const ex = await ParallelExecutor.create({ common, threads, strategy })
  return { name, kind, threads, run: (c) => runOurs(ex, c), close: () => ex.close() }
}

interface RunnerResult {
  runner: string
  kind: Runner['kind'] | 'fallback'
  threads: number
  medianMs: number
  runs: number
  mgasPerSecond: number
  vsSequential: number
  vsEthereumjs: number
  idealSpeedup?: number
  efficiency?: number
  reexecutionsPerTx?: number
  workerHeapMB?: number
  nativeBytesPerTx?: number
}

interface CaseResult {
  name: string
  transactions: number
  gas: number
  results: RunnerResult[]
}

/** Our runners: sequential, optimistic at each thread count, the default adaptive. */
async function oursRunners(common: Case['common']): Promise<Runner[]> {
  const runners: Runner[] = []
  // The sequential strategy recovers senders on as many native threads as the widest parallel
  // runner has, so that ratios measure parallel transaction execution, not parallel recovery.
  const widest = Math.max(...threadCounts)
  runners.push(await oursRunner('parallel-evm sequential', 'sequential', widest, common))
  for (const t of threadCounts) runners.push(await oursRunner(`parallel-evm optimistic x${t}`, 'optimistic', t, common))
  runners.push(await oursRunner(`parallel-evm adaptive x${widest} (the default)`, 'adaptive', widest, common))
  return runners
}

/**
 * Runs one block by every runner. `shared`: executors that live across cases (the mainnet
 * blocks, as a node runs a chain); otherwise this case gets executors of its own.
 */
async function benchmarkCase(c: Case, caseKey: string, includeBaselines: boolean, shared?: Runner[]): Promise<CaseResult> {
  const runners = shared ?? (await oursRunners(c.common))
  // The adaptive strategy measures its candidates on its first blocks of a size (about ten:
  // JIT warm-up, then three samples of its pick and of sequential), as it would over a chain's
  // first blocks; here it gets those blocks untimed before the common warm-up. New executors
  // all get as many, in turn: each worker runs its own copy of the EVM, which V8 compiles
  // from scratch, and sees only part of each block, so the workers take more blocks to reach
  // their steady speed than the calling thread does (the README's blocks section gives the
  // measured climb). The mainnet blocks share executors that every earlier block has warmed.
  const settling = shared === undefined ? runners : [runners.at(-1)!]
  for (let i = 0; i < SETTLE; i++) for (const r of settling) await r.run(c)
  const times = new Map<string, number[]>(runners.map((r) => [r.name, []]))
  const results = new Map<string, ParallelRunBlockResult[]>(runners.map((r) => [r.name, []]))
  const roots = new Set<string>()
  let gas = 0
  let txs = 0
  for (let round = 0; round < warmup + runs; round++) {
    for (const r of runners) {
      const out = await r.run(c)
      roots.add(out.root)
      if (round < warmup) continue
      times.get(r.name)!.push(out.ms)
      if (out.result !== undefined) {
        results.get(r.name)!.push(out.result)
        gas = Number(out.result.gasUsed)
        txs = out.result.receipts.length
      }
    }
  }
  if (shared === undefined) for (const r of runners) await r.close?.()
  if (includeBaselines) {
    const baselines: [string, string, number, number][] = [
      ['ethereumjs runBlock, MerkleStateManager', 'merkle', quick ? 1 : 2, 0],
      ['ethereumjs runBlock, in-memory state manager', 'memory', quick ? 1 : 3, quick ? 0 : 1],
      ['parallel-evm pure-JS fallback', 'fallback', quick ? 1 : 3, 1],
    ]
    for (const [name, which, n, warm] of baselines) {
      const fb = baselineChild(which, caseKey, n, warm)
      times.set(name, fb.times)
      roots.add(fb.root)
    }
  }
  if (roots.size !== 1) throw new Error(`${c.name}: runners disagree on the receipts root`)
  const sequential = median(times.get('parallel-evm sequential')!)
  const ethereumjs = includeBaselines ? median(times.get('ethereumjs runBlock, MerkleStateManager')!) : NaN
  const out: RunnerResult[] = []
  const order = [...[...times.keys()].filter((n) => !n.startsWith('parallel-evm ') || n.includes('fallback')), ...runners.map((r) => r.name)]
  for (const name of order) {
    const ts = times.get(name)!
    const runner = runners.find((r) => r.name === name)
    const ms = median(ts)
    const rs = results.get(name) ?? []
    const row: RunnerResult = {
      runner: name,
      kind: runner?.kind ?? 'fallback',
      threads: runner?.threads ?? 0,
      medianMs: ms,
      runs: ts.length,
      mgasPerSecond: gas / 1e6 / (ms / 1e3),
      vsSequential: sequential / ms,
      vsEthereumjs: ethereumjs / ms,
    }
    if ((runner?.kind === 'optimistic' || runner?.kind === 'adaptive') && rs.length > 0) {
      // The ideal is the block's (its dependency graph and the thread count), measured by the
      // optimistic runs: an adaptive run may have run the block sequentially, with no graph.
      const graphs = results.get(`parallel-evm optimistic x${runner.threads}`) ?? rs
      const ideal = median(graphs.map((r) => r.metrics.dependencies?.idealSpeedup ?? 1))
      row.idealSpeedup = ideal
      row.efficiency = row.vsSequential / ideal
      row.reexecutionsPerTx = median(rs.map((r) => r.metrics.reexecutions)) / Math.max(1, txs)
      row.workerHeapMB = Math.max(...rs.flatMap((r) => r.metrics.workers?.heapUsedBytes ?? [0])) / 2 ** 20
      row.nativeBytesPerTx = median(rs.map((r) => r.metrics.workers?.nativeBytes ?? 0)) / Math.max(1, txs)
    }
    out.push(row)
  }
  return { name: c.name, transactions: txs, gas, results: out }
}

function printCase(r: CaseResult, label: string, machineCeiling?: number): void {
  console.log(`\n${label}: ${r.transactions} txs, ${(r.gas / 1e6).toFixed(1)} Mgas${machineCeiling ? `; machine ceiling for 2 threads ${machineCeiling.toFixed(2)}x` : ''}`)
  console.table(
    r.results.map((x) => ({
      runner: x.runner,
      'median ms': x.medianMs.toFixed(1),
      runs: x.runs,
      'Mgas/s': x.mgasPerSecond.toFixed(1),
      'x our sequential': x.vsSequential.toFixed(2),
      'x ethereumjs': Number.isNaN(x.vsEthereumjs) ? '-' : x.vsEthereumjs.toFixed(1),
      ideal: x.idealSpeedup?.toFixed(2) ?? '',
      efficiency: x.efficiency !== undefined ? `${(x.efficiency * 100).toFixed(0)}%` : '',
    })),
  )
}

// ---------------------------------------------------------------------------------------

if (isMainThread && !args.includes('--fallback-child')) {
  const started = performance.now()
  const wanted = arg('workloads', 'eth,erc20,uniswap,counter,mainnet').split(',')
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30), node: process.version },
    runs,
    warmup,
    threadCounts,
    workloads: [] as unknown[],
  }
  const workloads = report.workloads as unknown[]
  for (const key of wanted) {
    if (key === 'mainnet') continue
    const spec = WORKLOADS[key]
    if (spec === undefined) throw new Error(`unknown workload ${key}`)
    process.stdout.write(`\n${spec.label}: generating…`)
    const c = fromWorkload(await spec.make())
    console.log(' running')
    const r = await benchmarkCase(c, key, true)
    const ceil = ceiling && threadCounts.includes(2) ? await machineCeiling(key) : undefined
    printCase(r, spec.label, ceil)
    workloads.push({ key, label: spec.label, machineCeiling: ceil, ...r })
  }
  if (wanted.includes('mainnet')) {
    const numbers = mainnetBlocks()
    if (numbers.length === 0) {
      console.log('\n(e) mainnet blocks: skipped, no fixtures')
    } else {
      console.log(`\n(e) ${numbers.length} mainnet blocks`)
      // One set of executors for all the blocks, as a node runs a chain: executors (and their
      // workers' compiled code) live across blocks; each takes every block's own hardfork.
      // Fresh executors per block would time the workers' first, unoptimized runs of the EVM
      // against a calling thread that has run it all along.
      const runners = await oursRunners(makeCommon())
      const perBlock: CaseResult[] = []
      for (const n of numbers) {
        const r = await benchmarkCase(fromMainnet(n), `mainnet:${n}`, false, runners)
        perBlock.push(r)
        const par = r.results.find((x) => x.runner === `parallel-evm optimistic x${Math.max(...threadCounts)}`)
        process.stdout.write(`  ${n}: ${r.transactions} txs, x${Math.max(...threadCounts)} ${par?.vsSequential.toFixed(2)} (ideal ${par?.idealSpeedup?.toFixed(2)})\n`)
      }
      for (const r of runners) await r.close?.()
      // One run of the ethereumjs baseline over all blocks, in a child process (about a
      // minute and a half).
      let gas = 0
      for (const n of numbers) gas += Number(fromMainnet(n).block().header.gasUsed)
      const ethereumjsMs = baselineChild('merkle', 'mainnet:all', 1, 0).times[0]
      const names = perBlock[0].results.map((x) => x.runner)
      const aggregate = names.map((name) => {
        const ms = perBlock.reduce((a, b) => a + (b.results.find((x) => x.runner === name)?.medianMs ?? 0), 0)
        const eff = perBlock.map((b) => b.results.find((x) => x.runner === name)?.efficiency).filter((x): x is number => x !== undefined)
        return { runner: name, totalMs: ms, mgasPerSecond: gas / 1e6 / (ms / 1e3), vsEthereumjs: ethereumjsMs / ms, meanEfficiency: eff.length > 0 ? eff.reduce((a, b) => a + b, 0) / eff.length : undefined }
      })
      aggregate.unshift({ runner: 'ethereumjs runBlock, MerkleStateManager', totalMs: ethereumjsMs, mgasPerSecond: gas / 1e6 / (ethereumjsMs / 1e3), vsEthereumjs: 1, meanEfficiency: undefined })
      console.log(`\n(e) ${numbers.length} mainnet blocks, ${(gas / 1e6).toFixed(0)} Mgas, aggregate`)
      console.table(
        aggregate.map((a) => ({
          runner: a.runner,
          'total ms': a.totalMs.toFixed(0),
          'Mgas/s': a.mgasPerSecond.toFixed(1),
          'x ethereumjs': a.vsEthereumjs.toFixed(1),
          'mean efficiency': a.meanEfficiency !== undefined ? `${(a.meanEfficiency * 100).toFixed(0)}%` : '',
        })),
      )
      workloads.push({ key: 'mainnet', label: `(e) ${numbers.length} mainnet blocks`, gas, aggregate, blocks: perBlock })
    }
  }
  report.maxRssMB = process.resourceUsage().maxRSS / 1024
  report.elapsedSeconds = (performance.now() - started) / 1000
  const dir = fileURLToPath(new URL('./results/', import.meta.url))
  mkdirSync(dir, { recursive: true })
  writeFileSync(`${dir}blocks.json`, JSON.stringify(report, null, 2))
  writeFileSync(`${dir}blocks.svg`, chart(report))
  writeFileSync(`${dir}blocks.md`, markdown(report))
  console.log(`\nwrote bench/results/blocks.{json,svg,md}; peak RSS ${(report.maxRssMB as number).toFixed(0)} MB; ${(report.elapsedSeconds as number).toFixed(0)} s`)
}

/** A Markdown summary of the report (the README's table). */
function markdown(report: Record<string, unknown>): string {
  const lines: string[] = []
  const m = report.machine as { cpus: number; model: string; memoryGB: number; node: string }
  lines.push(`Machine: ${m.cpus} × ${m.model}, ${m.memoryGB} GB, Node ${m.node}; ${report.date}; medians of ${report.runs} runs after ${report.warmup} warm-up runs, each run after a ${IDLE_MS} ms idle pause.`)
  lines.push('')
  lines.push('| workload | runner | median ms | Mgas/s | × our sequential | × ethereumjs | ideal | efficiency |')
  lines.push('|---|---|---|---|---|---|---|---|')
  for (const w of report.workloads as { key: string; label: string; results?: RunnerResult[]; aggregate?: { runner: string; totalMs: number; mgasPerSecond: number; vsEthereumjs: number; meanEfficiency?: number }[]; machineCeiling?: number }[]) {
    if (w.results !== undefined) {
      for (const r of w.results) {
        lines.push(
          `| ${w.label}${w.machineCeiling ? ` (machine ceiling ${w.machineCeiling.toFixed(2)}×)` : ''} | ${r.runner} | ${r.medianMs.toFixed(1)} | ${r.mgasPerSecond.toFixed(1)} | ${r.vsSequential.toFixed(2)} | ${Number.isNaN(r.vsEthereumjs) ? '' : r.vsEthereumjs.toFixed(1)} | ${r.idealSpeedup?.toFixed(2) ?? ''} | ${r.efficiency !== undefined ? `${(r.efficiency * 100).toFixed(0)}%` : ''} |`,
        )
      }
    }
    if (w.aggregate !== undefined) {
      for (const a of w.aggregate) {
        lines.push(`| ${w.label} (aggregate) | ${a.runner} | ${a.totalMs.toFixed(0)} | ${a.mgasPerSecond.toFixed(1)} | | ${a.vsEthereumjs.toFixed(1)} | | ${a.meanEfficiency !== undefined ? `${(a.meanEfficiency * 100).toFixed(0)}% (mean over blocks)` : ''} |`)
      }
    }
  }
  return lines.join('\n') + '\n'
}

/** An SVG bar chart: each workload's speedup over our sequential strategy, ideal marked. */
function chart(report: Record<string, unknown>): string {
  const rows: { label: string; value: number; ideal?: number }[] = []
  for (const w of report.workloads as { label: string; results?: RunnerResult[]; aggregate?: { runner: string; meanEfficiency?: number }[] }[]) {
    for (const r of w.results ?? []) {
      if (r.kind === 'optimistic') rows.push({ label: `${w.label.replace(/^\([a-e]\) /, '')} — ${r.runner.replace('parallel-evm ', '')}`, value: r.vsSequential, ideal: r.idealSpeedup })
    }
  }
  const width = 900
  const barH = 18
  const left = 430
  const scale = (width - left - 40) / Math.max(2.2, ...rows.map((r) => Math.max(r.value, r.ideal ?? 0)))
  const height = 60 + rows.length * (barH + 8)
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;')
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`]
  parts.push(`<text x="10" y="20" font-size="14" font-weight="bold">Optimistic strategy: speedup over our sequential strategy (bar), ideal from the dependency graph (line)</text>`)
  rows.forEach((r, i) => {
    const y = 40 + i * (barH + 8)
    parts.push(`<text x="${left - 8}" y="${y + 13}" text-anchor="end">${esc(r.label)}</text>`)
    parts.push(`<rect x="${left}" y="${y}" width="${Math.max(1, r.value * scale)}" height="${barH}" fill="#4a7bd0"/>`)
    parts.push(`<text x="${left + r.value * scale + 4}" y="${y + 13}">${r.value.toFixed(2)}×</text>`)
    if (r.ideal !== undefined) parts.push(`<line x1="${left + r.ideal * scale}" x2="${left + r.ideal * scale}" y1="${y - 2}" y2="${y + barH + 2}" stroke="#d0452a" stroke-width="2"/>`)
  })
  parts.push(`<line x1="${left + scale}" x2="${left + scale}" y1="32" y2="${height - 10}" stroke="#999" stroke-dasharray="3,3"/>`)
  parts.push('</svg>')
  return parts.join('\n')
}
