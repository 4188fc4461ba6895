/**
 * Random mixed blocks (`support/mixed.ts`): every kind of transaction of the fixed workloads
 * drawn into one block, under every strategy at 1, 2 and 4 threads, each equal to ethereumjs
 * `runBlock`. A few fixed seeds here (the seed picks the fork: Cancun, Prague, Osaka in turn);
 * `npm run test:fuzz` runs many more.
 */
import { Hardfork } from '@ethereumjs/common'
import test from 'ava'

import { MIXED_FORKS, checkMixed, mixedBlock, mixedCases, mixedWorld } from './support/mixed.ts'

/** Each fork (seed % 4) with any sender reaching anything (0-3) and in groups (4-7). */
const SEEDS = [0, 1, 2, 3, 4, 5, 6, 7]
const TXS = 60

const setup = (async () => ({ worlds: await Promise.all(MIXED_FORKS.map((f) => mixedWorld(f))), ...(await mixedCases()) }))()
test.after.always(async () => (await setup).close())
const prague = async () => (await setup).worlds[MIXED_FORKS.indexOf(Hardfork.Prague)]

test('a mixed block is a pure function of its seed, and holds every kind of transaction', async (t) => {
  const world = await prague()
  const a = mixedBlock(world, 2, 300)
  const b = mixedBlock(world, 2, 300)
  t.deepEqual(
    a.block.transactions.map((tx) => tx.hash()),
    b.block.transactions.map((tx) => tx.hash()),
  )
  t.notDeepEqual(mixedBlock(world, 3, 10).block.transactions.map((tx) => tx.hash()), a.block.transactions.slice(0, 10).map((tx) => tx.hash()))
  // These seeds (one grouped) draw every kind at least once in 300 transactions.
  const c = mixedBlock(world, 6, 300)
  t.false(a.grouped)
  t.true(c.grouped)
  t.deepEqual([...new Set(a.kinds)].sort(), [...a.allKinds].sort())
  t.deepEqual([...new Set(c.kinds)].sort(), [...c.allKinds].sort())
})

for (const seed of SEEDS) {
  const shape = seed >= 4 ? 'grouped' : 'ungrouped'
  test(`mixed block, seed ${seed} (${MIXED_FORKS[seed % MIXED_FORKS.length]}, ${shape}): every strategy at 1, 2 and 4 threads equals ethereumjs runBlock`, async (t) => {
    const { worlds, cases } = await setup
    const world = worlds[seed % worlds.length]
    const mixed = mixedBlock(world, seed, TXS)
    t.is(mixed.grouped, seed >= 4)
    const { differences, ran } = await checkMixed(world, mixed, cases)
    t.deepEqual(differences, [])
    // The parallel strategies really ran in parallel; sharded did where the groups kept the
    // block apart (with anyone reaching anyone, every transaction falls into one shard).
    for (const label of ['optimistic x2', 'optimistic x4', 'dependency x2', 'dependency x4']) t.is(ran.get(label), label.split(' ')[0], label)
    if (mixed.grouped) t.is(ran.get('sharded x4'), 'sharded')
  })
}

test('the comparison fails on a wrong result: a block checked against another block\'s reference', async (t) => {
  const { cases } = await setup
  const world = await prague()
  const mixed = mixedBlock(world, 1, 20)
  const other = mixedBlock(world, 2, 20)
  // Run other's transactions but compare with mixed's reference: both cases must differ.
  const { differences: diffs } = await checkMixed(world, { ...mixed, block: other.block }, cases.slice(0, 2), mixed.block)
  t.true(diffs.some((d) => d.startsWith('seed 1 (prague), sequential:')))
  t.true(diffs.some((d) => d.startsWith('seed 1 (prague), optimistic x1:')))
})
