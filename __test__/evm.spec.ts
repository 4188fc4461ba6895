/**
 * Differential tests of the EVM executor: every generated block, for every strategy
 * (sequential, optimistic, dependency, sharded, adaptive, and the retry limit) and 1–4
 * threads, must give what ethereumjs's sequential `runBlock` gives — receipts, logs, gas,
 * bloom, receipts root and the post-state root. Run as well with the pure-JS fallback forced
 * (`npm run test:fallback`).
 */
import { execFile, type ExecFileException } from 'node:child_process'
import { fileURLToPath } from 'node:url'

import { Block, createBlock, genTransactionsTrieRoot, paramsBlock } from '@ethereumjs/block'
import { Common, createCustomCommon, Hardfork, Mainnet } from '@ethereumjs/common'
import { createTx, paramsTx } from '@ethereumjs/tx'
import { createVM, runBlock } from '@ethereumjs/vm'
import { Address, bigIntToBytes, bytesToBigInt, bytesToHex, hexToBytes, privateToPublic, setLengthLeft } from '@ethereumjs/util'
import test from 'ava'

import {
  ExecutorClosedError,
  InvalidBlockError,
  InvalidInputError,
  ParallelExecutor,
  StateReadError,
  type ParallelRunBlockResult,
  type Prestate,
  type ProgressEvent,
  type Strategy,
  type StrategyKind,
  WorkerError,
} from '../ts/index.ts'
import { loadNative } from '../ts/native.ts'
import { creditBetween } from '../ts/evm/state/native.ts'
import { addressOf, differences, makeBlock, makeCommon, merkleFromPrestate, privateKey, referenceRun, rootAfterDiff, type Reference } from './support/evm.ts'
import * as W from './support/workloads.ts'

const native = loadNative() !== null
const cancun = makeCommon(Hardfork.Cancun)
const THREADS = [1, 2, 3, 4]

/** One sequential executor and one executor per thread count, shared by the tests. */
const executors = (async () => {
  const sequential = await ParallelExecutor.create({ threads: 1, strategy: { kind: 'sequential' } })
  const optimistic = await Promise.all(THREADS.map((threads) => ParallelExecutor.create({ threads, strategy: { kind: 'optimistic' } })))
  return { sequential, optimistic }
})()

test.after.always(async () => {
  const e = await executors
  await Promise.all([e.sequential.close(), ...e.optimistic.map((x) => x.close())])
})

const WORKLOADS: [string, () => Promise<W.Workload>][] = [
  ['independent ETH transfers', () => W.ethTransfers(48)],
  ['same-sender nonce chains', () => W.nonceChains(6, 6)],
  ['independent same-sender chains', () => W.senderChains(6, 5)],
  ['same-sender chains with ERC-20 transfers', () => W.chainsAndTokens(6, 6)],
  ['same-sender chains with ERC-20 transfers, each sender together', () => W.chainsAndTokens(4, 8, 'contiguous')],
  ['ERC-20 transfers, distinct holders', () => W.erc20Transfers(40, 'distinct')],
  ['ERC-20 transfers, overlapping holders', () => W.erc20Transfers(40, 'overlapping')],
  ['Uniswap V2 swaps over 3 pools', () => W.uniswapSwaps(30, 3)],
  ['a hot counter', () => W.hotCounter(30)],
  ['CREATE and CREATE2 (with collisions)', () => W.creations(24)],
  ['SELFDESTRUCT under EIP-6780 (Cancun)', () => W.selfdestructs(12)],
  ['SELFDESTRUCT and re-creation before EIP-6780 (Shanghai)', () => W.selfdestructs(12, Hardfork.Shanghai)],
  ['reverting and out-of-gas transactions', () => W.failures(24)],
  ['BALANCE(coinbase), coinbase as sender and recipient', () => W.coinbaseTraffic(30)],
  ['legacy, 2930, 1559, 4844 and 7702 transactions (Prague)', () => W.txTypes(25)],
  ['legacy, 2930, 1559 and 4844 transactions (Cancun)', () => W.txTypes(20, Hardfork.Cancun)],
  ['legacy, 2930, 1559, 4844 and 7702 transactions (Osaka)', () => W.txTypes(20, Hardfork.Osaka)],
  ['CLZ, P256VERIFY and MODEXP (Osaka)', () => W.osakaOpcodes(24)],
  ['sponsored EIP-7702 delegations, authorities sending right behind', () => W.delegations(12)],
  ['withdrawals after the transactions (EIP-4895)', () => W.withdrawals(16)],
  ['proof-of-work miner and uncle rewards (London)', () => W.powRewards(16)],
  ['payments into deposit addresses, one delegated midway, one overflowing (Prague)', () => W.deposits(40)],
]

/** What each test runs: a label, an executor, and the strategy for the block. */
type Case = [string, ParallelExecutor, Strategy | undefined]

/** Sequential, and optimistic at every thread count (the quick set, for the focused tests). */
function strategies(e: Awaited<typeof executors>): Case[] {
  return [['sequential', e.sequential, undefined], ...e.optimistic.map((x, i): Case => [`optimistic x${THREADS[i]}`, x, undefined])]
}

/** Every strategy at every thread count, and the retry limit. */
function allStrategies(e: Awaited<typeof executors>): Case[] {
  const out: Case[] = strategies(e)
  e.optimistic.forEach((x, i) => {
    out.push([`dependency x${THREADS[i]}`, x, { kind: 'dependency' }])
    out.push([`sharded x${THREADS[i]}`, x, { kind: 'sharded' }])
    out.push([`adaptive x${THREADS[i]}`, x, { kind: 'adaptive' }])
  })
  const x4 = e.optimistic[THREADS.indexOf(4)]
  const x3 = e.optimistic[THREADS.indexOf(3)]
  out.push(['optimistic x4, maxReexecutions 0', x4, { kind: 'optimistic', maxReexecutions: 0 }])
  out.push(['optimistic x2 with sender order', e.optimistic[THREADS.indexOf(2)], { kind: 'optimistic', senderOrder: true }])
  out.push(['optimistic x4 with sender order', x4, { kind: 'optimistic', senderOrder: true }])
  out.push(['dependency x3, maxReexecutions 1', x3, { kind: 'dependency', maxReexecutions: 1 }])
  out.push(['sharded x3, 2 shards', x3, { kind: 'sharded', shards: 2 }])
  return out
}

