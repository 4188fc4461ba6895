/**
 * The EVM executor: `runBlock` returns what ethereumjs's `runBlock` returns, with the
 * transactions executed in parallel by the native Block-STM engine on worker threads.
 *
 * Per block: validate → EIP-4788/2935 writes → transactions (sequential on this thread, or
 * parallel on the workers) → withdrawals, rewards, requests → receipts, bloom, roots →
 * header checks → commit to the caller's state manager. A failure at any point leaves the
 * caller's state untouched.
 */
import { availableParallelism } from 'node:os'

import { Block, cliqueSigner } from '@ethereumjs/block'
import { Common, ConsensusType, Hardfork, Mainnet } from '@ethereumjs/common'
import type { TypedTransaction } from '@ethereumjs/tx'
import { Address } from '@ethereumjs/util'
import { createVM, runBlock, runTx, type RunTxResult, type TxReceipt, type VM } from '@ethereumjs/vm'

import { ByteBuilder, LocationKind, decodeSnapshot } from '../codec.ts'
import { ExecutorClosedError, InvalidBlockError, InvalidInputError, NativeError, type ParallelEvmError, StateReadError, WorkerError } from '../errors.ts'
import { loadNative } from '../native.ts'
import { WorkerPool, siblingModule, type BlockRun, type NativeBlock } from '../pool/pool.ts'
import { bytesEqual, bytesToBigInt } from './bytes.ts'
import { readBlockAccessList, sameBlockAccessList } from './bal.ts'
import { AdaptiveChooser, DEFAULT_WINDOW, checkAdaptive, type Decision } from './adaptive.ts'
import { ConflictMemory, analyzeBlock, senderOrder, shardByAffinity, type Analysis } from './analysis.ts'
import { recoverAuthorities } from './authorities.ts'
import { keccak256, nativeEcrecover, orderedTrieRoot, recoverBlockSenders, recoverSender, recoverSenders, type Sender } from './crypto.ts'
import { decodeOutcome, outcomeOf, receiptOf, runTxResultOf, type TxOutcome } from './outcome.ts'
import { fastEipLookup } from './eips.ts'
import { installJumpAnalysisCache } from './jumpdest.ts'
import { installFastHandlers } from './opcodes.ts'
import { evmVersion } from './internals.ts'
import { FAST_LOOP_EVM, useFastLoop } from './interpreter.ts'
import { installNativeBn254 } from './bn254.ts'
import { appendReceipt } from './receipts.ts'
import { foreignRules } from './rules.ts'
import type { EvmBlockPayload, EvmRequest, EvmRunnerOptions } from './runner.ts'
import { OverlayStateManager } from './state/overlay.ts'
import { PrestateSource, StateManagerSource, readCaller, type BaseSource } from './state/sources.ts'
import { postTransactionSteps, preTransactionSteps } from './steps.ts'
import { encodeTxs, withSender } from './txs.ts'
import type {
  BlockchainLike,
  ExecutionMetrics,
  ExecutorStatistics,
  FixedStrategy,
  ParallelExecutorOptions,
  ParallelRunBlockResult,
  Phase,
  RunBlockOptions,
  Strategy,
  SummedMetric,
} from './types.ts'
import { SUMMED_METRICS } from './types.ts'

const ZERO_HASH_BLOCK = { hash: () => new Uint8Array(32) }
/** Blocks whose times the adaptive strategy does not measure, per kind of thread. */
const WARMUP_BLOCKS = { sequential: 1, parallel: 3 }
/** A block run on the calling thread reports progress every this many transactions. */
const PROGRESS_EVERY = 256
const MAX_GAS_LIMIT = 0x8000000000000000n

/** Decoded location of a worker's base-state request. */
function parseLocation(loc: Uint8Array): { kind: number; address: Uint8Array; slot: Uint8Array } {
  return { kind: loc[0], address: loc.subarray(1, 21), slot: loc.subarray(21, 53) }
}

export class ParallelExecutor implements AsyncDisposable {
  private pool: Promise<WorkerPool> | undefined
  private closing: Promise<void> | undefined
  private tail: Promise<unknown> = Promise.resolve()
  private blockchain: BlockchainLike | undefined
  private activeBlock: NativeBlock | undefined
  /** Conflicts remembered across blocks (hints for the dependency strategy). */
  private readonly memory = new ConflictMemory()
  private warnedAnalysis = false
  private readonly chooser = new AdaptiveChooser()
  private readonly totals: ExecutorStatistics = emptyStatistics()
  /** Blocks run so far on the calling thread and on the worker pool (see `account`). */
  private sequentialBlocks = 0
  private parallelBlocks = 0

  private constructor(
    private readonly common: Common,
    readonly threads: number,
    readonly strategy: Strategy,
    private readonly overlay: OverlayStateManager,
    private readonly vm: VM,
  ) {}

  static async create(options: ParallelExecutorOptions = {}): Promise<ParallelExecutor> {
    const threads = options.threads ?? availableParallelism()
    if (!Number.isInteger(threads) || threads < 1) throw new InvalidInputError(`threads must be a positive integer, got ${threads}`)
    const strategy = normalizeStrategy(options.strategy ?? { kind: 'adaptive' })
    const common = ownCommon(options.common ?? new Common({ chain: Mainnet }))
    await installJumpAnalysisCache()
    const overlay = new OverlayStateManager(keccak256)
    let executor: ParallelExecutor
    const blockchain = {
      getBlock: (n: bigint | number) => executor.blockHash(n),
      putBlock: async () => {},
      shallowCopy() {
        return this
      },
    }
    const vm = await createVM({ common, stateManager: overlay, blockchain: blockchain as never })
    await installFastHandlers(vm.evm)
    if (!(await useFastLoop(vm.evm))) warnSlowEvm()
    installNativeBn254(vm.evm)
    executor = new ParallelExecutor(common, threads, strategy, overlay, vm)
    // Start the workers now, unless this executor will only ever run sequentially.
    const parallelLater = strategy.kind !== 'sequential' && !(strategy.kind === 'adaptive' && threads < 2)
    if (parallelLater && loadNative() !== null) void executor.workers().catch(() => undefined)
    return executor
  }

