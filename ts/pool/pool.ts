/**
 * A pool of worker threads, started once and used for many blocks. Each worker loads one
 * runner module; a block run creates a native block, lets the participating workers pull its
 * transactions, serves their base-state loads, and collects the outcome of each transaction's
 * last incarnation.
 */
import { serialize } from 'node:v8'
import { Worker } from 'node:worker_threads'

import { ExecutorClosedError, NativeError, WorkerError, reviveError, serializeError } from '../errors.ts'
import { loadNative, type NativeBinding } from '../native.ts'
import type { FromWorker, Outcome, PackedOutcomes, ToWorker, WorkerInit } from './protocol.ts'
import type { SerializedError } from '../errors.ts'

export type NativeBlock = InstanceType<NativeBinding['NativeBlock']>
export type NativeRunStats = ReturnType<NativeBlock['stats']>

/** A module next to this one, in the flavour (compiled `.js` or source `.ts`) now running. */
export function siblingModule(base: string, relative: string): string {
  const ext = base.endsWith('.ts') ? '.ts' : '.js'
  return new URL(relative + ext, base).href
}

export interface PoolOptions {
  /** Worker threads to start. */
  threads: number
  /** URL of a module exporting `createRunner` (see `runner.ts`). */
  runnerModule: string
  /** Structured-cloneable options passed to `createRunner`. */
  runnerOptions?: unknown
}

export interface BlockRequest {
  txCount: number
  mode: 'parallel' | 'sequential'
  /** Workers taking part (parallel mode); default all. Sequential mode uses one. */
  workers?: number
  /** Sent to each participating worker's `beginBlock`. */
  payload: unknown
  /** Whether unlisted base locations are absent (true) or must be loaded on demand. */
  completeBase: boolean
  /** Retry policy: re-executions of one transaction after which the rest runs in order. */
  maxReexecutions?: number
  /**
   * Parallel mode: predicted dependencies; transaction `i` waits for
   * `preds[offsets[i]..offsets[i + 1]]` (all lower) before its first execution.
   */
  hints?: { offsets: Uint32Array; preds: Uint32Array }
  /** Parallel mode: the shard of each transaction; shard `s` runs on worker `s % workers`. */
  shards?: { shardOf: Uint32Array; count: number }
  /** Loads base state into the native block before the workers start. */
  prepare?(block: NativeBlock): void
  /**
   * Answers a worker's request (its runner's own kinds, and `{ kind: 'base', location }`
   * when a base value is not loaded). Identical requests of one block are answered once.
   */
  serve?(request: unknown, block: NativeBlock): Promise<unknown>
}

export interface BlockRun {
  /** Per transaction, the outcome of its last (committed) incarnation. */
  outcomes: Outcome[]
  /** Native snapshot records of the final state; undefined if the run halted. */
  snapshot: Uint8Array | undefined
  stats: NativeRunStats
  /** Set when the engine halted the run (`engine: …` means: run it again sequentially). */
  haltReason: string | undefined
  /** Code written during the block, by hash. */
  code(hash: Uint8Array): Uint8Array | null
  /**
   * The dependency graph of a finished parallel run: transaction `i` depends on
   * `preds[offsets[i]..offsets[i + 1]]`.
   */
  graph: { offsets: Uint32Array; preds: Uint32Array } | undefined
  /**
   * With `graph`: per transaction, how long its last incarnation's reads waited for other
   * transactions, microseconds (part of its `micros`, not its own execution).
   */
  readWaitMicros: Float64Array | undefined
  /** Wall time from the first worker starting to the last finishing. */
  wallMs: number
  /** Per worker, the time it spent inside the block. */
  busyMs: number[]
  /** Per worker, its JS heap in use when it finished the block. */
  heapUsedBytes: number[]
  /** Bytes held by the engine's structures for the block. */
  nativeBytes: number
  /** Requests the workers sent during the block (each a round trip to this thread). */
  requests: number
}

interface Slot {
  worker: Worker
  alive: boolean
  exited: Promise<number>
  /** The last 'error' event of the worker, if any. */
  error?: Error
  onMessage?: (m: FromWorker) => void
  onExit?: (code: number) => void
}

export class WorkerPool {
  private slots: Slot[] = []
  private closing: Promise<void> | undefined
  private tail: Promise<unknown> = Promise.resolve()
  private activeBlock: NativeBlock | undefined
  private readonly native: NativeBinding

  private constructor(private readonly opts: PoolOptions) {
    const native = loadNative()
    if (native === null) throw new NativeError('the worker pool needs the native addon')
    this.native = native
  }