for (const [name, make] of WORKLOADS) {
  test(`${name}: every strategy and thread count equals ethereumjs runBlock`, async (t) => {
    const wl = await make()
    const ref = await referenceRun(wl.common, wl.prestate, wl.block)
    const e = await executors
    const senders = wl.block.transactions.map((tx) => tx.getSenderAddress().toString())
    let parallelRuns = 0
    for (const [label, executor, strategy] of allStrategies(e)) {
      // Optimistic twice (repeatability); the others once.
      const repeats = strategy === undefined ? 2 : 1
      for (let repeat = 0; repeat < repeats; repeat++) {
        const ours = await executor.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, strategy })
        t.deepEqual(differences(ref.result, ours), [], `${label} run ${repeat}`)
        t.deepEqual(ours.senders.map(String), senders, `${label} run ${repeat}: senders`)
        t.is(bytesToHex(await rootAfterDiff(wl.common, wl.prestate, ours.stateDiff)), bytesToHex(ref.stateRoot), `${label} run ${repeat}: state root`)
        const wanted = strategy?.kind ?? (label === 'sequential' ? 'sequential' : 'optimistic')
        if ((wanted === 'optimistic' || wanted === 'dependency') && ours.metrics.strategy === wanted) parallelRuns++
        if (wanted === 'sharded' && native) {
          // Sharded runs in parallel unless all transactions fall into one shard.
          t.true(ours.metrics.strategy === 'sharded' || /falls into one shard/.test(ours.metrics.decision?.reason ?? ''), `${label}: ${ours.metrics.decision?.reason}`)
        }
        if (wanted === 'adaptive') t.is(ours.metrics.decision?.requested, 'adaptive', `${label}: the decision is reported`)
      }
    }
    // Without the addon every strategy runs sequentially; with it, the optimistic and
    // dependency runs must really have run in parallel: optimistic twice per thread count,
    // dependency once, the two runs with a retry limit and the two with sender order.
    t.is(parallelRuns, native ? THREADS.length * 2 + THREADS.length + 2 + 2 : 0)
  })
}

// Without the addon every strategy runs sequentially and there is no dependency graph.
if (!native) console.log('evm.spec: the native addon is not loaded; the credit-read test, which needs the workers\' dependency graph, and the code-cache test, which needs their requests, are skipped')
;(native ? test : test.skip)('payments from distinct senders into one address (existing, or not yet) are credits: no aborts, no dependency edges, the same result', async (t) => {
  const w = new W.World(makeCommon(Hardfork.Cancun))
  const existing = w.fund(500)
  const fresh = new Address(hexToBytes('0xd0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0'))
  for (let i = 0; i < 48; i++) w.fund(i)
  const txs = Array.from({ length: 48 }, (_, i) => w.tx(i, { to: i % 2 === 0 ? existing : fresh, value: 1000n + BigInt(i), gasLimit: 21_000n }))
  const block = w.block(txs)
  const ref = await referenceRun(w.common, w.prestate, block)
  const e = await executors
  for (const threads of [2, 4]) {
    const ours = await e.optimistic[THREADS.indexOf(threads)].runBlock({ block, prestate: w.prestate, skipBlockValidation: true, generate: true })
    t.deepEqual(differences(ref.result, ours), [], `x${threads}`)
    t.is(bytesToHex(await rootAfterDiff(w.common, w.prestate, ours.stateDiff)), bytesToHex(ref.stateRoot), `x${threads}: state root`)
    t.is(ours.metrics.strategy, 'optimistic')
    // Each payment read its recipient as a credit and wrote a balance delta: no transaction's
    // reads depend on another's writes, so no validation can fail.
    t.is(ours.metrics.validationAborts, 0, `x${threads}: validation aborts`)
    t.is(ours.metrics.dependencies?.edges, 0, `x${threads}: dependency edges`)
  }
})

test('creditBetween: only a balance increase with nonce, code hash and storage root unchanged is a credit (an absent account counts as the empty one)', (t) => {
  const EMPTY_CODE = hexToBytes('0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
  const EMPTY_ROOT = hexToBytes('0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421')
  const eoa = (balance: bigint, nonce = 0n) => ({ nonce, balance, codeHash: EMPTY_CODE, storageRoot: EMPTY_ROOT })
  t.is(creditBetween(eoa(100n), eoa(175n)), 75n)
  t.is(creditBetween(null, eoa(5n)), 5n)
  t.is(creditBetween(eoa(100n), eoa(100n)), undefined, 'nothing paid')
  t.is(creditBetween(eoa(100n), eoa(90n)), undefined, 'a debit')
  t.is(creditBetween(eoa(100n), eoa(175n, 1n)), undefined, 'the nonce changed')
  t.is(creditBetween(eoa(100n), { ...eoa(175n), codeHash: new Uint8Array(32).fill(9) }), undefined, 'code was set')
  t.is(creditBetween(eoa(100n), { ...eoa(175n), storageRoot: new Uint8Array(32).fill(3) }), undefined, 'the storage root changed')
  t.is(creditBetween(eoa(100n), null), undefined, 'deleted')
  t.is(creditBetween(null, eoa(5n, 1n)), undefined, 'created with a nonce')
})

test('a sender key ethereumjs cached on a transaction is its sender under every strategy, as in ethereumjs runBlock', async (t) => {
  const wl = await W.ethTransfers(24)
  // The key of an account that sends nothing else, funded, in place of tx 3's signer: what a
  // transaction validated earlier holds (here deliberately not its signature's key), and what
  // ethereumjs's runBlock then takes as the sender.
  const stand = addressOf(privateKey(500))
  wl.prestate[stand.toString()] = { balance: '0x' + (10n ** 21n).toString(16), nonce: 0 }
  const txs = wl.block.transactions
  const signer = txs[3].getSenderAddress()
  ;(txs[3].cache as { senderPubKey?: Uint8Array }).senderPubKey = privateToPublic(privateKey(500))
  t.is(txs[3].getSenderAddress().toString(), stand.toString())
  const ref = await referenceRun(wl.common, wl.prestate, wl.block)
  const e = await executors
  for (const [label, executor, strategy] of allStrategies(e)) {
    const ours = await executor.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, strategy })
    t.deepEqual(differences(ref.result, ours), [], label)
    t.is(ours.senders[3].toString(), stand.toString(), `${label}: the cached key's account sent tx 3`)
    t.is(ours.stateDiff.accounts.get(signer.toString() as `0x${string}`), undefined, `${label}: the signature's own signer is untouched`)
    t.is(bytesToHex(await rootAfterDiff(wl.common, wl.prestate, ours.stateDiff)), bytesToHex(ref.stateRoot), `${label}: state root`)
  }
})

