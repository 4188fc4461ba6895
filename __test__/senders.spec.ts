import { Common, Hardfork, Mainnet, Sepolia } from '@ethereumjs/common'
import { createLegacyTx, type TypedTransaction } from '@ethereumjs/tx'
import { SECP256K1_ORDER } from '@ethereumjs/util'
import test from 'ava'

import { loadNative, type NativeBinding } from '../ts/native.ts'
import { recoverBlockSenders, recoverSenders, type Sender } from '../ts/evm/crypto.ts'
import { encodeTxs } from '../ts/evm/txs.ts'
import { everyTxType, makeCommon, privateKey } from './support/evm.ts'

const native = loadNative()
const to = '0x3535353535353535353535353535353535353535' as const

/** Wraps the native block recovery to see whether, and with what result, it was called. */
async function spied<T>(run: () => Promise<T>): Promise<{ result: T; calls: number; failed: number[] }> {
  const binding = native as NativeBinding
  const original = binding.recoverPayloadSenders
  let calls = 0
  const failed: number[] = []
  ;(binding as { recoverPayloadSenders: typeof original }).recoverPayloadSenders = async (...args: Parameters<typeof original>) => {
    calls++
    const r = await original(...args)
    failed.push(...r.failed)
    return r
  }
  try {
    return { result: await run(), calls, failed }
  } finally {
    ;(binding as { recoverPayloadSenders: typeof original }).recoverPayloadSenders = original
  }
}

function sameAsEthereumjs(t: import('ava').ExecutionContext, txs: TypedTransaction[], got: (Sender | Error)[]): void {
  t.is(got.length, txs.length)
  for (let i = 0; i < txs.length; i++) {
    const g = got[i]
    if (g instanceof Error) {
      t.fail(`tx ${i}: ${g.message}`)
      continue
    }
    t.is(g.address.toString(), txs[i].getSenderAddress().toString(), `sender of tx ${i}`)
    t.deepEqual([...g.publicKey], [...txs[i].getSenderPublicKey()], `public key of tx ${i}`)
  }
}

// Serial: the spy on the binding would see a concurrent test's calls.
const skipWithoutNative = native === null ? test.serial.skip : test.serial

skipWithoutNative('a block of every transaction type recovers natively, signing hashes included, to what ethereumjs recovers', async (t) => {
  const common = makeCommon(Hardfork.Prague)
  const txs = everyTxType(common, 60)
  // An unprotected legacy transaction (v 27/28: no chain id in its signature) in a block
  // whose fork has EIP-155: signed under Homestead, carried into the Prague Common.
  const homestead = new Common({ chain: Mainnet, hardfork: Hardfork.Homestead })
  const old = createLegacyTx({ nonce: 1n, gasPrice: 10n, gasLimit: 21_000n, to, value: 1n }, { common: homestead }).sign(privateKey(99))
  txs.push(createLegacyTx({ ...old.toJSON(), v: old.v, r: old.r, s: old.s }, { common }))
  // Every transaction holds its own copy of the Common: the native path must not need one object.
  t.not(txs[0].common, txs[1].common)
  const { result, calls, failed } = await spied(() => recoverBlockSenders(txs, encodeTxs(txs), 2))
  t.is(calls, 1, 'the block went through the native signing hashes')
  t.deepEqual(failed, [], 'and none was left to ethereumjs')
  sameAsEthereumjs(t, txs, result)
})

