/**
 * The pause before every timed run of the block and strategy benchmarks: runners take turns in
 * a fixed (or fixed cyclic) order, so without it a runner would always start while the same
 * predecessor's workers are still collecting their garbage, and pay for it.
 */
export const IDLE_MS = 30

export function idle(): Promise<void> {
  return new Promise((r) => setTimeout(r, IDLE_MS))
}