test('transactions built for an earlier fork than the block runs under (setHardfork) run sequentially, equal to ethereumjs runBlock', async (t) => {
  // A block built with a Petersburg Common at Istanbul's first block number: its transactions
  // keep Petersburg's calldata price (68 gas a non-zero byte, not EIP-2028's 16) in
  // ethereumjs, which a worker rebuilding them under Istanbul would not.
  const petersburg = new Common({ chain: Mainnet, hardfork: Hardfork.Petersburg })
  const prestate: W.Workload['prestate'] = {}
  const txs = Array.from({ length: 24 }, (_, i) => {
    prestate[addressOf(privateKey(i)).toString()] = { balance: '0x' + (10n ** 21n).toString(16), nonce: 0 }
    const data = new Uint8Array(1024).fill(i + 1)
    return createTx({ nonce: 0n, gasPrice: 10n, gasLimit: 200_000n, to: addressOf(privateKey(100 + i)), data }, { common: petersburg }).sign(privateKey(i))
  })
  const block = makeBlock(petersburg, txs, { number: 9_069_000n, timestamp: 1_575_764_709n, difficulty: 1n })
  t.is(block.transactions[0].common.hardfork(), Hardfork.Petersburg)
  const sm = await merkleFromPrestate(petersburg, prestate)
  const vm = await createVM({ common: petersburg.copy(), stateManager: sm, setHardfork: true })
  const opts = { generate: true, skipBlockValidation: true, setHardfork: true, skipHardForkValidation: true }
  const ref = await runBlock(vm, { block, skipHeaderValidation: true, ...opts })
  t.is(vm.common.hardfork(), Hardfork.Istanbul, 'ethereumjs ran the block under Istanbul')
  const root = bytesToHex(await sm.getStateRoot())
  const e = await executors
  for (const [label, executor, strategy] of allStrategies(e)) {
    const ours = await executor.runBlock({ block, prestate, ...opts, strategy })
    t.deepEqual(differences(ref, ours), [], label)
    t.is(bytesToHex(await rootAfterDiff(petersburg, prestate, ours.stateDiff)), root, `${label}: state root`)
    if (native && (strategy?.kind ?? (label === 'sequential' ? 'sequential' : 'optimistic')) !== 'sequential') {
      t.regex(ours.metrics.decision?.reason ?? '', /transaction 0 was built for petersburg, the block runs under istanbul/, label)
    }
  }
})

test('transactions created with their own parameters (a Block assembled by hand) run sequentially, equal to ethereumjs runBlock', async (t) => {
  // ethereumjs prices a transaction by its own Common's parameters: created with a calldata
  // price of 100 gas a non-zero byte, 40 transactions of 64 such bytes used 1,096,000 gas
  // in ethereumjs and under sequential, and 880,960 under optimistic (the workers' default
  // 16) before the parameters were compared.
  const common = makeCommon()
  const params = structuredClone(paramsTx) as typeof paramsTx
  params[1679] = { ...params[1679], txDataNonZeroGas: 100 }
  const prestate: W.Workload['prestate'] = {}
  const txs = Array.from({ length: 24 }, (_, i) => {
    prestate[addressOf(privateKey(i)).toString()] = { balance: '0x' + (10n ** 21n).toString(16), nonce: 0 }
    return createTx({ type: 2, nonce: 0n, maxFeePerGas: 30n, maxPriorityFeePerGas: 2n, gasLimit: 200_000n, to: addressOf(privateKey(100 + i)), data: new Uint8Array(64).fill(i + 1) }, { common, params }).sign(privateKey(i))
  })
  const built = makeBlock(common, txs)
  // createBlock rebuilds the transactions with the block's Common; a hand-made Block keeps them.
  const block = new Block(built.header, txs, [], built.withdrawals, { common })
  t.is(block.transactions[0].getIntrinsicGas(), 21_000n + 64n * 100n)
  const ref = await referenceRun(common, prestate, block)
  t.is(ref.result.gasUsed, 24n * (21_000n + 64n * 100n))
  const e = await executors
  for (const [label, executor, strategy] of allStrategies(e)) {
    const ours = await executor.runBlock({ block, prestate, skipBlockValidation: true, generate: true, strategy })
    t.deepEqual(differences(ref.result, ours), [], label)
    t.is(bytesToHex(await rootAfterDiff(common, prestate, ours.stateDiff)), bytesToHex(ref.stateRoot), `${label}: state root`)
    if (native && (strategy?.kind ?? (label === 'sequential' ? 'sequential' : 'optimistic')) !== 'sequential') {
      t.regex(ours.metrics.decision?.reason ?? '', /transaction 0 was built with txDataNonZeroGas = 100, not the 16 the workers use/, label)
    }
  }
})

test('a block created with its own parameters (a blob gas price fraction) runs sequentially, equal to ethereumjs runBlock', async (t) => {
  // The blob gas price comes from the header's Common: with a larger update fraction it was 2
  // where the default gives 4, and the blob transactions' fees burned under optimistic (the
  // workers rebuild the header with the default) left another state root than ethereumjs's.
  const wl = await W.txTypes(20)
  const params = structuredClone(paramsBlock) as typeof paramsBlock
  params[7691] = { ...params[7691], blobGasPriceUpdateFraction: 10_000_000 }
  const header = { ...wl.block.header.toJSON(), excessBlobGas: 8_000_000n }
  const block = createBlock({ header, transactions: wl.block.transactions }, { common: wl.common, params })
  t.is(block.header.getBlobGasPrice(), 2n)
  t.is(createBlock({ header }, { common: wl.common }).header.getBlobGasPrice(), 4n)
  t.true(block.transactions.some((tx) => tx.type === 3))
  const ref = await referenceRun(wl.common, wl.prestate, block)
  const e = await executors
  for (const [label, executor, strategy] of allStrategies(e)) {
    const ours = await executor.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, generate: true, strategy })
    t.deepEqual(differences(ref.result, ours), [], label)
    t.is(bytesToHex(await rootAfterDiff(wl.common, wl.prestate, ours.stateDiff)), bytesToHex(ref.stateRoot), `${label}: state root`)
    if (native && (strategy?.kind ?? (label === 'sequential' ? 'sequential' : 'optimistic')) !== 'sequential') {
      t.regex(ours.metrics.decision?.reason ?? '', /the block was built with blobGasPriceUpdateFraction = 10000000, not the 5007716 the workers use/, label)
    }
  }
})

