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
 *
 * The same goes for `EVM.runInterpreter`, which starts every call frame. ethereumjs returns the
 * frame's result with `runState: { ...interpreterRes.runState, ...result, ...interpreter._env }`,
 * a merge of some 40 properties that nothing in ethereumjs reads afterwards; in V8 11 (Node
 * 20) an object spread into a literal that already holds properties takes a slow path at about
 * 1.5 µs a property: 42-47 µs a frame measured on the objects of real calls. `fastRunInterpreter`
 * does what ethereumjs's does and makes `runState` an accessor that builds the same merge when
 * first read.
 */
import { createHash } from 'node:crypto'

import { Account, createZeroAddress, type Address } from '@ethereumjs/util'

import { importEvmFile } from './internals.ts'

/** sha256 of `run.toString()`, then `runStep.toString()`, of @ethereumjs/evm 10.1.3. */
const KNOWN_SOURCE = 'e40b945d54ed2c7e0264d8196c13b0225652fdf33542810ff5253c564c1087f4'
/** sha256 of `EVM.prototype.runInterpreter.toString()` of @ethereumjs/evm 10.1.3. */
const KNOWN_RUN_INTERPRETER = '1f4905264075376daed820fac392b3d077c2aa2d3767bed3d5e25e50b360d4ca'

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

interface Message {
  to?: Address
  caller?: Address
  data?: Uint8Array
  value?: bigint
  code: Uint8Array
  isStatic?: boolean
  isCreate?: boolean
  depth?: number
  codeAddress?: Address
  gasLimit: bigint
  gasRefund?: bigint
  chargeCodeAccesses?: boolean
  blobVersionedHashes?: Uint8Array[]
  accessWitness?: { commit(): void }
  createdAddresses?: Set<string>
  selfdestruct?: Map<string, Uint8Array>
}
interface FrameResult {
  logs: unknown[]
  returnValue?: Uint8Array
  selfdestruct: Map<string, Uint8Array>
  createdAddresses?: Set<string>
}
interface EvmLike {
  stateManager: { getAccount(a: Address): Promise<Account | undefined> }
  blockchain: unknown
  journal: unknown
  performanceLogger: unknown
  _optsCached: { profiler?: unknown }
  _tx: { gasPrice: bigint; origin?: Address }
  _block?: unknown
}
interface InterpreterInstance {
  _result: FrameResult
  _env: Record<string, unknown>
  run(code: Uint8Array, opts?: { pc?: number }): ReturnType<Run>
}
type RunInterpreter = (this: EvmLike, message: Message, opts?: { pc?: number; initialLogs?: unknown[] }) => Promise<Record<string, unknown>>

interface Internals {
  Interpreter: { prototype: { run: Run & { fast?: true }; runStep: (...a: unknown[]) => unknown } } & (new (...a: unknown[]) => InterpreterInstance)
  EVM: { prototype: { runInterpreter: RunInterpreter & { fast?: true } } }
  defaultBlock: () => unknown
  consume: (runState: RunState) => void
  EVMError: new (message: string) => Error
  messages: { STOP: string; INVALID_OPCODE: string; OUT_OF_GAS: string; REVERT: string; INVALID_EOF_FORMAT: string }
  errorType: string
  FORMAT: number
}

/** EVMs that run the fast loop. */
const fastEvms = new WeakSet<object>()
let installed: Promise<boolean> | undefined
/** ethereumjs's own `EVM.runInterpreter`, once replaced (for the benchmark that compares them). */
let ethereumjsRunInterpreter: RunInterpreter | undefined

/** ethereumjs's `EVM.runInterpreter`, if ours replaced it (exported for `bench/frames.ts`). */
export function originalRunInterpreter(): RunInterpreter | undefined {
  return ethereumjsRunInterpreter
}

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
  const [interp, evm, eip7928, errors, eof] = await Promise.all([
    importEvmFile<{ Interpreter?: Internals['Interpreter'] }>('./interpreter.js'),
    importEvmFile<{ EVM?: Internals['EVM']; defaultBlock?: Internals['defaultBlock'] }>('./evm.js'),
    importEvmFile<{ consumeEip7928PostTargetCallOog?: Internals['consume'] }>('./opcodes/EIP7928.js'),
    importEvmFile<{ EVMError?: Internals['EVMError'] & { errorMessages?: Internals['messages'] }; EVMErrorTypeString?: string }>('./errors.js'),
    importEvmFile<{ FORMAT?: number }>('./eof/constants.js'),
  ])
  const Interpreter = interp?.Interpreter
  const consume = eip7928?.consumeEip7928PostTargetCallOog
  const EVMError = errors?.EVMError
  const messages = EVMError?.errorMessages
  const EVM = evm?.EVM
  const defaultBlock = evm?.defaultBlock
  if (
    Interpreter === undefined ||
    EVM === undefined ||
    defaultBlock === undefined ||
    consume === undefined ||
    EVMError === undefined ||
    messages === undefined ||
    errors?.EVMErrorTypeString === undefined ||
    eof?.FORMAT === undefined
  ) {
    return undefined
  }
  return { Interpreter, EVM, defaultBlock, consume, EVMError, messages, errorType: errors.EVMErrorTypeString, FORMAT: eof.FORMAT }
}