  /** Whether transactions run on native-backed workers (false: the pure-JS fallback). */
  get native(): boolean {
    return loadNative() !== null
  }

  private workers(): Promise<WorkerPool> {
    this.pool ??= WorkerPool.start({
      threads: this.threads,
      runnerModule: siblingModule(import.meta.url, './runner'),
      runnerOptions: {
        chain: (this.common as unknown as { _chainParams: EvmRunnerOptions['chain'] })._chainParams,
        hardfork: this.common.hardfork(),
        eips: this.common.eips(),
        kzg: this.common.customCrypto.kzg !== undefined,
      } satisfies EvmRunnerOptions,
    })
    return this.pool
  }

  /** Executes a block. Blocks queue behind each other. */
  runBlock(options: RunBlockOptions): Promise<ParallelRunBlockResult> {
    const result = this.tail.then(() => this.run(options))
    this.tail = result.catch(() => undefined)
    return result
  }

  private async run(opts: RunBlockOptions): Promise<ParallelRunBlockResult> {
    if (this.closing !== undefined) throw new ExecutorClosedError()
    const started = performance.now()
    const timings: ExecutionMetrics['timings'] = { validate: 0, 'pre-steps': 0, analyze: 0, execute: 0, 'post-steps': 0, assemble: 0, commit: 0, total: 0 }
    let phaseStart = started
    const phase = (p: Phase, extra?: { done?: number; total?: number }) => {
      this.stopIfClosed()
      const now = performance.now()
      timings[p] += now - phaseStart
      phaseStart = now
      opts.onProgress?.({ phase: p, elapsedMs: now - started, ...extra })
    }

    const { block } = opts
    const source = this.checkInput(opts)
    const strategy = normalizeStrategy(opts.strategy ?? this.strategy)
    // The block's own hardfork applies unless asked to derive it from number and timestamp
    // (ethereumjs would instead throw on a mismatch with the VM's hardfork).
    if (opts.setHardfork === true) {
      this.common.setHardforkBy({ blockNumber: block.header.number, timestamp: block.header.timestamp })
    } else {
      this.common.setHardfork(block.common.hardfork())
    }
    await this.validateBlock(opts)
    this.blockchain = opts.blockchain
    this.overlay.reset(source)
    this.vm.evm.journal.cleanJournal()
    phase('validate')
    // Progress inside the execute phase, on every path that executes the transactions here.
    const executed = (done: number) => opts.onProgress?.({ phase: 'execute', elapsedMs: performance.now() - started, done, total: block.transactions.length })

    if (this.needsEthereumjsRunBlock(block)) {
      if (opts.blockLevelSteps === false) throw new InvalidInputError('blockLevelSteps: false is not available for this block (it needs ethereumjs runBlock)')
      return this.runWithEthereumjs(opts, started, timings, phase, executed)
    }

    const blockSteps = opts.blockLevelSteps !== false
    if (blockSteps) await preTransactionSteps(this.overlay, this.common, block)
    phase('pre-steps')

    // Pre-Byzantium receipts embed the state root after each transaction. Only a caller's
    // state manager has a trie to compute it: such (old, small) blocks run sequentially and
    // write each transaction's changes into it, inside a checkpoint reverted afterwards.
    const preByzantium = !this.common.gteHardfork(Hardfork.Byzantium) && block.transactions.length > 0
    if (preByzantium && opts.stateManager === undefined && opts.generate !== true) {
      throw new InvalidInputError('pre-Byzantium receipts embed intermediate state roots, which need a stateManager; pass one, or generate: true')
    }
    const roots: Uint8Array[] | undefined = preByzantium && opts.stateManager !== undefined ? [] : undefined

    // Plan: recover every sender natively up front, analyse the block where the strategy
    // needs it, and settle on a fixed strategy.
    const txs = block.transactions
    const plan = await this.plan(strategy, block, roots !== undefined)
    phase('analyze')

    let outcomes: TxOutcome[]
    let metrics: Omit<ExecutionMetrics, 'timings'>
    if (roots !== undefined) {
      const sm = opts.stateManager!
      await sm.checkpoint()
      try {
        this.overlay.startTracking()
        outcomes = await this.executeSequential(opts, plan.senders, executed, async () => {
          await this.overlay.applyChangesSince(sm)
          roots.push(await sm.getStateRoot())
        })
      } finally {
        await sm.revert()
      }
      metrics = sequentialMetrics(outcomes.length, failures(outcomes))
    } else if (plan.strategy.kind !== 'sequential') {
      const r = await this.executeParallel(opts, plan, source, executed)
      outcomes = r.outcomes
      metrics = r.metrics
    } else {
      outcomes = await this.executeSequential(opts, plan.senders, executed)
      metrics = sequentialMetrics(outcomes.length, failures(outcomes))
    }
    if (plan.decision !== undefined) metrics.decision = plan.decision
    if (plan.analysis !== undefined) metrics.profile = plan.analysis.profile
    phase('execute')

    const post = blockSteps ? await postTransactionSteps(this.vm, block, outcomes) : {}
    phase('post-steps')

    const assembled = await this.assemble(block, outcomes, roots)
    if (opts.generate !== true) this.checkHeader(block, assembled, post.requestsHash)
    phase('assemble')

    const stateDiff = await this.overlay.diff()
    let stateRoot: Uint8Array | undefined
    if (opts.stateManager !== undefined && opts.commit !== false) {
      // The last progress event comes before the caller's checkpoint is committed: a callback
      // that throws there still leaves the state manager as it was.
      stateRoot = await this.commit(opts, block, () => phase('commit'))
    } else {
      phase('commit')
    }
    timings.total = performance.now() - started
    const fullMetrics: ExecutionMetrics = { ...metrics, timings }
    this.account(fullMetrics, assembled.gasUsed, strategy)
    return {
      ...assembled,
      stateRoot,
      senders: outcomes.map((o) => new Address(o.sender)),
      requests: post.requests,
      requestsHash: post.requestsHash,
      stateDiff,
      metrics: fullMetrics,
    }
  }

