/** Shared by both sides of the key-value executor. */

/** One transaction: the name of an exported function and its (structured-cloneable) arguments. */
export interface KeyValueTransaction {
  fn: string
  args?: unknown[]
}

/** What a transaction function sees: keys and balances of the shared state. */
export interface KeyValueContext {
  /** The value of a key (0 if never written). */
  read(key: bigint): bigint
  /** Sets a key (uint256). */
  write(key: bigint, value: bigint): void
  /** The balance of an account, including this transaction's own credits. */
  balance(account: bigint): bigint
  /**
   * Adds to an account's balance. Transactions that credit an account without reading its
   * balance do not conflict with each other.
   */
  credit(account: bigint, amount: bigint): void
}

/** Storage of this address holds the keys. */
export const KV_ADDRESS = new Uint8Array(20).fill(0x4b)

export function keySlot(key: bigint): Uint8Array {
  if (key < 0n || key >> 256n !== 0n) throw new RangeError(`key out of uint256 range: ${key}`)
  const out = new Uint8Array(32)
  let k = key
  for (let i = 31; i >= 0 && k > 0n; i--) {
    out[i] = Number(k & 0xffn)
    k >>= 8n
  }
  return out
}

export function accountAddress(account: bigint): Uint8Array {
  if (account < 0n || account >> 160n !== 0n) throw new RangeError(`account out of range: ${account}`)
  const out = new Uint8Array(20)
  let a = account
  for (let i = 19; i >= 0 && a > 0n; i--) {
    out[i] = Number(a & 0xffn)
    a >>= 8n
  }
  return out
}

export function bytesToBigInt(b: Uint8Array): bigint {
  let v = 0n
  for (const x of b) v = (v << 8n) | BigInt(x)
  return v
}
