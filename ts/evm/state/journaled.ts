/**
 * A `StateManagerInterface` that keeps every change in memory, with an undo log for
 * checkpoints, over values loaded on demand from something below it. It mirrors the
 * observable semantics of ethereumjs's `MerkleStateManager` (fresh `Account` objects, minimal
 * storage values, account creation by `putCode`/`clearStorage`, storage wiped with a deleted
 * account, `originalStorageCache` = the first value seen in the transaction) without any trie.
 *
 * Two subclasses: the main-thread overlay (below it: a prestate or the caller's state
 * manager) and the worker adapter (below it: the native multi-version memory).
 */
import type { AccountFields as EjsAccountFields, StateManagerInterface } from '@ethereumjs/common'
import { Account, type Address } from '@ethereumjs/util'

import type { AccountFields } from '../../codec.ts'
import { EMPTY_BYTES, EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT, byteKey, bytesEqual, unpad } from '../bytes.ts'
import { markCode } from '../jumpdest.ts'

/** An account's fields, or `null` when it does not exist. */
export type Fields = AccountFields | null

/** Storage written in this layer for one address. */
export interface AddressStorage {
  /** All storage below was wiped (the account was deleted or re-created). */
  cleared: boolean
  /** Written slots: slot key → minimal big-endian value. */
  slots: Map<string, Uint8Array>
}

type Undo =
  | { kind: 'account'; key: string; known: boolean; prev: Fields | undefined; dirty: boolean }
  | { kind: 'storage'; key: string; prev: AddressStorage | undefined }
  | { kind: 'slot'; storage: AddressStorage; slot: string; prev: Uint8Array | undefined }
  | { kind: 'custom'; undo: () => void }

export type Keccak = (data: Uint8Array) => Uint8Array

export abstract class JournaledStateManager implements StateManagerInterface {
  /** Current value of every account this layer knows, read or written. */
  protected readonly accounts = new Map<string, Fields>()
  /** Keys of accounts written in this layer. */
  protected readonly dirty = new Set<string>()
  /** Writes and wipes of storage, by address key. */
  protected readonly storage = new Map<string, AddressStorage>()
  /** Storage values as loaded from below, by address key + slot key. */
  protected readonly storageReads = new Map<string, Uint8Array>()
  /** Code written in this layer, by code-hash key. */
  protected readonly codes = new Map<string, Uint8Array>()
  private undo: Undo[] = []
  private marks: number[] = []
  private readonly originals = new Map<string, Uint8Array>()

  readonly originalStorageCache = {
    get: (address: Address, key: Uint8Array): Promise<Uint8Array> => this.originalStorage(address, key),
    clear: (): void => this.originals.clear(),
  }

  constructor(protected readonly keccak: Keccak) {}

  /** The account below this layer (`null`: absent). */
  protected abstract loadAccount(address: Uint8Array, key: string): Fields | Promise<Fields>
  /** A storage value below this layer (minimal bytes). */
  protected abstract loadStorage(address: Uint8Array, slot: Uint8Array): Uint8Array | Promise<Uint8Array>
  /** Code below this layer, by the hash an account points to. */
  protected abstract loadCode(address: Uint8Array, codeHash: Uint8Array): Uint8Array | Promise<Uint8Array>

  /** Drops everything: the next transaction starts from the layer below. */
  protected clearLayer(): void {
    // Per incarnation on workers: skip what is already empty.
    if (this.accounts.size > 0) this.accounts.clear()
    if (this.dirty.size > 0) this.dirty.clear()
    if (this.storage.size > 0) this.storage.clear()
    if (this.storageReads.size > 0) this.storageReads.clear()
    if (this.codes.size > 0) this.codes.clear()
    if (this.originals.size > 0) this.originals.clear()
    this.undo.length = 0
    this.marks.length = 0
    this.track = undefined
  }

  protected journal(entry: Undo): void {
    if (this.marks.length > 0) this.undo.push(entry)
  }

