/**
 * The strategy options beyond equivalence (which `evm.spec.ts` checks for every strategy):
 * what each one does with a block, the adaptive policies' decisions and reasons, the retry
 * policy, and the statistics kept per block and per executor.
 */
import { bytesToHex } from '@ethereumjs/util'
import test from 'ava'

import { InvalidInputError, ParallelExecutor, type AdaptiveStrategy, type BlockProfile, type Strategy } from '../ts/index.ts'
import { AdaptiveChooser, DEFAULT_WINDOW } from '../ts/evm/adaptive.ts'
import { analyzeBlock, shardByAffinity } from '../ts/evm/analysis.ts'
import { loadNative } from '../ts/native.ts'
import { Hardfork } from '@ethereumjs/common'

import { differences, makeCommon, referenceRun, rootAfterDiff } from './support/evm.ts'
import * as W from './support/workloads.ts'

const native = loadNative() !== null
const needsNative = native ? test : test.skip
if (!native) console.log('strategies.spec: the native addon is not loaded; the strategy tests that need workers are skipped')

async function same(t: import('ava').ExecutionContext, wl: W.Workload, r: Awaited<ReturnType<ParallelExecutor['runBlock']>>, label: string) {
  const ref = await referenceRun(wl.common, wl.prestate, wl.block)
  t.deepEqual(differences(ref.result, r), [], label)
  t.is(bytesToHex(await rootAfterDiff(wl.common, wl.prestate, r.stateDiff)), bytesToHex(ref.stateRoot), `${label}: state root`)
}

const run = (x: ParallelExecutor, wl: W.Workload, strategy?: Strategy) =>
  x.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, strategy })

needsNative('optimistic: sender order leaves nothing to re-execute on independent nonce chains', async (t) => {
  // Each sender pays fresh recipients: the only conflicts are the nonce chains, and with
  // sender order a transaction starts only after its sender's previous one has executed.
  const wl = await W.senderChains(3, 10)
  await using x = await ParallelExecutor.create({ threads: 4, strategy: { kind: 'optimistic', senderOrder: true } })
  for (let i = 0; i < 3; i++) {
    const r = await run(x, wl)
    await same(t, wl, r, `run ${i}`)
    t.is(r.metrics.strategy, 'optimistic')
    t.is(r.metrics.reexecutions, 0, `run ${i}: ${JSON.stringify(r.metrics)}`)
  }
  // Plain Block-STM (the default) may re-execute them; it returns the same result.
  const plain = await run(x, wl, { kind: 'optimistic' })
  await same(t, wl, plain, 'plain Block-STM')
  t.is(plain.metrics.hintWaits, 0)
})

needsNative('dependency: predicted same-sender and transfer dependencies leave nothing to re-execute', async (t) => {
  // Rings of nonce chains (each sender pays the next one): every conflict is on a sender or
  // a recipient account, which the pre-analysis predicts, so each transaction starts only
  // when what it reads is final.
  const wl = await W.nonceChains(8, 6)
  await using x = await ParallelExecutor.create({ threads: 4, strategy: { kind: 'dependency' } })
  let waits = 0
  for (let i = 0; i < 3; i++) {
    const r = await run(x, wl)
    await same(t, wl, r, `run ${i}`)
    t.is(r.metrics.strategy, 'dependency')
    waits += r.metrics.hintWaits
    t.is(r.metrics.reexecutions, 0, `run ${i}: ${JSON.stringify(r.metrics)}`)
    t.true(r.metrics.profile!.predictedEdges > 0)
  }
  // With 4 workers on chains 8 senders wide, some transaction reaches a worker before its
  // predecessor finished in at least one of three runs.
  t.true(waits > 0, 'transactions waited for their predicted predecessors')
})

needsNative('dependency: known ERC-20 calls are predicted from their arguments', async (t) => {
  const wl = await W.erc20Transfers(40, 'overlapping')
  await using x = await ParallelExecutor.create({ threads: 2, strategy: { kind: 'dependency' } })
  const r = await run(x, wl)
  await same(t, wl, r, 'erc20')
  t.is(r.metrics.profile!.erc20Share, 1)
  t.true(r.metrics.profile!.predictedEdges >= 40 - 5, `${r.metrics.profile!.predictedEdges} predicted edges`)
})

