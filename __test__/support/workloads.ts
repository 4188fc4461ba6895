/**
 * Generated blocks for the differential tests and the benchmarks: ETH transfers, nonce
 * chains, ERC-20 transfers on an OpenZeppelin token, Uniswap V2 swaps, a hot counter,
 * CREATE/CREATE2, SELFDESTRUCT, reverts and out-of-gas, coinbase reads and coinbase
 * senders/recipients, and every transaction type.
 *
 * A scenario's state is set up by real transactions (deployments, mints, approvals, pool
 * liquidity) executed once by the sequential executor; the resulting state becomes the
 * prestate of the block under test.
 */
import { readFileSync } from 'node:fs'

import type { Block } from '@ethereumjs/block'
import { Hardfork, type Common } from '@ethereumjs/common'
import {
  createAccessList2930Tx,
  createBlob4844Tx,
  createEOACode7702Tx,
  createFeeMarket1559Tx,
  createLegacyTx,
  type TypedTransaction,
} from '@ethereumjs/tx'
import { Address, bigIntToBytes, bytesToHex, concatBytes, createContractAddress, createContractAddress2, eoaCode7702SignAuthorization, hexToBytes, setLengthLeft } from '@ethereumjs/util'
import { p256 } from '@noble/curves/nist.js'
import { keccak_256 } from '@noble/hashes/sha3.js'

import { ParallelExecutor, type Prestate, type StateDiff } from '../../ts/index.ts'
import { COINBASE, addressOf, makeBlock, makeCommon, privateKey } from './evm.ts'

type Artifact = { abi: unknown; bytecode: string; deployedBytecode: string }
const ARTIFACTS = JSON.parse(readFileSync(new URL('../fixtures/contracts.json', import.meta.url), 'utf8')) as Record<string, Artifact>

export function artifact(name: string): Artifact {
  const a = ARTIFACTS[name]
  if (a === undefined) throw new Error(`no artifact ${name}; run npm run build:contracts`)
  return a
}

/** Function selector of a signature like `transfer(address,uint256)`. */
export function selector(signature: string): Uint8Array {
  return keccak_256(new TextEncoder().encode(signature)).slice(0, 4)
}

type AbiValue = Address | bigint | number | boolean | Uint8Array
/** ABI encoding of static arguments (address, uint, bool, bytes32). */
export function encodeArgs(...args: AbiValue[]): Uint8Array {
  return concatBytes(
    ...args.map((a) => {
      if (a instanceof Address) return setLengthLeft(a.bytes, 32)
      if (a instanceof Uint8Array) return setLengthLeft(a, 32)
      if (typeof a === 'boolean') return setLengthLeft(Uint8Array.from([a ? 1 : 0]), 32)
      return setLengthLeft(hexToBytes(`0x${BigInt(a).toString(16).padStart(64, '0')}`), 32)
    }),
  )
}

export function calldata(signature: string, ...args: AbiValue[]): Uint8Array {
  return concatBytes(selector(signature), encodeArgs(...args))
}

const ETHER = 10n ** 18n

/** Runtime code that stores BLOCKHASH(n) at slot n, n being the call data's first word. */
export const BLOCKHASH_PROBE = '0x60003580409055' + '00' // PUSH1 0 CALLDATALOAD DUP1 BLOCKHASH SWAP1 SSTORE STOP

/** The hash the tests' made-up chain gives block `n`: keccak256(n + 7). */
export function madeUpBlockHash(n: bigint | number): Uint8Array {
  return keccak_256(bigIntToBytes(BigInt(n) + 7n))
}

/** A blockchain for BLOCKHASH (ours and ethereumjs's) whose block hashes are `madeUpBlockHash`. */
export const MADE_UP_CHAIN = {
  getBlock: async (n: bigint | number) => ({ hash: () => madeUpBlockHash(n) }),
  shallowCopy: () => MADE_UP_CHAIN,
}

export interface TxOptions {
  to?: Address
  value?: bigint
  data?: Uint8Array
  gasLimit?: bigint
  type?: 0 | 1 | 2 | 3 | 4
  /** Authorizations for type 4: sign "delegate my account to `address`" with these keys. */
  delegations?: { key: number; address: Address; nonce: bigint }[]
}

/** A chain state under construction plus the keys that sign for it. */
export class World {
  readonly prestate: Prestate = {}
  private readonly nonces = new Map<string, bigint>()

  constructor(readonly common: Common) {}

