/**
 * Keccak-256 micro-benchmark: the JS hash ethereumjs uses by default against the addon's, per
 * call, for the input sizes the EVM hashes most (addresses, words, mapping keys).
 *
 *   npx tsx bench/keccak.ts
 */
import { keccak_256 } from '@noble/hashes/sha3.js'

import { keccak256 } from '../ts/evm/crypto.ts'
import { loadNative } from '../ts/native.ts'

if (loadNative() === null) throw new Error('the native addon is not built (npm run build:native)')
const rows: { bytes: number; 'js µs': string; 'native µs': string; ratio: string }[] = []
for (const len of [20, 32, 64, 136, 300]) {
  const data = new Uint8Array(len).fill(7)
  const time = (f: (d: Uint8Array) => Uint8Array) => {
    for (let i = 0; i < 20_000; i++) f(data)
    const t = performance.now()
    for (let i = 0; i < 200_000; i++) f(data)
    return (performance.now() - t) / 200
  }
  const js = time(keccak_256)
  const native = time(keccak256)
  rows.push({ bytes: len, 'js µs': js.toFixed(2), 'native µs': native.toFixed(2), ratio: (js / native).toFixed(1) })
}
console.table(rows)
