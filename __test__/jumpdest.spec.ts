import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { getOpcodesForHF, paramsEVM } from '@ethereumjs/evm'
import { hexToBytes } from '@ethereumjs/util'
import test, { type ExecutionContext } from 'ava'

import { importEvmFile } from '../ts/evm/internals.ts'
import { bytesEqual } from '../ts/evm/bytes.ts'
import { ANALYSED_CODE_BUDGET, JUMP_MAP_BUDGET, installJumpAnalysisCache, jumpDestinations, jumpMapBytes, markCode } from '../ts/evm/jumpdest.ts'
import { FIXTURES } from './oracle/fixtures.ts'

type Table = { opcodeInfo: Record<string, unknown>; opHandler: unknown; gasHandler: unknown }[]
interface Analysis {
  jumps: Uint8Array
  opcodesCached: unknown[]
}

// PUSH1 1, PUSH1 6, JUMPI, STOP, (pc 6) JUMPDEST, STOP
const CODE = '0x6001600657005b00'

async function analyser(): Promise<(table: Table, code: Uint8Array) => Analysis> {
  if (!(await installJumpAnalysisCache())) throw new Error('the cache did not install')
  const mod = await importEvmFile<{ Interpreter: { prototype: { _getValidJumpDestinations(code: Uint8Array): Analysis } } }>('./interpreter.js')
  if (mod === undefined) throw new Error('ethereumjs\'s interpreter file is not where it was')
  const { Interpreter } = mod
  const analyse = Interpreter.prototype._getValidJumpDestinations
  const common = new Common({ chain: Mainnet, hardfork: Hardfork.Cancun })
  return (table, code) =>
    analyse.call({ _evm: { _opcodeMap: table }, common, lookupOpInfo: (op: number) => table[op] } as never, code)
}

const tableAt = (hardfork: Hardfork): Table => getOpcodesForHF(new Common({ chain: Mainnet, hardfork, params: paramsEVM })).opcodeMap as unknown as Table

test('an analysis is shared between opcode tables of equal contents, and only between those', async (t) => {
  const analyse = await analyser()
  const code = markCode(hexToBytes(CODE))
  const cancun = tableAt(Hardfork.Cancun)
  const cancunAgain = tableAt(Hardfork.Cancun)
  t.not(cancun, cancunAgain, 'ethereumjs builds a new table object each time')

  const a = analyse(cancun, code)
  t.deepEqual([...a.jumps], [0, 0, 0, 0, 0, 0, 1, 0])
  t.is(analyse(cancunAgain, code), a, 'a table with the same contents reuses the analysis')
  t.is(analyse(cancun, code), a)

  const frontier = tableAt(Hardfork.Chainstart)
  const old = analyse(frontier, code)
  t.not(old, a, 'another hardfork\'s table has its own analysis')
  t.is(old.opcodesCached[0], frontier[0x60], 'holding that table\'s entries')
  t.not(analyse(cancun, code), a, 'one analysis per code is kept, the latest table\'s (a memory bound)')

  // One fee changed, or one handler swapped: a different table.
  const fee = [...cancun]
  fee[0x5b] = { ...cancun[0x5b], opcodeInfo: { ...cancun[0x5b].opcodeInfo, fee: 7 } }
  const withFee = analyse(fee, code)
  t.not(withFee, a)
  t.is(withFee.opcodesCached[6], fee[0x5b])
  const handler = [...cancun]
  handler[0x57] = { ...cancun[0x57], opHandler: () => {} }
  t.not(analyse(handler, code), a)
  t.not(analyse(handler, code), withFee)

  // Code that no state manager of ours handed out is analysed every time, as before.
  const foreign = hexToBytes(CODE)
  t.not(analyse(cancun, foreign), analyse(cancun, foreign))
})

/** Distinct contracts of the largest size (CODE, then zeros, then their index), ours, two past `budget` bytes. */
const SIZE = 24_576
function codesPast(budget: number): Uint8Array[] {
  return Array.from({ length: Math.ceil(budget / SIZE) + 2 }, (_, i) => {
    const code = new Uint8Array(SIZE)
    code.set(hexToBytes(CODE))
    code[SIZE - 1] = i
    return markCode(code)
  })
}

test('the analyses kept are bounded by the size of their code, least recently used out first', async (t) => {
  const analyse = await analyser()
  const cancun = tableAt(Hardfork.Cancun)
  const codes = codesPast(ANALYSED_CODE_BUDGET)
  const first = analyse(cancun, codes[0])
  const second = analyse(cancun, codes[1])
  for (const code of codes.slice(2)) {
    analyse(cancun, code)
    t.is(analyse(cancun, codes[1]), second, 'a code in use stays')
  }
  t.not(analyse(cancun, codes[0]), first, 'the least recently used went once the budget was passed')
  t.is(analyse(cancun, codes.at(-1)!), analyse(cancun, codes.at(-1)!))
})

