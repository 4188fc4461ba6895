/**
 * The main thread's state for one block: every change since the block started, over a base
 * source. It runs the block-level steps, the sequential strategy and the pure-JS fallback,
 * receives the parallel phase's final writes, and yields the block's state diff.
 */
import type { StateManagerInterface } from '@ethereumjs/common'
import { Account, Address } from '@ethereumjs/util'

import { LocationKind, type SnapshotRecord } from '../../codec.ts'
import { EMPTY_BYTES, EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT, bigIntToBytes, byteKey, bytesEqual, hexBytes, keyBytes, toHex } from '../bytes.ts'
import { JournaledStateManager, fieldsEqual, type Fields, type Keccak } from './journaled.ts'
import type { BaseSource } from './sources.ts'

/** An account in a state diff; `null` in the diff means the account was deleted. */
export interface AccountDiff {
  nonce: bigint
  balance: bigint
  codeHash: Uint8Array
}

/** Storage changes of one address. */
export interface StorageDiff {
  /** All storage before the block was wiped (SELFDESTRUCT, re-creation). */
  cleared: boolean
  /** Slot (32-byte hex) → value. Zero means deleted. */
  slots: Map<`0x${string}`, bigint>
}

/** What a block changed. Keys are 0x-hex. */
export interface StateDiff {
  accounts: Map<`0x${string}`, AccountDiff | null>
  storage: Map<`0x${string}`, StorageDiff>
  /** Code deployed by the block, by code hash. */
  code: Map<`0x${string}`, Uint8Array>
}

export class OverlayStateManager extends JournaledStateManager {
  private source: BaseSource | undefined

  constructor(keccak: Keccak) {
    super(keccak)
  }

  /** Starts a new block over `source`, forgetting every change. */
  reset(source: BaseSource): void {
    this.source = source
    this.clearLayer()
  }

  get base(): BaseSource {
    if (this.source === undefined) throw new Error('overlay used before reset()')
    return this.source
  }

  protected loadAccount(address: Uint8Array): Fields | Promise<Fields> {
    return this.base.account(address)
  }

  protected loadStorage(address: Uint8Array, slot: Uint8Array): Uint8Array | Promise<Uint8Array> {
    return this.base.storage(address, slot)
  }

  protected loadCode(address: Uint8Array, codeHash: Uint8Array): Uint8Array | Promise<Uint8Array> {
    return this.base.code(address, codeHash)
  }

  /**
   * Applies the final writes of a parallel phase. `code` resolves code hashes the phase
   * deployed. Not journaled: it happens between transactions.
   */
  async applyNative(records: SnapshotRecord[], code: (hash: Uint8Array) => Uint8Array | null): Promise<void> {
    // Wipes first: a record list may hold an address's wipe after slots written later.
    for (const r of records) {
      if (r.kind === LocationKind.StorageClear) this.storage.set(byteKey(r.address), { cleared: true, slots: new Map() })
    }
    for (const r of records) {
      const key = byteKey(r.address)
      if (r.kind === LocationKind.Account) {
        let next: Fields
        if ('addToBase' in r) {
          const below = await this.base.account(r.address)
          next = below === null
            ? { nonce: 0n, balance: r.addToBase, codeHash: EMPTY_CODE_HASH, storageRoot: EMPTY_STORAGE_ROOT }
            : { ...below, balance: below.balance + r.addToBase }
        } else {
          next = r.account ?? null
        }
        if (next !== null && !bytesEqual(next.codeHash, EMPTY_CODE_HASH) && !this.codes.has(byteKey(next.codeHash))) {
          const c = code(next.codeHash)
          if (c !== null) this.codes.set(byteKey(next.codeHash), c)
        }
        this.accounts.set(key, next)
        this.dirty.add(key)
      } else if (r.kind === LocationKind.Storage) {
        let written = this.storage.get(key)
        if (written === undefined) {
          written = { cleared: false, slots: new Map() }
          this.storage.set(key, written)
        }
        written.slots.set(byteKey(r.slot), bigIntToBytes(r.value))
      }
    }
  }

  /** The changes of this block, without writes that left a value as it was. */
  async diff(): Promise<StateDiff> {
    const base = this.base
    const accounts = new Map<`0x${string}`, AccountDiff | null>()
    for (const key of this.dirty) {
      const f = this.accounts.get(key)!
      const address = keyBytes(key)
      const below = base.account(address)
      if (fieldsEqual(f, below instanceof Promise ? await below : below)) continue
      accounts.set(toHex(address), f === null ? null : { nonce: f.nonce, balance: f.balance, codeHash: f.codeHash })
    }
    const storage = new Map<`0x${string}`, StorageDiff>()
    for (const [key, written] of this.storage) {
      const address = keyBytes(key)
      // A wipe matters only if the account exists in the end (else deleting it wiped all).
      const cleared = written.cleared && (await this.finalFields(key, address)) !== null
      const slots = new Map<`0x${string}`, bigint>()
      for (const [slotKey, value] of written.slots) {
        const slot = keyBytes(slotKey)
        if (cleared) {
          if (value.length === 0) continue
        } else {
          const below = base.storage(address, slot)
          if (bytesEqual(value, below instanceof Promise ? await below : below)) continue
        }
        slots.set(toHex(slot), bytesToBig(value))
      }
      if (cleared || slots.size > 0) storage.set(toHex(address), { cleared, slots })
    }
    const code = new Map<`0x${string}`, Uint8Array>()
    for (const [hash, bytes] of this.codes) code.set(toHex(keyBytes(hash)), bytes)
    return { accounts, storage, code }
  }

