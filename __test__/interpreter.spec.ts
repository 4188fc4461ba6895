import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { createEVM, type EVM } from '@ethereumjs/evm'
import { Account, bytesToHex, createAddressFromString, hexToBytes } from '@ethereumjs/util'
import test from 'ava'

import { ParallelExecutor } from '../ts/index.ts'
import { evmVersion, importEvmFile } from '../ts/evm/internals.ts'
import { FAST_LOOP_EVM, useFastLoop } from '../ts/evm/interpreter.ts'
import { installFastHandlers } from '../ts/evm/opcodes.ts'

const CALLER = createAddressFromString('0x' + '99'.repeat(20))
const TARGET = createAddressFromString('0x' + '11'.repeat(20))
const OTHER = createAddressFromString('0x' + '22'.repeat(20))

/**
 * A fresh EVM holding `code` at TARGET and `other` at OTHER. `fast`: it takes our loop;
 * `'handlers'`: our opcode handlers too (`opcodes.ts`), as in the executor and the workers,
 * where our PUSH handlers let the loop make only the JUMPDEST map of a code.
 */
async function evmWith(code: Uint8Array, other: Uint8Array, fast: boolean | 'handlers'): Promise<EVM> {
  const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Cancun }) })
  if (fast === 'handlers') t0(await installFastHandlers(evm))
  if (fast !== false) t0(await useFastLoop(evm))
  await evm.stateManager.putAccount(CALLER, new Account(0n, 10n ** 18n))
  for (const [address, c] of [[TARGET, code], [OTHER, other]] as const) {
    await evm.stateManager.putAccount(address, new Account(0n, 1000n))
    if (c.length > 0) await evm.stateManager.putCode(address, c)
  }
  return evm
}
const t0 = (ok: boolean) => {
  if (!ok) throw new Error('the fast loop did not install')
}

/** What a call returns, in comparable form. */
async function outcome(code: Uint8Array, fast: boolean | 'handlers', other: Uint8Array = new Uint8Array(0), gasLimit = 200_000n) {
  const evm = await evmWith(code, other, fast)
  const r = await evm.runCall({ caller: CALLER, to: TARGET, gasLimit, value: 1n, data: hexToBytes('0x0102030405') })
  const e = r.execResult
  return {
    error: e.exceptionError?.error,
    gas: e.executionGasUsed,
    refund: e.gasRefund,
    returned: bytesToHex(e.returnValue),
    logs: (e.logs ?? []).map((l) => l.map((x) => (Array.isArray(x) ? x.map((y) => bytesToHex(y)) : bytesToHex(x)))),
    storage: bytesToHex(await evm.stateManager.getStorage(TARGET, new Uint8Array(32))),
    balance: (await evm.stateManager.getAccount(OTHER))?.balance,
  }
}

const hex = (s: string) => hexToBytes(`0x${s.replace(/\s+/g, '')}` as `0x${string}`)

test('the fast loop installs over the ethereumjs interpreter it was written from', async (t) => {
  const evm = await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Cancun }) })
  t.true(await useFastLoop(evm), 'the source of Interpreter.run and runStep is not the one the fast loop copies (another @ethereumjs/evm version?)')
  // The version the executor's warning names is the one whose source the hashes pin.
  t.is(evmVersion(), FAST_LOOP_EVM)
})

test('an executor over the @ethereumjs/evm the fast loop was written from warns of nothing', async (t) => {
  const warnings: string[] = []
  const onWarning = (w: Error) => warnings.push(w.message)
  process.on('warning', onWarning)
  try {
    const ex = await ParallelExecutor.create({ threads: 1, strategy: { kind: 'sequential' } })
    await ex.close()
    // Warnings are emitted on the next tick.
    await new Promise((r) => setImmediate(r))
  } finally {
    process.off('warning', onWarning)
  }
  t.deepEqual(warnings.filter((m) => m.includes('@ethereumjs/evm')), [])
})

// Serial (ava runs serial tests before the others): it wraps a method of ethereumjs's shared
// prototype, and counts every call of it in the process.
test.serial('only marked EVMs take the fast loop; a frame with a step listener runs ethereumjs\'s own', async (t) => {
  // Installed before the wrapping below (the install checks the method's source).
  t.true(await useFastLoop(await createEVM({ common: new Common({ chain: Mainnet, hardfork: Hardfork.Cancun }) })))
  const evmFile = await importEvmFile<{ EVM: { prototype: Record<string, { fast?: true }> } }>('./evm.js')
  t.true(evmFile?.EVM.prototype.runInterpreter.fast === true && evmFile.EVM.prototype._executeCall.fast === true, 'runInterpreter and _executeCall replaced too')
  const mod = await importEvmFile<{ Interpreter: { prototype: { runStep: (...a: unknown[]) => unknown } } }>('./interpreter.js')
  if (mod === undefined) return t.fail('ethereumjs\'s interpreter file is not where it was')
  const proto = mod.Interpreter.prototype
  const runStep = proto.runStep
  let steps = 0
  proto.runStep = function (...a: unknown[]) {
    steps++
    return runStep.apply(this, a)
  }
  try {
    const code = hex('6001 6002 01 600055 00') // PUSH1 1, PUSH1 2, ADD, PUSH1 0, SSTORE, STOP
    const fast = await evmWith(code, new Uint8Array(0), true)
    await fast.runCall({ caller: CALLER, to: TARGET, gasLimit: 100_000n })
    t.is(steps, 0, 'a marked EVM never goes through runStep')
    const plain = await evmWith(code, new Uint8Array(0), false)
    await plain.runCall({ caller: CALLER, to: TARGET, gasLimit: 100_000n })
    t.is(steps, 6, 'an unmarked EVM runs ethereumjs\'s loop, one runStep per opcode')
    const traced = await evmWith(code, new Uint8Array(0), true)
    let seen = 0
    traced.events.on('step', (_e: unknown, resolve?: () => void) => {
      seen++
      resolve?.()
    })
    await traced.runCall({ caller: CALLER, to: TARGET, gasLimit: 100_000n })
    t.is(steps, 12, 'with a step listener, ethereumjs\'s loop')
    t.is(seen, 6, 'and the listener hears every step')
  } finally {
    proto.runStep = runStep
  }
})

