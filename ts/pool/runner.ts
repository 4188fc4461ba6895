/**
 * The worker-side contract: a runner executes one transaction incarnation against a
 * `NativeView`. The pool's worker loop pulls transactions from the native scheduler and calls
 * the runner; it knows nothing about what a transaction is.
 */
import type { NativeView } from './view.ts'

export interface WorkerServices {
  /** Asks the main thread to load the base value of an encoded location; resolves once loaded. */
  load(location: Uint8Array): Promise<void>
}

export interface TxRunner {
  /** Called on every participating worker before the block's first transaction. */
  beginBlock(payload: unknown): void | Promise<void>
  /**
   * Executes transaction `tx`. Writes go into `view.writes`. Returns a structured-cloneable
   * output; throwing fails the transaction (its writes are discarded). Control signals from
   * the view must propagate.
   */
  execute(tx: number, view: NativeView): unknown
  /** The current incarnation was abandoned midway (a control signal): drop its state. */
  abandon?(): void
  endBlock?(): void
  close?(): void | Promise<void>
}

/** A runner module exports `createRunner`. */
export interface RunnerModule {
  createRunner(options: unknown, services: WorkerServices): TxRunner | Promise<TxRunner>
}
