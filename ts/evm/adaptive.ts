/**
 * The adaptive strategy: per block, picks one of its candidate strategies by a policy and
 * says why. The pick only decides speed: every candidate returns the sequential result.
 */
import { InvalidInputError } from '../errors.ts'
import type { BlockProfile } from './analysis.ts'
import type { AdaptivePolicy, AdaptiveStrategy, FixedStrategy, PerformanceHistory } from './types.ts'

type Kind = FixedStrategy['kind']

export interface Decision {
  strategy: FixedStrategy
  policy: string
  reason: string
}

const DEFAULT_CANDIDATES: FixedStrategy[] = [{ kind: 'sequential' }, { kind: 'optimistic' }, { kind: 'dependency' }, { kind: 'sharded' }]
/** When the wanted kind is not a candidate: the nearest one in this order. */
const PREFERENCE: Record<Kind, Kind[]> = {
  sequential: ['sequential', 'dependency', 'sharded', 'optimistic'],
  dependency: ['dependency', 'optimistic', 'sharded', 'sequential'],
  optimistic: ['optimistic', 'dependency', 'sharded', 'sequential'],
  sharded: ['sharded', 'dependency', 'optimistic', 'sequential'],
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : String(x))

export class AdaptiveChooser {
  /** Throughput samples (Mgas/s) per kind, newest last. */
  private readonly samples = new Map<Kind, number[]>()
  /** Block number (of this chooser) at which each kind was last measured. */
  private readonly lastMeasured = new Map<Kind, number>()
  private blocks = 0