  /**
   * Settles how a block runs: recovers the senders (natively, all at once), analyses the
   * block for the strategies that use it, and resolves `adaptive` to a fixed strategy.
   */
  private async plan(requested: Strategy, block: Block, mustRunSequentially: boolean): Promise<Plan> {
    const txs = block.transactions
    const native = loadNative() !== null
    if (txs.length === 0) return { strategy: { kind: 'sequential' } }
    if (!native || mustRunSequentially) {
      const why = !native ? 'the native addon is not loaded' : 'pre-Byzantium receipts need the state root after each transaction'
      const decision = requested.kind === 'sequential' ? undefined : { requested: requested.kind, reason: `sequential: ${why}` }
      return { strategy: { kind: 'sequential' }, decision }
    }
    const encoded = encodeTxs(txs as TypedTransaction[])
    const senders = await recoverBlockSenders(txs, encoded, this.threads)
    if (requested.kind === 'sequential') return { strategy: requested, senders, encoded }
    const foreign = foreignRules(block, this.common)
    if (foreign !== undefined) return { strategy: { kind: 'sequential' }, decision: { requested: requested.kind, reason: `sequential: ${foreign}` }, senders, encoded }
    const addresses = senders.map((s, i) => (s instanceof Error ? placeholderSender(i) : s.address.bytes))
    const single = oneSender(addresses)
    if (requested.kind === 'adaptive') {
      // Small blocks and one sender's nonce chain run sequentially under the default policy,
      // whatever they hold: no analysis.
      const q = this.chooser.quick(requested, txs.length, this.threads, single)
      if (q !== undefined) return { strategy: normalizeStrategy(q.strategy) as FixedStrategy, decision: { requested: 'adaptive', policy: q.policy, reason: q.reason }, senders, encoded }
    }
    // Every parallel strategy gets the analysis: it costs a few µs per transaction (and 43-78
    // µs per EIP-7702 authorization, recovered natively to name the authority), it is what the
    // executor learns conflicts against, and its profile is reported.
    if (requested.kind === 'sharded' && single) {
      // Sender affinity puts everything in one shard: nothing to analyse or to gain.
      return { strategy: { kind: 'sequential' }, decision: { requested: 'sharded', reason: ONE_SHARD }, senders, encoded }
    }
    const remember = requested.kind !== 'dependency' || requested.remember !== false
    let analysis: Analysis
    try {
      analysis = analyzeBlock(txs, addresses, remember ? this.memory : undefined, await recoverAuthorities(txs, this.threads))
    } catch (e) {
      // The analysis only guides scheduling: without it, plain Block-STM still returns the
      // sequential result. A failure here is a bug of ours, so it is reported, not hidden.
      const reason = `optimistic: the pre-analysis failed (${(e as Error).message}), so the block runs without predictions`
      if (!this.warnedAnalysis) {
        this.warnedAnalysis = true
        process.emitWarning(`parallel-evm: ${reason}`)
      }
      const strategy: FixedStrategy = requested.kind === 'optimistic' ? requested : { kind: 'optimistic', ...(requested.kind !== 'adaptive' && requested.maxReexecutions !== undefined ? { maxReexecutions: requested.maxReexecutions } : {}) }
      return { strategy, decision: { requested: requested.kind, reason }, senders, encoded, hints: hintsFor(strategy, undefined, addresses) }
    }
    if (requested.kind === 'optimistic') return { strategy: requested, senders, encoded, analysis, hints: hintsFor(requested, analysis, addresses) }
    let strategy: FixedStrategy
    let decision: ExecutionMetrics['decision']
    if (requested.kind === 'adaptive') {
      const d: Decision = this.chooser.decide(requested, analysis.profile, this.threads)
      strategy = normalizeStrategy(d.strategy) as FixedStrategy
      decision = { requested: 'adaptive', policy: d.policy, reason: d.reason }
    } else {
      strategy = requested
    }
    let shards: Plan['shards']
    if (strategy.kind === 'sharded') {
      const s = shardByAffinity(txs, analysis.keys, strategy.shards ?? this.threads, analysis.hotKeys)
      if (s.used < 2) {
        decision = { requested: requested.kind, ...(decision?.policy !== undefined ? { policy: decision.policy } : {}), reason: `${decision?.reason !== undefined ? `${decision.reason}; ` : ''}${ONE_SHARD}` }
        strategy = { kind: 'sequential' }
      } else {
        shards = { shardOf: s.shardOf, count: strategy.shards ?? this.threads, loads: s.loads }
      }
    }
    return { strategy, decision, senders, encoded, analysis, shards, hints: hintsFor(strategy, analysis, addresses) }
  }

  /** Adds a block's metrics to the executor's totals; feeds the performance policy. */
  private account(m: ExecutionMetrics, gasUsed: bigint, requested: Strategy): void {
    const t = this.totals
    t.blocks++
    for (const k of SUMMED_METRICS) t[k] += m[k]
    t.conflictRate = t.executions === 0 ? 0 : (t.validationAborts + t.dependencyAborts) / t.executions
    t.peakConcurrency = Math.max(t.peakConcurrency, m.peakConcurrency)
    if (m.fallbackReason !== undefined) t.fallbacks++
    if (m.serialFrom !== undefined) t.serialSwitches++
    t.strategies[m.strategy] = (t.strategies[m.strategy] ?? 0) + 1
    for (const k of Object.keys(t.timings) as (keyof ExecutionMetrics['timings'])[]) t.timings[k] += m.timings[k]
    // A thread's first blocks compile the EVM's code paths: their times say little about the
    // strategy. The worker pool (shared by the parallel strategies) and the calling thread
    // each get warm-up blocks that are not measured.
    const warm = m.strategy === 'sequential' ? this.sequentialBlocks++ >= WARMUP_BLOCKS.sequential : this.parallelBlocks++ >= WARMUP_BLOCKS.parallel
    if (requested.kind === 'adaptive' && warm && m.transactions > 0 && m.fallbackReason === undefined) {
      const p = requested.policy
      const window = typeof p === 'object' && p.kind === 'performance' ? (p.window ?? DEFAULT_WINDOW) : DEFAULT_WINDOW
      this.chooser.record(m.strategy, m.transactions, Number(gasUsed) / 1e6 / (m.timings.total / 1e3), window)
    }
  }

