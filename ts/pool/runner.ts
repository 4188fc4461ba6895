/**
 * The worker-side contract: a runner executes one transaction incarnation against a
 * `NativeView`. The pool's worker loop pulls transactions from the native scheduler and calls
 * the runner; it knows nothing about what a transaction is.
 */
import type { NativeView } from './view.ts'

export interface WorkerServices {
  /**
   * Sends a request to the main thread's `BlockRequest.serve` for the current block and
   * resolves with its answer. The worker loop itself sends `{ kind: 'base', location }` when a
   * synchronous runner reads a base value that is not loaded.
   */
  request(request: unknown): Promise<unknown>
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
