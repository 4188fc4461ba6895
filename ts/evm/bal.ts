/**
 * EIP-7928 block access lists given by the caller (`RunBlockOptions.blockAccessList`), read and
 * checked the way ethereumjs `runBlock` does: the three forms it accepts, the header's
 * `blockAccessListHash` checked before execution (unless `generate`), and the list compared
 * with the one execution produced after it. ethereumjs keeps these steps inside `runBlock`
 * where a `generate: true` run (ours, see the executor's ethereumjs path) skips them, so they
 * are repeated here with ethereumjs's own exported helpers.
 */
import {
  BlockLevelAccessList,
  createBlockLevelAccessListFromJSON,
  createBlockLevelAccessListFromRLP,
  equalsBlockAccessList,
  isAccountOrderOnlyViolation,
  validateBlockAccessListHash,
  validateBlockAccessListHashFromJSON,
  validateBlockAccessListJSONStructure,
} from '@ethereumjs/util'
import type { RunBlockOpts } from '@ethereumjs/vm'

/** What `blockAccessList` may be: a list object, its RLP, or its JSON (Engine API) form. */
export type BlockAccessListInput = NonNullable<RunBlockOpts['blockAccessList']>

/**
 * The caller's list as a `BlockLevelAccessList`. With `expectedHash` (a block being checked,
 * not generated), its hash must be the header's. Throws ethereumjs's errors.
 */
export function readBlockAccessList(input: BlockAccessListInput, expectedHash: Uint8Array | undefined): BlockLevelAccessList {
  if (input instanceof BlockLevelAccessList || input instanceof Uint8Array) {
    const bal = input instanceof Uint8Array ? createBlockLevelAccessListFromRLP(input) : input
    if (expectedHash !== undefined) validateBlockAccessListHash(bal, expectedHash)
    return bal
  }
  // The JSON form is hashed as given (its account order), as ethereumjs does.
  validateBlockAccessListJSONStructure(input)
  if (isAccountOrderOnlyViolation(input)) throw new Error('invalid header: block access list accounts are not sorted')
  if (expectedHash !== undefined) validateBlockAccessListHashFromJSON(input, expectedHash)
  return createBlockLevelAccessListFromJSON(input)
}

/** Whether execution produced exactly the given list. */
export function sameBlockAccessList(given: BlockLevelAccessList, produced: BlockLevelAccessList | undefined): boolean {
  return produced !== undefined && equalsBlockAccessList(given, produced)
}
