/**
 * Blocks whose rules the parallel path does not model run through ethereumjs's own `runBlock`
 * over the executor's in-memory state (README, Limitations). Here: EIP-7928 blocks (block
 * access lists), against ethereumjs `runBlock` on a MerkleStateManager, including the
 * `blockAccessList` option that ethereumjs checks.
 */
import type { Block } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { BlockLevelAccessList, bytesToHex, createBlockLevelAccessListFromJSON } from '@ethereumjs/util'
import { createVM, runBlock } from '@ethereumjs/vm'
import test from 'ava'

import { InvalidBlockError, InvalidInputError, ParallelExecutor, type Prestate, type Strategy } from '../ts/index.ts'
import { makeBlock, merkleFromPrestate, referenceRun, rootAfterDiff, type Reference } from './support/evm.ts'
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
