/** Messages between the pool (main thread) and its workers. */
import type { SerializedError } from '../errors.ts'

/** What a committed (or the latest) incarnation of a transaction produced. */
export type Outcome =
  | { tx: number; incarnation: number; micros: number; ok: true; value: unknown }
  | { tx: number; incarnation: number; micros: number; ok: false; error: SerializedError }

/**
 * The outcomes of one worker, packed for a cheap transfer: outcomes whose value is a
 * Uint8Array travel as slices of one transferred buffer, the rest by structured clone.
 */
export interface PackedOutcomes {
  tx: Uint32Array
  incarnation: Uint32Array
  /** How long the incarnation ran, microseconds. */
  micros: Float64Array
  /** Per outcome: 0 failed (see `other`), 1 value in `bytes`, 2 value in `other`. */
  kind: Uint8Array
  /** End offset in `bytes` of each outcome of kind 1. */
  end: Uint32Array
  bytes: ArrayBuffer
  /** Values of kind 2 and errors of kind 0, in order. */
  other: unknown[]
}

export type ToWorker =
  /**
   * `payload` is the v8 serialization of the block's payload, shared by all workers;
   * `worker` is this worker's number in the block (it picks its shards).
   */
  | { type: 'block'; blockId: number; worker: number; payload: SharedArrayBuffer }
  | { type: 'reply'; requestId: number; value?: unknown; error?: SerializedError }
  | { type: 'close' }

export type FromWorker =
  | { type: 'ready' }
  | { type: 'init-failed'; error: SerializedError }
  | { type: 'request'; requestId: number; blockId: number; request: unknown }
  | { type: 'block-done'; blockId: number; outcomes: PackedOutcomes; fatal?: SerializedError; busyMs: number; heapUsedBytes: number }
  | { type: 'closed' }

/** Data a worker starts with. */
export interface WorkerInit {
  runnerModule: string
  runnerOptions: unknown
  /** The worker's own module (the shim imports it when running from sources). */
  entry: string
}
