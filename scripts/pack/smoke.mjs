/**
 * Runs inside a scratch project that installed the packed `parallel-evm` tarball and this
 * platform's binary package (see `scripts/pack/check.sh`), as a user's project would from npm.
 * Checks that the installed package loads its native addon from the platform package, runs a
 * block on worker threads, and agrees with ethereumjs's own `runBlock` on the same block.
 * Exits non-zero with a message on the first failed check.
 */
import { createBlock } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createFeeMarket1559Tx } from '@ethereumjs/tx'
import { Account, Address, bytesToHex, hexToBytes, privateToAddress } from '@ethereumjs/util'
import { createVM, runBlock } from '@ethereumjs/vm'
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

import { ParallelExecutor, nativeUnavailableReason } from 'parallel-evm'

const failures = []
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (!ok) failures.push(what)
}

// The package under test must be the installed one, and its addon must come from the
// platform package (the installed package ships no `.node` file of its own).
const require = createRequire(import.meta.url)
const installedAt = dirname(require.resolve('parallel-evm/package.json'))
check(installedAt.includes('node_modules'), `parallel-evm resolves from node_modules (${installedAt})`)
check(nativeUnavailableReason() === undefined, `native addon loads (${nativeUnavailableReason() ?? 'no reason given'})`)

const common = new Common({ chain: Mainnet, hardfork: Hardfork.Cancun })
const key = (i) => {
  const k = new Uint8Array(32)
  k[0] = 0x5a
  k[30] = i >> 8
  k[31] = (i & 0xff) + 1
  return k
}
// PUSH1 0 SLOAD PUSH1 1 ADD PUSH1 0 SSTORE: every call increments slot 0, so calls conflict.
const counter = '0x00000000000000000000000000000000000c0de1'
const prestate = { [counter]: { balance: '0x0', nonce: 1, code: '0x600054600101600055', storage: {} } }
const txs = []
for (let s = 0; s < 24; s++) {
  const k = key(s)
  prestate[new Address(privateToAddress(k)).toString()] = { balance: `0x${(10n ** 20n).toString(16)}`, nonce: 0 }
  for (let n = 0; n < 3; n++) {
    // Two transfers and one counter call per sender: nonce chains, and a hot storage slot.
    const to = n === 2 ? new Address(hexToBytes(counter)) : new Address(privateToAddress(key(1000 + s * 3 + n)))
    const tx = { nonce: BigInt(n), to, value: n === 2 ? 0n : 10n ** 15n, gasLimit: 60_000n, maxFeePerGas: 100n, maxPriorityFeePerGas: 3n }
    txs.push(createFeeMarket1559Tx(tx, { common }).sign(k))
  }
}
const block = createBlock(
  {
    header: {
      number: 20_000_000n,
      gasLimit: 30_000_000n,
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

async function loadedVM() {
  const vm = await createVM({ common: common.copy() })
  for (const [addr, acc] of Object.entries(prestate)) {
    const address = new Address(hexToBytes(addr))
    await vm.stateManager.putAccount(address, new Account(BigInt(acc.nonce), BigInt(acc.balance)))
    if (acc.code !== undefined) await vm.stateManager.putCode(address, hexToBytes(acc.code))
  }
  return vm
}

const reference = await runBlock(await loadedVM(), { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true })
const slot0 = async (sm) => bytesToHex(await sm.getStorage(new Address(hexToBytes(counter)), new Uint8Array(32)))

for (const strategy of [{ kind: 'sequential' }, { kind: 'optimistic' }, { kind: 'dependency' }, { kind: 'sharded' }, { kind: 'adaptive' }]) {
  const executor = await ParallelExecutor.create({ common, threads: 2, strategy })
  try {
    // Twice: the second block runs on workers that have already compiled the EVM.
    for (let round = 0; round < 2; round++) {
      const vm = await loadedVM()
      const r = await executor.runBlock({ block, stateManager: vm.stateManager, skipBlockValidation: true, generate: true })
      const name = `${strategy.kind} (ran ${r.metrics.strategy} x${r.metrics.threads}), block ${round + 1}`
      check(
        r.gasUsed === reference.gasUsed &&
          bytesToHex(r.receiptsRoot) === bytesToHex(reference.receiptsRoot) &&
          bytesToHex(r.logsBloom) === bytesToHex(reference.logsBloom) &&
          bytesToHex(r.stateRoot) === bytesToHex(reference.stateRoot),
        `${name}: gas, receipts root, bloom and state root equal ethereumjs runBlock`,
      )
      check((await slot0(vm.stateManager)) === '0x18', `${name}: the counter was incremented 24 times`)
      // Sharded may run this block sequentially (every sender calls the counter: one shard),
      // and adaptive picks; optimistic and dependency always run on the workers.
      if (strategy.kind === 'optimistic' || strategy.kind === 'dependency') check(r.metrics.strategy === strategy.kind, `${name}: not replaced`)
      if (r.metrics.strategy !== 'sequential') check(r.metrics.workers?.busyMs.length === 2, `${name}: ran on two worker threads`)
    }
  } finally {
    await executor.close()
  }
}

if (failures.length > 0) {
  console.error(`\n${failures.length} check(s) failed`)
  process.exit(1)
}
console.log('\nthe packed package works as installed')
