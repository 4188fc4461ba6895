import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import test from 'ava'

import {
  ExecutorClosedError,
  InvalidInputError,
  KeyValueExecutor,
  TransactionError,
  type KeyValueResult,
  type KeyValueTransaction,
} from '../ts/index.ts'
import { seededRandom } from './support/random.ts'

const module = fileURLToPath(new URL('./fixtures/kv-txs.ts', import.meta.url))

function generateBlock(seed: number): { transactions: KeyValueTransaction[]; initial: [bigint, bigint][]; balances: [bigint, bigint][] } {
  const r = seededRandom(seed)
  const keys = [8, 40, 400][Math.floor(r() * 3)]
  const n = 1 + Math.floor(r() * 150)
  const failModulus = r() < 0.3 ? 50 + Math.floor(r() * 200) : 0
  const transactions: KeyValueTransaction[] = []
  for (let i = 0; i < n; i++) {
    const kind = r()
    if (kind < 0.7) {
      const credits = r() < 0.3 ? [BigInt(1 + Math.floor(r() * 3))] : []
      transactions.push({
        fn: 'program',
        args: [BigInt(Math.floor(r() * 2 ** 48)), Math.floor(r() * 5), Math.floor(r() * 3), keys, failModulus, credits],
      })
    } else if (kind < 0.85) {
      transactions.push({ fn: 'transfer', args: [BigInt(Math.floor(r() * keys)), BigInt(Math.floor(r() * keys)), BigInt(Math.floor(r() * 3))] })
    } else if (kind < 0.95) {
      transactions.push({ fn: 'balanceOf', args: [BigInt(1 + Math.floor(r() * 3))] })
    } else {
      transactions.push({ fn: 'swallow', args: [BigInt(Math.floor(r() * keys))] })
    }
  }
  const initial: [bigint, bigint][] = []
  for (let k = 0; k < Math.min(keys, 50); k++) if (r() < 0.5) initial.push([BigInt(k), BigInt(Math.floor(r() * 5))])
  const balances: [bigint, bigint][] = [[1n, 1000n], [2n, 5n]]
  return { transactions, initial, balances }
}

type Settled = { ok: true; result: KeyValueResult } | { ok: false; error: unknown }

async function settle(p: Promise<KeyValueResult>): Promise<Settled> {
  try {
    return { ok: true, result: await p }
  } catch (error) {
    return { ok: false, error }
  }
}

function sameOutcome(t: import('ava').ExecutionContext, label: string, seq: Settled, par: Settled): void {
  if (!seq.ok) {
    t.false(par.ok, `${label}: sequential failed but parallel did not`)
    if (!par.ok) {
      t.true(seq.error instanceof TransactionError && par.error instanceof TransactionError, label)
      t.is((par.error as TransactionError).txIndex, (seq.error as TransactionError).txIndex, `${label}: failing tx`)
      t.is((par.error as Error).message, (seq.error as Error).message, label)
    }
    return
  }
  t.true(par.ok, `${label}: parallel failed: ${par.ok ? '' : String(par.error)}`)
  if (!par.ok) return
  t.deepEqual(par.result.outputs, seq.result.outputs, `${label}: outputs`)
  t.deepEqual(new Map([...par.result.state].sort()), new Map([...seq.result.state].sort()), `${label}: state`)
  t.deepEqual(new Map([...par.result.balances].sort()), new Map([...seq.result.balances].sort()), `${label}: balances`)
}

test('generated JS-mock blocks equal the sequential result at 1, 2 and 4 workers, repeatedly', async (t) => {
  const executors = await Promise.all([1, 2, 4].map((threads) => KeyValueExecutor.create({ module, threads })))
  try {
    let failures = 0
    let reexecutions = 0
    for (let seed = 1; seed <= 40; seed++) {
      const block = generateBlock(seed)
      const seq = await settle(executors[0].run({ ...block, strategy: 'sequential' }))
      if (!seq.ok) failures++
      for (const kv of executors) {
        for (let repeat = 0; repeat < 2; repeat++) {
          const par = await settle(kv.run({ ...block, strategy: 'optimistic' }))
          if (par.ok) reexecutions += par.result.stats.reexecutions
          sameOutcome(t, `seed ${seed} threads ${kv.threads} repeat ${repeat}`, seq, par)
        }
      }
    }
    // The generator must produce both failing blocks and conflicts, or the test proves little.
    t.true(failures > 0, 'no generated block failed')
    t.true(reexecutions > 0, 'no generated block conflicted')
  } finally {
    await Promise.all(executors.map((e) => e.close()))
  }
})

test('a hot key: every transaction conflicts, the result is still sequential', async (t) => {
  await using kv = await KeyValueExecutor.create({ module, threads: 4 })
  const transactions = Array.from({ length: 500 }, () => ({ fn: 'incr', args: [7n] }))
  const par = await kv.run({ transactions })
  t.deepEqual(par.outputs, Array.from({ length: 500 }, (_, i) => BigInt(i)))
  t.is(par.state.get(7n), 500n)
})