  fund(key: number, balance = 1000n * ETHER): Address {
    const a = addressOf(privateKey(key))
    this.prestate[a.toString()] = { balance: '0x' + balance.toString(16), nonce: 0 }
    return a
  }

  /** Places runtime code (and storage) directly in the prestate. */
  place(address: Address, code: string, storage: Record<string, string> = {}): Address {
    this.prestate[address.toString()] = { balance: '0x0', nonce: 1, code, storage }
    return address
  }

  nonceOf(key: number): bigint {
    const a = addressOf(privateKey(key)).toString()
    return this.nonces.get(a) ?? BigInt(this.prestate[a]?.nonce ?? 0)
  }

  /** Counts a nonce increment that is not a transaction of `key`'s own (an EIP-7702 authorization). */
  bumpNonce(key: number): void {
    this.nonces.set(addressOf(privateKey(key)).toString(), this.nonceOf(key) + 1n)
  }

  /** Signs a transaction from `key`, taking its next nonce. */
  tx(key: number, o: TxOptions): TypedTransaction {
    const pk = privateKey(key)
    const from = addressOf(pk).toString()
    const nonce = this.nonceOf(key)
    this.nonces.set(from, nonce + 1n)
    const gasLimit = o.gasLimit ?? 200_000n
    const base = { nonce, gasLimit, to: o.to, value: o.value ?? 0n, data: o.data ?? new Uint8Array() }
    const common = this.common
    // Type 2 by default; legacy before London (EIP-1559).
    switch (o.type ?? (common.isActivatedEIP(1559) ? 2 : 0)) {
      case 0:
        return createLegacyTx({ ...base, gasPrice: 20n }, { common }).sign(pk)
      case 1:
        return createAccessList2930Tx({ ...base, gasPrice: 20n, accessList: o.to ? [{ address: o.to.toString(), storageKeys: [bytesToHex(new Uint8Array(32))] }] : [] }, { common }).sign(pk)
      case 2:
        return createFeeMarket1559Tx({ ...base, maxFeePerGas: 30n, maxPriorityFeePerGas: 2n }, { common }).sign(pk)
      case 3:
        return createBlob4844Tx(
          {
            ...base,
            to: o.to ?? COINBASE,
            maxFeePerGas: 30n,
            maxPriorityFeePerGas: 2n,
            maxFeePerBlobGas: 10n,
            blobVersionedHashes: [concatBytes(Uint8Array.from([1]), new Uint8Array(31).fill(key & 0xff))],
          },
          { common },
        ).sign(pk)
      case 4: {
        const authorizationList = (o.delegations ?? []).map((d) =>
          eoaCode7702SignAuthorization({ chainId: `0x${common.chainId().toString(16)}`, address: d.address.toString(), nonce: `0x${d.nonce.toString(16)}` }, privateKey(d.key)),
        )
        return createEOACode7702Tx({ ...base, to: o.to ?? COINBASE, maxFeePerGas: 30n, maxPriorityFeePerGas: 2n, authorizationList }, { common }).sign(pk)
      }
    }
  }

  /** A CREATE transaction for `name` with ABI-encoded constructor arguments; returns the address. */
  deploy(key: number, name: string, ...ctorArgs: AbiValue[]): { tx: TypedTransaction; address: Address } {
    const nonce = this.nonceOf(key)
    const address = createContractAddress(addressOf(privateKey(key)), nonce)
    const tx = this.tx(key, { data: concatBytes(hexToBytes(artifact(name).bytecode as `0x${string}`), encodeArgs(...ctorArgs)), gasLimit: 6_000_000n })
    return { tx, address }
  }

  /** Executes setup transactions (sequential executor) and folds their effects into the prestate. */
  async setup(txs: TypedTransaction[]): Promise<void> {
    if (txs.length === 0) return
    const block = makeBlock(this.common, txs, { number: 19_000_000n })
    const executor = await ParallelExecutor.create({ common: this.common, threads: 1, strategy: { kind: 'sequential' } })
    try {
      const r = await executor.runBlock({ block, prestate: this.prestate, skipBlockValidation: true, generate: true })
      const failed = r.results.findIndex((x) => x.execResult.exceptionError !== undefined)
      if (failed >= 0) throw new Error(`setup transaction ${failed} failed: ${r.results[failed].execResult.exceptionError!.error}`)
      mergeDiff(this.prestate, r.stateDiff)
    } finally {
      await executor.close()
    }
  }

