/**
 * Random mixed blocks (`support/mixed.ts`): every kind of transaction of the fixed workloads
 * drawn into one block, under every strategy at 1, 2 and 4 threads, each equal to ethereumjs
 * `runBlock`. A few fixed seeds here (the seed picks the fork, `seed % 10`: Constantinople to
 * Osaka);
 * `npm run test:fuzz` runs many more.
 */
import { Hardfork } from '@ethereumjs/common'
import test from 'ava'

import { MIXED_FORKS, VARIANTS, checkMixed, checkVariant, groupedSeed, mixedBlock, mixedCases, mixedVariant, mixedWorld } from './support/mixed.ts'

/** Each fork once (seed % 10); the odd seeds grouped, the even ones not (`groupedSeed`). */
const SEEDS = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
const TXS = 60

const setup = (async () => ({ worlds: await Promise.all(MIXED_FORKS.map((f) => mixedWorld(f))), ...(await mixedCases()) }))()
test.after.always(async () => (await setup).close())
const prague = async () => (await setup).worlds[MIXED_FORKS.indexOf(Hardfork.Prague)]

test('a mixed block is a pure function of its seed', async (t) => {
  const world = await prague()
  const a = mixedBlock(world, 2, 300)
  const b = mixedBlock(world, 2, 300)
  t.deepEqual(
    a.block.transactions.map((tx) => tx.hash()),
    b.block.transactions.map((tx) => tx.hash()),
  )
  t.notDeepEqual(mixedBlock(world, 3, 10).block.transactions.map((tx) => tx.hash()), a.block.transactions.slice(0, 10).map((tx) => tx.hash()))
})

/** The transaction types each fork has, oldest first (index as in MIXED_FORKS). */
const FORK_TYPES = ['0', '0', '0', '01', '012', '012', '012', '0123', '01234', '01234']

test('on every fork, a mixed block draws every kind of transaction that fork has, in its transaction types only', async (t) => {
  const { worlds } = await setup
  t.is(worlds.length, 10)
  // Seeds 20-29: one per fork, grouped and ungrouped in turn, 300 transactions each. (Not
  // 10-19: the draw is random, and seed 19's 300 transactions hold no CREATE transaction, a
  // kind of weight 1 in about 60.)
  for (let seed = 20; seed < 30; seed++) {
    const world = worlds[seed % worlds.length]
    const m = mixedBlock(world, seed, 300)
    const where = `seed ${seed} (${world.hardfork})`
    t.is(m.grouped, seed % 2 === 1, where)
    t.deepEqual([...new Set(m.kinds)].sort(), [...m.allKinds].sort(), where)
    t.is([...new Set(m.block.transactions.map((tx) => tx.type))].sort().join(''), FORK_TYPES[seed % 10], where)
    t.is(m.allKinds.includes('delegation'), world.common.isActivatedEIP(7702), where)
    t.is(m.allKinds.includes('blob'), world.common.isActivatedEIP(4844), where)
    // Uniswap V2 needs CHAINID: no pools, so no swaps, before Istanbul.
    t.is(m.allKinds.includes('swap'), world.common.gteHardfork(Hardfork.Istanbul), where)
    t.is(world.pairs.length, world.common.gteHardfork(Hardfork.Istanbul) ? 3 : 0, where)
  }
  // Withdrawals only from Shanghai, a block reward only before Paris.
  t.deepEqual(
    worlds.map((w) => [w.hardfork, w.common.isActivatedEIP(4895), w.common.consensusType()]),
    MIXED_FORKS.map((f, i) => [f, i >= 6, i < 5 ? 'pow' : 'pos']),
  )
})

for (const seed of SEEDS) {
  const shape = groupedSeed(seed) ? 'grouped' : 'ungrouped'
  test(`mixed block, seed ${seed} (${MIXED_FORKS[seed % MIXED_FORKS.length]}, ${shape}): every strategy at 1, 2 and 4 threads equals ethereumjs runBlock`, async (t) => {
    const { worlds, cases } = await setup
    const world = worlds[seed % worlds.length]
    const mixed = mixedBlock(world, seed, TXS)
    t.is(mixed.grouped, seed % 2 === 1)
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

/**
 * Invalid blocks: each way `mixedVariant` breaks a block, once (seeds 10-15, six forks). Every
 * case must reject the block at the transaction ethereumjs rejects first, with its message,
 * and leave a caller's state manager as it was; a variant that stays valid must equal
 * ethereumjs. `npm run test:fuzz` draws one variant for each of its seeds.
 */
VARIANTS.forEach((variant, k) => {
  const seed = 10 + k
  test(`broken mixed block, seed ${seed} (${MIXED_FORKS[seed % MIXED_FORKS.length]}), ${variant}: every strategy rejects it at ethereumjs's transaction (or equals ethereumjs where it stays valid), changing no state`, async (t) => {
    const { worlds, cases } = await setup
    const world = worlds[seed % worlds.length]
    const mixed = mixedBlock(world, seed, TXS)
    const v = await mixedVariant(world, mixed, variant)
    const { differences, invalidAt } = await checkVariant(world, mixed, v, cases)
    t.deepEqual(differences, [])
    // What each variant is built to do, so that the check is not vacuous: the changed
    // transaction (or one before it) is rejected; spending exactly the balance is allowed.
    const changed = Number(/transaction (\d+)/.exec(v.how)![1])
    if (variant === 'spend the whole balance') t.true(invalidAt === undefined || invalidAt > changed, `${v.how}: rejected at ${invalidAt}`)
    else if (variant === 'replayed transaction') t.is(invalidAt, Number(/again at (\d+)/.exec(v.how)![1]), v.how)
    else if (variant === 'overspend by one wei' || variant === 'damaged signature') t.is(invalidAt, changed, v.how)
    else if (variant === 'block gas limit') t.true(invalidAt !== undefined && invalidAt <= changed, `${v.how}: rejected at ${invalidAt}`)
    else {
      // A nonce gap: the sender's next transaction, one place earlier in the shorter block.
      const senders = mixed.block.transactions.map((tx) => tx.getSenderAddress())
      const next = senders.findIndex((a, i) => i > changed && a.equals(senders[changed]))
      t.true(next > changed, v.how)
      t.is(invalidAt, next - 1, v.how)
    }
  })
})
