/**
 * Blockchain tests (ethereum/tests Cancun ValidBlocks, EEST Prague): every block through the
 * executor over a MerkleStateManager with the fixture's `pre`, with the header checked
 * (`generate: false`: state root, receipts root, bloom, gas used, requests hash). Blocks with
 * `expectException` must be rejected — at decoding or by the executor with a typed error —
 * and leave the state unchanged. Then `lastblockhash` and `postState` as the fixture says.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { createBlockFromRLP, createBlockHeader } from '@ethereumjs/block'
import { Address, bytesToHex, hexToBytes, setLengthLeft } from '@ethereumjs/util'

import { ParallelEvmError, type ParallelExecutor } from '../../ts/index.ts'
import { FIXTURES, makeCommon, merkleFrom, newSuite, record, walkJson, type FixtureAccount, type SuiteResult } from './fixtures.ts'

interface BlockchainTest {
  network: string
  pre: Record<string, FixtureAccount>
  genesisBlockHeader: Record<string, string>
  blocks: { rlp: string; expectException?: string }[]
  postState?: Record<string, FixtureAccount>
  lastblockhash: string
}

export function blockchainTestFiles(): string[] {
  return [...walkJson(join(FIXTURES, 'ethereum-tests', 'BlockchainTests')), ...walkJson(join(FIXTURES, 'eest', 'blockchain_tests'))]
}

/** Blocks seen by the executor, over all tests and thread counts. */
export const blockCounts = { executed: 0, rejected: 0, rejectedAtDecoding: 0, transactions: 0 }

async function runOne(t: BlockchainTest, executor: ParallelExecutor): Promise<string | undefined> {
  const common = makeCommon(t.network)
  const sm = await merkleFrom(common, t.pre)
  const genesis = createBlockHeader(t.genesisBlockHeader, { common, skipConsensusFormatValidation: true })
  if (bytesToHex(await sm.getStateRoot()) !== bytesToHex(genesis.stateRoot)) return 'genesis state root differs from the fixture'
  const hashes = new Map<bigint, Uint8Array>([[genesis.number, genesis.hash()]])
  const blockchain = {
    async getBlock(n: bigint | number) {
      const h = hashes.get(BigInt(n))
      if (h === undefined) throw new Error(`unknown block ${n}`)
      return { hash: () => h }
    },
  }
  let last = genesis.hash()
  for (let i = 0; i < t.blocks.length; i++) {
    const { rlp, expectException } = t.blocks[i]
    let block
    try {
      block = createBlockFromRLP(hexToBytes(rlp as `0x${string}`), { common })
    } catch (e) {
      if (expectException !== undefined) {
        blockCounts.rejectedAtDecoding++
        continue
      }
      return `block ${i} does not decode: ${(e as Error).message}`
    }
    const before = bytesToHex(await sm.getStateRoot())
    try {
      blockCounts.executed++
      await executor.runBlock({ block, stateManager: sm, skipHeaderValidation: true, blockchain })
      blockCounts.transactions += block.transactions.length
    } catch (e) {
      if (expectException === undefined) return `block ${i}: ${(e as Error).message}`
      if (!(e instanceof ParallelEvmError)) return `block ${i}: rejected without a typed error: ${(e as Error).message}`
      if (bytesToHex(await sm.getStateRoot()) !== before) return `block ${i}: a rejected block changed the state`
      blockCounts.rejected++
      continue
    }
    if (expectException !== undefined) return `block ${i} should be rejected (${expectException}) but was accepted`
    hashes.set(block.header.number, block.hash())
    last = block.hash()
  }
  if (bytesToHex(last) !== t.lastblockhash) return `lastblockhash ${bytesToHex(last)} != ${t.lastblockhash}`
  for (const [addr, acc] of Object.entries(t.postState ?? {})) {
    const address = new Address(hexToBytes(addr as `0x${string}`))
    const a = await sm.getAccount(address)
    if (a === undefined) return `postState: ${addr} missing`
    if (a.nonce !== BigInt(acc.nonce) || a.balance !== BigInt(acc.balance)) return `postState: ${addr} nonce/balance ${a.nonce}/${a.balance} != ${BigInt(acc.nonce)}/${BigInt(acc.balance)}`
    if (bytesToHex(await sm.getCode(address)) !== acc.code) return `postState: ${addr} code differs`
    for (const [slot, value] of Object.entries(acc.storage)) {
      const v = await sm.getStorage(address, setLengthLeft(hexToBytes(slot as `0x${string}`), 32))
      if ((v.length === 0 ? 0n : BigInt(bytesToHex(v))) !== BigInt(value)) return `postState: ${addr}[${slot}] differs`
    }
  }
  return undefined
}

export async function runBlockchainTests(executors: Map<string, ParallelExecutor>, filter: string | undefined, log: (s: string) => void): Promise<SuiteResult> {
  const suite = newSuite('blockchain tests')
  const files = blockchainTestFiles()
  let done = 0
  for (const file of files) {
    const tests = JSON.parse(readFileSync(file, 'utf8')) as Record<string, BlockchainTest>
    for (const [name, t] of Object.entries(tests)) {
      if (filter !== undefined && !name.includes(filter)) continue
      for (const [label, executor] of executors) {
        let failure: string | undefined
        try {
          failure = await runOne(t, executor)
        } catch (e) {
          failure = `threw: ${(e as Error).message}`
        }
        record(suite, t.network, `${name} ${label}`, failure)
      }
    }
    if (++done % 50 === 0) log(`blockchain tests: ${done}/${files.length} files`)
  }
  suite.notes.push(
    `${blockCounts.executed} blocks executed (${blockCounts.transactions} transactions in accepted blocks); ` +
      `${blockCounts.rejected} rejected by the executor and ${blockCounts.rejectedAtDecoding} at decoding, all expected`,
  )
  return suite
}