skipWithoutNative('before Homestead a high-s signature recovers natively; a signature with no point is refused as ethereumjs refuses it', async (t) => {
  const frontier = new Common({ chain: Mainnet, hardfork: Hardfork.Chainstart })
  const txs = Array.from({ length: 40 }, (_, i) => createLegacyTx({ nonce: BigInt(i), gasPrice: 10n, gasLimit: 21_000n, to, value: 1n }, { common: frontier }).sign(privateKey(i)))
  // The same signature with s' = n - s and the other recovery id: valid before EIP-2.
  const low = txs[5]
  txs[5] = createLegacyTx({ ...low.toJSON(), v: low.v === 27n ? 28n : 27n, r: low.r, s: SECP256K1_ORDER - low.s! }, { common: frontier })
  t.true(txs[5].s! > SECP256K1_ORDER / 2n)
  t.is(txs[5].getSenderAddress().toString(), low.getSenderAddress().toString())
  const { result, calls, failed } = await spied(() => recoverBlockSenders(txs, encodeTxs(txs), 2))
  t.is(calls, 1)
  t.deepEqual(failed, [])
  sameAsEthereumjs(t, txs, result)

  // r = 5 is no point's x coordinate on secp256k1 (5^3 + 7 = 132 has no square root mod p).
  const good = txs[7]
  txs[7] = createLegacyTx({ ...good.toJSON(), v: good.v, r: 5n, s: good.s }, { common: frontier })
  t.throws(() => txs[7].getSenderAddress())
  const again = await spied(() => recoverBlockSenders(txs, encodeTxs(txs), 2))
  t.deepEqual(again.failed, [7], 'the native side leaves it to ethereumjs')
  const refused = again.result[7]
  t.true(refused instanceof Error)
  const byJs = (await recoverSenders(txs, 2))[7]
  t.is((refused as Error).message, (byJs as Error).message, 'with the error the one-by-one path gives')
  sameAsEthereumjs(t, txs.filter((_, i) => i !== 7), again.result.filter((_, i) => i !== 7))
})

skipWithoutNative('transactions of different chains in one list are not recovered with one chain id', async (t) => {
  const mainnet = new Common({ chain: Mainnet, hardfork: Hardfork.Cancun })
  const sepolia = new Common({ chain: Sepolia, hardfork: Hardfork.Cancun })
  const legacy = (common: Common, i: number) => createLegacyTx({ nonce: BigInt(i), gasPrice: 10n, gasLimit: 21_000n, to, value: 1n }, { common }).sign(privateKey(i))
  const txs = Array.from({ length: 40 }, (_, i) => legacy(i === 20 ? sepolia : mainnet, i))
  const { result, calls } = await spied(() => recoverBlockSenders(txs, encodeTxs(txs), 2))
  t.is(calls, 0, 'one chain id for all would hash tx 20 for the wrong chain')
  sameAsEthereumjs(t, txs, result)
})

skipWithoutNative('a public key ethereumjs cached on a transaction is used as ethereumjs uses it, and not recovered again', async (t) => {
  const common = makeCommon(Hardfork.Cancun)
  const txs = Array.from({ length: 40 }, (_, i) => createLegacyTx({ nonce: BigInt(i), gasPrice: 10n, gasLimit: 21_000n, to, value: 1n }, { common }).sign(privateKey(i)))
  // Validated before (a mempool, block.validateData()): ethereumjs cached the key.
  for (let i = 0; i < txs.length; i += 2) txs[i].getSenderPublicKey()
  // A cache that does not match the signature: ethereumjs answers from it, so must we.
  const other = createLegacyTx({ nonce: 0n, gasPrice: 10n, gasLimit: 21_000n, to, value: 1n }, { common }).sign(privateKey(77))
  ;(txs[4].cache as { senderPubKey?: Uint8Array }).senderPubKey = other.getSenderPublicKey()
  t.is(txs[4].getSenderAddress().toString(), other.getSenderAddress().toString(), 'ethereumjs takes the cached key')

  const binding = native as NativeBinding
  const original = binding.recoverPayloadSenders
  let known: Uint8Array | undefined | null
  ;(binding as { recoverPayloadSenders: typeof original }).recoverPayloadSenders = (...args: Parameters<typeof original>) => {
    known = args[4]
    return original(...args)
  }
  try {
    sameAsEthereumjs(t, txs, await recoverBlockSenders(txs, encodeTxs(txs), 2))
  } finally {
    ;(binding as { recoverPayloadSenders: typeof original }).recoverPayloadSenders = original
  }
  t.deepEqual(
    Array.from({ length: txs.length }, (_, i) => known?.[i * 65] ?? 0),
    Array.from({ length: txs.length }, (_, i) => (i % 2 === 0 ? 1 : 0)),
    'the native side was given the cached keys, and recovered only the others',
  )
  sameAsEthereumjs(t, txs, await recoverSenders(txs, 2))
  sameAsEthereumjs(t, txs.slice(0, 8), await recoverSenders(txs.slice(0, 8), 2))
})

