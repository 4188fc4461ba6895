/**
 * Block benchmark: the same blocks run by ethereumjs's `runBlock` (its default
 * MerkleStateManager, and the fastest pure-JS state manager we have), by parallel-evm's
 * pure-JS fallback, and by its strategies. Runners alternate round by round after warm-up;
 * times are medians; every ratio comes from this one run. All runners must produce the same
 * receipts root and gas, or the benchmark fails.
 *
 *   npm run bench -- blocks [--workloads eth,erc20,uniswap,counter] [--txs 2000] [--runs 5] [--threads 1,2] [--quick]
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import { bytesToHex } from '@ethereumjs/util'
import { createBlock, type Block } from '@ethereumjs/block'
import { createTxFromRLP } from '@ethereumjs/tx'
import { createVM, runBlock } from '@ethereumjs/vm'

import { ParallelExecutor } from '../ts/index.ts'
import { keccak256 } from '../ts/evm/crypto.ts'
import { OverlayStateManager } from '../ts/evm/state/overlay.ts'
import { PrestateSource } from '../ts/evm/state/sources.ts'
import { merkleFromPrestate } from '../__test__/support/evm.ts'
import * as W from '../__test__/support/workloads.ts'

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

interface Spec {
  key: string
  label: string
  make: () => Promise<W.Workload>
}
const SPECS: Record<string, Spec> = {
  eth: { key: 'eth', label: `(a) ${txOverride ?? 2000} independent ETH transfers`, make: () => W.ethTransfers(txOverride ?? 2000) },
  erc20: { key: 'erc20', label: `(b) ${txOverride ?? 2000} ERC-20 transfers, one token`, make: () => W.erc20Transfers(txOverride ?? 2000, 'distinct') },
  uniswap: { key: 'uniswap', label: `(c) ${txOverride ?? 1000} Uniswap V2 swaps over 10 pools`, make: () => W.uniswapSwaps(txOverride ?? 1000, 10) },
  counter: { key: 'counter', label: `(d) ${txOverride ?? 1000} increments of one counter`, make: () => W.hotCounter(txOverride ?? 1000) },
}

/** Child mode: time the pure-JS fallback (this process has PARALLEL_EVM_FORCE_JS=1). */
if (args.includes('--fallback-child')) {
  const wl = await SPECS[arg('workload', 'eth')].make()
  const ex = await ParallelExecutor.create({ common: wl.common, strategy: { kind: 'sequential' } })
  const times: number[] = []
  let root = ''
  for (let i = 0; i < warmup + runs; i++) {
    const block = fresh(wl)
    const t = performance.now()
    const r = await ex.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, generate: true })
    if (i >= warmup) times.push(performance.now() - t)
    root = bytesToHex(r.receiptsRoot)
  }
  await ex.close()
  console.log(JSON.stringify({ times, root }))
  process.exit(0)
}

/**
 * A copy of the block with freshly decoded transactions, made outside the timed region:
 * ethereumjs caches a frozen transaction's recovered sender, and a block is executed once, so
 * every run must pay sender recovery as a new block does.
 */
function fresh(wl: W.Workload): Block {
  const raw = wl.block.transactions.map((tx) => tx.serialize())
  return createBlock(
    { header: wl.block.header, transactions: raw.map((r) => createTxFromRLP(r, { common: wl.common })), withdrawals: wl.block.withdrawals?.map((w) => w.toValue()) },
    { common: wl.common },
  )
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

interface Runner {
  name: string
  /** Runs the block once; returns wall ms and the receipts root. */
  run(): Promise<{ ms: number; root: string }>
  close?(): Promise<void>
  /** Fewer rounds for the very slow baselines. */
  rounds?: number
}

async function ethereumjsMerkle(wl: W.Workload): Promise<Runner> {
  return {
    name: 'ethereumjs runBlock, MerkleStateManager',
    rounds: quick ? 1 : 3,
    async run() {
      const sm = await merkleFromPrestate(wl.common, wl.prestate)
      const vm = await createVM({ common: wl.common.copy(), stateManager: sm })
      const block = fresh(wl)
      const t = performance.now()
      const r = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true })
      return { ms: performance.now() - t, root: bytesToHex(r.receiptsRoot) }
    },
  }
}

async function ethereumjsFastState(wl: W.Workload): Promise<Runner> {
  return {
    name: 'ethereumjs runBlock, in-memory journaled state manager',
    rounds: quick ? 1 : 3,
    async run() {
      const sm = new OverlayStateManager(keccak256)
      sm.reset(new PrestateSource(wl.prestate))
      const vm = await createVM({ common: wl.common.copy(), stateManager: sm })
      const block = fresh(wl)
      const t = performance.now()
      const r = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true })
      return { ms: performance.now() - t, root: bytesToHex(r.receiptsRoot) }
    },
  }
}