test('credits that nobody reads do not conflict, and a later read sees them all', async (t) => {
  await using kv = await KeyValueExecutor.create({ module, threads: 2 })
  const transactions: KeyValueTransaction[] = [
    ...Array.from({ length: 200 }, (_, i) => ({ fn: 'program', args: [BigInt(i), 0, 0, 10, 0, [5n]] })),
    { fn: 'balanceOf', args: [5n] },
  ]
  const seq = await kv.run({ transactions, strategy: 'sequential' })
  const par = await kv.run({ transactions })
  t.deepEqual(par.outputs, seq.outputs)
  t.is(par.balances.get(5n), seq.balances.get(5n))
  t.is(par.outputs[200], seq.balances.get(5n))
})

test('one pool runs many blocks in a row', async (t) => {
  await using kv = await KeyValueExecutor.create({ module, threads: 2 })
  for (let b = 0; b < 50; b++) {
    const r = await kv.run({ transactions: Array.from({ length: 20 }, (_, i) => ({ fn: 'incr', args: [BigInt(i % 3)] })), initial: [[0n, BigInt(b)]] })
    t.is(r.state.get(0n), BigInt(b) + 7n)
  }
})

test('a JS exception inside a transaction is a TransactionError with its index', async (t) => {
  await using kv = await KeyValueExecutor.create({ module, threads: 2 })
  const transactions: KeyValueTransaction[] = [
    { fn: 'incr', args: [1n] },
    { fn: 'incr', args: [2n] },
    { fn: 'throwAt', args: [1n] },
    { fn: 'incr', args: [3n] },
    { fn: 'throwAt', args: [4n] },
  ]
  for (const strategy of ['sequential', 'optimistic'] as const) {
    const e = await t.throwsAsync(kv.run({ transactions, strategy }), { instanceOf: TransactionError })
    t.is(e?.txIndex, 2)
    t.is(e?.code, 'TRANSACTION_FAILED')
    t.regex(e?.message ?? '', /deliberate failure/)
  }
  // The pool is still usable after a failed block.
  const ok = await kv.run({ transactions: [{ fn: 'incr', args: [1n] }] })
  t.deepEqual(ok.outputs, [0n])
})

test('an unknown function is reported against its transaction', async (t) => {
  await using kv = await KeyValueExecutor.create({ module, threads: 1 })
  const e = await t.throwsAsync(kv.run({ transactions: [{ fn: 'noop' }, { fn: 'nope' }] }), { instanceOf: TransactionError })
  t.is(e?.txIndex, 1)
})

test('bad options are rejected with a typed error', async (t) => {
  await t.throwsAsync(KeyValueExecutor.create({ module, threads: 0 }), { instanceOf: InvalidInputError })
  await using kv = await KeyValueExecutor.create({ module, threads: 1 })
  await t.throwsAsync(kv.run({ transactions: [], strategy: 'fast' as never }), { instanceOf: InvalidInputError })
})

function osThreads(): number {
  const m = /Threads:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))
  return m === null ? -1 : Number(m[1])
}

async function settleThreads(expected: number): Promise<number> {
  // Exited worker threads are joined asynchronously; give the OS a moment.
  for (let i = 0; i < 50 && osThreads() > expected; i++) await new Promise((r) => setTimeout(r, 20))
  return osThreads()
}

test.serial('close while idle, after an error, and during a block leaves no thread or handle behind', async (t) => {
  const handlesBefore = process.getActiveResourcesInfo().sort()
  const threadsBefore = osThreads()

  const idle = await KeyValueExecutor.create({ module, threads: 3 })
  t.true(osThreads() >= threadsBefore + 3)
  await idle.close()
  await idle.close() // idempotent

  const failed = await KeyValueExecutor.create({ module, threads: 2 })
  await t.throwsAsync(failed.run({ transactions: [{ fn: 'throwAt', args: [1n] }] }), { instanceOf: TransactionError })
  await failed.close()
  await t.throwsAsync(failed.run({ transactions: [] }), { instanceOf: ExecutorClosedError })

  const busy = await KeyValueExecutor.create({ module, threads: 2 })
  const running = busy.run({ transactions: Array.from({ length: 400 }, () => ({ fn: 'burn', args: [0n, 1000] })) })
  await new Promise((r) => setTimeout(r, 50))
  await busy.close()
  await t.throwsAsync(running, { instanceOf: ExecutorClosedError })

  t.is(await settleThreads(threadsBefore), threadsBefore, 'OS threads')
  t.deepEqual(process.getActiveResourcesInfo().sort(), handlesBefore, 'active handles')
})

test('large base states and write sets cross the boundary intact (buffer growth)', async (t) => {
  await using kv = await KeyValueExecutor.create({ module, threads: 2 })
  const initial = Array.from({ length: 3000 }, (_, i) => [BigInt(i) * 1_000_003n, BigInt(i) + 1n] as [bigint, bigint])
  const transactions = Array.from({ length: 300 }, (_, i) => ({ fn: 'incr', args: [BigInt(i * 10) * 1_000_003n] }))
  const r = await kv.run({ transactions, initial })
  t.deepEqual(r.outputs, Array.from({ length: 300 }, (_, i) => BigInt(i * 10) + 1n))
  t.is(r.state.get(2990n * 1_000_003n), 2991n + 1n)
})
