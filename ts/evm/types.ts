/** Public options and results of the EVM executor. */
import type { Block, BlockHeader } from '@ethereumjs/block'
import type { Common, StateManagerInterface } from '@ethereumjs/common'
import type { Address } from '@ethereumjs/util'
import type { RunBlockResult } from '@ethereumjs/vm'

import type { BlockProfile } from './analysis.ts'
import type { BlockAccessListInput } from './bal.ts'
import type { StateDiff } from './state/overlay.ts'
import type { Bytecodes, Prestate } from './state/sources.ts'

/**
 * How transactions are scheduled. Every strategy returns exactly what sequential execution
 * returns; they differ only in speed. All parallel strategies run on the same engine (the
 * multi-version memory and Block-STM validation), so a strategy's predictions can cost time
 * but never change a result.
 */
export type Strategy = FixedStrategy | AdaptiveStrategy

/** The strategies that schedule a block themselves (everything but `adaptive`). */
export type FixedStrategy =
  /** In block order, on the calling thread. */
  | { kind: 'sequential' }
  /** Block-STM: optimistic execution on all workers, validation, re-execution on conflict. */
  | {
      kind: 'optimistic'
      /**
       * A transaction starts only once its sender's previous transaction in the block has
       * executed (its nonce comes from there: the one dependency known for certain). Without
       * it (plain Block-STM) a sender's transactions run concurrently and the later ones
       * re-execute on their stale nonce. `dependency` includes this among its predictions;
       * adaptive's optimistic candidate uses it.
       * @default false
       */
      senderOrder?: boolean
      /**
       * Retry policy: re-executions of one transaction after which the rest of the block runs
       * in order on one worker (one transaction at a time, keeping the work already done).
       * @default undefined (no limit)
       */
      maxReexecutions?: number
    }
  /**
   * A static pre-analysis predicts each transaction's dependencies (same sender, transfers'
   * accounts, EIP-2930 access lists, known ERC-20 calls, conflicts remembered from earlier
   * blocks), and a transaction starts only once its predicted predecessors have executed.
   * Mispredictions are caught by validation.
   */
  | {
      kind: 'dependency'
      /** @see optimistic's `maxReexecutions` */
      maxReexecutions?: number
      /**
       * Use conflicts remembered from earlier blocks (see `ExecutorStatistics.hotSignatures`).
       * @default true
       */
      remember?: boolean
    }
  /**
   * Transactions partitioned by affinity into shards (transactions that share a predicted key
   * share a shard: all of a sender's transactions, value-carrying calls to one recipient
   * (plain payments without call data join nothing: credits commute), known ERC-20 calls on
   * one balance or allowance, declared access-list slots, an EIP-7702 authority and its
   * authorization, and calls remembered as conflicting with each other); each shard's
   * transactions run in block order on one worker. Cross-shard conflicts are caught by
   * validation. A block whose transactions all fall into one shard runs sequentially (no
   * parallelism to gain).
   */
  | {
      kind: 'sharded'
      /** @default the number of worker threads */
      shards?: number
      /** @see optimistic's `maxReexecutions` */
      maxReexecutions?: number
    }

/** Picks one of `candidates` per block, by a policy; the result reports the pick and why. */
export interface AdaptiveStrategy {
  kind: 'adaptive'
  /** @default 'characteristics' */
  policy?: AdaptivePolicy
  /**
   * The strategies to pick from, with their options.
   * @default sequential, optimistic, dependency and sharded with default options
   */
  candidates?: FixedStrategy[]
}

