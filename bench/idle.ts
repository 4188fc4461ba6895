/**
 * The pause before every timed run of the block and strategy benchmarks: runners take turns in
 * a fixed (or fixed cyclic) order, so without it a runner would always start while the same
 * predecessor's workers are still collecting their garbage, and pay for it.
 *
 * Only a pause, no forced garbage collection: a `gc()` before a run made the calling thread's
 * next run of ethereumjs up to 1.6x slower (its interpreter loop, `runStep`, ran at half speed
 * after it; measured on mainnet blocks), which slowed the sequential strategy far more than the
 * workers and so flattered every parallel ratio.
 */
export const IDLE_MS = 30

export function idle(): Promise<void> {
  return new Promise((r) => setTimeout(r, IDLE_MS))
}
