import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { getOpcodesForHF, paramsEVM } from '@ethereumjs/evm'
import { hexToBytes } from '@ethereumjs/util'
import test from 'ava'

import { importEvmFile } from '../ts/evm/internals.ts'
import { ANALYSED_CODE_BUDGET, installJumpAnalysisCache, markCode } from '../ts/evm/jumpdest.ts'

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

test('the analyses kept are bounded by the size of their code, least recently used out first', async (t) => {
  const analyse = await analyser()
  const cancun = tableAt(Hardfork.Cancun)
  const size = 24_576
  const codes = Array.from({ length: Math.ceil(ANALYSED_CODE_BUDGET / size) + 2 }, (_, i) => {
    const code = new Uint8Array(size)
    code.set(hexToBytes(CODE))
    code[size - 1] = i
    return markCode(code)
  })
  const first = analyse(cancun, codes[0])
  const second = analyse(cancun, codes[1])
  for (const code of codes.slice(2)) {
    analyse(cancun, code)
    t.is(analyse(cancun, codes[1]), second, 'a code in use stays')
  }
  t.not(analyse(cancun, codes[0]), first, 'the least recently used went once the budget was passed')
  t.is(analyse(cancun, codes.at(-1)!), analyse(cancun, codes.at(-1)!))
})
