/**
 * The BN254 precompiles (0x06, 0x07 and 0x08) natively through the addon
 * (`crate/node/src/bn254.rs`, substrate-bn). ethereumjs's default is noble's pure-JS
 * curve: in CPU profiles of the sequential strategy over the mainnet blocks, the three
 * precompiles took 3.4 % of the samples with it and 0.2 % with this. Failures are reported
 * as the default reports them: a G2 coordinate outside the field as `EVMError` `fp point not
 * in field`, anything else as a plain error (the precompile turns that into a revert).
 * Without the addon, ethereumjs keeps its default.
 */
import { EVMError, type EVMBN254Interface } from '@ethereumjs/evm'

import { loadNative, type NativeBinding } from '../native.ts'

export type Bn254 = EVMBN254Interface

const invalid = () => new Error('bn254: invalid input')

class NativeBn254 implements Bn254 {
  constructor(private readonly native: NativeBinding) {}

  add(input: Uint8Array): Uint8Array {
    const r = this.native.bn254Add(input)
    if (r === null) throw invalid()
    return new Uint8Array(r)
  }

  mul(input: Uint8Array): Uint8Array {
    const r = this.native.bn254Mul(input)
    if (r === null) throw invalid()
    return new Uint8Array(r)
  }

  pairing(input: Uint8Array): Uint8Array {
    const r = this.native.bn254Pairing(input)
    if (r === -1) throw new EVMError(EVMError.errorMessages.BN254_FP_NOT_IN_FIELD)
    if (r < 0) throw invalid()
    const out = new Uint8Array(32)
    out[31] = r
    return out
  }
}

/** The native implementation, or `undefined` (ethereumjs's default) without the addon. */
export function nativeBn254(): Bn254 | undefined {
  const native = loadNative()
  return native === null ? undefined : new NativeBn254(native)
}

/**
 * Puts the native implementation into `evm`. ethereumjs 10's `createEVM` replaces whatever
 * `bn254` option it is given with its noble default, so the option cannot carry it: the EVM's
 * own field is set instead, if it has the shape expected. Returns whether it was installed.
 */
export function installNativeBn254(evm: unknown): boolean {
  const e = evm as { _bn254?: unknown }
  const native = nativeBn254()
  if (native === undefined || typeof e !== 'object' || e === null || !('_bn254' in e) || typeof (e._bn254 as Bn254 | undefined)?.pairing !== 'function') return false
  e._bn254 = native
  return true
}
