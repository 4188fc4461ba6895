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
