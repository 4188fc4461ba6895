/**
 * Cryptography on the EVM path: native (libsecp256k1, keccak, alloy-trie) when the addon is
 * loaded, the libraries ethereumjs uses otherwise. Results are identical either way.
 */
import { Hardfork } from '@ethereumjs/common'
import { MerklePatriciaTrie } from '@ethereumjs/mpt'
import { RLP } from '@ethereumjs/rlp'
import { Capability, type TypedTransaction } from '@ethereumjs/tx'
import { Address, SECP256K1_ORDER_DIV_2, bigIntToUnpaddedBytes, calculateSigRecovery } from '@ethereumjs/util'
import { keccak_256 } from '@noble/hashes/sha3.js'

import { loadNative } from '../native.ts'

/**
 * Keccak-256, native when the addon is loaded: about 0.8 µs for a 32 or 64-byte input against
 * 8 to 10 µs for the JS hash (`npx tsx bench/keccak.ts`); also installed as
 * `common.customCrypto.keccak256`, which ethereumjs uses for KECCAK256 and log blooms.
 */
export function keccak256(data: Uint8Array): Uint8Array {
  const native = loadNative()
  if (native === null) return keccak_256(data)
  const out = new Uint8Array(32)
  native.keccak256Into(data, out)
  return out
}

/**
 * `common.customCrypto.ecrecover`, native: returns the 64-byte public key like
 * `@ethereumjs/util`'s `ecrecover`, and throws where it throws.
 */
export function nativeEcrecover(
  msgHash: Uint8Array,
  v: bigint,
  r: Uint8Array,
  s: Uint8Array,
  chainId?: bigint,
): Uint8Array {
  const native = loadNative()
  if (native === null) throw new Error('the native addon is not loaded')
  const recovery = calculateSigRecovery(v, chainId)
  if (recovery !== 0n && recovery !== 1n) throw new Error('Invalid signature v value')
  return plain(native.ecrecover(msgHash, Number(recovery), r, s))
}

/** The sender of a signed transaction, as `tx.getSenderAddress()` would return it. */
export interface Sender {
  address: Address
  publicKey: Uint8Array
}

/**
 * The public key ethereumjs has already recovered for `tx`, if any. `getSenderPublicKey`
 * keeps it in `tx.cache.senderPubKey` (frozen transactions, the default) and answers from
 * there from then on, before any check of the signature: a transaction validated earlier (by
 * a mempool, `block.validateData()`, `tx.isValid()`, `tx.getSenderAddress()`) is not
 * recovered again by ethereumjs's `runBlock`, and so not by us.
 */
export function cachedSenderKey(tx: TypedTransaction): Uint8Array | undefined {
  const key = (tx as { cache?: { senderPubKey?: unknown } }).cache?.senderPubKey
  return key instanceof Uint8Array && key.length === 64 ? key : undefined
}

/** The sender whose public key is `publicKey`. */
function senderOf(publicKey: Uint8Array): Sender {
  return { publicKey, address: new Address(keccak256(publicKey).subarray(12)) }
}

/**
 * Recovers the sender of `tx` with the same checks ethereumjs applies (signed, EIP-2 low s
 * from Homestead, a valid recovery id), natively when possible. Throws a plain `Error` with
 * ethereumjs's wording when the signature is invalid. A key ethereumjs already recovered and
 * cached on the transaction is used as ethereumjs uses it (`cachedSenderKey`).
 */
export function recoverSender(tx: TypedTransaction): Sender {
  const cached = cachedSenderKey(tx)
  if (cached !== undefined) return senderOf(cached)
  const native = loadNative()
  if (native === null) {
    const publicKey = tx.getSenderPublicKey()
    return { address: tx.getSenderAddress(), publicKey }
  }
  const recovery = checkSignature(tx)
  let signer: Uint8Array
  try {
    signer = native.recoverSigner(signingHash(tx), recovery, bigIntToUnpaddedBytes(tx.r!), bigIntToUnpaddedBytes(tx.s!))
  } catch {
    throw new Error('Invalid Signature')
  }
  return { publicKey: signer.subarray(0, 64), address: new Address(signer.subarray(64, 84)) }
}

/** `tx.getHashedMessageToSign()`, hashed natively whatever the transaction's Common says. */
function signingHash(tx: TypedTransaction): Uint8Array {
  const message = tx.getMessageToSign()
  return keccak256(message instanceof Uint8Array ? message : RLP.encode(message))
}

/** ethereumjs's checks before recovery; returns the recovery id. */
function checkSignature(tx: TypedTransaction): number {
  const { v, r, s } = tx
  if (v === undefined || r === undefined || s === undefined) throw new Error('Invalid Signature: transaction is not signed')
  if (tx.common.gteHardfork(Hardfork.Homestead) && s > SECP256K1_ORDER_DIV_2) {
    throw new Error('Invalid Signature: s-values greater than secp256k1n/2 are considered invalid')
  }
  const chainId = tx.supports(Capability.EIP155ReplayProtection) ? tx.common.chainId() : undefined
  const recovery = calculateSigRecovery(v, chainId)
  if (recovery !== 0n && recovery !== 1n) throw new Error('Invalid Signature: invalid signature v value')
  return Number(recovery)
}

/**
 * Below this many signatures, they are recovered one by one on the calling thread: handing
 * them to native threads costs more (thread start-up, scheduling) than it saves.
 */
export const SMALL_BATCH = 32