// Serial: the progress of a block on the workers comes from a timer on this thread, which the
// other tests of this file would keep busy (a block can then end before the timer first runs).
test.serial('onProgress: every phase in order, progress as transactions complete (sequential and on the workers); a callback that throws rejects and changes no state', async (t) => {
  const wl = await W.ethTransfers(600)
  const e = await executors
  const PHASES = ['validate', 'pre-steps', 'analyze', 'execute', 'post-steps', 'assemble', 'commit']
  // Every millisecond on the workers: the 600 transfers take tens of milliseconds there.
  const progressIntervalMs = 1
  const record = async (executor: ParallelExecutor, strategy?: Strategy) => {
    const events: ProgressEvent[] = []
    await executor.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, strategy, progressIntervalMs, onProgress: (ev) => void events.push(ev) })
    return events
  }
  const seq = await record(e.sequential)
  t.deepEqual(seq.filter((ev) => ev.done === undefined).map((ev) => ev.phase), PHASES)
  t.deepEqual(seq.filter((ev) => ev.done !== undefined).map((ev) => [ev.phase, ev.done, ev.total]), [['execute', 256, 600], ['execute', 512, 600]])
  t.true(seq.every((ev, i) => i === 0 || ev.elapsedMs >= seq[i - 1].elapsedMs), 'elapsed time never goes back')
  for (const strategy of [undefined, { kind: 'dependency' } as const]) {
    const par = await record(e.optimistic[1], strategy)
    t.deepEqual(par.filter((ev) => ev.done === undefined).map((ev) => ev.phase), PHASES)
    t.true(par.every((ev, i) => i === 0 || ev.elapsedMs >= par[i - 1].elapsedMs), 'elapsed time never goes back')
    // On the workers: events inside the execute phase (between analyze's end and execute's),
    // each counting what the engine has executed so far.
    const ticks = par.slice(par.findIndex((ev) => ev.phase === 'analyze') + 1, par.findIndex((ev) => ev.phase === 'execute' && ev.done === undefined))
    t.true(ticks.length > 0, `progress during the execute phase (${ticks.length} events)`)
    t.true(ticks.every((ev) => ev.phase === 'execute' && ev.total === 600 && Number.isInteger(ev.done) && ev.done! >= 0 && ev.done! <= 600), JSON.stringify(ticks.slice(0, 3)))
    if (native) {
      // Most transfers are independent: by the end the engine has executed most of them.
      t.true(ticks.some((ev) => ev.done! > 0), `some executed transactions counted: ${ticks.map((ev) => ev.done).join(' ')}`)
    }
  }
  await t.throwsAsync(e.optimistic[1].runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, progressIntervalMs: 0 }), {
    instanceOf: InvalidInputError,
    message: /progressIntervalMs must be a positive number/,
  })
  await t.throwsAsync(e.sequential.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, onProgress: 'log' as never }), {
    instanceOf: InvalidInputError,
    message: /onProgress must be a function/,
  })

  // A callback that throws (a caller cancelling a long block) rejects runBlock with its own
  // error, and the caller's state manager is left as it was, at the last event too: that one
  // comes before the state manager's checkpoint is committed.
  const ref = await referenceRun(wl.common, wl.prestate, wl.block)
  const sm = await merkleFromPrestate(wl.common, wl.prestate)
  const before = bytesToHex(await sm.getStateRoot())
  for (const executor of [e.sequential, e.optimistic[1]]) {
    for (const at of [...PHASES, 'execute (progress)']) {
      const stop = new Error(`stop at ${at}`)
      const onProgress = (ev: ProgressEvent) => {
        if (at === 'execute (progress)' ? ev.done !== undefined : ev.phase === at && ev.done === undefined) throw stop
      }
      const run = executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true, progressIntervalMs, onProgress })
      t.is(await t.throwsAsync(run), stop, `${at}: the callback's own error`)
      t.is(bytesToHex(await sm.getStateRoot()), before, `${at}: the state manager is unchanged`)
    }
  }
  await e.sequential.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true })
  t.is(bytesToHex(await sm.getStateRoot()), bytesToHex(ref.stateRoot), 'and the block then commits as usual')
})

test('skipBalance and skipNonce: underfunded senders and wrong nonces run under every strategy as in ethereumjs runBlock', async (t) => {
  // Senders with no balance and with nonces the transactions do not carry, in nonce chains
  // (each sender pays the next one): refused without the options, and with them ethereumjs
  // raises the balance to the upfront cost and ignores the nonce.
  const wl = await W.nonceChains(6, 4)
  const prestate = structuredClone(wl.prestate)
  const accounts = Object.values(prestate)
  accounts.forEach((a, i) => {
    if (i % 2 === 0) a.balance = '0x0'
    else a.nonce = 7
  })
  const opts = { skipBlockValidation: true, generate: true, skipBalance: true, skipNonce: true }
  const sm = await merkleFromPrestate(wl.common, prestate)
  const vm = await createVM({ common: wl.common.copy(), stateManager: sm })
  const ref = await runBlock(vm, { block: wl.block, skipHeaderValidation: true, ...opts })
  const root = bytesToHex(await sm.getStateRoot())
  const e = await executors
  await t.throwsAsync(e.sequential.runBlock({ block: wl.block, prestate, skipBlockValidation: true, generate: true }), { instanceOf: InvalidBlockError })
  for (const [label, executor, strategy] of allStrategies(e)) {
    const ours = await executor.runBlock({ block: wl.block, prestate, ...opts, strategy })
    t.deepEqual(differences(ref, ours), [], label)
    t.is(bytesToHex(await rootAfterDiff(wl.common, prestate, ours.stateDiff)), root, `${label}: state root`)
  }
})

test('commit: false leaves the caller\'s state manager as it was and still reports the diff', async (t) => {
  const wl = await W.erc20Transfers(20, 'overlapping')
  const ref = await referenceRun(wl.common, wl.prestate, wl.block)
  const e = await executors
  for (const executor of [e.sequential, e.optimistic[1]]) {
    const sm = await merkleFromPrestate(wl.common, wl.prestate)
    const before = bytesToHex(await sm.getStateRoot())
    const ours = await executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true, commit: false })
    t.deepEqual(differences(ref.result, ours), [])
    t.is(ours.stateRoot, undefined)
    t.is(bytesToHex(await sm.getStateRoot()), before, 'nothing written')
    t.is(bytesToHex(await rootAfterDiff(wl.common, wl.prestate, ours.stateDiff)), bytesToHex(ref.stateRoot), 'the diff is the block\'s')
  }
})

test('a caller state manager: the committed state root equals runBlock\'s, and generate: false checks the header', async (t) => {
  const e = await executors
  for (const make of [() => W.erc20Transfers(30, 'overlapping'), () => W.uniswapSwaps(20, 2), () => W.selfdestructs(9, Hardfork.Shanghai), () => W.coinbaseTraffic(20)]) {
    const wl = await make()
    const ref = await referenceRun(wl.common, wl.prestate, wl.block)
    // A block whose header carries the reference's results, so that the checks can pass.
    const header = { ...wl.block.header.toJSON(), receiptTrie: ref.result.receiptsRoot, logsBloom: ref.result.logsBloom, gasUsed: ref.result.gasUsed, stateRoot: ref.stateRoot }
    const block = createBlock({ header, transactions: wl.block.transactions, withdrawals: wl.block.withdrawals?.map((w) => w.toValue()) }, { common: wl.common })
    for (const [label, executor, strategy] of allStrategies(e)) {
      const sm = await merkleFromPrestate(wl.common, wl.prestate)
      const r = await executor.runBlock({ block, stateManager: sm, skipBlockValidation: true, strategy })
      t.deepEqual(differences(ref.result, r), [], `${wl.name} ${label}`)
      t.is(bytesToHex(r.stateRoot!), bytesToHex(ref.stateRoot), `${wl.name} ${label}: committed root`)
      t.is(bytesToHex(await sm.getStateRoot()), bytesToHex(ref.stateRoot), `${wl.name} ${label}: caller's state manager`)
    }
  }
})

test('pre-Byzantium receipts carry the intermediate state roots when the caller gives a state manager', async (t) => {
  const wl = await W.ethTransfers(12, makeCommon(Hardfork.SpuriousDragon))
  const ref = await referenceRun(wl.common, wl.prestate, wl.block)
  const header = { ...wl.block.header.toJSON(), receiptTrie: ref.result.receiptsRoot, logsBloom: ref.result.logsBloom, gasUsed: ref.result.gasUsed, stateRoot: ref.stateRoot }
  const block = createBlock({ header, transactions: wl.block.transactions }, { common: wl.common })
  const e = await executors
  for (const [label, executor] of strategies(e)) {
    const sm = await merkleFromPrestate(wl.common, wl.prestate)
    const r = await executor.runBlock({ block, stateManager: sm, skipBlockValidation: true })
    t.deepEqual(differences(ref.result, r), [], label)
    t.is(bytesToHex(r.stateRoot!), bytesToHex(ref.stateRoot), label)
    // Without a trie the intermediate roots cannot exist: checking the header is refused.
    await t.throwsAsync(executor.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true }), { instanceOf: InvalidInputError, message: /pre-Byzantium/ })
  }
})

