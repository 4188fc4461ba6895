/** Public options and results of the EVM executor. */
import type { Block, BlockHeader } from '@ethereumjs/block'
import type { Common, StateManagerInterface } from '@ethereumjs/common'
import type { Address } from '@ethereumjs/util'
import type { RunBlockResult } from '@ethereumjs/vm'

import type { StateDiff } from './state/overlay.ts'
import type { Bytecodes, Prestate } from './state/sources.ts'

/**
 * How transactions are scheduled. Every strategy returns exactly what sequential execution
 * returns; they differ only in speed.
 */
export type Strategy =
  /** In block order, on the calling thread. */
  | { kind: 'sequential' }
  /** Block-STM: optimistic execution on all workers, validation, re-execution on conflict. */
  | {
      kind: 'optimistic'
      /**
       * Re-executions of one transaction after which the block is executed sequentially.
       * @default undefined (no limit)
       */
      maxReexecutions?: number
    }

export type StrategyKind = Strategy['kind']

export interface ParallelExecutorOptions {
  /**
   * Chain configuration and default hardfork. Copied; the executor never changes yours.
   * @default new Common({ chain: Mainnet })
   */
  common?: Common
  /**
   * Worker threads for the parallel strategies.
   * @default os.availableParallelism()
   */
  threads?: number
  /** @default { kind: 'optimistic' } */
  strategy?: Strategy
}

/** What BLOCKHASH and header validation need from a chain. */
export interface BlockchainLike {
  getBlock(blockNumber: bigint | number): Promise<{ hash(): Uint8Array }>
  validateHeader?(header: BlockHeader, height?: bigint): Promise<void>
}

export type Phase = 'validate' | 'pre-steps' | 'execute' | 'post-steps' | 'assemble' | 'commit'

export interface ProgressEvent {
  phase: Phase
  /** Milliseconds since `runBlock` started. */
  elapsedMs: number
  /** Transactions executed so far (sequential execution reports as it goes). */
  done?: number
  total?: number
}

/**
 * Options of `ParallelExecutor.runBlock`. The ethereumjs `runBlock` options keep their names,
 * meanings and defaults.
 */
export interface RunBlockOptions {
  block: Block
  /** The state before the block as a plain object (exactly one of `prestate`, `stateManager`). */
  prestate?: Prestate
  /** Code by hash for `prestate` accounts that give a `code_hash`. */
  bytecodes?: Bytecodes
  /** The state before the block, read on demand from the main thread. */
  stateManager?: StateManagerInterface
  /**
   * Write the block's changes into `stateManager` once the block succeeded (then the result's
   * `stateRoot` is its new root).
   * @default true
   */
  commit?: boolean
  /** Fill the header fields from the result instead of checking them. @default false */
  generate?: boolean
  /** @default false */
  skipBlockValidation?: boolean
  /** @default false */
  skipHeaderValidation?: boolean
  /** @default false */
  skipHardForkValidation?: boolean
  /** @default false */
  skipBalance?: boolean
  /** @default false */
  skipNonce?: boolean
  /** Set the hardfork from the block's number and timestamp. @default false */
  setHardfork?: boolean
  /** BLOCKHASH source and header validator. @default a chain whose block hashes are all zero (as ethereumjs's default) */
  blockchain?: BlockchainLike
  /**
   * Run the block-level steps around the transactions: EIP-4788/2935 writes before;
   * withdrawals, PoW rewards and EIP-7685 requests after. `false` executes only the
   * transactions in the block's context (as state tests and simulators want).
   * @default true
   */
  blockLevelSteps?: boolean
  /** Overrides the executor's strategy for this block. */
  strategy?: Strategy
  onProgress?: (event: ProgressEvent) => void
}

export interface ExecutionMetrics {
  /** The strategy that produced the result. */
  strategy: StrategyKind
  /** Worker threads that executed transactions (0 when the calling thread did). */
  threads: number
  /** Why a parallel run was redone sequentially, if it was. */
  fallbackReason?: string
  transactions: number
  executions: number
  reexecutions: number
  validations: number
  validationAborts: number
  dependencyWaits: number
  peakConcurrency: number
  /**
   * Parallel runs only: the block's actual dependency graph (committed reads and the writes
   * they observed), weighted by each transaction's execution time on the workers.
   */
  dependencies?: {
    /** Sum of the transactions' execution times, ms. */
    workMs: number
    /** Longest chain of dependent transactions, ms. */
    criticalPathMs: number
    /** min(threads, work / critical path): the most any schedule could gain here. */
    idealSpeedup: number
    /** Dependency edges between transactions. */
    edges: number
  }
  /**
   * Parallel runs only: wall time of the worker phase, each worker's busy time (ms) and JS
   * heap in use at the end of the block, and the bytes the native engine's structures held.
   */
  workers?: { wallMs: number; busyMs: number[]; heapUsedBytes: number[]; nativeBytes: number }
  /** Wall time per phase, milliseconds. */
  timings: Record<Phase | 'total', number>
}

export interface ParallelRunBlockResult extends Omit<RunBlockResult, 'stateRoot'> {
  /** The new state root: only when the block was committed to a `stateManager`. */
  stateRoot: Uint8Array | undefined
  /** The recovered sender of each transaction. */
  senders: Address[]
  stateDiff: StateDiff
  metrics: ExecutionMetrics
}
