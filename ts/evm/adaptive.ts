/**
 * The adaptive strategy: per block, picks one of its candidate strategies by a policy and
 * says why. The pick only decides speed: every candidate returns the sequential result.
 *
 * Measured throughput (gas per second of whole `runBlock` calls) is kept per strategy kind
 * and per block size class (transaction count rounded down to a power of two), over a moving
 * window of the latest blocks, and compared by the best of each window once a kind has
 * enough samples: the `performance` policy picks by it, and the `characteristics` policy
 * checks its pick against it and against the other parallel kind (`ALTERNATIVE`).
 */
import { InvalidInputError } from '../errors.ts'
import type { BlockProfile } from './analysis.ts'
import type { AdaptiveStrategy, FixedStrategy, PerformanceHistory } from './types.ts'

type Kind = FixedStrategy['kind']

export interface Decision {
  strategy: FixedStrategy
  policy: string
  reason: string
}

const DEFAULT_CANDIDATES: FixedStrategy[] = [{ kind: 'sequential' }, { kind: 'optimistic', senderOrder: true }, { kind: 'dependency' }, { kind: 'sharded' }]
/** When the wanted kind is not a candidate: the nearest one in this order. */
const PREFERENCE: Record<Kind, Kind[]> = {
  sequential: ['sequential', 'dependency', 'sharded', 'optimistic'],
  dependency: ['dependency', 'optimistic', 'sharded', 'sequential'],
  optimistic: ['optimistic', 'dependency', 'sharded', 'sequential'],
  sharded: ['sharded', 'dependency', 'optimistic', 'sequential'],
}

export const DEFAULT_WINDOW = 5
const DEFAULT_EXPLORE = 10
/** Samples a kind needs on a size class before measurements decide. */
const MIN_SAMPLES = 3
/**
 * How much faster sequential must have measured before `characteristics` overrides a
 * parallel pick its prediction made: timings on a loaded machine vary by 5-10 %, and within
 * this margin the prediction is kept (it then costs at most this much against sequential).
 */
const SEQUENTIAL_MARGIN = 0.05
/**
 * A candidate that measured this far behind the one running is re-measured `FAR_BACKOFF`
 * times less often: it needs a large change of the workload to win, and each re-measurement
 * runs a block at its speed. With the default `explore` of 10 and a pick measured at 1.7x
 * sequential, re-measuring sequential every 10 blocks adds about 7 % to the time of those
 * blocks, every 40 about 2 % (arithmetic: 9 / 1.7 + 1 against 10 / 1.7).
 */
const FAR_BEHIND = 1.25
const FAR_BACKOFF = 4
/**
 * A candidate measured less than this far behind the one running is re-measured `CLOSE_SPEEDUP`
 * times as often (every 3 blocks with the default `explore`). Such a comparison is inside this
 * kind of machine's run-to-run noise, and the first samples of a strategy come from blocks that
 * are still warming up (its workers compiling, the dependency strategy's conflict memory still
 * learning): on the benchmark's contiguous chains the run at 675c6ff measured dependency at
 * 0.94x sequential on those first blocks (151.5 against 161.0 Mgas/s), and in both runs before
 * this rule adaptive kept sequential for the timed rounds, at 0.79 and 0.73 of the best fixed
 * strategy. By arithmetic, a re-measurement of a close loser costs under a tenth of a block in
 * three.
 */
const CLOSE = 1.1
const CLOSE_SPEEDUP = 3
/** The re-measurement period for a close candidate. */
const closeEvery = (explore: number) => Math.max(1, Math.floor(explore / CLOSE_SPEEDUP))

/** Why the characteristics policy runs a block sequentially before looking at it, if it does. */
function nothingToParallelize(p: { minTransactions?: number }, transactions: number, threads: number, oneSender = false): string | undefined {
  const minTxs = p.minTransactions ?? 16
  if (threads < 2) return 'one worker thread: nothing to run in parallel'
  if (transactions < minTxs) return `small block: ${transactions} transactions < ${minTxs}`
  // Each transaction takes its nonce from the one before: a chain, whatever else it does.
  if (oneSender) return `one sender: its ${transactions} transactions form one nonce chain`
  return undefined
}

/**
 * The characteristics policy's other parallel kind: it predicts dependency or optimistic, and
 * measures the other one too. On mainnet blocks it predicted dependency for most blocks (a
 * few same-sender or same-token edges), measured dependency below sequential and ran them
 * sequentially, while optimistic measured 1.1-1.3x sequential on many of the same blocks
 * (`bench/_stream.ts`, git-ignored, one run).
 */
const ALTERNATIVE: Partial<Record<Kind, Kind>> = { dependency: 'optimistic', optimistic: 'dependency' }

const fmt = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : String(x))

/** The size class of a block: its transaction count rounded down to a power of two. */
export function sizeClass(transactions: number): number {
  return transactions <= 1 ? 1 : 2 ** Math.floor(Math.log2(transactions))
}

