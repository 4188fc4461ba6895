/**
 * Blocks whose rules the parallel path does not model run through ethereumjs's own `runBlock`
 * over the executor's in-memory state (README, Limitations). Here: EIP-7928 blocks (block
 * access lists), against ethereumjs `runBlock` on a MerkleStateManager, including the
 * `blockAccessList` option that ethereumjs checks.
 */
import type { Block } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { Address, BlockLevelAccessList, bytesToHex, createBlockLevelAccessListFromJSON } from '@ethereumjs/util'
import { createVM, runBlock } from '@ethereumjs/vm'
import test from 'ava'

import { InvalidBlockError, InvalidInputError, ParallelExecutor, type Prestate, type Strategy } from '../ts/index.ts'
import { makeBlock, makeCommon, merkleFromPrestate, referenceRun, rootAfterDiff, type Reference } from './support/evm.ts'
import * as W from './support/workloads.ts'

const bal7928 = () => new Common({ chain: Mainnet, hardfork: Hardfork.Prague, eips: [7928] })

/** The workload's block with every header field ethereumjs checks set from the reference run. */
function checkedBlock(common: Common, block: Block, ref: Reference, accessListHash: Uint8Array): Block {
  const r = ref.result
  return makeBlock(common, [...block.transactions], {
    stateRoot: ref.stateRoot,
    receiptTrie: r.receiptsRoot,
    logsBloom: r.logsBloom,
    gasUsed: r.gasUsed,
    requestsHash: r.requestsHash,
    blockAccessListHash: accessListHash,
  })
}

/** ethereumjs `runBlock` checking (not generating) the block, with the caller's access list. */
async function ethereumjsChecks(common: Common, prestate: Prestate, block: Block, blockAccessList: BlockLevelAccessList): Promise<unknown> {
  const vm = await createVM({ common: common.copy(), stateManager: await merkleFromPrestate(common, prestate) })
  return runBlock(vm, { block, skipBlockValidation: true, skipHeaderValidation: true, blockAccessList }).then(
    () => undefined,
    (e: Error) => e,
  )
}

test('an EIP-7928 block runs through ethereumjs runBlock under every strategy and equals it, access list included', async (t) => {
  const wl = await W.erc20Transfers(12, 'overlapping', bal7928())
  const ref = await referenceRun(wl.common, wl.prestate, wl.block)
  const refBal = ref.result.blockLevelAccessList
  if (refBal === undefined) return t.fail('ethereumjs produced no access list: EIP-7928 is not active')
  t.true(refBal.toJSON().length > 3, 'the access list names the token, its callers and the system contracts')
  const strategies: Strategy[] = [{ kind: 'adaptive' }, { kind: 'optimistic' }, { kind: 'dependency' }, { kind: 'sharded' }, { kind: 'sequential' }]
  const ex = await ParallelExecutor.create({ common: wl.common, threads: 2 })
  try {
    for (const strategy of strategies) {
      const r = await ex.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, strategy })
      const what = strategy.kind
      t.is(r.gasUsed, ref.result.gasUsed, what)
      t.deepEqual(r.receiptsRoot, ref.result.receiptsRoot, what)
      t.deepEqual(r.logsBloom, ref.result.logsBloom, what)
      t.deepEqual(await rootAfterDiff(wl.common, wl.prestate, r.stateDiff), ref.stateRoot, `${what}: the state after the block`)
      t.is(r.blockLevelAccessList === undefined ? undefined : bytesToHex(r.blockLevelAccessList.serialize()), bytesToHex(refBal.serialize()), `${what}: the access list`)
      t.is(r.metrics.strategy, 'sequential', what)
      t.regex(r.metrics.decision?.reason ?? '', /needs ethereumjs runBlock/, what)
      t.is(r.metrics.decision?.requested, what)
    }
  } finally {
    await ex.close()
  }
})

