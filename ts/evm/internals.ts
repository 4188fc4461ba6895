import { readFileSync } from 'node:fs'

/**
 * ethereumjs EVM files that its package does not export (the interpreter, the opcode
 * handlers), imported by their path beside the entry point. `undefined` when the file is not
 * there: the patches that need it then stay off.
 */
export async function importEvmFile<T>(file: string): Promise<T | undefined> {
  try {
    const url = new URL(file, import.meta.resolve('@ethereumjs/evm'))
    return (await import(url.href)) as T
  } catch {
    return undefined
  }
}

/** The installed `@ethereumjs/evm` version, from its package.json; `undefined` if unreadable. */
export function evmVersion(): string | undefined {
  try {
    const url = new URL('../../package.json', import.meta.resolve('@ethereumjs/evm'))
    const v = (JSON.parse(readFileSync(url, 'utf8')) as { version?: unknown }).version
    return typeof v === 'string' ? v : undefined
  } catch {
    return undefined
  }
}
