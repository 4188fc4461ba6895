/**
 * Call-frame micro-benchmark: ethereumjs's `EVM.runInterpreter` and `EVM._executeCall` against
 * ours (`ts/evm/interpreter.ts`: the frame's merged `runState` built only when read, the
 * message handed over without V8's slow spread). A contract makes 200 CALLs to a contract
 * that only STOPs; three EVMs on the same fast loop and handlers: ethereumjs's two methods (as
 * the EVM's own methods), ours for `runInterpreter` only, ours for both; alternating, medians
 * of 25 calls.
 *
 *   npx tsx bench/frames.ts
 */
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createEVM, type EVM } from '@ethereumjs/evm'
import { Account, createAddressFromString, hexToBytes } from '@ethereumjs/util'

import { ethereumjsMethods, useFastLoop } from '../ts/evm/interpreter.ts'
import { installFastHandlers } from '../ts/evm/opcodes.ts'

const CALLS = 200
const caller = createAddressFromString('0x' + '11'.repeat(20))
const callee = createAddressFromString('0x' + '22'.repeat(20))
// PUSH2 200; loop: CALL(gas 10000, callee, 0, 0, 0, 0, 0), POP; counter - 1; JUMPI back; STOP.
const loop = hexToBytes(`0x61${CALLS.toString(16).padStart(4, '0')}5b6000600060006000600073${'22'.repeat(20)}612710f1506001900380600357 00`.replace(/\s+/g, '') as `0x${string}`)

async function make(theirs: ('runInterpreter' | '_executeCall')[]): Promise<EVM> {
  const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Cancun }) })
  if (!(await useFastLoop(evm)) || !(await installFastHandlers(evm))) throw new Error('the fast loop or handlers did not install')
  const originals = ethereumjsMethods()
  if (originals === undefined) throw new Error('the EVM methods were not replaced')
  for (const name of theirs) (evm as unknown as Record<string, unknown>)[name] = originals[name]
  await evm.stateManager.putAccount(caller, new Account())
  await evm.stateManager.putCode(caller, loop)
  await evm.stateManager.putAccount(callee, new Account())
  await evm.stateManager.putCode(callee, new Uint8Array([0x00]))
  return evm
}

const evms: Record<string, EVM> = {
  'ethereumjs\'s': await make(['runInterpreter', '_executeCall']),
  'ours for runInterpreter': await make(['_executeCall']),
  'ours for both': await make([]),
}
const times: Record<string, number[]> = Object.fromEntries(Object.keys(evms).map((k) => [k, []]))
for (let round = 0; round < 30; round++) {
  for (const [name, evm] of Object.entries(evms)) {
    const t = performance.now()
    const r = await evm.runCall({ to: caller, gasLimit: 10_000_000n })
    if (r.execResult.exceptionError !== undefined) throw new Error(r.execResult.exceptionError.error)
    if (round >= 5) times[name].push(performance.now() - t)
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const perCall = (name: string) => (median(times[name]) * 1000) / CALLS
console.table(Object.keys(evms).map((name) => ({ methods: name, 'µs per CALL': perCall(name).toFixed(2), 'x ethereumjs\'s': (perCall('ethereumjs\'s') / perCall(name)).toFixed(2) })))
