/**
 * Real mainnet blocks (risechain/pevm's data): every block through the executor with the
 * optimistic strategy at each thread count. Checked: gasUsed, logsBloom and (from Byzantium)
 * receiptsRoot equal the header; every recovered sender equals the block's `from`; every
 * transaction's status, gas and logs, and every account and slot touched by either run, equal
 * a sequential ethereumjs `runBlock` on the same pre-state.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

import { createBlockFromRPC, type Block } from '@ethereumjs/block'
import { Hardfork, type Common, type StateManagerInterface } from '@ethereumjs/common'
import { MerkleStateManager } from '@ethereumjs/statemanager'
import { Account, Address, bytesToHex, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import { createVM, runBlock, type RunBlockResult } from '@ethereumjs/vm'

import type { ExecutionMetrics, ExecutorStatistics, ParallelExecutor, ParallelRunBlockResult, Prestate } from '../../ts/index.ts'
import { FIXTURES, makeCommon, newSuite, record, type SuiteResult } from './fixtures.ts'

const DIR = join(FIXTURES, 'mainnet', 'pevm')

export function mainnetBlocks(): string[] {
  const blocks = join(DIR, 'blocks')
  if (!existsSync(blocks)) return []
  return readdirSync(blocks)
    .filter((d) => existsSync(join(blocks, d, 'block.json')))
    .sort((a, b) => Number(a) - Number(b))
}

interface Loaded {
  number: string
  common: Common
  block: Block
  prestate: Prestate
  froms: string[]
  /**
   * The block decoded again: new transaction objects, whose senders nobody recovered yet
   * (ethereumjs caches a recovered key on the transaction, and the executor uses it).
   */
  fresh(): Block
  blockchain: { getBlock(n: bigint | number): Promise<{ hash(): Uint8Array }> }
}

let bytecodes: Record<string, string> | undefined
let blockHashes: Record<string, string> | undefined

export function loadMainnetBlock(number: string): Loaded & { bytecodes: Record<string, string> } {
  bytecodes ??= JSON.parse(gunzipSync(readFileSync(join(DIR, 'bytecodes.json.gz'))).toString('utf8')) as Record<string, string>
  blockHashes ??= JSON.parse(readFileSync(join(DIR, 'block_hashes.json'), 'utf8')) as Record<string, string>
  const json = JSON.parse(readFileSync(join(DIR, 'blocks', number, 'block.json'), 'utf8'))
  const raw = JSON.parse(readFileSync(join(DIR, 'blocks', number, 'pre_state.json'), 'utf8')) as Prestate
  const prestate: Prestate = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v]))
  const common = makeCommon()
  const block = createBlockFromRPC(json, [], { common, setHardfork: true })
  const hashes = blockHashes
  const blockchain = {
    async getBlock(n: bigint | number) {
      const k = String(n)
      const h = BigInt(k) === block.header.number - 1n ? bytesToHex(block.header.parentHash) : hashes[k]
      if (h === undefined) throw new Error(`no hash for block ${k}`)
      return { hash: () => hexToBytes(h as `0x${string}`) }
    },
  }
  const fresh = () => createBlockFromRPC(json, [], { common, setHardfork: true })
  return { number, common, block, prestate, froms: json.transactions.map((t: { from: string }) => t.from.toLowerCase()), fresh, blockchain, bytecodes }
}

