/**
 * Runs blocks of JavaScript functions as transactions over a shared key-value state held in
 * the native multi-version memory: the engine's bridge, usable without any EVM.
 *
 * ```ts
 * await using kv = await KeyValueExecutor.create({ module: new URL('./txs.js', import.meta.url) })
 * const r = await kv.run({ transactions: [{ fn: 'transfer', args: [1n, 2n, 5n] }] })
 * ```
 */
import { availableParallelism } from 'node:os'
import { pathToFileURL } from 'node:url'

import { ByteBuilder, EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT, LocationKind, decodeSnapshot } from '../codec.ts'
import { InvalidInputError, NativeError, TransactionError, reviveError } from '../errors.ts'
import { WorkerPool, siblingModule, type BlockRun } from '../pool/pool.ts'
import { KV_ADDRESS, accountAddress, bytesToBigInt, keySlot, type KeyValueTransaction } from './types.ts'

export interface KeyValueExecutorOptions {
  /** Module (path or URL) whose exported functions are the transactions. */
  module: string | URL
  /**
   * Worker threads.
   * @default os.availableParallelism()
   */
  threads?: number
}

export interface KeyValueBlock {
  transactions: KeyValueTransaction[]
  /** Values of keys before the block (others are 0). */
  initial?: Iterable<[bigint, bigint]>
  /** Balances before the block (other accounts do not exist). */
  balances?: Iterable<[bigint, bigint]>
  /**
   * `optimistic` runs Block-STM on all workers; `sequential` runs the transactions in order
   * on one worker through the same native memory (the reference).
   * @default 'optimistic'
   */
  strategy?: 'optimistic' | 'sequential'
  /** Re-executions of one transaction after which the block runs sequentially. */
  maxReexecutions?: number
}

export interface KeyValueStats {
  executions: number
  reexecutions: number
  validations: number
  validationAborts: number
  dependencyWaits: number
  peakConcurrency: number
}

export interface KeyValueResult {
  /** Per transaction, what its function returned. */
  outputs: unknown[]
  /** Final value of every key written in the block. */
  state: Map<bigint, bigint>
  /** Final balance of every account credited or written in the block. */
  balances: Map<bigint, bigint>
  stats: KeyValueStats
  /** The strategy that produced the result (a halted optimistic run is redone sequentially). */
  strategy: 'optimistic' | 'sequential'
  /** Why the optimistic run fell back to sequential, if it did. */
  fallbackReason?: string
  wallMs: number
}

export class KeyValueExecutor implements AsyncDisposable {
  private constructor(private readonly pool: WorkerPool) {}

  static async create(options: KeyValueExecutorOptions): Promise<KeyValueExecutor> {
    const threads = options.threads ?? availableParallelism()
    if (!Number.isInteger(threads) || threads < 1) throw new InvalidInputError(`threads must be a positive integer, got ${threads}`)
    const module = options.module instanceof URL ? options.module.href : pathToFileURL(options.module).href
    const pool = await WorkerPool.start({
      threads,
      runnerModule: siblingModule(import.meta.url, './runner'),
      runnerOptions: { module },
    })
    return new KeyValueExecutor(pool)
  }

  get threads(): number {
    return this.pool.size
  }

  async run(block: KeyValueBlock): Promise<KeyValueResult> {
    if (!Array.isArray(block.transactions)) throw new InvalidInputError('transactions must be an array')
    const strategy = block.strategy ?? 'optimistic'
    if (strategy !== 'optimistic' && strategy !== 'sequential') throw new InvalidInputError(`unknown strategy ${String(strategy)}`)
    const base = new ByteBuilder()
    for (const [k, v] of block.initial ?? []) base.baseStorage(KV_ADDRESS, keySlot(k), v)
    for (const [a, b] of block.balances ?? []) {
      base.baseAccount(accountAddress(a), { nonce: 0n, balance: b, codeHash: EMPTY_CODE_HASH, storageRoot: EMPTY_STORAGE_ROOT })
    }
    const request = (mode: 'parallel' | 'sequential') => ({
      txCount: block.transactions.length,
      mode,
      payload: block.transactions,
      completeBase: true,
      maxReexecutions: block.maxReexecutions,
      prepare: (nb: { loadBase(b: Uint8Array): number }) => void nb.loadBase(base.bytes()),
    })
    let run = await this.pool.run(request(strategy === 'optimistic' ? 'parallel' : 'sequential'))
    let used = strategy
    let fallbackReason: string | undefined
    if (run.haltReason !== undefined) {
      if (!run.haltReason.startsWith('engine:')) throw new NativeError(`block run halted: ${run.haltReason}`)
      fallbackReason = run.haltReason
      used = 'sequential'
      run = await this.pool.run(request('sequential'))
      if (run.haltReason !== undefined) throw new NativeError(`sequential run halted: ${run.haltReason}`)
    }
    return toResult(run, used, fallbackReason)
  }

  /** Stops the workers; a block in progress is abandoned (its `run` rejects). */
  close(): Promise<void> {
    return this.pool.close()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}


function toResult(run: BlockRun, strategy: 'optimistic' | 'sequential', fallbackReason: string | undefined): KeyValueResult {
  const outputs: unknown[] = []
  for (let i = 0; i < run.outcomes.length; i++) {
    const o = run.outcomes[i]
    if (o === undefined) throw new NativeError(`transaction ${i} has no outcome`)
    if (!o.ok) throw new TransactionError(i, o.error.message, { cause: reviveError(o.error) })
    outputs.push(o.value)
  }
  const state = new Map<bigint, bigint>()
  const balances = new Map<bigint, bigint>()
  const kvHex = Buffer.from(KV_ADDRESS).toString('hex')
  for (const r of decodeSnapshot(run.snapshot!)) {
    if (r.kind === LocationKind.Storage && Buffer.from(r.address).toString('hex') === kvHex) {
      state.set(bytesToBigInt(r.slot), r.value)
    } else if (r.kind === LocationKind.Account) {
      const balance = 'addToBase' in r ? r.addToBase : (r.account?.balance ?? 0n)
      balances.set(bytesToBigInt(r.address), balance)
    }
  }
  const s = run.stats
  return {
    outputs,
    state,
    balances,
    stats: {
      executions: s.executions,
      reexecutions: s.reexecutions,
      validations: s.validations,
      validationAborts: s.validationAborts,
      dependencyWaits: s.dependencyWaits,
      peakConcurrency: s.peakConcurrency,
    },
    strategy,
    fallbackReason,
    wallMs: run.wallMs,
  }
}
