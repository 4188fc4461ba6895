import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createEVM, type EVM } from '@ethereumjs/evm'
import { Account, bigIntToBytes, bytesToHex, createAddressFromString, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import test from 'ava'

import { fastHandler, installFastHandlers, word32 } from '../ts/evm/opcodes.ts'

test('word32 writes a stack word as ethereumjs does', (t) => {
  const values = [0n, 1n, 255n, 256n, (1n << 64n) - 1n, 1n << 64n, (1n << 128n) + 5n, (1n << 192n) - 1n, 1n << 255n, (1n << 256n) - 1n]
  let x = 0x9e3779b97f4a7c15n
  for (let i = 0; i < 200; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 256n) - 1n)
    values.push(x >> BigInt(i % 256))
  }
  for (const v of values) t.deepEqual(word32(v), setLengthLeft(bigIntToBytes(v), 32), `0x${v.toString(16)}`)
})

const table = (evm: EVM, op: number) => (evm as unknown as { _opcodeMap: { opHandler: unknown }[] })._opcodeMap[op].opHandler

test('the handlers go into one EVM, into each table it builds later, and nowhere else', async (t) => {
  const common = new Common({ chain: Mainnet, hardfork: Hardfork.Shanghai })
  const evm = await createEVM({ common })
  const other = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Shanghai }) })
  t.true(await installFastHandlers(evm))
  for (const op of [0x52, 0x54]) {
    t.is(table(evm, op), fastHandler(op))
    t.not(table(other, op), fastHandler(op), 'another EVM keeps ethereumjs\'s handler')
  }
  common.setHardfork(Hardfork.Cancun)
  t.is(table(evm, 0x52), fastHandler(0x52), 'the table built on the hardfork change has them too')
  t.is(table(evm, 0x54), fastHandler(0x54))
})

test('a program of MSTOREs and SLOADs returns the same output and gas with and without them', async (t) => {
  // Memory: PUSH32 w, PUSH1 0, MSTORE; a small word at 32; storage: slot k (a 32-byte key)
  // := v, then SLOAD k and SLOAD of an unset slot stored at 64 and 96; RETURN 128 bytes.
  const w = '0x' + 'f1'.repeat(31) + '07'
  const k = '0x' + '00'.repeat(12) + 'ab'.repeat(20)
  const code = hexToBytes(
    ('0x7f' + w.slice(2) + '600052' + '6005602052' +
      '61beef' + '7f' + k.slice(2) + '55' +
      '7f' + k.slice(2) + '54' + '604052' +
      '600954' + '606052' +
      '60806000f3') as `0x${string}`,
  )
  const run = async (fast: boolean) => {
    const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Cancun }) })
    if (fast) t.true(await installFastHandlers(evm))
    const address = createAddressFromString('0x' + '11'.repeat(20))
    await evm.stateManager.putAccount(address, new Account())
    const r = await evm.runCode({ code, gasLimit: 1_000_000n, to: address })
    t.is(r.exceptionError, undefined)
    return { out: bytesToHex(r.returnValue) as string, gas: r.executionGasUsed }
  }
  const slow = await run(false)
  const fast = await run(true)
  t.deepEqual(fast, slow)
  t.is(fast.out, w + '00'.repeat(31) + '05' + '00'.repeat(30) + 'beef' + '00'.repeat(32), 'the program does what it says')
})