export class AdaptiveChooser {
  /** Throughput samples (Mgas/s), newest last, per `kind|size class`. */
  private readonly samples = new Map<string, number[]>()
  /** Per size class: decisions made, and the decision count when each kind was last measured. */
  private readonly decisions = new Map<number, number>()
  private readonly lastMeasured = new Map<string, number>()

  /** The policy's pick for a block. */
  decide(s: AdaptiveStrategy, profile: BlockProfile, threads: number): Decision {
    const size = sizeClass(profile.transactions)
    const round = (this.decisions.get(size) ?? 0) + 1
    this.decisions.set(size, round)
    const candidates = s.candidates ?? DEFAULT_CANDIDATES
    const pick = (kind: Kind, policy: string, reason: string): Decision => {
      for (const k of PREFERENCE[kind]) {
        const c = candidates.find((x) => x.kind === k)
        if (c !== undefined) return { strategy: c, policy, reason: k === kind ? reason : `${reason} (${kind} is not a candidate: ${k})` }
      }
      throw new InvalidInputError('adaptive: no candidate strategies')
    }
    const has = (k: Kind) => candidates.some((c) => c.kind === k)
    const samples = (k: Kind) => this.samples.get(`${k}|${size}`) ?? []
    // The best of the window: robust to one-off pauses (a garbage collection, a worker's first
    // block compiling its code), which only ever make a run slower.
    const best = (k: Kind) => {
      const xs = samples(k)
      return xs.length === 0 ? NaN : Math.max(...xs)
    }
    const stale = (k: Kind, every: number) => every > 0 && round - (this.lastMeasured.get(`${k}|${size}`) ?? 0) >= every
    /** How often to re-measure `loser` while `winner` runs: less often the further behind it measured, more often when close. */
    const every = (explore: number, winner: number, loser: number) =>
      winner >= FAR_BEHIND * loser ? explore * FAR_BACKOFF : winner < CLOSE * loser ? closeEvery(explore) : explore
    const sizeNote = `blocks of ${size}+ transactions`

    const policy = s.policy ?? 'characteristics'
    if (typeof policy === 'function') {
      const chosen = policy(profile, this.history(size))
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
        const p: { minTransactions?: number; minParallelism?: number; measure?: boolean; explore?: number } =
          typeof policy === 'object' && policy.kind === 'characteristics' ? policy : {}
        const minPar = p.minParallelism ?? 1.3
        const n = profile.transactions
        const tooSmall = nothingToParallelize(p, n, threads)
        if (tooSmall !== undefined) return pick('sequential', 'characteristics', tooSmall)
        if (profile.predictedParallelism < minPar) {
          return pick('sequential', 'characteristics', `predicted chain: parallelism ${fmt(profile.predictedParallelism)} < ${minPar}`)
        }
        let wanted: Kind
        let reason: string
        if (profile.predictedEdges / n >= 0.05) {
          wanted = 'dependency'
          reason = `predicted dependencies: ${profile.predictedEdges} edges (unique-sender ratio ${fmt(profile.uniqueSenderRatio)}, ERC-20 share ${fmt(profile.erc20Share)}, hot share ${fmt(profile.hotShare)})`
        } else {
          wanted = 'optimistic'
          reason = `few predicted dependencies (${profile.predictedEdges} edges; contract-call share ${fmt(profile.contractCallShare)})`
        }
        const chosen = pick(wanted, 'characteristics', reason)
        // Check against measurements: does parallel execution pay for such blocks on this
        // machine, and with which of the two parallel kinds the prediction chooses between?
        // Measure the pick, sequential and the other kind first (`ALTERNATIVE`), then run the
        // faster parallel kind unless sequential measured more than the margin faster,
        // re-measuring the others now and then (`every`).
        if (p.measure === false || !has('sequential')) return chosen
        const k = chosen.strategy.kind
        const alt = ALTERNATIVE[k] !== undefined && has(ALTERNATIVE[k]) ? ALTERNATIVE[k] : undefined
        /** Runs parallel kind `x` (the pick or the alternative), saying why. */
        const run = (x: Kind, why: string): Decision => (x === k ? { ...chosen, reason: `${chosen.reason}; ${why}` } : pick(x, 'characteristics', `${reason}; ${why}`))
        const explore = p.explore ?? DEFAULT_EXPLORE
        const [nk, ns] = [samples(k).length, samples('sequential').length]
        if (nk < MIN_SAMPLES && nk <= ns) return run(k, `measuring it on ${sizeNote}`)
        if (ns < MIN_SAMPLES) return pick('sequential', 'characteristics', `${reason}; measuring sequential on ${sizeNote} for comparison`)
        if (alt !== undefined && samples(alt).length < MIN_SAMPLES) return run(alt, `measuring ${alt} too on ${sizeNote}`)
        const seq = best('sequential')
        // The faster of the two parallel kinds (the predicted one on a tie), then the other.
        const kinds = alt !== undefined && best(alt) > best(k) ? [alt, k] : alt !== undefined ? [k, alt] : [k]
        const par = best(kinds[0])
        const measured = kinds.map((x) => `${x} ${fmt(best(x))}`).join(', ') + ` vs sequential ${fmt(seq)} Mgas/s on ${sizeNote}`
        if (par * (1 + SEQUENTIAL_MARGIN) >= seq) {
          if (stale('sequential', every(explore, par, seq))) return pick('sequential', 'characteristics', `${reason}; re-measuring sequential (${measured})`)
          const [, other] = kinds
          if (other !== undefined && stale(other, every(explore, par, best(other)))) return run(other, `re-measuring ${other} (${measured})`)
          return run(kinds[0], `measured ${measured}`)
        }
        for (const x of kinds) if (stale(x, every(explore, seq, best(x)))) return run(x, `re-measuring ${x} (${measured})`)
        return pick('sequential', 'characteristics', `${reason}, but measured ${measured} (sequential more than ${SEQUENTIAL_MARGIN * 100} % faster)`)
      }
      case 'performance': {
        const p: { explore?: number; window?: number } = typeof policy === 'object' && policy.kind === 'performance' ? policy : {}
        const explore = p.explore ?? DEFAULT_EXPLORE
        // A window smaller than MIN_SAMPLES never holds that many: it decides once it is full.
        const enough = Math.min(MIN_SAMPLES, p.window ?? DEFAULT_WINDOW)
        const kinds = candidates.map((c) => c.kind)
        const fewest = kinds.reduce((a, b) => (samples(b).length < samples(a).length ? b : a))
        if (samples(fewest).length < enough) return pick(fewest, 'performance', `measuring ${fewest} on ${sizeNote} (${samples(fewest).length} samples so far)`)
        const top = kinds.reduce((a, b) => (best(b) > best(a) ? b : a))
        const stalest = kinds.reduce((a, b) => ((this.lastMeasured.get(`${a}|${size}`) ?? 0) <= (this.lastMeasured.get(`${b}|${size}`) ?? 0) ? a : b))
        if (stalest !== top && stale(stalest, every(explore, best(top), best(stalest)))) {
          return pick(stalest, 'performance', `re-measuring ${stalest} (every ${explore} blocks, ${closeEvery(explore)} when less than ${CLOSE}x behind the best, ${explore * FAR_BACKOFF} when ${FAR_BEHIND}x)`)
        }
        const seq = has('sequential') ? best('sequential') : undefined
        const summary = kinds.map((k) => `${k} ${fmt(best(k))} Mgas/s${seq !== undefined && seq > 0 ? ` (${fmt(best(k) / seq)}x)` : ''}`).join(', ')
        return pick(top, 'performance', `best measured throughput on ${sizeNote}: ${summary}`)
      }
      default:
        throw new InvalidInputError(`adaptive: unknown policy ${JSON.stringify(kind)}`)
    }
  }

  /**
   * The default policy's decision where it needs no pre-analysis (one worker thread, a block
   * below `minTransactions`, or one whose transactions all have one sender): sequential, when
   * that is a candidate. Undefined otherwise.
   */
  quick(s: AdaptiveStrategy, transactions: number, threads: number, oneSender = false): Decision | undefined {
    const policy = s.policy ?? 'characteristics'
    if (typeof policy === 'function' || (typeof policy === 'string' ? policy : policy.kind) !== 'characteristics') return undefined
    const sequential = (s.candidates ?? DEFAULT_CANDIDATES).find((c) => c.kind === 'sequential')
    const reason = nothingToParallelize(typeof policy === 'object' && policy.kind === 'characteristics' ? policy : {}, transactions, threads, oneSender)
    return sequential === undefined || reason === undefined ? undefined : { strategy: sequential, policy: 'characteristics', reason }
  }

  /** Records a block's measured throughput. */
  record(kind: Kind, transactions: number, mgasPerSecond: number, window: number): void {
    if (!Number.isFinite(mgasPerSecond) || mgasPerSecond <= 0) return
    const size = sizeClass(transactions)
    const key = `${kind}|${size}`
    const xs = this.samples.get(key) ?? []
    xs.push(mgasPerSecond)
    while (xs.length > window) xs.shift()
    this.samples.set(key, xs)
    this.lastMeasured.set(key, this.decisions.get(size) ?? 0)
  }

  /** Measured throughput per kind for blocks of one size class. */
  history(size: number): PerformanceHistory {
    const out: Partial<Record<Kind, readonly number[]>> = {}
    for (const [key, xs] of this.samples) {
      const [kind, s] = key.split('|')
      if (Number(s) === size) out[kind as Kind] = [...xs]
    }
    return out
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
      if (k === 'kind') continue
      if (k === 'measure') {
        if (typeof v !== 'boolean') throw new InvalidInputError(`adaptive: ${kind}.measure must be a boolean`)
      } else if (typeof v !== 'number' || !(v >= 0)) {
        throw new InvalidInputError(`adaptive: ${kind}.${k} must be a non-negative number`)
      }
    }
    if (p.kind === 'load' && (p.low ?? 16) > (p.high ?? 256)) throw new InvalidInputError('adaptive: load.low must not exceed load.high')
    if (p.kind === 'performance' && p.window !== undefined && (!Number.isInteger(p.window) || p.window < 1)) {
      throw new InvalidInputError('adaptive: performance.window must be a positive integer')
    }
  }
}