  /** Totals over every block this executor ran, and what it remembers across blocks. */
  statistics(): ExecutorStatistics {
    return { ...this.totals, strategies: { ...this.totals.strategies }, timings: { ...this.totals.timings }, hotSignatures: this.memory.hotSignatures }
  }

  private checkInput(opts: RunBlockOptions): BaseSource {
    if (opts === null || typeof opts !== 'object') throw new InvalidInputError('runBlock expects an options object')
    const { block } = opts
    if (!(block instanceof Block)) throw new InvalidInputError('block must be an @ethereumjs/block Block')
    if (block.common.chainId() !== this.common.chainId()) {
      throw new InvalidInputError(`the block is for chain ${block.common.chainId()}, the executor for chain ${this.common.chainId()}`)
    }
    if ((opts.prestate === undefined) === (opts.stateManager === undefined)) {
      throw new InvalidInputError('give exactly one of prestate and stateManager')
    }
    // ethereumjs `runBlock` options that would change the result, which this executor does
    // not offer: refused rather than ignored, so that no caller gets a result without them.
    const foreign = opts as { root?: unknown; reportPreimages?: unknown }
    if (foreign.root !== undefined) {
      throw new InvalidInputError('root is not supported: give the state as a prestate, or a stateManager already set to that root')
    }
    if (foreign.reportPreimages !== undefined && foreign.reportPreimages !== false) throw new InvalidInputError('reportPreimages is not supported')
    if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') throw new InvalidInputError('onProgress must be a function')
    const every: unknown = opts.progressIntervalMs
    if (every !== undefined && (typeof every !== 'number' || !(every > 0) || !Number.isFinite(every))) {
      throw new InvalidInputError(`progressIntervalMs must be a positive number of milliseconds, not ${String(every)}`)
    }
    const bal: unknown = opts.blockAccessList
    if (bal !== undefined && (bal === null || typeof bal !== 'object')) {
      throw new InvalidInputError('blockAccessList must be a BlockLevelAccessList, its RLP bytes, or its JSON form')
    }
    if (opts.prestate !== undefined) return new PrestateSource(opts.prestate, opts.bytecodes)
    return new StateManagerSource(opts.stateManager!)
  }

  /** `runBlock`'s checks before execution (when `skipBlockValidation` is not set). */
  private async validateBlock(opts: RunBlockOptions): Promise<void> {
    if (opts.skipBlockValidation === true) return
    const { block } = opts
    if (block.header.gasLimit >= MAX_GAS_LIMIT) throw new InvalidBlockError('Invalid block with gas limit greater than (2^63 - 1)')
    if (opts.skipHeaderValidation !== true) {
      if (typeof opts.blockchain?.validateHeader !== 'function') {
        throw new InvalidInputError('cannot validate header: blockchain has no `validateHeader` method (pass skipHeaderValidation: true or a blockchain)')
      }
      try {
        await opts.blockchain.validateHeader(block.header)
      } catch (e) {
        throw new InvalidBlockError(`invalid header: ${(e as Error).message}`, undefined, { cause: e })
      }
    }
    try {
      // Transactions' signatures are checked when their senders are recovered.
      await block.validateData(false, false, opts.validateBlockSize === true)
    } catch (e) {
      throw new InvalidBlockError((e as Error).message, undefined, { cause: e })
    }
  }

  /** Blocks whose rules the parallel path does not model run through ethereumjs itself. */
  private needsEthereumjsRunBlock(block: Block): boolean {
    const c = this.common
    const dao = c.hardforkIsActiveOnBlock(Hardfork.Dao, block.header.number) && block.header.number === c.hardforkBlock(Hardfork.Dao)
    return dao || c.isActivatedEIP(7928) || c.isActivatedEIP(8037) || c.isActivatedEIP(7864)
  }

  private async executeSequential(
    opts: RunBlockOptions,
    given: (Sender | Error)[] | undefined,
    progress: (done: number) => void,
    afterTx?: () => Promise<void>,
  ): Promise<TxOutcome[]> {
    const { block } = opts
    const outcomes: TxOutcome[] = []
    let gasUsed = 0n
    const txs = block.transactions
    // Senders first, all at once on native threads: recovery does not depend on state.
    const senders = given ?? (await recoverSenders(txs, this.threads))
    for (let i = 0; i < txs.length; i++) {
      this.stopIfClosed()
      const tx = txs[i]
      if (block.header.gasLimit < tx.gasLimit + gasUsed) throw new InvalidBlockError('tx has a higher gas limit than the block', i)
      let r: RunTxResult
      const sender = senders[i]
      if (sender instanceof Error) throw new InvalidBlockError(sender.message, i, { cause: sender })
      try {
        r = await runTx(this.vm, {
          tx: withSender(tx, sender),
          block,
          skipBalance: opts.skipBalance,
          skipNonce: opts.skipNonce,
          skipHardForkValidation: opts.skipHardForkValidation,
        })
      } catch (e) {
        throw txFailure(e, i)
      }
      const o = outcomeOf(r, sender.address.bytes)
      outcomes.push(o)
      gasUsed += o.blockGasSpent
      await afterTx?.()
      if ((i + 1) % PROGRESS_EVERY === 0) progress(i + 1)
    }
    return outcomes
  }