export type AdaptivePolicy =
  | 'characteristics'
  | 'load'
  | 'performance'
  /**
   * By the block's shape: small blocks, one sender's blocks and blocks predicted to be one
   * long chain run sequentially; blocks with predicted dependencies (shared senders, known
   * token calls, remembered conflicts) use `dependency`; the rest `optimistic`. Then, unless
   * `measure: false`, the pick is checked against measured throughput for blocks of the same
   * size class on this machine, as is the other of `dependency` and `optimistic` (when a
   * candidate): the faster of the two runs, unless sequential measured more than 5 % faster
   * (those not running are re-measured every `explore` blocks of that size, every
   * 4 x `explore` while they measured 1.25x or more slower, every `explore` / 3 while less than
   * 1.1x slower).
   */
  | {
      kind: 'characteristics'
      /** Fewer transactions run sequentially. @default 16 */
      minTransactions?: number
      /** Predicted parallelism below this runs sequentially. @default 1.3 */
      minParallelism?: number
      /** Check picks against measured throughput. @default true */
      measure?: boolean
      /** @default 10 */
      explore?: number
    }
  /** By transaction count: below `low` sequential, from `high` on optimistic, dependency between. */
  | { kind: 'load'; low?: number; high?: number }
  /**
   * By measured throughput: each candidate's gas per second over its last `window` blocks of
   * the same size class (each is measured on three blocks first, or `window` where that is
   * fewer); the best is picked, and a candidate not measured for `explore`
   * blocks is measured again (for 4 x `explore` blocks if the best measured 1.25x or more
   * faster, `explore` / 3 if less than 1.1x faster).
   */
  | { kind: 'performance'; window?: number; explore?: number }
  /** Your own: return a candidate (or its kind) for the block. */
  | ((block: BlockProfile, history: PerformanceHistory) => FixedStrategy | FixedStrategy['kind'])

/** Measured throughput (Mgas/s, newest last) per strategy kind, for blocks of the same size class. */
export type PerformanceHistory = Readonly<Partial<Record<FixedStrategy['kind'], readonly number[]>>>

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
  /** @default { kind: 'adaptive' } (the characteristics policy) */
  strategy?: Strategy
}

/** What BLOCKHASH and header validation need from a chain. */
export interface BlockchainLike {
  getBlock(blockNumber: bigint | number): Promise<{ hash(): Uint8Array }>
  validateHeader?(header: BlockHeader, height?: bigint): Promise<void>
}

export type Phase = 'validate' | 'pre-steps' | 'analyze' | 'execute' | 'post-steps' | 'assemble' | 'commit'

export interface ProgressEvent {
  phase: Phase
  /** Milliseconds since `runBlock` started. */
  elapsedMs: number
  /**
   * Transactions executed so far, in `execute` events during the phase: sequential execution
   * counts them in order; on the worker threads it is those executed at that moment, which
   * can fall when a conflict sends one back to run again.
   */
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
  /**
   * Check the block's RLP size against EIP-7934's limit (where the fork has it), as
   * ethereumjs's `runBlock` option of the same name. Part of the block validation, so
   * `skipBlockValidation` skips it too.
   * @default false
   */
  validateBlockSize?: boolean
  /** BLOCKHASH source and header validator. @default a chain whose block hashes are all zero (as ethereumjs's default) */
  blockchain?: BlockchainLike
  /**
   * Run the block-level steps around the transactions: EIP-4788/2935 writes before;
   * withdrawals, PoW rewards and EIP-7685 requests after. `false` executes only the
   * transactions in the block's context (as state tests and simulators want).
   * @default true
   */
  blockLevelSteps?: boolean
  /**
   * EIP-7928: the block access list that came with the block (a `BlockLevelAccessList`, its
   * RLP, or its JSON form), checked as ethereumjs `runBlock` checks it: unless `generate`, its
   * hash must be the header's `blockAccessListHash` (before execution) and it must equal the
   * list execution produces (after). Ignored where EIP-7928 is not active, as in ethereumjs.
   */
  blockAccessList?: BlockAccessListInput
  /** Overrides the executor's strategy for this block. */
  strategy?: Strategy
  /**
   * Called as each phase ends (`validate` to `commit`; for the blocks that take ethereumjs's own
   * `runBlock`, `validate`, `execute`, `assemble` and `commit`), every 256 transactions while a
   * block runs sequentially (ethereumjs's `runBlock` included), and
   * every `progressIntervalMs` while a block runs on the worker threads (`done` is then the
   * transactions executed at that moment: it can fall when a conflict sends one back).
   * An exception it throws rejects `runBlock` with that exception and leaves the caller's
   * state as it was: the `commit` event comes once the new state root is known, before the
   * caller's state manager commits it.
   */
  onProgress?: (event: ProgressEvent) => void
  /**
   * How often, in milliseconds, `onProgress` hears from a block running on the worker threads.
   * A timer on the calling thread reads the engine's count: while that thread is kept busy by
   * other work, events come later or not at all.
   * @default 100
   */
  progressIntervalMs?: number
}

