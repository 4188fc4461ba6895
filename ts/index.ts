export { ParallelExecutor } from './evm/executor.ts'
export type {
  AdaptivePolicy,
  AdaptiveStrategy,
  BlockchainLike,
  ExecutionMetrics,
  ExecutorStatistics,
  FixedStrategy,
  ParallelExecutorOptions,
  PerformanceHistory,
  ParallelRunBlockResult,
  Phase,
  ProgressEvent,
  RunBlockOptions,
  Strategy,
  StrategyKind,
} from './evm/types.ts'
export type { BlockProfile } from './evm/analysis.ts'
export type { BlockAccessListInput } from './evm/bal.ts'
export type { AccountDiff, StateDiff, StorageDiff } from './evm/state/overlay.ts'
export type { Bytecodes, Prestate, PrestateAccount } from './evm/state/sources.ts'
export { nativeEcrecover as ecrecover, recoverSender } from './evm/crypto.ts'
export { KeyValueExecutor } from './kv/executor.ts'
export type { KeyValueBlock, KeyValueExecutorOptions, KeyValueResult, KeyValueStats } from './kv/executor.ts'
export type { KeyValueContext, KeyValueTransaction } from './kv/types.ts'
export {
  ExecutorClosedError,
  InvalidBlockError,
  InvalidInputError,
  NativeError,
  ParallelEvmError,
  StateReadError,
  TransactionError,
  WorkerError,
} from './errors.ts'
export type { ErrorCode } from './errors.ts'
export { FORCE_JS_ENV, nativeUnavailableReason } from './native.ts'
