/**
 * Static pre-analysis of a block, before any transaction runs: what each transaction is
 * predicted to touch, the dependency graph those predictions imply, a sender-affinity
 * partition into shards, and a profile of the block for the adaptive strategy.
 *
 * Predictions only steer scheduling. The engine validates every execution against what it
 * really read, so a wrong or missing prediction costs a re-execution (or some parallelism),
 * never a wrong result.
 *
 * What a transaction is predicted to touch ("keys", all treated as read-and-written):
 * - its sender's account (nonce and balance: same-sender transactions form nonce chains);
 * - the recipient's account, for a plain transfer or any call that carries value;
 * - for a call to a known ERC-20 function (`transfer`, `transferFrom`, `approve`), the token's
 *   balance entries of the holders it moves tokens between and the allowance entry it spends
 *   or sets (named by token, holder and spender: equal names are equal storage slots of one
 *   token, whatever its storage layout);
 * - the storage slots its EIP-2930 access list declares;
 * - hints remembered from earlier blocks (`ConflictMemory`): a call signature (contract and
 *   4-byte selector) whose calls kept conflicting with each other counts as one hot key.
 * The fee credit to the coinbase is not a key: the engine applies it as a commutative delta.
 * Not predicted (left to validation): EIP-7702 authorities' nonces, contract-internal effects
 * of unknown calls, contract creations' effects beyond the sender.
 */
import type { TypedTransaction } from '@ethereumjs/tx'

const SELECTOR_TRANSFER = 0xa9059cbb
const SELECTOR_TRANSFER_FROM = 0x23b872dd
const SELECTOR_APPROVE = 0x095ea7b3

/** Latin-1 string of bytes: a cheap, exact map key. */
function key(bytes: Uint8Array, start = 0, end = bytes.length): string {
  let s = ''
  for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i])
  return s
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

/** A call's signature: contract address and selector (undefined for transfers and creations). */
export function callSignature(tx: TypedTransaction): string | undefined {
  if (tx.to === undefined || tx.data.length < 4) return undefined
  return key(tx.to.bytes) + key(tx.data, 0, 4)
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
  /** Call signature of each transaction (for `ConflictMemory.learn`). */
  signatures: (string | undefined)[]
}

/**
 * Analyses a block. `senders[i]` is the 20-byte sender of transaction `i`.
 */
export function analyzeBlock(txs: readonly TypedTransaction[], senders: readonly Uint8Array[], memory?: ConflictMemory): Analysis {
  const n = txs.length
  const last = new Map<string, number>()
  const offsets = new Uint32Array(n + 1)
  const preds: number[] = []
  const signatures: (string | undefined)[] = new Array(n)
  const uniqueSenders = new Set<string>()
  const chain = new Float64Array(n)
  let contractCalls = 0
  let erc20 = 0
  let hot = 0
  let total = 0
  let longest = 0
  const keys: string[] = []
  const deps = new Set<number>()
  for (let i = 0; i < n; i++) {
    const tx = txs[i]
    const sender = key(senders[i])
    uniqueSenders.add(sender)
    keys.length = 0
    keys.push('a' + sender)
    const data = tx.data
    const to = tx.to === undefined ? undefined : key(tx.to.bytes)
    if (to !== undefined && (tx.value > 0n || data.length === 0)) keys.push('a' + to)
    if (to !== undefined && data.length > 0) {
      contractCalls++
      const sig = to + key(data, 0, 4)
      signatures[i] = data.length >= 4 ? sig : undefined
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
      if (signatures[i] !== undefined && memory?.isHot(signatures[i]!) === true) {
        hot++
        keys.push('h' + signatures[i])
      }
    }
    const accessList = (tx as { accessList?: [Uint8Array, Uint8Array[]][] }).accessList
    if (Array.isArray(accessList)) {
      for (const [address, slots] of accessList) {
        const a = key(address)
        for (const slot of slots) keys.push('s' + a + key(slot))
      }
    }
    deps.clear()
    for (const k of keys) {
      const prev = last.get(k)
      // A key can repeat within one transaction (a transfer to oneself).
      if (prev !== undefined && prev !== i) deps.add(prev)
      last.set(k, i)
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
  }
}

/**
 * A sender-affinity partition: all transactions of a sender land in the same shard (so its
 * nonce chain runs in order on one worker); senders are spread over the shards by gas limit,
 * heaviest first, each to the least loaded shard.
 */
export function shardBySender(txs: readonly TypedTransaction[], senders: readonly Uint8Array[], shards: number): { shardOf: Uint32Array; loads: number[]; used: number } {
  const groups = new Map<string, { weight: number; txs: number[] }>()
  for (let i = 0; i < txs.length; i++) {
    const k = key(senders[i])
    let g = groups.get(k)
    if (g === undefined) {
      g = { weight: 0, txs: [] }
      groups.set(k, g)
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
 * Conflicts remembered across blocks, per call signature (contract and selector): the share
 * of a signature's calls that depended on an earlier call with the same signature in the
 * same block, as an exponential moving average. A signature at or above `threshold` is hot:
 * the analysis of later blocks chains its calls.
 */
export class ConflictMemory {
  private readonly rates = new Map<string, number>()

  constructor(
    private readonly threshold = 0.5,
    private readonly capacity = 4096,
  ) {}

  isHot(signature: string): boolean {
    return (this.rates.get(signature) ?? 0) >= this.threshold
  }

  /** Signatures currently hot. */
  get hotSignatures(): number {
    let n = 0
    for (const r of this.rates.values()) if (r >= this.threshold) n++
    return n
  }

  /** Learns from a block's actual dependency graph (`preds[offsets[i]..offsets[i+1]]`). */
  learn(signatures: readonly (string | undefined)[], graph: { offsets: Uint32Array; preds: Uint32Array }): void {
    const calls = new Map<string, number>()
    const conflicted = new Map<string, number>()
    for (let i = 0; i < signatures.length; i++) {
      const sig = signatures[i]
      if (sig === undefined) continue
      const seen = calls.get(sig) ?? 0
      calls.set(sig, seen + 1)
      if (seen === 0) continue
      for (let k = graph.offsets[i]; k < graph.offsets[i + 1]; k++) {
        if (signatures[graph.preds[k]] === sig) {
          conflicted.set(sig, (conflicted.get(sig) ?? 0) + 1)
          break
        }
      }
    }
    for (const [sig, count] of calls) {
      if (count < 2) continue
      const rate = (conflicted.get(sig) ?? 0) / (count - 1)
      const before = this.rates.get(sig)
      this.rates.delete(sig)
      this.rates.set(sig, before === undefined ? rate : 0.5 * before + 0.5 * rate)
    }
    // Forget the least recently updated signatures beyond the capacity.
    for (const sig of this.rates.keys()) {
      if (this.rates.size <= this.capacity) break
      this.rates.delete(sig)
    }
  }
}
