import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createEVM, type EVM } from '@ethereumjs/evm'
import { Account, bigIntToBytes, bytesToBigInt, bytesToHex, createAddressFromString, hexToBytes, setLengthLeft, setLengthRight } from '@ethereumjs/util'
import test from 'ava'

import { useFastLoop } from '../ts/evm/interpreter.ts'
import { jumpDestinations, markCode } from '../ts/evm/jumpdest.ts'
import { fastGasHandler, fastHandler, installFastHandlers, pushesReadCode, readWord, word32 } from '../ts/evm/opcodes.ts'

test('word32 writes a stack word as ethereumjs does', (t) => {
  const values = [0n, 1n, 255n, 256n, (1n << 64n) - 1n, 1n << 64n, (1n << 128n) + 5n, (1n << 192n) - 1n, 1n << 255n, (1n << 256n) - 1n]
  let x = 0x9e3779b97f4a7c15n
  for (let i = 0; i < 200; i++) {
    x = (x * 6364136223846793005n + 1442695040888963407n) & ((1n << 256n) - 1n)
    values.push(x >> BigInt(i % 256))
  }
  for (const v of values) {
    t.deepEqual(word32(v), setLengthLeft(bigIntToBytes(v), 32), `0x${v.toString(16)}`)
    // readWord, from a view inside a longer buffer as memory hands it out.
    const inside = new Uint8Array(40)
    inside.set(word32(v), 5)
    t.is(readWord(inside.subarray(5, 37)), v, `readWord 0x${v.toString(16)}`)
    // Shorter input reads as if zeros followed (call data cut short), whatever came before.
    const short = word32(v).subarray(0, 20)
    t.is(readWord(short), bytesToBigInt(setLengthRight(short, 32)), `readWord of 20 bytes of 0x${v.toString(16)}`)
  }
})

const table = (evm: EVM, op: number) => (evm as unknown as { _opcodeMap: { opHandler: unknown }[] })._opcodeMap[op].opHandler
const gasTable = (evm: EVM, op: number) => (evm as unknown as { _opcodeMap: { gasHandler: unknown }[] })._opcodeMap[op].gasHandler
const OPS = [0x35, 0x51, 0x52, 0x54, 0xa0, 0xa1, 0xa2, 0xa3, 0xa4, ...Array.from({ length: 32 }, (_, i) => 0x60 + i)]
const ADDRESS = createAddressFromString('0x' + '11'.repeat(20))

/** A Cancun EVM with an empty account at ADDRESS; `fast`: with our handlers (asserted installed). */
async function cancunEvm(fast: boolean, t: { true(v: boolean): void }): Promise<EVM> {
  const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Cancun }) })
  if (fast) t.true(await installFastHandlers(evm))
  await evm.stateManager.putAccount(ADDRESS, new Account())
  return evm
}

test('the handlers go into one EVM, into each table it builds later, and nowhere else', async (t) => {
  const common = new Common({ chain: Mainnet, hardfork: Hardfork.Shanghai })
  const evm = await createEVM({ common })
  const other = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Shanghai }) })
  t.true(await installFastHandlers(evm))
  for (const op of OPS) {
    t.not(fastHandler(op), undefined)
    t.is(table(evm, op), fastHandler(op))
    t.not(table(other, op), fastHandler(op), 'another EVM keeps ethereumjs\'s handler')
  }
  t.is(gasTable(evm, 0x54), fastGasHandler(0x54))
  t.not(gasTable(other, 0x54), fastGasHandler(0x54))
  const opcodeMap = (e: EVM) => (e as unknown as { _opcodeMap: { opHandler: unknown }[] })._opcodeMap
  t.true(pushesReadCode(opcodeMap(evm)), 'every PUSH of the EVM reads the code')
  t.false(pushesReadCode(opcodeMap(other)), 'ethereumjs\'s read the analysis')
  common.setHardfork(Hardfork.Cancun)
  for (const op of OPS) t.is(table(evm, op), fastHandler(op), 'the table built on the hardfork change has them too')
  t.is(gasTable(evm, 0x54), fastGasHandler(0x54))
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
    const evm = await cancunEvm(fast, t)
    const r = await evm.runCode({ code, gasLimit: 1_000_000n, to: ADDRESS })
    t.is(r.exceptionError, undefined)
    return { out: bytesToHex(r.returnValue) as string, gas: r.executionGasUsed }
  }
  const slow = await run(false)
  const fast = await run(true)
  t.deepEqual(fast, slow)
  t.is(fast.out, w + '00'.repeat(31) + '05' + '00'.repeat(30) + 'beef' + '00'.repeat(32), 'the program does what it says')
})

