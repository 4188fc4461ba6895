import { encodeReceipt, type TxReceipt } from '@ethereumjs/vm'
import test from 'ava'

import { ByteBuilder } from '../ts/codec.ts'
import { appendReceipt } from '../ts/evm/receipts.ts'

function rng(seed: number) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0
    return s / 4294967296
  }
}

test('the receipt encoder is byte-identical to ethereumjs encodeReceipt', (t) => {
  const r = rng(7)
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => Math.floor(r() * 256))
  let checked = 0
  for (let i = 0; i < 2000; i++) {
    const type = [0, 1, 2, 3, 4][Math.floor(r() * 5)]
    const logs = Array.from({ length: Math.floor(r() * 4) }, () => {
      // data lengths around the RLP size thresholds (55, 256, 65536)
      const dataLen = [0, 1, 31, 55, 56, 200, 255, 256, 300, 70_000][Math.floor(r() * 10)]
      const data = bytes(dataLen)
      if (dataLen === 1) data[0] = r() < 0.5 ? 0x05 : 0x90
      return [bytes(20), Array.from({ length: Math.floor(r() * 5) }, () => bytes(32)), data] as [Uint8Array, Uint8Array[], Uint8Array]
    })
    const cumulative = [0n, 1n, 127n, 128n, 255n, 21_000n, 2n ** 64n + 3n][Math.floor(r() * 7)] + BigInt(i)
    const preByzantium = type === 0 && r() < 0.3
    const status = r() < 0.8 ? 1 : 0
    const bloom = bytes(256)
    const receipt = (preByzantium
      ? { stateRoot: bytes(32), cumulativeBlockGasUsed: cumulative, bitvector: bloom, logs }
      : { status, cumulativeBlockGasUsed: cumulative, bitvector: bloom, logs }) as TxReceipt
    const out = new ByteBuilder(16)
    const len = appendReceipt(out, type, preByzantium ? (receipt as { stateRoot: Uint8Array }).stateRoot : (status as 0 | 1), cumulative, bloom, logs)
    t.is(len, out.len)
    t.deepEqual(out.bytes(), encodeReceipt(receipt, type as never))
    checked++
  }
  t.is(checked, 2000)
})