async function rejects(
  t: import('ava').ExecutionContext,
  run: (executor: ParallelExecutor) => Promise<ParallelRunBlockResult>,
  expect: { txIndex?: number; message: RegExp },
): Promise<void> {
  const e = await executors
  for (const [label, executor] of strategies(e)) {
    const err = await t.throwsAsync(run(executor), { instanceOf: InvalidBlockError }, label)
    t.is(err?.txIndex, expect.txIndex, `${label}: txIndex`)
    t.regex(err?.message ?? '', expect.message, label)
  }
}

test('bad input: an invalid signature is a typed error at its transaction, and changes no state', async (t) => {
  const wl = await W.ethTransfers(10)
  const txs = [...wl.block.transactions]
  const json = txs[6].toJSON()
  txs[6] = createTx({ ...json, s: BigInt(json.s!) ^ 0xffn }, { common: wl.common })
  const block = makeBlock(wl.common, txs)
  const sm = await merkleFromPrestate(wl.common, wl.prestate)
  const rootBefore = bytesToHex(await sm.getStateRoot())
  await rejects(t, (x) => x.runBlock({ block, stateManager: sm, skipBlockValidation: true, generate: true }), { txIndex: 6, message: /signature|sender/i })
  t.is(bytesToHex(await sm.getStateRoot()), rootBefore)
})

test('bad input: a nonce gap that no earlier transaction fills makes the block invalid', async (t) => {
  const w = new W.World(cancun)
  w.fund(1)
  w.fund(2)
  const a = w.tx(1, { to: addressOf(privateKey(2)), value: 1n, gasLimit: 21_000n })
  w.tx(1, { to: addressOf(privateKey(2)), value: 1n, gasLimit: 21_000n }) // nonce 1, left out
  const c = w.tx(1, { to: addressOf(privateKey(2)), value: 1n, gasLimit: 21_000n }) // nonce 2: a gap
  const others = [0, 1, 2, 3].map(() => w.tx(2, { to: addressOf(privateKey(1)), value: 1n, gasLimit: 21_000n }))
  const block = w.block([a, ...others, c])
  await rejects(t, (x) => x.runBlock({ block, prestate: w.prestate, skipBlockValidation: true, generate: true }), { txIndex: 5, message: /nonce/ })
  // The same chain without the gap is valid (a nonce satisfied by an earlier transaction).
  const ok = new W.World(cancun)
  ok.fund(1)
  const chain = Array.from({ length: 8 }, () => ok.tx(1, { to: addressOf(privateKey(3)), value: 1n, gasLimit: 21_000n }))
  const e = await executors
  for (const [label, x] of strategies(e)) {
    const r = await x.runBlock({ block: ok.block(chain), prestate: ok.prestate, skipBlockValidation: true, generate: true })
    t.is(r.receipts.length, 8, label)
  }
})

test('bad input: a balance too low after the earlier transactions ran makes the block invalid', async (t) => {
  const w = new W.World(cancun)
  w.fund(1, 10n ** 18n)
  w.fund(2)
  // Key 1 can pay the first transfer but not the second: the second is invalid.
  const txs = [
    w.tx(1, { to: addressOf(privateKey(2)), value: 9n * 10n ** 17n, gasLimit: 21_000n }),
    w.tx(2, { to: addressOf(privateKey(3)), value: 1n, gasLimit: 21_000n }),
    w.tx(1, { to: addressOf(privateKey(2)), value: 9n * 10n ** 17n, gasLimit: 21_000n }),
  ]
  await rejects(t, (x) => x.runBlock({ block: w.block(txs), prestate: w.prestate, skipBlockValidation: true, generate: true }), { txIndex: 2, message: /enough funds/ })
})

test('bad input: transactions over the block gas limit make the block invalid', async (t) => {
  const wl = await W.ethTransfers(6)
  const block = makeBlock(wl.common, [...wl.block.transactions], { gasLimit: 21_000n * 4n })
  await rejects(t, (x) => x.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, generate: true }), { txIndex: 4, message: /higher gas limit than the block/ })
})

/** A state manager whose `method` calls run `hook` first (the call's number, from 1). */
function hooked<T extends object>(sm: T, method: 'getAccount' | 'getStorage', hook: (call: number) => void): { calls: () => number; restore: () => void } {
  const original = (sm as Record<string, unknown>)[method] as (...a: unknown[]) => Promise<unknown>
  let calls = 0
  Object.defineProperty(sm, method, {
    configurable: true,
    value: (...a: unknown[]) => {
      hook(++calls)
      return original.apply(sm, a)
    },
  })
  return { calls: () => calls, restore: () => delete (sm as Record<string, unknown>)[method] }
}

test('a state manager that throws on a read: a StateReadError at its transaction with the error as cause, not an invalid block; nothing written', async (t) => {
  const wl = await W.erc20Transfers(24, 'distinct')
  const ref = await referenceRun(wl.common, wl.prestate, wl.block)
  const e = await executors
  const x2 = e.optimistic[THREADS.indexOf(2)]
  const cases: Case[] = [...strategies(e), ['dependency x2', x2, { kind: 'dependency' }], ['sharded x2', x2, { kind: 'sharded' }]]
  for (const [label, executor, strategy] of cases) {
    for (const [method, nth] of [['getStorage', 4], ['getAccount', 6]] as const) {
      const sm = await merkleFromPrestate(wl.common, wl.prestate)
      const before = bytesToHex(await sm.getStateRoot())
      const disk = new Error('disk gone')
      const h = hooked(sm, method, (call) => {
        if (call === nth) throw disk
      })
      const err = await t.throwsAsync(executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true, strategy }))
      const what = `${label}, ${method} call ${nth}`
      t.true(err instanceof StateReadError, `${what}: ${String(err)}`)
      t.false(err instanceof InvalidBlockError, what)
      t.is((err as StateReadError).code, 'STATE_READ_FAILED', what)
      t.is(err?.cause, disk, `${what}: the state manager's own error is the cause`)
      t.is(typeof (err as StateReadError).txIndex, 'number', what)
      // MerkleStateManager's getStorage reads the account through getAccount: either call names it.
      const calls = method === 'getStorage' ? 'getStorage' : '(getAccount|getStorage)'
      t.regex(err!.message, new RegExp(`^transaction \\d+: the state manager's ${calls}\\(0x[0-9a-f]{40}`), what)
      h.restore()
      t.is(bytesToHex(await sm.getStateRoot()), before, `${what}: nothing written`)
      // The state manager works again: the same block runs and commits.
      const r = await executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true, strategy })
      t.deepEqual(differences(ref.result, r), [], what)
      t.is(bytesToHex(await sm.getStateRoot()), bytesToHex(ref.stateRoot), what)
    }
  }
})