async function ours(wl: W.Workload, name: string, threads: number, kind: 'sequential' | 'optimistic'): Promise<Runner> {
  const ex = await ParallelExecutor.create({ common: wl.common, threads, strategy: { kind } })
  return {
    name,
    async run() {
      const block = fresh(wl)
      const t = performance.now()
      const r = await ex.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, generate: true })
      return { ms: performance.now() - t, root: bytesToHex(r.receiptsRoot) }
    },
    close: () => ex.close(),
  }
}

interface Row {
  runner: string
  medianMs: number
  runs: number
  mgasPerSecond: number
  vsSequential: number
  vsEthereumjs: number
}

async function benchmark(spec: Spec): Promise<{ workload: string; transactions: number; gas: string; rows: Row[] }> {
  process.stdout.write(`\n${spec.label}: generating… `)
  const wl = await spec.make()
  console.log(`${wl.block.transactions.length} txs`)
  const runners: Runner[] = [
    await ethereumjsMerkle(wl),
    await ethereumjsFastState(wl),
    await ours(wl, 'parallel-evm sequential', 1, 'sequential'),
    ...(await Promise.all(threadCounts.map((t) => ours(wl, `parallel-evm optimistic x${t}`, t, 'optimistic')))),
  ]
  const times = new Map<string, number[]>(runners.map((r) => [r.name, []]))
  const roots = new Set<string>()
  for (let round = 0; round < warmup + runs; round++) {
    for (const r of runners) {
      if (round < warmup && (r.rounds ?? Infinity) < runs) continue // slow baselines: no warm-up
      if (round >= warmup && times.get(r.name)!.length >= (r.rounds ?? runs)) continue
      const { ms, root } = await r.run()
      roots.add(root)
      if (round >= warmup) times.get(r.name)!.push(ms)
    }
  }
  for (const r of runners) await r.close?.()
  // The pure-JS fallback, in a child process.
  const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), '--fallback-child', '--workload', spec.key, '--runs', String(quick ? 1 : 3), '--warmup', '1', ...(txOverride ? ['--txs', String(txOverride)] : [])], {
    env: { ...process.env, PARALLEL_EVM_FORCE_JS: '1' },
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  })
  if (child.status !== 0) throw new Error(`fallback child failed: ${child.stderr}`)
  const fb = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { times: number[]; root: string }
  times.set('parallel-evm pure-JS fallback', fb.times)
  roots.add(fb.root)
  if (roots.size !== 1) throw new Error(`${spec.label}: runners disagree on the receipts root`)

  const sequential = median(times.get('parallel-evm sequential')!)
  const ethereumjs = median(times.get('ethereumjs runBlock, MerkleStateManager')!)
  const ex = await ParallelExecutor.create({ common: wl.common, threads: 1, strategy: { kind: 'sequential' } })
  const totalGas = (await ex.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true })).gasUsed
  await ex.close()
  const rows: Row[] = [...times].map(([runner, ts]) => ({
    runner,
    medianMs: median(ts),
    runs: ts.length,
    mgasPerSecond: Number(totalGas) / 1e6 / (median(ts) / 1e3),
    vsSequential: sequential / median(ts),
    vsEthereumjs: ethereumjs / median(ts),
  }))
  console.table(
    rows.map((r) => ({
      runner: r.runner,
      'median ms': r.medianMs.toFixed(1),
      runs: r.runs,
      'Mgas/s': r.mgasPerSecond.toFixed(1),
      'x our sequential': r.vsSequential.toFixed(2),
      'x ethereumjs': r.vsEthereumjs.toFixed(1),
    })),
  )
  return { workload: spec.label, transactions: wl.block.transactions.length, gas: totalGas.toString(), rows }
}

const wanted = arg('workloads', Object.keys(SPECS).join(',')).split(',')
const results = []
for (const key of wanted) {
  if (SPECS[key] === undefined) throw new Error(`unknown workload ${key}`)
  results.push(await benchmark(SPECS[key]))
}
const dir = fileURLToPath(new URL('./results/', import.meta.url))
mkdirSync(dir, { recursive: true })
writeFileSync(`${dir}blocks.json`, JSON.stringify({ date: new Date().toISOString(), runs, warmup, threadCounts, results }, null, 2))
