/**
 * Worker side of the key-value executor: each transaction is a call to a function exported
 * by the user's module, given a context that reads and writes keys of the native memory.
 */
import type { TxRunner } from '../pool/runner.ts'
import type { NativeView } from '../pool/view.ts'
import { EMPTY_CODE_HASH, EMPTY_STORAGE_ROOT, type AccountFields } from '../codec.ts'
import { KV_ADDRESS, accountAddress, keySlot, type KeyValueContext, type KeyValueTransaction } from './types.ts'

class Context implements KeyValueContext {
  private readonly values = new Map<bigint, bigint>()
  private readonly written = new Set<bigint>()
  /** Accounts read by this incarnation (`undefined`: absent). */
  private readonly accounts = new Map<bigint, AccountFields | undefined>()
  private readonly credits = new Map<bigint, bigint>()

  constructor(private readonly view: NativeView) {}

  read(key: bigint): bigint {
    let v = this.values.get(key)
    if (v === undefined) {
      v = this.view.readStorage(KV_ADDRESS, keySlot(key))
      this.values.set(key, v)
    }
    return v
  }

  write(key: bigint, value: bigint): void {
    if (value < 0n || value >> 256n !== 0n) throw new RangeError(`value out of uint256 range: ${value}`)
    this.values.set(key, value)
    this.written.add(key)
  }

  balance(account: bigint): bigint {
    if (!this.accounts.has(account)) this.accounts.set(account, this.view.readAccount(accountAddress(account)))
    return (this.accounts.get(account)?.balance ?? 0n) + (this.credits.get(account) ?? 0n)
  }

  credit(account: bigint, amount: bigint): void {
    if (amount < 0n) throw new RangeError('credits are non-negative')
    this.credits.set(account, (this.credits.get(account) ?? 0n) + amount)
  }

  flush(): void {
    for (const key of this.written) this.view.writes.setStorage(KV_ADDRESS, keySlot(key), this.values.get(key)!)
    for (const [account, amount] of this.credits) {
      const address = accountAddress(account)
      if (!this.accounts.has(account)) {
        // Never read: a commutative credit, which does not conflict with other credits.
        this.view.writes.addBalance(address, amount)
      } else {
        const before = this.accounts.get(account)
        this.view.writes.setAccount(address, {
          nonce: before?.nonce ?? 0n,
          balance: (before?.balance ?? 0n) + amount,
          codeHash: before?.codeHash ?? EMPTY_CODE_HASH,
          storageRoot: before?.storageRoot ?? EMPTY_STORAGE_ROOT,
        })
      }
    }
  }
}


type TxFunction = (ctx: KeyValueContext, ...args: unknown[]) => unknown

export async function createRunner(options: { module: string }): Promise<TxRunner> {
  const mod = (await import(options.module)) as Record<string, unknown>
  let txs: KeyValueTransaction[] = []
  return {
    beginBlock(payload) {
      txs = payload as KeyValueTransaction[]
    },
    execute(tx, view) {
      const t = txs[tx]
      const fn = mod[t.fn]
      if (typeof fn !== 'function') throw new TypeError(`the module exports no function ${JSON.stringify(t.fn)}`)
      const ctx = new Context(view)
      const out = (fn as TxFunction)(ctx, ...(t.args ?? []))
      if (out instanceof Promise) {
        return out.then((v: unknown) => {
          ctx.flush()
          return v
        })
      }
      ctx.flush()
      return out
    },
  }
}