test('the fast loop\'s JUMPDEST maps are kept for our code only, bounded by the size of their code, least recently used out first', (t) => {
  const codes = codesPast(JUMP_MAP_BUDGET)
  const first = jumpDestinations(codes[0])
  t.is(jumpDestinations(codes[0]), first, 'kept')
  t.deepEqual([...first.jumps.subarray(0, 8)], [0, 0, 0, 0, 0, 0, 1, 0], 'the JUMPDEST at 6 and nothing else')
  const second = jumpDestinations(codes[1])
  for (const code of codes.slice(2)) {
    jumpDestinations(code)
    t.is(jumpDestinations(codes[1]), second, 'a code in use stays')
  }
  t.true(jumpMapBytes() <= JUMP_MAP_BUDGET)
  t.true(jumpMapBytes() > JUMP_MAP_BUDGET - 2 * SIZE, 'the budget is used')
  t.not(jumpDestinations(codes[0]), first, 'the least recently used went once the budget was passed')
  const foreign = hexToBytes(CODE)
  t.not(jumpDestinations(foreign), jumpDestinations(foreign), 'a code that no state manager of ours handed out is scanned every time')
  t.is(jumpDestinations(foreign).pushes, undefined, 'and keeps no pushed values')
})

/** Everything the interpreter reads from an analysis, position by position. */
function sameAnalysis(t: ExecutionContext, ours: Analysis & { pushes: Record<number, bigint> }, theirs: Analysis & { pushes: Record<number, bigint> }, code: Uint8Array, what: string): boolean {
  if (!bytesEqual(ours.jumps, theirs.jumps)) return t.fail(`${what}: jump destinations differ`), false
  if (ours.opcodesCached.length !== code.length) return t.fail(`${what}: opcode entries for ${ours.opcodesCached.length} of ${code.length} bytes`), false
  for (let pc = 0; pc <= code.length; pc++) {
    if (ours.opcodesCached[pc] !== theirs.opcodesCached[pc]) return t.fail(`${what}: opcode entry at ${pc} differs`), false
    if (ours.pushes[pc] !== theirs.pushes[pc]) return t.fail(`${what}: pushed value at ${pc}: ${ours.pushes[pc]} against ${theirs.pushes[pc]}`), false
  }
  return true
}

test('our analysis reads every code as ethereumjs\'s does: generated codes, and every contract of the oracle\'s mainnet blocks', async (t) => {
  const analyse = await analyser()
  const cancun = tableAt(Hardfork.Cancun)
  const codes: Uint8Array[] = [
    new Uint8Array([0x60]), // PUSH1 with nothing after it
    new Uint8Array([0x5b, 0x7f, 0x01, 0x02]), // PUSH32 cut short: the rest reads as zeros
    new Uint8Array([0x61, 0x5b, 0x5b, 0x5b]), // a JUMPDEST byte inside push data is not one
    new Uint8Array([0x65, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x66, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // 2^48 - 1, 2^56 - 1
    Uint8Array.from({ length: 33 }, (_, i) => (i === 0 ? 0x7f : 0xff)), // 2^256 - 1
  ]
  // Pseudo-random codes: dense in pushes of every size, many cut short at the end.
  let seed = 7
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31)
  for (let k = 0; k < 300; k++) codes.push(Uint8Array.from({ length: 1 + (next() % 200) }, () => (next() % 3 === 0 ? 0x5f + (next() % 33) : next() % 256)))
  const oracle = join(FIXTURES, 'mainnet', 'pevm', 'bytecodes.json.gz')
  let contracts = 0
  if (existsSync(oracle)) {
    const all = JSON.parse(gunzipSync(readFileSync(oracle)).toString('utf8')) as Record<string, string>
    for (const hex of Object.values(all)) {
      codes.push(hexToBytes(hex as `0x${string}`))
      contracts++
    }
  } else {
    t.log(`no oracle bytecodes at ${oracle}: generated codes only`)
  }
  for (const [i, code] of codes.entries()) {
    if (code.length === 0) continue
    const theirs = analyse(cancun, code.slice()) as Analysis & { pushes: Record<number, bigint> }
    const ours = analyse(cancun, markCode(code.slice())) as Analysis & { pushes: Record<number, bigint> }
    t.not(ours, theirs)
    if (!sameAnalysis(t, ours, theirs, code, `code ${i} (${code.length} bytes)`)) return
    // The fast loop's JUMPDEST map, of a code of ours and of any other.
    if (!bytesEqual(jumpDestinations(markCode(code.slice())).jumps, theirs.jumps)) return t.fail(`code ${i}: the fast loop's JUMPDEST map differs`)
    if (!bytesEqual(jumpDestinations(code.slice()).jumps, theirs.jumps)) return t.fail(`code ${i}: the fast loop's JUMPDEST map of a foreign code differs`)
  }
  t.log(`${codes.length} codes compared, ${contracts} of them mainnet contracts`)
})
