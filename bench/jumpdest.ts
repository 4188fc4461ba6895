/**
 * Jump-destination analysis micro-benchmark: ethereumjs's `_getValidJumpDestinations` against
 * ours (`ts/evm/jumpdest.ts`), and the fast loop's JUMPDEST map alone (`jumpDestinations`),
 * over every contract of the oracle's mainnet blocks (each analysed afresh: what a miss of the
 * cache costs). Medians of 7 rounds.
 *
 *   npx tsx bench/jumpdest.ts
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

import { Common, Hardfork, Mainnet } from '@ethereumjs/common'
import { getOpcodesForHF, paramsEVM } from '@ethereumjs/evm'
import { hexToBytes } from '@ethereumjs/util'

import { FIXTURES } from '../__test__/oracle/fixtures.ts'
import { importEvmFile } from '../ts/evm/internals.ts'
import { installJumpAnalysisCache, jumpDestinations, markCode } from '../ts/evm/jumpdest.ts'

type Analyse = (this: unknown, code: Uint8Array) => unknown
const mod = await importEvmFile<{ Interpreter: { prototype: { _getValidJumpDestinations: Analyse } } }>('./interpreter.js')
if (mod === undefined) throw new Error('ethereumjs\'s interpreter file is not where it was')
const original = mod.Interpreter.prototype._getValidJumpDestinations
if (!(await installJumpAnalysisCache())) throw new Error('the cache did not install')
const patched = mod.Interpreter.prototype._getValidJumpDestinations

// Two hardforks' tables, used in turn: every call of ours then misses the cache (one analysis
// per code is kept, the latest table's), as a contract first seen does.
const tables = [Hardfork.Cancun, Hardfork.Shanghai].map((hardfork) => {
  const common = new Common({ chain: Mainnet, hardfork, params: paramsEVM })
  const table = getOpcodesForHF(common).opcodeMap as unknown as unknown[]
  return { _evm: { _opcodeMap: table }, common, lookupOpInfo: (op: number) => table[op] }
})

const all = JSON.parse(gunzipSync(readFileSync(join(FIXTURES, 'mainnet', 'pevm', 'bytecodes.json.gz'))).toString('utf8')) as Record<string, string>
const codes = Object.values(all).map((h) => markCode(hexToBytes(h as `0x${string}`))).filter((c) => c.length > 0)
const bytes = codes.reduce((a, c) => a + c.length, 0)

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
function time(analyse: Analyse): number {
  const ts: number[] = []
  for (let round = 0; round < 9; round++) {
    const self = tables[round % 2]
    const t = performance.now()
    for (const c of codes) analyse.call(self, c)
    if (round >= 2) ts.push(performance.now() - t)
  }
  return median(ts)
}
const ethereumjs = time(original)
const ours = time(patched)
// Copies that no state manager of ours handed out: never kept, so each call scans the code.
const foreign = codes.map((c) => c.slice())
const maps = median(
  Array.from({ length: 9 }, () => {
    const t = performance.now()
    for (const c of foreign) jumpDestinations(c)
    return performance.now() - t
  }).slice(2),
)
console.log(`${codes.length} contracts, ${(bytes / 2 ** 20).toFixed(1)} MB of code, every call a cache miss`)
console.table([
  { analysis: 'ethereumjs', 'ms per pass': ethereumjs.toFixed(1), 'ns per byte': ((ethereumjs * 1e6) / bytes).toFixed(1) },
  { analysis: 'ours, with the cache bookkeeping', 'ms per pass': ours.toFixed(1), 'ns per byte': ((ours * 1e6) / bytes).toFixed(1) },
  { analysis: 'the fast loop\'s JUMPDEST map', 'ms per pass': maps.toFixed(1), 'ns per byte': ((maps * 1e6) / bytes).toFixed(1) },
])
console.log(`ratio ${(ethereumjs / ours).toFixed(2)}x; JUMPDEST map ${(ethereumjs / maps).toFixed(1)}x`)
