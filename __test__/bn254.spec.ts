import { Common, Mainnet } from '@ethereumjs/common'
import { EVMError, NobleBN254 } from '@ethereumjs/evm'
import { createVM } from '@ethereumjs/vm'
import { bn254 } from '@noble/curves/bn254.js'
import test from 'ava'

import { installNativeBn254, nativeBn254, type Bn254 } from '../ts/evm/bn254.ts'
import { ParallelExecutor } from '../ts/index.ts'

const P = bn254.fields.Fp.ORDER
const R = bn254.fields.Fr.ORDER

function word(v: bigint): Uint8Array {
  const out = new Uint8Array(32)
  for (let k = 31; k >= 0 && v > 0n; k--, v >>= 8n) out[k] = Number(v & 0xffn)
  return out
}
const cat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) (out.set(p, at), (at += p.length))
  return out
}
type G1 = InstanceType<typeof bn254.G1.Point>
type G2 = InstanceType<typeof bn254.G2.Point>
const g1 = (p: G1) => (p.is0() ? new Uint8Array(64) : cat(word(p.toAffine().x), word(p.toAffine().y)))
const g2 = (p: G2) => {
  if (p.is0()) return new Uint8Array(128)
  const { x, y } = p.toAffine()
  return cat(word(x.c1), word(x.c0), word(y.c1), word(y.c0))
}

// A fixed pseudo-random sequence: the same inputs every run.
let seed = 0x2545f4914f6cdd1dn
const rand = (bits = 256) => {
  seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n)
  let v = seed
  for (let k = 64; k < bits; k += 64) {
    seed = (seed * 6364136223846793005n + 1442695040888963407n) & ((1n << 64n) - 1n)
    v = (v << 64n) | seed
  }
  return v & ((1n << BigInt(bits)) - 1n)
}
const scalar = () => (rand() % (R - 1n)) + 1n
const pointG1 = () => bn254.G1.Point.BASE.multiply(scalar())
const pointG2 = () => bn254.G2.Point.BASE.multiply(scalar())

/** Both give the same bytes, or both fail the same way (EVMError message, or a plain error). */
function agree(t: import('ava').ExecutionContext, native: Bn254, op: 'add' | 'mul' | 'pairing', input: Uint8Array, what: string): string {
  const run = (impl: Bn254) => {
    try {
      return { out: Buffer.from(impl[op](input)).toString('hex') }
    } catch (e) {
      return { error: e instanceof EVMError ? e.error : 'plain' }
    }
  }
  const expected = run(new NobleBN254() as Bn254)
  t.deepEqual(run(native), expected, `${op}: ${what}`)
  return expected.out ?? `error ${expected.error}`
}

test('native BN254 add, mul and pairing answer as ethereumjs\'s noble default does', (t) => {
  const native = nativeBn254()
  if (native === undefined) return t.fail('the native addon is not loaded')
  const outcomes = new Set<string>()
  const note = (s: string) => outcomes.add(s.startsWith('error') ? s : 'ok')

  const notOnCurve = cat(word(1n), word(3n))
  const outOfField = cat(word(P + 1n), word(2n))
  for (let i = 0; i < 20; i++) {
    const a = pointG1()
    const b = pointG1()
    note(agree(t, native, 'add', cat(g1(a), g1(b)), `random ${i}`))
    agree(t, native, 'add', cat(g1(a), g1(a)), `doubling ${i}`)
    agree(t, native, 'add', cat(g1(a), g1(a.negate())), `to infinity ${i}`)
    agree(t, native, 'add', cat(g1(a), new Uint8Array(64)), `plus infinity ${i}`)
    for (const s of [0n, 1n, scalar(), R - 1n, R, R + 1n, (1n << 256n) - 1n]) {
      agree(t, native, 'mul', cat(g1(a), word(s), new Uint8Array(32)), `scalar 0x${s.toString(16)}`)
    }
  }
  note(agree(t, native, 'add', cat(notOnCurve, g1(pointG1())), 'a point off the curve'))
  note(agree(t, native, 'add', cat(g1(pointG1()), outOfField), 'a coordinate outside the field'))
  note(agree(t, native, 'mul', cat(notOnCurve, word(5n), new Uint8Array(32)), 'mul of a point off the curve'))
  agree(t, native, 'mul', cat(new Uint8Array(64), word(5n), new Uint8Array(32)), 'mul of infinity')

  for (let i = 0; i < 4; i++) {
    const a = scalar()
    const b = scalar()
    const A = bn254.G1.Point.BASE.multiply(a)
    const B = bn254.G2.Point.BASE.multiply(b)
    const AB = bn254.G1.Point.BASE.multiply((a * b) % R).negate()
    t.is(agree(t, native, 'pairing', cat(g1(A), g2(B), g1(AB), g2(bn254.G2.Point.BASE)), `e(aG, bH) e(-abG, H) = 1, ${i}`), '00'.repeat(31) + '01')
    t.is(agree(t, native, 'pairing', cat(g1(A), g2(B), g1(A), g2(bn254.G2.Point.BASE)), `a false equation, ${i}`), '00'.repeat(32))
  }
  agree(t, native, 'pairing', new Uint8Array(0), 'no pairs')
  agree(t, native, 'pairing', cat(new Uint8Array(64), g2(pointG2())), 'G1 at infinity')
  agree(t, native, 'pairing', cat(g1(pointG1()), new Uint8Array(128)), 'G2 at infinity')
  const h = g2(pointG2())
  const badField = h.slice()
  badField.set(word(P), 32)
  note(agree(t, native, 'pairing', cat(g1(pointG1()), badField), 'a G2 coordinate outside the field'))
  const offCurve = h.slice()
  offCurve[127] ^= 1
  note(agree(t, native, 'pairing', cat(g1(pointG1()), offCurve), 'a G2 point off the curve'))
  note(agree(t, native, 'pairing', cat(notOnCurve, badField), 'a bad G1 before a bad G2'))
  t.deepEqual([...outcomes].sort(), ['error fp point not in field', 'error plain', 'ok'], 'the inputs reach both kinds of failure and success')
})

test('the executor\'s EVM uses it in place of ethereumjs\'s noble default', async (t) => {
  const vm = await createVM({ common: new Common({ chain: Mainnet }) })
  const evm = vm.evm as unknown as { _bn254: unknown }
  t.true(evm._bn254 instanceof NobleBN254)
  t.true(installNativeBn254(vm.evm))
  t.false(evm._bn254 instanceof NobleBN254)
  t.is(typeof (evm._bn254 as Bn254).pairing, 'function')
  t.false(installNativeBn254({}), 'not an EVM of the expected shape: nothing installed')
  const executor = await ParallelExecutor.create({ threads: 1, strategy: { kind: 'sequential' } })
  try {
    const own = (executor as unknown as { vm: { evm: { _bn254: unknown } } }).vm.evm._bn254
    t.false(own instanceof NobleBN254)
    t.is(typeof (own as Bn254).pairing, 'function')
  } finally {
    await executor.close()
  }
})