  private async executeParallel(
    opts: RunBlockOptions,
    plan: Plan,
    source: BaseSource,
    progress: (done: number) => void,
  ): Promise<{ outcomes: TxOutcome[]; metrics: Omit<ExecutionMetrics, 'timings'> }> {
    const { block } = opts
    const strategy = plan.strategy as Exclude<FixedStrategy, { kind: 'sequential' }>
    const pool = await this.workers()
    const n = block.transactions.length
    const payload: EvmBlockPayload = {
      header: block.header.serialize(),
      hardfork: this.common.hardfork(),
      txs: plan.encoded ?? encodeTxs(block.transactions),
      miner: (block.common.consensusType() === ConsensusType.ProofOfAuthority ? cliqueSigner(block.header) : block.header.coinbase).bytes,
      skipBalance: opts.skipBalance,
      skipNonce: opts.skipNonce,
      skipHardForkValidation: opts.skipHardForkValidation,
      blockchain: opts.blockchain !== undefined,
      senders: plan.senders !== undefined ? packSenders(plan.senders) : undefined,
    }
    let run: BlockRun
    // The first read of the caller's state manager or blockchain that threw, kept with its
    // cause: a worker sees only its message and code, and fails the transaction that read.
    let readFailure: StateReadError | undefined
    // Progress while the workers run: the engine's count of executed transactions, read from
    // this thread on a timer. A callback that throws halts the block, which then rejects with
    // its error (below) before anything is written.
    let progressFailure: { error: unknown } | undefined
    const ticker =
      opts.onProgress === undefined
        ? undefined
        : setInterval(() => {
            const nb = this.activeBlock
            if (nb === undefined || progressFailure !== undefined) return
            try {
              progress(nb.executed())
            } catch (error) {
              progressFailure = { error }
              nb.halt('the onProgress callback threw')
            }
          }, opts.progressIntervalMs ?? PROGRESS_INTERVAL_MS).unref()
    try {
      run = await pool.run({
        txCount: n,
        mode: 'parallel',
        payload,
        completeBase: source.complete,
        maxReexecutions: strategy.maxReexecutions,
        hints: plan.hints,
        shards: strategy.kind === 'sharded' && plan.shards !== undefined ? { shardOf: plan.shards.shardOf, count: plan.shards.count } : undefined,
        prepare: (nb) => {
          this.activeBlock = nb
          this.loadBase(nb, source)
        },
        serve: (req, nb) =>
          this.serve(req as EvmRequest, nb).catch((e: unknown) => {
            if (e instanceof StateReadError) readFailure ??= e
            throw e
          }),
      })
    } catch (e) {
      // A plan the engine refuses is our bug: never a wrong answer, run the block sequentially.
      if (!(e instanceof Error) || !e.message.startsWith('invalid plan:')) throw e
      const outcomes = await this.executeSequential(opts, plan.senders, progress)
      return { outcomes, metrics: { ...sequentialMetrics(outcomes.length, failures(outcomes)), fallbackReason: `engine: ${e.message}` } }
    } finally {
      clearInterval(ticker)
      this.activeBlock = undefined
    }
    if (progressFailure !== undefined) throw progressFailure.error
    if (run.haltReason !== undefined) {
      this.stopIfClosed()
      if (!run.haltReason.startsWith('engine:')) throw new WorkerError(`parallel run halted: ${run.haltReason}`)
      // A broken engine invariant: never a wrong answer, run the block again sequentially.
      const outcomes = await this.executeSequential(opts, plan.senders, progress)
      return { outcomes, metrics: { ...sequentialMetrics(outcomes.length, failures(outcomes)), fallbackReason: run.haltReason } }
    }
    const outcomes: TxOutcome[] = []
    let gasUsed = 0n
    for (let i = 0; i < n; i++) {
      if (block.header.gasLimit < block.transactions[i].gasLimit + gasUsed) {
        throw new InvalidBlockError('tx has a higher gas limit than the block', i)
      }
      const o = run.outcomes[i]
      if (o === undefined) throw new NativeError(`transaction ${i} has no outcome`)
      if (!o.ok) {
        if (o.error.code === 'STATE_READ_FAILED') throw new StateReadError(o.error.message, i, { cause: readFailure?.message === o.error.message ? readFailure.cause : undefined })
        throw new InvalidBlockError(o.error.message, i)
      }
      const outcome = decodeOutcome(o.value as Uint8Array)
      outcomes.push(outcome)
      gasUsed += outcome.blockGasSpent
    }
    await this.overlay.applyNative(decodeSnapshot(run.snapshot!), run.code)
    // Remember which call signatures conflicted, for the dependency strategy's next blocks.
    if (run.graph !== undefined && plan.analysis !== undefined) this.memory.learn(plan.analysis, run.graph)
    const s = run.stats
    const failed = failures(outcomes)
    return {
      outcomes,
      metrics: {
        strategy: strategy.kind,
        threads: pool.size,
        transactions: n,
        successful: n - failed,
        failed,
        executions: s.executions,
        reexecutions: s.reexecutions,
        validations: s.validations,
        validationAborts: s.validationAborts,
        dependencyAborts: s.dependencyAborts,
        conflictRate: s.executions === 0 ? 0 : (s.validationAborts + s.dependencyAborts) / s.executions,
        dependencyWaits: s.dependencyWaits,
        hintWaits: s.hintWaits,
        peakConcurrency: s.peakConcurrency,
        ...(s.serialFrom !== undefined && s.serialFrom !== null ? { serialFrom: s.serialFrom } : {}),
        ...(plan.shards !== undefined && strategy.kind === 'sharded' ? { shards: { count: plan.shards.count, loads: plan.shards.loads } } : {}),
        dependencies: criticalPath(run, pool.size),
        workers: { wallMs: run.wallMs, busyMs: run.busyMs, heapUsedBytes: run.heapUsedBytes, nativeBytes: run.nativeBytes, requests: run.requests },
      },
    }
  }

