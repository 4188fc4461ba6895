/**
 * Random mixed blocks for the differential fuzz tests: every kind of transaction the fixed
 * workloads cover, drawn at random into one block over one shared world, so that features
 * meet in orders nobody wrote down (a coinbase that sends while others read its balance, a
 * CREATE2 collision next to a SELFDESTRUCT to the same beneficiary, a delegation whose
 * authority also sends, swaps against transfers of the same token). The fee recipient and
 * the withdrawals are drawn too.
 *
 * The world is set up once (contracts deployed by real transactions, as the workloads do);
 * each block is a pure function of its seed, so a failing seed is a reproducible case.
 */
import { createBlock, type Block } from '@ethereumjs/block'
import { Hardfork } from '@ethereumjs/common'
import { createTx, type TypedTransaction } from '@ethereumjs/tx'
import { Address, bigIntToBytes, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import { createVM, runTx } from '@ethereumjs/vm'
import { keccak_256 } from '@noble/hashes/sha3.js'

import { InvalidBlockError, ParallelExecutor, type Prestate, type Strategy } from '../../ts/index.ts'
import { addressOf, differences, makeCommon, merkleFromPrestate, privateKey, referenceRun, rootAfterDiff } from './evm.ts'
import { seededRandom } from './random.ts'
import { BLOCKHASH_PROBE, MADE_UP_CHAIN, World, artifact, calldata, childAddress, deployUniswap, type TxOptions } from './workloads.ts'

/** Senders of the random transactions (keys 0..SENDERS-1): few, so that they collide. */
const SENDERS = 8
/** Accounts that sign EIP-7702 authorizations, and also send transactions of their own. */
const AUTHORITIES = [50, 51, 52]
const COINBASE_KEY = 777
const DEPLOYER = 2_000_000
const POOLS = 3
/** Existing children of the factory (CREATE2 salts), with storage, to call and destroy. */
const CHILD_SALTS = [5000n, 5001n, 5002n]
const ETHER = 10n ** 18n
/** The number of every mixed block. */
const MIXED_NUMBER = 23_000_000n
/** Every key that sends; each holds tokens. */
const HOLDERS = [...Array.from({ length: SENDERS }, (_, i) => i), COINBASE_KEY, ...AUTHORITIES]
/**
 * The senders in three groups of four (the coinbase account and the authorities the last).
 * In each group every holder lets the next one spend some of its tokens (a ring of
 * approvals), and each group has its own counter, probe, factory, pool and child. A grouped
 * block keeps each transaction inside its sender's group, which gives the sharded strategy
 * (and the dependency analysis) independent parts to run in parallel; what the groups still
 * share (the token contract, the coinbase, adjacent pools' tokens) is left to validation.
 */
const GROUPS = [HOLDERS.slice(0, 4), HOLDERS.slice(4, 8), HOLDERS.slice(8, 12)]
const groupOf = (key: number) => GROUPS.findIndex((g) => g.includes(key))

export interface MixedWorld {
  hardfork: Hardfork
  common: ReturnType<typeof makeCommon>
  prestate: Prestate
  coinbase: Address
  token: Address
  /** One counter, probe, BLOCKHASH probe and factory per group. */
  counters: Address[]
  probes: Address[]
  hashProbes: Address[]
  factories: Address[]
  /** The Uniswap V2 router, pools and their tokens; none before Istanbul. */
  router: Address | undefined
  poolTokens: Address[]
  pairs: Address[]
  children: Address[]
}

/** Fresh addresses that random transfers reuse: accounts created, and touched empty, in a block. */
const fresh = (i: number) => new Address(keccak_256(Uint8Array.from([0xf2, i])).slice(12))

/**
 * The forks the fuzz draws worlds from (`seed % 10`), each with the rules it brings:
 * - Constantinople: legacy transactions only, no access lists or warm/cold accounts, SLOAD at
 *   200 gas, calldata at 68 gas a non-zero byte, SELFDESTRUCT and storage-clearing refunds of
 *   up to half the gas used; proof of work, so the block reward goes to the fee recipient
 *   after the transactions. SSTORE is metered by EIP-1283 (net gas metering, with refunds for
 *   slots set back to their original value), a rule mainnet never ran but test chains can.
 *   No CHAINID, so no Uniswap V2 (its pairs need it): the world has no pools and blocks no
 *   swaps. Our contracts need SHL, SHR and EXTCODEHASH, so nothing older.
 * - Petersburg: Constantinople without EIP-1283 (SSTORE at 20,000 / 5,000 gas, a 15,000
 *   refund for clearing).
 * - Istanbul: CHAINID and the Uniswap pools; SLOAD at 800 gas, calldata at 16, EIP-2200
 *   SSTORE metering.
 * - Berlin: EIP-2930 transactions and EIP-2929 gas; London: EIP-1559 transactions and the
 *   base fee, smaller refunds (EIP-3529); Paris: proof of stake, no block reward, a cold
 *   coinbase; Shanghai: the coinbase warm (EIP-3651), withdrawals.
 * - Cancun: blob transactions, and a destroyed child keeps its account and storage (EIP-6780;
 *   before it the child is deleted with its storage, and CREATE2 with its salt creates it
 *   again); Prague: delegations (EIP-7702); Osaka.
 */
export const MIXED_FORKS = [
  Hardfork.Constantinople,
  Hardfork.Petersburg,
  Hardfork.Istanbul,
  Hardfork.Berlin,
  Hardfork.London,
  Hardfork.Paris,
  Hardfork.Shanghai,
  Hardfork.Cancun,
  Hardfork.Prague,
  Hardfork.Osaka,
] as const

/**
 * Whether a seed's block is grouped (see `GROUPS`). Shapes alternate with the seed and swap
 * on each round of the forks, so seeds 0-9 give every fork one block and each shape five,
 * and seeds 0-19 give every fork both shapes.
 */
export function groupedSeed(seed: number): boolean {
  return (seed + Math.floor(seed / MIXED_FORKS.length)) % 2 === 1
}

/** Deploys the contracts and hands out balances, tokens and approvals (several setup blocks). */
export async function mixedWorld(hardfork: Hardfork = Hardfork.Prague): Promise<MixedWorld> {
  const w = new World(makeCommon(hardfork))
  w.fund(DEPLOYER, 10n ** 24n)
  const coinbase = w.fund(COINBASE_KEY, 5n * ETHER)
  for (let i = 0; i < SENDERS; i++) w.fund(i)
  for (const k of AUTHORITIES) w.fund(k)
  const counters = GROUPS.map((_, g) => w.place(fresh(200 + g), artifact('Counter').deployedBytecode))
  const probes = GROUPS.map((_, g) => w.place(fresh(210 + g), artifact('Probe').deployedBytecode))
  const hashProbes = GROUPS.map((_, g) => w.place(fresh(230 + g), BLOCKHASH_PROBE))
  const factories = GROUPS.map((_, g) => w.place(fresh(220 + g), artifact('Factory').deployedBytecode))

  const token = w.deploy(DEPLOYER, 'Token', 10n ** 30n)
  await w.setup([token.tx, ...CHILD_SALTS.map((salt) => w.tx(DEPLOYER, { to: factories[0], data: calldata('create2(bytes32)', salt), value: 1000n, gasLimit: 300_000n }))])
  // Uniswap V2 pairs read CHAINID (Istanbul's EIP-1344): older worlds have no pools.
  const { router, tokens: poolTokens, pairs } = w.common.gteHardfork(Hardfork.Istanbul) ? await deployUniswap(w, DEPLOYER, POOLS) : { router: undefined, tokens: [], pairs: [] }

  const funding: TypedTransaction[] = []
  for (const i of HOLDERS) {
    const who = addressOf(privateKey(i))
    funding.push(w.tx(DEPLOYER, { to: token.address, data: calldata('transfer(address,uint256)', who, 10n ** 21n) }))
    if (router !== undefined) {
      for (const t of poolTokens) {
        funding.push(w.tx(DEPLOYER, { to: t, data: calldata('transfer(address,uint256)', who, 10n ** 21n) }))
        funding.push(w.tx(i, { to: t, data: calldata('approve(address,uint256)', router, 2n ** 255n) }))
      }
    }
    // Each holder lets the next one of its group spend some of its tokens (transferFrom).
    const group = GROUPS[groupOf(i)]
    const next = addressOf(privateKey(group[(group.indexOf(i) + 1) % group.length]))
    funding.push(w.tx(i, { to: token.address, data: calldata('approve(address,uint256)', next, 10n ** 19n) }))
  }
  await w.setup(funding)

  return {
    hardfork,
    common: w.common,
    prestate: w.prestate,
    coinbase,
    token: token.address,
    counters,
    probes,
    hashProbes,
    factories,
    router,
    poolTokens,
    pairs,
    children: CHILD_SALTS.map((salt) => childAddress(factories[0], salt)),
  }
}

export interface MixedBlock {
  seed: number
  /** Whether each transaction stays inside its sender's group (see `GROUPS`). */
  grouped: boolean
  block: Block
  /** The kind of each transaction, in block order. */
  kinds: string[]
  /** Every kind the generator draws from on this fork. */
  allKinds: string[]
}

/**
 * A random block of `n` transactions over `world` (its prestate is not changed). Half the
 * seeds make a grouped block (see `GROUPS` and `groupedSeed`), the others let any sender
 * reach anything. Transaction types are those of the world's fork.
 */
export function mixedBlock(world: MixedWorld, seed: number, n: number): MixedBlock {
  const rnd = seededRandom(seed)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1))
  const w = new World(world.common)
  Object.assign(w.prestate, world.prestate)
  const grouped = groupedSeed(seed)

  const key = (k: number) => addressOf(privateKey(k))
  /** Whom `from` deals with: its group in a grouped block, anyone otherwise. */
  const mates = (from: number) => (grouped ? GROUPS[groupOf(from)] : HOLDERS)
  const someone = (from: number) => key(pick(mates(from)))
  /** Accounts that do not exist before the block (per group in a grouped block). */
  const freshFor = (from: number) => (grouped ? fresh(10 + 10 * groupOf(from) + int(0, 2)) : fresh(int(0, 5)))
  /** The group's own contract, or any. */
  const own = <T>(xs: readonly T[], from: number): T => (grouped ? xs[groupOf(from)] : pick(xs))
  /** The holder that approved `from` (the one before it in its group's ring). */
  const approver = (from: number) => {
    const g = GROUPS[groupOf(from)]
    return key(g[(g.indexOf(from) + g.length - 1) % g.length])
  }
  // The fee recipient: the coinbase account that also sends (always, in a grouped block),
  // one of the senders, or an account that does not exist before the block.
  const r0 = rnd()
  const coinbase = grouped || r0 < 0.5 ? world.coinbase : r0 < 0.75 ? key(pick(HOLDERS)) : fresh(6)
  const coinbaseGroup = grouped ? groupOf(COINBASE_KEY) : -1
  /** Who receives value sent on: the coinbase (its own group only, when grouped), a mate, a fresh account. */
  const beneficiary = (from: number) => pick([...(!grouped || groupOf(from) === coinbaseGroup ? [coinbase] : []), someone(from), freshFor(from)])
  /** Delegations and calls to delegated accounts stay in the authorities' group. */
  const authoritiesReach = (from: number) => !grouped || groupOf(from) === groupOf(AUTHORITIES[0])
  // The types the fork has: 2930 from Berlin, 1559 from London (the newest is the default).
  const has2930 = world.common.isActivatedEIP(2930)
  const newest: 0 | 1 | 2 = world.common.isActivatedEIP(1559) ? 2 : has2930 ? 1 : 0
  const type = (): TxOptions['type'] => {
    const t = pick([0, 1, 2, 2, 2] as const)
    return t === 1 && !has2930 ? 0 : t === 2 ? newest : t
  }
  const kinds: string[] = []
  let blobs = 0

  const router = world.router
  const KINDS: [string, number, (from: number) => TxOptions, ((from: number) => boolean)?][] = [
    ['eth to a sender', 6, (f) => ({ to: someone(f), value: BigInt(int(1, 10 ** 6)), gasLimit: 30_000n })],
    ['eth to a fresh account', 4, (f) => ({ to: freshFor(f), value: BigInt(int(0, 3)), gasLimit: 30_000n })],
    ['eth to the coinbase', 3, () => ({ to: coinbase, value: BigInt(int(1, 1000)), gasLimit: 30_000n }), (f) => !grouped || groupOf(f) === coinbaseGroup],
    ['token transfer', 6, (f) => ({ to: world.token, data: calldata('transfer(address,uint256)', pick([someone(f), freshFor(f)]), BigInt(int(1, 1000))), gasLimit: 100_000n })],
    // More than any holder has: reverts.
    ['token transfer over the balance', 1, (f) => ({ to: world.token, data: calldata('transfer(address,uint256)', someone(f), 10n ** 27n), gasLimit: 100_000n })],
    ['token approve', 2, (f) => ({ to: world.token, data: calldata('approve(address,uint256)', someone(f), BigInt(int(0, 5000))), gasLimit: 100_000n })],
    // Mostly from the holder that approved the sender; from anyone else it reverts unless an
    // approval in the block allowed it.
    [
      'token transferFrom',
      3,
      (f) => ({ to: world.token, data: calldata('transferFrom(address,address,uint256)', rnd() < 0.75 ? approver(f) : someone(f), someone(f), BigInt(int(1, 3000))), gasLimit: 100_000n }),
    ],
    ['counter increment', 5, (f) => ({ to: own(world.counters, f), data: calldata('increment()'), gasLimit: 60_000n })],
    ...(router === undefined
      ? []
      : [
          [
            'swap',
            5,
            (f: number) => {
              const p = grouped ? groupOf(f) : int(0, POOLS - 1)
              return { to: router, data: calldata('swap(address,address,uint256,address)', world.pairs[p], world.poolTokens[p + int(0, 1)], 10n ** 15n + BigInt(int(0, 10 ** 6)), someone(f)), gasLimit: 300_000n }
            },
          ] as [string, number, (from: number) => TxOptions],
        ]),
    ['probe fail', 1, (f) => ({ to: own(world.probes, f), data: calldata('fail()'), gasLimit: 60_000n })],
    ['probe out of gas', 1, (f) => ({ to: own(world.probes, f), data: calldata('spin(uint256)', 100_000n), gasLimit: 80_000n })],
    ['probe spin', 1, (f) => ({ to: own(world.probes, f), data: calldata('spin(uint256)', BigInt(int(1, 20))), gasLimit: 150_000n })],
    // BLOCKHASH of a recent block, the current one (zero), or one too old (zero); the caller's
    // blockchain answers (the main thread, for a worker).
    [
      'blockhash read',
      2,
      (f) => ({ to: own(world.hashProbes, f), data: setLengthLeft(bigIntToBytes(MIXED_NUMBER - BigInt(pick([0, 1, 2, 3, 42, 100, 256, 257, int(1, 300)]))), 32), gasLimit: 100_000n }),
    ],
    ['coinbase balance read', 3, (f) => ({ to: own(world.probes, f), data: calldata('recordCoinbaseBalance()'), gasLimit: 80_000n })],
    ['forward value', 3, (f) => ({ to: own(world.probes, f), data: calldata('forward(address)', beneficiary(f)), value: BigInt(int(0, 5000)), gasLimit: 100_000n })],
    ['CREATE through the factory', 2, (f) => ({ to: own(world.factories, f), data: calldata('create()'), value: BigInt(int(0, 50)), gasLimit: 300_000n })],
    // Few salts: the second CREATE2 with one collides and fails, as one with an existing
    // child's salt does at the first factory; before Cancun, unless the child was destroyed
    // earlier in the block.
    [
      'CREATE2 through the factory',
      2,
      (f) => ({ to: own(world.factories, f), data: calldata('create2(bytes32)', rnd() < 0.7 ? BigInt(int(1, 3)) : pick(CHILD_SALTS)), gasLimit: 300_000n }),
    ],
    [
      'create and destroy',
      2,
      (f) => ({ to: own(world.factories, f), data: calldata('createAndKill(bytes32,address)', BigInt(int(10, 12)), beneficiary(f)), value: BigInt(int(0, 9)), gasLimit: 400_000n }),
    ],
    ['child set', 2, (f) => ({ to: own(world.children, f), data: calldata('set(uint256)', BigInt(int(0, 3))), gasLimit: 100_000n })],
    ['child selfdestruct', 1, (f) => ({ to: own(world.children, f), data: calldata('kill(address)', beneficiary(f)), gasLimit: 100_000n })],
    ['CREATE transaction', 1, () => ({ data: hexToBytes(artifact('Child').bytecode as `0x${string}`), value: BigInt(int(0, 9)), gasLimit: 300_000n })],
    ['call a delegated authority', 2, () => ({ to: key(pick(AUTHORITIES)), data: calldata('increment()'), gasLimit: 100_000n }), authoritiesReach],
  ]

  const txs: TypedTransaction[] = []
  for (let i = 0; i < n; i++) {
    const from = pick(HOLDERS)
    const r = rnd()
    if (r < 0.04 && world.common.isActivatedEIP(7702) && authoritiesReach(from)) {
      // A delegation (Prague): an authority delegates to a counter or a probe, or clears its
      // delegation; a stale nonce makes ethereumjs skip the authorization.
      const authority = pick(AUTHORITIES)
      const stale = rnd() < 0.25
      const nonce = w.nonceOf(authority) + (stale ? 5n : authority === from ? 1n : 0n)
      const target = pick([own(world.counters, from), own(world.probes, from), new Address(new Uint8Array(20))])
      txs.push(w.tx(from, { type: 4, to: key(authority), data: calldata('increment()'), delegations: [{ key: authority, address: target, nonce }], gasLimit: 200_000n }))
      if (!stale) w.bumpNonce(authority)
      kinds.push('delegation')
      continue
    }
    if (r < 0.07 && blobs < 6 && world.common.isActivatedEIP(4844)) {
      blobs++
      txs.push(w.tx(from, { type: 3, to: someone(from), value: 1n, gasLimit: 21_000n }))
      kinds.push('blob')
      continue
    }
    const open = KINDS.filter((k) => k[3]?.(from) ?? true)
    let x = rnd() * open.reduce((sum, k) => sum + k[1], 0)
    let k = 0
    while (x >= open[k][1]) x -= open[k++][1]
    const [name, , make] = open[k]
    const o = make(from)
    // CREATE transactions have no access list target. In a grouped block a call to a contract
    // all groups share declares no access list either (legacy, or 1559 from London): its
    // declared slot would be a key that joins the groups.
    const shared = o.to !== undefined && (o.to.equals(world.token) || (router !== undefined && o.to.equals(router)))
    const unlisted = newest === 2 ? 2 : 0
    txs.push(w.tx(from, { ...o, type: o.to === undefined ? newest : grouped && shared ? pick([0, unlisted] as const) : type() }))
    kinds.push(name)
  }
  // Withdrawals after the transactions (EIP-4895), some of zero amount.
  const withdrawals = Array.from({ length: int(0, 3) }, (_, i) => ({
    index: BigInt(i),
    validatorIndex: BigInt(int(0, 9)),
    address: beneficiary(pick(HOLDERS)),
    amount: BigInt(int(0, 2) * int(1, 1000)),
  }))
  const block = w.block(txs, { number: MIXED_NUMBER, timestamp: 1_760_000_000n, coinbase }, { withdrawals })
  const forkKinds = [...(world.common.isActivatedEIP(7702) ? ['delegation'] : []), ...(world.common.isActivatedEIP(4844) ? ['blob'] : [])]
  return { seed, grouped, block, kinds, allKinds: [...KINDS.map((k) => k[0]), ...forkKinds] }
}