test('a state manager that returns code not matching the account\'s code hash: a StateReadError on every path, nothing written', async (t) => {
  const wl = await W.erc20Transfers(12, 'distinct')
  for (const [label, options] of [
    ['sequential', { threads: 1, strategy: { kind: 'sequential' } }],
    ['optimistic x2', { threads: 2, strategy: { kind: 'optimistic' } }],
  ] as const) {
    // Fresh executors: code is cached by its hash across blocks, so a warm one may never ask.
    const executor = await ParallelExecutor.create(options)
    try {
      const sm = await merkleFromPrestate(wl.common, wl.prestate)
      const before = bytesToHex(await sm.getStateRoot())
      const getCode = sm.getCode.bind(sm)
      sm.getCode = async (a) => {
        const code = await getCode(a)
        return code.length === 0 ? code : Uint8Array.from([...code.subarray(0, -1), code[code.length - 1] ^ 1])
      }
      const err = await t.throwsAsync(executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true }))
      t.true(err instanceof StateReadError, `${label}: ${String(err)}`)
      t.regex(err!.message, /getCode\(0x[0-9a-f]{40}\) returned code whose hash is 0x[0-9a-f]{64}, not the account's code hash/, label)
      t.is(typeof (err as StateReadError).txIndex, 'number', label)
      t.is(bytesToHex(await sm.getStateRoot()), before, `${label}: nothing written`)
    } finally {
      await executor.close()
    }
  }
})

test('BLOCKHASH reads the caller\'s blockchain under every strategy as in ethereumjs runBlock; a blockchain that throws is a StateReadError', async (t) => {
  const w = new W.World(cancun)
  const probe = w.place(new Address(hexToBytes('0x00000000000000000000000000000000000b10c4')), W.BLOCKHASH_PROBE)
  const number = 20_000_000n
  // Recent blocks, the current one, one too old, and some senders asking for the same block.
  const asked = [1n, 2n, 3n, 100n, 256n, 257n, 0n, 1n, 3n, 42n].map((back) => number - back)
  const txs = asked.map((n, i) => {
    w.fund(i)
    return w.tx(i, { to: probe, data: setLengthLeft(bigIntToBytes(n), 32), gasLimit: 100_000n })
  })
  const block = w.block(txs, { number })
  const ref = await referenceRun(cancun, w.prestate, block, W.MADE_UP_CHAIN)
  const e = await executors
  for (const [label, executor, strategy] of allStrategies(e)) {
    const r = await executor.runBlock({ block, prestate: w.prestate, blockchain: W.MADE_UP_CHAIN, skipBlockValidation: true, generate: true, strategy })
    t.deepEqual(differences(ref.result, r), [], label)
    t.is(bytesToHex(await rootAfterDiff(cancun, w.prestate, r.stateDiff)), bytesToHex(ref.stateRoot), label)
    const stored = r.stateDiff.storage.get(probe.toString() as `0x${string}`)?.slots
    t.is(stored?.get(`0x${(number - 42n).toString(16).padStart(64, '0')}` as `0x${string}`), bytesToBigInt(W.madeUpBlockHash(number - 42n)), `${label}: a hash from the blockchain, not a zero hash`)
  }
  // The blockchain fails on one block number: the transaction asking for it gets a StateReadError.
  const down = new Error('blockchain database closed')
  const failing = { getBlock: async (n: bigint | number) => (BigInt(n) === number - 100n ? Promise.reject(down) : { hash: () => W.madeUpBlockHash(n) }) }
  for (const [label, executor, strategy] of strategies(e)) {
    const err = await t.throwsAsync(executor.runBlock({ block, prestate: w.prestate, blockchain: failing, skipBlockValidation: true, generate: true, strategy }))
    t.true(err instanceof StateReadError, `${label}: ${String(err)}`)
    t.is((err as StateReadError).txIndex, 3, label)
    t.is(err?.cause, down, label)
    t.regex(err!.message, new RegExp(`the blockchain's getBlock\\(${number - 100n}\\) threw: blockchain database closed`), label)
  }
})

// Skipped under the pure-JS fallback, which has no workers.
;(native ? test : test.skip)('a worker that dies during a block: WorkerError, nothing written, and the next block runs on a new worker', async (t) => {
  const wl = await W.erc20Transfers(200, 'distinct')
  const ref = await referenceRun(wl.common, wl.prestate, wl.block)
  const executor = await ParallelExecutor.create({ threads: 2, strategy: { kind: 'optimistic' } })
  try {
    const sm = await merkleFromPrestate(wl.common, wl.prestate)
    const before = bytesToHex(await sm.getStateRoot())
    // A worker crash, as an out-of-memory kill would end it: terminated mid-block (the pool is internal).
    const pool = (await (executor as unknown as { workers(): Promise<{ slots: { worker: { terminate(): Promise<number> } }[] }> }).workers())
    const h = hooked(sm, 'getStorage', (call) => {
      if (call === 10) void pool.slots[1].worker.terminate()
    })
    await t.throwsAsync(executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true }), { instanceOf: WorkerError, message: /worker exited/ })
    h.restore()
    t.is(bytesToHex(await sm.getStateRoot()), before, 'nothing written')
    const r = await executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true })
    t.deepEqual(differences(ref.result, r), [])
    t.is(bytesToHex(await sm.getStateRoot()), bytesToHex(ref.stateRoot))
    t.is(r.metrics.strategy, 'optimistic')
    t.is(r.metrics.threads, 2, 'both workers ran the next block')
  } finally {
    await executor.close()
  }
})

/**
 * Runs `block` under each strategy kind on `executor` and checks every result against
 * ethereumjs's (`ref`): the result fields and the state root. `also` adds a test's own checks.
 */
async function everyKindEqualsReference(
  t: import('ava').ExecutionContext,
  executor: ParallelExecutor,
  common: Common,
  prestate: Prestate,
  block: Block,
  ref: Reference,
  also: (kind: StrategyKind, r: ParallelRunBlockResult) => void,
): Promise<void> {
  for (const kind of ['sequential', 'optimistic', 'dependency', 'sharded', 'adaptive'] as const) {
    const r = await executor.runBlock({ block, prestate, skipBlockValidation: true, generate: true, strategy: { kind } })
    t.deepEqual(differences(ref.result, r), [], kind)
    t.is(bytesToHex(await rootAfterDiff(common, prestate, r.stateDiff)), bytesToHex(ref.stateRoot), kind)
    also(kind, r)
  }
}