async function install(): Promise<boolean> {
  const x = await load()
  if (x === undefined) return false
  const proto = x.Interpreter.prototype
  const original = proto.run
  if (original.fast === true) return true
  if (sourceHash(original, proto.runStep) !== KNOWN_SOURCE) return false
  const ejsRunInterpreter = x.EVM.prototype.runInterpreter
  if (sourceHash(ejsRunInterpreter, '') !== KNOWN_RUN_INTERPRETER) return false
  const { Interpreter, defaultBlock, consume, EVMError, messages, errorType, FORMAT } = x

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

  const fastRunInterpreter: RunInterpreter & { fast?: true } = async function (this: EvmLike, message, opts = {}) {
    if (!fastEvms.has(this)) return ejsRunInterpreter.call(this, message, opts)
    const to = message.to ?? createZeroAddress()
    const contract = (await this.stateManager.getAccount(to)) ?? new Account()
    const env = {
      address: to,
      caller: message.caller ?? createZeroAddress(),
      callData: message.data ?? Uint8Array.from([0]),
      callValue: message.value ?? 0n,
      code: message.code,
      isStatic: message.isStatic ?? false,
      isCreate: message.isCreate ?? false,
      depth: message.depth ?? 0,
      gasPrice: this._tx.gasPrice,
      origin: this._tx.origin ?? message.caller ?? createZeroAddress(),
      block: this._block ?? defaultBlock(),
      contract,
      codeAddress: message.codeAddress,
      gasRefund: message.gasRefund,
      chargeCodeAccesses: message.chargeCodeAccesses,
      blobVersionedHashes: message.blobVersionedHashes ?? [],
      accessWitness: message.accessWitness,
      createdAddresses: message.createdAddresses,
      initialLogs: opts.initialLogs,
    }
    const interpreter = new Interpreter(this, this.stateManager, this.blockchain, env, message.gasLimit, this.journal, this.performanceLogger, this._optsCached.profiler)
    if (message.selfdestruct) interpreter._result.selfdestruct = message.selfdestruct
    if (message.createdAddresses) interpreter._result.createdAddresses = message.createdAddresses
    const { runState, exceptionError } = await interpreter.run(message.code, opts)
    let result = interpreter._result
    let gasUsed = message.gasLimit - runState.gasLeft
    if (exceptionError !== undefined && exceptionError !== null) {
      // Every failure but REVERT (and an invalid EOF container) consumes all the frame's gas.
      const error = (exceptionError as { error?: string }).error
      if (error !== messages.REVERT && error !== messages.INVALID_EOF_FORMAT) gasUsed = message.gasLimit
      result = { ...result, logs: [], selfdestruct: new Map(), createdAddresses: new Set() }
    }
    message.accessWitness?.commit()
    const frame = result
    const out: Record<string, unknown> = { ...frame }
    // ethereumjs's merge, built only if someone reads it; assigning it makes it a plain value.
    let merged: Record<string, unknown> | undefined
    Object.defineProperty(out, 'runState', {
      get: () => (merged ??= { ...runState, ...frame, ...interpreter._env }),
      set(value: unknown) {
        Object.defineProperty(this, 'runState', { value, writable: true, enumerable: true, configurable: true })
      },
      enumerable: true,
      configurable: true,
    })
    out.exceptionError = exceptionError
    out.gas = runState.gasLeft
    out.executionGasUsed = gasUsed
    out.gasRefund = (runState as unknown as { gasRefund: bigint }).gasRefund
    out.stateGasSpilled = (runState as unknown as { stateGasSpilled: bigint }).stateGasSpilled
    out.returnValue = frame.returnValue ?? new Uint8Array(0)
    return out
  }
  fastRunInterpreter.fast = true

  proto.run = fastRun
  ethereumjsRunInterpreter = ejsRunInterpreter
  x.EVM.prototype.runInterpreter = fastRunInterpreter
  return true
}