/**
 * One run to compare: a label, an executor, the strategy for the block, and where the state
 * comes from: the prestate object (default), or a caller's MerkleStateManager loaded with it,
 * which the block is committed into and whose root is compared too.
 */
export type MixedCase = [string, ParallelExecutor, Strategy | undefined, ('stateManager' | 'prestate')?]

/**
 * Executors at 1, 2 and 4 threads and the cases to run on them: sequential; every parallel
 * strategy at 2 and 4 threads; sender order, the retry limit and explicit shards; three over
 * a caller's state manager (sequential, optimistic x4, dependency x2). The
 * executors keep what they learn from block to block (dependency hints, hot locations,
 * adaptive's measurements), as a node's would.
 */
export async function mixedCases(): Promise<{ cases: MixedCase[]; close(): Promise<void> }> {
  const make = (threads: number) => ParallelExecutor.create({ threads, strategy: { kind: 'optimistic' } })
  const [x1, x2, x4] = await Promise.all([make(1), make(2), make(4)])
  const cases: MixedCase[] = [
    ['sequential', x1, { kind: 'sequential' }],
    ['optimistic x1', x1, undefined],
  ]
  for (const [t, x] of [[2, x2], [4, x4]] as const) {
    cases.push([`optimistic x${t}`, x, undefined])
    cases.push([`optimistic x${t} with sender order`, x, { kind: 'optimistic', senderOrder: true }])
    cases.push([`dependency x${t}`, x, { kind: 'dependency' }])
    cases.push([`sharded x${t}`, x, { kind: 'sharded' }])
    cases.push([`adaptive x${t}`, x, { kind: 'adaptive' }])
  }
  cases.push(['optimistic x4, maxReexecutions 0', x4, { kind: 'optimistic', maxReexecutions: 0 }])
  cases.push(['sharded x4, 3 shards', x4, { kind: 'sharded', shards: 3 }])
  cases.push(['sequential over a state manager', x1, { kind: 'sequential' }, 'stateManager'])
  cases.push(['optimistic x4 over a state manager', x4, undefined, 'stateManager'])
  cases.push(['dependency x2 over a state manager', x2, { kind: 'dependency' }, 'stateManager'])
  return { cases, close: async () => void (await Promise.all([x1.close(), x2.close(), x4.close()])) }
}

