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
 *
 * `EVM._executeCall`, before it, hands `runInterpreter` the frame's message as
 * `{ ...{ codeAddress }, ...message, gasLimit }`: the same slow spread, 30-32 µs a frame on
 * real messages. `fastExecuteCall` builds the same object as `{ codeAddress, ...message,
 * gasLimit }` (0.6 µs). It does the rest of `_executeCall`'s steps as ethereumjs does, for the
 * rules of mainnet up to Prague: a frame under any of the EIPs it leaves out (2780, 6800, 7708,
 * 7864, 7928), with DEBUG or the profiler, goes to ethereumjs's own. One step reads differently
 * where the state manager offers it (the workers'): the outermost call of a transaction that
 * pays into another account reads the recipient with `getAccountForCredit`, the same account
 * but recorded as a credit read where it has no code (see `ts/evm/state/native.ts`).
 */
import { createHash } from 'node:crypto'

import { Account, createZeroAddress, type Address } from '@ethereumjs/util'

import { importEvmFile } from './internals.ts'
import { jumpDestinations } from './jumpdest.ts'
import { pushesReadCode } from './opcodes.ts'

/** The @ethereumjs/evm version the code below was written from, and whose source it checks. */
export const FAST_LOOP_EVM = '10.1.3'
/** sha256 of `run.toString()`, then `runStep.toString()`, of @ethereumjs/evm 10.1.3. */
const KNOWN_SOURCE = 'e40b945d54ed2c7e0264d8196c13b0225652fdf33542810ff5253c564c1087f4'
/** sha256 of `EVM.prototype.runInterpreter.toString()` of @ethereumjs/evm 10.1.3. */
const KNOWN_RUN_INTERPRETER = '1f4905264075376daed820fac392b3d077c2aa2d3767bed3d5e25e50b360d4ca'
/** sha256 of `EVM.prototype._executeCall.toString()` of @ethereumjs/evm 10.1.3. */
const KNOWN_EXECUTE_CALL = 'f2358d2eeecc46e18de7628afe4da9d1e6ca91fe3c22cf9503c7703d0ec64d31'

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
  _evm: { events: { listenerCount(e: string): number }; DEBUG: boolean; _opcodeMap: OpEntry[] }
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
  stateManager: {
    getAccount(a: Address): Promise<Account | undefined>
    /** The workers' state manager only: the recipient of a plain payment, read as a credit. */
    getAccountForCredit?(a: Address): Promise<Account | undefined>
  }
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
interface CallMessage extends Message {
  to: Address
  caller: Address
  delegatecall?: boolean
  isCompiled?: boolean
}
interface EvmCallLike extends EvmLike {
  common: { isActivatedEIP(eip: number): boolean }
  DEBUG: boolean
  _reduceSenderBalance(account: Account, message: CallMessage): Promise<void>
  _addToBalance(account: Account, message: CallMessage): Promise<void>
  _loadCode(message: CallMessage): Promise<void>
  runPrecompile(code: unknown, data: Uint8Array | undefined, gasLimit: bigint): Promise<Record<string, unknown>>
  runInterpreter(message: Message, opts?: { initialLogs?: unknown[] }): Promise<Record<string, unknown>>
  postMessageCleanup(): void
  _optsCached: { profiler?: { enabled?: boolean } }
}
type ExecuteCall = (this: EvmCallLike, message: CallMessage) => Promise<{ execResult: Record<string, unknown> }>

interface Internals {
  Interpreter: { prototype: { run: Run & { fast?: true }; runStep: (...a: unknown[]) => unknown } } & (new (...a: unknown[]) => InterpreterInstance)
  EVM: { prototype: { runInterpreter: RunInterpreter & { fast?: true }; _executeCall: ExecuteCall } }
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
/** ethereumjs's own EVM methods that ours replaced (for the benchmark that compares them). */
let replaced: { runInterpreter: RunInterpreter; _executeCall: ExecuteCall } | undefined

/** ethereumjs's `EVM.runInterpreter` and `_executeCall`, if ours replaced them (for `bench/frames.ts`). */
export function ethereumjsMethods(): { runInterpreter: unknown; _executeCall: unknown } | undefined {
  return replaced
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
  const ejsExecuteCall = x.EVM.prototype._executeCall
  if (sourceHash(ejsExecuteCall, '') !== KNOWN_EXECUTE_CALL) return false
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
    let opTable: OpEntry[] | undefined
    let doJumpAnalysis = true
    while (rs.programCounter < rs.code.length) {
      const programCounter = rs.programCounter
      let opCode: number
      let opEntry: OpEntry | undefined
      if (doJumpAnalysis) {
        opCode = rs.code[programCounter]
        // The analysis runs at the first JUMP, JUMPI or JUMPSUB, as ethereumjs does.
        if (opCode === 0x56 || opCode === 0x57 || opCode === 0x5e) {
          const table = this._evm._opcodeMap
          if (pushesReadCode(table) && !common.isActivatedEIP(8024)) {
            // Our PUSH handlers read the code (or the larger values already read from it): the
            // JUMPDEST map is all this loop needs, and each opcode's entry is the table's
            // (ethereumjs's `lookupOpInfo`).
            const map = jumpDestinations(rs.code)
            rs.validJumps = map.jumps
            if (map.pushes !== undefined) rs.cachedPushes = map.pushes
            opTable = table
          } else {
            const { jumps, pushes, opcodesCached } = this._getValidJumpDestinations(rs.code)
            rs.validJumps = jumps
            rs.cachedPushes = pushes
            cachedOpcodes = opcodesCached
          }
          rs.shouldDoJumpAnalysis = false
          doJumpAnalysis = false
        }
      } else {
        opEntry = opTable !== undefined ? opTable[rs.code[programCounter]] : cachedOpcodes![programCounter]
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

  const fastExecuteCall: ExecuteCall & { fast?: true } = async function (this: EvmCallLike, message) {
    const common = this.common
    if (
      !fastEvms.has(this) ||
      this.DEBUG ||
      this._optsCached.profiler?.enabled === true ||
      common.isActivatedEIP(2780) ||
      common.isActivatedEIP(6800) ||
      common.isActivatedEIP(7708) ||
      common.isActivatedEIP(7864) ||
      common.isActivatedEIP(7928)
    ) {
      return ejsExecuteCall.call(this, message)
    }
    const gasLimit = message.gasLimit
    const account = (await this.stateManager.getAccount(message.caller)) ?? new Account()
    let errorMessage: unknown
    if (!message.delegatecall) {
      try {
        await this._reduceSenderBalance(account, message)
      } catch (e) {
        errorMessage = e
      }
    }
    // The outermost call of a transaction that pays into another account: a state manager that
    // can (the workers') reads the recipient as a credit, see `NativeStateManager`.
    const sm = this.stateManager
    const credit = message.depth === 0 && message.delegatecall !== true && (message.value ?? 0n) > 0n && sm.getAccountForCredit !== undefined && !message.caller.equals(message.to)
    const toAccount = (credit ? await sm.getAccountForCredit!(message.to) : await sm.getAccount(message.to)) ?? new Account()
    if (!message.delegatecall) {
      try {
        await this._addToBalance(toAccount, message)
      } catch (e) {
        errorMessage = e
      }
    }
    await this._loadCode(message)
    const code = message.code as Uint8Array | ((...a: unknown[]) => unknown) | undefined
    if (!code || (typeof code !== 'function' && code.length === 0) || errorMessage !== undefined) {
      // No code to run, or the value transfer failed: the frame ends here.
      return {
        execResult: { gasRefund: message.gasRefund, executionGasUsed: message.gasLimit - gasLimit, exceptionError: errorMessage, returnValue: new Uint8Array(0), logs: undefined },
      }
    }
    let result: Record<string, unknown> & { executionGasUsed: bigint }
    if (message.isCompiled) {
      result = (await this.runPrecompile(code, message.data, gasLimit)) as typeof result
      result.gasRefund = message.gasRefund
    } else {
      // ethereumjs writes this { ...{ codeAddress }, ...message, gasLimit }: the same object,
      // but a spread into a literal that already holds a property is V8's slow path.
      result = (await this.runInterpreter({ codeAddress: message.codeAddress, ...message, gasLimit }, { initialLogs: undefined })) as typeof result
    }
    if (message.depth === 0) this.postMessageCleanup()
    result.executionGasUsed += message.gasLimit - gasLimit
    return { execResult: result }
  }
  fastExecuteCall.fast = true

  proto.run = fastRun
  replaced = { runInterpreter: ejsRunInterpreter, _executeCall: ejsExecuteCall }
  x.EVM.prototype.runInterpreter = fastRunInterpreter
  x.EVM.prototype._executeCall = fastExecuteCall
  return true
}