skipWithoutNative('EIP-7702 authorities are recovered as ethereumjs recovers them, and left out where runTx would not recover them', async (t) => {
  const { createEOACode7702Tx } = await import('@ethereumjs/tx')
  const { eoaCode7702SignAuthorization, eoaCode7702RecoverAuthority, bigIntToUnpaddedBytes, bytesToBigInt, SECP256K1_ORDER } = await import('@ethereumjs/util')
  const { recoverAuthorities } = await import('../ts/evm/authorities.ts')
  const common = makeCommon(Hardfork.Prague)
  type Item = [Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array]
  const sign = (key: number, nonce: number, chainId: `0x${string}` = '0x1'): Item => eoaCode7702SignAuthorization({ chainId, address: to, nonce: `0x${nonce.toString(16)}` }, privateKey(key))
  // Its mirror with the other s (same signer, recovery id flipped): runTx skips high s.
  const highS = (a: Item): Item => [a[0], a[1], a[2], bigIntToUnpaddedBytes(1n - bytesToBigInt(a[3])), a[4], bigIntToUnpaddedBytes(SECP256K1_ORDER - bytesToBigInt(a[5]))]
  const withParity = (a: Item, p: number): Item => [a[0], a[1], a[2], bigIntToUnpaddedBytes(BigInt(p)), a[4], a[5]]
  const txFor = (nonce: number, authorizationList: Item[]) =>
    createEOACode7702Tx({ nonce: BigInt(nonce), to, gasLimit: 100_000n, maxFeePerGas: 10n, maxPriorityFeePerGas: 1n, authorizationList }, { common }).sign(privateKey(500))
  const good = [sign(1, 0), sign(2, 5, '0x0'), sign(3, 1, '0x99')]
  const txs = [
    createLegacyTx({ nonce: 0n, gasPrice: 10n, gasLimit: 21_000n, to }, { common }).sign(privateKey(9)),
    txFor(1, good),
    txFor(2, [highS(sign(4, 0)), withParity(sign(5, 0), 2), sign(6, 7)]),
  ]
  const byTx = await recoverAuthorities(txs, 2)
  const hex = (a: Uint8Array) => Buffer.from(a).toString('hex')
  const expected = (list: Item[]) => list.map((a) => hex(eoaCode7702RecoverAuthority(a).bytes))
  t.is(byTx?.[0], undefined, 'not a type-4 transaction')
  // A wrong chain id or nonce does not stop the recovery (runTx checks those separately).
  t.deepEqual(byTx?.[1]?.map(hex), expected(good))
  t.deepEqual(byTx?.[2]?.map(hex), expected([sign(6, 7)]), 'high s and a recovery id above 1 are left out')

  // Many authorizations go to the native threads at once; one whose r is not on the curve
  // (ethereumjs throws on it and skips the authorization) is left out there too.
  const many = Array.from({ length: 40 }, (_, k) => sign(10 + k, k))
  const offCurve: Item = [many[0][0], many[0][1], many[0][2], many[0][3], new Uint8Array(32).fill(0xff), many[0][5]]
  t.throws(() => eoaCode7702RecoverAuthority(offCurve))
  const big = await recoverAuthorities([txFor(3, [...many.slice(0, 20), offCurve, ...many.slice(20)])], 2)
  t.deepEqual(big?.[0]?.map(hex), expected(many))
  t.is(await recoverAuthorities(txs.slice(0, 1), 2), undefined, 'no type-4 transaction: nothing to recover')
})
