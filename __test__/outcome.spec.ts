import test from 'ava'

import { decodeOutcome, encodeOutcome, type TxOutcome } from '../ts/evm/outcome.ts'

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill)
const plain = (o: TxOutcome) => JSON.parse(JSON.stringify(o, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v)))

test('an outcome crosses from a worker unchanged, whichever optional parts it has', (t) => {
  const transfer: TxOutcome = {
    sender: bytes(20, 1), executionGasUsed: 0n, totalGasSpent: 21_000n, blockGasSpent: 21_000n, amountSpent: 147_000n, minerValue: 42_000n, gasRefund: 0n,
    returnValue: new Uint8Array(0), logs: [],
  }
  const everything: TxOutcome = {
    sender: bytes(20, 2), error: 'revert: ünïcode', executionGasUsed: 123_456n, totalGasSpent: 200_000n, blockGasSpent: 150_000n,
    // Amounts past 64 bits take the long form.
    amountSpent: (1n << 200n) + 5n, minerValue: (1n << 70n) + 1n, gasRefund: 4_800n,
    returnValue: bytes(37, 3), createdAddress: bytes(20, 4), blobGasUsed: 131_072n, bloom: bytes(256, 5),
    logs: [
      [bytes(20, 6), [], bytes(0, 0)],
      [bytes(20, 7), [bytes(32, 8), bytes(32, 9), bytes(32, 10), bytes(32, 11)], bytes(70, 12)],
    ],
  }
  for (const o of [transfer, everything]) {
    const back = decodeOutcome(encodeOutcome(o))
    t.deepEqual(plain(back), plain(o))
  }
  // Views into one buffer: decoding one outcome never reads past its own bytes.
  const a = encodeOutcome(everything)
  const joined = new Uint8Array(a.length + 8)
  joined.set(a)
  t.deepEqual(plain(decodeOutcome(joined.subarray(0, a.length))), plain(everything))
})