/**
 * Runs `mixed` under every case and compares each with ethereumjs `runBlock` (receipts,
 * results, gas, bloom, receipts root, senders and the post-state root), both given the same
 * made-up blockchain for BLOCKHASH. Returns the
 * differences, each prefixed with its case (empty when all agree), and the strategy each
 * case ran (`metrics.strategy`: a sharded block that falls into one shard runs sequentially). `reference` is the block
 * ethereumjs runs (the same block unless a test checks that a wrong result is caught).
 */
export async function checkMixed(
  world: MixedWorld,
  mixed: MixedBlock,
  cases: MixedCase[],
  reference: Block = mixed.block,
): Promise<{ differences: string[]; ran: Map<string, string> }> {
  let ref
  try {
    ref = await referenceRun(world.common, world.prestate, reference, MADE_UP_CHAIN)
  } catch (e) {
    // The generator's bug (every block it draws must be valid), still named by its seed.
    return { differences: [`seed ${mixed.seed} (${world.hardfork}): ethereumjs rejected the generated block: ${(e as Error).message}`], ran: new Map() }
  }
  const root = Buffer.from(ref.stateRoot).toString('hex')
  const senders = reference.transactions.map((tx) => tx.getSenderAddress().toString())
  const out: string[] = []
  const ran = new Map<string, string>()
  for (const [label, executor, strategy, source] of cases) {
    const where = `seed ${mixed.seed} (${world.hardfork}), ${label}`
    const sm = source === 'stateManager' ? await merkleFromPrestate(world.common, world.prestate) : undefined
    let ours
    try {
      const state = sm !== undefined ? { stateManager: sm } : { prestate: world.prestate }
      ours = await executor.runBlock({ block: mixed.block, ...state, blockchain: MADE_UP_CHAIN, skipBlockValidation: true, generate: true, strategy })
    } catch (e) {
      out.push(`${where}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`)
      continue
    }
    ran.set(label, ours.metrics.strategy)
    for (const d of differences(ref.result, ours)) out.push(`${where}: ${d}`)
    if (ours.senders.map(String).join() !== senders.join()) out.push(`${where}: senders differ`)
    const ourRoot = Buffer.from(await rootAfterDiff(world.common, world.prestate, ours.stateDiff)).toString('hex')
    if (ourRoot !== root) out.push(`${where}: state root ${ourRoot} != ${root}`)
    if (sm !== undefined) {
      const committed = Buffer.from(await sm.getStateRoot()).toString('hex')
      if (committed !== root) out.push(`${where}: the caller's state manager has root ${committed} != ${root}`)
      if (ours.stateRoot === undefined || Buffer.from(ours.stateRoot).toString('hex') !== root) out.push(`${where}: result stateRoot differs`)
    }
  }
  return { differences: out, ran }
}