/**
 * The senders of many transactions at once, recovered on `threads` native threads (one by one
 * in JS without the addon). Where a signature is invalid the entry is the `Error` that
 * `recoverSender` would throw, so that a caller reports it in block order.
 */
export async function recoverSenders(txs: readonly TypedTransaction[], threads: number): Promise<(Sender | Error)[]> {
  const native = loadNative()
  const out: (Sender | Error)[] = new Array(txs.length)
  if (native === null || txs.length < SMALL_BATCH) {
    for (let i = 0; i < txs.length; i++) {
      try {
        out[i] = recoverSender(txs[i])
      } catch (e) {
        out[i] = e as Error
      }
    }
    return out
  }
  const hashes = new Uint8Array(txs.length * 32)
  const sigs = new Uint8Array(txs.length * 65)
  let toRecover = 0
  for (let i = 0; i < txs.length; i++) {
    const tx = txs[i]
    const cached = cachedSenderKey(tx)
    if (cached !== undefined) {
      // Left as zeros below: the native side reports them failed, and `??=` keeps this.
      out[i] = senderOf(cached)
      continue
    }
    toRecover++
    try {
      const recovery = checkSignature(tx)
      hashes.set(signingHash(tx), i * 32)
      putWord(sigs, i * 65, tx.r!)
      putWord(sigs, i * 65 + 32, tx.s!)
      sigs[i * 65 + 64] = recovery
    } catch (e) {
      out[i] = e as Error
    }
  }
  if (toRecover === 0) return out
  const { signers, failed } = await native.recoverSigners(hashes, sigs, threads)
  for (const i of failed) out[i] ??= new Error('Invalid Signature')
  for (let i = 0; i < txs.length; i++) {
    if (out[i] !== undefined) continue
    const at = signers.byteOffset + i * 84
    out[i] = { publicKey: new Uint8Array(signers.buffer, at, 64), address: new Address(new Uint8Array(signers.buffer, at + 64, 20)) }
  }
  return out
}

/**
 * The senders of a block's transactions, recovered natively from their `encodeTxs` encoding:
 * signing hashes and recoveries all on `threads` native threads. Transactions the native side
 * leaves alone (unusual shapes, invalid signatures) go through `recoverSender`, so every entry
 * is exactly what ethereumjs would say: the sender, or the `Error` it would throw.
 */
export async function recoverBlockSenders(txs: readonly TypedTransaction[], encoded: Uint8Array, threads: number): Promise<(Sender | Error)[]> {
  const native = loadNative()
  // A few transactions are recovered on this thread (`SMALL_BATCH`).
  if (native === null || txs.length < SMALL_BATCH) return recoverSenders(txs, threads)
  // The native side takes one chain id and one answer to "is EIP-2's low-s rule in force"
  // for the whole block: the two things ethereumjs reads from a transaction's Common for its
  // signature. Every transaction holds its own copy of the Common (ethereumjs copies it in
  // the constructor), so they are compared by those two values, not by identity.
  const common = txs[0].common
  const chain = common.chainId()
  const homestead = common.gteHardfork(Hardfork.Homestead)
  if (txs.some((tx) => tx.common !== common && (tx.common.chainId() !== chain || tx.common.gteHardfork(Hardfork.Homestead) !== homestead))) {
    return recoverSenders(txs, threads)
  }
  // Keys ethereumjs already cached on the transactions: only their addresses are computed.
  let known: Uint8Array | undefined
  for (let i = 0; i < txs.length; i++) {
    const key = cachedSenderKey(txs[i])
    if (key === undefined) continue
    known ??= new Uint8Array(txs.length * 65)
    known[i * 65] = 1
    known.set(key, i * 65 + 1)
  }
  const { signers, failed } = await native.recoverPayloadSenders(encoded, bigIntToUnpaddedBytes(chain), homestead, threads, known)
  const out: (Sender | Error)[] = new Array(txs.length)
  for (const i of failed) {
    try {
      out[i] = recoverSender(txs[i])
    } catch (e) {
      out[i] = e as Error
    }
  }
  for (let i = 0; i < txs.length; i++) {
    if (out[i] !== undefined) continue
    const at = signers.byteOffset + i * 84
    out[i] = { publicKey: new Uint8Array(signers.buffer, at, 64), address: new Address(new Uint8Array(signers.buffer, at + 64, 20)) }
  }
  return out
}

/** Writes a value below 2^256 big-endian into 32 bytes. */
function putWord(dst: Uint8Array, at: number, value: bigint): void {
  let v = value
  for (let k = 31; k >= 0 && v > 0n; k--) {
    dst[at + k] = Number(v & 0xffn)
    v >>= 8n
  }
}

/** A plain Uint8Array view of a napi Buffer (results are compared and serialized by users). */
function plain(b: Uint8Array): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

/**
 * Root of the trie `rlp(i) → items[i]` (receipts and transactions roots), the items given as
 * one buffer and their lengths.
 */
export async function orderedTrieRoot(items: Uint8Array, lengths: number[]): Promise<Uint8Array> {
  const native = loadNative()
  if (native !== null) return plain(native.orderedTrieRoot(items, lengths))
  const trie = new MerklePatriciaTrie()
  let at = 0
  for (let i = 0; i < lengths.length; i++) {
    await trie.put(RLP.encode(i), items.subarray(at, at + lengths[i]))
    at += lengths[i]
  }
  return trie.root()
}