test('blockAccessList: accepted in its three forms when the header commits to it and execution produces it; otherwise an InvalidBlockError, as in ethereumjs, with no state changed', async (t) => {
  const common = bal7928()
  const wl = await W.erc20Transfers(8, 'overlapping', common)
  const ref = await referenceRun(common, wl.prestate, wl.block)
  const refBal = ref.result.blockLevelAccessList!
  const block = checkedBlock(common, wl.block, ref, refBal.hash())
  const ex = await ParallelExecutor.create({ common, threads: 2 })
  try {
    // The list execution produces, as an object, RLP and JSON; and no list at all.
    for (const [form, blockAccessList] of [
      ['object', refBal],
      ['RLP', refBal.serialize()],
      ['JSON', refBal.toJSON()],
      ['none', undefined],
    ] as const) {
      const r = await ex.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, blockAccessList })
      t.deepEqual(r.receiptsRoot, ref.result.receiptsRoot, form)
    }
    t.is(await ethereumjsChecks(common, wl.prestate, block, refBal), undefined, 'ethereumjs accepts the same block and list')

    // A list without the last account: the header does not commit to it.
    const json = refBal.toJSON()
    const shorter = createBlockLevelAccessListFromJSON(json.slice(0, -1))
    // ... and a header that commits to the shorter list, which execution does not produce.
    const lying = checkedBlock(common, wl.block, ref, shorter.hash())
    for (const [what, b, message] of [
      ['a list the header does not commit to', block, /invalid block access list hash/],
      ['a list execution does not produce', lying, /^invalid block access list$/],
    ] as const) {
      const sm = await merkleFromPrestate(common, wl.prestate)
      const before = await sm.getStateRoot()
      const e = await t.throwsAsync(ex.runBlock({ block: b, stateManager: sm, skipBlockValidation: true, blockAccessList: shorter }), { instanceOf: InvalidBlockError }, what)
      t.regex(e?.message ?? '', message, what)
      t.deepEqual(await sm.getStateRoot(), before, `${what}: the caller's state is unchanged`)
      const theirs = await ethereumjsChecks(common, wl.prestate, b, shorter)
      t.true(theirs instanceof Error && message.test(theirs.message.replace(/ \(.*\)$/, '')), `${what}: ethereumjs refuses it too (${String(theirs)})`)
    }
    // Generating the header: nothing to check the list against, as in ethereumjs.
    const r = await ex.runBlock({ block: wl.block, prestate: wl.prestate, skipBlockValidation: true, generate: true, blockAccessList: shorter })
    t.deepEqual(r.receiptsRoot, ref.result.receiptsRoot)
    await t.throwsAsync(ex.runBlock({ block, prestate: wl.prestate, skipBlockValidation: true, blockAccessList: 7 as never }), { instanceOf: InvalidInputError, message: /blockAccessList must be/ })
  } finally {
    await ex.close()
  }
})

test('the DAO fork block runs through ethereumjs runBlock and equals it (DAO balances moved, absent DAO accounts created); the next block runs in parallel', async (t) => {
  const common = makeCommon(Hardfork.Dao)
  const w = new W.World(common)
  for (let i = 0; i < 16; i++) w.fund(i)
  // Two of the DAO's accounts hold ether; the others and the refund contract do not exist.
  w.prestate['0xd4fe7bc31cedb7bfb8a345f31e668033056b2728'] = { balance: '0x1000000', nonce: 0 }
  w.prestate['0xb3fb0e5aba0e20e5c49d252dfd30e102b171a425'] = { balance: '0x2a', nonce: 3 }
  const to = (i: number) => new Address(Uint8Array.from({ length: 20 }, (_, j) => (j === 19 ? i + 1 : 0x77)))
  const ex = await ParallelExecutor.create({ common, threads: 2, strategy: { kind: 'optimistic' } })
  try {
    for (const number of [1_920_000n, 1_920_001n]) {
      // Each block from its own senders: both run on the same prestate.
      const from = number === 1_920_000n ? 0 : 8
      const txs = Array.from({ length: 8 }, (_, i) => w.tx(from + i, { type: 0, to: to(i), value: 1000n + BigInt(i), gasLimit: 21_000n }))
      // Blocks 1,920,000-1,920,009 must carry the fork's extra data.
      const block = makeBlock(common, txs, { number, difficulty: 1n, extraData: new TextEncoder().encode('dao-hard-fork') })
      const ref = await referenceRun(common, w.prestate, block)
      const r = await ex.runBlock({ block, prestate: w.prestate, skipBlockValidation: true, generate: true })
      const fork = number === 1_920_000n
      t.deepEqual(await rootAfterDiff(common, w.prestate, r.stateDiff), ref.stateRoot, `block ${number}: the state after it`)
      t.is(r.gasUsed, ref.result.gasUsed)
      const refund = r.stateDiff.accounts.get('0xbf4ed7b27f1d666546e30d74d50d173d20bca754')
      if (fork) {
        t.is(refund?.balance, 0x1000000n + 0x2an, 'the refund contract holds the DAO balances')
        t.regex(r.metrics.decision?.reason ?? '', /needs ethereumjs runBlock/)
      } else {
        t.is(refund, undefined, 'no DAO transfer after the fork block')
        t.is(r.metrics.strategy, 'optimistic')
      }
    }
  } finally {
    await ex.close()
  }
})

