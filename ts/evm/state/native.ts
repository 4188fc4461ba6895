/**
 * The worker's state manager: one incarnation's view of the native multi-version memory.
 * Reads go to the native memory (recorded there for validation) and are cached for the
 * incarnation; writes stay here until `flush` hands them over as one write set.
 *
 * Two things keep transactions from conflicting for nothing (DESIGN.md §2):
 * - No-op writes are dropped: ethereumjs rewrites the callee account on every call.
 * - The coinbase fee is a balance credit (a commutative delta), unless the transaction really
 *   reads the coinbase. After the EVM call returns, `runTx` reads the coinbase only to add the
 *   fee and, later, to check whether it became empty; both are served from a placeholder
 *   account whose balance is the pending credit, and the real account is read ("materialized")
 *   only when the answer would depend on it.
 * - The recipient of a plain value transfer (the outermost call pays into an account without
 *   code) is read as a credit (`getAccountForCredit`): the native memory then validates only
 *   the account's nonce, code hash and storage root (and whether the credit overflows), and
 *   `flush` writes the payment as a balance delta. Transactions that pay into one deposit
 *   address no longer conflict with each other.
 */
import { Account, type Address } from '@ethereumjs/util'

import type { NativeView } from '../../pool/view.ts'
import { NotLoadedSignal } from '../../pool/view.ts'
import { EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT, byteKey, bytesEqual, bytesToBigInt, keyBytes } from '../bytes.ts'
import { JournaledStateManager, fieldsEqual, type Fields, type Keccak } from './journaled.ts'

/** Asks the main thread for what the native memory does not hold. */
export interface StateLoader {
  /** Loads the base value of an encoded location into the native block. */
  base(location: Uint8Array): Promise<void>
  /** Code by hash (the main thread puts it into the native block's code store). */
  code(address: Uint8Array, codeHash: Uint8Array): Promise<void>
}

/** Phase of `runTx`, set by the runner around the EVM call. */
export type TxPhase = 'setup' | 'call' | 'fee'

export class NativeStateManager extends JournaledStateManager {
  private view: NativeView | undefined
  /** Values as first read from the native memory, for no-op detection. */
  private readonly accountReads = new Map<string, Fields>()
  /** Addresses whose storage a wipe must reach in the native memory. */
  private readonly wipes = new Set<string>()
  /** Code by hash, kept across incarnations and blocks (content-addressed, immutable). */
  private readonly codeCache = new Map<string, Uint8Array>()

  /** Accounts the native memory recorded credit reads of in this incarnation. */
  private readonly credited = new Set<string>()
  /** The account `getAccountForCredit` is reading, while it does. */
  private creditFor: string | undefined

  private coinbaseKey = ''
  /** Pending fee credit to the coinbase while it is not materialized. */
  private coinbaseCredit = 0n
  phase: TxPhase = 'setup'

  constructor(
    keccak: Keccak,
    private readonly loader: StateLoader,
  ) {
    super(keccak)
  }

  /** Starts an incarnation against `view`; `coinbase` is the fee recipient. */
  begin(view: NativeView, coinbase: Uint8Array): void {
    this.clearLayer()
    this.accountReads.clear()
    this.wipes.clear()
    if (this.credited.size > 0) this.credited.clear()
    this.view = view
    this.coinbaseKey = byteKey(coinbase)
    this.coinbaseCredit = 0n
    this.phase = 'setup'
    if (this.codeCache.size > 4096) this.codeCache.clear()
  }

  private get v(): NativeView {
    if (this.view === undefined) throw new Error('native state manager used outside an incarnation')
    return this.view
  }

  /**
   * Runs a native read. Synchronous when the value is there (the common case: no promise, no
   * microtask); only a base value that is not loaded yet goes through the main thread.
   */
  private native<T>(read: () => T): T | Promise<T> {
    try {
      return read()
    } catch (e) {
      if (!(e instanceof NotLoadedSignal)) throw e
      return this.nativeAfterLoad(read, e.location)
    }
  }

  private async nativeAfterLoad<T>(read: () => T, location: Uint8Array): Promise<T> {
    for (;;) {
      await this.loader.base(location)
      try {
        return read()
      } catch (e) {
        if (!(e instanceof NotLoadedSignal)) throw e
        location = e.location
      }
    }
  }

  protected loadAccount(address: Uint8Array, key: string): Fields | Promise<Fields> {
    const f = this.native(() => this.readAccount(address, key))
    if (f instanceof Promise) return f.then((x) => (this.accountReads.set(key, x), x))
    this.accountReads.set(key, f)
    return f
  }

  /** A native read of an account: a credit read for the account `getAccountForCredit` asks for. */
  private readAccount(address: Uint8Array, key: string): Fields {
    if (key !== this.creditFor) return this.v.readAccount(address) ?? null
    const { fields, credited } = this.v.readAccountForCredit(address)
    if (credited) this.credited.add(key)
    return fields ?? null
  }

