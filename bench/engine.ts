/**
 * Engine benchmark (benny): synthetic transactions that read a key, burn a fixed CPU time and
 * write the key back, at low contention (distinct keys) and high contention (one key), as
 * native-mock transactions (native threads) and JS-mock transactions (worker threads through
 * the bridge). Each scenario runs its sequential and parallel case in the same process; the
 * ratio is median(sequential) / median(parallel) over benny's samples. Also measures the JS
 * bridge's dispatch overhead per task with no-op transactions.
 *
 *   npm run bench -- engine [--threads 2] [--quick]
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

import b from 'benny'

import { KeyValueExecutor } from '../ts/index.ts'
import { loadNative } from '../ts/native.ts'

const args = process.argv.slice(2)
const threads = Number(args[args.indexOf('--threads') + 1] ?? 2) || 2
const quick = args.includes('--quick')
const native = loadNative()
if (native === null) throw new Error('the engine benchmark needs the native addon')

const module = fileURLToPath(new URL('../__test__/fixtures/kv-txs.ts', import.meta.url))
const kv = await KeyValueExecutor.create({ module, threads })

/** Transactions per block: about 100 ms of sequential work, at least 200 transactions. */
const txCount = (burnMicros: number) => Math.max(200, Math.round(100_000 / burnMicros))

interface Row {
  kind: 'native' | 'js'
  burnMicros: number
  contention: 'low' | 'high'
  transactions: number
  sequentialMs: number
  parallelMs: number
  ratio: number
  ideal: number
  samples: [number, number]
}

const rows: Row[] = []
const caseOptions = quick ? { minSamples: 3, maxTime: 0.5 } : { minSamples: 7, maxTime: 2 }

async function scenario(kind: 'native' | 'js', burnMicros: number, contention: 'low' | 'high'): Promise<void> {
  const n = txCount(burnMicros)
  const digests = new Set<string>()
  const runNative = async (t: number) => {
    const r = await native!.runNativeMockBlock({ transactions: n, burnMicros, contention, threads: t })
    digests.add(r.digest)
  }
  const transactions = Array.from({ length: n }, (_, i) => ({ fn: 'burn', args: [contention === 'low' ? BigInt(i) : 0n, burnMicros] }))
  const runJs = async (strategy: 'sequential' | 'optimistic') => {
    const r = await kv.run({ transactions, strategy })
    digests.add(String(r.state.get(0n)) + ':' + String(r.outputs.at(-1)))
  }
  const name = `${kind} ${burnMicros}us ${contention}`
  const summary = await b.suite(
    name,
    b.add('sequential', () => (kind === 'native' ? runNative(0) : runJs('sequential')), caseOptions),
    b.add(`parallel x${threads}`, () => (kind === 'native' ? runNative(threads) : runJs('optimistic')), caseOptions),
  )
  if (digests.size !== 1) throw new Error(`${name}: parallel and sequential results differ`)
  const [seq, par] = summary.results
  const sequentialMs = seq.details.median * 1e3
  const parallelMs = par.details.median * 1e3
  rows.push({
    kind,
    burnMicros,
    contention,
    transactions: n,
    sequentialMs,
    parallelMs,
    ratio: sequentialMs / parallelMs,
    ideal: contention === 'low' ? threads : 1,
    samples: [seq.samples, par.samples],
  })
}

for (const kind of ['native', 'js'] as const) {
  for (const burn of [20, 100, 1000]) {
    for (const contention of ['low', 'high'] as const) await scenario(kind, burn, contention)
  }
}

// Dispatch overhead: no-op transactions through the bridge, per task, median over blocks.
const noops = Array.from({ length: 20_000 }, () => ({ fn: 'noop' }))
const perTask: Record<'sequential' | 'optimistic', number[]> = { sequential: [], optimistic: [] }
for (let i = 0; i < (quick ? 5 : 15); i++) {
  for (const strategy of ['sequential', 'optimistic'] as const) {
    const t0 = performance.now()
    await kv.run({ transactions: noops, strategy })
    perTask[strategy].push(((performance.now() - t0) * 1000) / noops.length)
  }
}
await kv.close()
const median = (xs: number[]) => [...xs].sort((a, c) => a - c)[Math.floor(xs.length / 2)]
const dispatch = { sequentialMicros: median(perTask.sequential), optimisticMicros: median(perTask.optimistic), tasks: noops.length }

console.log(`\nEngine benchmark, ${threads} threads/workers (ratio = median sequential / median parallel, same run)`)
console.table(
  rows.map((r) => ({
    scenario: `${r.kind} ${r.burnMicros}us ${r.contention}`,
    txs: r.transactions,
    'seq ms': r.sequentialMs.toFixed(1),
    'par ms': r.parallelMs.toFixed(1),
    ratio: r.ratio.toFixed(2),
    ideal: r.ideal,
  })),
)
console.log(
  `JS bridge dispatch overhead per no-op task (median of blocks of ${dispatch.tasks}): ` +
    `sequential ${dispatch.sequentialMicros.toFixed(2)} us, optimistic x${threads} ${dispatch.optimisticMicros.toFixed(2)} us`,
)
const dir = fileURLToPath(new URL('./results/', import.meta.url))
mkdirSync(dir, { recursive: true })
writeFileSync(`${dir}engine.json`, JSON.stringify({ date: new Date().toISOString(), threads, rows, dispatch }, null, 2))
