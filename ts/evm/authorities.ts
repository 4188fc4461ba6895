/**
 * EIP-7702 authorities, recovered natively for the pre-analysis.
 *
 * An authorization raises its authority's nonce and sets the authority's code, so the
 * authority's own transaction later in the block depends on it, and so does anything that
 * reads that account. Only the signature names the authority: the analysis needs it
 * recovered before anything runs. libsecp256k1 does that in 77-78 µs a signature on one
 * thread of our 2-vCPU machine, 43-47 µs of wall time on two (`npx tsx bench/delegations.ts`).
 *
 * Execution still recovers each authorization itself, inside ethereumjs's `runTx`, which
 * calls `@ethereumjs/util`'s `eoaCode7702RecoverAuthority` and so noble's JS secp256k1
 * (2.1-3.1 ms a signature here, same bench), whatever the Common's `customCrypto` says. We
 * cannot hand it the keys recovered here: `runTx` imports that function directly, and noble
 * freezes its classes.
 */
import type { TypedTransaction } from '@ethereumjs/tx'
import { SECP256K1_ORDER_DIV_2, bytesToBigInt, eoaCode7702AuthorizationMessageToSign, unpadBytes } from '@ethereumjs/util'

import { loadNative } from '../native.ts'
import { SMALL_BATCH, keccak256 } from './crypto.ts'

interface Wanted {
  tx: number
  hash: Uint8Array
  /** r, s (32 bytes each) and the recovery id. */
  signature: Uint8Array
}

/**
 * Per transaction, the 20-byte authorities its authorizations name (undefined: none), or
 * undefined for the whole block when it has no type-4 transaction or the addon is not loaded.
 * Left out, as `runTx` leaves them out before recovering: a recovery id above 1, a high s,
 * an address that is not 20 bytes. Left out too: a signature libsecp256k1 refuses (`runTx`
 * skips the authorization then). Whether the authorization applies (chain id, nonce, the
 * authority's code) is not checked: a prediction that does not apply only costs a wait.
 */
export async function recoverAuthorities(txs: readonly TypedTransaction[], threads: number): Promise<(Uint8Array[] | undefined)[] | undefined> {
  const native = loadNative()
  if (native === null) return undefined
  const wanted: Wanted[] = []
  for (let i = 0; i < txs.length; i++) {
    if (txs[i].type !== 4) continue
    const list = (txs[i] as { authorizationList?: unknown }).authorizationList
    if (!Array.isArray(list)) continue
    for (const item of list) {
      const w = wantedEntry(i, item)
      if (w !== undefined) wanted.push(w)
    }
  }
  if (wanted.length === 0) return undefined
  const byTx: (Uint8Array[] | undefined)[] = new Array(txs.length)
  const keep = (w: Wanted, signer: Uint8Array) => (byTx[w.tx] ??= []).push(signer.slice(64, 84))
  if (wanted.length < SMALL_BATCH) {
    for (const w of wanted) {
      let signer: Uint8Array
      try {
        signer = native.recoverSigner(w.hash, w.signature[64], w.signature.subarray(0, 32), w.signature.subarray(32, 64))
      } catch {
        continue
      }
      keep(w, signer)
    }
    return byTx
  }
  const hashes = new Uint8Array(wanted.length * 32)
  const signatures = new Uint8Array(wanted.length * 65)
  wanted.forEach((w, k) => {
    hashes.set(w.hash, k * 32)
    signatures.set(w.signature, k * 65)
  })
  const { signers, failed } = await native.recoverSigners(hashes, signatures, threads)
  const refused = new Set(failed)
  wanted.forEach((w, k) => {
    if (!refused.has(k)) keep(w, signers.subarray(k * 84, k * 84 + 84))
  })
  return byTx
}

/**
 * The recovery `runTx` attempts for one authorization tuple `[chainId, address, nonce,
 * yParity, r, s]`: the message is ethereumjs's own (`0x05 || rlp([chainId, address, nonce])`,
 * chain id and nonce without leading zeros), hashed natively.
 */
function wantedEntry(tx: number, item: unknown): Wanted | undefined {
  if (!Array.isArray(item) || item.length !== 6 || !item.every((x) => x instanceof Uint8Array)) return undefined
  const [chainId, address, nonce, yParity, r, s] = (item as Uint8Array[]).map((x, k) => (k === 1 ? x : unpadBytes(x)))
  if (address.length !== 20 || r.length > 32 || s.length > 32) return undefined
  const recovery = bytesToBigInt(yParity)
  if (recovery > 1n || bytesToBigInt(s) > SECP256K1_ORDER_DIV_2) return undefined
  const signature = new Uint8Array(65)
  signature.set(r, 32 - r.length)
  signature.set(s, 64 - s.length)
  signature[64] = Number(recovery)
  return { tx, hash: keccak256(eoaCode7702AuthorizationMessageToSign([chainId, address, nonce])), signature }
}