/**
 * How `mixedVariant` changes a valid mixed block, most of them into an invalid one whose first
 * bad transaction depends on what the transactions before it did:
 * - a nonce gap (a transaction taken out: its sender's next one is too early);
 * - a replayed transaction (a copy further on: its nonce is used);
 * - a transfer one wei more than its sender can pay at that point of the block, or exactly
 *   what it can pay (valid, unless the sender has later transactions, which it then cannot
 *   pay for); the balance counts every earlier transaction's value, fees and, for the
 *   coinbase account, fees earned;
 * - a block gas limit one below what a transaction needs after the gas the ones before it
 *   used;
 * - a damaged signature (an invalid one, or one that recovers another sender: no funds, a
 *   wrong nonce).
 */
export const VARIANTS = ['nonce gap', 'replayed transaction', 'overspend by one wei', 'spend the whole balance', 'block gas limit', 'damaged signature'] as const
export type Variant = (typeof VARIANTS)[number]

/** The mixed block changed as `variant` says (drawn from the seed when not given), at a position drawn from the seed. */
export async function mixedVariant(world: MixedWorld, mixed: MixedBlock, variant?: Variant): Promise<{ how: string; block: Block }> {
  const rnd = seededRandom(mixed.seed ^ 0x5bd1e995)
  const how = variant ?? VARIANTS[Math.floor(rnd() * VARIANTS.length)]
  const txs = [...mixed.block.transactions]
  const n = txs.length
  const at = (lo: number) => lo + Math.floor(rnd() * (n - lo))
  const senders = txs.map((tx) => tx.getSenderAddress())
  const keyOf = new Map(HOLDERS.map((k) => [addressOf(privateKey(k)).toString(), k]))
  const rebuild = (list: TypedTransaction[], gasLimit?: bigint) => withTransactions(world, mixed.block, list, gasLimit)
  switch (how) {
    case 'nonce gap': {
      const withLater = txs.map((_, i) => i).filter((i) => senders.some((s, k) => k > i && s.equals(senders[i])))
      const j = withLater.length === 0 ? at(0) : withLater[Math.floor(rnd() * withLater.length)]
      return { how: `${how}: transaction ${j} taken out`, block: rebuild(txs.filter((_, i) => i !== j)) }
    }
    case 'replayed transaction': {
      const j = at(0)
      const p = j + 1 + Math.floor(rnd() * (n - j))
      return { how: `${how}: transaction ${j} again at ${p}`, block: rebuild([...txs.slice(0, p), txs[j], ...txs.slice(p)]) }
    }
    case 'overspend by one wei':
    case 'spend the whole balance': {
      // A plain-fee transaction (legacy, 2930, 1559) whose value is set to what its sender
      // holds before it, less its maximum fee (plus one wei to overspend).
      const plain = txs.map((_, i) => i).filter((i) => txs[i].type <= 2)
      const j = plain[Math.floor(rnd() * plain.length)]
      const balance = await balanceBefore(world, mixed.block, j, senders[j])
      const tx = txs[j]
      const fee = tx.gasLimit * ('maxFeePerGas' in tx ? tx.maxFeePerGas : (tx as { gasPrice: bigint }).gasPrice)
      const value = balance - fee + (how === 'overspend by one wei' ? 1n : 0n)
      const list = [...txs]
      list[j] = createTx({ ...tx.toJSON(), value }, { common: world.common }).sign(privateKey(keyOf.get(senders[j].toString())!))
      return { how: `${how}: transaction ${j} sends ${value} wei (its sender holds ${balance})`, block: rebuild(list) }
    }
    case 'block gas limit': {
      // The gas the transactions before j used, from ethereumjs.
      const j = at(1)
      const ref = await referenceRun(world.common, world.prestate, rebuild(txs.slice(0, j)), MADE_UP_CHAIN)
      return { how: `${how}: ${ref.result.gasUsed} gas used before transaction ${j}, which may use ${txs[j].gasLimit}`, block: rebuild(txs, ref.result.gasUsed + txs[j].gasLimit - 1n) }
    }
    case 'damaged signature': {
      const j = at(0)
      const json = txs[j].toJSON()
      const list = [...txs]
      list[j] = createTx({ ...json, s: BigInt(json.s!) ^ BigInt(1 + Math.floor(rnd() * 255)) }, { common: world.common })
      return { how: `${how}: transaction ${j}`, block: rebuild(list) }
    }
  }
}

