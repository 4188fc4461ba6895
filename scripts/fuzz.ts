/**
 * Differential fuzzing: random mixed blocks (`__test__/support/mixed.ts`) under every strategy
 * at 1, 2 and 4 threads, each compared with ethereumjs `runBlock`; then each block broken one
 * way (`mixedVariant`: a nonce gap, a replay, an overspend, a block gas limit, a damaged
 * signature), which every strategy must reject at the transaction ethereumjs rejects, with no
 * state changed. The seed picks the fork
 * (`seed % 10`, Constantinople to Osaka), the shape (`groupedSeed`) and the block. A difference prints its seed, which
 * reproduces the block exactly, and the run exits with status 1.
 *
 *   npm run test:fuzz                                 seeds 1-50 (five per fork), 100 transactions each
 *   npm run test:fuzz -- --seeds 7                    one seed
 *   npm run test:fuzz -- --seeds 100-199 --txs 150    a range
 *   npm run test:fuzz -- --random --minutes 30        random seeds until the time is up
 */
import { MIXED_FORKS, checkMixed, checkVariant, mixedBlock, mixedCases, mixedVariant, mixedWorld } from '../__test__/support/mixed.ts'

const args = process.argv.slice(2)
const arg = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback
}
const txs = Number(arg('txs', '100'))
const random = args.includes('--random')
const minutes = Number(arg('minutes', '10'))
const [first, last] = arg('seeds', '1-50').split('-').map(Number)
if (!Number.isInteger(txs) || txs < 1 || !Number.isInteger(first) || (last !== undefined && !(Number.isInteger(last) && last >= first)) || !(minutes > 0)) {
  console.error('usage: fuzz [--seeds A[-B]] [--txs N] [--random --minutes M]')
  process.exit(2)
}

const started = performance.now()
const worlds = await Promise.all(MIXED_FORKS.map((f) => mixedWorld(f)))
const { cases, close } = await mixedCases()
let checked = 0
let failed = 0
/** Blocks on which sharded (at 4 threads) ran in parallel rather than as one shard. */
let shardedParallel = 0
/** Broken variants ethereumjs rejected (the others stayed valid). */
let rejected = 0
try {
  const deadline = started + minutes * 60_000
  const seeds = random ? (function* () {
    while (performance.now() < deadline) yield (Math.random() * 2 ** 32) >>> 0
  })() : (function* () {
    for (let s = first; s <= (last ?? first); s++) yield s
  })()
  for (const seed of seeds) {
    const world = worlds[seed % worlds.length]
    const mixed = mixedBlock(world, seed, txs)
    const { differences: diffs, ran } = await checkMixed(world, mixed, cases)
    checked++
    if (ran.get('sharded x4') === 'sharded') shardedParallel++
    if (diffs.length > 0) {
      failed++
      console.error(`seed ${seed}: ${diffs.length} difference(s) (reproduce: npm run test:fuzz -- --seeds ${seed} --txs ${txs})`)
      for (const d of diffs.slice(0, 20)) console.error(`  ${d}`)
      const txIndex = /tx (\d+)|receipt (\d+)/.exec(diffs.join('\n'))
      const at = txIndex === null ? undefined : Number(txIndex[1] ?? txIndex[2])
      if (at !== undefined) console.error(`  transaction ${at} is a ${mixed.kinds[at]}`)
    }
    // The same block broken one way (drawn from the seed; see VARIANTS): rejected where
    // ethereumjs rejects it, with no state changed (or, if it stayed valid, equal).
    const variant = await mixedVariant(world, mixed)
    const v = await checkVariant(world, mixed, variant, cases)
    if (v.invalidAt !== undefined) rejected++
    if (v.differences.length > 0) {
      failed++
      console.error(`seed ${seed}, ${variant.how}: ${v.differences.length} difference(s) (reproduce: npm run test:fuzz -- --seeds ${seed} --txs ${txs})`)
      for (const d of v.differences.slice(0, 20)) console.error(`  ${d}`)
    }
    if (diffs.length === 0 && v.differences.length === 0 && checked % 10 === 0) {
      console.log(`${checked} blocks and their variants, ${cases.length} runs each, all equal to ethereumjs (${((performance.now() - started) / 1000).toFixed(0)} s)`)
    }
  }
} finally {
  await close()
}
console.log(
  `${checked} random blocks of ${txs} transactions and a broken variant of each (${rejected} invalid), ${cases.length} runs each: ${failed === 0 ? 'all equal to ethereumjs runBlock' : `${failed} with differences`}; ` +
    `sharded x4 ran in parallel on ${shardedParallel} of the blocks (${((performance.now() - started) / 1000).toFixed(0)} s)`,
)
process.exitCode = failed === 0 ? 0 : 1
