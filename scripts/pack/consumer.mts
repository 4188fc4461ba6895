// Compiled (not run) by `scripts/pack/check.sh` against the installed package's declarations,
// as a TypeScript user's code would be.
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import {
  InvalidBlockError,
  ParallelExecutor,
  TransactionError,
  type ExecutionMetrics,
  type ParallelRunBlockResult,
  type Prestate,
  type RunBlockOptions,
  type Strategy,
} from 'parallel-evm'

const strategy: Strategy = { kind: 'adaptive', policy: 'characteristics' }
const executor: ParallelExecutor = await ParallelExecutor.create({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Prague }), threads: 2, strategy })
const prestate: Prestate = { '0x00000000000000000000000000000000000c0de1': { balance: '0x0', nonce: 0 } }
export async function run(options: RunBlockOptions): Promise<ExecutionMetrics> {
  try {
    const result: ParallelRunBlockResult = await executor.runBlock({ ...options, prestate, onProgress: (e) => void e.elapsedMs })
    return result.metrics
  } catch (e) {
    if (e instanceof InvalidBlockError || e instanceof TransactionError) console.error(e.code, e.txIndex)
    throw e
  }
}
await executor.close()
