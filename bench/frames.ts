/**
 * Call-frame micro-benchmark: ethereumjs's `EVM.runInterpreter` against ours
 * (`ts/evm/interpreter.ts`), which builds a frame's merged `runState` only when it is read.
 * A contract makes 200 CALLs to a contract that only STOPs; two EVMs on the same fast loop
 * and handlers, one of them with ethereumjs's `runInterpreter` as its own method; alternating,
 * medians of 25 calls.
 *
 *   npx tsx bench/frames.ts
 */
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createEVM, type EVM } from '@ethereumjs/evm'
import { Account, createAddressFromString, hexToBytes } from '@ethereumjs/util'

import { originalRunInterpreter, useFastLoop } from '../ts/evm/interpreter.ts'
import { installFastHandlers } from '../ts/evm/opcodes.ts'

const CALLS = 200
const caller = createAddressFromString('0x' + '11'.repeat(20))
const callee = createAddressFromString('0x' + '22'.repeat(20))
// PUSH2 200; loop: CALL(gas 10000, callee, 0, 0, 0, 0, 0), POP; counter - 1; JUMPI back; STOP.
const loop = hexToBytes(`0x61${CALLS.toString(16).padStart(4, '0')}5b6000600060006000600073${'22'.repeat(20)}612710f1506001900380600357 00`.replace(/\s+/g, '') as `0x${string}`)

async function make(theirs: boolean): Promise<EVM> {
  const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Cancun }) })
  if (!(await useFastLoop(evm)) || !(await installFastHandlers(evm))) throw new Error('the fast loop or handlers did not install')
  if (theirs) {
    const original = originalRunInterpreter()
    if (original === undefined) throw new Error('runInterpreter was not replaced')
    ;(evm as unknown as { runInterpreter: unknown }).runInterpreter = original
  }
  await evm.stateManager.putAccount(caller, new Account())
  await evm.stateManager.putCode(caller, loop)
  await evm.stateManager.putAccount(callee, new Account())
  await evm.stateManager.putCode(callee, new Uint8Array([0x00]))
  return evm
}

const evms = { ethereumjs: await make(true), ours: await make(false) }
const times: Record<string, number[]> = { ethereumjs: [], ours: [] }
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
console.table([
  { runInterpreter: 'ethereumjs', 'µs per CALL': perCall('ethereumjs').toFixed(2) },
  { runInterpreter: 'ours', 'µs per CALL': perCall('ours').toFixed(2) },
])
console.log(`ratio ${(perCall('ethereumjs') / perCall('ours')).toFixed(2)}x`)
