/**
 * Outcome decoding micro-benchmark: the calling thread decodes every transaction's outcome
 * after each parallel block (`decodeOutcome`), so its cost per transaction is serial time.
 * Medians over rounds of 2,000 decodes, for a plain transfer and for a call with two logs.
 *
 *   npx tsx bench/outcome.ts
 */
import { decodeOutcome, encodeOutcome, type TxOutcome } from '../ts/evm/outcome.ts'

const filled = (n: number, b: number) => new Uint8Array(n).fill(b)
const transfer: TxOutcome = {
  sender: filled(20, 1), executionGasUsed: 0n, totalGasSpent: 21_000n, blockGasSpent: 21_000n, amountSpent: 147_000n, minerValue: 42_000n, gasRefund: 0n,
  returnValue: new Uint8Array(0), logs: [],
}
const withLogs: TxOutcome = {
  ...transfer, executionGasUsed: 30_000n, totalGasSpent: 51_000n, blockGasSpent: 51_000n, returnValue: filled(32, 1), bloom: filled(256, 3),
  logs: [[filled(20, 4), [filled(32, 5), filled(32, 6), filled(32, 7)], filled(32, 8)], [filled(20, 4), [filled(32, 9)], filled(64, 10)]],
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const rows = []
for (const [name, o] of [['transfer', transfer], ['two logs', withLogs]] as const) {
  const encoded = Array.from({ length: 2000 }, () => encodeOutcome(o))
  const rounds: number[] = []
  let sink = 0n
  for (let r = 0; r < 60; r++) {
    const t = performance.now()
    for (const b of encoded) sink += decodeOutcome(b).totalGasSpent
    if (r >= 20) rounds.push(((performance.now() - t) * 1000) / encoded.length)
  }
  // The sum keeps the decoded values in use (and would show a decoder that read nothing).
  if (sink !== 60n * 2000n * o.totalGasSpent) throw new Error(`${name}: decoded gas does not add up`)
  rows.push({ outcome: name, bytes: encoded[0].length, 'µs per decode (median)': median(rounds).toFixed(2) })
}
console.table(rows)
