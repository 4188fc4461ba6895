/**
 * The byte layouts exchanged with the native engine; the Rust side is
 * `crate/node/src/codec.rs`, which documents them. Numbers are big-endian except the nonce
 * (u64 little-endian) and lengths (u32 little-endian).
 */

const hex32 = (h: string) => Uint8Array.from(Buffer.from(h, 'hex'))
/** keccak256 of nothing: the code hash of an account without code. */
export const EMPTY_CODE_HASH = hex32('c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470')
/** keccak256(rlp('')): the storage root of an account without storage. */
export const EMPTY_STORAGE_ROOT = hex32('56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421')

export const LOCATION_LEN = 53
export const ACCOUNT_LEN = 105

export const LocationKind = { Account: 0, Storage: 1, StorageClear: 2 } as const
export type LocationKind = (typeof LocationKind)[keyof typeof LocationKind]

export const WriteOpCode = { SetAccount: 0, SetStorage: 1, ClearStorage: 2, AddBalance: 3, Code: 4 } as const
export type WriteOpCode = (typeof WriteOpCode)[keyof typeof WriteOpCode]

export const SnapshotTag = { Account: 0, Storage: 1, Cleared: 2, AddToBase: 3 } as const
export type SnapshotTag = (typeof SnapshotTag)[keyof typeof SnapshotTag]


/** Account fields as the engine stores them. */
export interface AccountFields {
  nonce: bigint
  balance: bigint
  codeHash: Uint8Array
  storageRoot: Uint8Array
}

export function readU256(dv: DataView, at: number): bigint {
  return (
    (dv.getBigUint64(at) << 192n) |
    (dv.getBigUint64(at + 8) << 128n) |
    (dv.getBigUint64(at + 16) << 64n) |
    dv.getBigUint64(at + 24)
  )
}

export function writeU256(dv: DataView, at: number, v: bigint): void {
  if (v < 0n || v >> 256n !== 0n) throw new RangeError(`value out of uint256 range: ${v}`)
  // setBigUint64 keeps the low 64 bits of its argument: no masks needed.
  dv.setBigUint64(at, v >> 192n)
  dv.setBigUint64(at + 8, v >> 128n)
  dv.setBigUint64(at + 16, v >> 64n)
  dv.setBigUint64(at + 24, v)
}

/** Writes a location at `at`; `slot` only for storage. */
export function writeLocation(
  buf: Uint8Array,
  at: number,
  kind: LocationKind,
  address: Uint8Array,
  slot?: Uint8Array,
): void {
  buf[at] = kind
  buf.set(address, at + 1)
  if (slot !== undefined) buf.set(slot, at + 21)
  else buf.fill(0, at + 21, at + LOCATION_LEN)
}

/**
 * Reads the account fields a native read wrote at the start of `buf`. Empty code hashes and
 * storage roots (most accounts) share `emptyCodeHash`/`emptyStorageRoot` instead of a copy
 * each: nothing here or in ethereumjs writes into these arrays.
 */
export function readAccountFields(buf: Uint8Array, dv: DataView, emptyCodeHash: Uint8Array, emptyStorageRoot: Uint8Array): AccountFields {
  return {
    nonce: dv.getBigUint64(0, true),
    balance: readU256(dv, 8),
    codeHash: sameAt(buf, 40, emptyCodeHash) ? emptyCodeHash : buf.slice(40, 72),
    storageRoot: sameAt(buf, 72, emptyStorageRoot) ? emptyStorageRoot : buf.slice(72, 104),
  }
}

function sameAt(buf: Uint8Array, at: number, word: Uint8Array): boolean {
  for (let i = 0; i < 32; i++) if (buf[at + i] !== word[i]) return false
  return true
}

/** Writes an account value (`exists` byte first) at `at`. */
export function writeAccountValue(buf: Uint8Array, dv: DataView, at: number, a: AccountFields | undefined): void {
  if (a === undefined) {
    buf.fill(0, at, at + ACCOUNT_LEN)
    return
  }
  buf[at] = 1
  dv.setBigUint64(at + 1, a.nonce, true)
  writeU256(dv, at + 9, a.balance)
  buf.set(a.codeHash, at + 41)
  buf.set(a.storageRoot, at + 73)
}

/** A growable byte buffer with a DataView, reused across incarnations. */
export class ByteBuilder {
  buf: Uint8Array
  dv: DataView
  len = 0

  constructor(capacity = 4096) {
    this.buf = new Uint8Array(capacity)
    this.dv = new DataView(this.buf.buffer)
  }

  reset(): void {
    this.len = 0
  }

  /** Makes room for `n` more bytes and returns where they start. */
  reserve(n: number): number {
    const at = this.len
    if (at + n > this.buf.length) {
      let cap = this.buf.length * 2
      while (cap < at + n) cap *= 2
      const next = new Uint8Array(cap)
      next.set(this.buf.subarray(0, at))
      this.buf = next
      this.dv = new DataView(next.buffer)
    }
    this.len = at + n
    return at
  }