test('programs return the same with both loops: output, gas, refunds, logs, storage, errors', async (t) => {
  // OTHER: logs CALLVALUE once and returns it, or reverts with 0xdeadbeef when its calldata
  // starts with 0xff.
  const other = hex(`
    6000 35 60f8 1c 60ff 14 603b 57
    34 6000 52 7f${'ab'.repeat(32)} 6020 6000 a1 6020 6000 f3
    5b 63deadbeef 6000 52 6004 601c fd`)
  const programs: Record<string, string> = {
    arithmetic: '6003 6005 02 6007 03 6002 04 6009 06 60ff 16 600a 0a 6001 601f 1b 17 6000 52 6020 6000 f3',
    'signed and comparison': `6003 6000 03 80 6002 90 05 6000 52 6002 90 07 6020 52 6005 6003 12 6040 52 6005 6003 13 6060 52
      60ff 6000 0b 6080 52 6001 6002 10 6001 6002 11 14 60a0 52 6000 15 60c0 52 60e0 6000 f3`,
    'jumps and a loop': '6000 5b 6001 01 80 600a 10 6002 57 6000 52 6020 6000 f3',
    'a jump to a non-JUMPDEST': '6003 56 00',
    'a jump into push data': '6004 56 625b5b5b 00',
    memory: `7f${'5a'.repeat(32)} 6010 52 6000 51 6042 6033 53 6030 6000 6050 5e 59 6080 52 60a0 6000 f3`,
    'storage and refunds': '6007 6000 55 6000 54 6001 55 6000 6001 55 6000 6000 55 6000 54 6000 52 6020 6000 f3',
    'transient storage': '6009 6003 5d 6003 5c 6000 55 00',
    keccak: `7f${'01'.repeat(32)} 6000 52 6020 6000 20 6000 55 00`,
    logs: '6011 6000 52 6001 6002 6020 6000 a2 6020 6000 a0 00',
    'environment and calldata': '30 31 33 34 36 6000 35 6002 35 38 5a 43 42 46 47 6000 52 6000 55 00',
    'a call that returns': `6020 6000 6000 6000 6005 73${'22'.repeat(20)} 61ffff f1 6000 51 6000 55 00`,
    'a call that reverts': `60ff 6000 53 6020 6000 6001 6000 6000 73${'22'.repeat(20)} 61ffff f1 3d 6000 6000 3e 6000 51 6000 55 00`,
    'a static call that would write': `6000 6000 6000 6000 30 61ffff fa 6000 55 00`,
    'a call to a precompile (identity)': '611234 6000 52 6020 6020 6020 6000 6000 6004 61ffff f1 6020 51 6000 55 00',
    'a call with value to an account without code': `6000 6000 6000 6000 6007 73${'44'.repeat(20)} 61ffff f1 50 73${'44'.repeat(20)} 31 6000 55 00`,
    'create and create2': '6e 6001600055600160005260206000f3 6000 52 600f 6011 6000 f0 6000 55 6042 600f 6011 6000 f5 6001 55 00',
    revert: '6011 6000 52 6020 6000 fd',
    'the INVALID opcode': '6001 fe',
    'an undefined opcode': '6001 0c',
    'stack underflow': '01',
    'out of gas in a loop': '5b 6001 6000 55 6000 56',
    'out of gas on memory': '6001 64ffffffffff 52',
    'running off the end': '6001 6002',
    'a PUSH cut short by the end': '61 ff',
    selfdestruct: `73${'22'.repeat(20)} ff`,
  }
  for (const [name, program] of Object.entries(programs)) {
    const code = hex(program)
    const theirs = await outcome(code, false, other)
    const ours = await outcome(code, true, other)
    t.deepEqual(ours, theirs, name)
    t.deepEqual(await outcome(code, 'handlers', other), theirs, `${name}, with our handlers`)
    if (process.env.SHOW === '1') t.log(name, JSON.stringify(ours, (_k, v) => (typeof v === 'bigint' ? String(v) : v)))
  }
  const ends = new Set((await Promise.all(Object.values(programs).map((p) => outcome(hex(p), true, other)))).map((o) => o.error?.split(' at ')[0] ?? 'success'))
  t.deepEqual([...ends].sort(), ['invalid JUMP', 'invalid opcode', 'out of gas', 'revert', 'stack underflow', 'success'], 'the programs reach success and each kind of failure')
})