  /**
   * Loads the native block's base state: the pre-transaction writes of this block, and for a
   * prestate everything else too (a complete base needs no loads later).
   */
  private loadBase(nb: NativeBlock, source: BaseSource): void {
    const b = new ByteBuilder()
    const written = new Set<string>()
    this.overlay.forEachWrite((w) => {
      if (w.kind === 'wipe') throw new NativeError('storage wipes before the transactions are not supported')
      if (w.kind === 'account') {
        written.add(Buffer.from(w.address).toString('latin1'))
        b.baseAccount(w.address, w.fields ?? undefined)
      } else {
        written.add(Buffer.from(w.address).toString('latin1') + Buffer.from(w.slot).toString('latin1'))
        b.baseStorage(w.address, w.slot, bytesToBigInt(w.value))
      }
    })
    if (source instanceof PrestateSource) {
      for (const { address, fields } of source.accounts.values()) {
        if (!written.has(Buffer.from(address).toString('latin1'))) b.baseAccount(address, fields)
      }
      for (const [addressKey, slots] of source.slotsByAddress) {
        const address = Buffer.from(addressKey, 'latin1')
        for (const { slot, value } of slots) {
          if (!written.has(addressKey + Buffer.from(slot).toString('latin1'))) b.baseStorage(address, slot, bytesToBigInt(value))
        }
      }
    }
    nb.loadBase(b.bytes())
  }

  private async serve(req: EvmRequest, nb: NativeBlock): Promise<unknown> {
    switch (req.kind) {
      case 'base': {
        const { kind, address, slot } = parseLocation(req.location)
        const b = new ByteBuilder(256)
        if (kind === LocationKind.Account) {
          b.baseAccount(address, (await this.overlay.accountFields(address)) ?? undefined)
        } else if (kind === LocationKind.Storage) {
          b.baseStorage(address, slot, bytesToBigInt(await this.overlay.getStorage(new Address(address.slice()), slot.slice())))
        } else {
          throw new NativeError(`cannot load location kind ${kind}`)
        }
        nb.loadBase(b.bytes())
        return undefined
      }
      case 'code': {
        // A prestate's code was hashed when it was read, a state manager's is checked on reading.
        const code = await this.overlay.base.code(req.address, req.codeHash)
        nb.loadCode(req.codeHash, code)
        return undefined
      }
      case 'blockhash':
        return (await this.blockHash(req.number)).hash()
    }
  }

  private async assemble(block: Block, outcomes: TxOutcome[], roots?: Uint8Array[]) {
    const receipts: TxReceipt[] = []
    const results: RunTxResult[] = []
    const encoded = new ByteBuilder(outcomes.length * 320 + 64)
    const lengths: number[] = new Array(outcomes.length)
    const bloom = new Uint8Array(256)
    const zeroBloom = new Uint8Array(256)
    let gasUsed = 0n
    let cumulative = 0n
    for (let i = 0; i < outcomes.length; i++) {
      const o = outcomes[i]
      const tx: TypedTransaction = block.transactions[i]
      gasUsed += o.blockGasSpent
      cumulative += o.totalGasSpent
      const receipt = receiptOf(tx, o, cumulative, this.common, block, roots?.[i])
      receipts.push(receipt)
      results.push(runTxResultOf(o, receipt, this.common))
      const status = 'stateRoot' in receipt ? receipt.stateRoot : receipt.status
      lengths[i] = appendReceipt(encoded, tx.type, status, cumulative, o.bloom ?? zeroBloom, o.logs)
      if (o.bloom !== undefined) for (let j = 0; j < 256; j++) bloom[j] |= o.bloom[j]
    }
    return { receipts, results, gasUsed, logsBloom: bloom, receiptsRoot: await orderedTrieRoot(encoded.bytes(), lengths) }
  }

  /** `runBlock`'s checks of the header against the result (when `generate` is not set). */
  private checkHeader(block: Block, r: { receiptsRoot: Uint8Array; logsBloom: Uint8Array; gasUsed: bigint }, requestsHash?: Uint8Array, accessListMatches?: boolean): void {
    const h = block.header
    if (this.common.isActivatedEIP(7685) && (h.requestsHash === undefined || requestsHash === undefined || !bytesEqual(h.requestsHash, requestsHash))) {
      throw new InvalidBlockError('invalid requestsHash')
    }
    // Only where the caller gave an EIP-7928 access list (ethereumjs's order of checks).
    if (accessListMatches === false) throw new InvalidBlockError('invalid block access list')
    if (!bytesEqual(r.receiptsRoot, h.receiptTrie)) throw new InvalidBlockError('invalid receiptTrie')
    if (!bytesEqual(r.logsBloom, h.logsBloom)) throw new InvalidBlockError('invalid bloom')
    if (r.gasUsed !== h.gasUsed) throw new InvalidBlockError('invalid gasUsed')
  }

  /** Writes the block into the caller's state manager; on a state-root mismatch, reverts. */
  private async commit(opts: RunBlockOptions, block: Block, beforeCommit?: () => void): Promise<Uint8Array> {
    const sm = opts.stateManager!
    await sm.checkpoint()
    try {
      await this.overlay.applyTo(sm)
      const root = await sm.getStateRoot()
      if (opts.generate !== true && !bytesEqual(root, block.header.stateRoot)) {
        throw new InvalidBlockError(`invalid block stateRoot, got: ${Buffer.from(root).toString('hex')}, want: ${Buffer.from(block.header.stateRoot).toString('hex')}`)
      }
      beforeCommit?.()
      await sm.commit()
      return root
    } catch (e) {
      await sm.revert()
      throw e
    }
  }

