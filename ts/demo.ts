/**
 * `npm start`: generates a block (ETH transfers from many senders, plus nonce chains), runs
 * it with ethereumjs's `runBlock` (its default MerkleStateManager) and with parallel-evm's
 * strategies, checks that all agree, and prints a summary. No network.
 */
import { availableParallelism } from 'node:os'

import { createBlock } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createFeeMarket1559Tx, type TypedTransaction } from '@ethereumjs/tx'
import { Account, Address, bytesToHex, privateToAddress } from '@ethereumjs/util'
import { createVM, runBlock } from '@ethereumjs/vm'

import { ParallelExecutor, type Prestate } from './index.ts'

const N = Number(process.env.DEMO_TXS ?? 1000)
const threads = availableParallelism()
const common = new Common({ chain: Mainnet, hardfork: Hardfork.Cancun })

const key = (i: number) => {
  const k = new Uint8Array(32)
  k[0] = 0x42
  k[28] = i >> 24
  k[29] = (i >> 16) & 0xff
  k[30] = (i >> 8) & 0xff
  k[31] = (i & 0xff) + 1
  return k
}
const senders = Math.floor(N * 0.9)
process.stdout.write(`Generating a block of ${N} signed transactions (${senders} senders)… `)
const prestate: Prestate = {}
const txs: TypedTransaction[] = []
const nonces = new Map<number, bigint>()
for (let i = 0; i < N; i++) {
  const s = i < senders ? i : i % 16 // the last tenth: nonce chains on 16 senders
  const k = key(s)
  const from = new Address(privateToAddress(k)).toString()
  prestate[from] ??= { balance: '0x' + (10n ** 21n).toString(16), nonce: 0 }
  const nonce = nonces.get(s) ?? 0n
  nonces.set(s, nonce + 1n)
  const to = new Address(privateToAddress(key(100_000 + i)))
  txs.push(createFeeMarket1559Tx({ nonce, to, value: 10n ** 15n, gasLimit: 21_000n, maxFeePerGas: 100n, maxPriorityFeePerGas: 3n }, { common }).sign(k))
}
const block = createBlock(
  {
    header: {
      number: 20_000_000n,
      gasLimit: 60_000_000n,
      timestamp: 1_710_338_135n,
      baseFeePerGas: 7n,
      coinbase: new Address(new Uint8Array(20).fill(0xcb)),
      excessBlobGas: 0n,
      blobGasUsed: 0n,
      parentBeaconBlockRoot: new Uint8Array(32),
    },
    transactions: txs,
    withdrawals: [],
  },
  { common },
)
console.log('done')

// ethereumjs runBlock, default state manager (what a pure-JS user runs today).
const vm = await createVM({ common: common.copy() })
for (const [addr, acc] of Object.entries(prestate)) {
  await vm.stateManager.putAccount(new Address(Buffer.from(addr.slice(2), 'hex')), new Account(0n, BigInt(acc.balance)))
}
let t = performance.now()
const reference = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true })
const ethereumjsMs = performance.now() - t

const rows: { strategy: string; ms: number; same: boolean; reexecutions: number }[] = []
const strategies = [{ kind: 'sequential' }, { kind: 'optimistic' }, { kind: 'dependency' }, { kind: 'sharded' }, { kind: 'adaptive' }] as const
for (const strategy of strategies) {
  await using executor = await ParallelExecutor.create({ common, threads, strategy })
  // Worker threads JIT-compile the EVM on their own: time the median of 3 after 3 warm-up blocks.
  const times: number[] = []
  let r!: Awaited<ReturnType<typeof executor.runBlock>>
  for (let i = 0; i < 6; i++) {
    t = performance.now()
    r = await executor.runBlock({ block, prestate, skipBlockValidation: true, generate: true })
    if (i >= 3) times.push(performance.now() - t)
  }
  const ms = times.sort((a, b) => a - b)[1]
  const same =
    r.gasUsed === reference.gasUsed &&
    bytesToHex(r.receiptsRoot) === bytesToHex(reference.receiptsRoot) &&
    bytesToHex(r.logsBloom) === bytesToHex(reference.logsBloom)
  const ran = `${r.metrics.strategy}${r.metrics.threads > 0 ? ` x${r.metrics.threads}` : ''}`
  rows.push({ strategy: strategy.kind === r.metrics.strategy ? ran : `${strategy.kind} (ran ${ran})`, ms, same, reexecutions: r.metrics.reexecutions })
}

console.log(`\nparallel-evm demo: ${N} transactions, ${reference.gasUsed} gas, ${threads} cores (median of 3 blocks after 3 warm-up blocks)`)
console.log(`  ethereumjs runBlock (MerkleStateManager): ${ethereumjsMs.toFixed(0)} ms`)
for (const r of rows) {
  console.log(
    `  parallel-evm ${r.strategy.padEnd(28)}: ${r.ms.toFixed(0).padStart(5)} ms  ${(ethereumjsMs / r.ms).toFixed(1)}x runBlock` +
      `  re-executions ${r.reexecutions}  same receipts root, gas and bloom: ${r.same ? 'yes' : 'NO'}`,
  )
}
if (rows.some((r) => !r.same)) process.exitCode = 1