test('random programs return the same with both loops', async (t) => {
  // Opcodes that do not leave the frame's own world, weighted towards PUSH (so that the
  // others have operands) and with jumps to the positions of JUMPDESTs that may exist.
  const ops = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x20, 0x30, 0x34, 0x35, 0x36, 0x37, 0x3d, 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x5b, 0x5c, 0x5d, 0x5e, 0x80, 0x81, 0x82, 0x90, 0x91, 0xa0, 0xa1, 0xf3, 0xfd, 0xfe, 0x00, 0x0c]
  let seed = 12345
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
  const kinds = new Map<string, number>()
  for (let k = 0; k < 400; k++) {
    const bytes: number[] = []
    const length = 4 + (next() % 60)
    while (bytes.length < length) {
      if (next() % 2 === 0) {
        const size = 1 + (next() % 3 === 0 ? next() % 32 : 0)
        bytes.push(0x5f + size)
        for (let i = 0; i < size; i++) bytes.push(size === 1 ? next() % 64 : next() % 256)
      } else {
        bytes.push(ops[next() % ops.length])
      }
    }
    const code = Uint8Array.from(bytes)
    const theirs = await outcome(code, false, new Uint8Array(0), 30_000n)
    const ours = await outcome(code, true, new Uint8Array(0), 30_000n)
    t.deepEqual(ours, theirs, bytesToHex(code))
    t.deepEqual(await outcome(code, 'handlers', new Uint8Array(0), 30_000n), theirs, `${bytesToHex(code)}, with our handlers`)
    kinds.set(String(theirs.error), (kinds.get(String(theirs.error)) ?? 0) + 1)
  }
  t.log([...kinds].map(([k, n]) => `${k}: ${n}`).join(', '))
  t.true(kinds.size >= 4, 'the programs end in several ways')
})

test('a frame\'s runState is built when read, and holds what ethereumjs\'s holds', async (t) => {
  const code = hex('6005 6000 52 6007 6001 55 6020 6000 f3') // MSTORE 5 at 0, SSTORE 1 := 7, RETURN 32 bytes
  const results = await Promise.all(
    [false, true].map(async (fast) => {
      const evm = await evmWith(code, new Uint8Array(0), fast)
      return (await evm.runCall({ caller: CALLER, to: TARGET, gasLimit: 100_000n, value: 1n })).execResult as unknown as Record<string, unknown>
    }),
  )
  const [theirs, ours] = results
  t.is(typeof Object.getOwnPropertyDescriptor(ours, 'runState')?.get, 'function', 'ours: an accessor')
  t.is(Object.getOwnPropertyDescriptor(theirs, 'runState')?.get, undefined, 'ethereumjs\'s: a value')
  t.deepEqual(Object.keys(ours), Object.keys(theirs), 'the same fields, in the same order')
  const a = theirs.runState as Record<string, unknown>
  const b = ours.runState as Record<string, unknown>
  t.is(ours.runState, b, 'built once')
  t.deepEqual(Object.keys(b), Object.keys(a))
  // Values: primitives equal, objects of the same kind (each run has its own EVM and state).
  const shape = (v: unknown) => (v !== null && typeof v === 'object' ? `${v.constructor?.name}` : v)
  for (const k of Object.keys(a)) {
    if (hexOf(a[k]) !== undefined) t.is(hexOf(b[k]), hexOf(a[k]), k)
    else t.deepEqual(shape(b[k]), shape(a[k]), k)
  }
  t.is(b.gasLeft, a.gasLeft)
  t.is(bytesToHex(b.returnValue as Uint8Array) as string, '0x' + '00'.repeat(31) + '05')
  ours.runState = 'replaced'
  t.is(ours.runState, 'replaced', 'and it can be assigned, as ethereumjs\'s')
})

/** Hex of a byte array, else undefined. */
function hexOf(v: unknown): string | undefined {
  return v instanceof Uint8Array ? bytesToHex(v) : undefined
}

test('transient storage is cleared after each top-level call, as ethereumjs clears it', async (t) => {
  // No call data: TSTORE 3 := 9. With call data: SSTORE 0 := TLOAD 3.
  const code = hex('6000 35 600c 57 6009 6003 5d 00 5b 6003 5c 6000 55 00')
  const seen: string[] = []
  for (const fast of [false, true]) {
    const evm = await evmWith(code, new Uint8Array(0), fast)
    await evm.runCall({ caller: CALLER, to: TARGET, gasLimit: 100_000n })
    await evm.runCall({ caller: CALLER, to: TARGET, gasLimit: 100_000n, data: new Uint8Array(32).fill(1) })
    seen.push(bytesToHex(await evm.stateManager.getStorage(TARGET, new Uint8Array(32))))
  }
  t.deepEqual(seen, ['0x', '0x'])
})