  /** Starts `threads` workers and waits until each has loaded its runner. */
  static async start(opts: PoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(opts)
    const started = await Promise.allSettled(Array.from({ length: opts.threads }, () => pool.spawn()))
    for (const s of started) if (s.status === 'fulfilled') pool.slots.push(s.value)
    const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected')
    if (failed !== undefined) {
      await pool.close()
      throw failed.reason
    }
    return pool
  }

  get size(): number {
    return this.slots.length
  }

  private spawn(): Promise<Slot> {
    const entry = siblingModule(import.meta.url, './worker')
    const init: WorkerInit = { runnerModule: this.opts.runnerModule, runnerOptions: this.opts.runnerOptions, entry }
    // From TypeScript sources the worker needs a shim that registers tsx (see the shim).
    const script = entry.endsWith('.ts') ? new URL('./ts-worker-shim.mjs', import.meta.url) : new URL(entry)
    const worker = new Worker(script, { workerData: init })
    let resolveExit!: (code: number) => void
    const slot: Slot = { worker, alive: true, exited: new Promise((r) => (resolveExit = r)) }
    worker.on('message', (m: FromWorker) => slot.onMessage?.(m))
    worker.on('error', (e) => {
      slot.error = e
    })
    worker.on('exit', (code) => {
      slot.alive = false
      slot.onExit?.(code)
      resolveExit(code)
    })
    return new Promise((resolve, reject) => {
      slot.onMessage = (m) => {
        if (m.type === 'ready') {
          slot.onMessage = undefined
          slot.onExit = undefined
          // An idle worker does not keep the process alive (see `runNow` and `close`).
          worker.unref()
          resolve(slot)
        } else if (m.type === 'init-failed') {
          slot.onExit = undefined
          void worker.terminate()
          reject(new WorkerError(`worker failed to start: ${m.error.message}`, { cause: reviveError(m.error) }))
        }
      }
      slot.onExit = (code) => reject(new WorkerError(`worker exited (code ${code}) while starting`, { cause: slot.error }))
    })
  }

  /** Runs one block; blocks queue behind each other. */
  run(req: BlockRequest): Promise<BlockRun> {
    const result = this.tail.then(() => this.runNow(req))
    this.tail = result.catch(() => undefined)
    return result
  }

  private async runNow(req: BlockRequest): Promise<BlockRun> {
    if (this.closing !== undefined) throw new ExecutorClosedError()
    // Replace workers that died since the last block.
    for (let i = 0; i < this.slots.length; i++) {
      if (!this.slots[i].alive) this.slots[i] = await this.spawn()
    }
    const count = req.mode === 'sequential' ? 1 : Math.max(1, Math.min(req.workers ?? this.slots.length, this.slots.length))
    const block = new this.native.NativeBlock(req.txCount, {
      mode: req.mode,
      completeBase: req.completeBase,
      maxReexecutions: req.maxReexecutions,
      hints: req.hints,
      shards: req.shards !== undefined ? { shardOf: req.shards.shardOf, count: req.shards.count, workers: count } : undefined,
    })
    this.activeBlock = block
    const participants = this.slots.slice(0, count)
    // Workers are referenced only while a block or `close` waits on them: idle between blocks,
    // they let the process exit when the caller's own work is done, even without `close()`.
    for (const slot of participants) slot.worker.ref()
    try {
      req.prepare?.(block)
      // Serialized once, shared by every worker (not cloned once per worker).
      const serialized = serialize(req.payload)
      const payload = new SharedArrayBuffer(serialized.length)
      new Uint8Array(payload).set(serialized)
      const answers = new Map<string, Promise<unknown>>()
      let requests = 0
      const started = performance.now()
      const settled = await Promise.allSettled(
        participants.map(
          (slot, worker) =>
            new Promise<Extract<FromWorker, { type: 'block-done' }>>((resolve, reject) => {
              slot.onExit = (code) => {
                block.halt('a worker died')
                reject(new WorkerError(`worker exited (code ${code}) during a block`, { cause: slot.error }))
              }
              slot.onMessage = (m) => {
                if (m.type === 'block-done' && m.blockId === block.id) resolve(m)
                else if (m.type === 'request' && m.blockId === block.id) {
                  requests++
                  this.serve(slot, m, block, req, answers)
                }
              }
              const msg: ToWorker = { type: 'block', blockId: block.id, worker, payload }
              slot.worker.postMessage(msg)
            }),
        ),
      )
      const wallMs = performance.now() - started
      for (const slot of participants) {
        slot.onMessage = undefined
        slot.onExit = undefined
      }
      const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected')
      if (failure !== undefined) throw failure.reason
      const done = settled.map((s) => (s as PromiseFulfilledResult<Extract<FromWorker, { type: 'block-done' }>>).value)
      const fatal = done.find((d) => d.fatal !== undefined)?.fatal
      if (this.closing !== undefined) throw new ExecutorClosedError('the executor was closed during the block')
      if (fatal !== undefined) {
        throw new WorkerError(`worker failed: ${fatal.message}`, { cause: reviveError(fatal) })
      }
      const haltReason = block.haltReason() ?? undefined
      const outcomes: Outcome[] = new Array(req.txCount)
      if (haltReason === undefined) {
        for (const d of done) {
          for (const o of unpack(d.outcomes)) {
            const prev = outcomes[o.tx]
            if (prev === undefined || prev.incarnation < o.incarnation) outcomes[o.tx] = o
          }
        }
      }
      return {
        outcomes,
        snapshot: haltReason === undefined ? block.snapshot() : undefined,
        graph: haltReason === undefined ? (block.dependencyGraph() ?? undefined) : undefined,
        readWaitMicros: haltReason === undefined ? (block.readWaitMicros() ?? undefined) : undefined,
        stats: block.stats(),
        haltReason,
        code: (hash) => block.code(hash),
        wallMs,
        busyMs: done.map((d) => d.busyMs),
        heapUsedBytes: done.map((d) => d.heapUsedBytes),
        nativeBytes: block.memoryBytes(),
        requests,
      }
    } finally {
      this.activeBlock = undefined
      block.close()
      for (const slot of participants) slot.worker.unref()
    }
  }

