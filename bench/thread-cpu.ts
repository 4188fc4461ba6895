/**
 * Where the CPU time of a block goes, by thread (Linux only: reads /proc/self/task).
 *
 *   npx tsx bench/thread-cpu.ts [eth|erc20|uniswap|counter] [strategy] [threads]
 *
 * Runs the workload's block 14 times with one executor (the first 4 are warm-up) and prints,
 * per block: its wall time, and the CPU time of the main thread, of as many of the busiest other
 * threads as the blocks had worker threads (taken to be those workers), of every other live thread (V8's platform threads: garbage
 * collection and compilation, libuv's pool), and of threads that exited during the block (the
 * native threads that recover senders live only for that step). Their sum over the wall time is
 * how many cores the block kept busy. Kernel ticks are 10 ms, so these are sums over 10 blocks.
 */
import { readFileSync, readdirSync } from 'node:fs'

import * as W from '../__test__/support/workloads.ts'
import { ParallelExecutor } from '../ts/index.ts'
import type { FixedStrategy } from '../ts/evm/types.ts'
import { freshBlocks } from './fresh.ts'
import { idle } from './idle.ts'

const which = process.argv[2] ?? 'eth'
const kind = (process.argv[3] ?? 'optimistic') as FixedStrategy['kind']
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
const strategy = (kind === 'optimistic' ? { kind, senderOrder: true } : { kind }) as FixedStrategy
const executor = await ParallelExecutor.create({ common: wl.common, threads, strategy })

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

const spent = new Map<number, number>()
/** Worker threads the blocks ran on (none for blocks run on the calling thread). */
let workerCount = 0
let wall = 0
let total = 0
const ROUNDS = 14
const WARMUP = 4
for (let round = 0; round < ROUNDS; round++) {
  const b = block()
  await idle()
  const before = perThread()
  const cpuBefore = processMs()
  const t = performance.now()
  const r = await executor.runBlock({ block: b, prestate: wl.prestate, skipBlockValidation: true, skipHardForkValidation: true, generate: true })
  const ms = performance.now() - t
  const cpu = processMs() - cpuBefore
  const after = perThread()
  if (round < WARMUP) continue
  workerCount = Math.max(workerCount, r.metrics.workers?.busyMs.length ?? 0)
  wall += ms
  total += cpu
  for (const [tid, v] of after) spent.set(tid, (spent.get(tid) ?? 0) + v - (before.get(tid) ?? 0))
}
await executor.close()

const blocks = ROUNDS - WARMUP
const main = spent.get(process.pid) ?? 0
const others = [...spent].filter(([tid]) => tid !== process.pid).sort((a, b) => b[1] - a[1])
const workers = others.slice(0, workerCount).reduce((s, [, v]) => s + v, 0)
const rest = others.slice(workerCount).reduce((s, [, v]) => s + v, 0)
const exited = Math.max(0, total - main - workers - rest)
const per = (x: number) => (x / blocks).toFixed(1).padStart(7)
console.log(`${which}, ${kind} x${threads}: per block over ${blocks} blocks after ${WARMUP} warm-up blocks (CPU ms)`)
console.log(`  wall                         ${per(wall)}`)
console.log(`  main thread                  ${per(main)}`)
console.log(`  ${workerCount} busiest other threads     ${per(workers)}   (the workers${workerCount === 0 ? ': none, the blocks ran on the main thread' : `: ${others.slice(0, workerCount).map(([, v]) => (v / blocks).toFixed(1)).join(', ')}`})`)
console.log(`  other live threads           ${per(rest)}   (V8 platform: GC and compilation; libuv)`)
console.log(`  exited threads               ${per(exited)}   (sender recovery's native threads)`)
console.log(`  cores kept busy              ${(total / wall).toFixed(2).padStart(7)}`)
