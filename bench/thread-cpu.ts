/**
 * Where the CPU time of a block goes, by thread (Linux only: reads /proc/self/task).
 *
 *   npx tsx bench/thread-cpu.ts [eth|erc20|uniswap|counter] [strategies] [threads]
 *
 * `strategies` is a comma-separated list (default `sequential,optimistic`), each run by its own
 * executor, round by round in turn: 24 rounds, the first 14 warm-up (the workers' EVM copies
 * take several blocks to reach their steady speed; see the blocks benchmark). Prints, per block: its wall
 * time, and the CPU time of the main thread, of the block's worker threads (in each block, the
 * busiest threads other than the main one, as many as the block had workers), of every other
 * live thread (V8's platform threads: garbage collection and compilation; libuv's pool), and of
 * threads that exited during the block (the native threads that recover senders live only for
 * that step). Their sum over the wall time is how many cores the block kept busy. The kernel
 * counts in 10 ms ticks, so each figure is a mean over the 10 timed blocks.
 */
import { readFileSync, readdirSync } from 'node:fs'

import * as W from '../__test__/support/workloads.ts'
import { ParallelExecutor } from '../ts/index.ts'
import type { FixedStrategy } from '../ts/evm/types.ts'
import { freshBlocks } from './fresh.ts'
import { idle } from './idle.ts'

const which = process.argv[2] ?? 'eth'
const kinds = (process.argv[3] ?? 'sequential,optimistic').split(',') as FixedStrategy['kind'][]
const threads = Number(process.argv[4] ?? 2)
const wl =
  which === 'eth'
    ? await W.ethTransfers(2000)
    : which === 'erc20'
      ? await W.erc20Transfers(2000, 'distinct')
      : which === 'uniswap'
        ? await W.uniswapSwaps(1000, 10)
        : await W.hotCounter(1000)
const block = freshBlocks(wl)

/** CPU milliseconds (user + system) of each live thread of this process, by thread id. */
function perThread(): Map<number, number> {
  const out = new Map<number, number>()
  for (const tid of readdirSync('/proc/self/task')) {
    try {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(Number(tid), (Number(fields[11]) + Number(fields[12])) * 10)
    } catch {
      // The thread exited between the listing and the read.
    }
  }
  return out
}
const processMs = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}

interface Tally {
  wall: number
  main: number
  workers: number
  others: number
  exited: number
  workerCount: number
}
const runs = await Promise.all(
  kinds.map(async (kind) => {
    const strategy = (kind === 'optimistic' ? { kind, senderOrder: true } : { kind }) as FixedStrategy
    const executor = await ParallelExecutor.create({ common: wl.common, threads, strategy })
    const tally: Tally = { wall: 0, main: 0, workers: 0, others: 0, exited: 0, workerCount: 0 }
    return { kind, executor, tally }
  }),
)

const ROUNDS = 24
const WARMUP = 14
for (let round = 0; round < ROUNDS; round++) {
  for (const { executor, tally } of runs) {
    const b = block()
    await idle()
    const before = perThread()
    const cpuBefore = processMs()
    const t = performance.now()
    const r = await executor.runBlock({ block: b, prestate: wl.prestate, skipBlockValidation: true, skipHardForkValidation: true, generate: true })
    const wall = performance.now() - t
    const cpu = processMs() - cpuBefore
    const after = perThread()
    if (round < WARMUP) continue
    const workerCount = r.metrics.workers?.busyMs.length ?? 0
    const deltas = [...after].map(([tid, v]) => [tid, v - (before.get(tid) ?? 0)] as const)
    const main = deltas.find(([tid]) => tid === process.pid)?.[1] ?? 0
    const others = deltas.filter(([tid]) => tid !== process.pid).map(([, v]) => v).sort((a, b) => b - a)
    const workers = others.slice(0, workerCount).reduce((s, v) => s + v, 0)
    const rest = others.slice(workerCount).reduce((s, v) => s + v, 0)
    tally.wall += wall
    tally.main += main
    tally.workers += workers
    tally.others += rest
    tally.exited += Math.max(0, cpu - main - workers - rest)
    tally.workerCount = Math.max(tally.workerCount, workerCount)
  }
}
for (const { executor } of runs) await executor.close()

const blocks = ROUNDS - WARMUP
const per = (x: number) => (x / blocks).toFixed(1)
console.log(`${which}: CPU ms per block, means over ${blocks} blocks after ${WARMUP} warm-up blocks, strategies in turn`)
console.table(
  Object.fromEntries(
    runs.map(({ kind, tally: t }) => [
      `${kind} x${threads}`,
      {
        wall: per(t.wall),
        'main thread': per(t.main),
        workers: t.workerCount === 0 ? '-' : per(t.workers),
        'other live (V8 platform, libuv)': per(t.others),
        'exited (sender recovery)': per(t.exited),
        'cores busy': ((t.main + t.workers + t.others + t.exited) / t.wall).toFixed(2),
      },
    ]),
  ),
)