test('a custom chain (chain id 1337, as test chains run): CHAINID and EIP-155 signatures under every strategy equal ethereumjs runBlock; another chain\'s block is refused', async (t) => {
  const common = createCustomCommon({ chainId: 1337, name: 'testchain' }, Mainnet, { hardfork: Hardfork.Cancun })
  const w = new W.World(common)
  const probe = w.place(new Address(hexToBytes('0x00000000000000000000000000000000000c4a1d')), '0x4660005500') // CHAINID PUSH1 0 SSTORE STOP
  const txs = Array.from({ length: 24 }, (_, i) => {
    w.fund(i)
    return w.tx(i, { to: i % 3 === 0 ? probe : new Address(new Uint8Array(20).fill(i + 1)), value: 5n, gasLimit: 60_000n, type: ([0, 1, 2] as const)[i % 3] })
  })
  const block = w.block(txs)
  t.is(txs[0].common.chainId(), 1337n)
  const ref = await referenceRun(common, w.prestate, block)
  const executor = await ParallelExecutor.create({ common, threads: 2, strategy: { kind: 'optimistic' } })
  try {
    await everyKindEqualsReference(t, executor, common, w.prestate, block, ref, (kind, r) => {
      t.is(r.stateDiff.storage.get(probe.toString() as `0x${string}`)?.slots.get(`0x${'00'.repeat(32)}`), 1337n, `${kind}: CHAINID`)
      if (native && kind !== 'sequential' && kind !== 'adaptive') t.is(r.metrics.strategy, kind, `${kind} ran in parallel`)
    })
    // A mainnet block given to this executor, and this chain's block given to a mainnet one.
    const mainnet = await W.ethTransfers(4)
    await t.throwsAsync(executor.runBlock({ block: mainnet.block, prestate: mainnet.prestate, skipBlockValidation: true, generate: true }), { instanceOf: InvalidInputError, message: /chain 1, the executor for chain 1337/ })
    const e = await executors
    await t.throwsAsync(e.sequential.runBlock({ block, prestate: w.prestate, skipBlockValidation: true, generate: true }), { instanceOf: InvalidInputError, message: /chain 1337, the executor for chain 1\b/ })
  } finally {
    await executor.close()
  }
})

test('an executor Common built with its own params: every strategy equals ethereumjs runBlock, which replaces them with its defaults', async (t) => {
  // Gas parameters a caller might set for a test chain. ethereumjs's createVM (through
  // createEVM) and every transaction constructor merge their own defaults over a Common's
  // params, so same-named values never reach execution there; the executor must agree.
  const custom = () =>
    new Common({ chain: Mainnet, hardfork: Hardfork.Cancun, params: { 1: { txGas: 30_000 }, 2929: { coldsloadGas: 5_000, warmstoragereadGas: 500 } } as never })
  const common = custom()
  t.is(common.param('coldsloadGas'), 5_000n, 'the Common holds its own value before any library sees it')
  const w = new W.World(common)
  // SLOAD slot 0, add 1, SSTORE: a cold read, then a warm write, of one slot per call.
  const probe = w.place(new Address(hexToBytes('0x000000000000000000000000000000000000c01d')), '0x600054600101600055')
  const txs = Array.from({ length: 24 }, (_, i) => {
    w.fund(i)
    return w.tx(i, { to: i % 2 === 0 ? probe : new Address(new Uint8Array(20).fill(i + 1)), value: 5n, gasLimit: 80_000n, type: ([0, 2] as const)[i % 2] })
  })
  const block = w.block(txs)
  const ref = await referenceRun(custom(), w.prestate, block)
  const plain = await referenceRun(makeCommon(Hardfork.Cancun), w.prestate, block)
  t.is(ref.result.gasUsed, plain.result.gasUsed, 'ethereumjs ran the block with its default gas parameters')
  const executor = await ParallelExecutor.create({ common, threads: 2, strategy: { kind: 'optimistic' } })
  try {
    await everyKindEqualsReference(t, executor, common, w.prestate, block, ref, (kind, r) => {
      if (native && (kind === 'optimistic' || kind === 'dependency')) t.is(r.metrics.strategy, kind, `${kind} ran in parallel`)
    })
  } finally {
    await executor.close()
  }
  t.is(common.param('coldsloadGas'), 5_000n, 'the caller\'s Common keeps its own value')
})

// Needs the workers (their requests to this thread); skipped without the native addon (logged above).
;(native ? test : test.skip)('code a block fetched is not fetched again by a later block\'s workers, even another executor\'s (the process-wide code cache)', async (t) => {
  const w = new W.World(cancun)
  // Code no other test of this process has run: a random constant, then an increment of slot 0.
  const unique = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('hex')
  const target = w.place(new Address(crypto.getRandomValues(new Uint8Array(20))), `0x7f${unique}50600054600101600055` + '00')
  for (let i = 0; i < 9; i++) w.fund(i)
  const first = w.block([w.tx(0, { to: target, gasLimit: 60_000n })])
  const rest = w.block(Array.from({ length: 8 }, (_, i) => w.tx(i + 1, { to: target, gasLimit: 60_000n })))
  const run = async (block: Block) => {
    const e = await ParallelExecutor.create({ threads: 2, strategy: { kind: 'optimistic' } })
    try {
      return await e.runBlock({ block, prestate: w.prestate, skipBlockValidation: true, generate: true })
    } finally {
      await e.close()
    }
  }
  const a = await run(first)
  t.is(a.metrics.strategy, 'optimistic')
  // Its one transaction's worker asked for the code: the prestate's code reaches the engine on demand.
  t.true(a.metrics.workers!.requests >= 1, `first block: ${a.metrics.workers!.requests} requests`)
  // Fresh workers, whose own caches are empty: the engine's cache answers (without it each
  // worker that runs one of these transactions asks).
  const b = await run(rest)
  t.is(b.metrics.strategy, 'optimistic')
  t.is(b.metrics.workers!.requests, 0)
  t.deepEqual(b.results.map((r) => r.execResult.exceptionError?.error), Array(8).fill(undefined))
  // Each call incremented the slot from the prestate (the second block does not follow the first).
  t.is(b.stateDiff.storage.get(target.toString())?.slots.get(bytesToHex(setLengthLeft(new Uint8Array([0]), 32)))?.toString(), '8')
})

test('a script that never calls close() still exits once its blocks are done (idle workers do not hold the process)', async (t) => {
  const script = fileURLToPath(new URL('./fixtures/no-close.ts', import.meta.url))
  const child = await new Promise<{ error: ExecFileException | null; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, ['--import', 'tsx', script], { timeout: 90_000 }, (error, stdout, stderr) => resolve({ error, stdout, stderr })),
  )
  t.is(child.error, null, `the process did not exit by itself with status 0 within 90 s: ${String(child.error)}\n${child.stderr}`)
  t.regex(child.stdout, native ? /ran 40 transactions: optimistic/ : /ran 40 transactions: sequential/)
})

test('close() during a block: it and the blocks queued behind it reject with ExecutorClosedError, and nothing is written', async (t) => {
  // Distinct holders: the full block reads about 400 storage slots.
  const wl = await W.erc20Transfers(200, 'distinct')
  for (const [label, options] of [
    ['sequential', { threads: 1, strategy: { kind: 'sequential' } }],
    ['optimistic x2', { threads: 2, strategy: { kind: 'optimistic' } }],
    ['dependency x2', { threads: 2, strategy: { kind: 'dependency' } }],
  ] as const) {
    const executor = await ParallelExecutor.create(options)
    const sm = await merkleFromPrestate(wl.common, wl.prestate)
    const before = bytesToHex(await sm.getStateRoot())
    // Closed from inside the block, while its transactions read storage: the 10th read.
    let closing: Promise<void> | undefined
    let readsAfterClose = 0
    const h = hooked(sm, 'getStorage', (call) => {
      if (closing !== undefined) readsAfterClose++
      if (call === 10) closing = executor.close()
    })
    const first = executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true })
    const queued = executor.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true })
    await t.throwsAsync(first, { instanceOf: ExecutorClosedError }, label)
    await t.throwsAsync(queued, { instanceOf: ExecutorClosedError }, `${label}: the block queued behind`)
    t.not(closing, undefined, label)
    await closing
    t.true(h.calls() < 60, `${label}: the block stopped early (${h.calls()} storage reads, ${readsAfterClose} after close)`)
    h.restore()
    t.is(bytesToHex(await sm.getStateRoot()), before, `${label}: nothing written`)
    await t.throwsAsync(executor.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true }), { instanceOf: ExecutorClosedError }, label)
  }
})

