/**
 * A faster interpreter loop for our own EVMs.
 *
 * ethereumjs runs every opcode through `await this.runStep(op)`, an async method that also
 * awaits every dynamic-gas handler and calls the opcode handler through `apply` with a fresh
 * argument array: a promise, an async frame and at least one microtask turn per opcode, even
 * for ADD or PUSH1. `fastRun` is ethereumjs's `Interpreter.run` with `runStep` inlined, doing
 * the same steps in the same order, but awaiting only what is asynchronous: the handlers
 * ethereumjs marks `isAsync`, and a gas handler only when it returned a promise.
 *
 * Scope and guards:
 * - Only EVMs marked with `useFastLoop` (the executor's and each worker's) take this loop;
 *   every other ethereumjs VM in the process runs ethereumjs's own, unchanged (the tests'
 *   reference runs among them).
 * - A call frame that needs what the fast loop leaves out goes to ethereumjs's own `run`:
 *   EOF code (EIP-3540), stateless code-chunk gas (EIP-6800/7864), `step` listeners or
 *   DEBUG, the profiler.
 * - It is installed only over the ethereumjs code it was written from: the source text of
 *   `Interpreter.run` and `Interpreter.runStep` must hash to the values below (those of
 *   @ethereumjs/evm 10.1.3). Any other version keeps ethereumjs's loop everywhere.
 */
import { createHash } from 'node:crypto'

import { importEvmFile } from './internals.ts'

/** sha256 of `run.toString()`, then `runStep.toString()`, of @ethereumjs/evm 10.1.3. */
const KNOWN_SOURCE = 'e40b945d54ed2c7e0264d8196c13b0225652fdf33542810ff5253c564c1087f4'

interface OpcodeInfo {
  code: number
  feeBigInt: bigint
  dynamicGas: boolean
  isAsync: boolean
  isInvalid: boolean
}
interface OpEntry {
  opcodeInfo: OpcodeInfo
  opHandler: (runState: RunState, common: unknown) => unknown
  gasHandler: (runState: RunState, gas: bigint, common: unknown) => bigint | Promise<bigint>
}
interface RunState {
  programCounter: number
  opCode: number
  code: Uint8Array
  gasLeft: bigint
  validJumps: Uint8Array
  cachedPushes: unknown
  shouldDoJumpAnalysis: boolean
  eip7928PostTargetCallOog?: unknown
  eip8037BurnLeftoverAfterCreateHaltOntoAlive?: boolean
  env: { accessWitness?: { commit(): void; revert(): void } }
}
interface InterpreterLike {
  _evm: { events: { listenerCount(e: string): number }; DEBUG: boolean }
  _runState: RunState
  common: { isActivatedEIP(eip: number): boolean }
  profilerOpts?: { enabled?: boolean }
  lookupOpInfo(op: number): OpEntry
  useGas(amount: bigint, context?: unknown): void
  _getValidJumpDestinations(code: Uint8Array): { jumps: Uint8Array; pushes: unknown; opcodesCached: OpEntry[] }
}
type Run = (this: InterpreterLike, code: Uint8Array, opts?: { pc?: number }) => Promise<{ runState: RunState; exceptionError: unknown }>

interface Internals {
  Interpreter: { prototype: { run: Run & { fast?: true }; runStep: (...a: unknown[]) => unknown } }
  consume: (runState: RunState) => void
  EVMError: new (message: string) => Error
  messages: { STOP: string; INVALID_OPCODE: string; OUT_OF_GAS: string }
  errorType: string
  FORMAT: number
}

/** EVMs that run the fast loop. */
const fastEvms = new WeakSet<object>()
let installed: Promise<boolean> | undefined

/** The source hash `KNOWN_SOURCE` is compared with (exported for the test that pins it). */
export function sourceHash(run: unknown, runStep: unknown): string {
  return createHash('sha256').update(String(run)).update(String(runStep)).digest('hex')
}

/** Makes `evm` run the fast loop, if it could be installed; resolves to whether it will. */
export async function useFastLoop(evm: object): Promise<boolean> {
  installed ??= install()
  if (!(await installed)) return false
  fastEvms.add(evm)
  return true
}

