/** Small byte helpers used on hot paths (map keys, hex), and shared constants. */

export { EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT } from '../codec.ts'
export const EMPTY_BYTES = new Uint8Array(0)

export function toHex(b: Uint8Array): `0x${string}` {
  return `0x${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`
}

export function hexBytes(hex: string): Uint8Array {
  const from = hex.length >= 2 && hex[0] === '0' && (hex[1] === 'x' || hex[1] === 'X') ? 2 : 0
  const digits = hex.length - from
  // Buffer's decoder stops at the first pair that is not hex: a short result means bad input.
  const b = digits % 2 === 0 ? Buffer.from(from === 0 ? hex : hex.slice(from), 'hex') : undefined
  if (b === undefined || b.length * 2 !== digits) throw new RangeError(`not hex bytes: ${hex.slice(0, 80)}`)
  // Own memory, not a slice of Buffer's shared pool.
  const out = new Uint8Array(b.length)
  out.set(b)
  return out
}

/**
 * A compact, exact map key for a byte string (one UTF-16 unit per byte). Called tens of times
 * per transaction: the unrolled forms for addresses and words take half the time of `apply`.
 */
export function byteKey(b: Uint8Array): string {
  if (b.length === 20) {
    return String.fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19])
  }
  if (b.length === 32) {
    return (
      String.fromCharCode(b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]) +
      String.fromCharCode(b[16], b[17], b[18], b[19], b[20], b[21], b[22], b[23], b[24], b[25], b[26], b[27], b[28], b[29], b[30], b[31])
    )
  }
  return String.fromCharCode.apply(null, b as unknown as number[])
}

export function keyBytes(k: string): Uint8Array {
  const out = new Uint8Array(k.length)
  for (let i = 0; i < k.length; i++) out[i] = k.charCodeAt(i)
  return out
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Minimal big-endian bytes (empty for zero), as ethereumjs stores storage values. */
export function unpad(b: Uint8Array): Uint8Array {
  let i = 0
  while (i < b.length && b[i] === 0) i++
  return i === 0 ? b : b.subarray(i)
}

export function bytesToBigInt(b: Uint8Array): bigint {
  if (b.length === 0) return 0n
  let v = 0n
  let i = 0
  for (; i + 8 <= b.length; i += 8) {
    let w = 0n
    for (let j = 0; j < 8; j++) w = (w << 8n) | BigInt(b[i + j])
    v = (v << 64n) | w
  }
  for (; i < b.length; i++) v = (v << 8n) | BigInt(b[i])
  return v
}

/** Minimal big-endian bytes of a non-negative integer. */
export function bigIntToBytes(v: bigint): Uint8Array {
  if (v === 0n) return EMPTY_BYTES
  let hex = v.toString(16)
  if (hex.length % 2 === 1) hex = '0' + hex
  return hexBytes(hex)
}

export function setLength32(b: Uint8Array): Uint8Array {
  if (b.length === 32) return b
  const out = new Uint8Array(32)
  out.set(b.subarray(Math.max(0, b.length - 32)), 32 - Math.min(32, b.length))
  return out
}
