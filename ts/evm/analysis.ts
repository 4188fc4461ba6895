/**
 * Static pre-analysis of a block, before any transaction runs: what each transaction is
 * predicted to touch, the dependency graph those predictions imply, an affinity
 * partition into shards, and a profile of the block for the adaptive strategy.
 *
 * Predictions only steer scheduling. The engine validates every execution against what it
 * really read, so a wrong or missing prediction costs a re-execution (or some parallelism),
 * never a wrong result.
 *
 * What a transaction is predicted to touch ("keys", treated as read-and-written unless said):
 * - its sender's account (nonce and balance: same-sender transactions form nonce chains);
 * - the recipient's account, for a plain transfer or any call that carries value. A payment
 *   without call data into another account is only a credit to it: on the workers it reads a
 *   recipient without code as a credit and writes a balance delta, which other credits do not
 *   invalidate. So credits to one account are not predicted to depend on each other, only on
 *   the last full use of that account before them, and a full use depends on the credits since
 *   the one before it (a deposit address that sends a transaction of its own). Whether the
 *   recipient has code is not known here: a payment into a contract runs its code, reads the
 *   account in full, and what it conflicts with is left to validation;
 * - for a call to a known ERC-20 function (`transfer`, `transferFrom`, `approve`), the token's
 *   balance entries of the holders it moves tokens between and the allowance entry it spends
 *   or sets (named by token, holder and spender: equal names are equal storage slots of one
 *   token, whatever its storage layout);
 * - the storage slots its EIP-2930 access list declares;
 * - the account of each EIP-7702 authority its authorizations name (recovered before the
 *   analysis, `authorities.ts`): an authorization raises that account's nonce and sets its code;
 * - hints remembered from earlier blocks (`ConflictMemory`): a call signature (contract and
 *   4-byte selector) whose calls kept conflicting with each other counts as one hot key.
 * The fee credit to the coinbase is not a key: the engine applies it as a commutative delta.
 * Not predicted (left to validation): contract-internal effects of unknown calls (including
 * what a delegated account's code does), contract creations' effects beyond the sender.
 */
import type { TypedTransaction } from '@ethereumjs/tx'

const SELECTOR_TRANSFER = 0xa9059cbb
const SELECTOR_TRANSFER_FROM = 0x23b872dd
const SELECTOR_APPROVE = 0x095ea7b3

const latin1Slice = (Buffer.prototype as unknown as { latin1Slice(this: Uint8Array, start: number, end: number): string }).latin1Slice

/** Latin-1 string of bytes: a cheap, exact map key (0.1 µs for an address). */
function key(bytes: Uint8Array, start = 0, end = bytes.length): string {
  return latin1Slice.call(bytes, start, end)
}

/** The 4-byte selector of call data, or -1. */
function selectorOf(data: Uint8Array): number {
  return data.length >= 4 ? ((data[0] << 24) | (data[1] << 16) | (data[2] << 8) | data[3]) >>> 0 : -1
}

/** The address in ABI word `word` (0-based, after the selector), as a key; undefined if short. */
function abiAddress(data: Uint8Array, word: number): string | undefined {
  const start = 4 + word * 32 + 12
  return data.length >= start + 20 ? key(data, start, start + 20) : undefined
}

export interface BlockProfile {
  transactions: number
  /** Share of transactions that call a contract (have a recipient and call data). */
  contractCallShare: number
  /** Distinct senders / transactions (1: every transaction has its own sender). */
  uniqueSenderRatio: number
  /** Share of transactions that are calls to known ERC-20 functions. */
  erc20Share: number
  /** Share of transactions whose call signature is remembered as conflicting (hot). */
  hotShare: number
  /** Edges of the predicted dependency graph. */
  predictedEdges: number
  /**
   * Total gas limit / gas limit along the longest predicted chain: the speedup the predicted
   * graph allows with unlimited threads (1: fully dependent).
   */
  predictedParallelism: number
}

export interface Analysis {
  profile: BlockProfile
  /** Predicted predecessors: transaction `i` waits for `preds[offsets[i]..offsets[i + 1]]`. */
  hints: { offsets: Uint32Array; preds: Uint32Array }
  /** Call signature of each transaction, alone and with its first argument (for `ConflictMemory.learn`). */
  signatures: (string | undefined)[]
  withArgument: (string | undefined)[]
  /**
   * Per transaction, its predicted keys other than remembered ones (see `ConflictMemory`); a
   * payment that is only a credit to its recipient adds none.
   */
  keys: string[][]
  /** Per transaction, the remembered hot grains it belongs to (undefined: none). */
  hotKeys: (string[] | undefined)[]
}

