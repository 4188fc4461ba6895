import { Hardfork } from '@ethereumjs/common'
import { bytesToHex, createAddressFromString } from '@ethereumjs/util'
import test from 'ava'

import { encodeTxs, TxReader, withSender } from '../ts/evm/txs.ts'
import { everyTxType, makeCommon } from './support/evm.ts'

const prague = () => makeCommon(Hardfork.Prague)

test('transactions cross to a worker unchanged: every type reads back to the same fields, hash and signing message', (t) => {
  const common = prague()
  const txs = everyTxType(common)
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
  const bytes = encodeTxs(everyTxType(common).slice(0, 1))
  const at = 4 + 4 + 2 + 1 // count, one end offset, type and property count, first name index
  const broken = bytes.slice()
  broken[at] = 200
  t.throws(() => new TxReader(broken).tx(0, common), { message: /malformed transaction encoding \(tag 200\)/ })
  const wrongType = bytes.slice()
  wrongType[8] = 9
  t.throws(() => new TxReader(wrongType).tx(0, common), { message: /unsupported transaction type 9/ })
})

test('withSender: a view that answers the given sender and is the transaction otherwise; the transaction is untouched', (t) => {
  const common = prague()
  for (const tx of everyTxType(common)) {
    const sender = { address: createAddressFromString('0x' + '42'.repeat(20)), publicKey: new Uint8Array(64).fill(7) }
    const real = tx.getSenderAddress().toString()
    const view = withSender(tx, sender)
    t.is(view.getSenderAddress(), sender.address)
    t.is(view.getSenderPublicKey(), sender.publicKey)
    t.is(bytesToHex(view.hash()), bytesToHex(tx.hash()))
    t.deepEqual(view.toJSON(), tx.toJSON())
    t.true(view instanceof Object.getPrototypeOf(tx).constructor)
    t.true(Object.isFrozen(tx), 'ethereumjs freezes its transactions')
    t.is(tx.getSenderAddress().toString(), real, 'the transaction still recovers its own sender')
  }
})