needsNative('sharded: senders are spread over shards; a single-sender block runs sequentially', async (t) => {
  const wl = await W.senderChains(6, 4)
  await using x = await ParallelExecutor.create({ threads: 3, strategy: { kind: 'sharded' } })
  const r = await run(x, wl)
  await same(t, wl, r, 'sharded')
  t.is(r.metrics.strategy, 'sharded')
  t.is(r.metrics.shards!.count, 3)
  // 6 senders of 4 × 21,000 gas each, 2 per shard.
  t.deepEqual(r.metrics.shards!.loads, [168_000, 168_000, 168_000])

  const one = await W.nonceChains(1, 12)
  const r1 = await run(x, one)
  await same(t, one, r1, 'one sender')
  t.is(r1.metrics.strategy, 'sequential')
  t.regex(r1.metrics.decision!.reason, /falls into one shard/)
})

needsNative('sharded: transactions predicted to conflict share a shard, payments into one account do not', async (t) => {
  // 64 senders, each paying one of 4 recipients (transaction i pays recipient i % 4). The
  // payments are credits, which do not conflict: the transactions go round the three shards
  // by sender, and none is re-executed although every recipient is paid from every shard.
  const wl = await W.withdrawals(64)
  const txs = wl.block.transactions
  const analysis = analyzeBlock(txs, txs.map((tx) => tx.getSenderAddress().bytes))
  t.is(analysis.profile.predictedEdges, 0)
  const { shardOf, loads } = shardByAffinity(txs, analysis.keys, 3)
  t.deepEqual(loads, [22 * 21_000, 21 * 21_000, 21 * 21_000])
  t.true([0, 1, 2].every((s) => [0, 1, 2, 3].every((r) => txs.some((_, i) => i % 4 === r && shardOf[i] === s))), 'each recipient is paid from each shard')
  await using x = await ParallelExecutor.create({ threads: 3, strategy: { kind: 'sharded', shards: 3 } })
  for (let i = 0; i < 3; i++) {
    const r = await run(x, wl)
    await same(t, wl, r, `run ${i}`)
    t.is(r.metrics.strategy, 'sharded')
    t.is(r.metrics.reexecutions, 0, `run ${i}: credits do not conflict across shards`)
  }
})

test('the pre-analysis: payments into one account depend on its last full use, not on each other; its next full use depends on them', (t) => {
  // Transactions 0-3 pay R, 4 is R's own payment (a full use of R's account), 5 pays R again,
  // 6 pays R with call data (a call, a full use).
  const w = new W.World(makeCommon(Hardfork.Cancun))
  const rKey = 600
  const r = w.fund(rKey)
  for (let i = 0; i < 8; i++) w.fund(i)
  const txs = [0, 1, 2, 3].map((i) => w.tx(i, { to: r, value: 5n, gasLimit: 21_000n }))
  txs.push(w.tx(rKey, { to: w.fund(700), value: 1n, gasLimit: 21_000n }))
  txs.push(w.tx(5, { to: r, value: 5n, gasLimit: 21_000n }))
  txs.push(w.tx(6, { to: r, value: 5n, data: Uint8Array.of(1, 2, 3, 4), gasLimit: 30_000n }))
  const a = analyzeBlock(txs, txs.map((tx) => tx.getSenderAddress().bytes))
  const preds = (i: number) => [...a.hints.preds.subarray(a.hints.offsets[i], a.hints.offsets[i + 1])].sort()
  for (let i = 0; i < 4; i++) t.deepEqual(preds(i), [], `payment ${i}`)
  t.deepEqual(preds(4), [0, 1, 2, 3], "R's own transaction waits for the payments into it")
  t.deepEqual(preds(5), [4], 'a payment after it waits for it only')
  t.deepEqual(preds(6), [4, 5], 'a call with data and value is a full use')
  t.is(a.profile.predictedEdges, 7)
  // Shards: the payments join nothing; R's own transaction and the call join R's account.
  const { shardOf } = shardByAffinity(txs, a.keys, 4)
  t.is(shardOf[4], shardOf[6])
  t.not(shardOf[0], shardOf[4], 'a payment does not join the account it pays')
  t.true(new Set([0, 1, 2, 3].map((i) => shardOf[i])).size >= 3, 'the payments spread over the shards')
})

