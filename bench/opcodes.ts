/**
 * Opcode handler micro-benchmark: ethereumjs's handlers against ours (`ts/evm/opcodes.ts`) on
 * a loop of 2,000 iterations of MSTORE, MLOAD, CALLDATALOAD, SLOAD of a warm slot and LOG1, both EVMs
 * on the fast interpreter loop (`ts/evm/interpreter.ts`), alternating, medians of 25 calls.
 *
 *   npx tsx bench/opcodes.ts
 */
import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createEVM } from '@ethereumjs/evm'
import { Account, createAddressFromString, hexToBytes } from '@ethereumjs/util'

import { useFastLoop } from '../ts/evm/interpreter.ts'
import { installFastHandlers } from '../ts/evm/opcodes.ts'

const ITERATIONS = 2000
// PUSH2 2000; loop: MSTORE(32, counter), MLOAD 0, CALLDATALOAD 4, SLOAD 1, LOG1(0, 32,
// topic 1) (each result popped); counter - 1, JUMPI back while not zero; STOP.
const body = '80 6020 52 600051 50 600435 50 600154 50 6001 60206000 a1'
const code = hexToBytes(`0x${('61' + ITERATIONS.toString(16).padStart(4, '0') + '5b' + body + '6001900380' + '6003' + '57' + '00').replace(/\s+/g, '')}` as `0x${string}`)
const address = createAddressFromString('0x' + '11'.repeat(20))

async function make(ours: boolean) {
  const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Cancun }) })
  if (!(await useFastLoop(evm))) throw new Error('the fast interpreter loop did not install')
  if (ours && !(await installFastHandlers(evm))) throw new Error('the handlers did not install')
  await evm.stateManager.putAccount(address, new Account())
  await evm.stateManager.putCode(address, code)
  return evm
}

const evms = { ethereumjs: await make(false), ours: await make(true) }
const times: Record<string, number[]> = { ethereumjs: [], ours: [] }
for (let round = 0; round < 30; round++) {
  for (const [name, evm] of Object.entries(evms)) {
    const t = performance.now()
    const r = await evm.runCall({ to: address, gasLimit: 100_000_000n, data: new Uint8Array(64).fill(3) })
    if (r.execResult.exceptionError !== undefined) throw new Error(r.execResult.exceptionError.error)
    if (round >= 5) times[name].push(performance.now() - t)
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const perIteration = (name: string) => (median(times[name]) * 1000) / ITERATIONS
console.table([
  { handlers: 'ethereumjs', 'µs per iteration': perIteration('ethereumjs').toFixed(2) },
  { handlers: 'ours', 'µs per iteration': perIteration('ours').toFixed(2) },
])
console.log(`ratio ${(perIteration('ethereumjs') / perIteration('ours')).toFixed(2)}x`)
