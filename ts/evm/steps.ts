/**
 * Block-level steps around the transactions, run sequentially on the main thread in the
 * order `runBlock` runs them.
 *
 * Before: the EIP-4788 beacon root and EIP-2935 parent hash writes (written here).
 * After: withdrawals, PoW rewards and EIP-7685 requests. These are left to ethereumjs itself:
 * its `runBlock` is run on a copy of the block without transactions, over the state that the
 * transactions left. That run repeats the two "before" writes, which rewrite the same values,
 * and computes the deposit requests from no transactions; the deposits are parsed here from
 * the real transactions' logs instead.
 */
import { Block, genRequestsRoot } from '@ethereumjs/block'
import { ConsensusType, Mainnet, type Common, type StateManagerInterface } from '@ethereumjs/common'
import {
  Address,
  CLRequest,
  CLRequestType,
  bigIntToAddressBytes,
  bigIntToBytes,
  bytesToHex,
  concatBytes,
  setLengthLeft,
} from '@ethereumjs/util'
import { runBlock, type VM } from '@ethereumjs/vm'
import { sha256 } from '@noble/hashes/sha2.js'

import { bytesToBigInt } from './bytes.ts'
import type { TxOutcome } from './outcome.ts'

const BEACON_ROOTS_ADDRESS = new Address(bigIntToAddressBytes(0x000f3df6d732807ef1319fb7b8bb8522d0beac02n))

export async function preTransactionSteps(sm: StateManagerInterface, common: Common, block: Block): Promise<void> {
  const { header } = block
  if (common.isActivatedEIP(4788)) {
    const code = await sm.getCode(BEACON_ROOTS_ADDRESS)
    if (code.length > 0) {
      const length = BigInt(common.param('historicalRootsLength'))
      const index = header.timestamp % length
      await sm.putStorage(BEACON_ROOTS_ADDRESS, setLengthLeft(bigIntToBytes(index), 32), bigIntToBytes(header.timestamp))
      await sm.putStorage(BEACON_ROOTS_ADDRESS, setLengthLeft(bigIntToBytes(index + length), 32), header.parentBeaconBlockRoot!)
    }
  }
  if (common.isActivatedEIP(2935)) {
    const history = new Address(bigIntToAddressBytes(common.param('historyStorageAddress')))
    const code = await sm.getCode(history)
    if (code.length > 0) {
      const key = setLengthLeft(bigIntToBytes((header.number - 1n) % common.param('historyServeWindow')), 32)
      await sm.putStorage(history, key, header.parentHash)
    }
  }
}

/** Whether any step after the transactions applies to this block. */
export function hasPostTransactionSteps(common: Common, block: Block): boolean {
  return (
    common.isActivatedEIP(4895) ||
    block.common.consensusType() === ConsensusType.ProofOfWork ||
    block.common.isActivatedEIP(7685)
  )
}

export interface PostStepsResult {
  requests?: CLRequest<CLRequestType>[]
  requestsHash?: Uint8Array
}

export async function postTransactionSteps(
  vm: VM,
  block: Block,
  outcomes: TxOutcome[],
): Promise<PostStepsResult> {
  if (!hasPostTransactionSteps(vm.common, block)) return {}
  const bare = new Block(block.header, [], block.uncleHeaders, block.withdrawals, { common: block.common })
  // Always `generate`: the header describes the real block, not this transaction-less copy.
  // (Otherwise `generate` only changes builder requests, EIP-8282, which take the ethereumjs path.)
  const r = await runBlock(vm, {
    block: bare,
    generate: true,
    skipBlockValidation: true,
    skipHeaderValidation: true,
    skipHardForkValidation: true,
    setHardfork: false,
  })
  if (!block.common.isActivatedEIP(7685) || r.requests === undefined) return {}
  const requests = r.requests.map((req) => (req.type === CLRequestType.Deposit ? depositsRequest(vm.common, outcomes) : req))
  const sha = vm.common.customCrypto.sha256 ?? sha256
  return { requests, requestsHash: genRequestsRoot(requests, sha) }
}

const DEPOSIT_TOPIC = '0x649bbc62d0e31342afea4e5cd82d4049e7e1ee912fc0889aa790803be39038c5'
/** Offsets and sizes of the deposit event's fields (EIP-6110). */
const DEPOSIT_LAYOUT = [
  { offset: 160, size: 48 }, // pubkey
  { offset: 256, size: 32 }, // withdrawal credentials
  { offset: 320, size: 8 }, // amount
  { offset: 384, size: 96 }, // signature
  { offset: 512, size: 8 }, // index
]
const DEPOSIT_LOG_SIZE = 576

/** EIP-6110: the deposit requests of the block, from the deposit contract's logs. */
function depositsRequest(common: Common, outcomes: TxOutcome[]): CLRequest<typeof CLRequestType.Deposit> {
  const contract = ((common as unknown as { _chainParams: { depositContractAddress?: string } })._chainParams.depositContractAddress ??
    Mainnet.depositContractAddress)!.toLowerCase()
  const parts: Uint8Array[] = []
  for (const o of outcomes) {
    for (const [address, topics, data] of o.logs) {
      if (topics.length === 0 || bytesToHex(topics[0]) !== DEPOSIT_TOPIC || bytesToHex(address).toLowerCase() !== contract) continue
      if (data.length !== DEPOSIT_LOG_SIZE) throw new Error('invalid deposit log: unsupported data layout')
      DEPOSIT_LAYOUT.forEach(({ offset, size }, i) => {
        if (bytesToBigInt(data.subarray(i * 32, i * 32 + 32)) !== BigInt(offset)) throw new Error('invalid deposit log: unsupported data layout')
        if (bytesToBigInt(data.subarray(offset, offset + 32)) !== BigInt(size)) throw new Error('invalid deposit log: unsupported data layout')
        parts.push(data.slice(offset + 32, offset + 32 + size))
      })
    }
  }
  return new CLRequest(CLRequestType.Deposit, concatBytes(...parts))
}
