/**
 * Compiles __test__/contracts/*.sol (with OpenZeppelin from node_modules) and adds the Uniswap
 * V2 artifacts from @uniswap/v2-core, writing __test__/fixtures/contracts.json:
 * { Name: { abi, bytecode, deployedBytecode } }. Run: npm run build:contracts
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const solc = require('solc')
const root = fileURLToPath(new URL('..', import.meta.url))
const dir = `${root}__test__/contracts/`

const sources: Record<string, { content: string }> = {}
for (const f of readdirSync(dir).filter((f) => f.endsWith('.sol'))) sources[f] = { content: readFileSync(dir + f, 'utf8') }

const input = {
  language: 'Solidity',
  sources,
  settings: {
    // No PUSH0/MCOPY: the bytecode must run on every fork the tests use (Istanbul onwards: the
    // random mixed blocks run it on Istanbul and Berlin too).
    evmVersion: 'paris',
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
  },
}
const findImports = (path: string) => {
  try {
    return { contents: readFileSync(require.resolve(path), 'utf8') }
  } catch {
    return { error: `not found: ${path}` }
  }
}
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }))
const errors = (out.errors ?? []).filter((e: { severity: string }) => e.severity === 'error')
if (errors.length > 0) throw new Error(errors.map((e: { formattedMessage: string }) => e.formattedMessage).join('\n'))

const artifacts: Record<string, { abi: unknown; bytecode: string; deployedBytecode: string }> = {}
for (const file of Object.keys(sources)) {
  for (const [name, c] of Object.entries(out.contracts[file] as Record<string, { abi: unknown; evm: { bytecode: { object: string }; deployedBytecode: { object: string } } }>)) {
    if (c.evm.bytecode.object === '') continue
    artifacts[name] = { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object, deployedBytecode: '0x' + c.evm.deployedBytecode.object }
  }
}
for (const name of ['ERC20', 'UniswapV2Factory', 'UniswapV2Pair']) {
  const a = require(`@uniswap/v2-core/build/${name}.json`)
  artifacts[`UniswapV2${name === 'ERC20' ? 'TestToken' : name.slice('UniswapV2'.length)}`] = {
    abi: a.abi,
    bytecode: '0x' + a.bytecode.replace(/^0x/, ''),
    deployedBytecode: '0x' + (a.evm?.deployedBytecode?.object ?? '').replace(/^0x/, ''),
  }
}
writeFileSync(`${root}__test__/fixtures/contracts.json`, JSON.stringify(artifacts, null, 1) + '\n')
console.log(`wrote ${Object.keys(artifacts).length} contracts: ${Object.keys(artifacts).join(', ')}`)