needsNative('adaptive, characteristics: small blocks and predicted chains run sequentially, predicted dependencies use dependency', async (t) => {
  await using x = await ParallelExecutor.create({ threads: 2 })
  const small = await W.ethTransfers(8)
  const r1 = await run(x, small)
  t.is(r1.metrics.strategy, 'sequential')
  t.is(r1.metrics.decision!.policy, 'characteristics')
  t.regex(r1.metrics.decision!.reason, /small block/)

  // One sender: a nonce chain, known without the pre-analysis (no profile is reported).
  const chain = await W.nonceChains(1, 40)
  const r2 = await run(x, chain)
  t.is(r2.metrics.strategy, 'sequential')
  t.regex(r2.metrics.decision!.reason, /one sender: its 40 transactions form one nonce chain/)
  t.is(r2.metrics.profile, undefined)
  await same(t, chain, r2, 'chain')

  // Several senders, each a chain: the analysis predicts the chain.
  const chains2 = await W.nonceChains(2, 20)
  const r2b = await run(x, chains2)
  t.is(r2b.metrics.strategy, 'sequential', r2b.metrics.decision!.reason)
  t.regex(r2b.metrics.decision!.reason, /predicted chain/)
  t.not(r2b.metrics.profile, undefined)

  const chains = await W.senderChains(10, 4)
  const r3 = await run(x, chains)
  t.is(r3.metrics.strategy, 'dependency')
  t.regex(r3.metrics.decision!.reason, /predicted dependencies/)

  const independent = await W.ethTransfers(48)
  const r4 = await run(x, independent)
  t.is(r4.metrics.strategy, 'optimistic')
  t.regex(r4.metrics.decision!.reason, /few predicted dependencies.*measuring it on blocks of 32\+ transactions/)
  // Then the pick is checked against what is measured on blocks of the same size class: the
  // pick, sequential and the other parallel kind (dependency) are measured (after warm-up
  // blocks, which are not), then the fastest runs, and its reason gives the throughputs.
  const reasons: string[] = []
  for (let i = 0; i < 30 && !/measured (optimistic|dependency)/.test(reasons.at(-1) ?? ''); i++) {
    const r = await run(x, independent)
    reasons.push(r.metrics.decision!.reason)
    await same(t, independent, r, `block ${i}`)
  }
  t.true(reasons.some((r) => /few predicted dependencies.*; measuring it on blocks of 32\+ transactions/.test(r)), reasons.join('\n'))
  t.true(reasons.some((r) => /measuring sequential on blocks of 32\+ transactions for comparison/.test(r)), reasons.join('\n'))
  t.true(reasons.some((r) => /measuring dependency too on blocks of 32\+ transactions/.test(r)), reasons.join('\n'))
  t.regex(reasons.at(-1)!, /measured (optimistic [\d.]+, dependency|dependency [\d.]+, optimistic) [\d.]+ vs sequential [\d.]+ Mgas\/s on blocks of 32\+ transactions/)
  const off = await run(x, independent, { kind: 'adaptive', policy: { kind: 'characteristics', measure: false } })
  t.is(off.metrics.strategy, 'optimistic')
})

needsNative('adaptive remembers conflicts: a hot counter is learned, then predicted as a chain', async (t) => {
  await using x = await ParallelExecutor.create({ threads: 2 })
  const wl = await W.hotCounter(40)
  const first = await run(x, wl)
  // Nothing known yet: the calls look independent.
  t.is(first.metrics.strategy, 'optimistic')
  t.true(x.statistics().hotSignatures >= 1, 'the counter call was remembered as conflicting')
  const second = await run(x, wl)
  t.is(second.metrics.strategy, 'sequential')
  t.regex(second.metrics.decision!.reason, /predicted chain/)
  t.is(second.metrics.profile!.hotShare, 1)
  await same(t, wl, second, 'second')
  // The dependency strategy uses the memory too, unless told not to.
  // Sharded keeps the remembered conflicts together too: one shard, so sequential.
  const sharded = await run(x, wl, { kind: 'sharded' })
  t.is(sharded.metrics.strategy, 'sequential')
  t.regex(sharded.metrics.decision!.reason, /falls into one shard/)
  const dep = await run(x, wl, { kind: 'dependency' })
  t.true(dep.metrics.profile!.predictedEdges >= 39)
  const forgetful = await run(x, wl, { kind: 'dependency', remember: false })
  t.is(forgetful.metrics.profile!.predictedEdges, 0)
})

