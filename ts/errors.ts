/**
 * Every error this package throws is a `ParallelEvmError` with a stable `code`; errors about
 * one transaction also carry its `txIndex`. A failed block leaves no partial state behind.
 */

export type ErrorCode =
  | 'INVALID_INPUT'
  | 'TRANSACTION_FAILED'
  | 'INVALID_BLOCK'
  | 'STATE_READ_FAILED'
  | 'EXECUTOR_CLOSED'
  | 'WORKER_FAILED'
  | 'NATIVE_FAILURE'

export class ParallelEvmError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** Bad arguments: nothing was executed. */
export class InvalidInputError extends ParallelEvmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_INPUT', message, options)
  }
}

/** A transaction threw (in its committed execution): the block has no result. */
export class TransactionError extends ParallelEvmError {
  readonly txIndex: number
  constructor(txIndex: number, message: string, options?: { cause?: unknown }) {
    super('TRANSACTION_FAILED', `transaction ${txIndex}: ${message}`, options)
    this.txIndex = txIndex
  }
}

/** The block is invalid (a transaction cannot be included, a header check fails). */
export class InvalidBlockError extends ParallelEvmError {
  readonly txIndex: number | undefined
  constructor(message: string, txIndex?: number, options?: { cause?: unknown }) {
    super('INVALID_BLOCK', txIndex === undefined ? message : `transaction ${txIndex}: ${message}`, options)
    this.txIndex = txIndex
  }
}

/**
 * Reading the caller's state manager or blockchain failed: a read threw (a missing trie node, a
 * database error), or code came back that does not hash to the account's code hash. The block
 * was not judged, so it is not an `InvalidBlockError`, and nothing was written. `cause` is the
 * caller's own error where one was thrown; `txIndex` the transaction whose execution needed
 * the value, where known (reads before or after the transactions have none).
 */
export class StateReadError extends ParallelEvmError {
  readonly txIndex: number | undefined
  constructor(message: string, txIndex?: number, options?: { cause?: unknown }) {
    super('STATE_READ_FAILED', txIndex === undefined ? message : `transaction ${txIndex}: ${message}`, options)
    this.txIndex = txIndex
  }
}

/** The executor was closed before or while the call ran. */
export class ExecutorClosedError extends ParallelEvmError {
  constructor(message = 'the executor is closed') {
    super('EXECUTOR_CLOSED', message)
  }
}

/** A worker thread failed outside any transaction (it crashed, or its runner threw). */
export class WorkerError extends ParallelEvmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('WORKER_FAILED', message, options)
  }
}

/** The native engine reported a failure it could not recover from. */
export class NativeError extends ParallelEvmError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('NATIVE_FAILURE', message, options)
  }
}

/** An error as it crosses a thread boundary. */
export interface SerializedError {
  name: string
  message: string
  stack?: string
  code?: string
}

export function serializeError(e: unknown): SerializedError {
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code
    return { name: e.name, message: e.message, stack: e.stack, code: typeof code === 'string' ? code : undefined }
  }
  return { name: 'Error', message: String(e) }
}

export function reviveError(s: SerializedError): Error {
  const e = new Error(s.message)
  e.name = s.name
  if (s.stack !== undefined) e.stack = s.stack
  if (s.code !== undefined) (e as Error & { code?: string }).code = s.code
  return e
}