/**
 * The one dependency known for certain before execution: a transaction's nonce is the one its
 * sender's previous transaction in the block leaves. Each transaction's predecessor is that
 * previous transaction (none for a sender's first). Run without it, Block-STM executes a
 * sender's later transactions against a stale nonce and throws the work away: on a block
 * dominated by one sender (an exchange's or a pool's payouts) that costs about two wasted
 * executions per transaction on two threads.
 */
export function senderOrder(senders: readonly Uint8Array[]): Analysis['hints'] {
  const n = senders.length
  const offsets = new Uint32Array(n + 1)
  const preds: number[] = []
  const last = new Map<string, number>()
  for (let i = 0; i < n; i++) {
    const sender = key(senders[i])
    const prev = last.get(sender)
    if (prev !== undefined) preds.push(prev)
    last.set(sender, i)
    offsets[i + 1] = preds.length
  }
  return { offsets, preds: Uint32Array.from(preds) }
}

/**
 * Analyses a block. `senders[i]` is the 20-byte sender of transaction `i`; `authorities[i]`
 * the EIP-7702 authorities recovered from its authorizations, if any.
 */
export function analyzeBlock(
  txs: readonly TypedTransaction[],
  senders: readonly Uint8Array[],
  memory?: ConflictMemory,
  authorities?: readonly (readonly Uint8Array[] | undefined)[],
): Analysis {
  const n = txs.length
  const last = new Map<string, number>()
  /** Per account key, the credits to it since its last full use. */
  const creditsSince = new Map<string, number[]>()
  const offsets = new Uint32Array(n + 1)
  const preds: number[] = []
  const signatures: (string | undefined)[] = new Array(n)
  const withArgument: (string | undefined)[] = new Array(n)
  const staticKeys: string[][] = new Array(n)
  const hotKeys: (string[] | undefined)[] = new Array(n)
  const uniqueSenders = new Set<string>()
  const chain = new Float64Array(n)
  let contractCalls = 0
  let erc20 = 0
  let hot = 0
  let total = 0
  let longest = 0
  let keys: string[] = []
  const deps = new Set<number>()
  for (let i = 0; i < n; i++) {
    const tx = txs[i]
    const sender = key(senders[i])
    uniqueSenders.add(sender)
    keys = ['a' + sender]
    const data = tx.data
    const to = tx.to === undefined ? undefined : key(tx.to.bytes)
    // A payment without call data is a credit to its recipient (see above); a self-payment
    // touches only the sender's own account.
    const credit = to !== undefined && data.length === 0 && tx.value > 0n ? 'a' + to : undefined
    if (to !== undefined && credit === undefined && (tx.value > 0n || data.length === 0)) keys.push('a' + to)
    if (to !== undefined && data.length > 0) {
      contractCalls++
      // Call data shorter than a selector (1 to 3 bytes) has no signature.
      signatures[i] = data.length >= 4 ? to + key(data, 0, 4) : undefined
      withArgument[i] = data.length >= 36 ? to + key(data, 0, 36) : undefined
      const selector = selectorOf(data)
      if (selector === SELECTOR_TRANSFER) {
        const recipient = abiAddress(data, 0)
        if (recipient !== undefined) {
          erc20++
          keys.push('b' + to + sender, 'b' + to + recipient)
        }
      } else if (selector === SELECTOR_TRANSFER_FROM) {
        const from = abiAddress(data, 0)
        const recipient = abiAddress(data, 1)
        if (from !== undefined && recipient !== undefined) {
          erc20++
          keys.push('b' + to + from, 'b' + to + recipient, 'l' + to + from + sender)
        }
      } else if (selector === SELECTOR_APPROVE) {
        const spender = abiAddress(data, 0)
        if (spender !== undefined) {
          erc20++
          keys.push('l' + to + sender + spender)
        }
      }
    }
    const accessList = (tx as { accessList?: [Uint8Array, Uint8Array[]][] }).accessList
    if (Array.isArray(accessList)) {
      for (const [address, slots] of accessList) {
        const a = key(address)
        for (const slot of slots) keys.push('s' + a + key(slot))
      }
    }
    const authorized = authorities?.[i]
    if (authorized !== undefined) for (const a of authorized) keys.push('a' + key(a))
    // A credit to an account this transaction also uses in full (its sender, an authority) is
    // part of that use. A credit is not a key: it joins nothing, and only orders (below).
    const creditKey = credit !== undefined && !keys.includes(credit) ? credit : undefined
    staticKeys[i] = keys.slice()
    if (memory !== undefined) {
      const hotCall = signatures[i] !== undefined && memory.isHot(signatures[i]!)
      const hotArgument = withArgument[i] !== undefined && memory.isHot(withArgument[i]!)
      if (hotCall) keys.push('h' + signatures[i])
      if (hotArgument) keys.push('h' + withArgument[i])
      if (hotCall || hotArgument) {
        hot++
        hotKeys[i] = keys.slice(staticKeys[i].length)
      }
    }
    deps.clear()
    for (const k of keys) {
      const prev = last.get(k)
      // A key can repeat within one transaction (a transfer to oneself).
      if (prev !== undefined && prev !== i) deps.add(prev)
      last.set(k, i)
      const credited = creditsSince.get(k)
      if (credited !== undefined) {
        for (const c of credited) deps.add(c)
        creditsSince.delete(k)
      }
    }
    if (creditKey !== undefined) {
      const prev = last.get(creditKey)
      if (prev !== undefined) deps.add(prev)
      const credited = creditsSince.get(creditKey)
      if (credited === undefined) creditsSince.set(creditKey, [i])
      else credited.push(i)
    }
    const weight = Number(tx.gasLimit)
    let before = 0
    for (const d of deps) {
      preds.push(d)
      if (chain[d] > before) before = chain[d]
    }
    chain[i] = before + weight
    if (chain[i] > longest) longest = chain[i]
    total += weight
    offsets[i + 1] = preds.length
  }
  return {
    profile: {
      transactions: n,
      contractCallShare: n === 0 ? 0 : contractCalls / n,
      uniqueSenderRatio: n === 0 ? 1 : uniqueSenders.size / n,
      erc20Share: n === 0 ? 0 : erc20 / n,
      hotShare: n === 0 ? 0 : hot / n,
      predictedEdges: preds.length,
      predictedParallelism: longest === 0 ? 1 : total / longest,
    },
    hints: { offsets, preds: Uint32Array.from(preds) },
    signatures,
    withArgument,
    keys: staticKeys,
    hotKeys,
  }
}