export interface ExecutionMetrics {
  /** The strategy that executed the block. */
  strategy: FixedStrategy['kind']
  /** How it was chosen, when that was not simply the strategy asked for. */
  decision?: {
    requested: StrategyKind
    /** The adaptive policy that decided (absent for a fixed strategy's own decision). */
    policy?: string
    reason: string
  }
  /** Worker threads that executed transactions (0 when the calling thread did). */
  threads: number
  /** Why a parallel run was redone sequentially, if it was. */
  fallbackReason?: string
  /** Transactions executed (all of the block's). */
  transactions: number
  /** Transactions that succeeded / failed (reverted, ran out of gas, ...). */
  successful: number
  failed: number
  /** Incarnations started: first executions and re-executions. */
  executions: number
  reexecutions: number
  validations: number
  /** Aborts by cause: a validation found a stale read / a read met an unfinished write. */
  validationAborts: number
  dependencyAborts: number
  /** Aborted executions / executions. */
  conflictRate: number
  /**
   * Reads that met an unfinished write of a lower transaction and waited for it, and reads
   * of a location that failed validations in this block (a hot counter, a pool's reserves)
   * that waited for a lower transaction still running.
   */
  dependencyWaits: number
  /** First executions held back until predicted predecessors had executed (`dependency`). */
  hintWaits: number
  /** Most executions running at the same time. */
  peakConcurrency: number
  /** Retry policy: the transaction whose re-executions switched the rest of the block to in-order execution. */
  serialFrom?: number
  /** The static pre-analysis of the block (adaptive, dependency and sharded strategies). */
  profile?: BlockProfile
  /** Sharded runs: gas limit per shard. */
  shards?: { count: number; loads: number[] }
  /**
   * Parallel runs only: the block's actual dependency graph (committed reads and the writes
   * they observed), weighted by each transaction's execution time on the workers (its last
   * incarnation, less the time its reads waited for other transactions).
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
   * heap in use at the end of the block, the bytes the native engine's structures held, and
   * the requests the workers sent this thread (`requests`: state not loaded yet, code not
   * cached yet, BLOCKHASH), each a round trip during which its transaction waits.
   */
  workers?: { wallMs: number; busyMs: number[]; heapUsedBytes: number[]; nativeBytes: number; requests: number }
  /** Wall time per phase, milliseconds. */
  timings: Record<Phase | 'total', number>
}

/** The per-block counters that `ExecutorStatistics` sums over blocks. */
export const SUMMED_METRICS = ['transactions', 'successful', 'failed', 'executions', 'reexecutions', 'validations', 'validationAborts', 'dependencyAborts', 'dependencyWaits', 'hintWaits'] as const
export type SummedMetric = (typeof SUMMED_METRICS)[number]

/** Totals over every block an executor ran (`ParallelExecutor.statistics()`). */
export interface ExecutorStatistics extends Pick<ExecutionMetrics, SummedMetric> {
  blocks: number
  /** Aborted executions / executions, over all blocks. */
  conflictRate: number
  /** Highest peak concurrency of any block. */
  peakConcurrency: number
  /** Blocks whose parallel run was redone sequentially. */
  fallbacks: number
  /** Blocks where the retry policy switched to in-order execution. */
  serialSwitches: number
  /** Blocks executed by each strategy. */
  strategies: Partial<Record<FixedStrategy['kind'], number>>
  /** Call signatures currently remembered as conflicting. */
  hotSignatures: number
  /** Summed wall time per phase, milliseconds. */
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
