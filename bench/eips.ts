/**
 * `isActivatedEIP` micro-benchmark: how often ethereumjs asks it per ERC-20 transfer (its own
 * `runBlock` over our in-memory state), and what one call costs with ethereumjs's array scan
 * against the Set of `ts/evm/eips.ts`, on a Cancun `Common`.
 *
 *   npx tsx bench/eips.ts
 */
import { Common } from '@ethereumjs/common'
import { createVM, runBlock } from '@ethereumjs/vm'

import { keccak256 } from '../ts/evm/crypto.ts'
import { fastEipLookup } from '../ts/evm/eips.ts'
import { OverlayStateManager } from '../ts/evm/state/overlay.ts'
import { PrestateSource } from '../ts/evm/state/sources.ts'
import * as W from '../__test__/support/workloads.ts'

const TXS = 2000
const wl = await W.erc20Transfers(TXS, 'distinct')
const proto = Common.prototype as unknown as { isActivatedEIP(eip: number): boolean }
const original = proto.isActivatedEIP
let calls = 0
proto.isActivatedEIP = function (this: Common, eip: number) {
  calls++
  return original.call(this, eip)
}
try {
  const sm = new OverlayStateManager(keccak256)
  sm.reset(new PrestateSource(wl.prestate, {}))
  const vm = await createVM({ common: wl.common.copy(), stateManager: sm, setHardfork: true })
  await runBlock(vm, { block: wl.block, generate: true, skipBlockValidation: true, skipHeaderValidation: true, skipHardForkValidation: true })
} finally {
  proto.isActivatedEIP = original
}
console.log(`isActivatedEIP calls per ERC-20 transfer: ${(calls / TXS).toFixed(0)}`)

const ids = [2929, 1153, 3860, 7702, 4844, 3529, 2930, 1559, 6780, 5656, 99999, 3198]
const N = 5_000_000
const ns: Record<string, number[]> = { array: [], set: [] }
const commons = { array: wl.common.copy(), set: fastEipLookup(wl.common.copy()) }
for (let round = 0; round < 5; round++) {
  for (const [name, c] of Object.entries(commons)) {
    let hits = 0
    const t = performance.now()
    for (let i = 0; i < N; i++) if (c.isActivatedEIP(ids[i % ids.length])) hits++
    ns[name].push(((performance.now() - t) * 1e6) / N)
    if (hits === 0) throw new Error('no EIP asked about is active: the measurement means nothing')
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
console.log(`ns per call (median of 5): array ${median(ns.array).toFixed(1)}, Set ${median(ns.set).toFixed(1)}`)