test('MLOAD, CALLDATALOAD, LOG0-LOG4 and SLOAD\'s gas give the same output, gas and logs with and without them', async (t) => {
  const w = 'f1'.repeat(31) + '07'
  const calldata = hexToBytes(('0x' + 'c3'.repeat(40)) as `0x${string}`)
  // MSTORE w at 7, MLOAD 7 and 0 (the word straddles) into 64 and 96; CALLDATALOAD at 0, 20
  // (cut short by the end: zeros follow), 40 (the end) and 2^255 (far past it) into 128-224;
  // LOG0 to LOG4 with topics 0, 1, w, 2^256-1; SLOAD of slot 5 twice (cold, then warm) and of
  // a 32-byte key; RETURN 256 bytes.
  const code = hexToBytes(
    ('0x' + '7f' + w + '600752' + '600751604052' + '600051606052' +
      '600035608052' + '60143560a052' + '60283560c052' + '7f' + '80' + '00'.repeat(31) + '3560e052' +
      '60206000a0' + '600060206000a1' + '6001' + '600060206000a2' + '7f' + w + '6001' + '600060206000a3' +
      '7f' + 'ff'.repeat(32) + '7f' + w + '6001' + '6000' + '60206000a4' +
      '600554' + '600554' + '7f' + 'ab'.repeat(32) + '54' + '01' + '01' + '610100' + '52' +
      '6101206000f3') as `0x${string}`,
  )
  const run = async (fast: boolean) => {
    const evm = await cancunEvm(fast, t)
    await evm.stateManager.putCode(ADDRESS, code)
    await evm.stateManager.putStorage(ADDRESS, setLengthLeft(new Uint8Array([5]), 32), new Uint8Array([9]))
    const r = await evm.runCall({ to: ADDRESS, gasLimit: 1_000_000n, data: calldata })
    t.is(r.execResult.exceptionError, undefined)
    const logs = (r.execResult.logs ?? []).map(([, topics, data]) => [topics.map((x) => bytesToHex(x)), bytesToHex(data)])
    return { out: bytesToHex(r.execResult.returnValue) as string, gas: r.execResult.executionGasUsed, logs }
  }
  const slow = await run(false)
  const fast = await run(true)
  t.deepEqual(fast, slow)
  const word = (i: number) => fast.out.slice(2 + 64 * i, 2 + 64 * (i + 1))
  t.is(word(2), w, 'MLOAD at 7 reads the word stored there')
  t.is(word(3), '00'.repeat(7) + 'f1'.repeat(25), 'MLOAD at 0 straddles it')
  t.is(word(4), 'c3'.repeat(32), 'CALLDATALOAD at 0')
  t.is(word(5), 'c3'.repeat(20) + '00'.repeat(12), 'CALLDATALOAD cut short by the end')
  t.is(word(6), '00'.repeat(32), 'CALLDATALOAD at the end')
  t.is(word(8), '00'.repeat(31) + '12', 'the three SLOADs: 9 + 9 + 0')
  t.is(fast.logs.length, 5)
  t.deepEqual(fast.logs[4][0], ['0x' + '00'.repeat(32), '0x' + '00'.repeat(31) + '01', '0x' + w, '0x' + 'ff'.repeat(32)])
})

test('PUSH1-PUSH32 push what ethereumjs\'s push, before and after the first jump, also when cut short by the end', async (t) => {
  // Every size pushed once before a JUMP (ethereumjs's own handler then reads the code) and
  // again after it, in a loop run twice (read from its analysis, then ours from the values
  // kept), each value stored into a slot of its own; then a PUSH of each size cut short by the
  // end of the code, alone.
  let seed = 99
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
  const pushes = (from: number) =>
    Array.from({ length: 32 }, (_, i) => {
      const size = i + 1
      const bytes = Array.from({ length: size }, (_, k) => (k === 0 ? 0x80 : 0) | ((next() >>> 12) & (k === 0 ? 0x7f : 0xff)))
      return (0x5f + size).toString(16) + bytes.map((b) => b.toString(16).padStart(2, '0')).join('') + '61' + (from + i).toString(16).padStart(4, '0') + '55'
    }).join('')
  // PUSH1 2 (the loop counter), then: pushes before; JUMP to the loop; JUMPDEST; pushes after;
  // counter - 1, DUP, JUMPI back while not zero; STOP.
  const before = pushes(0x100)
  const head = '6002' + before
  const jumpAt = head.length / 2
  const loop = jumpAt + 4
  const body = pushes(0x200) + '6001900380' + '61' + loop.toString(16).padStart(4, '0') + '57' + '00'
  const code = hexToBytes(('0x' + head + '61' + loop.toString(16).padStart(4, '0') + '56' + '5b' + body) as `0x${string}`)
  // ethereumjs's handlers and loop; ours in ethereumjs's loop; ours in our loop (`interpreter.ts`).
  const run = async (mode: 'theirs' | 'handlers' | 'loop', program: Uint8Array) => {
    const evm = await cancunEvm(mode !== 'theirs', t)
    if (mode === 'loop') t.true(await useFastLoop(evm))
    // Code of our own (marked): our loop keeps its JUMPDEST map and its larger pushed values.
    const code = mode === 'loop' ? markCode(program) : program.slice()
    const r = { execResult: await evm.runCode({ code, to: ADDRESS, gasLimit: 10_000_000n }) }
    const slots: string[] = []
    for (const from of [0x100, 0x200]) {
      for (let i = 0; i < 32; i++) slots.push(bytesToHex(await evm.stateManager.getStorage(ADDRESS, setLengthLeft(bigIntToBytes(BigInt(from + i)), 32))))
    }
    return { error: r.execResult.exceptionError?.error, gas: r.execResult.executionGasUsed, slots, stack: r.execResult.runState?.stack.length }
  }
  const slow = await run('theirs', code)
  t.is(slow.error, undefined)
  t.deepEqual(await run('handlers', code), slow)
  t.deepEqual(await run('loop', code), slow)
  // The 26 values of PUSH7-PUSH32 after the jump were kept, on the first pass of the loop, and
  // read back on the second; those before it ran before the analysis.
  t.is(jumpDestinations(code).pushes?.size, 26)
  t.deepEqual(await run('loop', code), slow, 'again, every jump map and value already kept')
  t.true(slow.slots.every((s) => s !== '0x'), 'every value was stored')
  for (let size = 1; size <= 32; size++) {
    for (let given = 0; given < size; given++) {
      const cut = Uint8Array.from([0x5f + size, ...Array.from({ length: given }, () => 0xff)])
      const theirs = await run('theirs', cut)
      t.deepEqual(await run('handlers', cut), theirs, `PUSH${size} with ${given} bytes after it`)
      t.deepEqual(await run('loop', cut), theirs, `PUSH${size} with ${given} bytes after it, our loop`)
    }
  }
})