needsNative('remembered conflicts keep their grain: swaps conflict per pool, not across pools', async (t) => {
  // All swaps call one router with one selector; the pool is the first argument. After one
  // block, calls on the same pool are chained and the three pools stay parallel.
  await using x = await ParallelExecutor.create({ threads: 2, strategy: { kind: 'optimistic' } })
  const wl = await W.uniswapSwaps(36, 3)
  await run(x, wl)
  const r = await run(x, wl, { kind: 'dependency' })
  await same(t, wl, r, 'swaps')
  t.is(r.metrics.profile!.hotShare, 1)
  t.true(r.metrics.profile!.predictedParallelism > 2.5, `predicted parallelism ${r.metrics.profile!.predictedParallelism}`)
  // Three chains of 12 swaps, one per pool (whether a swap had to wait for its predecessor
  // depends on timing, so that is not asserted here).
  t.is(r.metrics.profile!.predictedEdges, 33)
})

needsNative('adaptive, load: thresholds on the transaction count', async (t) => {
  await using x = await ParallelExecutor.create({ threads: 2, strategy: { kind: 'adaptive', policy: { kind: 'load', low: 10, high: 30 } } })
  const picks = []
  for (const n of [6, 20, 40]) {
    const r = await run(x, await W.ethTransfers(n))
    picks.push(r.metrics.strategy)
    t.is(r.metrics.decision!.policy, 'load')
  }
  t.deepEqual(picks, ['sequential', 'dependency', 'optimistic'])
})

needsNative('adaptive, performance: measures every candidate, then keeps the fastest and re-measures now and then', async (t) => {
  const strategy: Strategy = { kind: 'adaptive', policy: { kind: 'performance', window: 3, explore: 4 }, candidates: [{ kind: 'sequential' }, { kind: 'optimistic' }] }
  await using x = await ParallelExecutor.create({ threads: 2, strategy })
  const wl = await W.ethTransfers(40)
  const reasons: string[] = []
  const picks: string[] = []
  // 36 blocks: a candidate 1.25x or more behind is re-measured every 4 x explore = 16 blocks.
  for (let i = 0; i < 36; i++) {
    const r = await run(x, wl)
    picks.push(r.metrics.strategy)
    reasons.push(r.metrics.decision!.reason)
  }
  // Both are measured before anything is decided; then the best is kept, and the other is
  // re-measured now and then.
  const firstDecision = reasons.findIndex((r) => /best measured throughput/.test(r))
  t.true(firstDecision > 0, reasons.join('\n'))
  t.true(picks.slice(0, firstDecision).includes('sequential') && picks.slice(0, firstDecision).includes('optimistic'))
  t.regex(reasons[firstDecision], /best measured throughput on blocks of 32\+ transactions: sequential .* Mgas\/s.*, optimistic .* Mgas\/s/)
  t.true(reasons.slice(firstDecision).some((r) => /re-measuring/.test(r)), reasons.join('\n'))
})