/**
 * An affinity partition into shards: transactions that share a predicted key land in the same
 * shard, so that what they are known to conflict over runs in order on one worker. The keys
 * are the analysis's (`Analysis.keys`: the sender, so a nonce chain stays together; the
 * recipient of a call carrying value or of a call without value or data; a known ERC-20 call's balance and
 * allowance entries; declared access-list slots) and the remembered hot grains (`Analysis.hotKeys`: calls that kept conflicting in
 * earlier blocks). The groups this makes are spread over the shards by gas limit, heaviest
 * first, each to the least loaded shard.
 *
 * Grouping by sender alone is not enough where transactions conflict across senders: calls
 * carrying value into one contract, or a deposit address's own transaction after payments into
 * it. Payments without call data are credits and join nothing (see `analyzeBlock`). Before the
 * engine read such payments as credits, they conflicted over the recipient's balance: on
 * mainnet block 13,217,637, 934 of 1,100 transactions pay one exchange address, and two shards
 * running those in their own orders re-executed 532-6,336 transactions in each of six runs at
 * two threads, until the recipient became a key that put the 934 in one shard.
 */
export function shardByAffinity(
  txs: readonly TypedTransaction[],
  keys: readonly (readonly string[])[],
  shards: number,
  hotKeys?: readonly (string[] | undefined)[],
): { shardOf: Uint32Array; loads: number[]; used: number } {
  // Union-find over transactions, joined through their keys.
  const parent = Array.from({ length: txs.length }, (_, i) => i)
  const find = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]]
    return i
  }
  const firstWith = new Map<string, number>()
  const join = (k: string, i: number) => {
    const j = firstWith.get(k)
    if (j === undefined) firstWith.set(k, i)
    else parent[find(i)] = find(j)
  }
  for (let i = 0; i < txs.length; i++) {
    for (const k of keys[i]) join(k, i)
    for (const h of hotKeys?.[i] ?? []) join(h, i)
  }
  const groups = new Map<number, { weight: number; txs: number[] }>()
  for (let i = 0; i < txs.length; i++) {
    const root = find(i)
    let g = groups.get(root)
    if (g === undefined) {
      g = { weight: 0, txs: [] }
      groups.set(root, g)
    }
    g.weight += Number(txs[i].gasLimit)
    g.txs.push(i)
  }
  const ordered = [...groups.values()].sort((a, b) => b.weight - a.weight)
  const loads = new Array<number>(shards).fill(0)
  const shardOf = new Uint32Array(txs.length)
  for (const g of ordered) {
    let best = 0
    for (let s = 1; s < shards; s++) if (loads[s] < loads[best]) best = s
    loads[best] += g.weight
    for (const i of g.txs) shardOf[i] = best
  }
  return { shardOf, loads, used: loads.filter((l) => l > 0).length }
}