test('bad input: a malformed prestate, or missing/both state sources, is an InvalidInputError', async (t) => {
  const wl = await W.ethTransfers(2)
  const e = await executors
  const cases: [string, Parameters<ParallelExecutor['runBlock']>[0]][] = [
    ['balance not hex', { block: wl.block, prestate: { [addressOf(privateKey(0)).toString()]: { balance: 'lots', nonce: 0 } }, generate: true, skipBlockValidation: true }],
    ['short address', { block: wl.block, prestate: { '0x1234': { balance: '0x1', nonce: 0 } }, generate: true, skipBlockValidation: true }],
    ['missing bytecode', { block: wl.block, prestate: { [addressOf(privateKey(0)).toString()]: { balance: '0x1', nonce: 0, code_hash: '0x' + '11'.repeat(32) } }, generate: true, skipBlockValidation: true }],
    ['no state', { block: wl.block, generate: true, skipBlockValidation: true }],
    ['block is not a Block', { block: {} as never, prestate: wl.prestate }],
  ]
  for (const [label, opts] of cases) {
    for (const [, x] of strategies(e)) await t.throwsAsync(x.runBlock(opts), { instanceOf: InvalidInputError }, label)
  }
  await t.throwsAsync(ParallelExecutor.create({ threads: 0 }), { instanceOf: InvalidInputError })
  await t.throwsAsync(e.sequential.runBlock({ block: wl.block, prestate: wl.prestate, strategy: { kind: 'eager' } as unknown as Strategy }), { instanceOf: InvalidInputError })
})

test('bad input: ethereumjs runBlock options this executor does not offer (root, reportPreimages) are refused, and change no state', async (t) => {
  const wl = await W.ethTransfers(6)
  const e = await executors
  for (const [label, x] of strategies(e)) {
    const sm = await merkleFromPrestate(wl.common, wl.prestate)
    const before = bytesToHex(await sm.getStateRoot())
    for (const extra of [{ root: await sm.getStateRoot() }, { reportPreimages: true }]) {
      const opts = { block: wl.block, stateManager: sm, generate: true, skipBlockValidation: true, ...extra }
      const err = await t.throwsAsync(x.runBlock(opts), { instanceOf: InvalidInputError }, label)
      t.regex(err?.message ?? '', new RegExp(Object.keys(extra)[0]), label)
    }
    t.is(bytesToHex(await sm.getStateRoot()), before, label)
  }
  // Asking for no preimages is what the executor does anyway.
  await t.notThrowsAsync(e.sequential.runBlock({ block: wl.block, prestate: wl.prestate, generate: true, skipBlockValidation: true, reportPreimages: false } as Parameters<ParallelExecutor['runBlock']>[0]))
})

test('validateBlockSize: a block over the EIP-7934 size limit is invalid when asked to check, as in ethereumjs runBlock', async (t) => {
  // No mainnet fork of ethereumjs 10 activates EIP-7934 yet, nor sets its limit: both by hand.
  const limited = new Common({ chain: Mainnet, hardfork: Hardfork.Osaka, eips: [7934], params: { 7934: { maxRlpBlockSize: 600 } } })
  const wl = await W.ethTransfers(8, limited)
  const block = createBlock(
    { header: { ...wl.block.header.toJSON(), transactionsTrie: await genTransactionsTrieRoot(wl.block.transactions) }, transactions: wl.block.transactions, withdrawals: [] },
    { common: wl.common },
  )
  t.true(block.serialize().length > 600)
  for (const strategy of [{ kind: 'sequential' }, { kind: 'optimistic' }] as Strategy[]) {
    const x = await ParallelExecutor.create({ common: wl.common, threads: 2, strategy })
    try {
      const opts = { block, prestate: wl.prestate, generate: true, skipHeaderValidation: true }
      const err = await t.throwsAsync(x.runBlock({ ...opts, validateBlockSize: true }), { instanceOf: InvalidBlockError }, strategy.kind)
      t.regex(err?.message ?? '', /exceeds maximum RLP block size/)
      // Not asked: the same block runs (its size is not checked by default, as in ethereumjs).
      const r = await x.runBlock(opts)
      t.is(r.gasUsed, 8n * 21_000n)
    } finally {
      await x.close()
    }
  }
})

test('a header that does not match is rejected (generate: false) and the caller state is unchanged', async (t) => {
  const wl = await W.erc20Transfers(12, 'overlapping')
  const e = await executors
  for (const [label, x] of strategies(e)) {
    const sm = await merkleFromPrestate(wl.common, wl.prestate)
    const before = bytesToHex(await sm.getStateRoot())
    const err = await t.throwsAsync(x.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true }), { instanceOf: InvalidBlockError }, label)
    t.regex(err?.message ?? '', /invalid receiptTrie/)
    t.is(bytesToHex(await sm.getStateRoot()), before, label)
  }
})

test('the exported ecrecover is a drop-in customCrypto.ecrecover', async (t) => {
  const { ecrecover: reference } = await import('@ethereumjs/util')
  const { ecrecover } = await import('../ts/index.ts')
  const wl = await W.txTypes(10, Hardfork.Cancun)
  for (const tx of wl.block.transactions) {
    const args = [tx.getHashedMessageToSign(), tx.v!, bigIntBytes(tx.r!), bigIntBytes(tx.s!), tx.type === 0 ? tx.common.chainId() : undefined] as const
    if (!native) {
      t.throws(() => ecrecover(...args))
      continue
    }
    t.deepEqual(ecrecover(...args), reference(...args))
  }
  if (native) t.throws(() => ecrecover(new Uint8Array(32), 27n, new Uint8Array(32), new Uint8Array(32)))
})

function bigIntBytes(v: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(v.toString(16).padStart(64, '0'), 'hex'))
}

test('the executor never changes the caller\'s Common', async (t) => {
  const common = makeCommon(Hardfork.Cancun)
  const cryptoBefore = { ...common.customCrypto }
  const hardforkBefore = common.hardfork()
  const wl = await W.ethTransfers(4, common)
  await using x = await ParallelExecutor.create({ common, threads: 2 })
  await x.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, setHardfork: true })
  t.deepEqual(Object.keys(common.customCrypto).sort(), Object.keys(cryptoBefore).sort())
  t.is(common.customCrypto.ecrecover, cryptoBefore.ecrecover)
  t.is(common.hardfork(), hardforkBefore)
})