  // Each method reserves before touching `buf`/`dv`: `reserve` may replace them, and an
  // expression like `this.buf[this.reserve(1)]` would read the old buffer first.

  location(kind: LocationKind, address: Uint8Array, slot?: Uint8Array): void {
    const at = this.reserve(LOCATION_LEN)
    writeLocation(this.buf, at, kind, address, slot)
  }

  /** Appends one byte. */
  byte(b: number): void {
    const at = this.reserve(1)
    this.buf[at] = b
  }

  /** Appends bytes as they are. */
  raw(b: Uint8Array): void {
    const at = this.reserve(b.length)
    this.buf.set(b, at)
  }

  u32(v: number): void {
    const at = this.reserve(4)
    this.dv.setUint32(at, v, true)
  }

  u64(v: bigint): void {
    const at = this.reserve(8)
    this.dv.setBigUint64(at, v, true)
  }

  u256(v: bigint): void {
    const at = this.reserve(32)
    writeU256(this.dv, at, v)
  }

  private op(code: WriteOpCode): void {
    this.byte(code)
  }

  private word(v: bigint): void {
    const at = this.reserve(32)
    writeU256(this.dv, at, v)
  }

  private account(a: AccountFields | undefined): void {
    const at = this.reserve(ACCOUNT_LEN)
    writeAccountValue(this.buf, this.dv, at, a)
  }

  setAccount(address: Uint8Array, a: AccountFields | undefined): void {
    this.op(WriteOpCode.SetAccount)
    this.location(LocationKind.Account, address)
    this.account(a)
  }

  setStorage(address: Uint8Array, slot: Uint8Array, value: bigint): void {
    this.op(WriteOpCode.SetStorage)
    this.location(LocationKind.Storage, address, slot)
    this.word(value)
  }

  clearStorage(address: Uint8Array): void {
    this.op(WriteOpCode.ClearStorage)
    this.location(LocationKind.StorageClear, address)
  }

  addBalance(address: Uint8Array, amount: bigint): void {
    this.op(WriteOpCode.AddBalance)
    this.location(LocationKind.Account, address)
    this.word(amount)
  }

  code(hash: Uint8Array, code: Uint8Array): void {
    this.op(WriteOpCode.Code)
    const at = this.reserve(36 + code.length)
    this.buf.set(hash, at)
    this.dv.setUint32(at + 32, code.length, true)
    this.buf.set(code, at + 36)
  }

  /** Base-state record: location then value (account value or 32-byte storage word). */
  baseAccount(address: Uint8Array, a: AccountFields | undefined): void {
    this.location(LocationKind.Account, address)
    this.account(a)
  }

  baseStorage(address: Uint8Array, slot: Uint8Array, value: bigint): void {
    this.location(LocationKind.Storage, address, slot)
    this.word(value)
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.len)
  }
}

/** One record of a native snapshot. */
export type SnapshotRecord =
  | { kind: typeof LocationKind.Account; address: Uint8Array; account: AccountFields | undefined }
  | { kind: typeof LocationKind.Account; address: Uint8Array; addToBase: bigint }
  | { kind: typeof LocationKind.Storage; address: Uint8Array; slot: Uint8Array; value: bigint }
  | { kind: typeof LocationKind.StorageClear; address: Uint8Array }

export function decodeSnapshot(bytes: Uint8Array): SnapshotRecord[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: SnapshotRecord[] = []
  let at = 0
  while (at < bytes.length) {
    const kind = bytes[at] as LocationKind
    const address = bytes.slice(at + 1, at + 21)
    const slot = bytes.slice(at + 21, at + 53)
    const tag = bytes[at + LOCATION_LEN] as SnapshotTag
    at += LOCATION_LEN + 1
    switch (tag) {
      case SnapshotTag.Account: {
        const exists = bytes[at] === 1
        const account = exists
          ? {
              nonce: dv.getBigUint64(at + 1, true),
              balance: readU256(dv, at + 9),
              codeHash: bytes.slice(at + 41, at + 73),
              storageRoot: bytes.slice(at + 73, at + 105),
            }
          : undefined
        out.push({ kind: LocationKind.Account, address, account })
        at += ACCOUNT_LEN
        break
      }
      case SnapshotTag.Storage:
        out.push({ kind: LocationKind.Storage, address, slot, value: readU256(dv, at) })
        at += 32
        break
      case SnapshotTag.Cleared:
        out.push({ kind: LocationKind.StorageClear, address })
        break
      case SnapshotTag.AddToBase:
        out.push({ kind: LocationKind.Account, address, addToBase: readU256(dv, at) })
        at += 32
        break
      default:
        throw new Error(`malformed snapshot tag ${tag}`)
    }
  }
  return out
}
