/**
 * `npm start`: runs a generated block of key-value transfers sequentially and with Block-STM
 * on the available cores, checks that both give the same result, and prints a summary.
 */
import { availableParallelism } from 'node:os'

import { KeyValueExecutor } from './index.ts'
import { siblingModule } from './pool/pool.ts'

const threads = availableParallelism()
await using kv = await KeyValueExecutor.create({ module: new URL(siblingModule(import.meta.url, './demo-txs')), threads })
const accounts = 2000
const transactions = Array.from({ length: 2000 }, (_, i) => ({
  fn: 'transfer',
  args: [BigInt((i * 7919) % accounts), BigInt((i * 104729 + 1) % accounts), 5n, 60],
}))
const initial = Array.from({ length: accounts }, (_, i) => [BigInt(i), 100n] as [bigint, bigint])

const seq = await kv.run({ transactions, initial, strategy: 'sequential' })
const par = await kv.run({ transactions, initial, strategy: 'optimistic' })
const same =
  seq.outputs.every((o, i) => o === par.outputs[i]) &&
  seq.state.size === par.state.size &&
  [...seq.state].every(([k, v]) => par.state.get(k) === v)

console.log(`parallel-evm demo: ${transactions.length} key-value transfers, ${threads} worker threads`)
console.log(`  sequential : ${seq.wallMs.toFixed(1)} ms`)
console.log(`  optimistic : ${par.wallMs.toFixed(1)} ms  (${(seq.wallMs / par.wallMs).toFixed(2)}x, ideal ${threads}x)`)
console.log(`  re-executions ${par.stats.reexecutions}, dependency waits ${par.stats.dependencyWaits}`)
console.log(`  same result as sequential: ${same ? 'yes' : 'NO'}`)
if (!same) process.exitCode = 1