/** `block` with other transactions (and, if given, another gas limit): header and withdrawals kept. */
function withTransactions(world: MixedWorld, block: Block, transactions: TypedTransaction[], gasLimit = block.header.gasLimit): Block {
  return createBlock({ header: { ...block.header.toJSON(), gasLimit }, transactions, withdrawals: block.withdrawals?.map((w) => w.toValue()) }, { common: world.common })
}

/** What `sender` holds before transaction `j` of `block` (ethereumjs, transaction by transaction). */
async function balanceBefore(world: MixedWorld, block: Block, j: number, sender: Address): Promise<bigint> {
  const sm = await merkleFromPrestate(world.common, world.prestate)
  const vm = await createVM({ common: world.common.copy(), stateManager: sm, blockchain: MADE_UP_CHAIN as never })
  for (let i = 0; i < j; i++) await runTx(vm, { tx: block.transactions[i], block, skipBlockGasLimitValidation: true })
  return (await sm.getAccount(sender))?.balance ?? 0n
}

/** An ethereumjs error message without the context it appends (fork, block and transaction hashes). */
const core = (message: string) => message.replace(/^transaction \d+: /, '').split(' (vm hf=')[0]

/**
 * Runs a block changed by `mixedVariant` under every case. A valid one must equal ethereumjs
 * as in `checkMixed`; an invalid one must make every case throw an `InvalidBlockError` at the
 * transaction ethereumjs rejects first (found by running growing prefixes of the block), with
 * ethereumjs's message, and leave a caller's state manager as it was. Returns the differences,
 * and the index of the first bad transaction (undefined for a valid block).
 */