/** Records every location a state manager writes. */
function recording(sm: MerkleStateManager): { proxy: StateManagerInterface; accounts: Set<string>; slots: Map<string, Set<string>> } {
  const accounts = new Set<string>()
  const slots = new Map<string, Set<string>>()
  const proxy = new Proxy(sm, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver)
      if (typeof v !== 'function') return v
      return (...args: unknown[]) => {
        if (prop === 'putAccount' || prop === 'deleteAccount' || prop === 'putCode' || prop === 'modifyAccountFields' || prop === 'clearStorage') {
          accounts.add((args[0] as Address).toString())
        }
        if (prop === 'putStorage') {
          const a = (args[0] as Address).toString()
          if (!slots.has(a)) slots.set(a, new Set())
          slots.get(a)!.add(bytesToHex(args[1] as Uint8Array))
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  return { proxy: proxy as unknown as StateManagerInterface, accounts, slots }
}

async function merkleFromPrestate(common: Common, prestate: Prestate, codes: Record<string, string>): Promise<MerkleStateManager> {
  const sm = new MerkleStateManager({ common })
  for (const [addr, acc] of Object.entries(prestate)) {
    const address = new Address(hexToBytes(addr as `0x${string}`))
    await sm.putAccount(address, new Account(BigInt(acc.nonce), BigInt(acc.balance)))
    if (acc.code_hash !== undefined && codes[acc.code_hash] !== undefined) await sm.putCode(address, hexToBytes(codes[acc.code_hash] as `0x${string}`))
    for (const [slot, value] of Object.entries(acc.storage ?? {})) {
      if (BigInt(value) === 0n) continue
      await sm.putStorage(address, setLengthLeft(hexToBytes(slot as `0x${string}`), 32), hexToBytes(`0x${BigInt(value).toString(16).padStart(2, '0')}` as `0x${string}`))
    }
  }
  return sm
}

interface Reference {
  result: RunBlockResult
  sm: MerkleStateManager
  accounts: Set<string>
  slots: Map<string, Set<string>>
}

async function reference(b: Loaded & { bytecodes: Record<string, string> }): Promise<Reference> {
  const sm = await merkleFromPrestate(b.common, b.prestate, b.bytecodes)
  const rec = recording(sm)
  const vm = await createVM({ common: b.common.copy(), stateManager: rec.proxy, blockchain: b.blockchain as never, setHardfork: true })
  const result = await runBlock(vm, { block: b.block, generate: true, skipBlockValidation: true, skipHeaderValidation: true, skipHardForkValidation: true })
  return { result, sm, accounts: rec.accounts, slots: rec.slots }
}

const lower = (s: string) => s.toLowerCase()

/** The first difference between our result and the header and the reference, if any. */
async function check(b: Loaded, ref: Reference, ours: ParallelRunBlockResult): Promise<string | undefined> {
  const h = b.block.header
  if (ours.gasUsed !== h.gasUsed) return `gasUsed ${ours.gasUsed} != header ${h.gasUsed}`
  if (bytesToHex(ours.logsBloom) !== bytesToHex(h.logsBloom)) return 'logsBloom != header'
  const byzantium = b.block.common.gteHardfork(Hardfork.Byzantium)
  if (byzantium && bytesToHex(ours.receiptsRoot) !== bytesToHex(h.receiptTrie)) return 'receiptsRoot != header'
  for (let i = 0; i < b.froms.length; i++) {
    if (lower(ours.senders[i].toString()) !== b.froms[i]) return `tx ${i}: sender ${ours.senders[i]} != from ${b.froms[i]}`
  }
  for (let i = 0; i < ours.results.length; i++) {
    const a = ref.result.results[i]
    const o = ours.results[i]
    const ra = ref.result.receipts[i] as { status?: number }
    const ro = ours.receipts[i] as { status?: number }
    if (ra.status !== ro.status) return `tx ${i}: status ${ro.status} != ${ra.status}`
    if (a.totalGasSpent !== o.totalGasSpent) return `tx ${i}: gas ${o.totalGasSpent} != ${a.totalGasSpent}`
    if (ref.result.receipts[i].cumulativeBlockGasUsed !== ours.receipts[i].cumulativeBlockGasUsed) return `tx ${i}: cumulative gas differs`
    if (JSON.stringify(ref.result.receipts[i].logs.map(logHex)) !== JSON.stringify(ours.receipts[i].logs.map(logHex))) return `tx ${i}: logs differ`
    if (a.execResult.exceptionError?.error !== o.execResult.exceptionError?.error) return `tx ${i}: error ${o.execResult.exceptionError?.error} != ${a.execResult.exceptionError?.error}`
  }
  // Every location either run wrote: final values equal.
  const accounts = new Set([...ref.accounts, ...ours.stateDiff.accounts.keys()].map(lower))
  for (const addr of accounts) {
    const r = await ref.sm.getAccount(new Address(hexToBytes(addr as `0x${string}`)))
    const diff = ours.stateDiff.accounts.get(addr as `0x${string}`)
    const pre = b.prestate[addr]
    const o = diff !== undefined ? diff : pre === undefined ? null : { nonce: BigInt(pre.nonce), balance: BigInt(pre.balance) }
    const rs = r === undefined ? 'none' : `${r.nonce}/${r.balance}`
    const os = o === null ? 'none' : `${o.nonce}/${o.balance}`
    if (rs !== os) return `account ${addr}: ${os} != reference ${rs}`
    if (r !== undefined && diff != null && bytesToHex(r.codeHash) !== bytesToHex(diff.codeHash)) return `account ${addr}: code hash differs`
  }
  const slots = new Map<string, Set<string>>()
  for (const [a, s] of ref.slots) slots.set(lower(a), new Set(s))
  for (const [a, st] of ours.stateDiff.storage) {
    const set = slots.get(a) ?? new Set<string>()
    for (const k of st.slots.keys()) set.add(k)
    slots.set(a, set)
  }
  for (const [addr, set] of slots) {
    const diff = ours.stateDiff.storage.get(addr as `0x${string}`)
    const pre = b.prestate[addr]?.storage ?? {}
    for (const slot of set) {
      const key = bytesToHex(setLengthLeft(hexToBytes(slot as `0x${string}`), 32))
      const r = await ref.sm.getStorage(new Address(hexToBytes(addr as `0x${string}`)), hexToBytes(key))
      const rv = r.length === 0 ? 0n : BigInt(bytesToHex(r))
      // A deleted account has no storage; a wiped one only what was written after the wipe.
      let ov = ours.stateDiff.accounts.get(addr as `0x${string}`) === null ? 0n : diff?.slots.get(key as `0x${string}`)
      if (ov === undefined) ov = diff?.cleared ? 0n : BigInt(Object.entries(pre).find(([k]) => BigInt(k) === BigInt(key))?.[1] ?? 0)
      if (rv !== ov) return `slot ${addr}[${key}]: ${ov} != reference ${rv}`
    }
  }
  return undefined
}

function logHex(l: [Uint8Array, Uint8Array[], Uint8Array]): string[] {
  return [bytesToHex(l[0]), ...l[1].map(bytesToHex), bytesToHex(l[2])]
}

/**
 * Per configuration, over the mainnet blocks: the executor's own statistics (the mainnet
 * suite runs first on a fresh executor, and only blocks that succeeded are counted there) and
 * the gas of those blocks.
 */
export interface MainnetTotals {
  statistics: ExecutorStatistics
  gas: bigint
}

export async function runMainnet(executors: Map<string, ParallelExecutor>, log: (s: string) => void): Promise<{ suite: SuiteResult; totals: Map<string, MainnetTotals> }> {
  const suite = newSuite('mainnet blocks')
  const gas = new Map<string, bigint>()
  for (const number of mainnetBlocks()) {
    const b = loadMainnetBlock(number)
    const fork = b.block.common.hardfork()
    let ref: Reference
    try {
      ref = await reference(b)
    } catch (e) {
      suite.notes.push(`block ${number}: ethereumjs cannot run it (${(e as Error).message.slice(0, 120)}); excluded`)
      continue
    }
    for (const [label, executor] of executors) {
      let failure: string | undefined
      let metrics: ExecutionMetrics | undefined
      try {
        const ours = await executor.runBlock({
          // Not the block the reference ran: that one's transactions hold their recovered
          // keys, and the senders would not be our recovery's (checked against `from` below).
          block: b.fresh(),
          prestate: b.prestate,
          bytecodes: b.bytecodes,
          blockchain: b.blockchain,
          generate: true,
          skipBlockValidation: true,
          skipHardForkValidation: true,
        })
        metrics = ours.metrics
        failure = await check(b, ref, ours)
      } catch (e) {
        failure = `threw: ${(e as Error).message}`
      }
      record(suite, fork, `block ${number} ${label}`, failure)
      if (metrics !== undefined) gas.set(label, (gas.get(label) ?? 0n) + b.block.header.gasUsed)
    }
    log(`mainnet ${number} (${fork}, ${b.block.transactions.length} txs) done`)
  }
  const totals = new Map<string, MainnetTotals>()
  for (const [label, executor] of executors) totals.set(label, { statistics: executor.statistics(), gas: gas.get(label) ?? 0n })
  return { suite, totals }
}