  /** The escape hatch: ethereumjs's own `runBlock` over the overlay, senders recovered natively. */
  private async runWithEthereumjs(
    opts: RunBlockOptions,
    started: number,
    timings: ExecutionMetrics['timings'],
    phase: (p: Phase) => void,
    executed: (done: number) => void,
  ): Promise<ParallelRunBlockResult> {
    const { block } = opts
    const txs = block.transactions.map((tx, i) => {
      try {
        return withSender(tx, recoverSender(tx))
      } catch (e) {
        throw new InvalidBlockError((e as Error).message, i, { cause: e })
      }
    })
    const wrapped = Object.create(block, { transactions: { value: txs } }) as Block
    // EIP-7928: the caller's access list, read (and its hash checked) before execution, as
    // ethereumjs does; our `generate: true` run below would skip both checks.
    let givenBal: ReturnType<typeof readBlockAccessList> | undefined
    if (opts.blockAccessList !== undefined && this.common.isActivatedEIP(7928)) {
      try {
        givenBal = readBlockAccessList(opts.blockAccessList, opts.generate === true ? undefined : block.header.blockAccessListHash)
      } catch (e) {
        throw new InvalidBlockError((e as Error).message, undefined, { cause: e })
      }
    }
    let r: Awaited<ReturnType<typeof runBlock>>
    // ethereumjs names no transaction in its errors: count the ones it finished (`afterTx`). A
    // throw while it runs the transactions is about the next one (its block gas limit check
    // included, which comes before `runTx`); once all have finished, about none. The count
    // also gives progress, as on the sequential path; a callback that throws inside ethereumjs
    // cancels the block with its own error, not as an invalid transaction.
    let finished = 0
    let progressFailure: { error: unknown } | undefined
    const count = () => {
      if (++finished % PROGRESS_EVERY !== 0) return
      try {
        executed(finished)
      } catch (error) {
        progressFailure = { error }
        throw error
      }
    }
    this.vm.events.on('afterTx', count)
    try {
      r = await runBlock(this.vm, {
        block: wrapped,
        generate: true,
        skipBlockValidation: true,
        skipHardForkValidation: opts.skipHardForkValidation,
        skipBalance: opts.skipBalance,
        skipNonce: opts.skipNonce,
        setHardfork: false,
      })
    } catch (e) {
      if (progressFailure !== undefined) throw progressFailure.error
      throw txFailure(e, finished < txs.length ? finished : undefined)
    } finally {
      this.vm.events.off('afterTx', count)
    }
    // ethereumjs's steps before and after the transactions count as execution here.
    phase('execute')
    if (opts.generate !== true) this.checkHeader(block, r, r.requestsHash, givenBal === undefined ? undefined : sameBlockAccessList(givenBal, r.blockLevelAccessList))
    phase('assemble')
    const stateDiff = await this.overlay.diff()
    let stateRoot: Uint8Array | undefined
    if (opts.stateManager !== undefined && opts.commit !== false) {
      stateRoot = await this.commit(opts, block, () => phase('commit'))
    } else {
      phase('commit')
    }
    timings.total = performance.now() - started
    const metrics: ExecutionMetrics = {
      ...sequentialMetrics(txs.length, r.results.filter((x) => x.execResult.exceptionError !== undefined).length),
      decision: { requested: (opts.strategy ?? this.strategy).kind, reason: 'sequential: this block needs ethereumjs runBlock (its rules are not modelled by the parallel path)' },
      timings,
    }
    this.account(metrics, r.gasUsed, { kind: 'sequential' })
    return { ...r, stateRoot, senders: txs.map((tx) => tx.getSenderAddress()), stateDiff, metrics }
  }

  /** BLOCKHASH's source: the caller's blockchain (a throw is a `StateReadError`), else zero hashes. */
  private blockHash(n: bigint | number): Promise<{ hash(): Uint8Array }> {
    const chain = this.blockchain
    if (chain === undefined) return Promise.resolve(ZERO_HASH_BLOCK)
    return readCaller(
      () => `the blockchain's getBlock(${n})`,
      () => chain.getBlock(n),
    )
  }

  /** Ends a block with `ExecutorClosedError` once `close()` was called (before anything is committed). */
  private stopIfClosed(): void {
    if (this.closing !== undefined) throw new ExecutorClosedError('the executor was closed while the block ran')
  }