  block(txs: TypedTransaction[], header: Record<string, unknown> = {}, extra: Parameters<typeof makeBlock>[3] = {}): Block {
    return makeBlock(this.common, txs, header, extra)
  }
}

/** Applies a state diff to a prestate object (code inline). */
export function mergeDiff(prestate: Prestate, diff: StateDiff): void {
  for (const [addr, st] of diff.storage) {
    if (st.cleared && prestate[addr] !== undefined) prestate[addr] = { ...prestate[addr], storage: {} }
  }
  for (const [addr, acc] of diff.accounts) {
    if (acc === null) {
      delete prestate[addr]
      continue
    }
    const prev = prestate[addr]
    const code = diff.code.get(bytesToHex(acc.codeHash))
    prestate[addr] = {
      ...prev,
      balance: '0x' + acc.balance.toString(16),
      nonce: '0x' + acc.nonce.toString(16),
      ...(code !== undefined ? { code: bytesToHex(code), code_hash: undefined } : {}),
    }
    if (prestate[addr].code_hash === undefined) delete prestate[addr].code_hash
  }
  for (const [addr, st] of diff.storage) {
    const acc = prestate[addr]
    if (acc === undefined) continue
    const storage: Record<string, string> = { ...(acc.storage as Record<string, string> | undefined) }
    for (const [slot, value] of st.slots) {
      if (value === 0n) delete storage[slot]
      else storage[slot] = '0x' + value.toString(16)
    }
    prestate[addr] = { ...acc, storage }
  }
}

// ------------------------------------------------------------------------------------------
// Workloads. Each returns the world (prestate) and the block under test. Keys: senders use
// small indices; contract deployers use 900+.

export interface Workload {
  name: string
  common: Common
  prestate: Prestate
  block: Block
}

function world(hardfork: Hardfork = Hardfork.Cancun, common?: Common): World {
  return new World(common ?? makeCommon(hardfork))
}

const recipient = (i: number) => new Address(keccak_256(Uint8Array.from([0xee, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff])).slice(12))

export async function ethTransfers(n: number, common?: Common): Promise<Workload> {
  const w = world(Hardfork.Cancun, common)
  const type = w.common.isActivatedEIP(1559) ? 2 : 0
  for (let i = 0; i < n; i++) w.fund(i)
  const txs = Array.from({ length: n }, (_, i) => w.tx(i, { type, to: recipient(i), value: 1000n + BigInt(i), gasLimit: 21_000n }))
  return { name: `eth-transfers-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/** Transfers plus the block-level credits: withdrawals (with a zero amount to an empty account). */
export async function withdrawals(n: number): Promise<Workload> {
  const w = world()
  for (let i = 0; i < n; i++) w.fund(i)
  const txs = Array.from({ length: n }, (_, i) => w.tx(i, { to: recipient(i % 4), value: 1000n, gasLimit: 21_000n }))
  const list = [
    { index: 0n, validatorIndex: 1n, address: recipient(0), amount: 5n },
    { index: 1n, validatorIndex: 2n, address: addressOf(privateKey(1)), amount: 1_000_000n },
    { index: 2n, validatorIndex: 3n, address: recipient(9999), amount: 0n },
  ]
  return { name: `withdrawals-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs, {}, { withdrawals: list }) }
}

