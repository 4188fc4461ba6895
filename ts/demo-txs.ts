/** Transactions of the key-value demo (`npm start`). */
import type { KeyValueContext } from './kv/types.ts'

/** Moves `amount` between two balance keys after some CPU work (a stand-in for EVM work). */
export function transfer(ctx: KeyValueContext, from: bigint, to: bigint, amount: bigint, workMicros: number): boolean {
  const end = performance.now() + workMicros / 1000
  while (performance.now() < end) {
    // a stand-in for interpreting bytecode
  }
  const a = ctx.read(from)
  if (a < amount) return false
  ctx.write(from, a - amount)
  ctx.write(to, ctx.read(to) + amount)
  return true
}
