/**
 * A worker's window on the native multi-version memory for one incarnation: synchronous
 * reads through the addon (recorded natively for validation) and a write buffer handed over
 * when the incarnation ends.
 *
 * Three control signals end an incarnation early. They are thrown as exceptions so that they
 * unwind whatever code is running the transaction, and also remembered in `signal`: code that
 * swallows them (a `try/catch` in a transaction) cannot turn an aborted incarnation into a
 * result.
 */
import {
  ByteBuilder,
  EMPTY_CODE_HASH,
  EMPTY_STORAGE_ROOT,
  LOCATION_LEN,
  LocationKind,
  readAccountFields,
  readU256,
  writeLocation,
  type AccountFields,
} from '../codec.ts'
import type { NativeBinding } from '../native.ts'

type NativeWorker = InstanceType<NativeBinding['NativeWorker']>

/** A lower transaction's estimate is in the way: the incarnation waits for `blocker`. */
export class BlockedSignal extends Error {
  constructor(readonly blocker: number) {
    super(`blocked on transaction ${blocker}`)
  }
}

/** The base value of a location is not loaded yet; `location` holds its 53 encoded bytes. */
export class NotLoadedSignal extends Error {
  constructor(readonly location: Uint8Array) {
    super('base value not loaded')
  }
}

/** The block run was halted: abandon the incarnation. */
export class HaltedSignal extends Error {
  constructor() {
    super('block run halted')
  }
}

export type ControlSignal = BlockedSignal | NotLoadedSignal | HaltedSignal

export function isControlSignal(e: unknown): e is ControlSignal {
  return e instanceof BlockedSignal || e instanceof NotLoadedSignal || e instanceof HaltedSignal
}

const READ_NOT_LOADED = -1
const READ_HALTED = -2
/** Added to `readCredit`'s answer when it recorded a credit read. */
const READ_CREDITED = 2
const READ_BLOCKED_BASE = -16

export class NativeView {
  readonly writes = new ByteBuilder()
  /** The transaction being executed. */
  tx = -1
  incarnation = 0
  /** The first control signal thrown in this incarnation, if any. */
  signal: ControlSignal | undefined
  private readonly scratch = new Uint8Array(128)
  private readonly dv = new DataView(this.scratch.buffer)

  constructor(readonly handle: NativeWorker) {}

  begin(tx: number, incarnation: number): void {
    this.tx = tx
    this.incarnation = incarnation
    this.writes.reset()
    this.signal = undefined
  }

  private fail(signal: ControlSignal): never {
    this.signal ??= signal
    throw signal
  }

  private read(kind: LocationKind, address: Uint8Array, slot?: Uint8Array, credit = false): number {
    if (this.signal !== undefined) throw this.signal
    writeLocation(this.scratch, 0, kind, address, slot)
    const r = credit ? this.handle.readCredit(this.scratch) : this.handle.read(this.scratch)
    if (r >= 0) return r
    if (r === READ_NOT_LOADED) {
      // Not sticky: the caller may load the value and read again.
      writeLocation(this.scratch, 0, kind, address, slot)
      throw new NotLoadedSignal(this.scratch.slice(0, LOCATION_LEN))
    }
    if (r === READ_HALTED) this.fail(new HaltedSignal())
    return this.fail(new BlockedSignal(READ_BLOCKED_BASE - r))
  }

  /** The account at `address`, or `undefined` if it does not exist. */
  readAccount(address: Uint8Array): AccountFields | undefined {
    return this.read(LocationKind.Account, address) === 0 ? undefined : readAccountFields(this.scratch, this.dv, EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT)
  }

  /**
   * The account at `address` for a transaction that will only pay into it (see the native
   * `readCredit`). `credited`: the read was recorded as a credit read (the account has no
   * code), so the incarnation must write its change to this account as a balance delta, or
   * call `upgradeCredit` first.
   */
  readAccountForCredit(address: Uint8Array): { fields: AccountFields | undefined; credited: boolean } {
    const r = this.read(LocationKind.Account, address, undefined, true)
    const fields = (r & 1) === 0 ? undefined : readAccountFields(this.scratch, this.dv, EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT)
    return { fields, credited: (r & READ_CREDITED) !== 0 }
  }

  /** Turns this incarnation's credit read of `address` into a plain read of what it returned. */
  upgradeCredit(address: Uint8Array): void {
    writeLocation(this.scratch, 0, LocationKind.Account, address)
    this.handle.upgradeCredit(this.scratch)
  }

  /** A storage slot as a number. */
  readStorage(address: Uint8Array, slot: Uint8Array): bigint {
    return this.read(LocationKind.Storage, address, slot) === 0 ? 0n : readU256(this.dv, 0)
  }

  /** A storage slot as minimal big-endian bytes (empty for zero), as ethereumjs returns it. */
  readStorageBytes(address: Uint8Array, slot: Uint8Array): Uint8Array {
    if (this.read(LocationKind.Storage, address, slot) === 0) return new Uint8Array(0)
    let i = 0
    while (i < 31 && this.scratch[i] === 0) i++
    return this.scratch.slice(i, 32)
  }
}
