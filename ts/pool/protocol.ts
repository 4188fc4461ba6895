/** Messages between the pool (main thread) and its workers. */
import type { SerializedError } from '../errors.ts'

/** What a committed (or the latest) incarnation of a transaction produced. */
export type Outcome =
  | { tx: number; incarnation: number; ok: true; value: unknown }
  | { tx: number; incarnation: number; ok: false; error: SerializedError }

export type ToWorker =
  | { type: 'block'; blockId: number; payload: unknown }
  | { type: 'reply'; requestId: number; value?: unknown; error?: SerializedError }
  | { type: 'close' }

export type FromWorker =
  | { type: 'ready' }
  | { type: 'init-failed'; error: SerializedError }
  | { type: 'request'; requestId: number; blockId: number; request: unknown }
  | { type: 'block-done'; blockId: number; outcomes: Outcome[]; fatal?: SerializedError; busyMs: number }
  | { type: 'closed' }

/** Data a worker starts with. */
export interface WorkerInit {
  runnerModule: string
  runnerOptions: unknown
  /** The worker's own module (the shim imports it when running from sources). */
  entry: string
}
