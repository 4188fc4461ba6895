/**
 * A faster `isActivatedEIP` for the Commons this package creates.
 *
 * ethereumjs asks `common.isActivatedEIP(n)` many times per transaction (gas rules, warm
 * access lists, opcode handlers) and answers by scanning an array of every EIP the hardfork
 * activated (`_activatedEIPsCache`, about 40 entries after Cancun): 891 calls per ERC-20
 * transfer, 4 % of a worker's time on them in a CPU profile, about 25 ns a call against 11 ns
 * for a Set (`npx tsx bench/eips.ts`), so some 12 µs per transfer. This answers from a Set
 * built from that same array, and rebuilds the Set whenever ethereumjs replaces the array (it
 * rebuilds it, never edits it, on every hardfork or EIP change), so the answer is always the
 * array's.
 *
 * Only the given Common changes (an own property; `common.copy()` carries it along); any other
 * Common in the process keeps ethereumjs's method. Nothing changes if the internals differ
 * from what this expects.
 */
import type { Common } from '@ethereumjs/common'

interface EipInternals {
  _activatedEIPsCache?: unknown
  isActivatedEIP(eip: number): boolean
}

export function fastEipLookup(common: Common): Common {
  const c = common as unknown as EipInternals
  if (!Array.isArray(c._activatedEIPsCache) || typeof c.isActivatedEIP !== 'function') return common
  let source: unknown
  let set = new Set<number>()
  c.isActivatedEIP = function (this: EipInternals, eip: number): boolean {
    const list = this._activatedEIPsCache as number[]
    if (list !== source) {
      set = new Set(list)
      source = list
    }
    return set.has(eip)
  }
  return common
}