test('on the ethereumjs path, an invalid transaction is an InvalidBlockError at its index, and changes no state', async (t) => {
  // EIP-7928 blocks (ethereumjs runs them): one whose transaction 3 is sender 2's with a nonce
  // gap (its nonce 1 left out), and one whose gas limit runs out at transaction 4 (a check
  // ethereumjs makes before runTx).
  const common = bal7928()
  const w = new W.World(common)
  for (let i = 0; i < 6; i++) w.fund(i)
  const to = new Address(new Uint8Array(20).fill(0x44))
  const txs = Array.from({ length: 6 }, (_, i) => w.tx(i, { to, value: 1n, gasLimit: 21_000n }))
  const bad = [...txs]
  bad[3] = w.tx(2, { to, value: 1n, gasLimit: 21_000n })
  bad[3] = w.tx(2, { to, value: 1n, gasLimit: 21_000n }) // nonce 2 with nonce 1 missing
  const ex = await ParallelExecutor.create({ common, threads: 2 })
  try {
    for (const [what, block, txIndex, message] of [
      ['nonce gap', makeBlock(common, bad), 3, /nonce/],
      ['block gas limit', makeBlock(common, txs, { gasLimit: 21_000n * 4n }), 4, /higher gas limit than the block/],
    ] as const) {
      const ref = await t.throwsAsync(referenceRun(common, w.prestate, block))
      t.regex(ref!.message, message, `${what}: ethereumjs rejects it`)
      const sm = await merkleFromPrestate(common, w.prestate)
      const before = bytesToHex(await sm.getStateRoot())
      const e = await t.throwsAsync(ex.runBlock({ block, stateManager: sm, skipBlockValidation: true, generate: true }), { instanceOf: InvalidBlockError }, what)
      t.is((e as InvalidBlockError).txIndex, txIndex, what)
      t.regex(e!.message, new RegExp(`^transaction ${txIndex}: `), what)
      t.regex(e!.message, message, what)
      t.is(bytesToHex(await sm.getStateRoot()), before, `${what}: nothing written`)
    }
    // The same executor runs the valid block, through ethereumjs, and its transactions count
    // from zero again.
    const ok = await ex.runBlock({ block: makeBlock(common, txs), prestate: w.prestate, skipBlockValidation: true, generate: true })
    t.is(ok.receipts.length, 6)
    t.regex(ok.metrics.decision?.reason ?? '', /needs ethereumjs runBlock/)
    const again = await t.throwsAsync(ex.runBlock({ block: makeBlock(common, bad), prestate: w.prestate, skipBlockValidation: true, generate: true }), { instanceOf: InvalidBlockError })
    t.is((again as InvalidBlockError).txIndex, 3)
  } finally {
    await ex.close()
  }
})

test('on the ethereumjs path, onProgress reports validate, execute (every 256 transactions), assemble and commit; a callback that throws cancels the block with its error and writes nothing', async (t) => {
  const common = bal7928()
  const wl = await W.ethTransfers(300, common)
  const ex = await ParallelExecutor.create({ common, threads: 2 })
  try {
    const events: { phase: string; done?: number; total?: number }[] = []
    const sm = await merkleFromPrestate(common, wl.prestate)
    const r = await ex.runBlock({ block: wl.block, stateManager: sm, skipBlockValidation: true, generate: true, onProgress: (e) => events.push({ phase: e.phase, done: e.done, total: e.total }) })
    t.regex(r.metrics.decision?.reason ?? '', /needs ethereumjs runBlock/)
    t.deepEqual(events, [{ phase: 'validate' }, { phase: 'execute', done: 256, total: 300 }, { phase: 'execute' }, { phase: 'assemble' }, { phase: 'commit' }].map((e) => ({ done: undefined, total: undefined, ...e })))
    t.true(r.metrics.timings.execute > 0 && r.metrics.timings.total >= r.metrics.timings.execute)
    // A throw at the 256th transaction, and one at the commit event: the callback's own error,
    // and the state manager as it was.
    for (const at of ['execute', 'commit']) {
      const fresh = await merkleFromPrestate(common, wl.prestate)
      const before = bytesToHex(await fresh.getStateRoot())
      const stop = new Error(`stop at ${at}`)
      const e = await t.throwsAsync(
        ex.runBlock({
          block: wl.block,
          stateManager: fresh,
          skipBlockValidation: true,
          generate: true,
          onProgress: (p) => {
            if (p.phase === at && (at !== 'execute' || p.done !== undefined)) throw stop
          },
        }),
      )
      t.is(e, stop, at)
      t.is(bytesToHex(await fresh.getStateRoot()), before, `${at}: nothing written`)
    }
  } finally {
    await ex.close()
  }
})