  private serve(
    slot: Slot,
    m: Extract<FromWorker, { type: 'request' }>,
    block: NativeBlock,
    req: BlockRequest,
    answers: Map<string, Promise<unknown>>,
  ): void {
    const key = requestKey(m.request)
    let p = answers.get(key)
    if (p === undefined) {
      p = req.serve === undefined ? Promise.reject(new Error('this block serves no requests')) : req.serve(m.request, block)
      answers.set(key, p)
    }
    p.then(
      (value) => slot.worker.postMessage({ type: 'reply', requestId: m.requestId, value } satisfies ToWorker),
      (e: unknown) => slot.worker.postMessage({ type: 'reply', requestId: m.requestId, error: serializeError(e) } satisfies ToWorker),
    )
  }

  /**
   * Stops the pool: a running block is halted (its call rejects with `ExecutorClosedError`),
   * then every worker closes its runner and exits. Workers that do not exit within
   * `timeoutMs` are terminated. Idempotent.
   */
  close(timeoutMs = 5000): Promise<void> {
    this.closing ??= (async () => {
      this.activeBlock?.halt('executor closed')
      await this.tail
      await Promise.all(
        this.slots.map(async (slot) => {
          if (!slot.alive) return
          slot.worker.ref()
          slot.worker.postMessage({ type: 'close' } satisfies ToWorker)
          const timer = setTimeout(() => void slot.worker.terminate(), timeoutMs)
          await slot.exited
          clearTimeout(timer)
        }),
      )
    })()
    return this.closing
  }
}

/** A map key identifying a request by content (bytes as hex, bigints as decimal). */
function requestKey(r: unknown): string {
  return JSON.stringify(r, (_k, v: unknown) =>
    v instanceof Uint8Array ? Buffer.from(v).toString('hex') : typeof v === 'bigint' ? v.toString() : v,
  )
}

/** Outcomes of one worker; values of kind 1 are views into the transferred buffer. */
function* unpack(p: PackedOutcomes): Generator<Outcome> {
  const bytes = new Uint8Array(p.bytes)
  let other = 0
  let start = 0
  for (let i = 0; i < p.tx.length; i++) {
    const tx = p.tx[i]
    const incarnation = p.incarnation[i]
    switch (p.kind[i]) {
      case 0:
        yield { tx, incarnation, micros: p.micros[i], ok: false, error: p.other[other++] as SerializedError }
        break
      case 1:
        yield { tx, incarnation, micros: p.micros[i], ok: true, value: bytes.subarray(start, p.end[i]) }
        break
      default:
        yield { tx, incarnation, micros: p.micros[i], ok: true, value: p.other[other++] }
    }
    start = p.end[i]
  }
}
