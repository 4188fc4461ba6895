/**
 * Receipt encoding for the receipts trie, written straight into one buffer: the generic RLP
 * encoder costs ~10–14 µs per receipt with logs, a large share of a block's main-thread work.
 * Output is byte-identical to ethereumjs's `encodeReceipt` (tested).
 *
 * receipt = [type ||] rlp([status or state root, cumulative gas, bloom, logs])
 * log     = rlp([address, [topics…], data])
 */
import type { Log } from '@ethereumjs/evm'

import { ByteBuilder } from '../codec.ts'

/** Length of the RLP header for a string of `len` bytes (whose first byte is `first`). */
function bytesHeaderLen(len: number, first: number): number {
  if (len === 1 && first < 0x80) return 0
  if (len <= 55) return 1
  return 1 + lengthOfLength(len)
}

function lengthOfLength(len: number): number {
  return len < 0x100 ? 1 : len < 0x10000 ? 2 : len < 0x1000000 ? 3 : 4
}

function listHeaderLen(payload: number): number {
  return payload <= 55 ? 1 : 1 + lengthOfLength(payload)
}

function writeLength(out: ByteBuilder, len: number, n: number): void {
  const at = out.reserve(n)
  const buf = out.buf // after reserve: it may have replaced the buffer
  for (let i = n - 1; i >= 0; i--) {
    buf[at + i] = len & 0xff
    len >>>= 8
  }
}

function writeListHeader(out: ByteBuilder, payload: number): void {
  if (payload <= 55) {
    out.byte(0xc0 + payload)
  } else {
    const n = lengthOfLength(payload)
    out.byte(0xf7 + n)
    writeLength(out, payload, n)
  }
}

function writeBytes(out: ByteBuilder, b: Uint8Array): void {
  const len = b.length
  if (len === 1 && b[0] < 0x80) {
    out.byte(b[0])
    return
  }
  if (len <= 55) {
    out.byte(0x80 + len)
  } else {
    const n = lengthOfLength(len)
    out.byte(0xb7 + n)
    writeLength(out, len, n)
  }
  const at = out.reserve(len)
  out.buf.set(b, at) // `out.buf` is read after reserve
}

function bytesLen(b: Uint8Array): number {
  return bytesHeaderLen(b.length, b[0]) + b.length
}

function logLen(log: Log): number {
  let topics = 0
  for (const t of log[1]) topics += bytesLen(t)
  const payload = bytesLen(log[0]) + listHeaderLen(topics) + topics + bytesLen(log[2])
  return listHeaderLen(payload) + payload
}

/** Minimal big-endian bytes of a non-negative bigint, written as an RLP string. */
function writeQuantity(out: ByteBuilder, v: bigint): void {
  if (v === 0n) {
    out.byte(0x80)
    return
  }
  if (v < 0x80n) {
    out.byte(Number(v))
    return
  }
  let n = 0
  for (let x = v; x > 0n; x >>= 8n) n++
  out.byte(0x80 + n)
  const at = out.reserve(n)
  const buf = out.buf
  let x = v
  for (let i = n - 1; i >= 0; i--) {
    buf[at + i] = Number(x & 0xffn)
    x >>= 8n
  }
}

function quantityLen(v: bigint): number {
  if (v < 0x80n) return 1
  let n = 0
  for (let x = v; x > 0n; x >>= 8n) n++
  return 1 + n
}

/**
 * Appends one encoded receipt to `out`; returns its length. `status` is 0/1, or the
 * pre-Byzantium state root (32 bytes).
 */
export function appendReceipt(
  out: ByteBuilder,
  txType: number,
  status: 0 | 1 | Uint8Array,
  cumulativeGasUsed: bigint,
  bloom: Uint8Array,
  logs: Log[],
): number {
  const start = out.len
  let logsPayload = 0
  for (const l of logs) logsPayload += logLen(l)
  const statusLen = typeof status === 'number' ? 1 : bytesLen(status)
  const payload = statusLen + quantityLen(cumulativeGasUsed) + 3 + 256 + listHeaderLen(logsPayload) + logsPayload
  if (txType !== 0) out.byte(txType)
  writeListHeader(out, payload)
  if (typeof status === 'number') out.byte(status === 1 ? 0x01 : 0x80)
  else writeBytes(out, status)
  writeQuantity(out, cumulativeGasUsed)
  writeBytes(out, bloom)
  writeListHeader(out, logsPayload)
  for (const [address, topics, data] of logs) {
    let t = 0
    for (const topic of topics) t += bytesLen(topic)
    writeListHeader(out, bytesLen(address) + listHeaderLen(t) + t + bytesLen(data))
    writeBytes(out, address)
    writeListHeader(out, t)
    for (const topic of topics) writeBytes(out, topic)
    writeBytes(out, data)
  }
  return out.len - start
}