test('adaptive re-measures a candidate far behind the running one four times less often, and a close one three times as often', (t) => {
  // The chooser alone, fed throughputs: a parallel pick at `ratio` times sequential over 400
  // blocks of one size class. Counted: the blocks each strategy got after the first
  // measurements (6 blocks at most).
  const profile: BlockProfile = { transactions: 1000, contractCallShare: 0, uniqueSenderRatio: 1, erc20Share: 0, hotShare: 0, predictedEdges: 0, predictedParallelism: 2 }
  const runs = (policy: AdaptiveStrategy['policy'], ratio: number) => {
    const chooser = new AdaptiveChooser()
    const strategy: AdaptiveStrategy = { kind: 'adaptive', policy, candidates: [{ kind: 'sequential' }, { kind: 'optimistic' }] }
    const count = { sequential: 0, optimistic: 0 }
    for (let block = 0; block < 400; block++) {
      const kind = chooser.decide(strategy, profile, 2).strategy.kind as keyof typeof count
      if (block >= 10) count[kind]++
      chooser.record(kind, profile.transactions, kind === 'sequential' ? 10 : 10 * ratio, DEFAULT_WINDOW)
    }
    return count
  }
  const slowerRuns = (policy: AdaptiveStrategy['policy'], ratio: number) => runs(policy, ratio).sequential
  // 1.7x: sequential every 40 blocks (9 or 10 in 390), not every 10 (38 or 39).
  const far = slowerRuns('characteristics', 1.7)
  t.true(far >= 9 && far <= 10, `${far} sequential runs at 1.7x`)
  // 1.1x: still every 10.
  const near = slowerRuns('characteristics', 1.1)
  t.true(near >= 38 && near <= 40, `${near} sequential runs at 1.1x`)
  // The performance policy alike.
  const perfFar = slowerRuns({ kind: 'performance' }, 1.7)
  t.true(perfFar >= 9 && perfFar <= 10, `${perfFar} sequential runs at 1.7x (performance)`)
  const perfNear = slowerRuns({ kind: 'performance' }, 1.1)
  t.true(perfNear >= 38 && perfNear <= 40, `${perfNear} sequential runs at 1.1x (performance)`)
  // 1.05x, within the noise: every 3 blocks (130 in 390).
  const close = slowerRuns('characteristics', 1.05)
  t.true(close >= 128 && close <= 131, `${close} sequential runs at 1.05x`)
  const perfClose = slowerRuns({ kind: 'performance' }, 1.05)
  t.true(perfClose >= 128 && perfClose <= 131, `${perfClose} sequential runs at 1.05x (performance)`)
  // And the other way round: sequential ahead by 1.06x (beyond the 5 % margin the
  // characteristics policy gives its parallel pick), the parallel pick re-measured every 3.
  const seqAhead = runs('characteristics', 1 / 1.06).optimistic
  t.true(seqAhead >= 128 && seqAhead <= 131, `${seqAhead} optimistic runs with sequential 1.06x ahead`)
})

test('adaptive, characteristics: measures the other parallel kind too, and runs the faster one unless sequential is more than 5 % faster', (t) => {
  // The chooser alone, fed throughputs, on blocks whose analysis predicts dependencies (it
  // wants dependency) and on blocks it predicts independent (it wants optimistic).
  const run = (predictedEdges: number, mgas: Record<string, number>, blocks = 200) => {
    const profile: BlockProfile = { transactions: 100, contractCallShare: 0.5, uniqueSenderRatio: 0.9, erc20Share: 0, hotShare: 0, predictedEdges, predictedParallelism: 2 }
    const chooser = new AdaptiveChooser()
    const strategy: AdaptiveStrategy = { kind: 'adaptive' }
    const count: Record<string, number> = {}
    const first: string[] = []
    let last = ''
    for (let block = 0; block < blocks; block++) {
      const d = chooser.decide(strategy, profile, 2)
      const kind = d.strategy.kind
      if (block < 9) first.push(kind)
      else count[kind] = (count[kind] ?? 0) + 1
      last = d.reason
      chooser.record(kind, profile.transactions, mgas[kind], DEFAULT_WINDOW)
    }
    return { count, first, last }
  }
  // Dependency predicted, but slower than sequential, and optimistic faster: optimistic runs.
  const a = run(20, { sequential: 100, dependency: 90, optimistic: 120 })
  t.deepEqual(a.first.slice(0, 9).sort(), ['dependency', 'dependency', 'dependency', 'optimistic', 'optimistic', 'optimistic', 'sequential', 'sequential', 'sequential'])
  t.true((a.count.optimistic ?? 0) > 150, JSON.stringify(a.count))
  t.regex(a.last, /predicted dependencies.*(measured|re-measuring).*optimistic 120\.00, dependency 90\.00 vs sequential 100\.00 Mgas\/s/)
  // Both parallel kinds slower than sequential by more than the margin: sequential runs.
  const b = run(20, { sequential: 100, dependency: 90, optimistic: 80 })
  t.true((b.count.sequential ?? 0) > 150, JSON.stringify(b.count))
  // Dependency predicted and fastest: it keeps running; optimistic, less than 1.1x behind,
  // is re-measured every third block, sequential (1.3x behind) every 40th.
  const c = run(20, { sequential: 100, dependency: 130, optimistic: 120 })
  t.true((c.count.dependency ?? 0) > 120 && (c.count.optimistic ?? 0) < 70 && (c.count.sequential ?? 0) < 10, JSON.stringify(c.count))
  // Optimistic predicted, dependency measured faster: dependency runs.
  const d = run(0, { sequential: 100, dependency: 130, optimistic: 110 })
  t.true((d.count.dependency ?? 0) > 150, JSON.stringify(d.count))
  t.regex(d.last, /few predicted dependencies/)
  // Within the 5 % margin the faster parallel kind still runs (sequential, that close, is
  // re-measured every third block).
  const e = run(20, { sequential: 100, dependency: 80, optimistic: 97 })
  t.true((e.count.optimistic ?? 0) > 100 && (e.count.sequential ?? 0) < 70, JSON.stringify(e.count))
})