  /**
   * Stops the workers. A block in progress is halted (a sequential one before its next
   * transaction or phase) and its `runBlock` rejects with `ExecutorClosedError`; so do the
   * blocks queued behind it. The caller's state is not touched, unless the block had already
   * reached its commit. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.activeBlock?.halt('executor closed')
      const pool = this.pool
      await this.tail
      if (pool !== undefined) await (await pool.catch(() => undefined))?.close()
    })()
    return this.closing
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }
}

/**
 * A transaction's failure, typed: the caller's state manager failing on a read is a
 * `StateReadError` (the block was not judged), anything else makes the block invalid.
 */
function txFailure(e: unknown, txIndex: number | undefined): ParallelEvmError {
  // ethereumjs's runTx and runBlock rethrow what they caught, unwrapped.
  if (e instanceof StateReadError) return new StateReadError(e.message, txIndex, { cause: e.cause })
  return new InvalidBlockError((e as Error).message, txIndex, { cause: e })
}

/**
 * An independent Common with the caller's configuration. `Common.copy()` is shallow (it shares
 * `customCrypto` and the params), and the executor must never change the caller's object.
 */
function ownCommon(c: Common): Common {
  const internals = c as unknown as { _chainParams: EvmRunnerOptions['chain']; _params: Record<string, unknown> }
  const customCrypto = { ...c.customCrypto }
  if (loadNative() !== null) {
    customCrypto.ecrecover ??= nativeEcrecover
    customCrypto.keccak256 ??= keccak256
  }
  return fastEipLookup(new Common({
    chain: structuredClone(internals._chainParams),
    hardfork: c.hardfork(),
    eips: [...c.eips()],
    params: structuredClone(internals._params) as never,
    customCrypto,
  }))
}

function normalizeStrategy(s: Strategy): Strategy {
  if (s === null || typeof s !== 'object') throw new InvalidInputError('strategy must be an object like { kind: "optimistic" }')
  const limit = (x: { maxReexecutions?: number }) => {
    if (x.maxReexecutions !== undefined && (!Number.isInteger(x.maxReexecutions) || x.maxReexecutions < 0)) {
      throw new InvalidInputError(`maxReexecutions must be a non-negative integer, got ${x.maxReexecutions}`)
    }
  }
  switch (s.kind) {
    case 'sequential':
      return s
    case 'optimistic':
      limit(s)
      if (s.senderOrder !== undefined && typeof s.senderOrder !== 'boolean') throw new InvalidInputError(`senderOrder must be a boolean, got ${JSON.stringify(s.senderOrder)}`)
      return s
    case 'dependency':
      limit(s)
      return s
    case 'sharded':
      limit(s)
      if (s.shards !== undefined && (!Number.isInteger(s.shards) || s.shards < 1)) throw new InvalidInputError(`shards must be a positive integer, got ${s.shards}`)
      return s
    case 'adaptive':
      checkAdaptive(s)
      for (const c of s.candidates ?? []) normalizeStrategy(c)
      return s
    default:
      throw new InvalidInputError(`unknown strategy ${JSON.stringify((s as { kind?: unknown }).kind)}`)
  }
}

let warnedSlowEvm = false
/**
 * Once per process: the interpreter loop and call-frame code of `interpreter.ts` install only
 * over the @ethereumjs/evm they were written from; with another version ethereumjs's own code
 * runs (the same results, slower: the loop alone made the execute phase 1.15-1.31x faster,
 * README "The EVM's own machinery").
 */
function warnSlowEvm(): void {
  if (warnedSlowEvm) return
  warnedSlowEvm = true
  const v = evmVersion()
  const what =
    v === FAST_LOOP_EVM
      ? `the source of @ethereumjs/evm ${v}'s interpreter (patched or transformed?) differs from the one`
      : `@ethereumjs/evm ${v ?? '(version unknown)'} is not ${FAST_LOOP_EVM}, the version`
  process.emitWarning(`parallel-evm: ${what} our faster interpreter loop was written from; ethereumjs's own loop runs instead (the same results, slower)`)
}

/** `RunBlockOptions.progressIntervalMs`'s default. */
const PROGRESS_INTERVAL_MS = 100

const ONE_SHARD = 'sharded: every transaction falls into one shard (one sender, or calls remembered as conflicting), so the block runs sequentially'

/** Whether every transaction has the same sender. */
function oneSender(addresses: readonly Uint8Array[]): boolean {
  const first = addresses[0]
  return addresses.every((a) => a.length === first.length && a.every((b, i) => b === first[i]))
}

/** How one block runs, settled before execution (`ParallelExecutor.plan`). */
interface Plan {
  strategy: FixedStrategy
  decision?: ExecutionMetrics['decision']
  /** Every transaction's sender (or the error recovering it would throw). */
  senders?: (Sender | Error)[]
  /** The transactions as `encodeTxs` wrote them. */
  encoded?: Uint8Array
  analysis?: Analysis
  /** Predecessors a transaction waits for before its first execution. */
  hints?: Analysis['hints']
  shards?: { shardOf: Uint32Array; count: number; loads: number[] }
}

/** What a strategy's transactions wait for before their first execution. */
function hintsFor(strategy: FixedStrategy, analysis: Analysis | undefined, senders: Uint8Array[]): Plan['hints'] {
  if (strategy.kind === 'dependency') return analysis?.hints
  if (strategy.kind === 'optimistic' && strategy.senderOrder === true) return senderOrder(senders)
  return undefined
}

/** A stand-in sender for a transaction whose signature is invalid (the block will fail). */
function placeholderSender(i: number): Uint8Array {
  const a = new Uint8Array(20)
  new DataView(a.buffer).setUint32(16, i)
  a[0] = 0xff
  return a
}

/** Senders for the workers: 84 bytes each (public key, address) and which are known. */
function packSenders(senders: (Sender | Error)[]): EvmBlockPayload['senders'] {
  const keys = new Uint8Array(senders.length * 84)
  const known = new Uint8Array(senders.length)
  for (let i = 0; i < senders.length; i++) {
    const s = senders[i]
    if (s instanceof Error) continue
    keys.set(s.publicKey, i * 84)
    keys.set(s.address.bytes, i * 84 + 64)
    known[i] = 1
  }
  return { keys, known }
}

function emptyStatistics(): ExecutorStatistics {
  return {
    blocks: 0,
    ...(Object.fromEntries(SUMMED_METRICS.map((k) => [k, 0])) as Record<SummedMetric, number>),
    conflictRate: 0,
    peakConcurrency: 0,
    fallbacks: 0,
    serialSwitches: 0,
    strategies: {},
    hotSignatures: 0,
    timings: { validate: 0, 'pre-steps': 0, analyze: 0, execute: 0, 'post-steps': 0, assemble: 0, commit: 0, total: 0 },
  }
}

/** Critical path of a parallel run's dependency graph, weighted by execution times. */
function criticalPath(run: BlockRun, threads: number): ExecutionMetrics['dependencies'] {
  const g = run.graph
  if (g === undefined) return undefined
  const n = run.outcomes.length
  const finish = new Float64Array(n)
  let work = 0
  let longest = 0
  for (let i = 0; i < n; i++) {
    let start = 0
    for (let k = g.offsets[i]; k < g.offsets[i + 1]; k++) start = Math.max(start, finish[g.preds[k]])
    // Its own execution: a wait for another transaction is already an edge of the graph, and
    // counted as work it would inflate both the work and the critical path.
    const w = Math.max(0, (run.outcomes[i]?.micros ?? 0) - (run.readWaitMicros?.[i] ?? 0))
    finish[i] = start + w
    work += w
    longest = Math.max(longest, finish[i])
  }
  return {
    workMs: work / 1000,
    criticalPathMs: longest / 1000,
    idealSpeedup: longest > 0 ? Math.min(threads, work / longest) : threads,
    edges: g.preds.length,
  }
}

/** Transactions whose execution failed (receipt status 0). */
function failures(outcomes: TxOutcome[]): number {
  return outcomes.reduce((a, o) => a + (o.error !== undefined ? 1 : 0), 0)
}

function sequentialMetrics(n: number, failed: number): Omit<ExecutionMetrics, 'timings'> {
  return {
    strategy: 'sequential',
    threads: 0,
    transactions: n,
    successful: n - failed,
    failed,
    executions: n,
    reexecutions: 0,
    validations: 0,
    validationAborts: 0,
    dependencyAborts: 0,
    conflictRate: 0,
    dependencyWaits: 0,
    hintWaits: 0,
    peakConcurrency: n > 0 ? 1 : 0,
  }
}

