/**
 * Worker thread entry. It loads one runner, then for each block attaches to the native block
 * and pulls transactions from the native scheduler synchronously: `next()` blocks this thread
 * (never the main thread) until there is work, and validations run inside it. Compared with
 * a native thread calling into JS through a thread-safe function per task, this costs no
 * event-loop wake-up per transaction.
 */
import { parentPort, workerData } from 'node:worker_threads'

import { reviveError, serializeError, type SerializedError } from '../errors.ts'
import { loadNative } from '../native.ts'
import type { FromWorker, Outcome, ToWorker, WorkerInit } from './protocol.ts'
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

async function runBlock(runner: TxRunner, blockId: number, payload: unknown): Promise<void> {
  const native = loadNative()
  const started = performance.now()
  const latest = new Map<number, Outcome>()
  let fatal: SerializedError | undefined
  currentBlock = blockId
  let handle: InstanceType<NonNullable<typeof native>['NativeWorker']> | undefined
  try {
    if (native === null) throw new Error('the native addon is not available in this worker')
    handle = new native.NativeWorker(blockId)
    const view = new NativeView(handle)
    await runner.beginBlock(payload)
    for (;;) {
      const code = handle.next()
      if (code < 0) break
      const tx = code % TWO_32
      const incarnation = (code - tx) / TWO_32
      let outcome: Outcome | undefined
      for (;;) {
        view.begin(tx, incarnation)
        try {
          const value = await runner.execute(tx, view)
          if (view.signal !== undefined) throw view.signal
          handle.finish(view.writes.buf, view.writes.len)
          outcome = { tx, incarnation, ok: true, value }
        } catch (e) {
          const signal = view.signal ?? (isControlSignal(e) ? e : undefined)
          if (signal === undefined) {
            // The transaction failed: it writes nothing, but its reads still count.
            handle.finish(view.writes.buf, 0)
            outcome = { tx, incarnation, ok: false, error: serializeError(e) }
          } else {
            runner.abandon?.()
            if (signal instanceof NotLoadedSignal) {
              await request({ kind: 'base', location: signal.location })
              handle.restart()
              continue
            }
            if (signal instanceof BlockedSignal) handle.suspend(signal.blocker)
            // Halted: the next `next()` returns -2 and the loop ends.
          }
        }
        break
      }
      if (outcome !== undefined) latest.set(tx, outcome)
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
  post({ type: 'block-done', blockId, outcomes: [...latest.values()], fatal, busyMs: performance.now() - started })
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
        queue = queue.then(() => runBlock(runner, m.blockId, m.payload))
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