  /** The policy's pick for a block. */
  decide(s: AdaptiveStrategy, profile: BlockProfile, threads: number): Decision {
    this.blocks++
    const candidates = s.candidates ?? DEFAULT_CANDIDATES
    const pick = (kind: Kind, policy: string, reason: string): Decision => {
      for (const k of PREFERENCE[kind]) {
        const c = candidates.find((x) => x.kind === k)
        if (c !== undefined) return { strategy: c, policy, reason: k === kind ? reason : `${reason} (${kind} is not a candidate: ${k})` }
      }
      throw new InvalidInputError('adaptive: no candidate strategies')
    }
    const policy: AdaptivePolicy = s.policy ?? 'characteristics'
    if (typeof policy === 'function') {
      const chosen = policy(profile, this.history())
      const kind = typeof chosen === 'string' ? chosen : chosen?.kind
      if (!(kind in PREFERENCE)) throw new InvalidInputError(`adaptive: the policy function returned ${String(kind)}, not a fixed strategy`)
      if (typeof chosen === 'object') return { strategy: chosen, policy: 'function', reason: 'chosen by the policy function' }
      return pick(kind, 'function', 'chosen by the policy function')
    }
    const kind = typeof policy === 'string' ? policy : policy.kind
    switch (kind) {
      case 'load': {
        const p: { low?: number; high?: number } = typeof policy === 'object' && policy.kind === 'load' ? policy : {}
        const low = p.low ?? 16
        const high = p.high ?? 256
        const n = profile.transactions
        if (n < low) return pick('sequential', 'load', `${n} transactions < low threshold ${low}`)
        if (n >= high) return pick('optimistic', 'load', `${n} transactions >= high threshold ${high}`)
        return pick('dependency', 'load', `${n} transactions between thresholds ${low} and ${high}`)
      }
      case 'characteristics': {
        const p: { minTransactions?: number; minParallelism?: number } = typeof policy === 'object' && policy.kind === 'characteristics' ? policy : {}
        const minTxs = p.minTransactions ?? 16
        const minPar = p.minParallelism ?? 1.3
        const n = profile.transactions
        if (threads < 2) return pick('sequential', 'characteristics', `one worker thread: nothing to run in parallel`)
        if (n < minTxs) return pick('sequential', 'characteristics', `small block: ${n} transactions < ${minTxs}`)
        if (profile.predictedParallelism < minPar) {
          return pick('sequential', 'characteristics', `predicted chain: parallelism ${fmt(profile.predictedParallelism)} < ${minPar}`)
        }
        const edgesPerTx = profile.predictedEdges / n
        if (edgesPerTx >= 0.05) {
          return pick(
            'dependency',
            'characteristics',
            `predicted dependencies: ${profile.predictedEdges} edges (unique-sender ratio ${fmt(profile.uniqueSenderRatio)}, ERC-20 share ${fmt(profile.erc20Share)}, hot share ${fmt(profile.hotShare)})`,
          )
        }
        return pick('optimistic', 'characteristics', `few predicted dependencies (${profile.predictedEdges} edges; contract-call share ${fmt(profile.contractCallShare)})`)
      }
      case 'performance': {
        const p: { explore?: number } = typeof policy === 'object' && policy.kind === 'performance' ? policy : {}
        const explore = p.explore ?? 10
        const kinds = candidates.map((c) => c.kind)
        const untried = kinds.find((k) => (this.samples.get(k)?.length ?? 0) === 0)
        if (untried !== undefined) return pick(untried, 'performance', `measuring ${untried} (no sample yet)`)
        if (explore > 0 && this.blocks % explore === 0) {
          const stalest = kinds.reduce((a, b) => ((this.lastMeasured.get(a) ?? 0) <= (this.lastMeasured.get(b) ?? 0) ? a : b))
          return pick(stalest, 'performance', `re-measuring ${stalest} (every ${explore} blocks)`)
        }
        const mean = (k: Kind) => {
          const xs = this.samples.get(k) ?? []
          return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length)
        }
        const best = kinds.reduce((a, b) => (mean(b) > mean(a) ? b : a))
        const seq = this.samples.has('sequential') ? mean('sequential') : undefined
        const summary = kinds
          .map((k) => `${k} ${fmt(mean(k))} Mgas/s${seq !== undefined && seq > 0 ? ` (${fmt(mean(k) / seq)}x)` : ''}`)
          .join(', ')
        return pick(best, 'performance', `best measured throughput: ${summary}`)
      }
      default:
        throw new InvalidInputError(`adaptive: unknown policy ${JSON.stringify(kind)}`)
    }
  }

  /** Records a block's measured throughput for the performance policy. */
  record(kind: Kind, mgasPerSecond: number, window: number): void {
    if (!Number.isFinite(mgasPerSecond) || mgasPerSecond <= 0) return
    const xs = this.samples.get(kind) ?? []
    xs.push(mgasPerSecond)
    while (xs.length > window) xs.shift()
    this.samples.set(kind, xs)
    this.lastMeasured.set(kind, this.blocks)
  }

  history(): PerformanceHistory {
    return Object.fromEntries([...this.samples].map(([k, v]) => [k, [...v]]))
  }
}

/** Checks an adaptive strategy's options (at `create` and per block). */
export function checkAdaptive(s: AdaptiveStrategy): void {
  if (s.candidates !== undefined && (!Array.isArray(s.candidates) || s.candidates.length === 0)) {
    throw new InvalidInputError('adaptive: candidates must be a non-empty array of strategies')
  }
  for (const c of s.candidates ?? []) {
    if (c === null || typeof c !== 'object' || !(c.kind in PREFERENCE)) {
      throw new InvalidInputError(`adaptive: candidate ${JSON.stringify(c)} is not a fixed strategy`)
    }
  }
  const p = s.policy
  if (p === undefined || typeof p === 'function') return
  const kind = typeof p === 'string' ? p : p?.kind
  if (kind !== 'characteristics' && kind !== 'load' && kind !== 'performance') {
    throw new InvalidInputError(`adaptive: unknown policy ${JSON.stringify(p)}`)
  }
  if (typeof p === 'object') {
    for (const [k, v] of Object.entries(p)) {
      if (k !== 'kind' && (typeof v !== 'number' || !(v >= 0))) throw new InvalidInputError(`adaptive: ${kind}.${k} must be a non-negative number`)
    }
    if (p.kind === 'load' && (p.low ?? 16) > (p.high ?? 256)) throw new InvalidInputError('adaptive: load.low must not exceed load.high')
  }
}