  /** Current fields of an account, loading it if this layer does not know it. */
  protected async fields(address: Uint8Array, key: string): Promise<Fields> {
    const known = this.accounts.get(key)
    if (known !== undefined) return known
    const pending = this.loadAccount(address, key)
    const loaded = pending instanceof Promise ? await pending : pending
    // Another await may have loaded it meanwhile; the first value wins.
    const again = this.accounts.get(key)
    if (again !== undefined) return again
    this.accounts.set(key, loaded)
    return loaded
  }

  protected setFields(key: string, next: Fields): void {
    this.journal({ kind: 'account', key, known: this.accounts.has(key), prev: this.accounts.get(key), dirty: this.dirty.has(key) })
    this.accounts.set(key, next)
    this.dirty.add(key)
    this.track?.accounts.add(key)
  }

  /** Replaces the storage of an address by an empty, wiped one. */
  protected wipeStorage(key: string): void {
    this.journal({ kind: 'storage', key, prev: this.storage.get(key) })
    this.storage.set(key, { cleared: true, slots: new Map() })
    this.track?.wipes.add(key)
  }

  /** When set, records which keys change (see `OverlayStateManager.applyChangesSince`). */
  protected track: { accounts: Set<string>; wipes: Set<string>; slots: Map<string, Set<string>> } | undefined

  async getAccount(address: Address): Promise<Account | undefined> {
    const f = await this.fields(address.bytes, byteKey(address.bytes))
    return f === null ? undefined : new Account(f.nonce, f.balance, f.storageRoot, f.codeHash)
  }

  async putAccount(address: Address, account?: Account): Promise<void> {
    const key = byteKey(address.bytes)
    if (account === undefined) {
      this.setFields(key, null)
      return
    }
    this.setFields(key, {
      nonce: account.nonce,
      balance: account.balance,
      codeHash: account.codeHash,
      storageRoot: account.storageRoot,
    })
  }

  async deleteAccount(address: Address): Promise<void> {
    const key = byteKey(address.bytes)
    this.setFields(key, null)
    this.wipeStorage(key)
  }

  async modifyAccountFields(address: Address, accountFields: EjsAccountFields): Promise<void> {
    const account = (await this.getAccount(address)) ?? new Account()
    if (accountFields.nonce !== undefined) account.nonce = accountFields.nonce
    if (accountFields.balance !== undefined) account.balance = accountFields.balance
    if (accountFields.storageRoot !== undefined) account.storageRoot = accountFields.storageRoot
    if (accountFields.codeHash !== undefined) account.codeHash = accountFields.codeHash
    await this.putAccount(address, account)
  }

  async putCode(address: Address, value: Uint8Array): Promise<void> {
    const codeHash = this.keccak(value)
    this.codes.set(byteKey(codeHash), value)
    await this.modifyAccountFields(address, { codeHash })
  }

  async getCode(address: Address): Promise<Uint8Array> {
    const f = await this.fields(address.bytes, byteKey(address.bytes))
    if (f === null || bytesEqual(f.codeHash, EMPTY_CODE_HASH)) return EMPTY_BYTES
    return markCode(this.codes.get(byteKey(f.codeHash)) ?? (await this.loadCode(address.bytes, f.codeHash)))
  }

  async getCodeSize(address: Address): Promise<number> {
    return (await this.getCode(address)).length
  }