async function load(): Promise<Internals | undefined> {
  const [interp, eip7928, errors, eof] = await Promise.all([
    importEvmFile<{ Interpreter?: Internals['Interpreter'] }>('./interpreter.js'),
    importEvmFile<{ consumeEip7928PostTargetCallOog?: Internals['consume'] }>('./opcodes/EIP7928.js'),
    importEvmFile<{ EVMError?: Internals['EVMError'] & { errorMessages?: Internals['messages'] }; EVMErrorTypeString?: string }>('./errors.js'),
    importEvmFile<{ FORMAT?: number }>('./eof/constants.js'),
  ])
  const Interpreter = interp?.Interpreter
  const consume = eip7928?.consumeEip7928PostTargetCallOog
  const EVMError = errors?.EVMError
  const messages = EVMError?.errorMessages
  if (Interpreter === undefined || consume === undefined || EVMError === undefined || messages === undefined || errors?.EVMErrorTypeString === undefined || eof?.FORMAT === undefined) {
    return undefined
  }
  return { Interpreter, consume, EVMError, messages, errorType: errors.EVMErrorTypeString, FORMAT: eof.FORMAT }
}

async function install(): Promise<boolean> {
  const x = await load()
  if (x === undefined) return false
  const proto = x.Interpreter.prototype
  const original = proto.run
  if (original.fast === true) return true
  if (sourceHash(original, proto.runStep) !== KNOWN_SOURCE) return false
  const { consume, EVMError, messages, errorType, FORMAT } = x

  const fastRun: Run & { fast?: true } = async function (this: InterpreterLike, code, opts = {}) {
    const common = this.common
    if (
      !fastEvms.has(this._evm) ||
      (common.isActivatedEIP(3540) && code[0] === FORMAT) ||
      common.isActivatedEIP(6800) ||
      common.isActivatedEIP(7864) ||
      this.profilerOpts?.enabled === true ||
      this._evm.DEBUG ||
      this._evm.events.listenerCount('step') > 0
    ) {
      return original.call(this, code, opts)
    }
    const rs = this._runState
    const pc = opts.pc ?? rs.programCounter
    // ethereumjs's own loop throws its error for a start outside the code.
    if (pc !== 0 && (pc < 0 || pc >= code.length)) return original.call(this, code, opts)
    rs.code = code
    rs.programCounter = pc
    let err: (Error & { error?: string }) | undefined
    let cachedOpcodes: OpEntry[] | undefined
    let doJumpAnalysis = true
    while (rs.programCounter < rs.code.length) {
      const programCounter = rs.programCounter
      let opCode: number
      let opEntry: OpEntry | undefined
      if (doJumpAnalysis) {
        opCode = rs.code[programCounter]
        // The analysis runs at the first JUMP, JUMPI or JUMPSUB, as ethereumjs does.
        if (opCode === 0x56 || opCode === 0x57 || opCode === 0x5e) {
          const { jumps, pushes, opcodesCached } = this._getValidJumpDestinations(rs.code)
          rs.validJumps = jumps
          rs.cachedPushes = pushes
          rs.shouldDoJumpAnalysis = false
          cachedOpcodes = opcodesCached
          doJumpAnalysis = false
        }
      } else {
        opEntry = cachedOpcodes![programCounter]
        opCode = opEntry.opcodeInfo.code
      }
      rs.opCode = opCode
      try {
        // ethereumjs's runStep, without the parts the guards above rule out.
        const entry = opEntry ?? this.lookupOpInfo(rs.opCode)
        const opInfo = entry.opcodeInfo
        let gas = opInfo.feeBigInt
        if (opInfo.dynamicGas) {
          const g = entry.gasHandler(rs, gas, common)
          gas = typeof g === 'bigint' ? g : await g
        }
        if (opInfo.isInvalid) throw new EVMError(messages.INVALID_OPCODE)
        this.useGas(gas, opInfo)
        rs.programCounter++
        consume(rs)
        if (opInfo.isAsync) await entry.opHandler(rs, common)
        else entry.opHandler(rs, common)
        rs.env.accessWitness?.commit()
      } catch (e) {
        rs.env.accessWitness?.revert()
        // As ethereumjs: anything but an EVM error goes up; STOP ends the frame cleanly.
        if (!('errorType' in (e as object) && (e as { errorType: string }).errorType === errorType)) throw e
        if ((e as { error?: string }).error !== messages.STOP) err = e as Error
        break
      }
    }
    if (err === undefined && rs.eip8037BurnLeftoverAfterCreateHaltOntoAlive === true && rs.gasLeft > 0n) {
      rs.gasLeft = 0n
      err = new EVMError(messages.OUT_OF_GAS)
    }
    return { runState: rs, exceptionError: err }
  }
  fastRun.fast = true
  proto.run = fastRun
  return true
}