  protected loadStorage(address: Uint8Array, slot: Uint8Array): Uint8Array | Promise<Uint8Array> {
    return this.native(() => this.v.readStorageBytes(address, slot))
  }

  protected async loadCode(address: Uint8Array, codeHash: Uint8Array): Promise<Uint8Array> {
    const key = byteKey(codeHash)
    const cached = this.codeCache.get(key)
    if (cached !== undefined) return cached
    let code = this.v.handle.code(codeHash)
    if (code === null) {
      await this.loader.code(address, codeHash)
      code = this.v.handle.code(codeHash)
      if (code === null) throw new Error(`code ${Buffer.from(codeHash).toString('hex')} is not available`)
    }
    this.codeCache.set(key, code)
    return code
  }

  /** True while the coinbase may still be served from the placeholder. */
  private lazyCoinbase(key: string): boolean {
    return key === this.coinbaseKey && this.phase === 'fee' && !this.accounts.has(key)
  }

  /** Reads the real coinbase account; its pending credit is folded in. */
  private async materializeCoinbase(address: Uint8Array): Promise<void> {
    const credit = this.coinbaseCredit
    const real = await this.fields(address, this.coinbaseKey)
    if (credit !== 0n) {
      this.setCredit(0n)
      this.setFields(this.coinbaseKey, {
        nonce: real?.nonce ?? 0n,
        balance: (real?.balance ?? 0n) + credit,
        codeHash: real?.codeHash ?? EMPTY_CODE_HASH,
        storageRoot: real?.storageRoot ?? EMPTY_STORAGE_ROOT,
      })
    }
  }

  private setCredit(next: bigint): void {
    const prev = this.coinbaseCredit
    this.journalCustom(() => (this.coinbaseCredit = prev))
    this.coinbaseCredit = next
  }

  override async getAccount(address: Address): Promise<Account | undefined> {
    // The placeholder: the account as if it had been empty, plus the pending credit. `runTx`
    // only adds the fee to its balance and later asks `isEmpty()`, which a positive credit
    // answers correctly (a zero credit is materialized in `putAccount`).
    if (this.lazyCoinbase(byteKey(address.bytes))) return new Account(0n, this.coinbaseCredit, EMPTY_STORAGE_ROOT, EMPTY_CODE_HASH)
    return super.getAccount(address)
  }

  /**
   * The account of the recipient of the transaction's outermost call, which only pays into it
   * (the EVM's `_executeCall` asks, see `ts/evm/interpreter.ts`). Where this incarnation has
   * not read it yet and it is not the coinbase, `loadAccount` reads it as a credit; the native
   * memory records a credit read only if the account has no code (otherwise code runs, and may
   * read the balance).
   */
  async getAccountForCredit(address: Address): Promise<Account | undefined> {
    const key = byteKey(address.bytes)
    if (key === this.coinbaseKey) return this.getAccount(address)
    this.creditFor = key
    try {
      return await this.getAccount(address)
    } finally {
      this.creditFor = undefined
    }
  }

  override async putAccount(address: Address, account?: Account): Promise<void> {
    const key = byteKey(address.bytes)
    if (!this.lazyCoinbase(key)) return super.putAccount(address, account)
    if (
      account !== undefined &&
      account.nonce === 0n &&
      bytesEqual(account.codeHash, EMPTY_CODE_HASH) &&
      bytesEqual(account.storageRoot, EMPTY_STORAGE_ROOT) &&
      account.balance > this.coinbaseCredit
    ) {
      this.setCredit(account.balance)
      return
    }
    // Anything else depends on the real account: read it, then apply the change made to the
    // placeholder on top of it (relative for nonce and balance, absolute for the rest).
    const credit = this.coinbaseCredit
    await this.materializeCoinbase(address.bytes)
    if (account === undefined) return super.putAccount(address, undefined)
    const real = this.accounts.get(key) ?? null
    this.setFields(key, {
      nonce: (real?.nonce ?? 0n) + account.nonce,
      balance: (real?.balance ?? 0n) - credit + account.balance,
      codeHash: bytesEqual(account.codeHash, EMPTY_CODE_HASH) ? (real?.codeHash ?? EMPTY_CODE_HASH) : account.codeHash,
      storageRoot: bytesEqual(account.storageRoot, EMPTY_STORAGE_ROOT) ? (real?.storageRoot ?? EMPTY_STORAGE_ROOT) : account.storageRoot,
    })
  }

  override async deleteAccount(address: Address): Promise<void> {
    const key = byteKey(address.bytes)
    if (this.lazyCoinbase(key)) await this.materializeCoinbase(address.bytes)
    this.uncredit(key)
    const f = await this.fields(address.bytes, key)
    if (this.mayHaveStorage(key, f)) this.markWipe(key)
    return super.deleteAccount(address)
  }