  async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    if (key.length !== 32) throw new Error('Storage key must be 32 bytes long')
    const addressKey = byteKey(address.bytes)
    const slotKey = byteKey(key)
    const written = this.storage.get(addressKey)
    if (written !== undefined) {
      const v = written.slots.get(slotKey)
      if (v !== undefined) return v
      if (written.cleared) return EMPTY_BYTES
    }
    const readKey = addressKey + slotKey
    const cached = this.storageReads.get(readKey)
    if (cached !== undefined) return cached
    const pending = this.loadStorage(address.bytes, key)
    const loaded = pending instanceof Promise ? await pending : pending
    this.storageReads.set(readKey, loaded)
    return loaded
  }

  async putStorage(address: Address, key: Uint8Array, value: Uint8Array): Promise<void> {
    if (key.length !== 32) throw new Error('Storage key must be 32 bytes long')
    if (value.length > 32) throw new Error('Storage value cannot be longer than 32 bytes')
    const addressKey = byteKey(address.bytes)
    let written = this.storage.get(addressKey)
    if (written === undefined) {
      written = { cleared: false, slots: new Map() }
      this.journal({ kind: 'storage', key: addressKey, prev: undefined })
      this.storage.set(addressKey, written)
    }
    const slotKey = byteKey(key)
    this.journal({ kind: 'slot', storage: written, slot: slotKey, prev: written.slots.get(slotKey) })
    written.slots.set(slotKey, unpad(value))
    if (this.track !== undefined) {
      let slots = this.track.slots.get(addressKey)
      if (slots === undefined) this.track.slots.set(addressKey, (slots = new Set()))
      slots.add(slotKey)
    }
  }

  async clearStorage(address: Address): Promise<void> {
    // As MerkleStateManager: the account is created if absent and its storage root emptied.
    const account = (await this.getAccount(address)) ?? new Account()
    account.storageRoot = EMPTY_STORAGE_ROOT
    await this.putAccount(address, account)
    this.wipeStorage(byteKey(address.bytes))
  }

  private async originalStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    const k = byteKey(address.bytes) + byteKey(key)
    const cached = this.originals.get(k)
    if (cached !== undefined) return cached
    // As ethereumjs's OriginalStorageCache: the first value seen in the transaction. SSTORE
    // asks for it before it writes the slot.
    const v = await this.getStorage(address, key)
    this.originals.set(k, v)
    return v
  }

  async checkpoint(): Promise<void> {
    this.marks.push(this.undo.length)
  }

  async commit(): Promise<void> {
    this.marks.pop()
    if (this.marks.length === 0) this.undo.length = 0
  }

  async revert(): Promise<void> {
    const mark = this.marks.pop() ?? 0
    for (let i = this.undo.length - 1; i >= mark; i--) {
      const u = this.undo[i]
      switch (u.kind) {
        case 'account':
          if (u.known) this.accounts.set(u.key, u.prev!)
          else this.accounts.delete(u.key)
          if (!u.dirty) this.dirty.delete(u.key)
          break
        case 'storage':
          if (u.prev === undefined) this.storage.delete(u.key)
          else this.storage.set(u.key, u.prev)
          break
        case 'slot':
          if (u.prev === undefined) u.storage.slots.delete(u.slot)
          else u.storage.slots.set(u.slot, u.prev)
          break
        case 'custom':
          u.undo()
          break
      }
    }
    this.undo.length = mark
  }

  /** Inside a checkpoint, registers how to undo a change a subclass made. */
  protected journalCustom(undo: () => void): void {
    this.journal({ kind: 'custom', undo })
  }

  async getStateRoot(): Promise<Uint8Array> {
    // Only pre-Byzantium receipts ask for it (an intermediate state root per transaction),
    // and no trie exists here to compute one: see the README's limitations.
    return new Uint8Array(32)
  }

  async setStateRoot(): Promise<void> {
    throw new Error('parallel-evm state managers have no state root to set')
  }

  async hasStateRoot(): Promise<boolean> {
    return false
  }

  clearCaches(): void {}

  shallowCopy(): StateManagerInterface {
    throw new Error('parallel-evm state managers cannot be copied')
  }
}

export function fieldsEqual(a: Fields | undefined, b: Fields | undefined): boolean {
  if (a === b) return true
  if (a == null || b == null) return false
  return (
    a.nonce === b.nonce &&
    a.balance === b.balance &&
    bytesEqual(a.codeHash, b.codeHash) &&
    bytesEqual(a.storageRoot, b.storageRoot)
  )
}