test('adaptive, performance: a window of 1 or 2 blocks decides once it is full (it keeps fewer samples than the usual three)', (t) => {
  // The chooser alone, fed throughputs: optimistic measures twice sequential's.
  const profile: BlockProfile = { transactions: 100, contractCallShare: 0, uniqueSenderRatio: 1, erc20Share: 0, hotShare: 0, predictedEdges: 0, predictedParallelism: 2 }
  for (const window of [1, 2, 3]) {
    const chooser = new AdaptiveChooser()
    const strategy: AdaptiveStrategy = { kind: 'adaptive', policy: { kind: 'performance', window }, candidates: [{ kind: 'sequential' }, { kind: 'optimistic' }] }
    const reasons: string[] = []
    for (let block = 0; block < 12; block++) {
      const d = chooser.decide(strategy, profile, 2)
      reasons.push(d.reason)
      chooser.record(d.strategy.kind, profile.transactions, d.strategy.kind === 'sequential' ? 10 : 20, window)
    }
    // Each candidate measured `min(window, 3)` times, then the best runs.
    const first = reasons.findIndex((r) => /best measured throughput/.test(r))
    t.is(first, 2 * Math.min(window, 3), `window ${window}: ${reasons.join(' | ')}`)
    t.regex(reasons.at(-1)!, /best measured throughput.*optimistic 20\.00 Mgas\/s/, `window ${window}`)
  }
})

needsNative('adaptive, a user function: gets the block profile and picks', async (t) => {
  const seen: BlockProfile[] = []
  const policy = (p: BlockProfile) => {
    seen.push(p)
    return p.uniqueSenderRatio < 0.5 ? ('sharded' as const) : ('optimistic' as const)
  }
  await using x = await ParallelExecutor.create({ threads: 2, strategy: { kind: 'adaptive', policy } })
  const r = await run(x, await W.senderChains(4, 5))
  t.is(r.metrics.strategy, 'sharded')
  t.is(r.metrics.decision!.policy, 'function')
  t.is(seen[0].transactions, 20)
  t.is(seen[0].uniqueSenderRatio, 0.2)
  const bad = { kind: 'adaptive', policy: () => 'eager' } as unknown as Strategy
  await t.throwsAsync(run(x, await W.ethTransfers(20), bad), { instanceOf: InvalidInputError })
})

needsNative('retry policy: past maxReexecutions the rest of the block runs in order, keeping the result', async (t) => {
  const wl = await W.hotCounter(60)
  await using x = await ParallelExecutor.create({ threads: 4, strategy: { kind: 'optimistic', maxReexecutions: 0 } })
  let switched = 0
  for (let i = 0; i < 5; i++) {
    const r = await run(x, wl)
    await same(t, wl, r, `run ${i}`)
    t.is(r.metrics.fallbackReason, undefined)
    if (r.metrics.serialFrom !== undefined) switched++
  }
  // Four workers on one hot slot: a conflict in each run is all but certain.
  t.true(switched > 0, 'the limit engaged')
  t.is(x.statistics().serialSwitches, switched)
})

needsNative('statistics: per block and cumulative on the executor', async (t) => {
  await using x = await ParallelExecutor.create({ threads: 2, strategy: { kind: 'optimistic' } })
  const a = await run(x, await W.failures(20))
  const b = await run(x, await W.hotCounter(30), { kind: 'dependency' })
  const c = await run(x, await W.ethTransfers(10), { kind: 'sequential' })
  for (const m of [a.metrics, b.metrics, c.metrics]) {
    t.is(m.successful + m.failed, m.transactions)
    t.is(m.executions, m.transactions + m.reexecutions)
    t.true(m.conflictRate >= 0 && m.conflictRate <= 1)
    t.true(m.timings.total >= m.timings.execute)
  }
  t.true(a.metrics.failed > 0, 'the failures workload has failing transactions')
  t.true(a.metrics.dependencies!.idealSpeedup >= 1)
  const s = x.statistics()
  t.is(s.blocks, 3)
  t.is(s.transactions, 60)
  t.is(s.failed, a.metrics.failed + b.metrics.failed + c.metrics.failed)
  t.is(s.reexecutions, a.metrics.reexecutions + b.metrics.reexecutions)
  t.deepEqual(s.strategies, { optimistic: 1, dependency: 1, sequential: 1 })
  t.true(s.timings.total >= a.metrics.timings.total + b.metrics.timings.total + c.metrics.timings.total - 1e-6)
})

