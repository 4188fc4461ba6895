export { KeyValueExecutor } from './kv/executor.ts'
export type { KeyValueBlock, KeyValueExecutorOptions, KeyValueResult, KeyValueStats } from './kv/executor.ts'
export type { KeyValueContext, KeyValueTransaction } from './kv/types.ts'
export {
  ExecutorClosedError,
  InvalidBlockError,
  InvalidInputError,
  NativeError,
  ParallelEvmError,
  TransactionError,
  WorkerError,
} from './errors.ts'
export type { ErrorCode } from './errors.ts'
export { FORCE_JS_ENV, nativeUnavailableReason } from './native.ts'
