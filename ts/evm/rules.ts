/** What the workers can reproduce of a block (see `foreignRules`). */
import { paramsBlock, type Block } from '@ethereumjs/block'
import { Common } from '@ethereumjs/common'
import { paramsEVM } from '@ethereumjs/evm'
import { paramsTx } from '@ethereumjs/tx'
import { paramsVM } from '@ethereumjs/vm'

/**
 * Why the workers could not rebuild this block as ethereumjs sees it, if so. A worker rebuilds
 * the header and each transaction from their bytes with its own Common (the executor's chain,
 * hardfork and EIPs, with ethereumjs's default parameters), while ethereumjs keeps the block's
 * objects, each with its own Common: a transaction's intrinsic gas (calldata, initcode, access
 * lists, authorizations) and gas limit cap come from the transaction's hardfork, EIPs and
 * parameters, the blob gas price from the header's parameters. They differ only when the
 * block was built for other rules than it runs under (`setHardfork` moving it to a later
 * fork, a `Block` assembled by hand, a block or transactions created with their own `params`):
 * such a block runs sequentially, on the objects as given. Every transaction holds its own
 * copy of the Common, so they are compared by value.
 */
export function foreignRules(block: Block, common: Common): string | undefined {
  const hardfork = common.hardfork()
  const eips = common.eips()
  const reference = workerParams(common)
  const header = paramsCacheOf(block.header.common)
  for (const name of BLOCK_PARAM_NAMES) {
    if (header[name] !== reference.header[name]) return `the block was built with ${name} = ${String(header[name])}, not the ${String(reference.header[name])} the workers use`
  }
  // Per transaction of every parallel block: compared in place, nothing allocated.
  const { names, values } = reference.tx
  const sameEips = (other: readonly number[]) => other === eips || (other.length === eips.length && other.every((e, k) => e === eips[k]))
  const txs = block.transactions
  for (let i = 0; i < txs.length; i++) {
    const c = txs[i].common
    if (c !== common) {
      if (c.hardfork() !== hardfork) return `transaction ${i} was built for ${c.hardfork()}, the block runs under ${hardfork}`
      if (!sameEips(c.eips())) return `transaction ${i} was built with EIPs [${c.eips().join(', ')}], the block runs with [${eips.join(', ')}]`
    }
    const params = paramsCacheOf(c)
    for (let k = 0; k < names.length; k++) {
      if (params[names[k]] !== values[k]) return `transaction ${i} was built with ${names[k]} = ${String(params[names[k]])}, not the ${String(values[k])} the workers use`
    }
  }
  return undefined
}

/** Every parameter `@ethereumjs/tx` defines: what a transaction object reads from its Common. */
const TX_PARAM_NAMES = [...new Set(Object.values(paramsTx).flatMap((p) => Object.keys(p)))]
/** Every parameter `@ethereumjs/block` defines: what a header reads from its Common (the blob gas price among them). */
const BLOCK_PARAM_NAMES = [...new Set(Object.values(paramsBlock).flatMap((p) => Object.keys(p)))]

/** A Common's resolved parameters (for its hardfork and EIPs), by name. */
function paramsCacheOf(c: Common): Record<string, unknown> {
  return (c as unknown as { _paramsCache: Record<string, unknown> })._paramsCache
}

interface WorkerParams {
  /**
   * The transaction parameters a worker's transactions resolve, as names and values in step.
   * Only those defined for this hardfork and EIP set: ethereumjs's `param()` throws on any
   * other, so none of them is read for a transaction of those rules (which `foreignRules`
   * checks first), whatever its Common holds. Missing keys are also the slow lookups:
   * `foreignRules` on 2,000 fresh transfers took 0.2-0.8 µs a transaction with the 11 names
   * defined at Cancun, 2.5-3.0 µs with all 20 (scratch runs, medians of 20).
   */
  tx: { names: string[]; values: unknown[] }
  /** As the header a worker rebuilt resolves them. */
  header: Record<string, unknown>
}

/** The parameters a worker resolves, per chain, hardfork and EIPs (built once each). */
const workerParamsByChain = new WeakMap<object, Map<string, WorkerParams>>()

/**
 * The parameters as a worker holds them (`createRunner`): its Common has the chain, hardfork
 * and EIPs without the caller's parameters, then ethereumjs's transaction defaults and the
 * EVM's and VM's as `createVM` merges them (EVM first, then VM); its transactions share that
 * Common, and its header (`createBlockHeaderFromRLP`) adds the block defaults on a copy.
 */
function workerParams(common: Common): WorkerParams {
  const chain = (common as unknown as { _chainParams: object })._chainParams
  let byRules = workerParamsByChain.get(chain)
  if (byRules === undefined) workerParamsByChain.set(chain, (byRules = new Map()))
  const key = `${common.hardfork()} ${common.eips().join(',')}`
  let params = byRules.get(key)
  if (params === undefined) {
    const c = new Common({ chain: structuredClone(chain) as never, hardfork: common.hardfork(), eips: [...common.eips()] })
    c.updateParams(paramsTx)
    c.updateParams(paramsEVM)
    c.updateParams(paramsVM)
    const resolved = paramsCacheOf(c)
    const names = TX_PARAM_NAMES.filter((name) => resolved[name] !== undefined)
    const tx = { names, values: names.map((name) => resolved[name]) }
    c.updateParams(paramsBlock)
    params = { tx, header: { ...paramsCacheOf(c) } }
    byRules.set(key, params)
  }
  return params
}