test('bad strategy options are typed errors', async (t) => {
  const bad: unknown[] = [
    { kind: 'sharded', shards: 0 },
    { kind: 'dependency', maxReexecutions: -1 },
    { kind: 'optimistic', senderOrder: 'yes' },
    { kind: 'adaptive', candidates: [{ kind: 'optimistic', senderOrder: 1 }] },
    { kind: 'adaptive', policy: 'fastest' },
    { kind: 'adaptive', candidates: [] },
    { kind: 'adaptive', candidates: [{ kind: 'adaptive' }] },
    { kind: 'adaptive', policy: { kind: 'load', low: 50, high: 10 } },
    { kind: 'adaptive', policy: { kind: 'performance', window: -2 } },
  ]
  for (const strategy of bad) {
    await t.throwsAsync(ParallelExecutor.create({ threads: 1, strategy: strategy as Strategy }), { instanceOf: InvalidInputError }, JSON.stringify(strategy))
  }
})

test('the pre-analysis reads any call data: empty, shorter than a selector, shorter than an argument, with access lists', async (t) => {
  // Mainnet has calls with 1 to 3 bytes of data (block 4864590 has some); those have no
  // selector, so no signature, and must not make the analysis throw.
  const { createLegacyTx, createAccessList2930Tx } = await import('@ethereumjs/tx')
  const { Common, Mainnet, Hardfork } = await import('@ethereumjs/common')
  const common = new Common({ chain: Mainnet, hardfork: Hardfork.Cancun })
  const to = new Uint8Array(20).fill(0xee)
  const txs = []
  const senders = []
  for (let len = 0; len <= 40; len++) {
    const data = Uint8Array.from({ length: len }, (_, i) => (i * 31 + len) & 0xff)
    txs.push(createLegacyTx({ to, data, gasLimit: 50_000 + len }, { common }))
    txs.push(createAccessList2930Tx({ to, data, gasLimit: 60_000, accessList: [{ address: bytesToHex(to), storageKeys: [bytesToHex(new Uint8Array(32).fill(len))] }] }, { common }))
    senders.push(new Uint8Array(20).fill(len + 1), new Uint8Array(20).fill(len + 100))
  }
  const { analyzeBlock } = await import('../ts/evm/analysis.ts')
  const a = analyzeBlock(txs, senders)
  for (let i = 0; i < txs.length; i++) {
    const len = txs[i].data.length
    t.is(a.signatures[i] !== undefined, len >= 4, `signature with ${len} bytes of call data`)
    t.is(a.withArgument[i] !== undefined, len >= 36, `signature and argument with ${len} bytes of call data`)
  }
  t.is(a.profile.transactions, txs.length)
  // Distinct senders and slots: the only shared key is the callee's account, which the two
  // transactions without call data (and without value) touch.
  t.is(a.profile.predictedEdges, 1)
})

needsNative('dependency: an EIP-7702 authority waits for its authorization before its own transaction', async (t) => {
  // 24 sponsored delegations; 12 of the authorities then send a transfer of their own, right
  // behind. Only the authorization's signature says who the authority is: recovered before
  // the analysis, it makes each of those transfers wait for its authorization (12 edges,
  // none otherwise), so none runs on the nonce the authorization has not raised yet.
  const wl = await W.delegations(24, true)
  const txs = wl.block.transactions
  t.is(analyzeBlock(txs, txs.map((tx) => tx.getSenderAddress().bytes)).profile.predictedEdges, 0, 'without the authorities')
  await using x = await ParallelExecutor.create({ threads: 4, strategy: { kind: 'dependency' } })
  for (let i = 0; i < 3; i++) {
    const r = await run(x, wl)
    await same(t, wl, r, `run ${i}`)
    t.is(r.metrics.strategy, 'dependency')
    t.is(r.metrics.profile!.predictedEdges, 12)
    t.is(r.metrics.reexecutions, 0, `run ${i}: ${JSON.stringify(r.metrics)}`)
  }
})
