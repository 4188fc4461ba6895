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

export function keccak256(data: Uint8Array): Uint8Array {
  const native = loadNative()
  // For short inputs the JS hash beats a crossing into the addon.
  return native !== null && data.length > 64 ? plain(native.keccak256(data)) : keccak_256(data)
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
 * Recovers the sender of `tx` with the same checks ethereumjs applies (signed, EIP-2 low s
 * from Homestead, a valid recovery id), natively when possible. Throws a plain `Error` with
 * ethereumjs's wording when the signature is invalid.
 */
export function recoverSender(tx: TypedTransaction): Sender {
  const native = loadNative()
  if (native === null) {
    const publicKey = tx.getSenderPublicKey()
    return { address: tx.getSenderAddress(), publicKey }
  }
  const { v, r, s } = tx
  if (v === undefined || r === undefined || s === undefined) throw new Error('Invalid Signature: transaction is not signed')
  if (tx.common.gteHardfork(Hardfork.Homestead) && s > SECP256K1_ORDER_DIV_2) {
    throw new Error('Invalid Signature: s-values greater than secp256k1n/2 are considered invalid')
  }
  const chainId = tx.supports(Capability.EIP155ReplayProtection) ? tx.common.chainId() : undefined
  const recovery = calculateSigRecovery(v, chainId)
  if (recovery !== 0n && recovery !== 1n) throw new Error('Invalid Signature: invalid signature v value')
  let signer: Uint8Array
  try {
    signer = native.recoverSigner(tx.getHashedMessageToSign(), Number(recovery), bigIntToUnpaddedBytes(r), bigIntToUnpaddedBytes(s))
  } catch {
    throw new Error('Invalid Signature')
  }
  return { publicKey: signer.subarray(0, 64), address: new Address(signer.subarray(64, 84)) }
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