  override async clearStorage(address: Address): Promise<void> {
    const key = byteKey(address.bytes)
    if (this.lazyCoinbase(key)) await this.materializeCoinbase(address.bytes)
    this.uncredit(key)
    const f = await this.fields(address.bytes, key)
    if (this.mayHaveStorage(key, f)) this.markWipe(key)
    return super.clearStorage(address)
  }

  override async getCode(address: Address): Promise<Uint8Array> {
    if (this.lazyCoinbase(byteKey(address.bytes))) await this.materializeCoinbase(address.bytes)
    return super.getCode(address)
  }

  override async getStorage(address: Address, key: Uint8Array): Promise<Uint8Array> {
    if (this.lazyCoinbase(byteKey(address.bytes))) await this.materializeCoinbase(address.bytes)
    return super.getStorage(address, key)
  }

  /** A credit read of `key` becomes a plain read (its account is about to change otherwise). */
  private uncredit(key: string): void {
    // Not journaled: a plain read stays valid whatever is reverted later.
    if (this.credited.delete(key)) this.v.upgradeCredit(keyBytes(key))
  }

  /**
   * Whether wiping this address's storage can change anything in the native memory. Only an
   * account that existed when the incarnation first read it, with code or storage, can have
   * storage there (deleting an account wipes its storage, and only code writes storage).
   * Storage this incarnation wrote itself is simply dropped with the wipe.
   */
  private mayHaveStorage(key: string, current: Fields): boolean {
    const below = this.accountReads.has(key) ? this.accountReads.get(key)! : current
    return below !== null && (!bytesEqual(below.codeHash, EMPTY_CODE_HASH) || !bytesEqual(below.storageRoot, EMPTY_STORAGE_ROOT))
  }

  private markWipe(key: string): void {
    if (this.wipes.has(key)) return
    this.journalCustom(() => this.wipes.delete(key))
    this.wipes.add(key)
  }

  /** Hands this incarnation's writes to `view.writes`: wipes, accounts, slots, code, credit. */
  flush(): void {
    const w = this.v.writes
    for (const key of this.wipes) {
      const st = this.storage.get(key)
      // A wipe undone by a revert leaves storage that is not cleared: nothing to send.
      if (st?.cleared) w.clearStorage(keyBytes(key))
    }
    for (const key of this.dirty) {
      const now = this.accounts.get(key)!
      if (this.accountReads.has(key) && fieldsEqual(this.accountReads.get(key), now)) continue
      if (this.credited.has(key)) {
        const credit = creditBetween(this.accountReads.get(key)!, now)
        if (credit !== undefined) {
          w.addBalance(keyBytes(key), credit)
          continue
        }
        // More than a credit changed: the write depends on the whole account as read.
        this.v.upgradeCredit(keyBytes(key))
      }
      w.setAccount(keyBytes(key), now ?? undefined)
    }
    for (const [key, st] of this.storage) {
      if (st.slots.size === 0) continue
      const address = keyBytes(key)
      for (const [slotKey, value] of st.slots) {
        if (st.cleared) {
          // After a wipe only non-zero values change anything.
          if (value.length === 0) continue
        } else {
          const read = this.storageReads.get(key + slotKey)
          if (read !== undefined && bytesEqual(read, value)) continue
        }
        w.setStorage(address, keyBytes(slotKey), bytesToBigInt(value))
      }
    }
    for (const [hashKey, code] of this.codes) {
      this.codeCache.set(hashKey, code)
      w.code(keyBytes(hashKey), code)
    }
    if (this.coinbaseCredit > 0n) w.addBalance(keyBytes(this.coinbaseKey), this.coinbaseCredit)
  }

  /** Forgets the incarnation (after it was abandoned midway). */
  abandon(): void {
    this.clearLayer()
    this.accountReads.clear()
    this.wipes.clear()
    this.credited.clear()
    this.coinbaseCredit = 0n
    this.phase = 'setup'
  }
}

/**
 * The balance credit that turns `read` into `now`, if that is all that changed (an absent
 * account counts as the empty one, which a credit creates); undefined otherwise.
 */
export function creditBetween(read: Fields, now: Fields): bigint | undefined {
  if (now === null) return undefined
  const nonce = read?.nonce ?? 0n
  const balance = read?.balance ?? 0n
  const codeHash = read?.codeHash ?? EMPTY_CODE_HASH
  const storageRoot = read?.storageRoot ?? EMPTY_STORAGE_ROOT
  if (now.nonce !== nonce || !bytesEqual(now.codeHash, codeHash) || !bytesEqual(now.storageRoot, storageRoot)) return undefined
  return now.balance > balance ? now.balance - balance : undefined
}