  /** An account as the block leaves it. */
  private async finalFields(key: string, address: Uint8Array): Promise<Fields> {
    const f = this.accounts.get(key)
    return f !== undefined ? f : this.base.account(address)
  }

  /**
   * Writes this block's changes into `sm` with field-level operations, so that `sm` keeps its
   * own storage roots: wipes, then accounts (with their code), then slots.
   */
  async applyTo(sm: StateManagerInterface): Promise<void> {
    const diff = await this.diff()
    for (const [hex, st] of diff.storage) {
      // `cleared` is only reported for accounts that exist at the end.
      if (st.cleared) await sm.clearStorage(new Address(hexBytes(hex)))
    }
    for (const [hex, f] of diff.accounts) await this.writeAccount(sm, hexBytes(hex), f, diff.code)
    for (const [hex, st] of diff.storage) {
      if (diff.accounts.get(hex) === null) continue
      const address = new Address(hexBytes(hex))
      for (const [slot, value] of st.slots) await sm.putStorage(address, hexBytes(slot), bigIntToBytes(value))
    }
  }

  private async writeAccount(sm: StateManagerInterface, address: Uint8Array, f: AccountDiff | null, code?: Map<`0x${string}`, Uint8Array>): Promise<void> {
    const a = new Address(address)
    if (f === null) return sm.deleteAccount(a)
    const existing = await sm.getAccount(a)
    if (existing === undefined) await sm.putAccount(a, new Account(f.nonce, f.balance))
    else await sm.modifyAccountFields(a, { nonce: f.nonce, balance: f.balance })
    if (!bytesEqual(existing?.codeHash ?? EMPTY_CODE_HASH, f.codeHash)) {
      const bytes = bytesEqual(f.codeHash, EMPTY_CODE_HASH)
        ? EMPTY_BYTES
        : (code?.get(toHex(f.codeHash)) ?? this.codes.get(byteKey(f.codeHash)) ?? (await this.base.code(address, f.codeHash)))
      await sm.putCode(a, bytes)
    }
  }

  /** Starts recording which keys change, for `applyChangesSince`. */
  startTracking(): void {
    this.track = { accounts: new Set(), wipes: new Set(), slots: new Map() }
  }

  /**
   * Writes into `sm` the current values of everything changed since tracking started or the
   * last call (pre-Byzantium receipts need the state root after each transaction).
   */
  async applyChangesSince(sm: StateManagerInterface): Promise<void> {
    const t = this.track
    if (t === undefined) throw new Error('applyChangesSince() without startTracking()')
    this.startTracking()
    for (const key of t.wipes) {
      const address = new Address(keyBytes(key))
      if ((await this.finalFields(key, address.bytes)) === null) await sm.deleteAccount(address)
      else await sm.clearStorage(address)
    }
    for (const key of t.accounts) {
      const f = this.accounts.get(key)!
      await this.writeAccount(sm, keyBytes(key), f === null ? null : { nonce: f.nonce, balance: f.balance, codeHash: f.codeHash })
    }
    for (const [key, slots] of t.slots) {
      if (this.accounts.get(key) === null) continue
      const written = this.storage.get(key)
      const address = new Address(keyBytes(key))
      for (const slot of slots) {
        const v = written?.slots.get(slot) ?? (written?.cleared ? EMPTY_BYTES : undefined)
        if (v !== undefined) await sm.putStorage(address, keyBytes(slot), v)
      }
    }
  }

  /** Current fields of an account (loading it if needed), for block-level code. */
  accountFields(address: Uint8Array): Promise<Fields> {
    return this.fields(address, byteKey(address))
  }

  /** Every write of this block as base records for a native block (accounts and slots). */
  forEachWrite(visit: (w: { kind: 'account'; address: Uint8Array; fields: Fields } | { kind: 'slot'; address: Uint8Array; slot: Uint8Array; value: Uint8Array } | { kind: 'wipe'; address: Uint8Array }) => void): void {
    for (const key of this.dirty) visit({ kind: 'account', address: keyBytes(key), fields: this.accounts.get(key)! })
    for (const [key, written] of this.storage) {
      const address = keyBytes(key)
      if (written.cleared) visit({ kind: 'wipe', address })
      for (const [slot, value] of written.slots) visit({ kind: 'slot', address, slot: keyBytes(slot), value })
    }
  }
}


function bytesToBig(b: Uint8Array): bigint {
  return b.length === 0 ? 0n : BigInt(toHex(b))
}