export async function checkVariant(world: MixedWorld, mixed: MixedBlock, variant: { how: string; block: Block }, cases: MixedCase[]): Promise<{ differences: string[]; invalidAt?: number }> {
  const block = variant.block
  const rejection = async (k: number) => {
    try {
      await referenceRun(world.common, world.prestate, withTransactions(world, block, block.transactions.slice(0, k)), MADE_UP_CHAIN)
      return undefined
    } catch (e) {
      return (e as Error).message
    }
  }
  const n = block.transactions.length
  const whole = await rejection(n)
  if (whole === undefined) return { differences: (await checkMixed(world, { ...mixed, block }, cases)).differences }
  // The smallest prefix ethereumjs rejects ends with the first bad transaction.
  let [lo, hi] = [0, n]
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1
    if ((await rejection(mid)) === undefined) lo = mid
    else hi = mid
  }
  const index = hi - 1
  const expected = core((await rejection(hi))!)
  const out: string[] = []
  const rootBefore = Buffer.from(await (await merkleFromPrestate(world.common, world.prestate)).getStateRoot()).toString('hex')
  for (const [label, executor, strategy, source] of cases) {
    const where = `seed ${mixed.seed} (${world.hardfork}, ${variant.how}), ${label}`
    const sm = source === 'stateManager' ? await merkleFromPrestate(world.common, world.prestate) : undefined
    try {
      const state = sm !== undefined ? { stateManager: sm } : { prestate: world.prestate }
      await executor.runBlock({ block, ...state, blockchain: MADE_UP_CHAIN, skipBlockValidation: true, generate: true, strategy })
      out.push(`${where}: ran, but ethereumjs rejects transaction ${index}: ${expected}`)
      continue
    } catch (e) {
      if (!(e instanceof InvalidBlockError)) out.push(`${where}: threw ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}, not an InvalidBlockError`)
      else {
        if (e.txIndex !== index) out.push(`${where}: rejected transaction ${e.txIndex}, ethereumjs ${index}`)
        if (core(e.message) !== expected) out.push(`${where}: message ${JSON.stringify(core(e.message))}, ethereumjs ${JSON.stringify(expected)}`)
      }
    }
    if (sm !== undefined) {
      const after = Buffer.from(await sm.getStateRoot()).toString('hex')
      if (after !== rootBefore) out.push(`${where}: the caller's state manager changed (root ${after}, was ${rootBefore})`)
    }
  }
  return { differences: out, invalidAt: index }
}
