/**
 * Worker thread entry. It loads one runner, then for each block attaches to the native block
 * and pulls transactions from the native scheduler synchronously: `next()` blocks this thread
 * (never the main thread) until there is work, and validations run inside it. Compared with
 * a native thread calling into JS through a thread-safe function per task, this costs no
 * event-loop wake-up per transaction.
 */
import { deserialize } from 'node:v8'
import { parentPort, workerData } from 'node:worker_threads'

import { reviveError, serializeError, type SerializedError } from '../errors.ts'
import { loadNative } from '../native.ts'
import type { FromWorker, Outcome, PackedOutcomes, ToWorker, WorkerInit } from './protocol.ts'
import type { RunnerModule, TxRunner } from './runner.ts'
import { BlockedSignal, NativeView, NotLoadedSignal, isControlSignal } from './view.ts'

const port = parentPort!
const init = workerData as WorkerInit
const post = (m: FromWorker) => port.postMessage(m)

const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
let nextRequest = 1
let currentBlock = 0

function request(req: unknown): Promise<unknown> {
  const requestId = nextRequest++
  return new Promise((resolve, reject) => {
    pending.set(requestId, { resolve, reject })
    post({ type: 'request', requestId, blockId: currentBlock, request: req })
  })
}

const TWO_32 = 4294967296

/** Packs outcomes for `block-done`; returns the message part and the buffers to transfer. */
function pack(outcomes: Outcome[]): { packed: PackedOutcomes; transfer: ArrayBuffer[] } {
  const n = outcomes.length
  const packed: PackedOutcomes = {
    tx: new Uint32Array(n),
    incarnation: new Uint32Array(n),
    micros: new Float64Array(n),
    kind: new Uint8Array(n),
    end: new Uint32Array(n),
    bytes: new ArrayBuffer(0),
    other: [],
  }
  let total = 0
  for (const o of outcomes) if (o.ok && o.value instanceof Uint8Array) total += o.value.length
  const bytes = new Uint8Array(total)
  let at = 0
  for (let i = 0; i < n; i++) {
    const o = outcomes[i]
    packed.tx[i] = o.tx
    packed.incarnation[i] = o.incarnation
    packed.micros[i] = o.micros
    if (!o.ok) {
      packed.kind[i] = 0
      packed.other.push(o.error)
    } else if (o.value instanceof Uint8Array) {
      packed.kind[i] = 1
      bytes.set(o.value, at)
      at += o.value.length
    } else {
      packed.kind[i] = 2
      packed.other.push(o.value)
    }
    packed.end[i] = at
  }
  packed.bytes = bytes.buffer
  return {
    packed,
    transfer: [packed.tx.buffer, packed.incarnation.buffer, packed.micros.buffer, packed.kind.buffer, packed.end.buffer, packed.bytes] as ArrayBuffer[],
  }
}

async function runBlock(runner: TxRunner, blockId: number, worker: number, shared: SharedArrayBuffer): Promise<void> {
  const native = loadNative()
  const started = performance.now()
  const latest = new Map<number, Outcome>()
  let fatal: SerializedError | undefined
  currentBlock = blockId
  let handle: InstanceType<NonNullable<typeof native>['NativeWorker']> | undefined
  try {
    if (native === null) throw new Error('the native addon is not available in this worker')
    handle = new native.NativeWorker(blockId, worker)
    const view = new NativeView(handle)
    await runner.beginBlock(deserialize(new Uint8Array(shared)))
    let code = handle.next()
    while (code >= 0) {
      const tx = code % TWO_32
      const incarnation = (code - tx) / TWO_32
      view.begin(tx, incarnation)
      const began = performance.now()
      let outcome: Outcome
      try {
        const value = await runner.execute(tx, view)
        if (view.signal !== undefined) throw view.signal
        outcome = { tx, incarnation, micros: (performance.now() - began) * 1000, ok: true, value }
      } catch (e) {
        const signal = view.signal ?? (isControlSignal(e) ? e : undefined)
        if (signal === undefined) {
          // The transaction failed: it writes nothing, but its reads still count.
          outcome = { tx, incarnation, micros: (performance.now() - began) * 1000, ok: false, error: serializeError(e) }
          view.writes.reset()
        } else {
          runner.abandon?.()
          if (signal instanceof NotLoadedSignal) {
            // Load the value, then run the same incarnation again from its start.
            await request({ kind: 'base', location: signal.location })
            handle.restart()
            continue
          }
          if (signal instanceof BlockedSignal) handle.suspend(signal.blocker)
          // Halted: `next()` returns -2 and the loop ends.
          code = handle.next()
          continue
        }
      }
      latest.set(tx, outcome)
      // Outside the try: a failure here is ours, not the transaction's (the outer catch).
      code = handle.finishNext(view.writes.buf, view.writes.len)
    }
  } catch (e) {
    fatal = serializeError(e)
    handle?.halt(`worker failed: ${fatal.message}`)
  } finally {
    try {
      runner.endBlock?.()
    } catch (e) {
      fatal ??= serializeError(e)
    }
  }
  const { packed, transfer } = pack([...latest.values()])
  const done: FromWorker = { type: 'block-done', blockId, outcomes: packed, fatal, busyMs: performance.now() - started, heapUsedBytes: process.memoryUsage().heapUsed }
  port.postMessage(done, transfer)
}

async function main(): Promise<void> {
  let runner: TxRunner
  try {
    const mod = (await import(init.runnerModule)) as RunnerModule
    runner = await mod.createRunner(init.runnerOptions, { request })
  } catch (e) {
    post({ type: 'init-failed', error: serializeError(e) })
    return
  }
  // Blocks arrive one at a time; the pool never sends the next before this one is done.
  let queue = Promise.resolve()
  port.on('message', (m: ToWorker) => {
    switch (m.type) {
      case 'block':
        queue = queue.then(() => runBlock(runner, m.blockId, m.worker, m.payload))
        break
      case 'reply': {
        const p = pending.get(m.requestId)
        pending.delete(m.requestId)
        if (m.error !== undefined) p?.reject(reviveError(m.error))
        else p?.resolve(m.value)
        break
      }
      case 'close':
        queue = queue.then(async () => {
          await runner.close?.()
          post({ type: 'closed' })
          port.close()
        })
        break
    }
  })
  post({ type: 'ready' })
}

void main()
