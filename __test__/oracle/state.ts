/**
 * State tests (ethereum/tests GeneralStateTests subset, EEST Prague): each case as a
 * one-transaction block through the executor, with only the transaction executed
 * (`blockLevelSteps: false`), over a MerkleStateManager with the fixture's `pre`. The post
 * state root and the logs hash (keccak of the RLP of the logs) must be as the fixture says.
 * An invalid transaction (`expectException`) must be rejected and change nothing.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import { createBlock } from '@ethereumjs/block'
import { RLP } from '@ethereumjs/rlp'
import { createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bytesToHex, hexToBytes } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'

import { InvalidBlockError, type ParallelExecutor } from '../../ts/index.ts'
import { FIXTURES, makeCommon, merkleFrom, newSuite, record, walkJson, type FixtureAccount, type SuiteResult } from './fixtures.ts'

interface StateTest {
  env: Record<string, string>
  pre: Record<string, FixtureAccount>
  post: Record<string, { hash: string; logs: string; txbytes: string; expectException?: string; indexes: Record<string, number> }[]>
}

export function stateTestFiles(): string[] {
  return [...walkJson(join(FIXTURES, 'ethereum-tests', 'GeneralStateTests')), ...walkJson(join(FIXTURES, 'eest', 'state_tests'))]
}

const EMPTY_LOGS_HASH = bytesToHex(keccak_256(RLP.encode([])))

async function runCase(env: StateTest['env'], pre: StateTest['pre'], fork: string, c: StateTest['post'][string][number], executor: ParallelExecutor): Promise<string | undefined> {
  const common = makeCommon(fork)
  const sm = await merkleFrom(common, pre)
  const preRoot = bytesToHex(await sm.getStateRoot())
  let tx: TypedTransaction
  try {
    tx = createTxFromRLP(hexToBytes(c.txbytes as `0x${string}`), { common })
  } catch (e) {
    if (c.expectException !== undefined) return preRoot === c.hash || c.hash === undefined ? undefined : `undecodable tx: post hash ${c.hash} != pre root`
    return `tx does not decode: ${(e as Error).message}`
  }
  const merged = common.gteHardfork('paris')
  const block = createBlock(
    {
      header: {
        number: BigInt(env.currentNumber),
        timestamp: BigInt(env.currentTimestamp),
        gasLimit: BigInt(env.currentGasLimit),
        coinbase: new Address(hexToBytes(env.currentCoinbase as `0x${string}`)),
        difficulty: merged ? 0n : BigInt(env.currentDifficulty ?? 0),
        mixHash: merged && env.currentRandom !== undefined ? hexToBytes(env.currentRandom as `0x${string}`) : undefined,
        baseFeePerGas: env.currentBaseFee !== undefined ? BigInt(env.currentBaseFee) : undefined,
        excessBlobGas: common.isActivatedEIP(4844) ? BigInt(env.currentExcessBlobGas ?? 0) : undefined,
      },
      transactions: [tx],
    },
    { common },
  )
  let logsHash = EMPTY_LOGS_HASH
  try {
    const r = await executor.runBlock({ block, stateManager: sm, generate: true, skipBlockValidation: true, blockLevelSteps: false })
    logsHash = bytesToHex(keccak_256(RLP.encode(r.receipts[0].logs)))
    if (c.expectException !== undefined) return `invalid transaction accepted (${c.expectException})`
  } catch (e) {
    if (c.expectException === undefined) return `threw: ${(e as Error).message}`
    if (!(e instanceof InvalidBlockError) || e.txIndex !== 0) return `rejected without a typed error: ${(e as Error).message}`
  }
  const root = bytesToHex(await sm.getStateRoot())
  if (root !== c.hash) return `post state root ${root} != ${c.hash}`
  if (c.logs !== undefined && logsHash !== c.logs) return `logs hash ${logsHash} != ${c.logs}`
  return undefined
}

export async function runStateTests(executors: Map<string, ParallelExecutor>, filter: string | undefined, log: (s: string) => void): Promise<SuiteResult> {
  const suite = newSuite('state tests')
  const files = stateTestFiles()
  let done = 0
  for (const file of files) {
    const tests = JSON.parse(readFileSync(file, 'utf8')) as Record<string, StateTest>
    for (const [name, t] of Object.entries(tests)) {
      if (filter !== undefined && !name.includes(filter)) continue
      for (const [fork, cases] of Object.entries(t.post)) {
        for (const c of cases) {
          for (const [label, executor] of executors) {
            let failure: string | undefined
            try {
              failure = await runCase(t.env, t.pre, fork, c, executor)
            } catch (e) {
              failure = `harness: ${(e as Error).message}`
            }
            record(suite, fork, `${name} d${c.indexes.data}g${c.indexes.gas}v${c.indexes.value} ${label}`, failure)
          }
        }
      }
    }
    if (++done % 50 === 0) log(`state tests: ${done}/${files.length} files`)
  }
  return suite
}