/**
 * Conflicts remembered across blocks, at two grains: a call signature (contract and selector),
 * and a signature with its first argument (a router's pool, a token's account). For each, an
 * exponential moving average of how often a call depended on an earlier call of the same
 * block with the same signature. A hot grain (at or above `threshold`) is one key in the
 * analysis of later blocks, so its calls are chained:
 * - a signature is hot when its calls conflict whatever their first argument (a counter's
 *   `increment()`, or calls that all touch one slot), counting only conflicts between calls
 *   with different first arguments when they have one;
 * - a signature with an argument is hot when calls with that same argument conflict (swaps on
 *   one pool), which leaves calls with other arguments free to run in parallel.
 * Only conflicts the static analysis did not predict count (two token transfers from one
 * holder conflict, but that is already known).
 */
export class ConflictMemory {
  private readonly rates = new Map<string, number>()

  constructor(
    private readonly threshold = 0.5,
    private readonly capacity = 8192,
  ) {}

  isHot(grain: string): boolean {
    return (this.rates.get(grain) ?? 0) >= this.threshold
  }

  /** Grains currently hot. */
  get hotSignatures(): number {
    let n = 0
    for (const r of this.rates.values()) if (r >= this.threshold) n++
    return n
  }

  /**
   * Learns from a block's actual dependency graph: transaction `i` read what
   * `preds[offsets[i]..offsets[i + 1]]` wrote.
   */
  learn(a: Pick<Analysis, 'signatures' | 'withArgument' | 'keys'>, graph: { offsets: Uint32Array; preds: Uint32Array }): void {
    const { signatures, withArgument, keys } = a
    // Per grain: calls that had an earlier call of the same grain, and of those, how many
    // depended on one.
    const seen = new Map<string, number>()
    const candidates = new Map<string, number>()
    const conflicts = new Map<string, number>()
    const bump = (m: Map<string, number>, k: string) => m.set(k, (m.get(k) ?? 0) + 1)
    for (let i = 0; i < signatures.length; i++) {
      const sig = signatures[i]
      if (sig === undefined) continue
      const arg = withArgument[i]
      // The signature grain: with an argument, only calls with other arguments count.
      const sigSeen = (seen.get(sig) ?? 0) - (arg !== undefined ? (seen.get(arg) ?? 0) : 0)
      const argSeen = arg !== undefined ? (seen.get(arg) ?? 0) : 0
      let sigConflict = false
      let argConflict = false
      for (let k = graph.offsets[i]; k < graph.offsets[i + 1]; k++) {
        const p = graph.preds[k]
        if (signatures[p] !== sig) continue
        // A dependency the static analysis predicts anyway (a shared sender, token balance,
        // ...) says nothing new about the call.
        if (keys[i].some((x) => keys[p].includes(x))) continue
        if (arg !== undefined && withArgument[p] === arg) argConflict = true
        else sigConflict = true
      }
      if (sigSeen > 0) {
        bump(candidates, sig)
        if (sigConflict) bump(conflicts, sig)
      }
      if (arg !== undefined && argSeen > 0) {
        bump(candidates, arg)
        if (argConflict) bump(conflicts, arg)
      }
      bump(seen, sig)
      if (arg !== undefined) bump(seen, arg)
    }
    for (const [grain, count] of candidates) {
      const rate = (conflicts.get(grain) ?? 0) / count
      const before = this.rates.get(grain)
      this.rates.delete(grain)
      this.rates.set(grain, before === undefined ? rate : 0.5 * before + 0.5 * rate)
    }
    // Forget the least recently updated grains beyond the capacity.
    for (const grain of this.rates.keys()) {
      if (this.rates.size <= this.capacity) break
      this.rates.delete(grain)
    }
  }
}