/** A proof-of-work block: miner and uncle rewards after the transactions. */
export async function powRewards(n: number): Promise<Workload> {
  const w = world(Hardfork.London)
  for (let i = 0; i < n; i++) w.fund(i)
  const txs = Array.from({ length: n }, (_, i) => w.tx(i, { to: recipient(i), value: 1000n, gasLimit: 21_000n }))
  const header = { number: 13_000_000n, difficulty: 1n << 40n }
  const uncle = { number: 12_999_998n, coinbase: recipient(4242), difficulty: 1n << 40n, gasLimit: 1_000_000_000n, timestamp: 1_710_338_100n, baseFeePerGas: 7n }
  return { name: `pow-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs, header, { uncleHeaders: [uncle] }) }
}

/** `senders` accounts each send `perSender` transactions in a row (nonce chains), to each other. */
export async function nonceChains(senders: number, perSender: number): Promise<Workload> {
  const w = world()
  for (let i = 0; i < senders; i++) w.fund(i)
  const txs: TypedTransaction[] = []
  for (let j = 0; j < perSender; j++) {
    for (let i = 0; i < senders; i++) {
      txs.push(w.tx(i, { to: addressOf(privateKey((i + 1) % senders)), value: 10n ** 15n, gasLimit: 21_000n }))
    }
  }
  return { name: `nonce-chains-${senders}x${perSender}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/** Keys of the contract deployers: far above any sender index a workload uses. */
const DEPLOYER = 1_000_000

/**
 * Same-sender chains: `senders` accounts each send `perSender` transfers (in nonce order, the
 * senders interleaved) to fresh recipients. Chains are independent of each other; within a
 * chain every transaction depends on the previous one.
 */
export async function senderChains(senders: number, perSender: number): Promise<Workload> {
  const w = world()
  for (let i = 0; i < senders; i++) w.fund(i)
  const txs: TypedTransaction[] = []
  for (let j = 0; j < perSender; j++) {
    for (let i = 0; i < senders; i++) txs.push(w.tx(i, { to: recipient(i * perSender + j), value: 1000n + BigInt(j), gasLimit: 21_000n }))
  }
  return { name: `sender-chains-${senders}x${perSender}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/**
 * A block dominated by same-sender chains and ERC-20 transfers: `senders` holders of one
 * OpenZeppelin token each send `perSender` transactions, alternating token transfers and ETH
 * transfers to fresh recipients. `order`: senders interleaved, or each sender's transactions
 * together (as block builders often place them).
 */
export async function chainsAndTokens(senders: number, perSender: number, order: 'interleaved' | 'contiguous' = 'interleaved'): Promise<Workload> {
  const w = world(Hardfork.Cancun)
  const deployer = DEPLOYER + 2
  w.fund(deployer)
  const token = w.deploy(deployer, 'Token', 10n ** 30n)
  const setup: TypedTransaction[] = [token.tx]
  for (let i = 0; i < senders; i++) {
    w.fund(i)
    setup.push(w.tx(deployer, { to: token.address, data: calldata('transfer(address,uint256)', addressOf(privateKey(i)), 10n ** 24n) }))
  }
  await w.setup(setup)
  const txs: TypedTransaction[] = []
  const add = (i: number, j: number) => {
    const to = recipient(i * perSender + j)
    txs.push(
      j % 2 === 0
        ? w.tx(i, { to: token.address, data: calldata('transfer(address,uint256)', to, 1000n + BigInt(j)), gasLimit: 100_000n })
        : w.tx(i, { to, value: 1000n, gasLimit: 21_000n }),
    )
  }
  if (order === 'contiguous') {
    for (let i = 0; i < senders; i++) for (let j = 0; j < perSender; j++) add(i, j)
  } else {
    for (let j = 0; j < perSender; j++) for (let i = 0; i < senders; i++) add(i, j)
  }
  return { name: `chains-and-tokens-${order}-${senders}x${perSender}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/** ERC-20 transfers on one OpenZeppelin token: distinct holders, or a few overlapping ones. */
export async function erc20Transfers(n: number, holders: 'distinct' | 'overlapping', common?: Common): Promise<Workload> {
  const w = world(Hardfork.Cancun, common)
  const deployer = DEPLOYER
  w.fund(deployer)
  const token = w.deploy(deployer, 'Token', 10n ** 30n)
  const senders = holders === 'distinct' ? n : Math.max(2, Math.ceil(n / 8))
  const setup: TypedTransaction[] = [token.tx]
  for (let i = 0; i < senders; i++) {
    w.fund(i)
    setup.push(w.tx(deployer, { to: token.address, data: calldata('transfer(address,uint256)', addressOf(privateKey(i)), 10n ** 24n) }))
  }
  await w.setup(setup)
  const txs = Array.from({ length: n }, (_, i) => {
    const from = i % senders
    const to = holders === 'distinct' ? recipient(i) : addressOf(privateKey((from + 1 + (i % 3)) % senders))
    return w.tx(from, { to: token.address, data: calldata('transfer(address,uint256)', to, 1000n + BigInt(i)), gasLimit: 100_000n })
  })
  return { name: `erc20-${holders}-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/**
 * Uniswap V2 (v2-core factory and pairs) with a single-hop router, deployed by `deployer`:
 * pool p trades token p against token p+1, each pool holding 10^26 of both. Three setup
 * blocks in `w`.
 */
export async function deployUniswap(w: World, deployer: number, pools: number): Promise<{ router: Address; tokens: Address[]; pairs: Address[] }> {
  const factory = w.deploy(deployer, 'UniswapV2Factory', addressOf(privateKey(deployer)))
  const router = w.deploy(deployer, 'SwapRouter')
  const tokens = Array.from({ length: pools + 1 }, () => w.deploy(deployer, 'UniswapV2TestToken', 10n ** 30n))
  await w.setup([factory.tx, router.tx, ...tokens.map((t) => t.tx)])
  const pairInit = hexToBytes(artifact('UniswapV2Pair').bytecode as `0x${string}`)
  const pairs: Address[] = []
  const create: TypedTransaction[] = []
  for (let p = 0; p < pools; p++) {
    const [a, b] = [tokens[p].address, tokens[p + 1].address]
    create.push(w.tx(deployer, { to: factory.address, data: calldata('createPair(address,address)', a, b), gasLimit: 5_000_000n }))
    const [t0, t1] = Buffer.compare(Buffer.from(a.bytes), Buffer.from(b.bytes)) < 0 ? [a, b] : [b, a]
    pairs.push(createContractAddress2(factory.address, keccak_256(concatBytes(t0.bytes, t1.bytes)), pairInit))
  }
  await w.setup(create)
  const liquidity: TypedTransaction[] = []
  for (let p = 0; p < pools; p++) {
    liquidity.push(w.tx(deployer, { to: tokens[p].address, data: calldata('transfer(address,uint256)', pairs[p], 10n ** 26n) }))
    liquidity.push(w.tx(deployer, { to: tokens[p + 1].address, data: calldata('transfer(address,uint256)', pairs[p], 10n ** 26n) }))
    liquidity.push(w.tx(deployer, { to: pairs[p], data: calldata('mint(address)', addressOf(privateKey(deployer))), gasLimit: 500_000n }))
  }
  await w.setup(liquidity)
  return { router: router.address, tokens: tokens.map((t) => t.address), pairs }
}

/** Uniswap V2 swaps over `pools` pools, each trader swapping once. */
export async function uniswapSwaps(n: number, pools: number, common?: Common): Promise<Workload> {
  const w = world(Hardfork.Cancun, common)
  const deployer = DEPLOYER + 1
  w.fund(deployer, 10n ** 24n)
  const { router, tokens, pairs } = await deployUniswap(w, deployer, pools)
  const funding: TypedTransaction[] = []
  for (let i = 0; i < n; i++) {
    w.fund(i)
    const p = i % pools
    funding.push(w.tx(deployer, { to: tokens[p], data: calldata('transfer(address,uint256)', addressOf(privateKey(i)), 10n ** 21n) }))
    funding.push(w.tx(i, { to: tokens[p], data: calldata('approve(address,uint256)', router, 2n ** 255n) }))
  }
  await w.setup(funding)
  const txs = Array.from({ length: n }, (_, i) => {
    const p = i % pools
    return w.tx(i, {
      to: router,
      data: calldata('swap(address,address,uint256,address)', pairs[p], tokens[p], 10n ** 18n + BigInt(i), addressOf(privateKey(i))),
      gasLimit: 300_000n,
    })
  })
  return { name: `uniswap-${n}-over-${pools}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/** Every transaction increments the same storage slot. */
export async function hotCounter(n: number, common?: Common): Promise<Workload> {
  const w = world(Hardfork.Cancun, common)
  const counter = w.place(recipient(0xc0c0), artifact('Counter').deployedBytecode)
  for (let i = 0; i < n; i++) w.fund(i)
  const txs = Array.from({ length: n }, (_, i) => w.tx(i, { to: counter, data: calldata('increment()'), gasLimit: 60_000n }))
  return { name: `hot-counter-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/**
 * Sponsored EIP-7702 delegations (Prague): sponsor `i` sends a type-4 transaction carrying
 * account `n + i`'s authorization to run the Counter's code, and calls that account (so the
 * counter lives in its storage). With `followUps`, every other authority then sends a transfer
 * of its own, two transactions after its authorization: its nonce is the one the
 * authorization left, a dependency only the authorization's signature reveals.
 */
export async function delegations(n: number, followUps = true): Promise<Workload> {
  const w = world(Hardfork.Prague)
  const counter = w.place(recipient(0xc0c2), artifact('Counter').deployedBytecode)
  for (let i = 0; i < 2 * n; i++) w.fund(i)
  const txs: TypedTransaction[] = []
  for (let i = 0; i < n; i++) {
    const user = n + i
    txs.push(w.tx(i, { type: 4, to: addressOf(privateKey(user)), data: calldata('increment()'), delegations: [{ key: user, address: counter, nonce: w.nonceOf(user) }], gasLimit: 200_000n }))
    w.bumpNonce(user)
    if (followUps && i % 2 === 1) txs.push(w.tx(user - 1, { to: recipient(i), value: 7n, gasLimit: 21_000n }))
  }
  return { name: `delegations-${n}${followUps ? '-with-follow-ups' : ''}`, common: w.common, prestate: w.prestate, block: w.block(txs, { number: 23_000_000n, timestamp: 1_760_000_000n }) }
}

/** Runtime code that stores its own balance (SELFBALANCE) in slot 0 on every call. */
export const BALANCE_RECORDER = '0x4760005500'

/**
 * Runtime code that counts `n` down to zero (about 26 gas a turn), then pays its call value on
 * to `to` with a CALL: a payment that arrives late.
 */
export function slowForwarder(n: number, to: Address): string {
  const count = n.toString(16).padStart(4, '0')
  // PUSH2 n; JUMPDEST; PUSH1 1; SWAP1; SUB; DUP1; PUSH1 3; JUMPI; POP;
  // CALL(GAS, to, CALLVALUE, 0, 0, 0, 0); POP; STOP
  return `0x61${count}5b600190038060035750` + '6000600060006000' + '34' + '73' + to.toString().slice(2) + '5af15000'
}

/**
 * Payments into deposit addresses (Prague), and what can change such an account mid-block.
 * Plain payments from distinct senders into an existing address, into one that does not exist
 * yet, and into an account that an EIP-7702 authorization then delegates to code recording
 * its balance (payments after the authorization run that code); the existing deposit address
 * sends a payment of its own midway. And an account whose balance is 4,500 wei below 2^256:
 * the first transaction pays 1,000 wei into it through a slow contract, the next four pay 1,000
 * wei each directly, so that the last of them overflows and fails, although, run before the
 * slow payment landed, it would not have.
 */
export async function deposits(n: number): Promise<Workload> {
  const w = world(Hardfork.Prague)
  const depositKey = 800
  const existing = w.fund(depositKey, 3n * ETHER)
  const fresh = recipient(0xd0d0)
  const delegatedKey = 801
  const delegated = w.fund(delegatedKey, ETHER)
  const recorder = w.place(recipient(0xd0d1), BALANCE_RECORDER)
  const nearMax = recipient(0xd0d2)
  w.prestate[nearMax.toString()] = { balance: '0x' + (2n ** 256n - 1n - 4500n).toString(16), nonce: 0 }
  const slow = w.place(recipient(0xd0d4), slowForwarder(20_000, nearMax))
  for (let i = 0; i < n; i++) w.fund(i)
  const txs: TypedTransaction[] = [w.tx(0, { to: slow, value: 1000n, gasLimit: 1_000_000n })]
  for (let i = 1; i <= 4; i++) txs.push(w.tx(i, { to: nearMax, value: 1000n, gasLimit: 21_000n }))
  for (let i = 5; i < n; i++) {
    if (i === Math.floor(n / 2)) {
      txs.push(w.tx(depositKey, { to: recipient(0xd0d3), value: ETHER, gasLimit: 21_000n }))
      txs.push(w.tx(i, { type: 4, to: delegated, delegations: [{ key: delegatedKey, address: recorder, nonce: w.nonceOf(delegatedKey) }], gasLimit: 100_000n }))
      w.bumpNonce(delegatedKey)
      continue
    }
    const to = i % 3 === 0 ? fresh : i % 3 === 1 ? delegated : existing
    txs.push(w.tx(i, { to, value: 10_000n + BigInt(i), gasLimit: 60_000n }))
  }
  return { name: `deposits-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs, { number: 23_000_000n, timestamp: 1_760_000_000n }) }
}

/** CREATE transactions, CREATE and CREATE2 through a factory, and calls into the new contracts. */
export async function creations(n: number): Promise<Workload> {
  const w = world()
  const factory = w.place(recipient(0xfac7), artifact('Factory').deployedBytecode)
  for (let i = 0; i < n; i++) w.fund(i)
  const txs: TypedTransaction[] = []
  for (let i = 0; i < n; i++) {
    switch (i % 4) {
      case 0:
        txs.push(w.deploy(i, 'Counter').tx)
        break
      case 1:
        txs.push(w.tx(i, { to: factory, data: calldata('create()'), value: 5n, gasLimit: 300_000n }))
        break
      case 2:
        txs.push(w.tx(i, { to: factory, data: calldata('create2(bytes32)', BigInt(i)), gasLimit: 300_000n }))
        break
      case 3:
        // The same salt again: the second CREATE2 collides and fails.
        txs.push(w.tx(i, { to: factory, data: calldata('create2(bytes32)', BigInt(i - 1)), gasLimit: 300_000n }))
        break
    }
  }
  return { name: `creations-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/** Where the Factory contract at `factory` puts a Child with CREATE2 and `salt`. */
export function childAddress(factory: Address, salt: bigint): Address {
  return createContractAddress2(factory, setLengthLeft(hexToBytes(`0x${salt.toString(16).padStart(2, '0')}`), 32), hexToBytes(artifact('Child').bytecode as `0x${string}`))
}

/**
 * SELFDESTRUCT: created-and-destroyed in one transaction (deleted under EIP-6780), and, before
 * Cancun, destroying an existing contract and re-creating it at the same address.
 */
export async function selfdestructs(n: number, hardfork: Hardfork = Hardfork.Cancun): Promise<Workload> {
  const w = world(hardfork)
  const factory = w.place(recipient(0xfac8), artifact('Factory').deployedBytecode)
  const beneficiary = recipient(0xbe)
  for (let i = 0; i < n; i++) w.fund(i)
  // Existing children with storage, created by the factory (so that CREATE2 can recreate them).
  const childSetup: TypedTransaction[] = []
  for (let i = 0; i < n; i += 3) childSetup.push(w.tx(i, { to: factory, data: calldata('create2(bytes32)', 1000n + BigInt(i)), gasLimit: 300_000n }))
  await w.setup(childSetup)
  const txs: TypedTransaction[] = []
  for (let i = 0; i < n; i++) {
    if (i % 3 === 0) {
      const child = childAddress(factory, 1000n + BigInt(i))
      txs.push(w.tx(i, { to: child, data: calldata('kill(address)', beneficiary), gasLimit: 100_000n }))
      txs.push(w.tx(i, { to: child, data: calldata('set(uint256)', 7n), gasLimit: 100_000n }))
      txs.push(w.tx(i, { to: factory, data: calldata('create2(bytes32)', 1000n + BigInt(i)), gasLimit: 300_000n }))
      txs.push(w.tx(i, { to: child, data: calldata('value()'), gasLimit: 100_000n }))
    } else {
      txs.push(w.tx(i, { to: factory, data: calldata('createAndKill(bytes32,address)', BigInt(i), beneficiary), value: 3n, gasLimit: 400_000n }))
    }
  }
  return { name: `selfdestruct-${hardfork}-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/** Reverting transactions and transactions that run out of gas, among successful ones. */
export async function failures(n: number): Promise<Workload> {
  const w = world()
  const probe = w.place(recipient(0x9b0b), artifact('Probe').deployedBytecode)
  for (let i = 0; i < n; i++) w.fund(i)
  const txs = Array.from({ length: n }, (_, i) => {
    switch (i % 3) {
      case 0:
        return w.tx(i, { to: probe, data: calldata('fail()'), gasLimit: 60_000n })
      case 1:
        return w.tx(i, { to: probe, data: calldata('spin(uint256)', 100_000n), gasLimit: 80_000n })
      default:
        return w.tx(i, { to: probe, data: calldata('spin(uint256)', 10n), gasLimit: 100_000n })
    }
  })
  return { name: `failures-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs) }
}

/**
 * The coinbase: some transactions read BALANCE(coinbase) (they must see every fee paid
 * before them), the coinbase itself sends transactions, and others pay it directly.
 */
export async function coinbaseTraffic(n: number): Promise<Workload> {
  const w = world()
  const probe = w.place(recipient(0x9b0c), artifact('Probe').deployedBytecode)
  const coinbaseKey = 777
  const coinbase = w.fund(coinbaseKey, 5n * ETHER)
  for (let i = 0; i < n; i++) w.fund(i)
  const txs: TypedTransaction[] = []
  for (let i = 0; i < n; i++) {
    switch (i % 5) {
      case 0:
        txs.push(w.tx(i, { to: probe, data: calldata('recordCoinbaseBalance()'), gasLimit: 80_000n }))
        break
      case 1:
        txs.push(w.tx(coinbaseKey, { to: recipient(i), value: 12345n, gasLimit: 21_000n }))
        break
      case 2:
        txs.push(w.tx(i, { to: coinbase, value: 777n, gasLimit: 21_000n }))
        break
      case 3:
        txs.push(w.tx(i, { to: probe, data: calldata('forward(address)', coinbase), value: 99n, gasLimit: 80_000n }))
        break
      default:
        txs.push(w.tx(i, { to: recipient(i + 1000), value: 1n, gasLimit: 21_000n }))
    }
  }
  return { name: `coinbase-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs, { coinbase }) }
}

/** Every transaction type the fork supports: legacy, 2930, 1559, 4844 and (Prague) 7702. */
export async function txTypes(n: number, hardfork: Hardfork = Hardfork.Prague): Promise<Workload> {
  const w = world(hardfork)
  const counter = w.place(recipient(0xc0c1), artifact('Counter').deployedBytecode)
  for (let i = 0; i < n + 20; i++) w.fund(i)
  const types: (0 | 1 | 2 | 3 | 4)[] = w.common.isActivatedEIP(7702) ? [0, 1, 2, 3, 4] : [0, 1, 2, 3]
  const txs = Array.from({ length: n }, (_, i) => {
    const type = types[i % types.length]
    if (type === 4) {
      // Delegate a fresh key's account to the counter, then the sender calls it.
      const delegator = n + (i % 20)
      return w.tx(i, { type, to: addressOf(privateKey(delegator)), data: calldata('increment()'), delegations: [{ key: delegator, address: counter, nonce: w.nonceOf(delegator) }], gasLimit: 200_000n })
    }
    return w.tx(i, { type, to: i % 2 === 0 ? counter : recipient(i), data: i % 2 === 0 ? calldata('increment()') : undefined, value: i % 2 === 0 ? 0n : 5n, gasLimit: 100_000n })
  })
  return { name: `tx-types-${hardfork}-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs, { number: 23_000_000n, timestamp: 1_760_000_000n }) }
}

/**
 * Osaka's new execution rules in one probe contract, called by every other transaction: CLZ
 * (EIP-7939) of the call data's first word into slot 0; P256VERIFY (EIP-7951, 0x100) of the
 * next 160 bytes, its success into slot 1 and its output into slot 2 (a valid signature on
 * even calls, a wrong one on the others); MODEXP (0x05, priced by EIP-7883) of 3^5 mod 7 into
 * slot 3. The others are plain transfers.
 */
export async function osakaOpcodes(n: number): Promise<Workload> {
  const w = world(Hardfork.Osaka)
  const code = [
    '600035', '1e', '600055', // PUSH1 0 CALLDATALOAD CLZ PUSH1 0 SSTORE
    '60a0', '6020', '6000', '37', // CALLDATACOPY(mem 0, calldata 32, 160)
    '6020', '60a0', '60a0', '6000', '610100', '5a', 'fa', // STATICCALL(gas, 0x100, mem 0..160, out 0xa0..0xc0)
    '600155', '60a051', '600255', // SSTORE(1, success) SSTORE(2, MLOAD(0xa0))
    '6001610100', '52', '6001610120', '52', '6001610140', '52', // lengths of base, exponent, modulus: 1 byte each
    '6003610160', '53', '6005610161', '53', '6007610162', '53', // 3, 5, 7
    '6020', '610180', '6063', '610100', '6005', '5a', 'fa', '50', // STATICCALL(gas, 0x05, mem 0x100..0x163, out 0x180), POP
    '61018051', '600355', '00', // SSTORE(3, MLOAD(0x180)) STOP
  ].join('')
  const probe = w.place(recipient(0x05a4a), `0x${code}`)
  const signer = p256.utils.randomSecretKey(Uint8Array.from({ length: 48 }, (_, i) => i + 1))
  const publicKey = p256.getPublicKey(signer, false).slice(1)
  const txs = Array.from({ length: n }, (_, i) => {
    w.fund(i)
    if (i % 2 === 1) return w.tx(i, { to: recipient(i), value: 7n, gasLimit: 21_000n })
    const word = new Uint8Array(32)
    word[(i * 3) % 32] = 1 << i % 8
    const hash = keccak_256(Uint8Array.from([i]))
    const signature = p256.sign(hash, signer, { prehash: false, lowS: false })
    if (i % 4 === 2) signature[5] ^= 1
    return w.tx(i, { to: probe, data: concatBytes(word, hash, signature, publicKey), gasLimit: 300_000n, type: i % 3 === 0 ? 0 : 2 })
  })
  return { name: `osaka-opcodes-${n}`, common: w.common, prestate: w.prestate, block: w.block(txs, { number: 24_000_000n, timestamp: 1_770_000_000n }) }
}
